//! Query and EC2 parameters into trees; XML answers and errors.

use super::*;

fn params(text: &str) -> Result<Params, WireError> {
    parse(&[text.as_bytes()])
}

#[test]
fn a_query_form_becomes_a_tree_of_strings() {
    let body = "Action=GetMetricStatistics&Version=2010-08-01&Namespace=AWS%2FECS\
        &Dimensions.member.1.Name=ClusterName&Dimensions.member.1.Value=my+cluster\
        &Dimensions.member.2.Name=ServiceName&Dimensions.member.2.Value=web&Period=300\
        &Statistics.member.2=Maximum&Statistics.member.1=Average";
    let parsed = params(body).expect("ok");
    assert_eq!(parsed.action.as_deref(), Some("GetMetricStatistics"));
    assert_eq!(parsed.version.as_deref(), Some("2010-08-01"));
    assert_eq!(
        parsed.input,
        serde_json::json!({
            "Namespace": "AWS/ECS", "Period": "300",
            "Dimensions": [{"Name": "ClusterName", "Value": "my cluster"},
                           {"Name": "ServiceName", "Value": "web"}],
            "Statistics": ["Average", "Maximum"],
        })
    );
}

#[test]
fn ec2_lists_maps_and_signature_parameters() {
    let query =
        "Action=DescribeSubnets&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1\
        &Filter.1.Value.2=vpc-2&Tags.entry.1.key=a&Tags.entry.1.value=b&X-Amz-Signature=abc";
    let parsed = params(query).expect("ok");
    assert_eq!(
        parsed.input,
        serde_json::json!({
            "Filter": [{"Name": "vpc-id", "Value": ["vpc-1", "vpc-2"]}],
            "Tags": [{"key": "a", "value": "b"}],
        })
    );
}

#[test]
fn a_body_and_a_query_string_together() {
    let parsed = parse(&[b"Action=ListMetrics", b"Version=2010-08-01&Namespace=x"]).expect("ok");
    assert_eq!(parsed.version.as_deref(), Some("2010-08-01"));
    assert_eq!(parsed.input, serde_json::json!({"Namespace": "x"}));
}

#[test]
fn malformed_parameters_are_invalid_values_not_panics() {
    for body in [
        "Action=X&Dimensions.member.0.Name=a",
        "Action=X&Dimensions.member.99999999999999999999.Name=a",
        "Action=X&Dimensions.member=a",
        "Action=X&A=1&A.B=2",
        "Action=X&A.B=2&A=1",
        "Action=X&A.1=2&A.B=1",
        "Action=X&1=2",
        "Action=X&a=%zz",
        "Action=X&a=%e2%28",
        "Action=X&a..b=1",
        &format!("Action=X&{}=1", vec!["a"; 100_000].join(".")),
    ] {
        let error = params(body).expect_err("an error");
        assert_eq!(error.query_code(), "InvalidParameterValue", "{body}");
    }
}

#[test]
fn xml_answers_wrap_results_and_escape_text() {
    let document = Document::Struct(vec![
        ("Label".into(), Document::Str("CPU <&> \"x\"".into())),
        (
            "Datapoints".into(),
            Document::List(vec![Document::Struct(vec![
                ("Timestamp".into(), Document::Time(1_704_067_200)),
                ("SampleCount".into(), Document::Num(6.0)),
            ])]),
        ),
    ]);
    let mut xml = String::new();
    document.write_xml(XmlLists::Member, &mut xml);
    assert_eq!(
        xml,
        "<Label>CPU &lt;&amp;&gt; &quot;x&quot;</Label><Datapoints><member>\
         <Timestamp>2024-01-01T00:00:00Z</Timestamp><SampleCount>6</SampleCount></member></Datapoints>"
    );
    let mut xml = String::new();
    Document::List(vec![Document::Int(1)]).write_xml(XmlLists::Item, &mut xml);
    assert_eq!(xml, "<item>1</item>");
}

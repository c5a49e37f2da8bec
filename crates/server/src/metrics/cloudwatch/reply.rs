//! A CloudWatch answer as a protocol-neutral tree, written out as AWS JSON or as the query
//! protocol's XML (timestamps are epoch seconds in JSON, ISO 8601 in XML).

use serde_json::{Map, Number, Value};

/// The XML namespace of CloudWatch's query protocol.
pub const XML_NAMESPACE: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Str(String),
    Num(f64),
    /// Epoch seconds.
    Time(i64),
    List(Vec<Reply>),
    /// Members in the model's order (XML keeps it).
    Struct(Vec<(&'static str, Reply)>),
}

impl Reply {
    pub fn to_json(&self) -> Value {
        match self {
            Reply::Str(s) => Value::String(s.clone()),
            Reply::Num(n) => Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Reply::Time(t) => Value::Number((*t).into()),
            Reply::List(items) => Value::Array(items.iter().map(Reply::to_json).collect()),
            Reply::Struct(members) => Value::Object(
                members.iter().map(|(k, v)| ((*k).to_string(), v.to_json())).collect::<Map<_, _>>(),
            ),
        }
    }

    /// The query protocol's document: `<OpResponse><OpResult>…</OpResult><ResponseMetadata>`.
    pub fn to_xml(&self, operation: &str, request_id: &str) -> String {
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{operation}Response xmlns=\"{XML_NAMESPACE}\"><{operation}Result>"
        );
        self.write_xml_content(&mut out);
        out.push_str(&format!(
            "</{operation}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{operation}Response>\n",
            escape_xml(request_id)
        ));
        out
    }

    fn write_xml_content(&self, out: &mut String) {
        match self {
            Reply::Str(s) => out.push_str(&escape_xml(s)),
            Reply::Num(n) => out.push_str(&super::super::exposition::format_value(*n)),
            Reply::Time(t) => out.push_str(&iso8601(*t)),
            Reply::List(items) => {
                for item in items {
                    out.push_str("<member>");
                    item.write_xml_content(out);
                    out.push_str("</member>");
                }
            }
            Reply::Struct(members) => {
                for (name, value) in members {
                    out.push('<');
                    out.push_str(name);
                    out.push('>');
                    value.write_xml_content(out);
                    out.push_str("</");
                    out.push_str(name);
                    out.push('>');
                }
            }
        }
    }
}

/// `2024-01-31T12:00:00Z`.
pub fn iso8601(epoch_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch_seconds)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Reply {
        Reply::Struct(vec![
            ("Label", Reply::Str("CPU <&> \"x\"".into())),
            (
                "Datapoints",
                Reply::List(vec![Reply::Struct(vec![
                    ("Timestamp", Reply::Time(1_704_067_200)),
                    ("Average", Reply::Num(12.5)),
                    ("SampleCount", Reply::Num(6.0)),
                ])]),
            ),
        ])
    }

    #[test]
    fn json_has_epoch_seconds_and_numbers() {
        assert_eq!(
            sample().to_json(),
            serde_json::json!({
                "Label": "CPU <&> \"x\"",
                "Datapoints": [{"Timestamp": 1_704_067_200, "Average": 12.5, "SampleCount": 6.0}]
            })
        );
    }

    #[test]
    fn xml_wraps_results_lists_members_and_escapes_text() {
        let xml = sample().to_xml("GetMetricStatistics", "r-1");
        assert!(xml.contains(&format!("<GetMetricStatisticsResponse xmlns=\"{XML_NAMESPACE}\">")));
        assert!(xml.contains(
            "<GetMetricStatisticsResult><Label>CPU &lt;&amp;&gt; &quot;x&quot;</Label>\
             <Datapoints><member><Timestamp>2024-01-01T00:00:00Z</Timestamp>\
             <Average>12.5</Average><SampleCount>6</SampleCount></member></Datapoints>\
             </GetMetricStatisticsResult>"
        ));
        assert!(xml.contains("<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"));
    }
}

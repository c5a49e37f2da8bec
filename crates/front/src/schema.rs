//! The shape of an operation's input or output, as generated from botocore's models into each
//! service crate (`wire.rs`): what the protocols need to know of it. Query parameters arrive as
//! strings and are typed by it ([`typed_params`]); answers are written in any protocol from it
//! ([`document`]: member order for XML, timestamps as ISO 8601 in XML and tag 1 in CBOR).

use serde_json::{Map, Value};

use crate::document::{Document, Name};
use crate::error::WireError;

/// A shape's kind.
#[derive(Debug)]
pub enum Kind {
    String,
    /// A string with the model's list of values (the generated `*_VALUES`).
    Enum(&'static [&'static str]),
    Integer,
    Long,
    Boolean,
    Double,
    /// Epoch seconds in JSON and CBOR, ISO 8601 in query parameters and XML.
    Timestamp,
    /// Base64 text.
    Blob,
    List(&'static Kind),
    /// String keys.
    Map(&'static Kind),
    /// Members in the model's order.
    Struct(&'static [Member]),
}

/// A structure's member: its name (in JSON, CBOR and the generated types), its kind, and its
/// names on the other wires: `xml` in XML answers and query parameters (the model's
/// `locationName`), `ec2` in EC2 parameters (`queryName`, else `locationName` capitalized).
#[derive(Debug)]
pub struct Member {
    pub name: &'static str,
    pub kind: &'static Kind,
    pub xml: &'static str,
    pub ec2: &'static str,
}

/// Which names query parameters carry: the query protocol's or EC2's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamNames {
    Query,
    Ec2,
}

impl ParamNames {
    fn of(self, member: &Member) -> &'static str {
        match self {
            ParamNames::Query => member.xml,
            ParamNames::Ec2 => member.ec2,
        }
    }
}

/// Query parameters (the door's tree of strings, `query::parse`) typed by `kind`, named as the
/// members are (from their `names` on the wire): numbers, booleans and timestamps (ISO 8601 or
/// epoch seconds) become JSON numbers and booleans, maps (`entry.N.key` / `.value`) objects.
/// Members the shape does not have are kept as they came (serde ignores them).
pub fn typed_params(value: Value, kind: &Kind, names: ParamNames) -> Result<Value, WireError> {
    typed(value, kind, "", names)
}

fn typed(value: Value, kind: &Kind, path: &str, names: ParamNames) -> Result<Value, WireError> {
    let bad = |what: &str, text: &str| {
        WireError::invalid_parameter_value(format!(
            "The parameter {path} must be {what}, not '{text}'."
        ))
    };
    Ok(match (kind, value) {
        (Kind::Integer, Value::String(text)) => Value::from(
            text.trim().parse::<i32>().map_err(|_| bad("an integer of 32 bits", &text))?,
        ),
        (Kind::Long, Value::String(text)) => {
            Value::from(text.trim().parse::<i64>().map_err(|_| bad("an integer", &text))?)
        }
        (Kind::Double, Value::String(text)) => {
            let n = text.trim().parse::<f64>().ok().filter(|n| n.is_finite());
            Value::from(n.ok_or_else(|| bad("a number", &text))?)
        }
        (Kind::Boolean, Value::String(text)) => match text.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("true or false", &text)),
        },
        (Kind::Timestamp, Value::String(text)) => {
            Value::from(parse_timestamp(&text).ok_or_else(|| bad("an ISO 8601 timestamp", &text))?)
        }
        (Kind::List(item), Value::Array(items)) => {
            let items = items.into_iter().map(|v| typed(v, item, path, names));
            Value::Array(items.collect::<Result<_, _>>()?)
        }
        (Kind::Map(item), Value::Array(entries)) => {
            let mut map = Map::new();
            for entry in entries {
                let Value::Object(mut fields) = entry else {
                    return Err(bad("a list of key and value entries", "?"));
                };
                let key = fields.remove("key").and_then(|k| k.as_str().map(str::to_string));
                let (Some(key), Some(value)) = (key, fields.remove("value")) else {
                    return Err(bad("a list of key and value entries", "?"));
                };
                let typed_value = typed(value, item, path, names)?;
                map.insert(key, typed_value);
            }
            Value::Object(map)
        }
        (Kind::Struct(members), Value::Object(fields)) => {
            let mut out = Map::new();
            for (wire_name, value) in fields {
                // Named as the member is; a name the shape does not have stays as it came.
                match members.iter().find(|m| names.of(m) == wire_name) {
                    Some(member) => {
                        let value = typed(value, member.kind, member.name, names)?;
                        out.insert(member.name.to_string(), value);
                    }
                    None => {
                        out.insert(wire_name, value);
                    }
                }
            }
            Value::Object(out)
        }
        (_, other) => other,
    })
}

/// The first parameter (as a dotted path) that `kind` has no member for, named as `names`
/// name members on the wire: EC2 refuses such a parameter rather than ignore it.
pub fn unknown_param(value: &Value, kind: &Kind, names: ParamNames) -> Option<String> {
    match (kind, value) {
        (Kind::Struct(members), Value::Object(fields)) => {
            fields.iter().find_map(|(name, value)| {
                match members.iter().find(|m| names.of(m) == name) {
                    Some(member) => unknown_param(value, member.kind, names)
                        .map(|rest| format!("{name}.{rest}")),
                    None => Some(name.clone()),
                }
            })
        }
        (Kind::List(item), Value::Array(items)) => items.iter().enumerate().find_map(|(n, v)| {
            unknown_param(v, item, names).map(|rest| format!("{}.{rest}", n + 1))
        }),
        _ => None,
    }
}

/// A timestamp as epoch seconds: ISO 8601 (RFC 3339) or a number of seconds.
pub fn parse_timestamp(text: &str) -> Option<f64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds.is_finite().then_some(seconds);
    }
    let parsed =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(parsed.unix_timestamp_nanos() as f64 / 1e9)
}

/// An answer (a generated output struct as JSON) as a `Document` of `kind`: members in the
/// model's order, absent members left out, timestamps marked.
pub fn document(value: &Value, kind: &Kind) -> Document {
    match (kind, value) {
        (Kind::Struct(members), Value::Object(fields)) => Document::Struct(
            members
                .iter()
                .filter_map(|m| {
                    let v = fields.get(m.name).filter(|v| !v.is_null())?;
                    Some((Name { json: m.name, xml: m.xml }, document(v, m.kind)))
                })
                .collect(),
        ),
        (Kind::List(item), Value::Array(items)) => {
            Document::List(items.iter().map(|v| document(v, item)).collect())
        }
        (Kind::Timestamp, Value::Number(n)) => Document::Time(n.as_f64().unwrap_or(0.0) as i64),
        (Kind::Integer | Kind::Long, Value::Number(n)) => Document::Int(n.as_i64().unwrap_or(0)),
        (Kind::Double, Value::Number(n)) => Document::Num(n.as_f64().unwrap_or(0.0)),
        (_, Value::Bool(b)) => Document::Bool(*b),
        (_, Value::String(s)) => Document::Str(s.clone()),
        (_, Value::Number(n)) => Document::Num(n.as_f64().unwrap_or(0.0)),
        // Maps and anything unexpected: as text, so nothing is silently dropped.
        (_, other) => Document::Str(other.to_string()),
    }
}

/// A JSON document of `kind` with every member present, every list holding one item and every
/// map one entry, down to `depth` levels of structures (deeper ones are left empty, which also
/// ends recursive shapes). Tests use it to show that a hand-written domain type keeps every
/// member the model has: decode the exemplar into the generated type, convert it to the domain
/// type and back, and nothing may be missing.
pub fn exemplar(kind: &Kind, depth: usize) -> Value {
    match kind {
        Kind::String => Value::from("text"),
        Kind::Enum(values) => Value::from(values.first().copied().unwrap_or("text")),
        Kind::Integer => Value::from(7),
        Kind::Long => Value::from(70_000_000_000i64),
        Kind::Boolean => Value::Bool(true),
        Kind::Double => Value::from(0.5),
        Kind::Timestamp => Value::from(1_765_000_000.25),
        Kind::Blob => Value::from("YmxvYg=="),
        Kind::List(item) => Value::Array(vec![exemplar(item, depth)]),
        Kind::Map(item) => Value::Object(Map::from_iter([("key".into(), exemplar(item, depth))])),
        Kind::Struct(_) if depth == 0 => Value::Object(Map::new()),
        Kind::Struct(members) => Value::Object(
            members.iter().map(|m| (m.name.to_string(), exemplar(m.kind, depth - 1))).collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static DIMENSION: Kind = Kind::Struct(&DIMENSION_MEMBERS);
    static DIMENSION_MEMBERS: [Member; 2] = [
        Member { name: "Name", kind: &Kind::String, xml: "Name", ec2: "Name" },
        Member { name: "Value", kind: &Kind::String, xml: "Value", ec2: "Value" },
    ];
    static DIMENSIONS: Kind = Kind::List(&DIMENSION);
    static TAGS: Kind = Kind::Map(&Kind::String);
    static INPUT_MEMBERS: [Member; 6] = [
        Member { name: "Period", kind: &Kind::Integer, xml: "Period", ec2: "Period" },
        Member { name: "StartTime", kind: &Kind::Timestamp, xml: "StartTime", ec2: "StartTime" },
        Member { name: "ReturnData", kind: &Kind::Boolean, xml: "ReturnData", ec2: "ReturnData" },
        Member { name: "Dimensions", kind: &DIMENSIONS, xml: "Dimensions", ec2: "Dimensions" },
        Member { name: "Tags", kind: &TAGS, xml: "Tags", ec2: "Tags" },
        Member { name: "Value", kind: &Kind::Double, xml: "Value", ec2: "Value" },
    ];
    static INPUT: Kind = Kind::Struct(&INPUT_MEMBERS);

    #[test]
    fn query_strings_are_typed_by_the_schema() {
        let params = json!({"Period": "60", "StartTime": "2024-01-01T00:00:00Z", "ReturnData": "false",
            "Dimensions": [{"Name": "ClusterName", "Value": "60"}], "Tags": [{"key": "a", "value": "b"}],
            "Value": "1.5", "Unknown": "7"});
        assert_eq!(
            typed_params(params, &INPUT, ParamNames::Query).expect("typed"),
            json!({"Period": 60, "StartTime": 1_704_067_200.0, "ReturnData": false,
                "Dimensions": [{"Name": "ClusterName", "Value": "60"}], "Tags": {"a": "b"},
                "Value": 1.5, "Unknown": "7"})
        );
        for bad in [
            json!({"Period": "x"}),
            json!({"StartTime": "yesterday"}),
            json!({"ReturnData": "maybe"}),
            json!({"Value": "NaN"}),
        ] {
            let error = typed_params(bad.clone(), &INPUT, ParamNames::Query).expect_err("refused");
            assert_eq!(error.query_code(), "InvalidParameterValue", "{bad}");
        }
    }

    #[test]
    fn answers_follow_the_models_member_order_and_mark_timestamps() {
        static OUTPUT_MEMBERS: [Member; 2] = [
            Member { name: "Label", kind: &Kind::String, xml: "Label", ec2: "Label" },
            Member { name: "At", kind: &Kind::Timestamp, xml: "At", ec2: "At" },
        ];
        static OUTPUT: Kind = Kind::Struct(&OUTPUT_MEMBERS);
        let value = json!({"At": 1_704_067_200.0, "Label": "cpu", "Missing": null});
        assert_eq!(
            document(&value, &OUTPUT),
            Document::Struct(vec![
                ("Label".into(), Document::Str("cpu".into())),
                ("At".into(), Document::Time(1_704_067_200))
            ])
        );
    }

    #[test]
    fn ec2_names_members_its_own_way_on_the_wire() {
        static IDS: Kind = Kind::List(&Kind::String);
        static REQUEST_MEMBERS: [Member; 2] = [
            Member { name: "VpcIds", kind: &IDS, xml: "VpcId", ec2: "VpcId" },
            Member { name: "DryRun", kind: &Kind::Boolean, xml: "dryRun", ec2: "DryRun" },
        ];
        static REQUEST: Kind = Kind::Struct(&REQUEST_MEMBERS);
        // `VpcId.1=vpc-1&DryRun=false`, as botocore's EC2 serializer writes it.
        let params = json!({"VpcId": ["vpc-1"], "DryRun": "false"});
        assert_eq!(
            typed_params(params, &REQUEST, ParamNames::Ec2).expect("typed"),
            json!({"VpcIds": ["vpc-1"], "DryRun": false})
        );
        // The query protocol reads `locationName`s.
        let params = json!({"dryRun": "true"});
        assert_eq!(
            typed_params(params, &REQUEST, ParamNames::Query).expect("typed"),
            json!({"DryRun": true})
        );

        static ANSWER_MEMBERS: [Member; 1] =
            [Member { name: "Vpcs", kind: &IDS, xml: "vpcSet", ec2: "VpcSet" }];
        static ANSWER: Kind = Kind::Struct(&ANSWER_MEMBERS);
        let document = document(&json!({"Vpcs": ["vpc-1"]}), &ANSWER);
        let mut xml = String::new();
        document.write_xml(crate::document::XmlLists::Item, &mut xml);
        assert_eq!(xml, "<vpcSet><item>vpc-1</item></vpcSet>", "XML by locationName");
        assert_eq!(document.to_json(), json!({"Vpcs": ["vpc-1"]}), "JSON by member name");
        let miscased = json!({"VpcId": ["vpc-1"], "dryRun": "true"});
        assert_eq!(unknown_param(&miscased, &REQUEST, ParamNames::Ec2).as_deref(), Some("dryRun"));
        let fine = json!({"VpcId": ["vpc-1"], "DryRun": "true"});
        assert_eq!(unknown_param(&fine, &REQUEST, ParamNames::Ec2), None);
    }
}

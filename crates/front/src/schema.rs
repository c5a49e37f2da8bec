//! The shape of an operation's input or output, as generated from botocore's models into each
//! service crate (`wire.rs`): what the protocols need to know of it. Query parameters arrive as
//! strings and are typed by it ([`typed_params`]); answers are written in any protocol from it
//! ([`document`]: member order for XML, timestamps as ISO 8601 in XML and tag 1 in CBOR).

use serde_json::{Map, Value};

use crate::document::Document;
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

/// A structure's member: its wire name and kind.
#[derive(Debug)]
pub struct Member {
    pub name: &'static str,
    pub kind: &'static Kind,
}

/// Query parameters (the door's tree of strings, `query::parse`) typed by `kind`: numbers,
/// booleans and timestamps (ISO 8601 or epoch seconds) become JSON numbers and booleans, maps
/// (`entry.N.key` / `.value`) objects. Members the shape does not have are kept as they came
/// (serde ignores them).
pub fn typed_params(value: Value, kind: &Kind) -> Result<Value, WireError> {
    typed(value, kind, "")
}

fn typed(value: Value, kind: &Kind, path: &str) -> Result<Value, WireError> {
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
            Value::Array(items.into_iter().map(|v| typed(v, item, path)).collect::<Result<_, _>>()?)
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
                let typed_value = typed(value, item, path)?;
                map.insert(key, typed_value);
            }
            Value::Object(map)
        }
        (Kind::Struct(members), Value::Object(fields)) => {
            let mut out = Map::new();
            for (name, value) in fields {
                let value = match members.iter().find(|m| m.name == name) {
                    Some(member) => typed(value, member.kind, &name)?,
                    None => value,
                };
                out.insert(name, value);
            }
            Value::Object(out)
        }
        (_, other) => other,
    })
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
                    Some((m.name, document(v, m.kind)))
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
        Member { name: "Name", kind: &Kind::String },
        Member { name: "Value", kind: &Kind::String },
    ];
    static DIMENSIONS: Kind = Kind::List(&DIMENSION);
    static TAGS: Kind = Kind::Map(&Kind::String);
    static INPUT_MEMBERS: [Member; 6] = [
        Member { name: "Period", kind: &Kind::Integer },
        Member { name: "StartTime", kind: &Kind::Timestamp },
        Member { name: "ReturnData", kind: &Kind::Boolean },
        Member { name: "Dimensions", kind: &DIMENSIONS },
        Member { name: "Tags", kind: &TAGS },
        Member { name: "Value", kind: &Kind::Double },
    ];
    static INPUT: Kind = Kind::Struct(&INPUT_MEMBERS);

    #[test]
    fn query_strings_are_typed_by_the_schema() {
        let params = json!({"Period": "60", "StartTime": "2024-01-01T00:00:00Z", "ReturnData": "false",
            "Dimensions": [{"Name": "ClusterName", "Value": "60"}], "Tags": [{"key": "a", "value": "b"}],
            "Value": "1.5", "Unknown": "7"});
        assert_eq!(
            typed_params(params, &INPUT).expect("typed"),
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
            let error = typed_params(bad.clone(), &INPUT).expect_err("refused");
            assert_eq!(error.query_code(), "InvalidParameterValue", "{bad}");
        }
    }

    #[test]
    fn answers_follow_the_models_member_order_and_mark_timestamps() {
        static OUTPUT_MEMBERS: [Member; 2] = [
            Member { name: "Label", kind: &Kind::String },
            Member { name: "At", kind: &Kind::Timestamp },
        ];
        static OUTPUT: Kind = Kind::Struct(&OUTPUT_MEMBERS);
        let value = json!({"At": 1_704_067_200.0, "Label": "cpu", "Missing": null});
        assert_eq!(
            document(&value, &OUTPUT),
            Document::Struct(vec![
                ("Label", Document::Str("cpu".into())),
                ("At", Document::Time(1_704_067_200))
            ])
        );
    }
}

//! Smithy RPC v2 CBOR bodies: a request's CBOR map turned into a JSON value (epoch-seconds
//! timestamps, tag 1, become numbers), and answers written as CBOR (timestamps as tag 1,
//! doubles as floats, structures as maps with text keys). Every answer says
//! `smithy-protocol: rpc-v2-cbor`.

use axum::http::HeaderValue;
use axum::response::Response;
use ciborium::value::{Integer, Value as Cbor};
use serde_json::{Map, Number, Value};

use super::response;
use crate::document::Document;
use crate::error::WireError;

/// CBOR's tag of a timestamp in epoch seconds.
const EPOCH_TAG: u64 = 1;
const CONTENT_TYPE: &str = "application/cbor";

/// A request body (empty means no members).
pub fn decode(body: &[u8]) -> Result<Value, WireError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let value: Cbor = ciborium::de::from_reader(body).map_err(|e| malformed(&e.to_string()))?;
    let json = to_json(value)?;
    if !json.is_object() {
        return Err(malformed("the request body must be a CBOR map"));
    }
    Ok(json)
}

fn malformed(detail: &str) -> WireError {
    WireError::serialization(format!("malformed CBOR body: {detail}"))
}

fn to_json(value: Cbor) -> Result<Value, WireError> {
    Ok(match value {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Text(text) => Value::String(text),
        Cbor::Integer(n) => integer(n)?,
        Cbor::Float(f) => Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| malformed("a number is NaN or infinite"))?,
        Cbor::Tag(EPOCH_TAG, inner) => match *inner {
            Cbor::Integer(n) => integer(n)?,
            Cbor::Float(f) => {
                Number::from_f64(f).map(Value::Number).ok_or_else(|| malformed("bad timestamp"))?
            }
            _ => return Err(malformed("a timestamp (tag 1) must hold a number")),
        },
        Cbor::Tag(tag, _) => return Err(malformed(&format!("unexpected tag {tag}"))),
        Cbor::Bytes(_) => return Err(malformed("no member of the operations served is a blob")),
        Cbor::Array(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Cbor::Map(entries) => {
            let mut object = Map::new();
            for (key, value) in entries {
                let Cbor::Text(key) = key else {
                    return Err(malformed("map keys must be text"));
                };
                object.insert(key, to_json(value)?);
            }
            Value::Object(object)
        }
        _ => return Err(malformed("unsupported CBOR value")),
    })
}

fn integer(n: Integer) -> Result<Value, WireError> {
    let wide = i128::from(n);
    i64::try_from(wide)
        .map(Value::from)
        .or_else(|_| u64::try_from(wide).map(Value::from))
        .map_err(|_| malformed("an integer does not fit 64 bits"))
}

fn encode(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail for lack of room; a value ciborium cannot write would be
    // a bug of `to_cbor`, answered as an empty body.
    if ciborium::ser::into_writer(value, &mut out).is_err() {
        out.clear();
    }
    out
}

pub fn to_cbor(document: &Document) -> Cbor {
    match document {
        Document::Str(s) => Cbor::Text(s.clone()),
        Document::Num(n) => Cbor::Float(*n),
        Document::Int(n) => Cbor::Integer((*n).into()),
        Document::Bool(b) => Cbor::Bool(*b),
        Document::Time(t) => Cbor::Tag(EPOCH_TAG, Box::new(Cbor::Integer((*t).into()))),
        Document::List(items) => Cbor::Array(items.iter().map(to_cbor).collect()),
        Document::Struct(members) => Cbor::Map(
            members.iter().map(|(k, v)| (Cbor::Text(k.json.to_string()), to_cbor(v))).collect(),
        ),
    }
}

fn with_protocol_header(mut r: Response) -> Response {
    r.headers_mut().insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    r
}

pub fn success(document: &Document) -> Response {
    with_protocol_header(response(200, CONTENT_TYPE, encode(&to_cbor(document))))
}

/// An error: `__type` is the shape id (`<namespace>#<Code>`), plus `message`.
pub fn failure(error: &WireError, shape_namespace: &str, query_compatible: bool) -> Response {
    let body = Cbor::Map(vec![
        (Cbor::Text("__type".into()), Cbor::Text(format!("{shape_namespace}#{}", error.code))),
        (Cbor::Text("message".into()), Cbor::Text(error.message.clone())),
    ]);
    let mut r = with_protocol_header(response(error.status, CONTENT_TYPE, encode(&body)));
    if query_compatible {
        r.headers_mut().insert("x-amzn-query-error", super::json::query_error_header(error));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cbor(value: &Cbor) -> Vec<u8> {
        encode(value)
    }

    fn text(s: &str) -> Cbor {
        Cbor::Text(s.into())
    }

    #[test]
    fn a_cbor_request_decodes_with_tagged_timestamps() {
        let body = cbor(&Cbor::Map(vec![
            (text("Namespace"), text("AWS/ECS")),
            (
                text("Dimensions"),
                Cbor::Array(vec![Cbor::Map(vec![(text("Name"), text("ClusterName"))])]),
            ),
            (text("StartTime"), Cbor::Tag(1, Box::new(Cbor::Integer(1_704_067_200.into())))),
            (text("EndTime"), Cbor::Tag(1, Box::new(Cbor::Float(1_704_070_800.5)))),
            (text("Period"), Cbor::Integer(60.into())),
        ]));
        assert_eq!(
            decode(&body).expect("cbor"),
            serde_json::json!({"Namespace": "AWS/ECS", "Dimensions": [{"Name": "ClusterName"}],
                "StartTime": 1_704_067_200, "EndTime": 1_704_070_800.5, "Period": 60})
        );
    }

    #[test]
    fn malformed_cbor_is_a_serialization_error() {
        for body in [
            vec![0xff],
            cbor(&Cbor::Array(vec![])),
            cbor(&Cbor::Map(vec![(Cbor::Integer(1.into()), text("x"))])),
            cbor(&Cbor::Map(vec![(text("a"), Cbor::Bytes(vec![1]))])),
            cbor(&Cbor::Map(vec![(text("a"), Cbor::Tag(2, Box::new(Cbor::Null)))])),
            cbor(&Cbor::Map(vec![(text("a"), Cbor::Float(f64::NAN))])),
        ] {
            let error = decode(&body).expect_err("refused");
            assert_eq!(error.code, "SerializationException", "{body:?}");
        }
        assert_eq!(decode(b"").expect("empty"), serde_json::json!({}));
    }

    #[test]
    fn answers_round_trip_with_timestamps_tagged() {
        let document = Document::Struct(vec![(
            "Datapoints".into(),
            Document::List(vec![Document::Struct(vec![
                ("Timestamp".into(), Document::Time(1_704_067_200)),
                ("Average".into(), Document::Num(12.5)),
            ])]),
        )]);
        let bytes = encode(&to_cbor(&document));
        let back: Cbor = ciborium::de::from_reader(bytes.as_slice()).expect("decode");
        let expected = Cbor::Map(vec![(
            text("Datapoints"),
            Cbor::Array(vec![Cbor::Map(vec![
                (text("Timestamp"), Cbor::Tag(1, Box::new(Cbor::Integer(1_704_067_200.into())))),
                (text("Average"), Cbor::Float(12.5)),
            ])]),
        )]);
        assert_eq!(back, expected);
    }
}

//! Smithy RPC v2 CBOR bodies: a request's CBOR map turned into the JSON value the typed request
//! is decoded from (epoch-seconds timestamps, tag 1, become numbers), and an answer written as
//! CBOR (timestamps as tag 1, doubles as floats, structures as maps with text keys).

use ciborium::value::{Integer, Value as Cbor};
use flotilla_api::{ApiError, ErrorCode};
use serde_json::{Map, Number, Value};

use super::reply::Reply;

/// CBOR's tag of a timestamp in epoch seconds.
const EPOCH_TAG: u64 = 1;

/// A request body (empty means no members).
pub fn from_cbor(body: &[u8]) -> Result<Value, ApiError> {
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

fn malformed(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::SerializationException, format!("malformed CBOR body: {detail}"))
}

fn to_json(value: Cbor) -> Result<Value, ApiError> {
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
        Cbor::Bytes(_) => return Err(malformed("no member of these operations is a blob")),
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

fn integer(n: Integer) -> Result<Value, ApiError> {
    let wide = i128::from(n);
    i64::try_from(wide)
        .map(Value::from)
        .or_else(|_| u64::try_from(wide).map(Value::from))
        .map_err(|_| malformed("an integer does not fit 64 bits"))
}

/// The answer as a CBOR document.
pub fn to_bytes(reply: &Reply) -> Result<Vec<u8>, ApiError> {
    encode(&to_cbor(reply))
}

/// An error answer's body: `__type` (shape id) and `message`.
pub fn error_bytes(code: ErrorCode, message: &str) -> Vec<u8> {
    let body = Cbor::Map(vec![
        (
            Cbor::Text("__type".into()),
            Cbor::Text(format!("com.amazonaws.cloudwatch#{}", code.as_str())),
        ),
        (Cbor::Text("message".into()), Cbor::Text(message.into())),
    ]);
    encode(&body).unwrap_or_default()
}

fn encode(value: &Cbor) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).map_err(|e| {
        ApiError::new(ErrorCode::InternalServiceFault, format!("cannot encode CBOR: {e}"))
    })?;
    Ok(out)
}

fn to_cbor(reply: &Reply) -> Cbor {
    match reply {
        Reply::Str(s) => Cbor::Text(s.clone()),
        Reply::Num(n) => Cbor::Float(*n),
        Reply::Time(t) => Cbor::Tag(EPOCH_TAG, Box::new(Cbor::Integer((*t).into()))),
        Reply::List(items) => Cbor::Array(items.iter().map(to_cbor).collect()),
        Reply::Struct(members) => Cbor::Map(
            members.iter().map(|(k, v)| (Cbor::Text((*k).to_string()), to_cbor(v))).collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::cloudwatch::GetMetricStatisticsRequest;

    fn cbor(value: &Cbor) -> Vec<u8> {
        encode(value).expect("encode")
    }

    fn text(s: &str) -> Cbor {
        Cbor::Text(s.into())
    }

    #[test]
    fn a_cbor_request_decodes_with_tagged_timestamps() {
        let body = cbor(&Cbor::Map(vec![
            (text("Namespace"), text("AWS/ECS")),
            (text("MetricName"), text("CPUUtilization")),
            (
                text("Dimensions"),
                Cbor::Array(vec![Cbor::Map(vec![
                    (text("Name"), text("ClusterName")),
                    (text("Value"), text("default")),
                ])]),
            ),
            (text("StartTime"), Cbor::Tag(1, Box::new(Cbor::Integer(1_704_067_200.into())))),
            (text("EndTime"), Cbor::Tag(1, Box::new(Cbor::Float(1_704_070_800.5)))),
            (text("Period"), Cbor::Integer(60.into())),
            (text("Statistics"), Cbor::Array(vec![text("Average")])),
        ]));
        let request: GetMetricStatisticsRequest =
            super::super::input::decode(from_cbor(&body).expect("cbor")).expect("request");
        assert_eq!(request.start_time, 1_704_067_200.0);
        assert_eq!(request.end_time, 1_704_070_800.5);
        assert_eq!(request.period, 60);
        assert_eq!(request.dimensions[0].value, "default");
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
            let error = from_cbor(&body).expect_err("refused");
            assert_eq!(error.code, ErrorCode::SerializationException, "{body:?}");
        }
        assert_eq!(from_cbor(b"").expect("empty"), serde_json::json!({}));
    }

    #[test]
    fn answers_round_trip_with_timestamps_tagged() {
        let reply = Reply::Struct(vec![(
            "Datapoints",
            Reply::List(vec![Reply::Struct(vec![
                ("Timestamp", Reply::Time(1_704_067_200)),
                ("Average", Reply::Num(12.5)),
            ])]),
        )]);
        let bytes = to_bytes(&reply).expect("bytes");
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

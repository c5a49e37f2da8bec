//! Request bodies of every protocol turned into one JSON value of the model's shape, then into
//! the typed request: AWS JSON as is; the query protocol's form (`Dimensions.member.1.Name=…`)
//! rebuilt into nested structures and lists, its strings typed by member name. Timestamps end up
//! as epoch seconds whatever the protocol sent (ISO 8601 strings are converted).

use std::collections::BTreeMap;

use flotilla_api::cloudwatch::{invalid_value, missing};
use flotilla_api::{ApiError, ErrorCode};
use serde_json::{Map, Value};

/// Members the model types as integers, booleans and timestamps (strings in a query form).
const INTEGER_MEMBERS: &[&str] = &["Period", "MaxDatapoints"];
const BOOLEAN_MEMBERS: &[&str] = &["ReturnData", "IncludeLinkedAccounts"];
const TIMESTAMP_MEMBERS: &[&str] = &["StartTime", "EndTime"];
/// Parameters one form may carry (500 queries of a few members each fit).
const MAX_FORM_PARAMETERS: usize = 20_000;
/// The largest list index a form may use (`member.N`).
const MAX_LIST_INDEX: usize = 10_000;
/// Segments of one parameter name: the deepest of these operations has 9
/// (`MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name`); the bound keeps
/// the tree (and the recursion that types it) shallow whatever a client sends.
const MAX_NAME_SEGMENTS: usize = 16;

/// An AWS JSON body (empty means `{}`).
pub fn from_json(body: &[u8]) -> Result<Value, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::SerializationException, e.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::new(
            ErrorCode::SerializationException,
            "the request body must be a JSON object",
        ));
    }
    normalize_timestamps(&mut value)?;
    Ok(value)
}

/// Converts ISO 8601 timestamps (some clients send them in JSON too) to epoch seconds.
fn normalize_timestamps(value: &mut Value) -> Result<(), ApiError> {
    let Some(object) = value.as_object_mut() else { return Ok(()) };
    for name in TIMESTAMP_MEMBERS {
        if let Some(Value::String(text)) = object.get(*name) {
            let seconds = parse_timestamp(name, text)?;
            object.insert((*name).to_string(), seconds.into());
        }
    }
    Ok(())
}

/// A timestamp as epoch seconds: ISO 8601 (RFC 3339) or a number of seconds.
pub fn parse_timestamp(member: &str, text: &str) -> Result<f64, ApiError> {
    if let Ok(seconds) = text.trim().parse::<f64>() {
        if seconds.is_finite() {
            return Ok(seconds);
        }
    }
    let parsed = time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            invalid_value(format!(
                "The parameter {member} must be an ISO 8601 timestamp such as 2024-01-31T12:00:00Z, not '{text}'."
            ))
        })?;
    Ok(parsed.unix_timestamp_nanos() as f64 / 1e9)
}

/// A query-protocol form: its `Action`, its `Version` and its other parameters as one value.
#[derive(Debug)]
pub struct Form {
    pub action: String,
    pub version: String,
    pub input: Value,
}

pub fn from_form(body: &[u8]) -> Result<Form, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| invalid_value("The request body is not UTF-8 form data."))?;
    let mut action = None;
    let mut version = None;
    let mut root = Node::Struct(BTreeMap::new());
    for (n, pair) in text.split('&').filter(|p| !p.is_empty()).enumerate() {
        if n >= MAX_FORM_PARAMETERS {
            return Err(invalid_value("The request has too many parameters."));
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key)?, percent_decode(value)?);
        match key.as_str() {
            "Action" => action = Some(value),
            "Version" => version = Some(value),
            _ => root.insert(&key, value)?,
        }
    }
    Ok(Form {
        action: action.ok_or_else(|| missing("Action"))?,
        version: version.unwrap_or_default(),
        input: root.into_value("")?,
    })
}

/// A form parameter tree before it is typed.
#[derive(Debug)]
enum Node {
    Leaf(String),
    Struct(BTreeMap<String, Node>),
    /// `member.N`, by N (1-based).
    List(BTreeMap<usize, Node>),
}

impl Node {
    fn insert(&mut self, key: &str, value: String) -> Result<(), ApiError> {
        let conflict = || invalid_value(format!("The parameter {key} conflicts with another one."));
        let segments: Vec<&str> = key.split('.').collect();
        if segments.len() > MAX_NAME_SEGMENTS {
            return Err(invalid_value(format!(
                "The parameter name '{}…' is nested too deeply.",
                key.chars().take(64).collect::<String>()
            )));
        }
        let mut node = self;
        let mut n = 0;
        while n < segments.len() {
            let segment = segments[n];
            if segment.is_empty() {
                return Err(invalid_value(format!("The parameter name '{key}' is malformed.")));
            }
            let last = n + 1 == segments.len();
            node = match node {
                Node::Struct(members) if segment != "member" => {
                    let child = members.entry(segment.to_string()).or_insert_with(|| {
                        if last {
                            Node::Leaf(String::new())
                        } else if segments[n + 1] == "member" {
                            Node::List(BTreeMap::new())
                        } else {
                            Node::Struct(BTreeMap::new())
                        }
                    });
                    n += 1;
                    child
                }
                Node::List(items) if segment == "member" && !last => {
                    let index: usize = segments[n + 1]
                        .parse()
                        .ok()
                        .filter(|i| (1..=MAX_LIST_INDEX).contains(i))
                        .ok_or_else(|| {
                            invalid_value(format!(
                                "The parameter {key} has a bad list index (1 to {MAX_LIST_INDEX})."
                            ))
                        })?;
                    let after = n + 2;
                    let child = items.entry(index).or_insert_with(|| {
                        if after == segments.len() {
                            Node::Leaf(String::new())
                        } else if segments[after] == "member" {
                            Node::List(BTreeMap::new())
                        } else {
                            Node::Struct(BTreeMap::new())
                        }
                    });
                    n = after;
                    child
                }
                _ => return Err(conflict()),
            };
        }
        match node {
            Node::Leaf(existing) => {
                *existing = value;
                Ok(())
            }
            _ => Err(conflict()),
        }
    }

    /// The value, strings typed by their member's name.
    fn into_value(self, member: &str) -> Result<Value, ApiError> {
        Ok(match self {
            Node::Leaf(text) if INTEGER_MEMBERS.contains(&member) => {
                let n: i64 = text.trim().parse().map_err(|_| {
                    invalid_value(format!(
                        "The parameter {member} must be an integer, not '{text}'."
                    ))
                })?;
                n.into()
            }
            Node::Leaf(text) if BOOLEAN_MEMBERS.contains(&member) => match text.as_str() {
                "true" => true.into(),
                "false" => false.into(),
                _ => {
                    return Err(invalid_value(format!(
                        "The parameter {member} must be true or false, not '{text}'."
                    )))
                }
            },
            Node::Leaf(text) if TIMESTAMP_MEMBERS.contains(&member) => {
                parse_timestamp(member, &text)?.into()
            }
            Node::Leaf(text) => Value::String(text),
            Node::Struct(members) => Value::Object(
                members
                    .into_iter()
                    .map(|(name, node)| {
                        let value = node.into_value(&name)?;
                        Ok((name, value))
                    })
                    .collect::<Result<Map<_, _>, ApiError>>()?,
            ),
            Node::List(items) => {
                Value::Array(items.into_values().map(|node| node.into_value("")).collect::<Result<
                    Vec<_>,
                    _,
                >>(
                )?)
            }
        })
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn percent_decode(text: &str) -> Result<String, ApiError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut n = 0;
    while n < bytes.len() {
        match bytes[n] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(n + 1..n + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| invalid_value("The request has a malformed %-escape."))?;
                out.push(hex);
                n += 2;
            }
            b => out.push(b),
        }
        n += 1;
    }
    String::from_utf8(out)
        .map_err(|_| invalid_value("The request has parameters that are not UTF-8."))
}

/// The typed request: a missing required member is `MissingParameter`, anything else that does
/// not fit the model a `SerializationException`.
pub fn decode<T: serde::de::DeserializeOwned>(input: Value) -> Result<T, ApiError> {
    serde_json::from_value(input).map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix("missing field `") {
            Some(rest) => missing(rest.split('`').next().unwrap_or("?")),
            None => ApiError::new(ErrorCode::SerializationException, text),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::cloudwatch::{GetMetricDataRequest, GetMetricStatisticsRequest};

    #[test]
    fn a_query_form_becomes_the_models_shape() {
        let body = "Action=GetMetricStatistics&Version=2010-08-01&Namespace=AWS%2FECS\
            &MetricName=CPUUtilization&Dimensions.member.1.Name=ClusterName\
            &Dimensions.member.1.Value=my+cluster&Dimensions.member.2.Name=ServiceName\
            &Dimensions.member.2.Value=web&StartTime=2024-01-01T00%3A00%3A00Z\
            &EndTime=2024-01-01T01%3A00%3A00.500Z&Period=300\
            &Statistics.member.2=Maximum&Statistics.member.1=Average";
        let form = from_form(body.as_bytes()).expect("ok");
        assert_eq!(form.action, "GetMetricStatistics");
        assert_eq!(form.version, "2010-08-01");
        let request: GetMetricStatisticsRequest = decode(form.input).expect("ok");
        assert_eq!(request.namespace, "AWS/ECS");
        assert_eq!(request.dimensions[0].value, "my cluster");
        assert_eq!(request.dimensions[1].name, "ServiceName");
        assert_eq!(request.start_time, 1_704_067_200.0);
        assert_eq!(request.end_time, 1_704_070_800.5);
        assert_eq!(request.period, 300);
        assert_eq!(request.statistics, vec!["Average", "Maximum"]);
    }

    #[test]
    fn nested_lists_and_booleans_are_typed() {
        let body = "Action=GetMetricData&Version=2010-08-01&StartTime=1704067200&EndTime=1704070800\
            &MetricDataQueries.member.1.Id=m1&MetricDataQueries.member.1.ReturnData=false\
            &MetricDataQueries.member.1.MetricStat.Period=60&MetricDataQueries.member.1.MetricStat.Stat=Average\
            &MetricDataQueries.member.1.MetricStat.Metric.Namespace=AWS%2FECS\
            &MetricDataQueries.member.1.MetricStat.Metric.MetricName=CPUReservation\
            &MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name=ClusterName\
            &MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value=default\
            &MaxDatapoints=10";
        let form = from_form(body.as_bytes()).expect("ok");
        let request: GetMetricDataRequest = decode(form.input).expect("ok");
        let query = &request.metric_data_queries[0];
        assert_eq!(query.return_data, Some(false));
        let stat = query.metric_stat.as_ref().expect("ok");
        assert_eq!(stat.period, 60);
        assert_eq!(stat.metric.dimensions[0].value, "default");
        assert_eq!(request.max_datapoints, Some(10));
    }

    #[test]
    fn malformed_forms_are_invalid_values_not_panics() {
        for body in [
            "Action=X&Period=abc",
            "Action=X&Dimensions.member.0.Name=a",
            "Action=X&Dimensions.member.99999999999999999999.Name=a",
            "Action=X&Dimensions.member=a",
            "Action=X&A=1&A.B=2",
            "Action=X&A.B=2&A=1",
            "Action=X&StartTime=yesterday",
            "Action=X&ReturnData=maybe",
            "Action=X&a=%zz",
            "Action=X&a=%e2%28",
            "Action=X&a..b=1",
            &format!("Action=X&{}=1", vec!["a"; 100_000].join(".")),
        ] {
            let error = from_form(body.as_bytes()).expect_err("an error");
            assert_eq!(error.code, ErrorCode::InvalidParameterValueException, "{body}");
        }
        assert_eq!(
            from_form(b"Version=2010-08-01").expect_err("an error").code,
            ErrorCode::MissingRequiredParameterException
        );
    }

    #[test]
    fn json_missing_members_and_iso_times() {
        let input = from_json(br#"{"Namespace":"AWS/ECS","MetricName":"x","StartTime":"2024-01-01T00:00:00Z","EndTime":1704070800,"Period":60}"#).expect("ok");
        let request: GetMetricStatisticsRequest = decode(input).expect("ok");
        assert_eq!(request.start_time, 1_704_067_200.0);
        let error = decode::<GetMetricStatisticsRequest>(from_json(b"{}").expect("ok"))
            .expect_err("an error");
        assert_eq!(error.code, ErrorCode::MissingRequiredParameterException);
        assert!(from_json(b"[1]").is_err());
        assert!(from_json(b"{").is_err());
    }
}

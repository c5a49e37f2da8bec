//! AWS JSON bodies turned into the JSON value the typed request is decoded from (query
//! parameters are typed by the door's schema, CBOR by its decoder): timestamps end up as epoch
//! seconds whatever the client sent (some send ISO 8601 strings in JSON too).

use flotilla_api::{ApiError, ErrorCode};
use serde_json::Value;

use crate::checks::{invalid_value, missing};

/// Members the model types as timestamps, which some clients send as ISO 8601 in JSON too.
const TIMESTAMP_MEMBERS: &[&str] = &["StartTime", "EndTime"];

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

/// The typed request: a missing required member is `MissingParameter`, anything else that does
/// not fit the model a `SerializationException`.
pub fn decode<T: serde::de::DeserializeOwned>(input: Value) -> Result<T, ApiError> {
    serde_json::from_value(input).map_err(|e| match flotilla_api::missing_member(&e) {
        Some(member) => missing(&member),
        None => ApiError::new(ErrorCode::SerializationException, e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{self, GetMetricDataInput, GetMetricStatisticsInput};
    use flotilla_front::schema::{typed_params, Kind, ParamNames};

    fn form(text: &str, kind: &Kind) -> Value {
        let params = flotilla_front::protocol::query::parse(&[text.as_bytes()]).expect("parses");
        typed_params(params.input, kind, ParamNames::Query).expect("typed")
    }

    #[test]
    fn a_query_form_becomes_the_models_shape() {
        let body = "Namespace=AWS%2FECS\
            &MetricName=CPUUtilization&Dimensions.member.1.Name=ClusterName\
            &Dimensions.member.1.Value=my+cluster&Dimensions.member.2.Name=ServiceName\
            &Dimensions.member.2.Value=web&StartTime=2024-01-01T00%3A00%3A00Z\
            &EndTime=2024-01-01T01%3A00%3A00.500Z&Period=300\
            &Statistics.member.2=Maximum&Statistics.member.1=Average";
        let request: GetMetricStatisticsInput =
            decode(form(body, &wire::GET_METRIC_STATISTICS_INPUT_SCHEMA)).expect("ok");
        let dimensions = request.dimensions.expect("dimensions");
        assert_eq!(request.namespace, "AWS/ECS");
        assert_eq!(dimensions[0].value, "my cluster");
        assert_eq!(dimensions[1].name, "ServiceName");
        assert_eq!(request.start_time, 1_704_067_200.0);
        assert_eq!(request.end_time, 1_704_070_800.5);
        assert_eq!(request.period, 300);
        assert_eq!(request.statistics.expect("statistics"), vec!["Average", "Maximum"]);
    }

    #[test]
    fn nested_lists_and_booleans_are_typed() {
        let body = "StartTime=1704067200&EndTime=1704070800\
            &MetricDataQueries.member.1.Id=m1&MetricDataQueries.member.1.ReturnData=false\
            &MetricDataQueries.member.1.MetricStat.Period=60&MetricDataQueries.member.1.MetricStat.Stat=Average\
            &MetricDataQueries.member.1.MetricStat.Metric.Namespace=AWS%2FECS\
            &MetricDataQueries.member.1.MetricStat.Metric.MetricName=CPUReservation\
            &MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name=ClusterName\
            &MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value=default\
            &MaxDatapoints=10";
        let request: GetMetricDataInput =
            decode(form(body, &wire::GET_METRIC_DATA_INPUT_SCHEMA)).expect("ok");
        let query = &request.metric_data_queries[0];
        assert_eq!(query.return_data, Some(false));
        let stat = query.metric_stat.as_ref().expect("ok");
        assert_eq!(stat.period, 60);
        assert_eq!(stat.metric.dimensions.as_ref().expect("dimensions")[0].value, "default");
        assert_eq!(request.max_datapoints, Some(10));
    }

    #[test]
    fn json_missing_members_and_iso_times() {
        let input = from_json(br#"{"Namespace":"AWS/ECS","MetricName":"x","StartTime":"2024-01-01T00:00:00Z","EndTime":1704070800,"Period":60}"#).expect("ok");
        let request: GetMetricStatisticsInput = decode(input).expect("ok");
        assert_eq!(request.start_time, 1_704_067_200.0);
        let error = decode::<GetMetricStatisticsInput>(from_json(b"{}").expect("ok"))
            .expect_err("an error");
        assert_eq!(error.code, ErrorCode::MissingRequiredParameterException);
        assert!(from_json(b"[1]").is_err());
        assert!(from_json(b"{").is_err());
    }
}

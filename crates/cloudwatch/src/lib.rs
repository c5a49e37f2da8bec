//! CloudWatch metrics (SigV4 service `monitoring`): the series this server keeps (`series.rs`,
//! fed by the ECS figures through the server's wiring) and the API over them:
//! GetMetricStatistics, GetMetricData (MetricStat queries) and ListMetrics. The front door
//! serves it over AWS JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`), the query
//! protocol (form bodies or query strings, XML answers) and Smithy RPC v2 CBOR
//! (`POST /service/GraniteServiceVersion20100801/operation/<Op>`). Requests and answers are the
//! wire types generated from botocore's model (`wire.rs`); the door writes answers in the
//! request's protocol from the model's schema.

pub mod checks;
mod data;
pub mod input;
mod list;
pub mod series;
pub mod service;
mod statistics;
pub mod wire;

use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use flotilla_api::{ApiError, ErrorCode};
use flotilla_front::schema::{self, Kind};
use flotilla_front::Document;
use serde::Serialize;

use series::{SeriesKey, SeriesStore, StatSet};

/// SigV4 service name of CloudWatch.
pub const SIGNING_NAME: &str = "monitoring";
/// The query protocol's `Version`.
pub const API_VERSION: &str = "2010-08-01";
/// The XML namespace of CloudWatch's query answers.
pub const XML_NAMESPACE: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

/// The series this service serves: what other parts of the server record (the `AWS/ECS`
/// figures) and the API reads. Memory only: a restarted server starts without history.
#[derive(Debug, Default)]
pub struct App {
    pub metrics: Metrics,
}

/// Per-minute statistic sets per (metric, dimensions), kept 24 hours.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<SeriesStore>,
}

impl Metrics {
    /// Records datapoints at `at` (epoch seconds), first forgetting minutes older than the
    /// series keep (once per call: a tick's points come together).
    pub fn record(&self, at: f64, points: Vec<(SeriesKey, StatSet)>) {
        let mut series = lock(&self.series);
        series.prune(at);
        for (key, set) in points {
            series.record(key, at, set);
        }
    }

    /// A series' statistic sets over `[start, end)` in periods of `period` seconds.
    pub fn query(&self, key: &SeriesKey, start: f64, end: f64, period: i64) -> Vec<(i64, StatSet)> {
        lock(&self.series).query(key, start, end, period)
    }

    /// Every series kept, with the minute of its newest datapoint.
    pub fn keys(&self) -> Vec<(SeriesKey, i64)> {
        let series = lock(&self.series);
        series.keys().map(|k| (k.clone(), series.newest(k).unwrap_or(0))).collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves series that are at worst one datapoint stale.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a handler gets besides its request.
pub struct Ctx<'a> {
    pub app: &'a App,
    /// The request's arrival time, epoch seconds.
    pub now: f64,
}

/// The unit of every `AWS/ECS` metric kept here.
pub const UNIT: &str = "Percent";

/// Checks that `operation` is served (before its body is judged, as AWS does): the operations
/// of `wire.toml`, which the wire types are generated for.
pub fn check_operation(operation: &str) -> Result<(), ApiError> {
    if wire::operation_schema(operation).is_some() {
        return Ok(());
    }
    let served: Vec<&str> = wire::OPERATIONS.iter().map(|(name, _, _)| *name).collect();
    Err(ApiError::new(
        ErrorCode::UnknownOperationException,
        format!(
            "operation {operation} is not supported by this server (CloudWatch here serves {})",
            served.join(", ")
        ),
    ))
}

/// Runs `operation` on a request already turned into the model's JSON shape; the answer is a
/// document of the operation's output schema.
pub fn dispatch(
    app: &App,
    operation: &str,
    input: serde_json::Value,
    now: SystemTime,
) -> Result<Document, ApiError> {
    check_operation(operation)?;
    let ctx = Ctx { app, now: flotilla_api::epoch_seconds(now) };
    match operation {
        "GetMetricStatistics" => answer(
            statistics::get(&ctx, &input::decode(input)?)?,
            &wire::GET_METRIC_STATISTICS_OUTPUT_SCHEMA,
        ),
        "GetMetricData" => input::decode(input)
            .and_then(|request| data::get(&ctx, &request))
            .map_err(data::as_validation)
            .and_then(|output| answer(output, &wire::GET_METRIC_DATA_OUTPUT_SCHEMA)),
        _ => answer(list::list(&ctx, &input::decode(input)?)?, &wire::LIST_METRICS_OUTPUT_SCHEMA),
    }
}

/// An output as the protocol-neutral document the door writes.
fn answer(output: impl Serialize, kind: &Kind) -> Result<Document, ApiError> {
    let value = serde_json::to_value(output).map_err(|e| {
        ApiError::new(ErrorCode::InternalServiceFault, format!("cannot encode the answer: {e}"))
    })?;
    Ok(schema::document(&value, kind))
}

/// Runs `operation` on a request in any of CloudWatch's protocols: the operation is checked
/// first (before the body is judged, as AWS does), then the input typed to the model's shape.
pub fn serve(
    app: &App,
    operation: &str,
    input: flotilla_front::Input,
    now: SystemTime,
) -> Result<Document, ApiError> {
    check_operation(operation)?;
    let input = match input {
        flotilla_front::Input::Json(body) => input::from_json(&body)?,
        flotilla_front::Input::Params(params) => {
            let (kind, _) = wire::operation_schema(operation).ok_or_else(|| {
                ApiError::new(ErrorCode::UnknownOperationException, operation.to_string())
            })?;
            schema::typed_params(params, kind, schema::ParamNames::Query)
                .map_err(|e| ApiError::new(ErrorCode::InvalidParameterValueException, e.message))?
        }
        flotilla_front::Input::Cbor(body) => flotilla_front::protocol::cbor::decode(&body)
            .map_err(|e| ApiError::new(ErrorCode::SerializationException, e.message))?,
    };
    // What the field ledger (`crates/cloudwatch/ledger.toml`) refuses is refused by name.
    let refused = wire::refused_paths(operation);
    if let Some(path) = flotilla_front::refusal::refused_member(&input, refused) {
        // Each in an error type its operation models: GetMetricData models no other than
        // ValidationException (and InvalidNextToken).
        let code = if operation == "GetMetricData" {
            ErrorCode::ValidationException
        } else {
            ErrorCode::InvalidParameterValueException
        };
        return Err(ApiError::new(code, flotilla_front::refusal::not_supported_message(path)));
    }
    dispatch(app, operation, input, now)
}

/// A pagination token of this server: `<prefix><offset>`. The offset is the client's number:
/// check it with [`check_offset`] before adding to it.
fn parse_token(token: Option<&str>, prefix: &str) -> Result<usize, ApiError> {
    let Some(token) = token else { return Ok(0) };
    token.strip_prefix(prefix).and_then(|n| n.parse().ok()).ok_or_else(invalid_token)
}

/// A token's offset must lie within the `total` items it pages over: one past the end was
/// never handed out (and, added to, could overflow or page forever).
fn check_offset(offset: usize, total: usize) -> Result<(), ApiError> {
    if offset > total {
        return Err(invalid_token());
    }
    Ok(())
}

fn invalid_token() -> ApiError {
    ApiError::new(ErrorCode::InvalidNextToken, "The NextToken is not one this server gave.")
}

#[cfg(test)]
mod tests;

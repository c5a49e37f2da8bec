//! The CloudWatch metrics API (SigV4 service `monitoring`) for the `AWS/ECS` series this server
//! keeps: GetMetricStatistics, GetMetricData (MetricStat queries) and ListMetrics, served over
//! AWS JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`, through `http.rs`'s
//! service table), the query protocol (form bodies, XML answers) and Smithy RPC v2 CBOR
//! (`POST /service/GraniteServiceVersion20100801/operation/<Op>`): `protocol.rs`.

pub mod cbor;
mod data;
pub mod input;
mod list;
pub mod protocol;
pub mod reply;
mod statistics;

use std::time::SystemTime;

use flotilla_api::{ApiError, ErrorCode};

use crate::App;
use reply::Reply;

/// What a handler gets besides its request.
pub struct Ctx<'a> {
    pub app: &'a App,
    /// The request's arrival time, epoch seconds.
    pub now: f64,
}

/// The unit of every `AWS/ECS` metric kept here.
pub const UNIT: &str = "Percent";

/// The operations served.
pub const OPERATIONS: &[&str] = &["GetMetricStatistics", "GetMetricData", "ListMetrics"];

/// Checks that `operation` is served (before its body is judged, as AWS does).
pub fn check_operation(operation: &str) -> Result<(), ApiError> {
    if OPERATIONS.contains(&operation) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::UnknownOperationException,
        format!(
            "operation {operation} is not supported by this server (CloudWatch here serves {})",
            OPERATIONS.join(", ")
        ),
    ))
}

/// Runs `operation` on a request already turned into the model's JSON shape.
pub fn dispatch(
    app: &App,
    operation: &str,
    input: serde_json::Value,
    now: SystemTime,
) -> Result<Reply, ApiError> {
    check_operation(operation)?;
    let ctx = Ctx { app, now: crate::epoch_seconds(now) };
    match operation {
        "GetMetricStatistics" => statistics::get(&ctx, &input::decode(input)?),
        "GetMetricData" => input::decode(input)
            .and_then(|request| data::get(&ctx, &request))
            .map_err(data::as_validation),
        _ => list::list(&ctx, &input::decode(input)?),
    }
}

/// The AWS JSON 1.0 path: JSON in, JSON out.
pub fn dispatch_json(
    app: &App,
    operation: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<Vec<u8>, ApiError> {
    check_operation(operation)?;
    let reply = dispatch(app, operation, input::from_json(body)?, now)?;
    serde_json::to_vec(&reply.to_json())
        .map_err(|e| ApiError::new(ErrorCode::InternalServiceFault, format!("cannot encode: {e}")))
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

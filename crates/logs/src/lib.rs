//! CloudWatch Logs (`Logs_20140328.*`, SigV4 service `logs`): one function per operation,
//! dispatched by operation name, over the log database in `store.rs`; served through the front
//! door as a registered service (`service.rs`).
//!
//! Logs live apart from every other service's state: `<data-dir>/logs.redb`, written by one
//! group-committing writer thread (`writer.rs`) and read from snapshots on blocking threads.
//! Container output that agents ship arrives already checked by the agent gateway
//! (`agent_batches.rs`); `retention.rs` deletes what groups no longer keep. Requests and answers
//! are the wire types generated from botocore's model (`wire.rs`).

pub mod agent_batches;
mod events;
pub mod filter;
mod groups;
pub mod position;
pub mod retention;
mod schema;
pub mod service;
pub mod store;
mod streams;
pub mod wire;
pub mod writer;

#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod read_tests;
#[cfg(test)]
mod store_tests;

use std::time::SystemTime;

use flotilla_api::{ApiError, ErrorCode};
use serde::Serialize;

use flotilla_api::arn::ArnScope;

pub use store::{LogStore, LogsError};

/// What every Logs handler can reach.
pub struct App {
    /// Region and account of the ARNs.
    pub scope: ArnScope,
    /// Groups, streams and events (`<data-dir>/logs.redb`).
    pub logs: LogStore,
    /// The time retention expires events by (requests carry their own).
    pub clock: std::sync::Arc<dyn flotilla_api::clock::Clock>,
}

impl App {
    /// Opens (or creates) the log database at `path`.
    pub fn open(
        path: &std::path::Path,
        scope: ArnScope,
        clock: std::sync::Arc<dyn flotilla_api::clock::Clock>,
    ) -> Result<App, LogsError> {
        Ok(App { scope, logs: LogStore::open(path)?, clock })
    }
}

/// What a handler gets besides its body.
pub struct Ctx<'a> {
    pub app: &'a App,
    /// The request's arrival time in epoch milliseconds: the only clock a handler reads.
    pub now_ms: i64,
}

/// Epoch milliseconds, as CloudWatch Logs timestamps are on the wire.
pub fn epoch_millis(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Runs CloudWatch Logs operation `operation` with JSON `body`.
pub async fn dispatch(
    app: &App,
    operation: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<Vec<u8>, ApiError> {
    let ctx = Ctx { app, now_ms: epoch_millis(now) };
    refuse_by_ledger(operation, body)?;
    match operation {
        "CreateLogGroup" => groups::create(&ctx, body).await,
        "DeleteLogGroup" => groups::delete(&ctx, body).await,
        "DescribeLogGroups" => groups::describe(&ctx, body).await,
        "PutRetentionPolicy" => groups::put_retention(&ctx, body).await,
        "DeleteRetentionPolicy" => groups::delete_retention(&ctx, body).await,
        "CreateLogStream" => streams::create(&ctx, body).await,
        "DeleteLogStream" => streams::delete(&ctx, body).await,
        "DescribeLogStreams" => streams::describe(&ctx, body).await,
        "PutLogEvents" => events::put(&ctx, body).await,
        "GetLogEvents" => events::get(&ctx, body).await,
        "FilterLogEvents" => events::filter(&ctx, body).await,
        other => Err(ApiError::new(
            ErrorCode::UnknownOperationException,
            format!("operation {other} is not supported by this server"),
        )),
    }
}

impl From<LogsError> for ApiError {
    fn from(error: LogsError) -> Self {
        match error {
            LogsError::GroupNotFound => flotilla_api::logs::group_not_found(),
            LogsError::StreamNotFound => flotilla_api::logs::stream_not_found(),
            LogsError::GroupExists | LogsError::StreamExists => {
                ApiError::new(ErrorCode::ResourceAlreadyExistsException, error.to_string())
            }
            LogsError::Storage(_) | LogsError::Closed => {
                tracing::error!(%error, "log storage failed");
                ApiError::new(ErrorCode::ServiceUnavailableException, error.to_string())
            }
        }
    }
}

/// Serializes a response body.
fn respond(value: &impl Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| {
        ApiError::new(
            ErrorCode::ServiceUnavailableException,
            format!("cannot encode response: {e}"),
        )
    })
}

/// Refuses a request that sets a member the field ledger (`crates/logs/ledger.toml`) refuses,
/// naming it, before any handler reads the request (the handlers never see such a member set).
fn refuse_by_ledger(operation: &str, body: &[u8]) -> Result<(), ApiError> {
    match flotilla_front::refusal::refusal_in_json(body, wire::refused_paths(operation)) {
        Some(message) => Err(ApiError::invalid(message)),
        None => Ok(()),
    }
}

/// The body of an operation without output.
fn respond_empty() -> Result<Vec<u8>, ApiError> {
    Ok(b"{}".to_vec())
}

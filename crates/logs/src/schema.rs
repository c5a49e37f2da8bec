//! The log database's layout, shared by its readers (`store.rs`) and its writer (`writer.rs`):
//! the tables, what their values hold, the errors, and the retention rule both apply.

use std::collections::BTreeMap;

use redb::TableDefinition;

use crate::position::Position;
use serde::{Deserialize, Serialize};

pub(crate) const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("groups");
pub(crate) const STREAMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("streams");
pub(crate) const EVENTS: TableDefinition<(u64, i64, u64), &[u8]> = TableDefinition::new("events");
pub(crate) const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
pub(crate) const PURGE: TableDefinition<u64, ()> = TableDefinition::new("purge");
pub(crate) const NEXT_STREAM_ID: &str = "next-stream-id";

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("The specified log group does not exist.")]
    GroupNotFound,
    #[error("The specified log stream does not exist.")]
    StreamNotFound,
    #[error("The specified log group already exists")]
    GroupExists,
    #[error("The specified log stream already exists")]
    StreamExists,
    #[error("log storage failed: {0}")]
    Storage(String),
    #[error("log storage is closed")]
    Closed,
}

pub(crate) fn storage_error(error: impl Into<redb::Error>) -> LogsError {
    LogsError::Storage(error.into().to_string())
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMeta {
    pub creation_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<i32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group_class: Option<String>,
    /// Message bytes of every stored event of the group.
    #[serde(default)]
    pub stored_bytes: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamMeta {
    /// The first part of its events' keys.
    pub id: u64,
    pub creation_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_event_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ingestion_time: Option<i64>,
    #[serde(default)]
    pub stored_bytes: i64,
    /// The sequence the next event gets (sequences start at 1).
    pub next_sequence: u64,
}

impl StreamMeta {
    /// The sequence token CloudWatch would hand out: opaque, numeric, one per upload.
    pub fn sequence_token(&self) -> String {
        format!("{:056}", self.next_sequence)
    }
}

pub(crate) fn decode_meta<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> Result<T, LogsError> {
    serde_json::from_slice(raw)
        .map_err(|e| LogsError::Storage(format!("corrupt log metadata: {e}")))
}

pub(crate) fn encode_meta<T: Serialize>(meta: &T) -> Result<Vec<u8>, LogsError> {
    serde_json::to_vec(meta).map_err(|e| LogsError::Storage(format!("cannot encode metadata: {e}")))
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub position: Position,
    pub ingestion_time: i64,
    pub message: String,
}

/// The value of an events entry: ingestion time, then the message.
pub(crate) fn split_value(raw: &[u8]) -> (i64, &[u8]) {
    let ingestion = raw.get(..8).and_then(|b| b.try_into().ok()).map_or(0, i64::from_le_bytes);
    (ingestion, raw.get(8..).unwrap_or_default())
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The oldest event timestamp a group keeping `days` days keeps at `now_ms`.
pub fn cutoff(now_ms: i64, days: i32) -> i64 {
    now_ms.saturating_sub(i64::from(days).saturating_mul(DAY_MS))
}

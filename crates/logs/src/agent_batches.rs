//! Container output shipped by agents (the awslogs driver), already authenticated and checked
//! by the agent gateway: each stream batch creates its stream if missing, and its group too when
//! the task asked for `awslogs-create-group`; a batch for a missing group is rejected for good.
//! The answer comes once every stored event is durable (one commit for the whole batch).

use flotilla_api::agent::{LogBatch, LogBatchReply, RejectedLogStream};
use flotilla_api::logs::{
    truncate_message, validate_group_name, validate_stream_name, InputLogEvent,
    MAX_AGENT_MESSAGE_BYTES,
};

use super::store::{LogStore, LogsError};
use super::writer::{Append, Creation};

/// Stores an agent's batch at `now_ms` (the ingestion time). Streams refused for good are in
/// the reply; a storage failure fails the whole batch.
pub async fn store(
    logs: &LogStore,
    batch: LogBatch,
    now_ms: i64,
) -> Result<LogBatchReply, LogsError> {
    let mut reply = LogBatchReply::default();
    let mut appends = Vec::with_capacity(batch.streams.len());
    for stream in batch.streams {
        let valid = validate_group_name(&stream.group, "group")
            .and_then(|()| validate_stream_name(&stream.stream, "stream"));
        if let Err(error) = valid {
            reply.rejected.push(RejectedLogStream {
                group: stream.group,
                stream: stream.stream,
                reason: error.message,
            });
            continue;
        }
        let events: Vec<InputLogEvent> = stream
            .events
            .into_iter()
            // CloudWatch has no empty events (messages are at least one character).
            .filter(|line| !line.message.is_empty())
            .map(|mut line| {
                // Splitting long lines is the agent's job; this only keeps the limit.
                truncate_message(&mut line.message, MAX_AGENT_MESSAGE_BYTES);
                InputLogEvent { timestamp: line.timestamp.max(0), message: line.message }
            })
            .collect();
        appends.push(Append {
            group: stream.group,
            stream: stream.stream,
            accepted: 0..events.len(),
            events,
            ingestion_time: now_ms,
            create: if stream.create_group { Creation::StreamAndGroup } else { Creation::Stream },
        });
    }
    if appends.is_empty() {
        return Ok(reply);
    }
    let names: Vec<(String, String)> =
        appends.iter().map(|a| (a.group.clone(), a.stream.clone())).collect();
    for ((group, stream), result) in names.into_iter().zip(logs.append(appends).await?) {
        match result {
            Ok(appended) => reply.accepted += appended.stored as u64,
            Err(error) => {
                reply.rejected.push(RejectedLogStream { group, stream, reason: error.to_string() })
            }
        }
    }
    Ok(reply)
}

/// Which of `groups` do not exist.
pub async fn missing_groups(
    logs: &LogStore,
    groups: Vec<String>,
) -> Result<Vec<String>, LogsError> {
    let logs = logs.clone();
    let looked_up = tokio::task::spawn_blocking(move || {
        let reader = logs.reader()?;
        let mut missing = Vec::new();
        for group in groups {
            if reader.group(&group)?.is_none() {
                missing.push(group);
            }
        }
        Ok(missing)
    })
    .await;
    looked_up.map_err(|e| LogsError::Storage(format!("the group lookup failed: {e}")))?
}

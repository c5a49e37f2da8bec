//! Retention: every minute, events older than their group's `retentionInDays` (by event
//! timestamp) are deleted, one key range per stream, in bounded chunks so ingestion never waits
//! long behind a sweep. The same sweep first purges the events of deleted groups and streams.

use std::sync::Arc;
use std::time::Duration;

use super::schema::cutoff;
use super::store::{Flow, LogStore, LogsError};
use crate::App;

const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Events deleted per write transaction (expired or purged).
const EXPIRE_CHUNK: usize = 50_000;

pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tick.tick().await;
            match sweep(&app.logs, app.clock.epoch_millis()).await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, "expired log events"),
                Err(error) => tracing::warn!(%error, "could not expire log events"),
            }
        }
    })
}

/// Deletes the events of deleted streams, then every event older than its group's retention
/// at `now_ms`; returns how many.
pub async fn sweep(logs: &LogStore, now_ms: i64) -> Result<u64, LogsError> {
    let mut deleted = purge(logs).await?;
    // Which streams may hold expired events, from one snapshot; the writer decides again, from
    // the retention and stream it finds, for each chunk it deletes.
    let due = logs
        .read(move |reader| -> Result<_, LogsError> {
            let mut groups = Vec::new();
            reader.groups_from(
                std::ops::Bound::Unbounded,
                |_| true,
                |name, meta| {
                    if let Some(days) = meta.retention_in_days {
                        groups.push((name.to_string(), cutoff(now_ms, days)));
                    }
                    Flow::Continue
                },
            )?;
            let mut due = Vec::new();
            for (group, cutoff) in groups {
                for (stream, meta) in reader.streams(&group, "")? {
                    if meta.first_event_timestamp.is_some_and(|first| first < cutoff) {
                        due.push((group.clone(), stream, meta.id));
                    }
                }
            }
            Ok(due)
        })
        .await?;
    for (group, stream, id) in due {
        loop {
            let (count, more) =
                logs.expire(group.clone(), stream.clone(), id, now_ms, EXPIRE_CHUNK).await?;
            deleted += count;
            if !more || count == 0 {
                break;
            }
        }
    }
    Ok(deleted)
}

/// Deletes every event of deleted streams, a chunk per write transaction; returns how many.
pub async fn purge(logs: &LogStore) -> Result<u64, LogsError> {
    let mut deleted = 0;
    loop {
        let (count, more) = logs.purge(EXPIRE_CHUNK).await?;
        deleted += count;
        if !more {
            return Ok(deleted);
        }
    }
}

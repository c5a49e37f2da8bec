//! The log database, `<data-dir>/logs.redb`: apart from the ECS store, whose records are small
//! and all held in memory, while logs are large, append-mostly and read by range.
//!
//! Tables:
//! - `groups`: group name → JSON [`GroupMeta`].
//! - `streams`: (group, stream) → JSON [`StreamMeta`] (its numeric id, event time bounds, ...).
//! - `events`: (stream id, timestamp, sequence) → ingestion time (8 bytes LE) ++ message bytes,
//!   so a stream's events read in time order and a time range is one key range.
//! - `counters`: the next stream id.
//! - `purge`: ids of deleted streams whose events are still to be deleted. Deleting a group or
//!   stream removes only its records; the events, invisible from then on (every read goes
//!   through a stream record to its id, and ids are never reused), are deleted in bounded
//!   chunks by the retention task, so one deletion never holds the writer for long.
//!
//! Writes go through one writer thread that group-commits (`writer.rs`); reads open a redb read
//! transaction (a consistent snapshot that never waits for the writer) on a blocking thread.

use std::collections::BinaryHeap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::thread;

use redb::{Database, ReadTransaction, ReadableTable};
use tokio::sync::{mpsc, oneshot};

use super::position::{MergePosition, Position};
use super::schema::{
    decode_meta, split_value, storage_error, COUNTERS, EVENTS, GROUPS, NEXT_STREAM_ID, PURGE,
    STREAMS,
};
pub use super::schema::{GroupMeta, LogsError, StoredEvent, StreamMeta};
use super::writer::{self, Append, Appended, Done, Job, Write};

/// redb's page cache for the log database (its default is 1 GiB).
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The log database. Cheap to clone; the last clone closes it (after the queued writes).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    /// `None` only while dropping, to close the channel and let the writer thread finish.
    jobs: Option<mpsc::UnboundedSender<Job>>,
    writer: Option<thread::JoinHandle<()>>,
}

impl Drop for Inner {
    /// Waits for the writer so the file is closed (and can be reopened) once the store is gone.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").finish_non_exhaustive()
    }
}

impl LogStore {
    /// Opens (or creates) the log database at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<LogStore, LogsError> {
        let db = Arc::new(
            redb::Builder::new().set_cache_size(CACHE_BYTES).create(path).map_err(storage_error)?,
        );
        // Every table exists from the start, so readers never meet "table does not exist".
        let tx = db.begin_write().map_err(storage_error)?;
        {
            tx.open_table(GROUPS).map_err(storage_error)?;
            tx.open_table(STREAMS).map_err(storage_error)?;
            tx.open_table(EVENTS).map_err(storage_error)?;
            tx.open_table(PURGE).map_err(storage_error)?;
            let mut counters = tx.open_table(COUNTERS).map_err(storage_error)?;
            if counters.get(NEXT_STREAM_ID).map_err(storage_error)?.is_none() {
                counters.insert(NEXT_STREAM_ID, 1).map_err(storage_error)?;
            }
        }
        tx.commit().map_err(storage_error)?;
        let (jobs, receiver) = mpsc::unbounded_channel();
        let writer_db = Arc::clone(&db);
        let groups = flotilla_store::group::Groups::new(
            receiver,
            writer::GROUP_LIMITS,
            |job: &writer::Job| job.write.events(),
        );
        let writer = flotilla_store::group::spawn_writer("logs-writer", groups, move |group| {
            writer::commit_and_answer(&writer_db, group)
        })
        .map_err(|e| LogsError::Storage(format!("cannot start the log writer: {e}")))?;
        Ok(LogStore { inner: Arc::new(Inner { db, jobs: Some(jobs), writer: Some(writer) }) })
    }

    /// Queues `write` for the writer; resolves once it is durable (or refused).
    pub(super) async fn write(&self, write: Write) -> Result<Done, LogsError> {
        let (reply, answer) = oneshot::channel();
        let jobs = self.inner.jobs.as_ref().ok_or(LogsError::Closed)?;
        jobs.send(Job { write, reply }).map_err(|_| LogsError::Closed)?;
        answer.await.map_err(|_| LogsError::Closed)?
    }

    /// A consistent snapshot to read from (blocking IO: call it off the async threads).
    pub fn reader(&self) -> Result<Reader, LogsError> {
        Ok(Reader { tx: self.inner.db.begin_read().map_err(storage_error)? })
    }

    /// Runs `read` against a snapshot on a blocking thread.
    pub async fn read<R, E>(
        &self,
        read: impl FnOnce(&Reader) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<LogsError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || read(&store.reader()?))
            .await
            .unwrap_or_else(|e| Err(LogsError::Storage(format!("log read failed: {e}")).into()))
    }
}

/// What a visitor does with the item it is offered.
pub enum Flow {
    /// Take it and go on.
    Continue,
    /// Leave it (it is not consumed) and stop.
    Stop,
}

/// A read snapshot of the log database.
pub struct Reader {
    tx: ReadTransaction,
}

impl Reader {
    pub fn group(&self, name: &str) -> Result<Option<GroupMeta>, LogsError> {
        let table = self.tx.open_table(GROUPS).map_err(storage_error)?;
        let found = table.get(name).map_err(storage_error)?;
        found.map(|v| decode_meta(v.value())).transpose()
    }

    /// Groups in name order from `start` (inclusive) while `name_matches` holds for their
    /// names; each is offered to `visit`, which returns `Stop` to end early.
    pub fn groups_from(
        &self,
        start: Bound<&str>,
        mut in_range: impl FnMut(&str) -> bool,
        mut visit: impl FnMut(&str, GroupMeta) -> Flow,
    ) -> Result<(), LogsError> {
        let table = self.tx.open_table(GROUPS).map_err(storage_error)?;
        for entry in table.range::<&str>((start, Bound::Unbounded)).map_err(storage_error)? {
            let (key, value) = entry.map_err(storage_error)?;
            let name = key.value();
            if !in_range(name) {
                break;
            }
            if let Flow::Stop = visit(name, decode_meta(value.value())?) {
                break;
            }
        }
        Ok(())
    }

    pub fn stream(&self, group: &str, stream: &str) -> Result<Option<StreamMeta>, LogsError> {
        let table = self.tx.open_table(STREAMS).map_err(storage_error)?;
        let found = table.get((group, stream)).map_err(storage_error)?;
        found.map(|v| decode_meta(v.value())).transpose()
    }

    /// The group's streams whose names start with `prefix`, in name order (descending if
    /// asked), strictly after `after` in that order; `visit` returns `Stop` to end early.
    pub fn streams_by_name(
        &self,
        group: &str,
        prefix: &str,
        after: Option<&str>,
        descending: bool,
        mut visit: impl FnMut(&str, StreamMeta) -> Flow,
    ) -> Result<(), LogsError> {
        let table = self.tx.open_table(STREAMS).map_err(storage_error)?;
        // Every name with the prefix sorts below prefix + the largest character (a name that
        // itself continues with U+10FFFF would be missed: no tool writes those).
        let ceiling = format!("{prefix}{}", char::MAX);
        let low = match after {
            Some(a) if !descending && a >= prefix => Bound::Excluded((group, a)),
            _ => Bound::Included((group, prefix)),
        };
        let high = match after {
            Some(a) if descending && a < ceiling.as_str() => Bound::Excluded((group, a)),
            _ => Bound::Excluded((group, ceiling.as_str())),
        };
        let range = table.range::<(&str, &str)>((low, high)).map_err(storage_error)?;
        let entries: Box<dyn Iterator<Item = _>> =
            if descending { Box::new(range.rev()) } else { Box::new(range) };
        for entry in entries {
            let (key, value) = entry.map_err(storage_error)?;
            let (_, name) = key.value();
            if let Flow::Stop = visit(name, decode_meta(value.value())?) {
                break;
            }
        }
        Ok(())
    }

    /// Every stream of the group whose name starts with `prefix`, in name order.
    pub fn streams(
        &self,
        group: &str,
        prefix: &str,
    ) -> Result<Vec<(String, StreamMeta)>, LogsError> {
        let mut out = Vec::new();
        self.streams_by_name(group, prefix, None, false, |name, meta| {
            out.push((name.to_string(), meta));
            Flow::Continue
        })?;
        Ok(out)
    }

    /// Up to `limit` events (and about `max_bytes`, at least one) of stream `stream` strictly
    /// between `after` and `before`: the first ones, or the last ones if `from_end`, returned in
    /// time order either way.
    pub fn events(
        &self,
        stream: u64,
        after: Position,
        before: Position,
        from_end: bool,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredEvent>, LogsError> {
        let mut out = Vec::new();
        if after >= before {
            return Ok(out);
        }
        let table = self.tx.open_table(EVENTS).map_err(storage_error)?;
        let range = table
            .range((Bound::Excluded(after.key(stream)), Bound::Excluded(before.key(stream))))
            .map_err(storage_error)?;
        let entries: Box<dyn Iterator<Item = _>> =
            if from_end { Box::new(range.rev()) } else { Box::new(range) };
        let mut bytes = 0usize;
        for entry in entries {
            if out.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(storage_error)?;
            let (_, timestamp, sequence) = key.value();
            let (ingestion_time, message) = split_value(value.value());
            bytes += message.len() + flotilla_api::logs::EVENT_OVERHEAD_BYTES;
            if bytes > max_bytes && !out.is_empty() {
                break;
            }
            out.push(StoredEvent {
                position: Position { timestamp, sequence },
                ingestion_time,
                message: String::from_utf8_lossy(message).into_owned(),
            });
        }
        if from_end {
            out.reverse();
        }
        Ok(out)
    }

    /// How many deleted streams still have events to purge.
    #[cfg(test)]
    pub fn purges_pending(&self) -> Result<u64, LogsError> {
        let table = self.tx.open_table(PURGE).map_err(storage_error)?;
        redb::ReadableTableMetadata::len(&table).map_err(storage_error)
    }

    /// Walks the events of `streams` with timestamps in `start..=end` in merge order
    /// (timestamp, stream id, sequence), strictly after `resume` if given. Streams whose stored
    /// events all lie outside the range (by their first and last event timestamps) are not
    /// opened. `visit` gets each event's merge position, ingestion time and message bytes, and
    /// may stop the walk before it. Returns whether every event was visited (false: `visit`
    /// stopped it).
    pub fn merged_events(
        &self,
        streams: &[StreamMeta],
        start: i64,
        end: i64,
        resume: Option<MergePosition>,
        mut visit: impl FnMut(MergePosition, i64, &[u8]) -> Flow,
    ) -> Result<bool, LogsError> {
        use std::cmp::Reverse;
        let table = self.tx.open_table(EVENTS).map_err(storage_error)?;
        let mut cursors = Vec::with_capacity(streams.len());
        let mut heap = BinaryHeap::with_capacity(streams.len());
        // Inclusive: on every event at `end`.
        let last = Position { timestamp: end, sequence: u64::MAX };
        for meta in streams {
            let overlaps = match (meta.first_event_timestamp, meta.last_event_timestamp) {
                (Some(first), Some(last)) => first <= end && last >= start,
                // No events (or all expired).
                _ => false,
            };
            if !overlaps {
                continue;
            }
            let stream = meta.id;
            let mut after = Position::before(start);
            if let Some(resume) = resume {
                after = after.max(resume.resume_in(stream));
            }
            if after >= last {
                continue;
            }
            let mut range = table
                .range((Bound::Excluded(after.key(stream)), Bound::Included(last.key(stream))))
                .map_err(storage_error)?;
            if let Some(entry) = range.next() {
                let (key, value) = entry.map_err(storage_error)?;
                let (_, timestamp, sequence) = key.value();
                heap.push(Reverse((MergePosition { timestamp, stream, sequence }, cursors.len())));
                cursors.push((range, Some(value)));
            }
        }
        while let Some(Reverse((position, cursor))) = heap.pop() {
            let Some((range, current)) = cursors.get_mut(cursor) else { break };
            let Some(value) = current.take() else { continue };
            let (ingestion, message) = split_value(value.value());
            if let Flow::Stop = visit(position, ingestion, message) {
                return Ok(false);
            }
            if let Some(entry) = range.next() {
                let (key, value) = entry.map_err(storage_error)?;
                let (stream, timestamp, sequence) = key.value();
                heap.push(Reverse((MergePosition { timestamp, stream, sequence }, cursor)));
                *current = Some(value);
            }
        }
        Ok(true)
    }
}

/// The writes, one method each; every one resolves once durable (or refused).
impl LogStore {
    pub async fn create_group(&self, name: String, meta: GroupMeta) -> Result<(), LogsError> {
        self.write(Write::CreateGroup { name, meta }).await.map(drop)
    }

    /// Deletes the group and its streams; their events are left to [`LogStore::purge`].
    pub async fn delete_group(&self, name: String) -> Result<(), LogsError> {
        self.write(Write::DeleteGroup { name }).await.map(drop)
    }

    pub async fn set_retention(&self, name: String, days: Option<i32>) -> Result<(), LogsError> {
        self.write(Write::SetRetention { name, days }).await.map(drop)
    }

    pub async fn create_stream(
        &self,
        group: String,
        stream: String,
        creation_time: i64,
    ) -> Result<(), LogsError> {
        self.write(Write::CreateStream { group, stream, creation_time }).await.map(drop)
    }

    /// Deletes the stream; its events are left to [`LogStore::purge`].
    pub async fn delete_stream(&self, group: String, stream: String) -> Result<(), LogsError> {
        self.write(Write::DeleteStream { group, stream }).await.map(drop)
    }

    /// Stores the appends in one commit; each succeeds or is refused on its own.
    pub async fn append(
        &self,
        appends: Vec<Append>,
    ) -> Result<Vec<Result<Appended, LogsError>>, LogsError> {
        match self.write(Write::Append(appends)).await? {
            Done::Appended(results) => Ok(results),
            _ => {
                Err(LogsError::Storage("the writer answered an append with something else".into()))
            }
        }
    }

    /// Deletes up to `max_events` events of stream `stream` (whose id was `id` when the caller
    /// looked) older than its group's retention at `now_ms`; returns how many, and whether older
    /// ones remain. The writer reads the retention and the stream's id itself, in its
    /// transaction: a group that keeps events longer (or forever) since, or a stream deleted
    /// and created again under the name, loses nothing to a sweep planned before.
    pub async fn expire(
        &self,
        group: String,
        stream: String,
        id: u64,
        now_ms: i64,
        max_events: usize,
    ) -> Result<(u64, bool), LogsError> {
        match self.write(Write::Expire { group, stream, id, now_ms, max_events }).await? {
            Done::Deleted { deleted, more } => Ok((deleted, more)),
            _ => {
                Err(LogsError::Storage("the writer answered an expiry with something else".into()))
            }
        }
    }

    /// Deletes up to `max_events` events of deleted streams; returns how many, and whether
    /// some remain.
    pub async fn purge(&self, max_events: usize) -> Result<(u64, bool), LogsError> {
        match self.write(Write::Purge { max_events }).await? {
            Done::Deleted { deleted, more } => Ok((deleted, more)),
            _ => Err(LogsError::Storage("the writer answered a purge with something else".into())),
        }
    }
}

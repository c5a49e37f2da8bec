//! The log writer: each group of queued writes (`flotilla_store::group`, the one group-commit
//! writer every database uses) goes into one redb write transaction committed with
//! `Durability::Immediate` (fsync), so many small batches from many agents cost one fsync, not
//! one each. Callers hear back only after the commit.
//!
//! Each write checks what it needs (the group exists, the stream does not, ...) before it
//! writes anything, so a refused write leaves nothing behind in the shared transaction. A
//! storage failure fails every write of the group: nothing of it was committed.

use std::ops::{Range, RangeBounds};

use flotilla_api::logs::InputLogEvent;
use redb::{Database, Durability, ReadableTable, Table, WriteTransaction};
use tokio::sync::oneshot;

use super::position::Position;
use super::schema::{
    cutoff, decode_meta, encode_meta, split_value, storage_error, GroupMeta, LogsError, StreamMeta,
    COUNTERS, EVENTS, GROUPS, NEXT_STREAM_ID, PURGE, STREAMS,
};

/// One commit covers at most 512 queued writes and 100,000 events (more wait for the next
/// commit), which bounds the transaction's memory and every caller's wait.
pub(super) const GROUP_LIMITS: flotilla_store::group::Limits =
    flotilla_store::group::Limits { jobs: 512, weight: 100_000 };

pub(super) struct Job {
    pub write: Write,
    pub reply: oneshot::Sender<Result<Done, LogsError>>,
}

pub(super) enum Write {
    CreateGroup {
        name: String,
        meta: GroupMeta,
    },
    DeleteGroup {
        name: String,
    },
    SetRetention {
        name: String,
        days: Option<i32>,
    },
    CreateStream {
        group: String,
        stream: String,
        creation_time: i64,
    },
    DeleteStream {
        group: String,
        stream: String,
    },
    /// Each append succeeds or fails on its own (an agent batch names many streams).
    Append(Vec<Append>),
    /// Deletes up to `max_events` of the stream's events older than its group's retention at
    /// `now_ms`, if the stream still has id `id`.
    Expire {
        group: String,
        stream: String,
        id: u64,
        now_ms: i64,
        max_events: usize,
    },
    /// Deletes up to `max_events` events of deleted streams (the `purge` table).
    Purge {
        max_events: usize,
    },
}

impl Write {
    pub(super) fn events(&self) -> usize {
        match self {
            Write::Append(appends) => appends.iter().map(|a| a.accepted.len()).sum(),
            Write::Expire { max_events, .. } | Write::Purge { max_events } => *max_events,
            _ => 1,
        }
    }
}

/// What an append may create when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    /// PutLogEvents: the group and the stream must exist.
    Nothing,
    /// The awslogs driver creates its streams.
    Stream,
    /// ... and its group with `awslogs-create-group`.
    StreamAndGroup,
}

pub struct Append {
    pub group: String,
    pub stream: String,
    pub events: Vec<InputLogEvent>,
    /// Which of `events` to store (PutLogEvents refuses some and reports them).
    pub accepted: Range<usize>,
    pub ingestion_time: i64,
    pub create: Creation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub stored: usize,
    pub sequence_token: String,
}

pub(super) enum Done {
    Nothing,
    Appended(Vec<Result<Appended, LogsError>>),
    /// Events deleted by an expiry or a purge, and whether more are due.
    Deleted {
        deleted: u64,
        more: bool,
    },
}

/// Commits one group of writes with one fsync, then answers each.
pub(super) fn commit_and_answer(db: &Database, group: Vec<Job>) {
    let (writes, replies): (Vec<Write>, Vec<_>) =
        group.into_iter().map(|j| (j.write, j.reply)).unzip();
    match commit_group(db, writes) {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome);
            }
        }
        Err(error) => {
            tracing::error!(%error, "log commit failed");
            let message = error.to_string();
            for reply in replies {
                let _ = reply.send(Err(LogsError::Storage(message.clone())));
            }
        }
    }
}

/// Applies every write in order in one transaction, then commits (fsync).
fn commit_group(
    db: &Database,
    writes: Vec<Write>,
) -> Result<Vec<Result<Done, LogsError>>, LogsError> {
    let mut tx = db.begin_write().map_err(storage_error)?;
    tx.set_durability(Durability::Immediate);
    let mut outcomes = Vec::with_capacity(writes.len());
    {
        let mut tables = Tables::open(&tx)?;
        for write in writes {
            match tables.apply(write) {
                Err(LogsError::Storage(message)) => return Err(LogsError::Storage(message)),
                outcome => outcomes.push(outcome),
            }
        }
    }
    tx.commit().map_err(storage_error)?;
    Ok(outcomes)
}

struct Tables<'t> {
    groups: Table<'t, &'static str, &'static [u8]>,
    streams: Table<'t, (&'static str, &'static str), &'static [u8]>,
    events: Table<'t, (u64, i64, u64), &'static [u8]>,
    counters: Table<'t, &'static str, u64>,
    purge: Table<'t, u64, ()>,
    /// Reused for every event value: no allocation per event.
    value: Vec<u8>,
}

impl<'t> Tables<'t> {
    fn open(tx: &'t WriteTransaction) -> Result<Self, LogsError> {
        Ok(Tables {
            groups: tx.open_table(GROUPS).map_err(storage_error)?,
            streams: tx.open_table(STREAMS).map_err(storage_error)?,
            events: tx.open_table(EVENTS).map_err(storage_error)?,
            counters: tx.open_table(COUNTERS).map_err(storage_error)?,
            purge: tx.open_table(PURGE).map_err(storage_error)?,
            value: Vec::with_capacity(4096),
        })
    }

    fn apply(&mut self, write: Write) -> Result<Done, LogsError> {
        match write {
            Write::CreateGroup { name, meta } => {
                if self.group(&name)?.is_some() {
                    return Err(LogsError::GroupExists);
                }
                self.put_group(&name, &meta)?;
                Ok(Done::Nothing)
            }
            // Deletions remove records only: the events (maybe tens of millions) go to the purge,
            // in bounded chunks, so this commit stays small.
            Write::DeleteGroup { name } => {
                self.group(&name)?.ok_or(LogsError::GroupNotFound)?;
                for (stream, meta) in self.streams_of(&name)? {
                    self.forget_stream(&name, &stream, meta.id)?;
                }
                self.groups.remove(name.as_str()).map_err(storage_error)?;
                Ok(Done::Nothing)
            }
            Write::SetRetention { name, days } => {
                let mut meta = self.group(&name)?.ok_or(LogsError::GroupNotFound)?;
                meta.retention_in_days = days;
                self.put_group(&name, &meta)?;
                Ok(Done::Nothing)
            }
            Write::CreateStream { group, stream, creation_time } => {
                self.group(&group)?.ok_or(LogsError::GroupNotFound)?;
                if self.stream(&group, &stream)?.is_some() {
                    return Err(LogsError::StreamExists);
                }
                let meta = self.new_stream(creation_time)?;
                self.put_stream(&group, &stream, &meta)?;
                Ok(Done::Nothing)
            }
            Write::DeleteStream { group, stream } => {
                let mut group_meta = self.group(&group)?.ok_or(LogsError::GroupNotFound)?;
                let meta = self.stream(&group, &stream)?.ok_or(LogsError::StreamNotFound)?;
                self.forget_stream(&group, &stream, meta.id)?;
                group_meta.stored_bytes = (group_meta.stored_bytes - meta.stored_bytes).max(0);
                self.put_group(&group, &group_meta)?;
                Ok(Done::Nothing)
            }
            Write::Append(appends) => {
                let mut results = Vec::with_capacity(appends.len());
                for append in appends {
                    match self.append(append) {
                        Err(LogsError::Storage(message)) => {
                            return Err(LogsError::Storage(message))
                        }
                        result => results.push(result),
                    }
                }
                Ok(Done::Appended(results))
            }
            Write::Expire { group, stream, id, now_ms, max_events } => {
                self.expire(&group, &stream, id, now_ms, max_events)
            }
            Write::Purge { max_events } => self.purge(max_events),
        }
    }

    fn group(&self, name: &str) -> Result<Option<GroupMeta>, LogsError> {
        let found = self.groups.get(name).map_err(storage_error)?;
        found.map(|v| decode_meta(v.value())).transpose()
    }

    fn put_group(&mut self, name: &str, meta: &GroupMeta) -> Result<(), LogsError> {
        self.groups.insert(name, encode_meta(meta)?.as_slice()).map_err(storage_error)?;
        Ok(())
    }

    fn stream(&self, group: &str, stream: &str) -> Result<Option<StreamMeta>, LogsError> {
        let found = self.streams.get((group, stream)).map_err(storage_error)?;
        found.map(|v| decode_meta(v.value())).transpose()
    }

    fn put_stream(
        &mut self,
        group: &str,
        stream: &str,
        meta: &StreamMeta,
    ) -> Result<(), LogsError> {
        self.streams
            .insert((group, stream), encode_meta(meta)?.as_slice())
            .map_err(storage_error)?;
        Ok(())
    }

    fn streams_of(&self, group: &str) -> Result<Vec<(String, StreamMeta)>, LogsError> {
        let mut out = Vec::new();
        for entry in self.streams.range((group, "")..).map_err(storage_error)? {
            let (key, value) = entry.map_err(storage_error)?;
            let (g, name) = key.value();
            if g != group {
                break;
            }
            out.push((name.to_string(), decode_meta(value.value())?));
        }
        Ok(out)
    }

    fn new_stream(&mut self, creation_time: i64) -> Result<StreamMeta, LogsError> {
        let id = self.counters.get(NEXT_STREAM_ID).map_err(storage_error)?.map_or(1, |v| v.value());
        self.counters.insert(NEXT_STREAM_ID, id + 1).map_err(storage_error)?;
        Ok(StreamMeta { id, creation_time, next_sequence: 1, ..StreamMeta::default() })
    }

    /// Removes the stream's record and queues its events for the purge.
    fn forget_stream(&mut self, group: &str, stream: &str, id: u64) -> Result<(), LogsError> {
        self.streams.remove((group, stream)).map_err(storage_error)?;
        self.purge.insert(id, ()).map_err(storage_error)?;
        Ok(())
    }

    /// Deletes up to `max_events` events of key range `range` (in key order); returns how many
    /// and their message bytes.
    fn delete_range(
        &mut self,
        range: impl RangeBounds<(u64, i64, u64)>,
        max_events: usize,
    ) -> Result<(u64, i64), LogsError> {
        let mut deleted = 0u64;
        let mut bytes = 0i64;
        let extracted = self.events.extract_from_if(range, |_, _| true).map_err(storage_error)?;
        for entry in extracted.take(max_events) {
            let (_, value) = entry.map_err(storage_error)?;
            bytes += split_value(value.value()).1.len() as i64;
            deleted += 1;
        }
        Ok((deleted, bytes))
    }

    fn append(&mut self, append: Append) -> Result<Appended, LogsError> {
        let Append { group, stream, events, accepted, ingestion_time, create } = append;
        let mut group_meta = match self.group(&group)? {
            Some(meta) => meta,
            None if create == Creation::StreamAndGroup => {
                GroupMeta { creation_time: ingestion_time, ..GroupMeta::default() }
            }
            None => return Err(LogsError::GroupNotFound),
        };
        let mut meta = match self.stream(&group, &stream)? {
            Some(meta) => meta,
            None if create != Creation::Nothing => self.new_stream(ingestion_time)?,
            None => return Err(LogsError::StreamNotFound),
        };
        let batch = events.get(accepted).unwrap_or_default();
        let mut bytes = 0i64;
        for event in batch {
            let key = (meta.id, event.timestamp, meta.next_sequence);
            self.value.clear();
            self.value.extend_from_slice(&ingestion_time.to_le_bytes());
            self.value.extend_from_slice(event.message.as_bytes());
            self.events.insert(key, self.value.as_slice()).map_err(storage_error)?;
            meta.next_sequence += 1;
            bytes += event.message.len() as i64;
            meta.first_event_timestamp = Some(
                meta.first_event_timestamp.map_or(event.timestamp, |t| t.min(event.timestamp)),
            );
            meta.last_event_timestamp =
                Some(meta.last_event_timestamp.map_or(event.timestamp, |t| t.max(event.timestamp)));
        }
        if !batch.is_empty() {
            meta.last_ingestion_time = Some(ingestion_time);
            meta.stored_bytes += bytes;
            group_meta.stored_bytes += bytes;
        }
        self.put_stream(&group, &stream, &meta)?;
        self.put_group(&group, &group_meta)?;
        Ok(Appended { stored: batch.len(), sequence_token: meta.sequence_token() })
    }

    fn expire(
        &mut self,
        group: &str,
        stream: &str,
        id: u64,
        now_ms: i64,
        max_events: usize,
    ) -> Result<Done, LogsError> {
        let nothing = Done::Deleted { deleted: 0, more: false };
        let Some(mut group_meta) = self.group(group)? else { return Ok(nothing) };
        // The retention now, not when the sweep was planned: it may be longer, or gone.
        let Some(days) = group_meta.retention_in_days else { return Ok(nothing) };
        let Some(mut meta) = self.stream(group, stream)? else { return Ok(nothing) };
        if meta.id != id {
            // Deleted and created again since: the new stream is the next sweep's.
            return Ok(nothing);
        }
        let before = cutoff(now_ms, days);
        let range = Position::START.key(id)..Position::before(before).key(id);
        let (deleted, bytes) = self.delete_range(range, max_events)?;
        let first = {
            let mut rest = self
                .events
                .range(Position::START.key(id)..=Position::END.key(id))
                .map_err(storage_error)?;
            match rest.next() {
                Some(entry) => Some(entry.map_err(storage_error)?.0.value().1),
                None => None,
            }
        };
        let more = first.is_some_and(|t| t < before);
        if deleted > 0 {
            meta.first_event_timestamp = first;
            meta.stored_bytes = (meta.stored_bytes - bytes).max(0);
            group_meta.stored_bytes = (group_meta.stored_bytes - bytes).max(0);
            self.put_stream(group, stream, &meta)?;
            self.put_group(group, &group_meta)?;
        }
        Ok(Done::Deleted { deleted, more })
    }

    /// Deletes up to `max_events` events of the streams queued in `purge`, oldest id first,
    /// dropping each id once its events are gone.
    fn purge(&mut self, max_events: usize) -> Result<Done, LogsError> {
        let mut deleted = 0u64;
        loop {
            let next = match self.purge.first().map_err(storage_error)? {
                Some((key, _)) => key.value(),
                None => return Ok(Done::Deleted { deleted, more: false }),
            };
            let room = max_events.saturating_sub(usize::try_from(deleted).unwrap_or(usize::MAX));
            if room == 0 {
                return Ok(Done::Deleted { deleted, more: true });
            }
            let range = Position::START.key(next)..=Position::END.key(next);
            let (count, _) = self.delete_range(range, room)?;
            deleted += count;
            if usize::try_from(count).unwrap_or(usize::MAX) < room {
                // Fewer than asked for: the stream's range is empty now.
                self.purge.remove(next).map_err(storage_error)?;
            }
        }
    }
}

//! The embedded backend: one redb file, written by one thread that group-commits.
//!
//! Why redb: pure Rust (no C toolchain, quick to build), ACID with copy-on-write B-trees, and a
//! commit that returns only after fsync. Why one writer thread: redb allows one write
//! transaction at a time anyway, and gathering every transaction queued while the previous fsync
//! ran into the next commit ("group commit") makes durable throughput grow with concurrency
//! instead of being capped at one transaction per fsync.

use std::path::Path;
use std::sync::Arc;
use std::thread;

use redb::{Database, Durability, ReadableTable, TableDefinition};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{
    BoxFuture, Compare, Event, KeyValue, Op, Revision, Store, StoreError, Txn, TxnOutcome,
    WatchBatch,
};

/// key -> create_revision (8 bytes LE) ++ mod_revision (8 bytes LE) ++ value.
/// redb page cache.
const CACHE_BYTES: usize = 64 * 1024 * 1024;
const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
/// "revision" -> the last committed revision.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const REVISION_KEY: &str = "revision";

/// How many queued transactions one fsync may cover at most.
const MAX_GROUP: usize = 1024;

struct Request {
    txn: Txn,
    reply: oneshot::Sender<Result<TxnOutcome, StoreError>>,
}

pub struct EmbeddedStore {
    db: Arc<Database>,
    /// `None` only while dropping, to close the channel and let the writer thread finish.
    requests: Option<mpsc::UnboundedSender<Request>>,
    watchers: broadcast::Sender<WatchBatch>,
    writer: Option<thread::JoinHandle<()>>,
}

impl Drop for EmbeddedStore {
    /// Waits for the writer thread so the database file is closed (and can be reopened) when the
    /// store is gone; queued transactions are committed first.
    fn drop(&mut self) {
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store file at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // The server keeps its own decoded copy of everything; redb's page cache only speeds
        // up commits, so it need not be redb's 1 GiB default.
        let db = Arc::new(
            redb::Builder::new().set_cache_size(CACHE_BYTES).create(path).map_err(db_err)?,
        );
        // Make sure both tables exist so readers never see "table does not exist".
        let tx = db.begin_write().map_err(db_err)?;
        {
            tx.open_table(KV).map_err(db_err)?;
            let mut meta = tx.open_table(META).map_err(db_err)?;
            if meta.get(REVISION_KEY).map_err(db_err)?.is_none() {
                meta.insert(REVISION_KEY, 0).map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)?;

        let (requests, receiver) = mpsc::unbounded_channel();
        let (watchers, _) = broadcast::channel(1024);
        let writer_db = Arc::clone(&db);
        let writer_watchers = watchers.clone();
        let groups = crate::group::Groups::counted(receiver, MAX_GROUP);
        let writer = crate::group::spawn_writer("store-writer", groups, move |group| {
            commit_and_answer(&writer_db, group, &writer_watchers)
        })
        .map_err(|e| StoreError::Database(format!("cannot start writer thread: {e}")))?;
        Ok(EmbeddedStore { db, requests: Some(requests), watchers, writer: Some(writer) })
    }

    fn range_now(&self, prefix: &str) -> Result<(Vec<KeyValue>, Revision), StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let meta = tx.open_table(META).map_err(db_err)?;
        let revision = meta.get(REVISION_KEY).map_err(db_err)?.map_or(0, |v| v.value());
        let table = tx.open_table(KV).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in table.range(prefix..).map_err(db_err)? {
            let (key, value) = entry.map_err(db_err)?;
            let key = key.value();
            if !key.starts_with(prefix) {
                break;
            }
            out.push(decode(key, value.value())?);
        }
        Ok((out, revision))
    }
}

impl Store for EmbeddedStore {
    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<(Vec<KeyValue>, Revision), StoreError>> {
        let result = self.range_now(prefix);
        Box::pin(async move { result })
    }

    fn commit(&self, txn: Txn) -> BoxFuture<'_, Result<TxnOutcome, StoreError>> {
        let (reply, answer) = oneshot::channel();
        let sent = match &self.requests {
            Some(requests) => requests.send(Request { txn, reply }).is_ok(),
            None => false,
        };
        Box::pin(async move {
            if !sent {
                return Err(StoreError::Closed);
            }
            answer.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn watch(&self) -> broadcast::Receiver<WatchBatch> {
        self.watchers.subscribe()
    }
}

/// Commits one group of transactions with one fsync, tells the watchers, then answers.
fn commit_and_answer(db: &Database, group: Vec<Request>, watchers: &broadcast::Sender<WatchBatch>) {
    let (txns, replies): (Vec<Txn>, Vec<_>) = group.into_iter().map(|r| (r.txn, r.reply)).unzip();
    match commit_group(db, &txns) {
        Ok((outcomes, batches)) => {
            // Watchers hear of a commit before its caller does, so a watch opened after a
            // commit returned never receives that commit.
            for batch in batches {
                // Nobody watching is fine: the send only fails when there are no receivers.
                let _ = watchers.send(batch);
            }
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(error) => {
            tracing::error!(%error, "store commit failed");
            let message = error.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::Database(message.clone())));
            }
        }
    }
}

/// Applies each transaction in order inside one redb write transaction, then commits (fsync).
fn commit_group(
    db: &Database,
    txns: &[Txn],
) -> Result<(Vec<TxnOutcome>, Vec<WatchBatch>), StoreError> {
    let mut tx = db.begin_write().map_err(db_err)?;
    tx.set_durability(Durability::Immediate);
    let mut outcomes = Vec::with_capacity(txns.len());
    let mut batches = Vec::new();
    {
        let mut meta = tx.open_table(META).map_err(db_err)?;
        let mut table = tx.open_table(KV).map_err(db_err)?;
        let mut revision = meta.get(REVISION_KEY).map_err(db_err)?.map_or(0, |v| v.value());
        for txn in txns {
            if !guards_hold(&table, &txn.compares)? {
                outcomes.push(TxnOutcome::Conflict);
                continue;
            }
            revision += 1;
            let mut events = Vec::with_capacity(txn.ops.len());
            for op in &txn.ops {
                match op {
                    Op::Put { key, value } => {
                        let create_revision = match table.get(key.as_str()).map_err(db_err)? {
                            Some(old) => decode(key, old.value())?.create_revision,
                            None => revision,
                        };
                        let kv = KeyValue {
                            key: key.clone(),
                            value: value.clone(),
                            create_revision,
                            mod_revision: revision,
                        };
                        table.insert(key.as_str(), encode(&kv).as_slice()).map_err(db_err)?;
                        events.push(Event::Put(kv));
                    }
                    Op::Delete { key } => {
                        if table.remove(key.as_str()).map_err(db_err)?.is_some() {
                            events.push(Event::Delete { key: key.clone(), revision });
                        }
                    }
                }
            }
            outcomes.push(TxnOutcome::Committed(revision));
            batches.push(WatchBatch { revision, events });
        }
        meta.insert(REVISION_KEY, revision).map_err(db_err)?;
    }
    tx.commit().map_err(db_err)?;
    Ok((outcomes, batches))
}

fn guards_hold(
    table: &redb::Table<'_, &str, &[u8]>,
    compares: &[Compare],
) -> Result<bool, StoreError> {
    for compare in compares {
        let Compare::ModRevision { key, revision } = compare;
        let current = match table.get(key.as_str()).map_err(db_err)? {
            Some(v) => decode(key, v.value())?.mod_revision,
            None => 0,
        };
        if current != *revision {
            return Ok(false);
        }
    }
    Ok(true)
}

fn encode(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + kv.value.len());
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.value);
    out
}

fn decode(key: &str, raw: &[u8]) -> Result<KeyValue, StoreError> {
    let corrupt = || StoreError::Corrupt(key.to_string());
    let create: [u8; 8] = raw.get(0..8).and_then(|b| b.try_into().ok()).ok_or_else(corrupt)?;
    let modified: [u8; 8] = raw.get(8..16).and_then(|b| b.try_into().ok()).ok_or_else(corrupt)?;
    Ok(KeyValue {
        key: key.to_string(),
        value: raw[16..].to_vec(),
        create_revision: u64::from_le_bytes(create),
        mod_revision: u64::from_le_bytes(modified),
    })
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> Op {
        Op::Put { key: key.into(), value: value.as_bytes().to_vec() }
    }

    #[tokio::test]
    async fn commits_survive_reopen_with_revisions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.redb");
        {
            let store = EmbeddedStore::open(&path).expect("open");
            let outcome = store.commit(Txn { compares: vec![], ops: vec![put("a/1", "x")] }).await;
            assert_eq!(outcome.expect("commit"), TxnOutcome::Committed(1));
            let outcome = store.commit(Txn { compares: vec![], ops: vec![put("a/1", "y")] }).await;
            assert_eq!(outcome.expect("commit"), TxnOutcome::Committed(2));
        }
        let store = EmbeddedStore::open(&path).expect("reopen");
        let (kvs, revision) = store.range("a/").await.expect("range");
        assert_eq!(revision, 2);
        assert_eq!(kvs.len(), 1);
        assert_eq!(kvs[0].value, b"y");
        assert_eq!((kvs[0].create_revision, kvs[0].mod_revision), (1, 2));
    }

    #[tokio::test]
    async fn failed_guard_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(&dir.path().join("s.redb")).expect("open");
        let create_only = |value: &str| Txn {
            compares: vec![Compare::ModRevision { key: "k".into(), revision: 0 }],
            ops: vec![put("k", value), put("other", value)],
        };
        assert_eq!(store.commit(create_only("1")).await.expect("c"), TxnOutcome::Committed(1));
        assert_eq!(store.commit(create_only("2")).await.expect("c"), TxnOutcome::Conflict);
        let (kvs, revision) = store.range("").await.expect("range");
        assert_eq!(revision, 1);
        assert!(kvs.iter().all(|kv| kv.value == b"1"), "{kvs:?}");
    }

    #[tokio::test]
    async fn concurrent_commits_each_get_a_revision_and_watchers_see_them_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(EmbeddedStore::open(&dir.path().join("s.redb")).expect("open"));
        let mut watch = store.watch();
        let mut handles = Vec::new();
        for i in 0..50 {
            let store = Arc::clone(&store);
            handles.push(tokio::spawn(async move {
                store
                    .commit(Txn { compares: vec![], ops: vec![put(&format!("k/{i:02}"), "v")] })
                    .await
            }));
        }
        let mut revisions = Vec::new();
        for handle in handles {
            match handle.await.expect("join").expect("commit") {
                TxnOutcome::Committed(r) => revisions.push(r),
                TxnOutcome::Conflict => panic!("unguarded txn conflicted"),
            }
        }
        revisions.sort_unstable();
        assert_eq!(revisions, (1..=50).collect::<Vec<_>>());
        for expected in 1..=50 {
            assert_eq!(watch.recv().await.expect("watch").revision, expected);
        }
        let (kvs, _) = store.range("k/").await.expect("range");
        assert_eq!(kvs.len(), 50);
    }

    #[tokio::test]
    async fn delete_removes_and_is_watched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(&dir.path().join("s.redb")).expect("open");
        store.commit(Txn { compares: vec![], ops: vec![put("x", "1")] }).await.expect("put");
        let mut watch = store.watch();
        store
            .commit(Txn { compares: vec![], ops: vec![Op::Delete { key: "x".into() }] })
            .await
            .expect("del");
        let batch = watch.recv().await.expect("watch");
        assert_eq!(batch.events, vec![Event::Delete { key: "x".into(), revision: 2 }]);
        assert!(store.range("x").await.expect("range").0.is_empty());
    }
}

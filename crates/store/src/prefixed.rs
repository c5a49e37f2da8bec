//! A view of a store under a key prefix, as etcd's namespaces give: each region's ECS state lives
//! under `regions/<region>/` of the one store, and the state code never sees the prefix.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::{
    BoxFuture, Compare, Event, KeyValue, Op, Revision, Store, StoreError, Txn, TxnOutcome,
    WatchBatch,
};

/// How many batches a prefixed watch buffers before its receiver lags.
const WATCH_CAPACITY: usize = 1024;

/// `inner` seen through `prefix`: keys are read and written with the prefix added, and shown
/// without it; nothing outside the prefix is visible. Revisions stay the store's own.
pub struct Prefixed {
    inner: Arc<dyn Store>,
    prefix: String,
}

impl Prefixed {
    pub fn new(inner: Arc<dyn Store>, prefix: impl Into<String>) -> Prefixed {
        Prefixed { inner, prefix: prefix.into() }
    }

    fn outer(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// `key` without `prefix`, or `None` when it lies outside.
fn strip(prefix: &str, key: String) -> Option<String> {
    key.strip_prefix(prefix).map(str::to_string)
}

fn strip_event(prefix: &str, event: Event) -> Option<Event> {
    match event {
        Event::Put(kv) => {
            let key = strip(prefix, kv.key)?;
            Some(Event::Put(KeyValue { key, ..kv }))
        }
        Event::Delete { key, revision } => {
            Some(Event::Delete { key: strip(prefix, key)?, revision })
        }
    }
}

impl Store for Prefixed {
    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<(Vec<KeyValue>, Revision), StoreError>> {
        let outer = self.outer(prefix);
        Box::pin(async move {
            let (kvs, revision) = self.inner.range(&outer).await?;
            let kvs = kvs
                .into_iter()
                .filter_map(|kv| {
                    let key = strip(&self.prefix, kv.key)?;
                    Some(KeyValue { key, ..kv })
                })
                .collect();
            Ok((kvs, revision))
        })
    }

    fn commit(&self, txn: Txn) -> BoxFuture<'_, Result<TxnOutcome, StoreError>> {
        let compares = txn
            .compares
            .into_iter()
            .map(|Compare::ModRevision { key, revision }| Compare::ModRevision {
                key: self.outer(&key),
                revision,
            })
            .collect();
        let ops = txn
            .ops
            .into_iter()
            .map(|op| match op {
                Op::Put { key, value } => Op::Put { key: self.outer(&key), value },
                Op::Delete { key } => Op::Delete { key: self.outer(&key) },
            })
            .collect();
        self.inner.commit(Txn { compares, ops })
    }

    /// Batches touching the prefix, stripped of it. Must be called within a Tokio runtime (a task
    /// forwards the store's watch); if that watch lags, this one closes, and the watcher must
    /// read again with `range`, as after any lag.
    fn watch(&self) -> broadcast::Receiver<WatchBatch> {
        let (sender, receiver) = broadcast::channel(WATCH_CAPACITY);
        let mut inner = self.inner.watch();
        let prefix = self.prefix.clone();
        tokio::spawn(async move {
            while let Ok(batch) = inner.recv().await {
                let events: Vec<Event> =
                    batch.events.into_iter().filter_map(|e| strip_event(&prefix, e)).collect();
                if events.is_empty() {
                    continue;
                }
                if sender.send(WatchBatch { revision: batch.revision, events }).is_err() {
                    return; // nobody watches any more
                }
            }
        });
        receiver
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmbeddedStore;

    fn put(key: &str, value: &str) -> Op {
        Op::Put { key: key.into(), value: value.into() }
    }

    #[tokio::test]
    async fn two_prefixes_share_a_store_and_see_nothing_of_each_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> =
            Arc::new(EmbeddedStore::open(&dir.path().join("s.redb")).expect("open"));
        let west = Prefixed::new(Arc::clone(&store), "regions/eu-west-1/");
        let east = Prefixed::new(Arc::clone(&store), "regions/us-east-2/");
        let mut watch = west.watch();
        let txn = |value: &str| Txn { compares: vec![], ops: vec![put("ecs/clusters/a", value)] };
        assert_eq!(west.commit(txn("w")).await.expect("west"), TxnOutcome::Committed(1));
        assert_eq!(east.commit(txn("e")).await.expect("east"), TxnOutcome::Committed(2));
        store.commit(txn("home")).await.expect("unprefixed");

        let (kvs, revision) = west.range("ecs/").await.expect("range");
        assert_eq!(revision, 3, "revisions are the store's");
        assert_eq!(kvs.len(), 1);
        assert_eq!((kvs[0].key.as_str(), kvs[0].value.as_slice()), ("ecs/clusters/a", &b"w"[..]));
        let (all, _) = store.range("").await.expect("all");
        let keys: Vec<&str> = all.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ecs/clusters/a",
                "regions/eu-west-1/ecs/clusters/a",
                "regions/us-east-2/ecs/clusters/a"
            ]
        );

        // Guards name prefixed keys too: east's key exists at revision 2, west's at 1.
        let guarded = |revision| Txn {
            compares: vec![Compare::ModRevision { key: "ecs/clusters/a".into(), revision }],
            ops: vec![Op::Delete { key: "ecs/clusters/a".into() }],
        };
        assert_eq!(east.commit(guarded(1)).await.expect("guard"), TxnOutcome::Conflict);
        assert_eq!(east.commit(guarded(2)).await.expect("guard"), TxnOutcome::Committed(4));
        assert!(east.range("").await.expect("range").0.is_empty());
        assert_eq!(west.range("").await.expect("range").0.len(), 1);

        // West's watch saw its own put only, without the prefix.
        let batch = watch.recv().await.expect("watch");
        assert_eq!(batch.revision, 1);
        assert!(
            matches!(&batch.events[..], [Event::Put(kv)] if kv.key == "ecs/clusters/a"),
            "{batch:?}"
        );
        west.commit(Txn {
            compares: vec![],
            ops: vec![Op::Delete { key: "ecs/clusters/a".into() }],
        })
        .await
        .expect("delete");
        let batch = watch.recv().await.expect("watch");
        assert_eq!(batch.events, [Event::Delete { key: "ecs/clusters/a".into(), revision: 5 }]);
    }
}

//! A record kept as one JSON document under one key, for services whose records are few and
//! read together (ELBv2's load balancers, ACM's certificates): changed under a lock — the
//! change applied to a copy, stored durably, then published — and published as an immutable
//! snapshot that readers (a data plane) follow on a `watch` channel.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::watch;

use crate::{Op, Store, StoreError, Txn};

/// One document of type `T` under `key`.
pub struct Document<T> {
    store: Arc<dyn Store>,
    key: String,
    current: tokio::sync::Mutex<T>,
    published: watch::Sender<Arc<T>>,
}

impl<T> Document<T>
where
    T: Serialize + DeserializeOwned + Clone + PartialEq + Default + Send + Sync + 'static,
{
    /// The stored document, or `T::default()` when there is none yet.
    pub async fn open(store: Arc<dyn Store>, key: &str) -> Result<Document<T>, StoreError> {
        let (kvs, _) = store.range(key).await?;
        let value = match kvs.into_iter().find(|kv| kv.key == key) {
            Some(kv) => serde_json::from_slice(&kv.value)
                .map_err(|e| StoreError::Corrupt(format!("{key}: {e}")))?,
            None => T::default(),
        };
        let (published, _) = watch::channel(Arc::new(value.clone()));
        Ok(Document {
            store,
            key: key.to_string(),
            current: tokio::sync::Mutex::new(value),
            published,
        })
    }

    /// The document as it stands.
    pub fn snapshot(&self) -> Arc<T> {
        Arc::clone(&self.published.borrow())
    }

    /// Every snapshot from now on.
    pub fn subscribe(&self) -> watch::Receiver<Arc<T>> {
        self.published.subscribe()
    }

    /// Applies `change` to a copy; stores and publishes the copy only when `change` succeeds
    /// and changed something (a refused request harms nothing stored). The outer error is the
    /// store's, the inner one `change`'s.
    pub async fn change<R, E>(
        &self,
        change: impl FnOnce(&mut T) -> Result<R, E>,
    ) -> Result<Result<R, E>, StoreError> {
        let mut current = self.current.lock().await;
        let mut next = current.clone();
        let answer = match change(&mut next) {
            Ok(answer) => answer,
            Err(refused) => return Ok(Err(refused)),
        };
        if next != *current {
            let value = serde_json::to_vec(&next)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", self.key)))?;
            let op = Op::Put { key: self.key.clone(), value };
            self.store.commit(Txn { compares: Vec::new(), ops: vec![op] }).await?;
            *current = next.clone();
            self.published.send_replace(Arc::new(next));
        }
        Ok(Ok(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn changes_are_stored_published_and_refusals_harm_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> =
            Arc::new(crate::EmbeddedStore::open(&dir.path().join("s.redb")).expect("open"));
        let doc: Document<Vec<u32>> =
            Document::open(Arc::clone(&store), "doc").await.expect("open");
        let follower = doc.subscribe();
        let added = doc
            .change(|v| {
                v.push(7);
                Ok::<_, String>(())
            })
            .await
            .expect("store");
        assert_eq!(added, Ok(()));
        assert!(follower.has_changed().expect("open channel"), "a change is published");
        let refused = doc
            .change(|v| {
                v.push(8);
                Err::<(), _>("no".to_string())
            })
            .await
            .expect("store");
        assert_eq!(refused, Err("no".to_string()));
        assert_eq!(*doc.snapshot(), vec![7], "a refused change leaves nothing");
        drop(doc);
        let again: Document<Vec<u32>> = Document::open(store, "doc").await.expect("reopen");
        assert_eq!(*again.snapshot(), vec![7], "a change outlives a restart");
    }
}

//! Where ELBv2's records live: one document of the region's store (`elbv2/state`), changed
//! under a lock (check, store durably, then publish), and published to the data plane as an
//! immutable snapshot after every change.

use std::sync::Arc;

use flotilla_api::{ApiError, ErrorCode};
use flotilla_store::{Op, Store, StoreError, Txn};
use tokio::sync::watch;

use crate::model::State;

const KEY: &str = "elbv2/state";

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored load balancers are unreadable: {0}")]
    Corrupt(String),
}

/// The region's ELBv2 records.
pub struct Records {
    store: Arc<dyn Store>,
    current: tokio::sync::Mutex<State>,
    published: watch::Sender<Arc<State>>,
}

impl Records {
    pub async fn open(store: Arc<dyn Store>) -> Result<Records, RecordsError> {
        let (kvs, _) = store.range(KEY).await?;
        let state = match kvs.into_iter().find(|kv| kv.key == KEY) {
            Some(kv) => serde_json::from_slice(&kv.value)
                .map_err(|e| RecordsError::Corrupt(e.to_string()))?,
            None => State::default(),
        };
        let (published, _) = watch::channel(Arc::new(state.clone()));
        Ok(Records { store, current: tokio::sync::Mutex::new(state), published })
    }

    /// The records as they stand.
    pub fn snapshot(&self) -> Arc<State> {
        Arc::clone(&self.published.borrow())
    }

    /// Every snapshot from now on (the data plane follows this).
    pub fn subscribe(&self) -> watch::Receiver<Arc<State>> {
        self.published.subscribe()
    }

    /// Applies `change` to a copy of the records; stores and publishes the copy only when
    /// `change` succeeds (a refused request harms nothing stored).
    pub async fn change<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut current = self.current.lock().await;
        let mut next = current.clone();
        let answer = change(&mut next)?;
        if next != *current {
            let value = serde_json::to_vec(&next).map_err(|e| {
                ApiError::new(ErrorCode::InternalServiceFault, format!("cannot encode: {e}"))
            })?;
            let txn = Txn { compares: Vec::new(), ops: vec![Op::Put { key: KEY.into(), value }] };
            self.store.commit(txn).await.map_err(|e| {
                ApiError::new(ErrorCode::InternalServiceFault, format!("the store: {e}"))
            })?;
            *current = next.clone();
            self.published.send_replace(Arc::new(next));
        }
        Ok(answer)
    }
}

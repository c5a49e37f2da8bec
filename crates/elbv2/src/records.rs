//! Where ELBv2's records live: one document of the region's store (`elbv2/state`), changed
//! under a lock (checked on a copy, stored, then published) and followed by the data plane as
//! immutable snapshots (`flotilla_store::Document`).

use std::sync::Arc;

use flotilla_api::{ApiError, ErrorCode};
use flotilla_store::{Document, Store, StoreError};
use tokio::sync::watch;

use crate::model::State;

const KEY: &str = "elbv2/state";

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The region's ELBv2 records.
pub struct Records(Document<State>);

impl Records {
    pub async fn open(store: Arc<dyn Store>) -> Result<Records, RecordsError> {
        Ok(Records(Document::open(store, KEY).await?))
    }

    /// The records as they stand.
    pub fn snapshot(&self) -> Arc<State> {
        self.0.snapshot()
    }

    /// Every snapshot from now on (the data plane follows this).
    pub fn subscribe(&self) -> watch::Receiver<Arc<State>> {
        self.0.subscribe()
    }

    /// Applies `change` to a copy of the records; stores and publishes the copy only when
    /// `change` succeeds (a refused request harms nothing stored).
    pub async fn change<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.0.change(change).await.map_err(|e| {
            ApiError::new(ErrorCode::InternalServiceFault, format!("the store: {e}"))
        })?
    }
}

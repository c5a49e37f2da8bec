//! The `Store` trait (a revisioned key-value store with compare-and-swap transactions and watches,
//! shaped after etcd's so an etcd backend slots in) and its embedded, durable redb backend.

pub mod document;
mod embedded;
pub mod group;
mod prefixed;
pub mod sealed;

use std::future::Future;
use std::pin::Pin;

pub use document::Document;
pub use embedded::EmbeddedStore;
pub use prefixed::Prefixed;

/// A store-wide, strictly increasing version: every committed transaction gets the next one.
pub type Revision = u64;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the transaction that created the key (etcd's `create_revision`).
    pub create_revision: Revision,
    /// Revision of the transaction that last wrote the key (etcd's `mod_revision`).
    pub mod_revision: Revision,
}

/// A guard on a key; a transaction commits only if all its guards hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key was last written at exactly this revision; 0 means "the key does not exist".
    ModRevision { key: String, revision: Revision },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put { key: String, value: Vec<u8> },
    Delete { key: String },
}

/// An atomic unit of change: applied whole, at one revision, or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    pub compares: Vec<Compare>,
    pub ops: Vec<Op>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Durable at this revision.
    Committed(Revision),
    /// A guard did not hold; nothing was written.
    Conflict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Put(KeyValue),
    Delete { key: String, revision: Revision },
}

/// Everything one committed transaction changed, as watchers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchBatch {
    pub revision: Revision,
    pub events: Vec<Event>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store database: {0}")]
    Database(String),
    #[error("store is shut down")]
    Closed,
    #[error("corrupt record under key {0}")]
    Corrupt(String),
}

/// The durable state behind a Flotilla server.
///
/// Invariant: `commit` resolves `Committed` only once the change survives a crash (`kill -9`,
/// power loss as far as fsync promises); a crash never leaves half of a transaction.
pub trait Store: Send + Sync + 'static {
    /// Every key under `prefix`, in key order, and the revision they were read at.
    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<(Vec<KeyValue>, Revision), StoreError>>;

    /// Commits a transaction (guards, then writes) atomically and durably.
    fn commit(&self, txn: Txn) -> BoxFuture<'_, Result<TxnOutcome, StoreError>>;

    /// Committed changes from now on, one batch per transaction, in revision order.
    fn watch(&self) -> tokio::sync::broadcast::Receiver<WatchBatch>;
}

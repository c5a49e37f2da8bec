//! The single writer: runs each group of queued changes (`flotilla_store::group`, the one
//! group-commit writer every database uses) against committed state, commits their writes as
//! one store transaction, applies them to the in-memory state, then answers.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use flotilla_api::ApiError;
use flotilla_store::{Op, Store, Txn, TxnOutcome};
use tokio::sync::{mpsc, oneshot};

use super::{Record, State};

/// Changes gathered into one commit at most; more wait for the next one.
const MAX_BATCH: usize = 512;

/// What a change staged: key -> new record, or `None` for a deletion.
type Writes = BTreeMap<String, Option<Record>>;

/// A change's view while it runs: committed state, overlaid by writes earlier in the same batch,
/// overlaid by its own writes.
pub struct Staged<'a> {
    state: &'a State,
    batch: &'a Writes,
    mine: Writes,
}

/// An empty overlay, for read-only uses of `Staged` (describing with placement's accounting).
static NO_WRITES: Writes = Writes::new();

impl<'a> Staged<'a> {
    /// A view of committed state only.
    pub fn read_only(state: &'a State) -> Self {
        Staged { state, batch: &NO_WRITES, mine: Writes::new() }
    }

    /// Committed state: borrowed for the whole change, not from this view, so what is read
    /// from it can be held while the change stages writes.
    pub fn state(&self) -> &'a State {
        self.state
    }

    /// The record under `key` as this change sees it.
    pub fn get(&self, key: &str) -> Option<Record> {
        match self.mine.get(key).or_else(|| self.batch.get(key)) {
            Some(staged) => staged.clone(),
            None => self.state.get(key),
        }
    }

    pub fn put(&mut self, record: Record) {
        self.mine.insert(record.key(), Some(record));
    }

    pub fn delete(&mut self, key: String) {
        self.mine.insert(key, None);
    }

    /// The tasks placed on `instance_id` of `cluster` as this change sees them (committed ones
    /// overlaid by staged writes), so placements earlier in the same batch are counted.
    pub fn tasks_on(&self, cluster: &str, instance_id: &str) -> Vec<super::TaskRecord> {
        let staged_value = |key: &str| self.mine.get(key).or_else(|| self.batch.get(key));
        let mut out: Vec<super::TaskRecord> = self
            .state
            .tasks_on(instance_id)
            .filter(|t| staged_value(&super::task_key(&t.cluster, &t.id)).is_none())
            .cloned()
            .collect();
        let prefix = super::task_prefix(cluster);
        let mut seen = std::collections::BTreeSet::new();
        for writes in [&self.mine, self.batch] {
            for (key, record) in writes.range(prefix.clone()..) {
                if !key.starts_with(&prefix) {
                    break;
                }
                if !seen.insert(key.clone()) {
                    continue; // the change's own write wins over the batch's
                }
                if let Some(Record::Task(task)) = record {
                    if task.instance_id.as_deref() == Some(instance_id) {
                        out.push((**task).clone());
                    }
                }
            }
        }
        out
    }
}

impl<'a> Staged<'a> {
    /// The write staged for `key`, if any: `Some(None)` for a staged deletion.
    pub fn staged_write(&self, key: &str) -> Option<Option<&Record>> {
        self.mine.get(key).or_else(|| self.batch.get(key)).map(Option::as_ref)
    }

    /// A task as this change sees it, borrowed (no copy).
    pub fn task(&self, cluster: &str, id: &str) -> Option<&super::TaskRecord> {
        match self.staged_write(&super::task_key(cluster, id)) {
            Some(Some(Record::Task(t))) => Some(t),
            Some(_) => None,
            None => self.state.tasks.get(&(cluster.to_string(), id.to_string())),
        }
    }

    /// The writes staged under `prefix` (earlier changes of the batch, then this one's, which
    /// win): key and new record, `None` for a deletion.
    pub fn pending(&self, prefix: &str) -> BTreeMap<&str, Option<&Record>> {
        let mut out: BTreeMap<&str, Option<&Record>> = BTreeMap::new();
        for writes in [&self.mine, self.batch] {
            for (key, record) in writes.range(prefix.to_string()..) {
                if !key.starts_with(prefix) {
                    break;
                }
                out.entry(key.as_str()).or_insert(record.as_ref());
            }
        }
        out
    }
}

/// What a change leaves for after the commit.
struct Completion {
    /// Whether its writes go into the commit (a failed change writes nothing).
    keep: bool,
    finish: Box<dyn FnOnce(Result<(), ApiError>) + Send>,
}

type Job = Box<dyn FnOnce(&mut Staged<'_>) -> Completion + Send>;

#[derive(Clone)]
pub struct WriterHandle {
    jobs: mpsc::UnboundedSender<Job>,
}

impl WriterHandle {
    pub fn start(
        state: Arc<RwLock<State>>,
        store: Arc<dyn Store>,
        notify: tokio::sync::watch::Sender<flotilla_store::Revision>,
        wakers: Arc<super::InstanceWakers>,
    ) -> Self {
        let (jobs, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(state, store, receiver, notify, wakers));
        WriterHandle { jobs }
    }

    pub async fn write<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Staged<'_>) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |staged| match change(staged) {
            Ok(value) => Completion {
                keep: true,
                finish: Box::new(move |committed| {
                    let _ = reply.send(committed.map(|()| value));
                }),
            },
            Err(error) => Completion {
                keep: false,
                finish: Box::new(move |_| {
                    let _ = reply.send(Err(error));
                }),
            },
        });
        self.jobs.send(job).map_err(|_| ApiError::server("the server is shutting down"))?;
        answer.await.map_err(|_| ApiError::server("the write was interrupted"))?
    }
}

async fn run(
    state: Arc<RwLock<State>>,
    store: Arc<dyn Store>,
    jobs: mpsc::UnboundedReceiver<Job>,
    notify: tokio::sync::watch::Sender<flotilla_store::Revision>,
    wakers: Arc<super::InstanceWakers>,
) {
    let mut groups = flotilla_store::group::Groups::counted(jobs, MAX_BATCH);
    while let Some(batch_jobs) = groups.next().await {
        let mut batch = Writes::new();
        let mut finishes = Vec::with_capacity(batch_jobs.len());
        {
            let committed = state.read().unwrap_or_else(|e| e.into_inner());
            for job in batch_jobs {
                let mut staged = Staged { state: &committed, batch: &batch, mine: Writes::new() };
                let completion = job(&mut staged);
                let mine = staged.mine;
                if completion.keep {
                    batch.extend(mine);
                }
                finishes.push(completion.finish);
            }
        }

        let batch_was_empty = batch.is_empty();
        let outcome =
            if batch_was_empty { Ok(()) } else { commit(&state, store.as_ref(), batch).await };
        if !batch_was_empty && outcome.is_ok() {
            let (revision, touched) = {
                let mut state = state.write().unwrap_or_else(|e| e.into_inner());
                (state.revision, std::mem::take(&mut state.touched))
            };
            notify.send_replace(revision);
            wakers.wake(touched.iter());
        }
        for finish in finishes {
            finish(outcome.clone());
        }
    }
}

async fn commit(state: &RwLock<State>, store: &dyn Store, batch: Writes) -> Result<(), ApiError> {
    let ops = batch
        .iter()
        .map(|(key, record)| match record {
            Some(record) => Op::Put { key: key.clone(), value: record.encode() },
            None => Op::Delete { key: key.clone() },
        })
        .collect();
    match store.commit(Txn { compares: Vec::new(), ops }).await {
        Ok(TxnOutcome::Committed(revision)) => {
            let mut state = state.write().unwrap_or_else(|e| e.into_inner());
            for (key, record) in batch {
                state.apply(&key, record);
            }
            state.revision = revision;
            Ok(())
        }
        Ok(TxnOutcome::Conflict) => {
            // Only a second writer on the same store could cause this (HA without leadership).
            tracing::error!("store reported a conflict on an unguarded write");
            Err(ApiError::server("conflicting write; nothing was stored, please retry"))
        }
        Err(error) => {
            tracing::error!(%error, "store commit failed");
            Err(ApiError::server("the store could not commit the change; nothing was stored"))
        }
    }
}

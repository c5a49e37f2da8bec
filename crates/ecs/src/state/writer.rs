//! The single writer: runs each group of queued changes (`flotilla_store::group`, the one
//! group-commit writer every database uses) against committed state, commits their writes as
//! one store transaction, applies them to the in-memory state, then answers. Pipelined: while
//! one group's transaction commits (the store's fsync), the next group is gathered and run
//! against committed state overlaid by the committing group's writes, so it is ready to commit
//! the moment the first is durable. Should that commit fail, the group prepared on top of it
//! is answered with an error too (its changes saw writes that never happened). A change that
//! reads committed state wholesale (`write_settled`: the service controller's pass, which
//! rewrites whole records it read from `Staged::state`) runs only when nothing is staged or
//! committing, as the first of its group, so it never writes back a record another change
//! has just replaced.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};

use flotilla_api::ApiError;
use flotilla_store::{Op, Store, Txn, TxnOutcome};
use tokio::sync::{mpsc, oneshot};

use super::{Record, State};

/// Changes gathered into one commit at most; more wait for the next one.
const MAX_BATCH: usize = 512;

/// What a change staged: key -> new record, or `None` for a deletion.
type Writes = BTreeMap<String, Option<Record>>;

/// A change's view while it runs: committed state, overlaid by the writes of the batch still
/// committing, by writes earlier in the same batch, and by its own writes.
pub struct Staged<'a> {
    state: &'a State,
    committing: &'a Writes,
    batch: &'a Writes,
    mine: Writes,
}

/// An empty overlay, for read-only uses of `Staged` (describing with placement's accounting).
static NO_WRITES: Writes = Writes::new();

impl<'a> Staged<'a> {
    /// A view of committed state only.
    pub fn read_only(state: &'a State) -> Self {
        Staged { state, committing: &NO_WRITES, batch: &NO_WRITES, mine: Writes::new() }
    }

    /// Committed state: borrowed for the whole change, not from this view, so what is read
    /// from it can be held while the change stages writes.
    pub fn state(&self) -> &'a State {
        self.state
    }

    /// The write staged for `key` by this change, its batch or the batch committing (in that
    /// order: the latest wins).
    fn staged_value(&self, key: &str) -> Option<&Option<Record>> {
        self.mine.get(key).or_else(|| self.batch.get(key)).or_else(|| self.committing.get(key))
    }

    /// The overlays, the latest first.
    fn overlays(&self) -> [&Writes; 3] {
        [&self.mine, self.batch, self.committing]
    }

    /// The record under `key` as this change sees it.
    pub fn get(&self, key: &str) -> Option<Record> {
        match self.staged_value(key) {
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
        let mut out: Vec<super::TaskRecord> = self
            .state
            .tasks_on(instance_id)
            .filter(|t| self.staged_value(&super::task_key(&t.cluster, &t.id)).is_none())
            .cloned()
            .collect();
        let prefix = super::task_prefix(cluster);
        let mut seen = std::collections::BTreeSet::new();
        for writes in self.overlays() {
            for (key, record) in writes.range(prefix.clone()..) {
                if !key.starts_with(&prefix) {
                    break;
                }
                if !seen.insert(key.clone()) {
                    continue; // a later write wins over an earlier one
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
        self.staged_value(key).map(Option::as_ref)
    }

    /// A task as this change sees it, borrowed (no copy).
    pub fn task(&self, cluster: &str, id: &str) -> Option<&super::TaskRecord> {
        match self.staged_write(&super::task_key(cluster, id)) {
            Some(Some(Record::Task(t))) => Some(t),
            Some(_) => None,
            None => self.state.tasks.get(&(cluster.to_string(), id.to_string())),
        }
    }

    /// The writes staged under `prefix` (the committing batch's, earlier changes of this
    /// batch, then this change's, the latest winning): key and new record, `None` for a
    /// deletion.
    pub fn pending(&self, prefix: &str) -> BTreeMap<&str, Option<&Record>> {
        let mut out: BTreeMap<&str, Option<&Record>> = BTreeMap::new();
        for writes in self.overlays() {
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

/// A queued change.
struct Job {
    run: Box<dyn FnOnce(&mut Staged<'_>) -> Completion + Send>,
    /// Runs only on settled state: nothing staged before it, nothing committing.
    settled: bool,
}

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
        self.queue(change, false).await
    }

    /// A change that reads committed state wholesale (`Staged::state`) and writes back what
    /// it read: it runs when every earlier change is applied and nothing is committing.
    pub async fn write_settled<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Staged<'_>) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.queue(change, true).await
    }

    async fn queue<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Staged<'_>) -> Result<T, ApiError> + Send + 'static,
        settled: bool,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        let run = Box::new(move |staged: &mut Staged<'_>| match change(staged) {
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
        let job = Job { run, settled };
        self.jobs.send(job).map_err(|_| ApiError::server("the server is shutting down"))?;
        answer.await.map_err(|_| ApiError::server("the write was interrupted"))?
    }
}

/// A group's answers, owed once its writes are durable (or known not to be).
type Finish = Box<dyn FnOnce(Result<(), ApiError>) + Send>;

/// A group run against committed state (overlaid by `committing`): its writes and answers,
/// and the jobs left for later — from the first one that needs settled state and cannot have
/// it here (something staged before it, or committing), on.
fn prepare(
    state: &RwLock<State>,
    jobs: impl IntoIterator<Item = Job>,
    committing: &Writes,
) -> (Writes, Vec<Finish>, VecDeque<Job>) {
    let mut batch = Writes::new();
    let mut finishes = Vec::new();
    let mut jobs = jobs.into_iter();
    let committed = state.read().unwrap_or_else(|e| e.into_inner());
    for job in jobs.by_ref() {
        if job.settled && (!committing.is_empty() || !finishes.is_empty()) {
            let mut left = VecDeque::from([job]);
            left.extend(jobs);
            return (batch, finishes, left);
        }
        let mut staged =
            Staged { state: &committed, committing, batch: &batch, mine: Writes::new() };
        let completion = (job.run)(&mut staged);
        let mine = staged.mine;
        if completion.keep {
            batch.extend(mine);
        }
        finishes.push(completion.finish);
    }
    (batch, finishes, VecDeque::new())
}

async fn run(
    state: Arc<RwLock<State>>,
    store: Arc<dyn Store>,
    jobs: mpsc::UnboundedReceiver<Job>,
    notify: tokio::sync::watch::Sender<flotilla_store::Revision>,
    wakers: Arc<super::InstanceWakers>,
) {
    let mut groups = flotilla_store::group::Groups::counted(jobs, MAX_BATCH);
    let mut open = true;
    // A group prepared while the one before it committed.
    let mut prepared: Option<(Writes, Vec<Finish>)> = None;
    // Jobs taken from the queue and not run yet (waiting for settled state), in order.
    let mut later: VecDeque<Job> = VecDeque::new();
    loop {
        let (batch, finishes) = match prepared.take() {
            Some(ready) => ready,
            None => {
                let jobs = if !later.is_empty() {
                    std::mem::take(&mut later)
                } else if open {
                    match groups.next().await {
                        Some(jobs) => jobs.into(),
                        None => return,
                    }
                } else {
                    return;
                };
                let (batch, finishes, left) = prepare(&state, jobs, &NO_WRITES);
                later = left;
                (batch, finishes)
            }
        };
        if batch.is_empty() {
            for finish in finishes {
                finish(Ok(()));
            }
            continue;
        }
        // The commit, and meanwhile the next group run on top of this one's writes.
        let outcome = {
            let committing = commit(store.as_ref(), &batch);
            tokio::pin!(committing);
            loop {
                tokio::select! {
                    biased;
                    outcome = &mut committing => break outcome,
                    next = groups.next(), if open && prepared.is_none() && later.is_empty() => match next {
                        Some(jobs) => {
                            let (next, finishes, left) = prepare(&state, jobs, &batch);
                            later = left;
                            if !finishes.is_empty() {
                                prepared = Some((next, finishes));
                            }
                        }
                        None => open = false,
                    },
                }
            }
        };
        match outcome {
            Ok(revision) => {
                let touched = {
                    let mut state = state.write().unwrap_or_else(|e| e.into_inner());
                    for (key, record) in batch {
                        state.apply(&key, record);
                    }
                    state.revision = revision;
                    std::mem::take(&mut state.touched)
                };
                notify.send_replace(revision);
                wakers.wake(touched.iter());
                for finish in finishes {
                    finish(Ok(()));
                }
            }
            Err(error) => {
                for finish in finishes {
                    finish(Err(error.clone()));
                }
                // Prepared on writes that never happened: nothing of it may be stored.
                if let Some((_, next)) = prepared.take() {
                    for finish in next {
                        finish(Err(ApiError::server(
                            "an earlier write failed to commit; nothing was stored, please retry",
                        )));
                    }
                }
            }
        }
    }
}

/// Commits `batch` to the store (applied to the in-memory state by the caller once durable).
async fn commit(store: &dyn Store, batch: &Writes) -> Result<flotilla_store::Revision, ApiError> {
    let ops = batch
        .iter()
        .map(|(key, record)| match record {
            Some(record) => Op::Put { key: key.clone(), value: record.encode() },
            None => Op::Delete { key: key.clone() },
        })
        .collect();
    match store.commit(Txn { compares: Vec::new(), ops }).await {
        Ok(TxnOutcome::Committed(revision)) => Ok(revision),
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

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;

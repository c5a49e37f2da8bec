//! The writer's pipeline against a store whose commits wait for the test: the next group runs
//! (seeing the committing group's writes) while the first is still being made durable, answers
//! come only once a group is durable, and a failed commit fails the group prepared on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flotilla_api::cluster::Cluster;
use flotilla_store::{BoxFuture, KeyValue, Revision, Store, StoreError, Txn, TxnOutcome};
use tokio::sync::Semaphore;

use flotilla_api::ApiError;

use super::{Record, Staged, State, WriterHandle};

/// An embedded store whose commits each wait for a permit, and fail when told to.
struct GatedStore {
    inner: flotilla_store::EmbeddedStore,
    permits: Semaphore,
    fail: AtomicBool,
}

impl Store for GatedStore {
    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<(Vec<KeyValue>, Revision), StoreError>> {
        self.inner.range(prefix)
    }

    fn commit(&self, txn: Txn) -> BoxFuture<'_, Result<TxnOutcome, StoreError>> {
        Box::pin(async move {
            self.permits.acquire().await.map_err(|_| StoreError::Closed)?.forget();
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::Database("the disk is gone".into()));
            }
            self.inner.commit(txn).await
        })
    }

    fn watch(&self) -> tokio::sync::broadcast::Receiver<flotilla_store::WatchBatch> {
        self.inner.watch()
    }
}

fn cluster(name: &str) -> Record {
    Record::Cluster(Cluster { cluster_name: name.into(), ..Cluster::default() })
}

/// A change that stores cluster `name`.
fn put(name: &'static str) -> impl FnOnce(&mut Staged<'_>) -> Result<(), ApiError> + Send {
    move |staged| {
        staged.put(cluster(name));
        Ok(())
    }
}

struct Setup {
    writer: WriterHandle,
    state: Arc<RwLock<State>>,
    store: Arc<GatedStore>,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// Queues `change` in a task of its own (it answers once durable): its handle.
    fn spawn_write(
        &self,
        change: impl FnOnce(&mut Staged<'_>) -> Result<(), ApiError> + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<(), ApiError>> {
        let writer = self.writer.clone();
        tokio::spawn(async move { writer.write(change).await })
    }
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(GatedStore {
        inner: flotilla_store::EmbeddedStore::open(&dir.path().join("s.redb")).expect("store"),
        permits: Semaphore::new(0),
        fail: AtomicBool::new(false),
    });
    let state = Arc::new(RwLock::new(State::default()));
    let (notify, _) = tokio::sync::watch::channel(0);
    let writer = WriterHandle::start(
        Arc::clone(&state),
        Arc::clone(&store) as Arc<dyn Store>,
        notify,
        Arc::default(),
    );
    Setup { writer, state, store, _dir: dir }
}

/// Lets the writer run until nothing more can happen without the store.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test]
async fn the_next_group_runs_while_the_first_commits_and_answers_after_it() {
    let s = setup();
    let first = s.spawn_write(put("a"));
    settle().await;
    // The first group's commit waits for the store. The next one runs meanwhile, on top of it.
    let saw_first = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&saw_first);
    let second = s.spawn_write(move |staged| {
        seen.store(staged.get(&cluster("a").key()).is_some(), Ordering::SeqCst);
        put("b")(staged)
    });
    settle().await;
    assert!(saw_first.load(Ordering::SeqCst), "prepared while the first committed, seeing it");
    assert!(!first.is_finished() && !second.is_finished(), "no answer before durability");
    assert!(s.state.read().expect("state").get(&cluster("a").key()).is_none());

    s.store.permits.add_permits(1);
    first.await.expect("join").expect("the first is stored");
    settle().await;
    assert!(!second.is_finished(), "the second waits for its own commit");
    s.store.permits.add_permits(1);
    second.await.expect("join").expect("the second is stored");
    let state = s.state.read().expect("state");
    assert!(state.get(&cluster("a").key()).is_some() && state.get(&cluster("b").key()).is_some());
}

#[tokio::test]
async fn a_failed_commit_fails_the_group_prepared_on_it() {
    let s = setup();
    s.store.fail.store(true, Ordering::SeqCst);
    let first = s.spawn_write(put("a"));
    settle().await;
    let second = s.spawn_write(put("b"));
    settle().await;
    s.store.permits.add_permits(1);
    assert!(first.await.expect("join").is_err(), "the first failed");
    let refused = second.await.expect("join");
    assert!(refused.is_err(), "prepared on writes that never happened: {refused:?}");
    // Nothing of either is in the state; the writer goes on with the next.
    assert!(s.state.read().expect("state").get(&cluster("b").key()).is_none());
    s.store.fail.store(false, Ordering::SeqCst);
    s.store.permits.add_permits(1);
    s.writer.write(put("c")).await.expect("stored");
    assert!(s.state.read().expect("state").get(&cluster("c").key()).is_some());
}

/// A settled change (the controller's pass) never runs while another group commits: it waits
/// for the commit, then sees its writes in committed state itself.
#[tokio::test]
async fn a_settled_change_waits_for_the_commit_under_way() {
    let s = setup();
    let first = s.spawn_write(put("a"));
    settle().await;
    let ran = Arc::new(AtomicBool::new(false));
    let saw_committed = Arc::new(AtomicBool::new(false));
    let settled = tokio::spawn({
        let (writer, ran, saw) = (s.writer.clone(), Arc::clone(&ran), Arc::clone(&saw_committed));
        async move {
            writer
                .write_settled(move |staged| {
                    ran.store(true, Ordering::SeqCst);
                    saw.store(staged.state().get(&cluster("a").key()).is_some(), Ordering::SeqCst);
                    put("b")(staged)
                })
                .await
        }
    });
    settle().await;
    assert!(!ran.load(Ordering::SeqCst), "ran while the first group committed");
    s.store.permits.add_permits(1);
    first.await.expect("join").expect("the first is stored");
    settle().await;
    assert!(ran.load(Ordering::SeqCst) && saw_committed.load(Ordering::SeqCst));
    s.store.permits.add_permits(1);
    settled.await.expect("join").expect("the settled change is stored");
}

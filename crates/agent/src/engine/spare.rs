//! A spare pause container, started before an awsvpc task needs one. Docker takes ~220 ms to
//! start a container with a network namespace of its own and ~90 ms to start one joining
//! another's; an awsvpc task needs both (its pause container, then its containers), so without
//! a spare it starts ~1.5x slower than a bridge task. Once this agent has run one awsvpc task it
//! keeps one spare started (network `none`, the agent's DNS server, labelled
//! `LABEL_SPARE_PAUSE`); the next task whose containers name no DNS servers or search domains of
//! their own takes it (renamed to the task's pause name) and a new spare is started in the
//! background. The state file records which task holds a taken spare; the orphan sweep removes
//! a spare nobody holds (an agent killed before it could), and a stopping agent removes its own.

use std::sync::{Arc, Mutex};

use crate::runtime::{ContainerPlan, Runtime};

/// The spare (at most one) and whether one is wanted.
#[derive(Debug, Default)]
pub struct SparePause {
    state: Mutex<Slot>,
}

#[derive(Debug, Default)]
struct Slot {
    /// The started spare's container id.
    ready: Option<String>,
    /// An awsvpc task has run here: keep a spare from now on.
    wanted: bool,
    /// A spare is being started (its id is not known yet).
    filling: bool,
    /// Spares handed to tasks that their runs may not record yet.
    handed_out: Vec<String>,
}

impl SparePause {
    /// Takes the spare, if one is ready, and has the next one started from `plan`.
    pub fn take(
        self: &Arc<Self>,
        runtime: &Arc<dyn Runtime>,
        plan: ContainerPlan,
    ) -> Option<String> {
        let taken = {
            let mut slot = lock(&self.state);
            slot.wanted = true;
            let taken = slot.ready.take();
            slot.handed_out.extend(taken.clone());
            // Only the last few can still be unrecorded (a run records its pause within the
            // state file's debounce): the list stays short whatever happened to the others.
            let excess = slot.handed_out.len().saturating_sub(MAX_UNRECORDED);
            slot.handed_out.drain(..excess);
            taken
        };
        self.refill(runtime, plan);
        taken
    }

    /// Whether spare container `id` may be removed as a stray: it is neither waiting to be
    /// taken nor handed to a task whose run may not record it yet, and no spare is being
    /// started (that one's id is not known yet). `held` says which spares runs record: they
    /// need no remembering any more.
    pub fn is_stray(&self, id: &str, held: impl Fn(&str) -> bool) -> bool {
        let mut slot = lock(&self.state);
        slot.handed_out.retain(|handed| !held(handed));
        !slot.filling
            && slot.ready.as_deref() != Some(id)
            && !slot.handed_out.iter().any(|h| h == id)
            && !held(id)
    }

    /// Removes the waiting spare (the agent is stopping) and wants no other.
    pub async fn discard(&self, runtime: &dyn Runtime) {
        let ready = {
            let mut slot = lock(&self.state);
            slot.wanted = false;
            slot.ready.take()
        };
        if let Some(id) = ready {
            let _ = runtime.remove(&id).await;
        }
    }

    /// Starts a spare in the background unless one is ready or coming.
    fn refill(self: &Arc<Self>, runtime: &Arc<dyn Runtime>, plan: ContainerPlan) {
        {
            let mut slot = lock(&self.state);
            if !slot.wanted || slot.filling || slot.ready.is_some() {
                return;
            }
            slot.filling = true;
        }
        let spare = Arc::clone(self);
        let runtime = Arc::clone(runtime);
        tokio::spawn(async move {
            let started = async {
                let id = runtime.create(&plan).await?;
                if let Err(error) = runtime.start(&id).await {
                    let _ = runtime.remove(&id).await;
                    return Err(error);
                }
                Ok(id)
            };
            let outcome = started.await;
            let unwanted = {
                let mut slot = lock(&spare.state);
                slot.filling = false;
                match outcome {
                    Ok(id) if slot.wanted => {
                        slot.ready = Some(id);
                        None
                    }
                    Ok(id) => Some(id),
                    Err(error) => {
                        tracing::warn!(%error, "cannot start a spare pause container");
                        None
                    }
                }
            };
            // Discarded while it started: it goes too.
            if let Some(id) = unwanted {
                let _ = runtime.remove(&id).await;
            }
        });
    }
}

/// How many taken spares are remembered until their runs record them.
const MAX_UNRECORDED: usize = 16;

/// The spare's name: unique, so a new one never collides with one still being removed.
pub fn spare_name(agent_id: &str) -> String {
    format!("flotilla-spare-pause-{agent_id}-{:08x}", fastrand::u32(..))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(ready: Option<&str>, filling: bool, handed_out: &[&str]) -> SparePause {
        let spare = SparePause::default();
        *lock(&spare.state) = Slot {
            ready: ready.map(str::to_string),
            wanted: true,
            filling,
            handed_out: handed_out.iter().map(|h| h.to_string()).collect(),
        };
        spare
    }

    #[test]
    fn only_a_spare_nobody_holds_or_waits_for_is_stray() {
        let nobody = |_: &str| false;
        assert!(!slot(Some("a"), false, &[]).is_stray("a", nobody), "the waiting spare");
        assert!(!slot(None, false, &["b"]).is_stray("b", nobody), "handed out, not recorded yet");
        assert!(!slot(None, false, &[]).is_stray("c", |id| id == "c"), "a run holds it");
        assert!(!slot(None, true, &[]).is_stray("d", nobody), "one is starting: its id is unknown");
        assert!(slot(Some("a"), false, &["b"]).is_stray("e", nobody), "a killed agent's leftover");
        // A recorded spare is forgotten from the handed-out list.
        let spare = slot(None, false, &["b"]);
        assert!(!spare.is_stray("b", |id| id == "b"));
        assert!(spare.is_stray("b", nobody), "once its run is gone, it is a stray");
    }
}

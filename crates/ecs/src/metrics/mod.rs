//! Metrics: what agents measure of their tasks (`samples.rs`), turned into ECS's `AWS/ECS`
//! figures (`ecs.rs`) every [`TICK`] and handed to the [`FigureSink`](crate::FigureSink)
//! (CloudWatch keeps them), and written as Prometheus text for `GET /metrics` (`scrape.rs`).

pub mod ecs;
pub mod samples;
mod scrape;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use flotilla_api::agent::StatsReport;

use crate::state::StateHandle;
use crate::{App, FigureSink};
use samples::{Samples, TaskSample};
pub use scrape::write_prometheus;

/// How often the figures are computed and recorded (agents sample every 10 s too).
pub const TICK: Duration = Duration::from_secs(10);

/// The samples of every task, shared by the agent gateway (in), the tick and `/metrics` (out).
#[derive(Debug, Default)]
pub struct Metrics {
    samples: Mutex<Samples>,
}

impl Metrics {
    /// Keeps an agent's sample of its tasks (only those placed on its instance).
    pub fn record(&self, state: &StateHandle, instance_id: &str, report: &StatsReport, now: f64) {
        // Built under the state's lock, stored after it is released: this module never holds
        // both (the tick reads samples, then the state).
        let fresh = samples::from_report(&state.read(), instance_id, report, now);
        let mut samples = lock(&self.samples);
        for sample in fresh {
            samples.insert(sample);
        }
    }

    /// The samples that still count at `now`.
    pub fn fresh_samples(&self, now: f64) -> Vec<TaskSample> {
        lock(&self.samples).fresh(now)
    }

    /// One tick: forget stale samples, compute the figures, hand them to `figures`.
    pub fn tick(&self, state: &StateHandle, figures: &dyn FigureSink, now: f64) {
        let fresh = {
            let mut samples = lock(&self.samples);
            samples.prune(now);
            samples.fresh(now)
        };
        figures.record(now, ecs::datapoints(&ecs::compute(&state.read(), &fresh)));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves figures that are at worst one tick stale.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The tick, every [`TICK`], until aborted.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = app.clock.epoch_seconds();
            app.metrics.tick(&app.state, app.figures.as_ref(), now);
        }
    })
}

//! Metrics: what agents measure of their tasks, turned into ECS's `AWS/ECS` figures every
//! [`TICK`] and kept per minute for 24 hours (memory only: not durable, a restarted server starts
//! without history), served as Prometheus text at `GET /metrics` (`scrape.rs`) and through the
//! CloudWatch metrics API (`cloudwatch/`). The server's own API traffic is counted too
//! (`requests.rs`).

pub mod cloudwatch;
pub mod ecs;
pub mod exposition;
pub mod requests;
pub mod samples;
mod scrape;
pub mod series;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use flotilla_api::agent::StatsReport;

use crate::state::StateHandle;
use crate::App;
pub use requests::Call;
use samples::{Samples, TaskSample};
pub use scrape::scrape;
use series::{SeriesKey, SeriesStore, StatSet};

/// How often the figures are computed and recorded (agents sample every 10 s too).
pub const TICK: Duration = Duration::from_secs(10);

/// The metrics state of the server, shared by the agent gateway (samples in), the tick
/// (figures recorded), `/metrics` and the CloudWatch API (read).
#[derive(Debug, Default)]
pub struct Metrics {
    samples: Mutex<Samples>,
    series: Mutex<SeriesStore>,
    pub requests: requests::RequestMetrics,
}

impl Metrics {
    /// Keeps an agent's sample of its tasks (only those placed on its instance).
    pub fn record(
        &self,
        state: &StateHandle,
        cluster: &str,
        instance_id: &str,
        report: &StatsReport,
        now: f64,
    ) {
        // Built under the state's lock, stored after it is released: this module never holds
        // both (the tick reads samples, then the state).
        let fresh = samples::from_report(&state.read(), cluster, instance_id, report, now);
        let mut samples = lock(&self.samples);
        for sample in fresh {
            samples.insert(sample);
        }
    }

    /// The samples that still count at `now`.
    pub fn fresh_samples(&self, now: f64) -> Vec<TaskSample> {
        lock(&self.samples).fresh(now)
    }

    /// One tick: forget stale samples and old minutes, compute the figures, record them.
    pub fn tick(&self, state: &StateHandle, now: f64) {
        let fresh = {
            let mut samples = lock(&self.samples);
            samples.prune(now);
            samples.fresh(now)
        };
        let points = ecs::datapoints(&ecs::compute(&state.read(), &fresh));
        let mut series = lock(&self.series);
        series.prune(now);
        for (key, set) in points {
            series.record(key, now, set);
        }
    }

    /// A series' statistic sets over `[start, end)` in periods of `period` seconds.
    pub fn query(&self, key: &SeriesKey, start: f64, end: f64, period: i64) -> Vec<(i64, StatSet)> {
        lock(&self.series).query(key, start, end, period)
    }

    /// Every series kept, with the minute of its newest datapoint.
    pub fn keys(&self) -> Vec<(SeriesKey, i64)> {
        let series = lock(&self.series);
        series.keys().map(|k| (k.clone(), series.newest(k).unwrap_or(0))).collect()
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
            app.metrics.tick(&app.state, crate::epoch_seconds(SystemTime::now()));
        }
    })
}

//! Background upkeep: forgets stopped tasks once ECS would (they stay describable for an hour).

use flotilla_api::task::TaskStatus;
use std::sync::Arc;
use std::time::Duration;

use crate::state::task_key;
use crate::App;

/// How long a stopped task stays describable.
pub const STOPPED_TASK_RETENTION: Duration = Duration::from_secs(3600);
const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tick.tick().await;
            sweep(&app).await;
        }
    })
}

/// Forgets the tasks stopped longer than the retention ago, by the app's clock.
pub(crate) async fn sweep(app: &App) {
    let cutoff = app.clock.epoch_seconds() - STOPPED_TASK_RETENTION.as_secs_f64();
    let expired: Vec<String> = app
        .state
        .read()
        .tasks
        .values()
        .filter(|t| {
            t.task.last_status == TaskStatus::Stopped
                && t.task.stopped_at.is_some_and(|at| at < cutoff)
        })
        .map(|t| task_key(&t.cluster, &t.id))
        .collect();
    if expired.is_empty() {
        return;
    }
    let count = expired.len();
    let result = app
        .state
        .write(move |staged| {
            for key in expired {
                staged.delete(key);
            }
            Ok(())
        })
        .await;
    match result {
        Ok(()) => tracing::debug!(count, "forgot stopped tasks"),
        Err(error) => tracing::warn!(%error, "could not forget stopped tasks"),
    }
}

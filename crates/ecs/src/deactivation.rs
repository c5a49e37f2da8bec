//! How a stopping service task leaves its load balancers and service registry before SIGTERM:
//! it is DEACTIVATING, and its agent keeps it running, for the hold (the scheduler's stops and
//! StopTask alike); `load_balancing.rs` and `discovery.rs` deregister it meanwhile.

use flotilla_api::status::TaskStatus;

use crate::load_balancing::LoadBalancing;
use crate::state::{ServiceRecord, TaskRecord};

/// How long a task of a service with a registry is kept running after it starts stopping, so
/// its deregistration lands before SIGTERM (the sync loop runs every 250 ms).
pub const DEREGISTRATION_HOLD_SECONDS: f64 = 1.0;

/// How long `task` of `service` is held running after it starts stopping, so it leaves its
/// load balancers and service registry before SIGTERM: the longest deregistration delay of its
/// target groups, at least a moment with a service registry (none without either).
pub(crate) fn deregistration_hold(
    service: &ServiceRecord,
    task: &TaskRecord,
    load_balancing: &dyn LoadBalancing,
) -> f64 {
    let registry =
        if service.registries_of(task).is_empty() { 0.0 } else { DEREGISTRATION_HOLD_SECONDS };
    service
        .load_balancers_of(task)
        .iter()
        .filter_map(|lb| load_balancing.target_group(&lb.target_group_arn))
        .map(|g| g.deregistration_delay)
        .fold(registry, f64::max)
}

/// A running task just told to stop goes DEACTIVATING for `hold` seconds (its agent keeps it
/// running meanwhile); without a hold, or not running, it stops as it would.
pub(crate) fn deactivate(task: &mut TaskRecord, hold: f64, now: f64) {
    if hold > 0.0 && matches!(task.task.last_status, TaskStatus::Activating | TaskStatus::Running) {
        task.task.last_status = TaskStatus::Deactivating;
        task.deregistering_until = Some(now + hold);
    }
}

//! Pure service reconciliation: a REPLICA service's tasks, its deployments' settings and `now`
//! in; which tasks to start (for the primary deployment) and which to stop out. The plan keeps
//! ECS's rolling-deployment bounds at every moment:
//! - healthy tasks never drop below `minimumHealthyPercent` of the desired count (rounded up)
//!   because of a stop this plan makes;
//! - tasks that are not STOPPED (stopping ones included) never exceed `maximumPercent` of the
//!   desired count (rounded down) because of a start this plan makes.

/// One not-yet-STOPPED task of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTask {
    pub id: String,
    pub deployment: String,
    /// Desired STOPPED already: counts toward the maximum until it is gone, nothing else.
    pub stopping: bool,
    /// RUNNING (perhaps not proven healthy yet): never stopped to make room for others.
    pub running: bool,
    /// RUNNING and proven: HEALTHY when the task has health checks, else running a while.
    pub healthy: bool,
    /// Health checks failed after the grace period: to be replaced.
    pub unhealthy: bool,
    /// Order of stopping on scale-in among equally healthy tasks, lowest first (from the
    /// service's placement strategies, `placement::scale_in_order`).
    pub scale_in_rank: u32,
    /// Scale-in protected (UpdateTaskProtection): the scheduler never stops it to scale in or
    /// for a deployment; only failed health checks replace it.
    pub protected: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaInput {
    pub desired: u32,
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    pub primary: String,
    /// False when the primary deployment may not start tasks (circuit breaker tripped, throttled).
    pub may_start: bool,
    pub tasks: Vec<ServiceTask>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaPlan {
    /// How many tasks of the primary deployment to start.
    pub start: u32,
    /// Tasks to stop, with why.
    pub stop: Vec<(String, StopWhy)>,
    /// The primary holds the desired count of healthy tasks and nothing else is left.
    pub steady: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopWhy {
    /// Replaced by the new deployment, or scaled in.
    Scheduler,
    /// Failed its health checks.
    Unhealthy,
}

pub fn minimum_healthy(desired: u32, percent: u32) -> u32 {
    (u64::from(desired) * u64::from(percent)).div_ceil(100) as u32
}

pub fn maximum_total(desired: u32, percent: u32) -> u32 {
    (u64::from(desired) * u64::from(percent) / 100) as u32
}

pub fn reconcile_replica(input: &ReplicaInput) -> ReplicaPlan {
    let min_healthy = minimum_healthy(input.desired, input.minimum_healthy_percent);
    // At least one task may run when any is desired, or a deployment could never progress.
    let max_total = maximum_total(input.desired, input.maximum_percent).max(input.desired.min(1));
    let live: Vec<&ServiceTask> = input.tasks.iter().filter(|t| !t.stopping).collect();
    let present = input.tasks.len() as u32;
    let mut healthy = live.iter().filter(|t| t.healthy).count() as u32;
    let mut stop: Vec<(String, StopWhy)> = Vec::new();

    // Unhealthy tasks are replaced; stopping them never lowers the healthy count.
    for task in live.iter().filter(|t| t.unhealthy && !t.healthy) {
        stop.push((task.id.clone(), StopWhy::Unhealthy));
    }
    let stopped = |stop: &Vec<(String, StopWhy)>, id: &str| stop.iter().any(|(s, _)| s == id);

    // Old deployments' tasks that are not running yet go first: they hold nothing up.
    for task in live.iter().filter(|t| t.deployment != input.primary && !t.running) {
        if !stopped(&stop, &task.id) && !task.protected {
            stop.push((task.id.clone(), StopWhy::Scheduler));
        }
    }

    // The primary above the desired count (scale in): not-healthy ones first.
    let mut primary: Vec<&&ServiceTask> =
        live.iter().filter(|t| t.deployment == input.primary && !stopped(&stop, &t.id)).collect();
    primary.sort_by_key(|t| (t.healthy, t.scale_in_rank, t.id.clone()));
    let mut primary_count = primary.len() as u32;
    for task in &primary {
        if primary_count <= input.desired {
            break;
        }
        if task.protected {
            continue;
        }
        if task.healthy {
            if healthy <= min_healthy {
                break;
            }
            healthy -= 1;
        }
        stop.push((task.id.clone(), StopWhy::Scheduler));
        primary_count -= 1;
    }

    // Old healthy tasks, as far as the minimum allows.
    let mut old_healthy: Vec<&&ServiceTask> = live
        .iter()
        .filter(|t| {
            t.deployment != input.primary && t.healthy && !t.protected && !stopped(&stop, &t.id)
        })
        .collect();
    old_healthy.sort_by_key(|t| t.id.clone());
    for task in old_healthy {
        if healthy <= min_healthy {
            break;
        }
        // Keep old tasks while the primary cannot take over (nothing may start).
        if !input.may_start && primary_count == 0 {
            break;
        }
        healthy -= 1;
        stop.push((task.id.clone(), StopWhy::Scheduler));
    }

    let start = if input.may_start {
        input.desired.saturating_sub(primary_count).min(max_total.saturating_sub(present))
    } else {
        0
    };
    let old_left = input.tasks.iter().any(|t| t.deployment != input.primary);
    let primary_healthy =
        live.iter().filter(|t| t.deployment == input.primary && t.healthy).count() as u32;
    let steady = !old_left
        && primary_healthy == input.desired
        && primary_count == input.desired
        && stop.is_empty()
        && input.tasks.iter().all(|t| !t.stopping);
    ReplicaPlan { start, stop, steady }
}

/// ECS's circuit-breaker threshold: half the desired count, at least 3, at most 200.
pub fn failure_threshold(desired: u32) -> u32 {
    desired.div_ceil(2).clamp(3, 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn task(id: &str, deployment: &str, healthy: bool) -> ServiceTask {
        ServiceTask {
            id: id.into(),
            deployment: deployment.into(),
            stopping: false,
            scale_in_rank: 0,
            running: healthy,
            healthy,
            unhealthy: false,
            protected: false,
        }
    }

    #[test]
    fn protected_tasks_are_kept_through_scale_in_and_deployments() {
        let mut kept = task("a", "new", true);
        kept.protected = true;
        let tasks = vec![kept.clone(), task("b", "new", true), task("c", "new", true)];
        let plan = reconcile_replica(&input(1, 0, 200, tasks));
        let stopped: Vec<&str> = plan.stop.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(stopped, ["b", "c"], "scale-in passes over the protected task");
        let mut old = kept;
        old.deployment = "old".into();
        let tasks = vec![old, task("n", "new", true)];
        let plan = reconcile_replica(&input(1, 0, 200, tasks));
        assert!(plan.stop.is_empty() && !plan.steady, "the deployment waits for the protection");
    }

    fn input(desired: u32, min: u32, max: u32, tasks: Vec<ServiceTask>) -> ReplicaInput {
        ReplicaInput {
            desired,
            minimum_healthy_percent: min,
            maximum_percent: max,
            primary: "new".into(),
            may_start: true,
            tasks,
        }
    }

    #[test]
    fn rounding_is_as_ecs() {
        assert_eq!(minimum_healthy(3, 50), 2);
        assert_eq!(maximum_total(3, 150), 4);
        assert_eq!(failure_threshold(1), 3);
        assert_eq!(failure_threshold(10), 5);
        assert_eq!(failure_threshold(1000), 200);
    }

    #[test]
    fn fresh_service_starts_desired_and_becomes_steady() {
        let plan = reconcile_replica(&input(3, 100, 200, vec![]));
        assert_eq!(plan.start, 3);
        let tasks = (0..3).map(|i| task(&format!("t{i}"), "new", true)).collect();
        let plan = reconcile_replica(&input(3, 100, 200, tasks));
        assert_eq!((plan.start, plan.stop.len(), plan.steady), (0, 0, true));
    }

    #[test]
    fn rolling_update_with_100_200_starts_new_before_stopping_old() {
        let old: Vec<_> = (0..2).map(|i| task(&format!("o{i}"), "old", true)).collect();
        let plan = reconcile_replica(&input(2, 100, 200, old.clone()));
        assert_eq!(plan.start, 2);
        assert!(plan.stop.is_empty(), "old tasks stay until new ones are healthy");
        let mut both = old;
        both.push(task("n0", "new", true));
        both.push(task("n1", "new", false));
        let plan = reconcile_replica(&input(2, 100, 200, both));
        assert_eq!(plan.start, 0);
        assert_eq!(plan.stop.len(), 1, "one old task can go: three healthy, two needed");
    }

    #[test]
    fn scale_in_stops_unhealthy_first() {
        let tasks = vec![task("a", "new", true), task("b", "new", false), task("c", "new", true)];
        let plan = reconcile_replica(&input(2, 100, 200, tasks));
        assert_eq!(plan.stop, vec![("b".to_string(), StopWhy::Scheduler)]);
    }

    fn arb_tasks() -> impl Strategy<Value = Vec<ServiceTask>> {
        let flags = (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>());
        proptest::collection::vec((0u8..3, flags, 0u8..4), 0..12).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (dep, (stopping, running, healthy, unhealthy), protect))| ServiceTask {
                    id: format!("t{i}"),
                    deployment: ["new", "old", "older"][dep as usize].into(),
                    stopping,
                    running: (running || healthy) && !stopping,
                    healthy: healthy && !stopping,
                    unhealthy: unhealthy && !healthy,
                    scale_in_rank: (i * 7 % 5) as u32,
                    protected: protect == 0,
                })
                .collect()
        })
    }

    proptest! {
        /// Safety: no stop takes healthy tasks below the minimum (unless they already were), no
        /// running task is stopped to make room unless it is proven healthy or failed, and no
        /// start takes present tasks above the maximum (unless they already were).
        #[test]
        fn bounds_hold(desired in 0u32..8, min in 0u32..=100, extra in 0u32..=100, may_start: bool, tasks in arb_tasks()) {
            let max = (100 + extra).max(min);
            let input = ReplicaInput { desired, minimum_healthy_percent: min, maximum_percent: max, primary: "new".into(), may_start, tasks };
            let plan = reconcile_replica(&input);
            let healthy_before = input.tasks.iter().filter(|t| !t.stopping && t.healthy).count() as u32;
            let healthy_stopped = plan.stop.iter().filter(|(id, _)| input.tasks.iter().any(|t| &t.id == id && t.healthy)).count() as u32;
            let floor = minimum_healthy(desired, min);
            prop_assert!(healthy_before - healthy_stopped >= floor.min(healthy_before));
            let present = input.tasks.len() as u32;
            let ceiling = maximum_total(desired, max).max(desired.min(1));
            if plan.start > 0 {
                prop_assert!(present + plan.start <= ceiling);
            }
            for (id, why) in &plan.stop {
                let t = input.tasks.iter().find(|t| &t.id == id).expect("stopped task exists");
                if t.running && !t.healthy && *why == StopWhy::Scheduler {
                    prop_assert!(t.deployment == "new", "a young old-deployment task was stopped");
                }
            }
            // A protected task is stopped only for failed health checks.
            for (id, why) in &plan.stop {
                let t = input.tasks.iter().find(|t| &t.id == id).expect("stopped task exists");
                prop_assert!(!t.protected || *why == StopWhy::Unhealthy, "{} was protected", id);
            }
            // Never stops a task twice or one already stopping.
            let mut ids: Vec<_> = plan.stop.iter().map(|(id, _)| id.clone()).collect();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), plan.stop.len());
            for (id, _) in &plan.stop {
                prop_assert!(input.tasks.iter().any(|t| &t.id == id && !t.stopping));
            }
        }

        /// Liveness: replaying plans (starts become healthy primary tasks, stops disappear)
        /// reaches a steady state with exactly the desired count of primary tasks, whenever the
        /// bounds leave room to move (with min = max, ECS's deployments are stuck too).
        #[test]
        fn converges(desired in 0u32..8, min in 0u32..=100, extra in 0u32..=100, tasks in arb_tasks()) {
            let max = 100 + extra;
            prop_assume!(desired == 0 || maximum_total(desired, max) > minimum_healthy(desired, min));
            // Protection holds tasks back on purpose; once it expires, the service converges.
            let mut tasks: Vec<ServiceTask> =
                tasks.into_iter().map(|t| ServiceTask { protected: false, ..t }).collect();
            let mut next = 100;
            for _ in 0..50 {
                let input = ReplicaInput { desired, minimum_healthy_percent: min, maximum_percent: max, primary: "new".into(), may_start: true, tasks: tasks.clone() };
                let plan = reconcile_replica(&input);
                if plan.steady {
                    let primary = tasks.iter().filter(|t| t.deployment == "new").count() as u32;
                    prop_assert_eq!(primary, desired);
                    return Ok(());
                }
                tasks.retain(|t| !t.stopping);
                for (id, _) in &plan.stop {
                    if let Some(t) = tasks.iter_mut().find(|t| &t.id == id) {
                        t.stopping = true;
                        t.healthy = false;
                    }
                }
                for _ in 0..plan.start {
                    next += 1;
                    tasks.push(task(&format!("t{next}"), "new", true));
                }
                for t in tasks.iter_mut().filter(|t| !t.stopping && t.deployment == "new") {
                    t.running = true;
                    t.healthy = true;
                    t.unhealthy = false;
                }
                // Young old-deployment tasks get proven too, or they would wait forever.
                for t in tasks.iter_mut().filter(|t| !t.stopping && t.running) {
                    t.healthy = !t.unhealthy;
                }
            }
            prop_assert!(false, "did not converge");
        }
    }
}

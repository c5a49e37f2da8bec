//! Pure DAEMON reconciliation: one task of the primary deployment on every ACTIVE instance that
//! meets the service's `memberOf` constraints, and nothing else. The instances, their tasks,
//! the constraints and whether the primary may start go in; where to start, what to stop and
//! whether the service is steady come out. Old deployments' tasks and extra copies stop
//! (minimum healthy 0 %), and an instance gets its task only once it holds nothing else of the
//! service (maximum 100 %).

use std::collections::HashSet;

use crate::placement::{Cluster, Constraint, Probe};
use crate::service::StopWhy;
use crate::{query, InstanceView};

/// One not-yet-STOPPED task of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonTask {
    pub id: String,
    /// The instance it was placed on.
    pub instance: Option<String>,
    /// Started by the primary deployment.
    pub primary: bool,
    /// Desired RUNNING (not being stopped already).
    pub desired_running: bool,
    /// Last seen RUNNING.
    pub running: bool,
}

pub struct DaemonInput<'c, 'a> {
    pub cluster: &'c Cluster<'a>,
    /// The instance id of each position of `cluster`.
    pub ids: &'c [&'c str],
    /// The service's and its task definition's constraints (`memberOf` decide membership;
    /// `distinctInstance` always holds for one task per instance).
    pub constraints: &'c [Constraint],
    /// The service's task group (`service:<name>`): membership is judged without the daemon's
    /// own task, or `runningTasksCount == 0` would stop the task it just started.
    pub own_group: &'c str,
    /// Instances whose agent is lost: members, but nothing starts there.
    pub lost: &'c HashSet<String>,
    /// Whether the primary deployment may start tasks.
    pub may_start: bool,
    pub tasks: Vec<DaemonTask>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonPlan {
    /// Instances (ids) to start a primary task on, in id order.
    pub start_on: Vec<String>,
    pub stop: Vec<(String, StopWhy)>,
    /// Every member runs the primary's task and nothing else is left.
    pub steady: bool,
    /// How many instances the service should cover (reachable members).
    pub size: usize,
}

fn depends_on_tasks(constraint: &Constraint) -> bool {
    matches!(constraint, Constraint::MemberOf(e) if e.depends_on_tasks())
}

/// Whether instance `i` is a member: ACTIVE and meeting every `memberOf` constraint.
fn member(input: &DaemonInput<'_, '_>, i: usize) -> bool {
    let probe = input.cluster.probe(i);
    let without_own: InstanceView;
    let probe = match probe.view.groups.get(input.own_group) {
        Some(own) if input.constraints.iter().any(depends_on_tasks) => {
            let mut view = probe.view.clone();
            view.task_count = view.task_count.saturating_sub(*own);
            view.groups.remove(input.own_group);
            without_own = view;
            Probe { view: &without_own, connected: probe.connected }
        }
        _ => probe,
    };
    probe.view.active
        && input.constraints.iter().all(|c| match c {
            Constraint::MemberOf(e) => query::eval(e, &probe),
            Constraint::DistinctInstance => true,
        })
}

pub fn reconcile_daemon(input: &DaemonInput<'_, '_>) -> DaemonPlan {
    let members: HashSet<&str> =
        (0..input.cluster.len()).filter(|i| member(input, *i)).map(|i| input.ids[i]).collect();
    let mut plan = DaemonPlan::default();
    let wanted: Vec<&DaemonTask> = input.tasks.iter().filter(|t| t.desired_running).collect();
    for task in &wanted {
        if !members.contains(task.instance.as_deref().unwrap_or("")) {
            plan.stop.push((task.id.clone(), StopWhy::Scheduler));
        }
    }
    let mut targets: Vec<&str> =
        members.iter().copied().filter(|id| !input.lost.contains(*id)).collect();
    targets.sort_unstable();
    plan.size = targets.len();
    for instance in targets {
        let here: Vec<&DaemonTask> =
            input.tasks.iter().filter(|t| t.instance.as_deref() == Some(instance)).collect();
        let primaries: Vec<&&DaemonTask> =
            here.iter().filter(|t| t.desired_running && t.primary).collect();
        for old in here.iter().filter(|t| t.desired_running && !t.primary) {
            plan.stop.push((old.id.clone(), StopWhy::Scheduler));
        }
        for extra in primaries.iter().skip(1) {
            plan.stop.push((extra.id.clone(), StopWhy::Scheduler));
        }
        if here.is_empty() && input.may_start {
            plan.start_on.push(instance.to_string());
        }
    }
    plan.steady = plan.start_on.is_empty()
        && plan.stop.is_empty()
        && input.tasks.iter().all(|t| t.desired_running && t.running && t.primary);
    plan
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::query;

    fn instance(active: bool, zone: &str, tasks: usize) -> InstanceView {
        InstanceView {
            active,
            attributes: BTreeMap::from([("ecs.availability-zone".to_string(), zone.to_string())]),
            task_count: tasks,
            ..InstanceView::default()
        }
    }

    fn task(id: &str, on: &str, primary: bool) -> DaemonTask {
        DaemonTask {
            id: id.into(),
            instance: Some(on.into()),
            primary,
            desired_running: true,
            running: true,
        }
    }

    fn plan(
        views: &[InstanceView],
        constraints: &[Constraint],
        tasks: Vec<DaemonTask>,
    ) -> DaemonPlan {
        let cluster = Cluster::new(views);
        let ids: Vec<&str> = ["a", "b", "c", "d"][..views.len()].to_vec();
        let lost = HashSet::new();
        reconcile_daemon(&DaemonInput {
            cluster: &cluster,
            ids: &ids,
            constraints,
            own_group: "service:d",
            lost: &lost,
            may_start: true,
            tasks,
        })
    }

    #[test]
    fn one_task_per_active_member_and_nothing_else() {
        let views = [instance(true, "z1", 0), instance(false, "z1", 0), instance(true, "z2", 0)];
        let zone = query::parse("attribute:ecs.availability-zone == z1").expect("expression");
        let everywhere = plan(&views, &[], Vec::new());
        assert_eq!(everywhere.start_on, ["a", "c"], "inactive instances get nothing");
        assert_eq!(everywhere.size, 2);
        let in_z1 = plan(&views, &[Constraint::MemberOf(zone)], vec![task("t", "c", true)]);
        assert_eq!(in_z1.start_on, ["a"]);
        assert_eq!(in_z1.stop, [("t".to_string(), StopWhy::Scheduler)], "outside the zone");
    }

    #[test]
    fn old_and_extra_tasks_go_before_a_new_one_starts() {
        let views = [instance(true, "z", 2), instance(true, "z", 2)];
        let tasks = vec![task("old", "a", false), task("p1", "b", true), task("p2", "b", true)];
        let plan = plan(&views, &[], tasks);
        assert_eq!(plan.start_on, Vec::<String>::new(), "a waits for its old task to go");
        assert!(plan.stop.contains(&("old".into(), StopWhy::Scheduler)));
        assert!(plan.stop.contains(&("p2".into(), StopWhy::Scheduler)));
        assert!(!plan.steady);
    }

    #[test]
    fn its_own_task_does_not_count_against_a_task_count_constraint() {
        let mut views = [instance(true, "z", 1)];
        views[0].groups.insert("service:d".into(), 1);
        let empty = query::parse("runningTasksCount == 0").expect("expression");
        let plan = plan(&views, &[Constraint::MemberOf(empty)], vec![task("t", "a", true)]);
        assert!(plan.stop.is_empty(), "{plan:?}");
        assert!(plan.steady);
    }
}

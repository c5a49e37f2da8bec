//! Between the API and the pure placement engine: a cluster's snapshot as the scheduler sees it
//! (read through a change's staged view, so placements earlier in the same commit count), and
//! the API's placement constraints and strategies checked and parsed.

use flotilla_api::agent::FARGATE_POOL;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use flotilla_api::service::{PlacementConstraint, PlacementStrategy};
use flotilla_api::status::InstanceStatus;
use flotilla_api::taskdef::TaskDefinition;
use flotilla_api::ApiError;
use flotilla_scheduler::placement::{MAX_CONSTRAINTS, MAX_STRATEGIES};
use flotilla_scheduler::query::{Expr, Operator, Subject};
use flotilla_scheduler::{Cluster, Constraint, Strategy};

use crate::state::views::{self, instance_view, ClusterViews};
use crate::state::{instance_key, task_prefix, InstanceRecord, Record, Staged};

/// A cluster ready for the engine: the state's shared views (never copied whole), overlaid
/// by what this commit has staged so far.
pub struct Snapshot<'s> {
    pub cluster: Cluster<'s>,
    views: &'s ClusterViews,
}

impl Snapshot<'_> {
    /// The instance id at position `i`.
    pub fn id(&self, i: usize) -> &str {
        &self.cluster.view(i).id
    }

    pub fn position(&self, instance_id: &str) -> Option<usize> {
        self.views.position(instance_id)
    }
}

static NO_INSTANCES: std::sync::LazyLock<ClusterViews> =
    std::sync::LazyLock::new(ClusterViews::default);

/// Reads a cluster for placement. Instances in `unreachable` count as disconnected even if a
/// connection is still open (lost agents). Instances registered in this very commit are not
/// candidates yet (they are from the next one).
pub fn snapshot<'s>(
    staged: &Staged<'s>,
    cluster: &str,
    connected: &Arc<HashSet<String>>,
    unreachable: &HashSet<String>,
) -> Snapshot<'s> {
    let state = staged.state();
    let views = state.placement.get(cluster).unwrap_or(&NO_INSTANCES);
    let generation = state.instance_change_of(cluster);
    let reachable = if unreachable.is_empty() {
        reachable_cached(cluster, generation, views, connected)
    } else {
        Arc::new(reachability(views, connected, unreachable))
    };
    let mut snapshot =
        Snapshot { cluster: Cluster::with_connected(&views.views, reachable), views };
    // Instances changed in this commit: their views afresh, with the staged tasks.
    let mut rebuilt = HashSet::new();
    for (key, record) in staged.pending(&instance_key(cluster, "")) {
        let id = key.rsplit('/').next().unwrap_or_default();
        let Some(n) = snapshot.position(id) else { continue };
        let view = snapshot.cluster.view_mut(n);
        match record {
            Some(Record::Instance(i)) if i.instance.status != InstanceStatus::Inactive => {
                let tasks = staged.tasks_on(cluster, id);
                *view = instance_view(i, connected, tasks.iter());
            }
            _ => view.active = false,
        }
        rebuilt.insert(n);
    }
    // Tasks changed in this commit: give back what the committed version held, book the new.
    // (The Fargate capacity runs tasks of every cluster.)
    let tasks = if cluster == FARGATE_POOL { task_prefix("") } else { task_prefix(cluster) };
    for (key, record) in staged.pending(&tasks) {
        let mut parts = key.rsplit('/');
        let id = parts.next().unwrap_or_default();
        let task_cluster = parts.next().unwrap_or_default();
        let committed = state.tasks.get(&(task_cluster.to_string(), id.to_string()));
        let staged_task = match record {
            Some(Record::Task(t)) => Some(&**t),
            _ => None,
        };
        for (task, book) in [(committed, false), (staged_task, true)] {
            let Some(task) = task else { continue };
            let Some(n) = task.instance_id.as_deref().and_then(|i| snapshot.position(i)) else {
                continue;
            };
            if !rebuilt.contains(&n) {
                views::account(snapshot.cluster.view_mut(n), task, book);
            }
        }
    }
    snapshot
}

fn reachability(
    views: &ClusterViews,
    connected: &HashSet<String>,
    unreachable: &HashSet<String>,
) -> Vec<bool> {
    views.views.iter().map(|v| connected.contains(&v.id) && !unreachable.contains(&v.id)).collect()
}

/// Which of a cluster's instances are reachable, for one set of connected agents and one
/// arrangement of the cluster's views.
struct Reachable {
    cluster: String,
    generation: u64,
    connected: Arc<HashSet<String>>,
    reachable: Arc<Vec<bool>>,
}

/// The last answer: the same while no agent comes or goes and no instance changes, so RunTask
/// storms do not hash every instance id on every call.
static LAST_REACHABLE: Mutex<Option<Reachable>> = Mutex::new(None);

fn reachable_cached(
    cluster: &str,
    generation: u64,
    views: &ClusterViews,
    connected: &Arc<HashSet<String>>,
) -> Arc<Vec<bool>> {
    let mut last = LAST_REACHABLE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = last.as_ref() {
        if r.cluster == cluster
            && r.generation == generation
            && Arc::ptr_eq(&r.connected, connected)
        {
            return Arc::clone(&r.reachable);
        }
    }
    let reachable = Arc::new(reachability(views, connected, &HashSet::new()));
    *last = Some(Reachable {
        cluster: cluster.to_string(),
        generation,
        connected: Arc::clone(connected),
        reachable: Arc::clone(&reachable),
    });
    reachable
}

/// An instance record as this commit sees it.
pub fn record_of(staged: &Staged<'_>, cluster: &str, instance_id: &str) -> Option<InstanceRecord> {
    match staged.get(&instance_key(cluster, instance_id)) {
        Some(Record::Instance(i)) => Some(*i),
        _ => None,
    }
}

/// The request's constraints plus the task definition's own (at most 10 together).
pub fn constraints(
    requested: &[PlacementConstraint],
    definition: Option<&TaskDefinition>,
) -> Result<Vec<Constraint>, ApiError> {
    let own = definition.and_then(|d| d.placement_constraints.as_deref()).unwrap_or_default();
    if requested.len() + own.len() > MAX_CONSTRAINTS {
        return Err(ApiError::invalid(format!(
            "too many placement constraints: {} given with the task definition's {}, at most {MAX_CONSTRAINTS} allowed",
            requested.len(),
            own.len()
        )));
    }
    let given = requested.iter().map(|c| (c.constraint_type.as_deref(), c.expression.as_deref()));
    let inherited = own.iter().map(|c| (c.constraint_type.as_deref(), c.expression.as_deref()));
    let mut parsed = given
        .chain(inherited)
        .enumerate()
        .map(|(n, (kind, expression))| {
            let kind = kind.ok_or_else(|| {
                ApiError::invalid(format!("placementConstraints[{n}]: type is required"))
            })?;
            Constraint::parse(kind, expression)
                .map_err(|e| ApiError::invalid(format!("placementConstraints[{n}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    parsed.extend(definition.and_then(architecture_constraint));
    Ok(parsed)
}

/// The constraint a definition's `runtimePlatform.cpuArchitecture` implies: only hosts of
/// that architecture (as their agents announce `ecs.cpu-architecture`: x86_64, arm64).
fn architecture_constraint(definition: &TaskDefinition) -> Option<Constraint> {
    let wanted = definition.runtime_platform.as_ref()?.cpu_architecture.as_deref()?;
    Some(Constraint::MemberOf(Expr::Clause(
        Subject::Attribute(ARCHITECTURE_ATTRIBUTE.to_string()),
        Operator::In(vec![wanted.to_ascii_lowercase()]),
    )))
}

/// The attribute agents announce their machine's architecture in.
const ARCHITECTURE_ATTRIBUTE: &str = "ecs.cpu-architecture";

/// The requested strategies (at most 5), or `default` when none are given.
pub fn strategies(
    requested: &[PlacementStrategy],
    default: fn() -> Vec<Strategy>,
) -> Result<Vec<Strategy>, ApiError> {
    if requested.len() > MAX_STRATEGIES {
        return Err(ApiError::invalid(format!(
            "too many placement strategies: {} given, at most {MAX_STRATEGIES} allowed",
            requested.len()
        )));
    }
    if requested.is_empty() {
        return Ok(default());
    }
    requested
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let kind = s.strategy_type.as_deref().ok_or_else(|| {
                ApiError::invalid(format!("placementStrategy[{n}]: type is required"))
            })?;
            Strategy::parse(kind, s.field.as_deref())
                .map_err(|e| ApiError::invalid(format!("placementStrategy[{n}]: {e}")))
        })
        .collect()
}

/// A fresh seed for `random` placement.
pub fn seed() -> u64 {
    fastrand::u64(..)
}

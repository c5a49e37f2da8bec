//! Between the API and the pure placement engine: a cluster's snapshot as the scheduler sees it
//! (read through a change's staged view, so placements earlier in the same commit count), and
//! the API's placement constraints and strategies checked and parsed.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use flotilla_api::service::{PlacementConstraint, PlacementStrategy};
use flotilla_api::taskdef::TaskDefinition;
use flotilla_api::ApiError;
use flotilla_scheduler::placement::{MAX_CONSTRAINTS, MAX_STRATEGIES};
use flotilla_scheduler::{Constraint, InstanceView, Strategy};

use crate::state::{instance_key, InstanceRecord, Record, Staged, TaskRecord};

/// The instances of a cluster (not deregistered) and their views, index for index.
pub struct Snapshot {
    pub records: Vec<InstanceRecord>,
    pub views: Vec<InstanceView>,
}

/// Reads a cluster for placement in one sweep over its instances and tasks. Instances in
/// `unreachable` count as disconnected even if a connection is still open (lost agents).
pub fn snapshot(
    staged: &Staged<'_>,
    cluster: &str,
    connected: &HashSet<String>,
    unreachable: &HashSet<String>,
) -> Snapshot {
    let records: Vec<InstanceRecord> = staged
        .state()
        .instances
        .range((cluster.to_string(), String::new())..)
        .take_while(|((c, _), _)| c == cluster)
        .filter_map(|((c, id), _)| match staged.get(&instance_key(c, id)) {
            Some(Record::Instance(i)) => Some(*i),
            _ => None,
        })
        .filter(|i| i.instance.status != "INACTIVE")
        .collect();
    let mut views: Vec<InstanceView> = records
        .iter()
        .map(|r| {
            let mut view = empty_view(r, connected);
            view.agent_connected &= !unreachable.contains(&r.id);
            view
        })
        .collect();
    let position: BTreeMap<&str, usize> =
        records.iter().enumerate().map(|(n, r)| (r.id.as_str(), n)).collect();
    for task in staged.tasks_in(cluster) {
        let Some(n) = task.instance_id.as_deref().and_then(|id| position.get(id)) else {
            continue;
        };
        book(&mut views[*n], task);
    }
    Snapshot { records, views }
}

/// One instance's view given the tasks placed on it (any status; stopped ones hold nothing).
pub fn instance_view<'t>(
    instance: &InstanceRecord,
    connected: &HashSet<String>,
    tasks: impl Iterator<Item = &'t TaskRecord>,
) -> InstanceView {
    let mut view = empty_view(instance, connected);
    for task in tasks {
        book(&mut view, task);
    }
    view
}

fn book(view: &mut InstanceView, task: &TaskRecord) {
    if task.task.last_status != "STOPPED" {
        let group = task.task.group.as_deref().unwrap_or_default();
        flotilla_scheduler::reserve(view, &task.reservation.demand(), group);
    }
}

/// An instance's view with nothing placed on it.
fn empty_view(instance: &InstanceRecord, connected: &HashSet<String>) -> InstanceView {
    let resources = &instance.instance.registered_resources;
    let registered = |name: &str| {
        resources.iter().find(|r| r.name == name).map_or(0, |r| i64::from(r.integer_value))
    };
    let reserved_ports = |name: &str| -> BTreeSet<u16> {
        resources
            .iter()
            .find(|r| r.name == name)
            .and_then(|r| r.string_set_value.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    InstanceView {
        id: instance.id.clone(),
        active: instance.instance.status == "ACTIVE",
        agent_connected: connected.contains(&instance.id),
        remaining_cpu: registered("CPU"),
        remaining_memory: registered("MEMORY"),
        used_tcp_ports: reserved_ports("PORTS"),
        used_udp_ports: reserved_ports("PORTS_UDP"),
        task_count: 0,
        groups: BTreeMap::new(),
        attributes: instance
            .instance
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.value.clone().unwrap_or_default()))
            .collect(),
        agent_version: instance.instance.version_info.agent_version.clone(),
        registered_at: instance.instance.registered_at,
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
    given
        .chain(inherited)
        .enumerate()
        .map(|(n, (kind, expression))| {
            let kind = kind.ok_or_else(|| {
                ApiError::invalid(format!("placementConstraints[{n}]: type is required"))
            })?;
            Constraint::parse(kind, expression)
                .map_err(|e| ApiError::invalid(format!("placementConstraints[{n}]: {e}")))
        })
        .collect()
}

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

//! Placement's view of every instance, kept up to date as commits apply (so placing a task
//! reads a cluster without copying it or walking its tasks).

use flotilla_api::status::InstanceStatus;
use flotilla_api::task::TaskStatus;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use flotilla_scheduler::InstanceView;

use super::{InstanceRecord, TaskRecord};

/// The views of one cluster's instances (not deregistered), with their positions by id.
#[derive(Debug, Default)]
pub struct ClusterViews {
    pub views: Vec<InstanceView>,
    index: HashMap<String, usize>,
}

impl ClusterViews {
    pub fn position(&self, instance_id: &str) -> Option<usize> {
        self.index.get(instance_id).copied()
    }

    pub fn upsert(&mut self, view: InstanceView) {
        match self.index.get(&view.id) {
            Some(n) => self.views[*n] = view,
            None => {
                self.index.insert(view.id.clone(), self.views.len());
                self.views.push(view);
            }
        }
    }

    pub fn remove(&mut self, instance_id: &str) {
        let Some(n) = self.index.remove(instance_id) else { return };
        self.views.swap_remove(n);
        if let Some(moved) = self.views.get(n) {
            self.index.insert(moved.id.clone(), n);
        }
    }

    /// Books (`true`) or gives back (`false`) what `task` holds on its instance, if it holds
    /// anything: placed and not STOPPED.
    pub fn account(&mut self, task: &TaskRecord, book: bool) {
        let Some(n) = task.instance_id.as_deref().and_then(|id| self.position(id)) else {
            return;
        };
        account(&mut self.views[n], task, book);
    }
}

/// Books or gives back `task`'s reservation on `view` when the task holds one.
pub fn account(view: &mut InstanceView, task: &TaskRecord, book: bool) {
    if task.task.last_status == TaskStatus::Stopped {
        return;
    }
    let group = task.task.group.as_deref().unwrap_or_default();
    let demand = task.reservation.demand();
    if book {
        flotilla_scheduler::reserve(view, &demand, group);
    } else {
        flotilla_scheduler::unreserve(view, &demand, group);
    }
}

/// One instance's view given the tasks placed on it (any status; stopped ones hold nothing).
pub fn instance_view<'t>(
    instance: &InstanceRecord,
    connected: &HashSet<String>,
    tasks: impl Iterator<Item = &'t TaskRecord>,
) -> InstanceView {
    let mut view = empty_view(instance, connected.contains(&instance.id));
    for task in tasks {
        account(&mut view, task, true);
    }
    view
}

/// An instance's view with nothing placed on it.
fn empty_view(instance: &InstanceRecord, connected: bool) -> InstanceView {
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
        ec2_instance_id: instance.instance.ec2_instance_id.clone(),
        active: instance.instance.status == InstanceStatus::Active,
        agent_connected: connected,
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

#[cfg(test)]
#[path = "views_tests.rs"]
mod tests;

//! Pure placement logic: a snapshot of a cluster's instances and a request go in, placements
//! (or ECS's failure reasons) come out. No IO, no clock, no async; randomness comes from a seed.
//!
//! - [`fits`]/[`reserve`]: resource accounting (CPU, memory, TCP and UDP host ports);
//! - [`query`]: the cluster query language of `memberOf` constraints and filters;
//! - [`placement`]: constraints and strategies (binpack, spread, random) over many instances;
//! - [`service`]: what a REPLICA service's reconciliation starts and stops;
//! - [`daemon`]: what a DAEMON service's reconciliation starts (on which instance) and stops.

pub mod daemon;
pub mod placement;
pub mod query;
pub mod service;

use std::collections::{BTreeMap, BTreeSet};

pub use placement::{place, Cluster, Constraint, Request, Strategy};

/// One instance as placement sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceView {
    /// The container instance id.
    pub id: String,
    /// The machine's id (the agent's host id), for `ec2InstanceId` in expressions.
    pub ec2_instance_id: String,
    /// ACTIVE (not DRAINING, not deregistered).
    pub active: bool,
    pub agent_connected: bool,
    pub remaining_cpu: i64,
    pub remaining_memory: i64,
    pub used_tcp_ports: BTreeSet<u16>,
    pub used_udp_ports: BTreeSet<u16>,
    /// Tasks on the instance that are not stopped.
    pub task_count: usize,
    /// How many of those tasks each group has (`service:web`, `family:batch`, ...).
    pub groups: BTreeMap<String, usize>,
    pub attributes: BTreeMap<String, String>,
    pub agent_version: Option<String>,
    /// Seconds since the epoch.
    pub registered_at: f64,
}

impl query::Facts for InstanceView {
    fn agent_connected(&self) -> bool {
        self.agent_connected
    }
    fn agent_version(&self) -> Option<&str> {
        self.agent_version.as_deref()
    }
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }
    fn ec2_instance_id(&self) -> &str {
        &self.ec2_instance_id
    }
    fn registered_at(&self) -> f64 {
        self.registered_at
    }
    fn running_tasks_count(&self) -> usize {
        self.task_count
    }
    fn task_groups(&self) -> &BTreeMap<String, usize> {
        &self.groups
    }
}

/// What one task needs from an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demand {
    pub cpu: i64,
    pub memory: i64,
    /// Static host ports (dynamic ones are chosen on the instance).
    pub tcp_ports: Vec<u16>,
    pub udp_ports: Vec<u16>,
}

/// Why a task could not be placed, as ECS words it in `failures[].reason`; in ECS's check
/// order (agent, resources, constraints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Agent,
    Cpu,
    Memory,
    Ports,
    PortsUdp,
    MemberOf,
    DistinctInstance,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::Agent,
        Reason::Cpu,
        Reason::Memory,
        Reason::Ports,
        Reason::PortsUdp,
        Reason::MemberOf,
        Reason::DistinctInstance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Agent => "AGENT",
            Reason::Cpu => "RESOURCE:CPU",
            Reason::Memory => "RESOURCE:MEMORY",
            Reason::Ports => "RESOURCE:PORTS",
            Reason::PortsUdp => "RESOURCE:PORTS_UDP",
            Reason::MemberOf => "MemberOf placement constraint unsatisfied.",
            Reason::DistinctInstance => "DistinctInstance placement constraint unsatisfied.",
        }
    }
}

/// Whether `demand` fits on `instance` (its agent connected, its resources free), and if not,
/// the first reason it does not.
pub fn fits(instance: &InstanceView, demand: &Demand) -> Result<(), Reason> {
    if !instance.agent_connected {
        return Err(Reason::Agent);
    }
    fits_resources(instance, demand)
}

/// Whether `demand` fits on `instance`'s free resources.
pub fn fits_resources(instance: &InstanceView, demand: &Demand) -> Result<(), Reason> {
    if demand.cpu > instance.remaining_cpu {
        return Err(Reason::Cpu);
    }
    if demand.memory > instance.remaining_memory {
        return Err(Reason::Memory);
    }
    if demand.tcp_ports.iter().any(|p| instance.used_tcp_ports.contains(p)) {
        return Err(Reason::Ports);
    }
    if demand.udp_ports.iter().any(|p| instance.used_udp_ports.contains(p)) {
        return Err(Reason::PortsUdp);
    }
    Ok(())
}

/// Gives back what `reserve` booked (a task stopped or moved).
pub fn unreserve(instance: &mut InstanceView, demand: &Demand, group: &str) {
    instance.remaining_cpu += demand.cpu;
    instance.remaining_memory += demand.memory;
    for port in &demand.tcp_ports {
        instance.used_tcp_ports.remove(port);
    }
    for port in &demand.udp_ports {
        instance.used_udp_ports.remove(port);
    }
    instance.task_count = instance.task_count.saturating_sub(1);
    if let Some(n) = instance.groups.get_mut(group) {
        *n -= 1;
        if *n == 0 {
            instance.groups.remove(group);
        }
    }
}

/// Books a task of `group` with `demand` on `instance` (after `fits` said yes).
pub fn reserve(instance: &mut InstanceView, demand: &Demand, group: &str) {
    instance.remaining_cpu -= demand.cpu;
    instance.remaining_memory -= demand.memory;
    instance.used_tcp_ports.extend(demand.tcp_ports.iter().copied());
    instance.used_udp_ports.extend(demand.udp_ports.iter().copied());
    instance.task_count += 1;
    match instance.groups.get_mut(group) {
        Some(n) => *n += 1,
        None => {
            instance.groups.insert(group.to_string(), 1);
        }
    }
}

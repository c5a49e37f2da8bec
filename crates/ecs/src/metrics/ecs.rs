//! The `AWS/ECS` figures, computed as ECS documents them, from the state and the latest
//! samples. Pure: the caller passes the clock and the samples.
//!
//! - Service `CPUUtilization` / `MemoryUtilization` (ClusterName + ServiceName): CPU units (MiB)
//!   used by the service's RUNNING tasks × 100 / CPU units (MiB) those tasks reserve. Tasks that
//!   reserve no CPU (memory) are left out of that figure. Minimum and Maximum are the least and
//!   most loaded task's own percentage.
//! - Cluster `CPUUtilization` / `MemoryUtilization` (ClusterName): used by the cluster's RUNNING
//!   tasks × 100 / registered by its ACTIVE and DRAINING container instances.
//! - Cluster `CPUReservation` / `MemoryReservation`: reserved by the tasks placed on those
//!   instances (every task not STOPPED holds its reservation, as `remainingResources` shows)
//!   × 100 / registered.
//!
//! ECS publishes a resource's figures only while it has RUNNING tasks; so does this.

use std::collections::BTreeMap;

use super::samples::TaskSample;
use crate::state::{State, TaskRecord};
use flotilla_api::datapoint::{SeriesKey, StatSet};
use flotilla_api::status::InstanceStatus;
use flotilla_api::task::TaskStatus;

pub const CPU_UTILIZATION: &str = "CPUUtilization";
pub const MEMORY_UTILIZATION: &str = "MemoryUtilization";
pub const CPU_RESERVATION: &str = "CPUReservation";
pub const MEMORY_RESERVATION: &str = "MemoryReservation";
pub const CLUSTER_NAME: &str = "ClusterName";
pub const SERVICE_NAME: &str = "ServiceName";

const MIB: f64 = 1024.0 * 1024.0;

/// Used against reserved (or registered) over a set of tasks, with each task's own percentage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub used: f64,
    pub capacity: f64,
    pub per_task: Vec<f64>,
}

impl Usage {
    fn add(&mut self, used: f64, capacity: f64) {
        self.used += used;
        self.capacity += capacity;
        self.per_task.push(100.0 * used / capacity);
    }

    /// The percentage: 100 × used / capacity; `None` when nothing was measured.
    pub fn percent(&self) -> Option<f64> {
        (self.capacity > 0.0 && !self.per_task.is_empty())
            .then(|| 100.0 * self.used / self.capacity)
    }

    /// One tick's statistic set: the percentage counted once per task (so Average is the
    /// percentage whatever the tick count), Minimum and Maximum the extreme tasks.
    pub fn stat_set(&self) -> Option<StatSet> {
        let percent = self.percent()?;
        let n = self.per_task.len() as f64;
        Some(StatSet {
            sum: percent * n,
            count: n,
            min: self.per_task.iter().copied().fold(f64::INFINITY, f64::min),
            max: self.per_task.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceFigures {
    pub cluster: String,
    pub service: String,
    pub running_tasks: usize,
    pub cpu: Usage,
    pub memory: Usage,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterFigures {
    pub cluster: String,
    pub running_tasks: usize,
    pub registered_cpu: f64,
    pub registered_memory_mib: f64,
    pub reserved_cpu: f64,
    pub reserved_memory_mib: f64,
    pub used_cpu: f64,
    pub used_memory_mib: f64,
    /// Tasks with a fresh sample.
    pub measured_tasks: usize,
}

impl ClusterFigures {
    pub fn cpu_utilization(&self) -> Option<f64> {
        ratio(self.used_cpu, self.registered_cpu).filter(|_| self.measured_tasks > 0)
    }
    pub fn memory_utilization(&self) -> Option<f64> {
        ratio(self.used_memory_mib, self.registered_memory_mib).filter(|_| self.measured_tasks > 0)
    }
    pub fn cpu_reservation(&self) -> Option<f64> {
        ratio(self.reserved_cpu, self.registered_cpu)
    }
    pub fn memory_reservation(&self) -> Option<f64> {
        ratio(self.reserved_memory_mib, self.registered_memory_mib)
    }
}

fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| 100.0 * part / whole)
}

/// Every service's and cluster's figures at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub services: Vec<ServiceFigures>,
    pub clusters: Vec<ClusterFigures>,
}

/// Computes the figures from the state and the fresh samples.
pub fn compute(state: &State, fresh: &[TaskSample]) -> Figures {
    let samples: BTreeMap<(&str, &str), &TaskSample> =
        fresh.iter().map(|s| ((s.cluster.as_str(), s.task_id.as_str()), s)).collect();
    let sample_of =
        |task: &TaskRecord| samples.get(&(task.cluster.as_str(), task.id.as_str())).copied();

    let services = state
        .services
        .values()
        .map(|svc| {
            let mut figures = ServiceFigures {
                cluster: svc.cluster.clone(),
                service: svc.name.clone(),
                ..ServiceFigures::default()
            };
            let group = format!("service:{}", svc.name);
            for task in state.tasks_of_group(&svc.cluster, &group) {
                if task.task.last_status != TaskStatus::Running {
                    continue;
                }
                figures.running_tasks += 1;
                let Some(sample) = sample_of(task) else { continue };
                if task.reservation.cpu > 0 {
                    figures.cpu.add(sample.cpu_units, task.reservation.cpu as f64);
                }
                if task.reservation.memory > 0 {
                    figures
                        .memory
                        .add(sample.memory_bytes as f64 / MIB, task.reservation.memory as f64);
                }
            }
            figures
        })
        .collect();

    let mut clusters: BTreeMap<&str, ClusterFigures> = state
        .clusters
        .keys()
        .map(|name| {
            (name.as_str(), ClusterFigures { cluster: name.clone(), ..ClusterFigures::default() })
        })
        .collect();
    for task in state.tasks.values() {
        if task.task.last_status != TaskStatus::Running {
            continue;
        }
        let Some(figures) = clusters.get_mut(task.cluster.as_str()) else { continue };
        figures.running_tasks += 1;
        if let Some(sample) = sample_of(task) {
            figures.measured_tasks += 1;
            figures.used_cpu += sample.cpu_units;
            figures.used_memory_mib += sample.memory_bytes as f64 / MIB;
        }
    }
    for (name, views) in &state.placement {
        let Some(figures) = clusters.get_mut(name.as_str()) else { continue };
        for view in &views.views {
            let Some(instance) = state.instances.get(&(name.clone(), view.id.clone())) else {
                continue;
            };
            if !matches!(
                instance.instance.status,
                InstanceStatus::Active | InstanceStatus::Draining
            ) {
                continue;
            }
            let registered = |resource: &str| {
                instance
                    .instance
                    .registered_resources
                    .iter()
                    .find(|r| r.name == resource)
                    .map_or(0.0, |r| f64::from(r.integer_value))
            };
            let (cpu, memory) = (registered("CPU"), registered("MEMORY"));
            figures.registered_cpu += cpu;
            figures.registered_memory_mib += memory;
            figures.reserved_cpu += (cpu - view.remaining_cpu as f64).max(0.0);
            figures.reserved_memory_mib += (memory - view.remaining_memory as f64).max(0.0);
        }
    }
    Figures { services, clusters: clusters.into_values().collect() }
}

/// What one tick records: the `AWS/ECS` datapoints of every service and cluster that has
/// RUNNING tasks.
pub fn datapoints(figures: &Figures) -> Vec<(SeriesKey, StatSet)> {
    let mut out = Vec::new();
    for svc in figures.services.iter().filter(|s| s.running_tasks > 0) {
        let dims = [(CLUSTER_NAME, svc.cluster.as_str()), (SERVICE_NAME, svc.service.as_str())];
        if let Some(set) = svc.cpu.stat_set() {
            out.push((SeriesKey::new(CPU_UTILIZATION, dims), set));
        }
        if let Some(set) = svc.memory.stat_set() {
            out.push((SeriesKey::new(MEMORY_UTILIZATION, dims), set));
        }
    }
    for cluster in figures.clusters.iter().filter(|c| c.running_tasks > 0) {
        let dims = [(CLUSTER_NAME, cluster.cluster.as_str())];
        let values = [
            (CPU_UTILIZATION, cluster.cpu_utilization()),
            (MEMORY_UTILIZATION, cluster.memory_utilization()),
            (CPU_RESERVATION, cluster.cpu_reservation()),
            (MEMORY_RESERVATION, cluster.memory_reservation()),
        ];
        for (metric, value) in values {
            if let Some(value) = value {
                out.push((SeriesKey::new(metric, dims), StatSet::one(value)));
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "ecs_tests.rs"]
mod tests;

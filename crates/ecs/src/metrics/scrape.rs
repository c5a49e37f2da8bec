//! ECS's part of `GET /metrics`, each sample labelled with its region: the figures as of now
//! (computed at scrape time from the state and the fresh samples), each task's latest sample,
//! and task, instance and agent counts.

use flotilla_api::task::TaskStatus;
use std::collections::BTreeMap;

use flotilla_front::exposition::{Exposition, Kind};

use super::ecs::{self, Figures};
use super::samples::TaskSample;
use crate::App;

/// Counts read from the state in the same pass as the figures.
struct Counts {
    tasks: BTreeMap<(String, String), u64>,
    instances: BTreeMap<(String, String), u64>,
}

/// One region's figures, counts and live samples, read in one pass.
struct Snapshot<'a> {
    region: &'a str,
    figures: Figures,
    counts: Counts,
    live: Vec<TaskSample>,
    agents: usize,
}

/// Writes ECS's metrics of every region in `apps` into `text`: each family once, its samples
/// labelled with their `region`.
pub fn write_prometheus(apps: &[&App], text: &mut Exposition) {
    let snapshots: Vec<Snapshot<'_>> =
        apps.iter().map(|app| snapshot(app, app.clock.epoch_seconds())).collect();
    write_figures(text, &snapshots);
    write_tasks(text, &snapshots);
    write_counts(text, &snapshots);
}

fn snapshot(app: &App, now: f64) -> Snapshot<'_> {
    let fresh = app.metrics.fresh_samples(now);
    let state = app.state.read();
    let figures = ecs::compute(&state, &fresh);
    let mut counts = Counts { tasks: BTreeMap::new(), instances: BTreeMap::new() };
    for task in state.tasks.values() {
        *counts
            .tasks
            .entry((task.cluster.clone(), task.task.last_status.to_string()))
            .or_default() += 1;
    }
    for instance in state.instances.values() {
        *counts
            .instances
            .entry((instance.cluster.clone(), instance.instance.status.to_string()))
            .or_default() += 1;
    }
    // Samples of tasks that are gone or stopped are not shown.
    let live: Vec<TaskSample> = fresh
        .into_iter()
        .filter(|s| {
            state
                .tasks
                .get(&(s.cluster.clone(), s.task_id.clone()))
                .is_some_and(|t| t.task.last_status != TaskStatus::Stopped)
        })
        .collect();
    drop(state);
    Snapshot {
        region: &app.scope.region,
        figures,
        counts,
        live,
        agents: app.agents.connected_ids().len(),
    }
}

fn write_figures(text: &mut Exposition, snapshots: &[Snapshot<'_>]) {
    type ServiceValue = fn(&ecs::ServiceFigures) -> Option<f64>;
    let services: [(&str, &str, ServiceValue); 2] = [
        (
            "flotilla_service_cpu_utilization_percent",
            "CPU units used by the service's running tasks x 100 / CPU units they reserve (ECS CPUUtilization).",
            |s| s.cpu.percent(),
        ),
        (
            "flotilla_service_memory_utilization_percent",
            "Memory used by the service's running tasks x 100 / memory they reserve (ECS MemoryUtilization).",
            |s| s.memory.percent(),
        ),
    ];
    for (name, help, value) in services {
        text.header(name, Kind::Gauge, help);
        for snapshot in snapshots {
            for svc in &snapshot.figures.services {
                if let Some(v) = value(svc) {
                    let labels = [
                        ("region", snapshot.region),
                        ("cluster", &svc.cluster),
                        ("service", &svc.service),
                    ];
                    text.sample(name, &labels, v);
                }
            }
        }
    }
    text.header(
        "flotilla_service_running_tasks",
        Kind::Gauge,
        "The service's tasks in RUNNING state.",
    );
    for snapshot in snapshots {
        for svc in &snapshot.figures.services {
            let labels =
                [("region", snapshot.region), ("cluster", &svc.cluster), ("service", &svc.service)];
            text.sample("flotilla_service_running_tasks", &labels, svc.running_tasks as f64);
        }
    }
    type ClusterValue = fn(&ecs::ClusterFigures) -> Option<f64>;
    let clusters: [(&str, &str, ClusterValue); 4] = [
        (
            "flotilla_cluster_cpu_utilization_percent",
            "CPU units used by the cluster's running tasks x 100 / CPU units registered by its ACTIVE and DRAINING instances (ECS CPUUtilization).",
            ecs::ClusterFigures::cpu_utilization,
        ),
        (
            "flotilla_cluster_memory_utilization_percent",
            "Memory used by the cluster's running tasks x 100 / memory registered by its ACTIVE and DRAINING instances (ECS MemoryUtilization).",
            ecs::ClusterFigures::memory_utilization,
        ),
        (
            "flotilla_cluster_cpu_reservation_percent",
            "CPU units reserved by tasks x 100 / CPU units registered by the cluster's ACTIVE and DRAINING instances (ECS CPUReservation).",
            ecs::ClusterFigures::cpu_reservation,
        ),
        (
            "flotilla_cluster_memory_reservation_percent",
            "Memory reserved by tasks x 100 / memory registered by the cluster's ACTIVE and DRAINING instances (ECS MemoryReservation).",
            ecs::ClusterFigures::memory_reservation,
        ),
    ];
    for (name, help, value) in clusters {
        text.header(name, Kind::Gauge, help);
        for snapshot in snapshots {
            for cluster in &snapshot.figures.clusters {
                if let Some(v) = value(cluster) {
                    text.sample(
                        name,
                        &[("region", snapshot.region), ("cluster", &cluster.cluster)],
                        v,
                    );
                }
            }
        }
    }
}

fn write_tasks(text: &mut Exposition, snapshots: &[Snapshot<'_>]) {
    type TaskValue = fn(&TaskSample) -> f64;
    let families: [(&str, Kind, &str, TaskValue); 6] = [
        (
            "flotilla_task_cpu_units",
            Kind::Gauge,
            "CPU used by the task over the agent's last sample, in CPU units (1024 = one core).",
            |s| s.cpu_units,
        ),
        (
            "flotilla_task_memory_bytes",
            Kind::Gauge,
            "Memory in use by the task's containers, page cache excluded.",
            |s| s.memory_bytes as f64,
        ),
        (
            "flotilla_task_network_receive_bytes_total",
            Kind::Counter,
            "Bytes received by the task's containers since they started.",
            |s| s.network_rx_bytes as f64,
        ),
        (
            "flotilla_task_network_transmit_bytes_total",
            Kind::Counter,
            "Bytes sent by the task's containers since they started.",
            |s| s.network_tx_bytes as f64,
        ),
        (
            "flotilla_task_block_read_bytes_total",
            Kind::Counter,
            "Bytes read from block devices by the task's containers since they started.",
            |s| s.block_read_bytes as f64,
        ),
        (
            "flotilla_task_block_write_bytes_total",
            Kind::Counter,
            "Bytes written to block devices by the task's containers since they started.",
            |s| s.block_write_bytes as f64,
        ),
    ];
    for (name, kind, help, value) in families {
        text.header(name, kind, help);
        for snapshot in snapshots {
            for sample in &snapshot.live {
                let labels = [
                    ("region", snapshot.region),
                    ("cluster", sample.cluster.as_str()),
                    ("task", sample.task_id.as_str()),
                    ("group", sample.group.as_str()),
                ];
                text.sample(name, &labels, value(sample));
            }
        }
    }
}

fn write_counts(text: &mut Exposition, snapshots: &[Snapshot<'_>]) {
    text.header("flotilla_tasks", Kind::Gauge, "Tasks known to the server, by last status.");
    for snapshot in snapshots {
        for ((cluster, status), n) in &snapshot.counts.tasks {
            let labels =
                [("region", snapshot.region), ("cluster", cluster), ("last_status", status)];
            text.sample("flotilla_tasks", &labels, *n as f64);
        }
    }
    text.header(
        "flotilla_container_instances",
        Kind::Gauge,
        "Registered container instances, by status.",
    );
    for snapshot in snapshots {
        for ((cluster, status), n) in &snapshot.counts.instances {
            let labels = [("region", snapshot.region), ("cluster", cluster), ("status", status)];
            text.sample("flotilla_container_instances", &labels, *n as f64);
        }
    }
    text.header("flotilla_agents_connected", Kind::Gauge, "Agents connected to this server now.");
    for snapshot in snapshots {
        text.sample(
            "flotilla_agents_connected",
            &[("region", snapshot.region)],
            snapshot.agents as f64,
        );
    }
}

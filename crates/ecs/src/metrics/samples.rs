//! The latest resource usage of every running task, as its agent last sampled it.

use std::collections::HashMap;

use flotilla_api::agent::{StatsReport, TaskStats};

use crate::state::State;

/// A sample older than this (by the server's clock when it arrived) no longer counts: the task
/// or its agent has gone quiet. Agents sample every 10 s.
pub const FRESH_SECS: f64 = 60.0;

/// One task's usage: its containers' figures added up.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSample {
    pub cluster: String,
    pub task_id: String,
    /// The task's group (`service:web`, `family:batch`).
    pub group: String,
    /// Epoch seconds (server clock) when the sample arrived.
    pub received_at: f64,
    /// CPU units used over the agent's sample interval (1024 = one core busy).
    pub cpu_units: f64,
    pub memory_bytes: u64,
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
}

/// Latest samples by (cluster, task id).
#[derive(Debug, Default)]
pub struct Samples {
    by_task: HashMap<(String, String), TaskSample>,
}

impl Samples {
    pub fn insert(&mut self, sample: TaskSample) {
        self.by_task.insert((sample.cluster.clone(), sample.task_id.clone()), sample);
    }

    /// Forgets samples that are no longer fresh.
    pub fn prune(&mut self, now: f64) {
        self.by_task.retain(|_, s| is_fresh(s, now));
    }

    /// The fresh samples, copied (so no lock is held while the state is read).
    pub fn fresh(&self, now: f64) -> Vec<TaskSample> {
        self.by_task.values().filter(|s| is_fresh(s, now)).cloned().collect()
    }
}

fn is_fresh(sample: &TaskSample, now: f64) -> bool {
    now - sample.received_at <= FRESH_SECS
}

/// The samples an agent's report gives, keeping only tasks placed on that agent's instance (an
/// agent speaks for its own tasks only) and figures that make sense.
pub fn from_report(
    state: &State,
    instance_id: &str,
    report: &StatsReport,
    now: f64,
) -> Vec<TaskSample> {
    report
        .tasks
        .iter()
        .filter_map(|stats| {
            let id = flotilla_api::arn::id_from(&stats.task_arn);
            // Only the reporting instance's own tasks count, whatever their cluster (the
            // Fargate capacity runs every cluster's).
            let task = state.tasks_on(instance_id).find(|t| t.id == id)?;
            let group = task.task.group.clone().unwrap_or_default();
            Some(add_up(stats, &task.cluster, id, group, now))
        })
        .collect()
}

fn add_up(stats: &TaskStats, cluster: &str, task_id: &str, group: String, now: f64) -> TaskSample {
    let mut sample = TaskSample {
        cluster: cluster.to_string(),
        task_id: task_id.to_string(),
        group,
        received_at: now,
        cpu_units: 0.0,
        memory_bytes: 0,
        network_rx_bytes: 0,
        network_tx_bytes: 0,
        block_read_bytes: 0,
        block_write_bytes: 0,
    };
    for c in &stats.containers {
        if c.cpu_units.is_finite() && c.cpu_units > 0.0 {
            sample.cpu_units += c.cpu_units;
        }
        sample.memory_bytes = sample.memory_bytes.saturating_add(c.memory_bytes);
        sample.network_rx_bytes = sample.network_rx_bytes.saturating_add(c.network_rx_bytes);
        sample.network_tx_bytes = sample.network_tx_bytes.saturating_add(c.network_tx_bytes);
        sample.block_read_bytes = sample.block_read_bytes.saturating_add(c.block_read_bytes);
        sample.block_write_bytes = sample.block_write_bytes.saturating_add(c.block_write_bytes);
    }
    sample
}

#[cfg(test)]
mod tests {
    use flotilla_api::agent::ContainerStats;
    use flotilla_api::task::{Task, TaskStatus};

    use super::*;
    use crate::state::{Record, Reservation, TaskRecord};

    fn state() -> State {
        let mut state = State::default();
        for (id, on) in [("t1", "i1"), ("t2", "i2")] {
            state.insert_for_test(Record::Task(Box::new(TaskRecord {
                cluster: "c".into(),
                id: id.into(),
                instance_id: Some(on.into()),
                reservation: Reservation::default(),
                protected_until: None,
                client_token: None,
                deregistering_until: None,
                task: Task {
                    last_status: TaskStatus::Running,
                    group: Some("service:web".into()),
                    ..Task::default()
                },
            })));
        }
        state
    }

    fn container(cpu_units: f64, memory_bytes: u64) -> ContainerStats {
        ContainerStats {
            name: "app".into(),
            cpu_units,
            memory_bytes,
            network_rx_bytes: 10,
            block_write_bytes: 7,
            ..ContainerStats::default()
        }
    }

    #[test]
    fn an_agent_speaks_only_for_its_own_tasks() {
        let report = StatsReport {
            tasks: vec![
                TaskStats {
                    task_arn: "arn:aws:ecs:us-east-1:000000000000:task/c/t1".into(),
                    containers: vec![container(100.0, 1000), container(f64::NAN, 24)],
                },
                TaskStats { task_arn: "t2".into(), containers: vec![container(1.0, 1)] },
                TaskStats { task_arn: "unknown".into(), containers: vec![container(1.0, 1)] },
            ],
        };
        let samples = from_report(&state(), "i1", &report, 500.0);
        assert_eq!(samples.len(), 1, "t2 is on another instance, 'unknown' is no task");
        let sample = &samples[0];
        assert_eq!(sample.task_id, "t1");
        assert_eq!(sample.group, "service:web");
        assert_eq!(sample.cpu_units, 100.0, "a NaN figure counts as nothing");
        assert_eq!(sample.memory_bytes, 1024);
        assert_eq!(sample.network_rx_bytes, 20);
        assert_eq!(sample.block_write_bytes, 14);
    }

    #[test]
    fn samples_go_stale_after_a_minute() {
        let mut samples = Samples::default();
        let report = StatsReport {
            tasks: vec![TaskStats { task_arn: "t1".into(), containers: vec![container(1.0, 1)] }],
        };
        for sample in from_report(&state(), "i1", &report, 100.0) {
            samples.insert(sample);
        }
        assert_eq!(samples.fresh(100.0 + FRESH_SECS).len(), 1);
        assert!(samples.fresh(100.0 + FRESH_SECS + 1.0).is_empty());
        samples.prune(100.0 + FRESH_SECS + 1.0);
        assert!(samples.by_task.is_empty());
    }
}

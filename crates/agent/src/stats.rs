//! Resource usage: every `STATS_INTERVAL` the agent takes one Docker stats sample of each
//! running container and publishes a `StatsReport` (the connection sends it to the server, which
//! computes ECS's CPU and memory utilization from it).

use std::sync::Arc;

use flotilla_api::agent::{ContainerStats, StatsReport, TaskStats, STATS_INTERVAL};
use flotilla_api::task::TaskStatus;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::watch;

use crate::engine::{now, Engine};
use crate::runtime::Runtime;

/// Samples taken at once (each takes about a second: Docker waits for a second reading).
const CONCURRENT_SAMPLES: usize = 8;

/// Starts the sampler; the receiver always holds the latest report.
pub fn spawn(runtime: Arc<dyn Runtime>, engine: Engine) -> watch::Receiver<StatsReport> {
    let (sender, receiver) = watch::channel(StatsReport::default());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(STATS_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let report = sample(runtime.as_ref(), &engine).await;
            if report.tasks.is_empty() && sender.borrow().tasks.is_empty() {
                continue;
            }
            if sender.send(report).is_err() {
                return;
            }
        }
    });
    receiver
}

async fn sample(runtime: &dyn Runtime, engine: &Engine) -> StatsReport {
    let mut wanted = Vec::new();
    for (arn, run) in engine.runs() {
        if run.last_status != TaskStatus::Running {
            continue;
        }
        for (name, container) in &run.containers {
            if let (Some(id), TaskStatus::Running) = (&container.docker_id, container.last_status) {
                wanted.push((arn.clone(), name.clone(), id.clone()));
            }
        }
    }
    let samples: Vec<(String, Option<ContainerStats>)> = futures_util::stream::iter(wanted)
        .map(|(arn, name, id)| async move {
            let stats = match runtime.stats(&id).await {
                Ok(Some(raw)) => Some(container_stats(&name, &raw, now())),
                Ok(None) => None,
                Err(error) => {
                    tracing::debug!(container = %id, %error, "no stats sample");
                    None
                }
            };
            (arn, stats)
        })
        .buffer_unordered(CONCURRENT_SAMPLES)
        .collect()
        .await;
    let mut tasks: Vec<TaskStats> = Vec::new();
    for (arn, stats) in samples {
        let Some(stats) = stats else { continue };
        match tasks.iter_mut().find(|t| t.task_arn == arn) {
            Some(task) => task.containers.push(stats),
            None => tasks.push(TaskStats { task_arn: arn, containers: vec![stats] }),
        }
    }
    tasks.sort_by(|a, b| a.task_arn.cmp(&b.task_arn));
    for task in &mut tasks {
        task.containers.sort_by(|a, b| a.name.cmp(&b.name));
    }
    StatsReport { tasks }
}

fn number(value: &Value, path: &[&str]) -> u64 {
    path.iter().fold(value, |v, key| &v[*key]).as_u64().unwrap_or(0)
}

/// One Docker stats answer (API JSON, with `precpu_stats`) as a `ContainerStats`. CPU as
/// `docker stats` computes it — the container's share of the host's CPU time between the two
/// readings, times the CPUs — in ECS units (1024 per CPU); memory without inactive page cache.
pub fn container_stats(name: &str, raw: &Value, sampled_at: f64) -> ContainerStats {
    let cpu = number(raw, &["cpu_stats", "cpu_usage", "total_usage"]);
    let precpu = number(raw, &["precpu_stats", "cpu_usage", "total_usage"]);
    let system = number(raw, &["cpu_stats", "system_cpu_usage"]);
    let presystem = number(raw, &["precpu_stats", "system_cpu_usage"]);
    let cpus = match number(raw, &["cpu_stats", "online_cpus"]) {
        0 => raw["cpu_stats"]["cpu_usage"]["percpu_usage"].as_array().map_or(1, |a| a.len() as u64),
        n => n,
    };
    let cpu_units = if system > presystem && cpu >= precpu {
        (cpu - precpu) as f64 / (system - presystem) as f64 * cpus as f64 * 1024.0
    } else {
        0.0
    };
    let usage = number(raw, &["memory_stats", "usage"]);
    // cgroup v2 reports `inactive_file`, v1 `total_inactive_file`: both are reclaimable cache.
    let inactive = match number(raw, &["memory_stats", "stats", "inactive_file"]) {
        0 => number(raw, &["memory_stats", "stats", "total_inactive_file"]),
        n => n,
    };
    let (mut rx, mut tx) = (0, 0);
    for network in raw["networks"].as_object().into_iter().flat_map(|n| n.values()) {
        rx += network["rx_bytes"].as_u64().unwrap_or(0);
        tx += network["tx_bytes"].as_u64().unwrap_or(0);
    }
    let (mut read, mut write) = (0, 0);
    let io = raw["blkio_stats"]["io_service_bytes_recursive"].as_array();
    for entry in io.into_iter().flatten() {
        let bytes = entry["value"].as_u64().unwrap_or(0);
        match entry["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => read += bytes,
            Some("write") => write += bytes,
            _ => {}
        }
    }
    ContainerStats {
        name: name.to_string(),
        sampled_at,
        cpu_units,
        memory_bytes: usage.saturating_sub(inactive),
        memory_limit_bytes: number(raw, &["memory_stats", "limit"]),
        network_rx_bytes: rx,
        network_tx_bytes: tx,
        block_read_bytes: read,
        block_write_bytes: write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn docker_stats_become_ecs_units() {
        let raw = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000u64}, "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000u64}, "system_cpu_usage": 18_000_000_000u64},
            "memory_stats": {"usage": 50_000_000, "limit": 67_108_864, "stats": {"inactive_file": 10_000_000}},
            "networks": {"eth0": {"rx_bytes": 100, "tx_bytes": 40}, "eth1": {"rx_bytes": 1, "tx_bytes": 2}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 8192},
                {"major": 8, "minor": 0, "op": "Total", "value": 12288}
            ]}
        });
        let stats = container_stats("web", &raw, 12.5);
        // 1 s of CPU over 2 s of both CPUs' time: half the machine, one CPU = 1024 units.
        assert!((stats.cpu_units - 1024.0).abs() < 1e-6, "{}", stats.cpu_units);
        assert_eq!(stats.memory_bytes, 40_000_000);
        assert_eq!(stats.memory_limit_bytes, 67_108_864);
        assert_eq!((stats.network_rx_bytes, stats.network_tx_bytes), (101, 42));
        assert_eq!((stats.block_read_bytes, stats.block_write_bytes), (4096, 8192));
        assert_eq!((stats.name.as_str(), stats.sampled_at), ("web", 12.5));
    }

    #[test]
    fn older_engines_count_cpus_by_percpu_usage_and_cache_never_wraps() {
        let raw = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 5, "percpu_usage": [1, 2, 2]}, "system_cpu_usage": 100},
            "precpu_stats": {"cpu_usage": {"total_usage": 0}},
            "memory_stats": {"usage": 7, "stats": {"total_inactive_file": 9}}
        });
        let stats = container_stats("x", &raw, 0.0);
        // No `online_cpus`: three per-CPU counters mean three CPUs.
        assert!((stats.cpu_units - 5.0 / 100.0 * 3.0 * 1024.0).abs() < 1e-9, "{}", stats.cpu_units);
        // Usage below the cache figure: zero, not a wrapped-around huge number.
        assert_eq!(stats.memory_bytes, 0);
    }
}

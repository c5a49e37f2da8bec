//! The floors: the same work done with the `docker` CLI alone, in the same run. Containers get
//! the same limits as the tasks (32 MiB, 16 CPU shares) and `io.flotilla.service-bench=<run>`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::future::join_all;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::docker;

/// How long a container may take to become healthy in the floor measurement.
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(60);
/// A docker CLI call that takes longer than this fails the benchmark.
const CLI_TIMEOUT: Duration = Duration::from_secs(120);

/// `docker run -d --memory 32m --cpu-shares 16 --label LABEL IMAGE serve`, timed from spawning
/// the CLI until it returns (the container has been created and started by then).
pub async fn run_serve(image: &str, label: &str) -> Result<(String, Duration)> {
    let (id, elapsed) = docker::run_timed(
        "docker",
        &["run", "-d", "--memory", "32m", "--cpu-shares", "16", "--label", label, image, "serve"],
        CLI_TIMEOUT,
    )
    .await?;
    if id.is_empty() {
        bail!("docker run -d printed no container id");
    }
    Ok((id, elapsed))
}

/// `count` concurrent `run_serve`s; returns the ids and when the last CLI returned. Every
/// container that was created is returned (for cleanup) even when one run failed.
pub async fn burst(image: &str, label: &str, count: usize) -> (Vec<String>, Duration, Result<()>) {
    let start = Instant::now();
    let runs = join_all((0..count).map(|_| run_serve(image, label))).await;
    let all = start.elapsed();
    let mut ids = Vec::with_capacity(count);
    let mut result = Ok(());
    for run in runs {
        match run {
            Ok((id, _)) => ids.push(id),
            Err(error) => result = Err(error),
        }
    }
    (ids, all, result)
}

/// Concurrent `docker stop` of every container (SIGTERM, the demo server exits), timed until
/// the last returns.
pub async fn stop_all(ids: &[String]) -> Result<Duration> {
    let start = Instant::now();
    let stops = join_all(ids.iter().map(|id| async move {
        docker::run_timed("docker", &["stop", "--time", "30", id.as_str()], CLI_TIMEOUT).await
    }))
    .await;
    let all = start.elapsed();
    for stop in stops {
        stop?;
    }
    Ok(all)
}

/// Polls `docker inspect` until every container is healthy, then returns, for each, when
/// Docker started it and when its first passing probe ended (epoch seconds, from Docker's
/// own records, so the polling interval does not matter).
pub async fn wait_healthy(ids: &[String]) -> Result<Vec<(f64, f64)>> {
    let deadline = Instant::now() + HEALTHY_TIMEOUT;
    loop {
        let states = inspect_states(ids).await?;
        let healthy: Vec<Option<f64>> = states.iter().map(first_healthy_probe).collect();
        if healthy.iter().all(Option::is_some) {
            return states
                .iter()
                .zip(healthy)
                .map(|(s, h)| {
                    let started = epoch(s["StartedAt"].as_str().unwrap_or_default())?;
                    Ok((started, h.unwrap_or(started)))
                })
                .collect();
        }
        if Instant::now() > deadline {
            bail!("containers were not healthy within {} s", HEALTHY_TIMEOUT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `.State` of each container (`docker inspect`), in the order given.
pub async fn inspect_states(ids: &[String]) -> Result<Vec<Value>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["inspect", "--format", "{{json .State}}"];
    args.extend(ids.iter().map(String::as_str));
    let text = docker::docker(&args).await?;
    text.lines()
        .map(|line| serde_json::from_str(line).with_context(|| format!("inspect said {line}")))
        .collect()
}

/// When the first probe that passed ended (epoch seconds), once Docker calls it healthy.
pub fn first_healthy_probe(state: &Value) -> Option<f64> {
    let health = &state["Health"];
    if health["Status"].as_str() != Some("healthy") {
        return None;
    }
    health["Log"]
        .as_array()?
        .iter()
        .filter(|probe| probe["ExitCode"].as_i64() == Some(0))
        .filter_map(|probe| epoch(probe["End"].as_str()?).ok())
        .fold(None, |first: Option<f64>, at| Some(first.map_or(at, |f| f.min(at))))
}

/// RFC 3339 (Docker's timestamps, nanoseconds) → epoch seconds.
pub fn epoch(rfc3339: &str) -> Result<f64> {
    let time = OffsetDateTime::parse(rfc3339, &Rfc3339)
        .with_context(|| format!("not an RFC 3339 time: {rfc3339}"))?;
    Ok(time.unix_timestamp_nanos() as f64 / 1e9)
}

/// Builds `tag`: the demo image with the same health check as the benchmark's task definition,
/// in exec form (the demo image has no shell, so `docker run --health-cmd`, which is always
/// `CMD-SHELL`, cannot be used). `docker commit --change HEALTHCHECK` needs no network.
pub async fn build_health_image(image: &str, tag: &str, label: &str) -> Result<()> {
    let id = docker::docker(&["create", "--label", label, image, "serve"]).await?;
    let change = format!(
        "HEALTHCHECK --interval={}s --timeout={}s --retries={} CMD \
         [\"/flotilla\",\"demo\",\"check\",\"http://127.0.0.1:8080/healthz\"]",
        crate::HEALTH_INTERVAL_SECS,
        crate::HEALTH_TIMEOUT_SECS,
        crate::HEALTH_RETRIES
    );
    let committed = docker::docker(&["commit", "--change", &change, &id, tag]).await;
    docker::remove(&[id]).await?;
    committed.map(|_| ())
}

//! (b) Rolling update to steady state: UpdateService --force-new-deployment of a 10-task
//! service (default 100/200) until DescribeServices shows one deployment, COMPLETED and
//! runningCount 10. The floor is the same update done by hand with the docker CLI in the same
//! rounds: 10 old containers running, 10 new ones `docker run -d` at once, healthy, then the
//! old ones `docker stop`ped at once.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::ecs::Ecs;
use crate::fleet::Fleet;
use crate::report::{ms, RollingFloor, RollingSample};
use crate::services;
use crate::{docker, raw, wait_for_other_bench, Args, PROVEN_SECS, STABLE_TIMEOUT};

/// A rolling update must reach steady state within this.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(180);

pub struct Variant<'a> {
    pub service: &'a str,
    pub task_definition: &'a str,
    pub health_check: bool,
    /// The image the floor runs (with the same health check baked in, or the plain demo).
    pub floor_image: &'a str,
}

pub async fn run(
    args: &Args,
    fleet: &mut Fleet,
    ecs: &mut Ecs,
    variant: &Variant<'_>,
) -> Result<(Vec<RollingSample>, Vec<RollingFloor>)> {
    let count = args.rolling_tasks;
    services::create_service(ecs, variant.service, variant.task_definition, count as u32).await?;
    services::wait_stable(ecs, variant.service, STABLE_TIMEOUT).await?;
    let settle = Duration::from_millis(args.settle_ms.max(1000));
    let mut samples = Vec::new();
    let mut floors = Vec::new();
    for round in 0..args.rolling_rounds {
        let floor_first = round % 2 == 1;
        let mut sample = None;
        let mut floor = None;
        for side in 0..2 {
            wait_for_other_bench(args).await?;
            fleet.check_alive()?;
            if (side == 0) == floor_first {
                floor = Some(floor_round(args, fleet, variant).await?);
            } else {
                sample = Some(one(args, ecs, variant).await?);
            }
            tokio::time::sleep(settle).await;
        }
        let (Some(sample), Some(floor)) = (sample, floor) else { bail!("round incomplete") };
        eprintln!(
            "(b) {} round {}: steady after {:>6.0} ms; floor {:>6.0} ms",
            variant.service,
            round + 1,
            ms(sample.completed),
            floor.total() * 1000.0
        );
        samples.push(sample);
        floors.push(floor);
    }
    services::delete_service(ecs, variant.service, STABLE_TIMEOUT).await?;
    Ok((samples, floors))
}

async fn one(args: &Args, ecs: &mut Ecs, variant: &Variant<'_>) -> Result<RollingSample> {
    let service = variant.service;
    let before = services::wait_stable(ecs, service, STABLE_TIMEOUT).await?;
    let old_id = before.primary().context("no deployment")?.id.clone();
    let poll = Duration::from_millis(args.poll_ms);

    let t0_epoch = docker::epoch_now();
    let t0 = Instant::now();
    services::force_new_deployment(ecs, service).await?;
    let mut sample = RollingSample { answered: t0.elapsed(), ..RollingSample::default() };
    let deadline = t0 + UPDATE_TIMEOUT;
    let last = loop {
        let info = services::describe_service(ecs, service).await?;
        let seen = t0.elapsed();
        let new_primary = info.primary().filter(|d| d.id != old_id);
        if let Some(primary) = new_primary {
            if sample.all_new_running.is_none() && primary.running_count >= info.desired_count {
                sample.all_new_running = Some(seen);
            }
            if sample.old_gone.is_none() && info.deployments.len() == 1 {
                sample.old_gone = Some(seen);
            }
            if info.stable() {
                sample.completed = seen;
                break info;
            }
        }
        if Instant::now() > deadline {
            bail!(
                "{service} was not steady {} s after the update: {info:?}",
                UPDATE_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(poll).await;
    };
    let relative = |at: Option<f64>| at.map(|a| a - t0_epoch);
    sample.started_event = relative(last.first_event_after(t0_epoch, "has started"));
    sample.stop_event = relative(last.first_event_after(t0_epoch, "has stopped"));

    // Docker's view of the new containers: when they started and became healthy.
    let tasks = services::service_tasks_and(ecs, service, &[]).await?;
    let ids: Vec<String> = tasks.iter().filter_map(|t| t.runtime_id.clone()).collect();
    if let Ok(states) = raw::inspect_states(&ids).await {
        let latest = |values: Vec<f64>| values.into_iter().reduce(f64::max);
        let started: Vec<f64> =
            states.iter().filter_map(|s| raw::epoch(s["StartedAt"].as_str()?).ok()).collect();
        sample.last_container_started = relative(latest(started));
        if variant.health_check {
            let healthy: Vec<f64> = states.iter().filter_map(raw::first_healthy_probe).collect();
            if healthy.len() == states.len() {
                sample.last_healthy = relative(latest(healthy));
            }
        }
    }
    Ok(sample)
}

/// The same update by hand: 10 old containers (untimed), then at T0 10 new ones at once. The
/// new ones are ready when all are healthy (Docker's probe log) or, without health checks,
/// when the last one started (Docker's `StartedAt`) + the 3 s proven window. Then one old
/// container is stopped alone (timed: what the last step of a rolling update costs at least)
/// and the other old ones at once (timed too, for reference).
async fn floor_round(args: &Args, fleet: &Fleet, variant: &Variant<'_>) -> Result<RollingFloor> {
    let count = args.rolling_tasks;
    let label = &fleet.raw_label;
    let (old, _, started) = raw::burst(variant.floor_image, label, count).await;
    let result = async {
        started?;
        let t0_epoch = docker::epoch_now();
        let (new, start_all, started) = raw::burst(variant.floor_image, label, count).await;
        let result = async {
            started?;
            let latest = |values: Vec<f64>| values.into_iter().fold(f64::MIN, f64::max);
            let (last_started, healthy) = if variant.health_check {
                let times = raw::wait_healthy(&new).await?;
                (
                    latest(times.iter().map(|t| t.0).collect()) - t0_epoch,
                    latest(times.iter().map(|t| t.1).collect()) - t0_epoch,
                )
            } else {
                let states = raw::inspect_states(&new).await?;
                let started: Vec<f64> = states
                    .iter()
                    .filter_map(|s| raw::epoch(s["StartedAt"].as_str()?).ok())
                    .collect();
                let last = latest(started) - t0_epoch;
                (last, last + PROVEN_SECS)
            };
            let (first_old, other_old) = old.split_first().context("no old container")?;
            let stop_one = raw::stop_all(std::slice::from_ref(first_old)).await?;
            let stop_rest = raw::stop_all(other_old).await?;
            anyhow::Ok(RollingFloor { start_all, last_started, healthy, stop_one, stop_rest })
        }
        .await;
        docker::remove(&new).await?;
        result
    }
    .await;
    docker::remove(&old).await?;
    result
}

//! (a) Replacement after a container death: `docker kill` one task container of a REPLICA
//! service (desired 2) and time until DescribeTasks shows a new task of the service RUNNING;
//! the floor is one `docker run -d` of the same image, measured in the same rounds.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::ecs::Ecs;
use crate::fleet::Fleet;
use crate::report::{ms, ReplacementSample};
use crate::services::{self, TaskInfo};
use crate::{docker, raw, wait_for_other_bench, Args, STABLE_TIMEOUT};

const SERVICE: &str = "replace";
/// A replacement must be RUNNING within this.
const REPLACE_TIMEOUT: Duration = Duration::from_secs(60);
/// Tasks without health checks count as healthy after 3 s: wait that long (and a bit) after a
/// replacement so that every round starts from a service whose tasks are all proven.
const PROVEN_WAIT: Duration = Duration::from_millis(3500);

pub async fn run(
    args: &Args,
    fleet: &mut Fleet,
    ecs: &mut Ecs,
    task_definition: &str,
) -> Result<(Vec<ReplacementSample>, Vec<Duration>)> {
    services::create_service(ecs, SERVICE, task_definition, 2).await?;
    services::wait_stable(ecs, SERVICE, STABLE_TIMEOUT).await?;
    let poll = Duration::from_millis(args.poll_ms);
    let settle = Duration::from_millis(args.settle_ms);
    let mut samples = Vec::new();
    let mut floors = Vec::new();
    for round in 0..args.warmup + args.rounds {
        wait_for_other_bench(args).await?;
        fleet.check_alive()?;
        services::wait_stable(ecs, SERVICE, STABLE_TIMEOUT).await?;
        let floor_first = round % 2 == 1;
        let mut floor = None;
        if floor_first {
            floor = Some(floor_round(args, fleet).await?);
            tokio::time::sleep(settle).await;
        }
        let sample = one(ecs, round, poll).await?;
        tokio::time::sleep(settle).await;
        if !floor_first {
            floor = Some(floor_round(args, fleet).await?);
        }
        let floor = floor.context("floor")?;
        let warmup = round < args.warmup;
        eprintln!(
            "(a) {} {:>2}: observed {:>5.0} ms, then replacement RUNNING {:>5.0} ms later \
             (total {:>5.0} ms); docker run -d {:>5.0} ms",
            if warmup { "warm-up" } else { "round  " },
            if warmup { round + 1 } else { round + 1 - args.warmup },
            ms(sample.observed),
            ms(sample.replaced) - ms(sample.observed),
            ms(sample.replaced),
            ms(floor)
        );
        if !warmup {
            samples.push(sample);
            floors.push(floor);
        }
        tokio::time::sleep(PROVEN_WAIT.saturating_sub(settle)).await;
    }
    services::delete_service(ecs, SERVICE, STABLE_TIMEOUT).await?;
    Ok((samples, floors))
}

/// One `docker run -d` of the same image, then removed (untimed).
async fn floor_round(args: &Args, fleet: &Fleet) -> Result<Duration> {
    let (id, took) = raw::run_serve(&args.image, &fleet.raw_label).await?;
    docker::remove(&[id]).await?;
    Ok(took)
}

/// Kills one of the service's containers and polls until a new task is RUNNING.
async fn one(ecs: &mut Ecs, round: usize, poll: Duration) -> Result<ReplacementSample> {
    let tasks = services::service_tasks_and(ecs, SERVICE, &[]).await?;
    let before: HashSet<String> = tasks.iter().map(|t| t.arn.clone()).collect();
    let mut running: Vec<&TaskInfo> =
        tasks.iter().filter(|t| t.running() && t.desired_status == "RUNNING").collect();
    running.sort_by(|a, b| a.arn.cmp(&b.arn));
    if running.len() != 2 {
        bail!("expected 2 RUNNING tasks before the kill, found {}", running.len());
    }
    let victim = running[round % running.len()].clone();
    let container = victim.runtime_id.clone().context("RUNNING task without a container id")?;

    let (_, kill_cli) =
        docker::run_timed("docker", &["kill", &container], Duration::from_secs(30)).await?;
    let t0 = Instant::now();
    let t0_epoch = docker::epoch_now();
    let deadline = t0 + REPLACE_TIMEOUT;
    let mut observed = None;
    let mut agent_stopped = None;
    let replacement = loop {
        let tasks =
            services::service_tasks_and(ecs, SERVICE, std::slice::from_ref(&victim.arn)).await?;
        let seen = t0.elapsed();
        if observed.is_none() {
            if let Some(killed) =
                tasks.iter().find(|t| t.arn == victim.arn && t.last_status == "STOPPED")
            {
                observed = Some(seen);
                agent_stopped = killed.stopped_at;
            }
        }
        if let Some(new) = tasks.iter().find(|t| !before.contains(&t.arn) && t.running()) {
            break (new.clone(), seen);
        }
        if Instant::now() > deadline {
            bail!("no replacement RUNNING within {} s", REPLACE_TIMEOUT.as_secs());
        }
        tokio::time::sleep(poll).await;
    };
    let (new, replaced) = replacement;
    let docker_died = raw::inspect_states(std::slice::from_ref(&container))
        .await
        .ok()
        .and_then(|states| states.first()?["FinishedAt"].as_str().map(str::to_string))
        .and_then(|at| raw::epoch(&at).ok());
    let relative = |at: Option<f64>| at.map(|a| a - t0_epoch);
    Ok(ReplacementSample {
        kill_cli,
        observed: observed.unwrap_or(replaced),
        replaced,
        docker_died: relative(docker_died),
        agent_stopped: relative(agent_stopped),
        placed: relative(new.created_at),
        agent_running: relative(new.started_at),
        same_instance: new.instance_arn.is_some() && new.instance_arn == victim.instance_arn,
    })
}

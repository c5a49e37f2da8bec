//! (c) Agent loss to service whole again: a REPLICA service of 4 tasks spread over the two
//! agents; `kill -9` of one agent at T0; poll until 4 tasks of the service are RUNNING, none on
//! the lost instance. Then the agent is restarted (same instance) and the time until its stale
//! tasks are STOPPED is measured. Each round uses a fresh service, deleted afterwards.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::ecs::Ecs;
use crate::fleet::Fleet;
use crate::report::{ms, LossSample};
use crate::services::{self, TaskInfo};
use crate::{docker, wait_for_other_bench, Args, STABLE_TIMEOUT};

/// Beyond the agent timeout, the service must be whole again within this.
const WHOLE_MARGIN: Duration = Duration::from_secs(60);
/// The restarted agent must reconnect and stop the stale tasks within this.
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(
    args: &Args,
    fleet: &mut Fleet,
    ecs: &mut Ecs,
    task_definition: &str,
) -> Result<Vec<LossSample>> {
    let mut samples = Vec::new();
    for round in 0..args.loss_rounds {
        wait_for_other_bench(args).await?;
        fleet.check_alive()?;
        let service = format!("loss-{}", round + 1);
        services::create_service(ecs, &service, task_definition, args.loss_tasks as u32).await?;
        services::wait_stable(ecs, &service, STABLE_TIMEOUT).await?;
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
        let sample = one(args, fleet, ecs, &service, round).await?;
        eprintln!(
            "(c) round {}: {} of {} tasks on the killed agent; whole again after {:>6.0} ms \
             (given up at {:>6.0} ms); restarted agent stopped the stale tasks in {:>5.0} ms",
            round + 1,
            sample.on_lost,
            sample.total_tasks,
            ms(sample.whole),
            sample.given_up.map_or(f64::NAN, ms),
            ms(sample.stale_stopped)
        );
        samples.push(sample);
        services::delete_service(ecs, &service, STABLE_TIMEOUT).await?;
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    }
    Ok(samples)
}

async fn one(
    args: &Args,
    fleet: &mut Fleet,
    ecs: &mut Ecs,
    service: &str,
    round: usize,
) -> Result<LossSample> {
    let tasks = services::service_tasks_and(ecs, service, &[]).await?;
    let total = args.loss_tasks;
    // The agent holding the most tasks (alternating on a tie) is the one to lose.
    let on = |index: usize| -> Result<Vec<TaskInfo>> {
        let arn = fleet.instance_arn(index)?;
        Ok(tasks.iter().filter(|t| t.instance_arn.as_deref() == Some(arn)).cloned().collect())
    };
    let (first, second) = (on(0)?, on(1)?);
    let victim = match first.len().cmp(&second.len()) {
        std::cmp::Ordering::Greater => 0,
        std::cmp::Ordering::Less => 1,
        std::cmp::Ordering::Equal => round % 2,
    };
    let stale = if victim == 0 { first } else { second };
    if stale.is_empty() {
        bail!("no task of {service} runs on agent {victim}");
    }
    let lost_arn = fleet.instance_arn(victim)?.to_string();
    let stale_arns: Vec<String> = stale.iter().map(|t| t.arn.clone()).collect();

    fleet.kill_agent(victim)?;
    let t0 = Instant::now();
    let t0_epoch = docker::epoch_now();
    let deadline = t0 + Duration::from_secs_f64(args.agent_timeout) + WHOLE_MARGIN;
    let mut given_up = None;
    let (whole, placed) = loop {
        let tasks = services::service_tasks_and(ecs, service, &stale_arns).await?;
        let seen = t0.elapsed();
        if given_up.is_none()
            && tasks
                .iter()
                .filter(|t| stale_arns.contains(&t.arn))
                .all(|t| t.desired_status == "STOPPED")
        {
            given_up = Some(seen);
        }
        let elsewhere: Vec<&TaskInfo> = tasks
            .iter()
            .filter(|t| t.running() && t.desired_status == "RUNNING")
            .filter(|t| t.instance_arn.as_deref() != Some(lost_arn.as_str()))
            .collect();
        if elsewhere.len() >= total {
            let placed = tasks
                .iter()
                .filter(|t| {
                    !stale_arns.contains(&t.arn) && t.created_at.is_some_and(|c| c > t0_epoch)
                })
                .filter_map(|t| t.created_at)
                .reduce(f64::min);
            break (seen, placed);
        }
        if Instant::now() > deadline {
            bail!(
                "{service} was not whole again {} s after the agent was killed: {} RUNNING elsewhere",
                deadline.duration_since(t0).as_secs(),
                elsewhere.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
    };

    // The agent comes back as the same instance: its stale tasks must be stopped.
    let restarted = Instant::now();
    fleet.spawn_agent(victim)?;
    fleet.wait_agent_connected(victim, RESTART_TIMEOUT).await?;
    let reconnected = restarted.elapsed();
    services::wait_all_stopped(ecs, &stale_arns, RESTART_TIMEOUT).await?;
    let stale_stopped = restarted.elapsed();
    let mut still_running = 0;
    for arn in &stale_arns {
        let filter = format!("label=com.amazonaws.ecs.task-arn={arn}");
        let ids = docker::list(&[filter, "status=running".into()]).await.context("docker ps")?;
        still_running += ids.len();
    }
    Ok(LossSample {
        on_lost: stale_arns.len(),
        total_tasks: total,
        given_up,
        placed: placed.map(|p| p - t0_epoch),
        whole,
        reconnected,
        stale_stopped,
        stale_containers_gone: still_running == 0,
    })
}

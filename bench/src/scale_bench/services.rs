//! Phase "services": CreateService × N (spread over zones, then binpack on memory), timed from
//! the first CreateService call until every service's runningCount equals its desired count.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::api::{self, Counts};
use crate::ecs::Ecs;
use crate::stack::Stack;

/// Progress goes to stderr at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

pub struct Plan<'a> {
    pub cluster: &'a str,
    pub task_definition: &'a str,
    pub services: usize,
    pub tasks_per_service: u32,
    pub poll: Duration,
    pub timeout: Duration,
}

#[derive(Clone, Copy, Debug)]
pub struct ServicesResult {
    pub tasks: u64,
    /// The CreateService calls, one after another.
    pub create_calls: Duration,
    /// First poll with pendingCount + runningCount == desired for every service.
    pub all_placed: Option<Duration>,
    /// First poll with runningCount == desired for every service.
    pub all_running: Duration,
    /// DescribeServices rounds made while waiting, and the slowest one.
    pub polls: usize,
    pub slowest_poll: Duration,
    /// The polling interval: the resolution of the times above.
    pub poll: Duration,
}

impl ServicesResult {
    pub fn tasks_per_second(&self) -> f64 {
        self.tasks as f64 / self.all_running.as_secs_f64()
    }
}

pub fn names(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("scale-{n}")).collect()
}

pub async fn run(ecs: &mut Ecs, stack: &mut Stack, plan: &Plan<'_>) -> Result<ServicesResult> {
    let names = names(plan.services);
    let tasks = plan.services as u64 * u64::from(plan.tasks_per_service);
    let start = Instant::now();
    for name in &names {
        api::create_service(ecs, plan.cluster, name, plan.task_definition, plan.tasks_per_service)
            .await?;
    }
    let create_calls = start.elapsed();
    eprintln!(
        "services: {} CreateService calls in {:.2} s; waiting for {tasks} tasks RUNNING",
        names.len(),
        create_calls.as_secs_f64()
    );
    let mut all_placed = None;
    let mut polls = 0;
    let mut slowest_poll = Duration::ZERO;
    let mut last_progress = Instant::now();
    loop {
        stack.check_alive()?;
        let poll_start = Instant::now();
        let counts = api::service_counts(ecs, plan.cluster, &names).await?;
        let seen = start.elapsed();
        polls += 1;
        slowest_poll = slowest_poll.max(poll_start.elapsed());
        let sum = |f: fn(&Counts) -> u64| counts.iter().map(f).sum::<u64>();
        let (running, pending) = (sum(|c| c.running), sum(|c| c.pending));
        if all_placed.is_none() && counts.iter().all(|c| c.pending + c.running == c.desired) {
            all_placed = Some(seen);
        }
        if counts.iter().all(|c| c.running == c.desired) {
            return Ok(ServicesResult {
                tasks,
                create_calls,
                all_placed,
                all_running: seen,
                polls,
                slowest_poll,
                poll: plan.poll,
            });
        }
        if seen > plan.timeout {
            bail!(
                "only {running} of {tasks} tasks were RUNNING ({pending} pending) after {} s",
                plan.timeout.as_secs()
            );
        }
        if last_progress.elapsed() > PROGRESS_EVERY {
            eprintln!(
                "  {:>6.1} s: {running} running, {pending} pending of {tasks}",
                seen.as_secs_f64()
            );
            last_progress = Instant::now();
        }
        tokio::time::sleep(plan.poll.saturating_sub(poll_start.elapsed())).await;
    }
}

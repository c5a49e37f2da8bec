//! `service-bench`: how fast Flotilla's service controller reacts, each measurement next to its
//! floor in the same run, printed as markdown tables:
//!
//! (a) replacement after a container death: `docker kill` of a task of a REPLICA service
//!     (desired 2) → death observed (DescribeTasks STOPPED) → a new task RUNNING; floor: one
//!     `docker run -d` of the same image;
//! (b) rolling update to steady state of a 10-task service (UpdateService
//!     --force-new-deployment → one deployment, COMPLETED, runningCount 10), with and without
//!     a container health check; floor: the same update done with the docker CLI (10 new
//!     containers, healthy or proven, then the 10 old ones stopped);
//! (c) agent loss: `kill -9` of one of two agents → the service's 4 tasks RUNNING again, none
//!     on the lost instance; the floor is `--agent-timeout`. Then the agent is restarted and
//!     the time until it has stopped its stale tasks is measured.
//!
//! The system under test is `flotilla server --agent-timeout 10` on a free loopback port with
//! a temporary data directory and two `flotilla agent` processes; everything is killed and
//! every container removed at the end, also on failure or Ctrl-C/SIGTERM.

// api-bench's SigV4 client and task-bench's docker CLI helpers and ECS connection, shared as
// files (the bench crate has no library target).
#[allow(dead_code)]
#[path = "../client.rs"]
mod client;
#[allow(dead_code)]
#[path = "../task_bench/docker.rs"]
mod docker;
#[allow(dead_code)]
#[path = "../task_bench/ecs.rs"]
mod ecs;
mod fleet;
#[path = "../harness.rs"]
#[allow(dead_code)] // shared by the benchmark binaries; each uses part of it
mod harness;
mod loss;
mod raw;
mod replacement;
mod report;
mod rolling;
mod services;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};

use ecs::Ecs;
use fleet::{Fleet, FleetOptions};
use report::Results;

/// The container health check of the health-checked variant (and of its floor's image).
pub const HEALTH_INTERVAL_SECS: u32 = 5;
pub const HEALTH_TIMEOUT_SECS: u32 = 2;
pub const HEALTH_RETRIES: u32 = 1;
/// Flotilla counts a task without health checks as healthy after this long RUNNING
/// (docs/services.md, "Health").
pub const PROVEN_SECS: f64 = 3.0;
/// A service must be stable within this (creation, between rounds, deletion).
pub const STABLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to wait for another benchmark to finish before giving up.
const OTHER_BENCH_MAX_WAIT: Duration = Duration::from_secs(2 * 3600);
/// The agents' `--task-cleanup-wait`.
const CLEANUP_WAIT_SECS: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Measure {
    Replacement,
    Rolling,
    Loss,
}

#[derive(Parser, Debug)]
#[command(
    name = "service-bench",
    about = "Service controller reaction times (replacement, rolling update, agent loss) next \
             to their floors"
)]
pub struct Args {
    /// The `flotilla` binary to benchmark (use a release build).
    #[arg(long)]
    flotilla_bin: PathBuf,
    /// Which measurements to run (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "replacement,rolling,loss")]
    measure: Vec<Measure>,
    /// (a) measured replacement rounds.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// (a) unmeasured rounds before them.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// (b) rolling updates per variant.
    #[arg(long, default_value_t = 3)]
    rolling_rounds: usize,
    /// (b) tasks of the updated service.
    #[arg(long, default_value_t = 10)]
    rolling_tasks: usize,
    /// (b) measure only the variant with (true) or without (false) health checks; both by
    /// default.
    #[arg(long)]
    rolling_health_check: Option<bool>,
    /// (c) agent-loss rounds.
    #[arg(long, default_value_t = 3)]
    loss_rounds: usize,
    /// (c) tasks of the service.
    #[arg(long, default_value_t = 4)]
    loss_tasks: usize,
    /// The server's `--agent-timeout`, seconds.
    #[arg(long, default_value_t = 10.0)]
    agent_timeout: f64,
    /// Polling interval of DescribeServices/ListTasks/DescribeTasks while timing, in ms.
    #[arg(long, default_value_t = 20)]
    poll_ms: u64,
    /// Pause between the parts of a round, in ms.
    #[arg(long, default_value_t = 500)]
    settle_ms: u64,
    /// Memory (MiB) each agent announces.
    #[arg(long, default_value_t = 100_000)]
    agent_memory: u64,
    /// The image (built by `flotilla demo build-image` when it is the demo).
    #[arg(long, default_value = "flotilla/demo:latest")]
    image: String,
    /// Measure even while api-bench or task-bench runs (by default each round waits).
    #[arg(long)]
    no_wait_for_other_bench: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.rounds >= 1, "--rounds must be at least 1");
    anyhow::ensure!(args.rolling_tasks >= 1 && args.loss_tasks >= 2, "too few tasks");
    harness::run_until_signal(bench(args))
}

async fn bench(args: Args) -> Result<()> {
    let binary = harness::flotilla_binary(&args.flotilla_bin)?;
    eprintln!("demo image: {binary:?} demo build-image");
    let binary_text = binary.to_string_lossy();
    let (built, _) =
        docker::run_timed(&binary_text, &["demo", "build-image"], Duration::from_secs(300))
            .await
            .context("flotilla demo build-image")?;
    eprintln!("  {built}");

    let options = FleetOptions {
        agent_timeout_secs: args.agent_timeout,
        agent_memory_mib: args.agent_memory,
        cleanup_wait_secs: CLEANUP_WAIT_SECS,
    };
    let mut fleet = Fleet::start(&binary, options, 2).await?;
    eprintln!("flotilla server on 127.0.0.1:{} with two agents", fleet.port);
    // The floor's health-checked image: tagged per run, removed at the end.
    let health_image =
        format!("flotilla/demo-health:{}", fleet.raw_label.rsplit('=').next().unwrap_or("run"));
    let result = measure(&args, &mut fleet, &health_image).await;
    if result.is_err() {
        eprint!("{}", fleet.log_tails());
    }
    drop(fleet);
    let _ = docker::docker(&["rmi", "--force", &health_image]).await;
    let results = result?;
    print!("{}", report::markdown(&results));
    Ok(())
}

async fn measure(args: &Args, fleet: &mut Fleet, health_image: &str) -> Result<Results> {
    let mut ecs = Ecs::open(fleet.port, &fleet.signer).await?;
    let plain =
        services::register(&mut ecs, "svc-bench", services::serve_container(&args.image, false))
            .await?;
    let checked =
        services::register(&mut ecs, "svc-bench-hc", services::serve_container(&args.image, true))
            .await?;
    let mut results = Results {
        environment: environment().await,
        settings: format!(
            "Settings: `--agent-timeout {}`, agents with `--task-cleanup-wait {CLEANUP_WAIT_SECS} \
             --memory {}`, polling every {} ms, containers `serve` with 32 MiB / 16 CPU shares; \
             health check `CMD /flotilla demo check http://127.0.0.1:8080/healthz`, interval \
             {HEALTH_INTERVAL_SECS} s, timeout {HEALTH_TIMEOUT_SECS} s, retries {HEALTH_RETRIES}.",
            args.agent_timeout, args.agent_memory, args.poll_ms
        ),
        agent_timeout: args.agent_timeout,
        rolling_tasks: args.rolling_tasks,
        replacement: Vec::new(),
        replacement_floor: Vec::new(),
        rolling: Vec::new(),
        loss: Vec::new(),
    };
    if args.measure.contains(&Measure::Replacement) {
        let (samples, floors) = replacement::run(args, fleet, &mut ecs, &plain).await?;
        results.replacement = samples;
        results.replacement_floor = floors;
    }
    if args.measure.contains(&Measure::Rolling) {
        let mut variants = Vec::new();
        if args.rolling_health_check != Some(false) {
            raw::build_health_image(&args.image, health_image, &fleet.raw_label).await?;
            variants.push(rolling::Variant {
                service: "rolling-hc",
                task_definition: &checked,
                health_check: true,
                floor_image: health_image,
            });
        }
        if args.rolling_health_check != Some(true) {
            variants.push(rolling::Variant {
                service: "rolling-plain",
                task_definition: &plain,
                health_check: false,
                floor_image: &args.image,
            });
        }
        for variant in &variants {
            let (samples, floors) = rolling::run(args, fleet, &mut ecs, variant).await?;
            let title = if variant.health_check {
                format!(
                    "{} tasks with a container health check (interval {HEALTH_INTERVAL_SECS} s, \
                     retries {HEALTH_RETRIES})",
                    args.rolling_tasks
                )
            } else {
                format!("{} tasks without health checks", args.rolling_tasks)
            };
            results.rolling.push((title, variant.health_check, samples, floors));
        }
    }
    if args.measure.contains(&Measure::Loss) {
        results.loss = loss::run(args, fleet, &mut ecs, &plain).await?;
    }
    fleet.check_alive()?;
    results.environment.push_str(&format!("; load after {}", harness::loadavg()));
    Ok(results)
}

/// Waits while another benchmark (`api-bench`, `task-bench`) runs: parallel load would spoil
/// both.
pub async fn wait_for_other_bench(args: &Args) -> Result<()> {
    if args.no_wait_for_other_bench {
        return Ok(());
    }
    let deadline = Instant::now() + OTHER_BENCH_MAX_WAIT;
    loop {
        // pgrep exits 1 when nothing matches.
        let found =
            docker::run_timed("pgrep", &["-f", "api-bench|task-bench"], Duration::from_secs(10))
                .await
                .is_ok_and(|(pids, _)| !pids.is_empty());
        if !found {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("another benchmark kept running for {} s", OTHER_BENCH_MAX_WAIT.as_secs());
        }
        eprintln!("api-bench or task-bench is running; waiting 30 s before measuring");
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

/// What the machine is: cores, load, Docker's version.
async fn environment() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let docker = docker::docker(&["version", "--format", "{{.Server.Version}}"])
        .await
        .unwrap_or_else(|_| "?".into());
    format!("Machine: {cores} cores, Docker {docker}, load before {}", harness::loadavg())
}

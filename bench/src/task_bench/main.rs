//! `task-bench`: the overhead of starting ECS tasks through Flotilla (server + agent on Docker)
//! next to starting the same containers with `docker run -d`, measured in one run, alternating
//! the two, and printed as markdown tables:
//!
//! 1. one task at a time: RunTask → first DescribeTasks answer saying RUNNING, vs `docker run
//!    -d` until the CLI returns (ECS's RUNNING means the container was started, which is when
//!    `docker run -d` returns);
//! 2. a burst of 50: five concurrent RunTask calls with count 10 → all 50 RUNNING, vs 50
//!    concurrent `docker run -d` → all returned;
//! 3. the agent's resident memory, idle and with 50 tasks running.

// api-bench's SigV4 client, shared as a file (the bench crate has no library target).
#[allow(dead_code)]
#[path = "../client.rs"]
mod client;
mod docker;
mod ecs;
#[path = "../harness.rs"]
#[allow(dead_code)] // shared by the benchmark binaries; each uses part of it
mod harness;
mod report;
mod stack;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use futures_util::future::join_all;

use ecs::Ecs;
use report::{BurstSample, CpuUse, DockerSample, FlotillaSample, Memory, Results};
use stack::{AgentOptions, Stack};

/// At most this many tasks per RunTask (ECS's limit).
const RUN_TASK_MAX_COUNT: usize = 10;
/// A single task must be RUNNING (or stopped) within this time.
const SINGLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A burst must be RUNNING (or stopped) within this time.
const BURST_TIMEOUT: Duration = Duration::from_secs(300);
/// How long to wait for another benchmark (api-bench) to finish before giving up.
const OTHER_BENCH_MAX_WAIT: Duration = Duration::from_secs(2 * 3600);

#[derive(Parser, Debug)]
#[command(
    name = "task-bench",
    about = "ECS task start overhead: Flotilla (server + agent) vs docker run -d, side by side"
)]
pub struct Args {
    /// The `flotilla` binary to benchmark (use a release build).
    #[arg(long)]
    flotilla_bin: PathBuf,
    /// Measured single-task rounds (each: one Flotilla task and one docker run, alternating
    /// which goes first).
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Unmeasured rounds before them.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Burst rounds (each: one Flotilla burst and one docker burst, alternating).
    #[arg(long, default_value_t = 3)]
    burst_rounds: usize,
    /// Tasks in a burst (RunTask calls of at most 10, sent concurrently).
    #[arg(long, default_value_t = 50)]
    burst: usize,
    /// DescribeTasks polling interval while waiting for one task, in ms.
    #[arg(long, default_value_t = 10)]
    poll_ms: u64,
    /// DescribeTasks polling interval while waiting for a burst, in ms.
    #[arg(long, default_value_t = 10)]
    burst_poll_ms: u64,
    /// Pause after each measurement's cleanup, so the next one starts on a quiet machine, in ms.
    #[arg(long, default_value_t = 300)]
    settle_ms: u64,
    /// Memory (MiB) the agent announces, so that a burst fits.
    #[arg(long, default_value_t = 100_000)]
    agent_memory: u64,
    /// The image both sides run (built by `flotilla demo build-image` when it is the demo).
    #[arg(long, default_value = "flotilla/demo:latest")]
    image: String,
    /// Measure even while an `api-bench` process runs (by default each phase waits for it).
    #[arg(long)]
    no_wait_for_api_bench: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.rounds >= 1, "--rounds must be at least 1");
    anyhow::ensure!(args.burst >= 1, "--burst must be at least 1");
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

    let mut stack = Stack::start_server(&binary).await?;
    let result = measure(&args, &binary, &mut stack).await;
    if result.is_err() {
        eprint!("{}", stack.log_tails());
    }
    let results = result?;
    drop(stack);
    print!("{}", report::markdown(&args_summary(&args), &results));
    Ok(())
}

fn args_summary(args: &Args) -> report::Settings {
    report::Settings {
        rounds: args.rounds,
        warmup: args.warmup,
        burst_rounds: args.burst_rounds,
        burst: args.burst,
        poll_ms: args.poll_ms,
        burst_poll_ms: args.burst_poll_ms,
    }
}

async fn measure(args: &Args, binary: &std::path::Path, stack: &mut Stack) -> Result<Results> {
    let mut results = Results::new(environment().await);
    let mut ecs = Ecs::open(stack.port, &stack.signer).await?;
    ecs.register_task_definition(&args.image).await?;
    eprintln!("flotilla server on 127.0.0.1:{}; starting the agent", stack.port);
    stack
        .start_agent(binary, &AgentOptions { memory_mib: args.agent_memory, cleanup_wait_secs: 5 })
        .await?;
    let agent_pid = stack.agent_pid().context("agent pid")?;
    let server_pid = stack.server_pid().context("server pid")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    results.memory.agent_idle = stack::memory_mib(agent_pid)?.0;
    results.memory.server_idle = stack::memory_mib(server_pid)?.0;
    eprintln!("agent registered; idle VmRSS {:.1} MiB", results.memory.agent_idle);
    let ticks = harness::clock_ticks();
    let cpu = |pid| stack::cpu_seconds(pid, ticks);

    // (1) Single-task start, alternating; the warm-up rounds are not recorded.
    let poll = Duration::from_millis(args.poll_ms);
    let settle = Duration::from_millis(args.settle_ms);
    let mut single_cpu = CpuUse { tasks: args.rounds, ..CpuUse::default() };
    for round in 0..args.warmup + args.rounds {
        if round == args.warmup {
            single_cpu.agent -= cpu(agent_pid)?;
            single_cpu.server -= cpu(server_pid)?;
        }
        wait_for_other_bench(args).await?;
        stack.check_alive()?;
        let warmup = round < args.warmup;
        let flotilla_first = round % 2 == 0;
        let mut flotilla = None;
        let mut raw = None;
        for side in 0..2 {
            if (side == 0) == flotilla_first {
                flotilla = Some(single_flotilla(&mut ecs, stack, poll).await?);
            } else {
                raw = Some(single_docker(&args.image, &stack.raw_label).await?);
            }
            tokio::time::sleep(settle).await;
        }
        let (Some(flotilla), Some(raw)) = (flotilla, raw) else { unreachable!() };
        eprintln!(
            "{} {:>2}: flotilla {:>6.1} ms  docker run {:>6.1} ms",
            if warmup { "warm-up" } else { "round  " },
            if warmup { round + 1 } else { round + 1 - args.warmup },
            report::ms(flotilla.total),
            report::ms(raw.total)
        );
        if !warmup {
            results.flotilla.push(flotilla);
            results.docker.push(raw);
        }
    }

    single_cpu.agent += cpu(agent_pid)?;
    single_cpu.server += cpu(server_pid)?;
    results.single_cpu = single_cpu;

    // (2) Bursts, alternating; (3) the agent's memory while a burst runs.
    for round in 0..args.burst_rounds {
        let flotilla_first = round % 2 == 0;
        for side in 0..2 {
            wait_for_other_bench(args).await?;
            stack.check_alive()?;
            if (side == 0) == flotilla_first {
                let (agent_before, server_before) = (cpu(agent_pid)?, cpu(server_pid)?);
                let (sample, memory) =
                    burst_flotilla(args, stack, agent_pid, &mut results.memory).await?;
                results.burst_cpu.tasks += args.burst;
                results.burst_cpu.agent += cpu(agent_pid)? - agent_before;
                results.burst_cpu.server += cpu(server_pid)? - server_before;
                eprintln!(
                    "burst {}: flotilla all {} RUNNING after {:.0} ms (agent VmRSS {:.1} MiB)",
                    round + 1,
                    args.burst,
                    report::ms(sample.all),
                    memory
                );
                results.flotilla_bursts.push(sample);
            } else {
                let sample = burst_docker(args, &stack.raw_label).await?;
                eprintln!(
                    "burst {}: {} docker runs all returned after {:.0} ms",
                    round + 1,
                    args.burst,
                    report::ms(sample.all)
                );
                results.docker_bursts.push(sample);
            }
            tokio::time::sleep(settle).await;
        }
    }
    let (rss, peak) = stack::memory_mib(agent_pid)?;
    results.memory.agent_after = rss;
    results.memory.agent_peak = peak;
    results.memory.server_after = stack::memory_mib(server_pid)?.0;
    results.load_after = harness::loadavg();
    Ok(results)
}

/// One Flotilla task: timed from sending RunTask until DescribeTasks first answers RUNNING;
/// then stopped (StopTask, wait STOPPED) and its container removed, untimed.
async fn single_flotilla(ecs: &mut Ecs, stack: &Stack, poll: Duration) -> Result<FlotillaSample> {
    let sent = docker::epoch_now();
    let start = Instant::now();
    let arns = ecs.run_task(1).await?;
    let accepted = start.elapsed();
    let (_, total, views) = ecs.wait_running(&arns, start, poll, SINGLE_TIMEOUT).await?;
    let view = views.into_iter().next().context("DescribeTasks answered no task")?;
    let container = view.runtime_id.clone().context("RUNNING task without a container id")?;
    let times = docker::created_and_started(std::slice::from_ref(&container)).await?;
    ecs.stop_task(&view.arn).await?;
    ecs.wait_stopped(&arns, SINGLE_TIMEOUT).await?;
    remove_stopped_task_containers(stack).await?;
    let (created, started) = times.first().copied().context("docker inspect said nothing")?;
    Ok(FlotillaSample {
        total,
        accepted,
        sent,
        docker_created: created,
        docker_started: started,
        agent_running: view.started_at,
    })
}

/// One `docker run -d`, timed until the CLI returns; then `docker rm -f`, untimed.
async fn single_docker(image: &str, label: &str) -> Result<DockerSample> {
    let (id, total, sent) = docker::run_sleep(image, label).await?;
    let times = docker::created_and_started(std::slice::from_ref(&id)).await;
    docker::remove(&[id]).await?;
    let (created, started) = times?.first().copied().context("docker inspect said nothing")?;
    Ok(DockerSample { total, sent, docker_created: created, docker_started: started })
}

/// Removes the exited containers of the agent's stopped tasks (the agent would remove them
/// itself after --task-cleanup-wait; done here so that both sides clean up the same way).
async fn remove_stopped_task_containers(stack: &Stack) -> Result<()> {
    let Some(mut filters) = stack.agent_filters() else { return Ok(()) };
    filters.push("status=exited".into());
    let ids = docker::list(&filters).await?;
    docker::remove(&ids).await
}

/// A burst through Flotilla: `burst` tasks in RunTask calls of 10 sent concurrently (one
/// connection each), timed until DescribeTasks shows all RUNNING. Records the agent's memory
/// with them running, then stops them all (untimed). Returns the agent's VmRSS too.
async fn burst_flotilla(
    args: &Args,
    stack: &Stack,
    agent_pid: u32,
    memory: &mut Memory,
) -> Result<(BurstSample, f64)> {
    let counts: Vec<usize> = (0..args.burst)
        .step_by(RUN_TASK_MAX_COUNT)
        .map(|first| RUN_TASK_MAX_COUNT.min(args.burst - first))
        .collect();
    let mut senders = Vec::with_capacity(counts.len());
    for _ in &counts {
        senders.push(Ecs::open(stack.port, &stack.signer).await?);
    }
    let mut poller = Ecs::open(stack.port, &stack.signer).await?;

    let sent = docker::epoch_now();
    let start = Instant::now();
    let answers = join_all(senders.iter_mut().zip(&counts).map(|(ecs, &count)| async move {
        let arns = ecs.run_task(count).await;
        (arns, start.elapsed())
    }))
    .await;
    let mut arns = Vec::with_capacity(args.burst);
    let mut accepted = Duration::ZERO;
    let mut failure = None;
    for (answer, elapsed) in answers {
        accepted = accepted.max(elapsed);
        match answer {
            Ok(mut placed) => arns.append(&mut placed),
            Err(error) => failure = Some(error),
        }
    }
    let waited = match failure {
        Some(error) => Err(error),
        None => poller
            .wait_running(&arns, start, Duration::from_millis(args.burst_poll_ms), BURST_TIMEOUT)
            .await
            .map(Some),
    };
    let mut rss = 0.0;
    let mut sample = None;
    if let Ok(Some((first, all, views))) = &waited {
        rss = stack::memory_mib(agent_pid)?.0;
        memory.agent_burst = memory.agent_burst.max(rss);
        // The same tasks a few seconds later: steady state with all of them running.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let steady = stack::memory_mib(agent_pid)?.0;
        memory.agent_burst_steady = memory.agent_burst_steady.max(steady);
        let ids: Vec<String> = views.iter().filter_map(|v| v.runtime_id.clone()).collect();
        let times = docker::created_and_started(&ids).await?;
        let last_started = times.iter().map(|t| t.1).fold(f64::MIN, f64::max);
        sample = Some(BurstSample {
            first: *first,
            all: *all,
            accepted: Some(accepted),
            last_started: Duration::from_secs_f64((last_started - sent).max(0.0)),
        });
    }

    // Stop whatever was started, also after a failure (untimed).
    let per_sender = arns.len().div_ceil(senders.len().max(1)).max(1);
    let stops =
        join_all(senders.iter_mut().zip(arns.chunks(per_sender)).map(|(ecs, chunk)| async move {
            for arn in chunk {
                ecs.stop_task(arn).await?;
            }
            anyhow::Ok(())
        }))
        .await;
    waited?;
    for stop in stops {
        stop?;
    }
    poller.wait_stopped(&arns, BURST_TIMEOUT).await?;
    remove_stopped_task_containers(stack).await?;
    Ok((sample.context("burst sample")?, rss))
}

/// A burst of `burst` concurrent `docker run -d` (one CLI process each), timed until the last
/// returns; then all removed (untimed).
async fn burst_docker(args: &Args, label: &str) -> Result<BurstSample> {
    let sent = docker::epoch_now();
    let start = Instant::now();
    let runs = join_all((0..args.burst).map(|_| docker::run_sleep(&args.image, label))).await;
    let all = start.elapsed();
    let mut ids = Vec::with_capacity(runs.len());
    let mut first = all;
    let mut failure = None;
    for run in runs {
        match run {
            Ok((id, elapsed, _)) => {
                first = first.min(elapsed);
                ids.push(id);
            }
            Err(error) => failure = Some(error),
        }
    }
    let times = docker::created_and_started(&ids).await;
    docker::remove(&ids).await?;
    if let Some(error) = failure {
        return Err(error);
    }
    let last_started = times?.iter().map(|t| t.1).fold(f64::MIN, f64::max);
    Ok(BurstSample {
        first,
        all,
        accepted: None,
        last_started: Duration::from_secs_f64((last_started - sent).max(0.0)),
    })
}

/// Waits while another benchmark (`api-bench`) runs: parallel load would spoil both.
async fn wait_for_other_bench(args: &Args) -> Result<()> {
    if args.no_wait_for_api_bench {
        return Ok(());
    }
    let deadline = Instant::now() + OTHER_BENCH_MAX_WAIT;
    loop {
        // pgrep exits 1 when nothing matches.
        let found = docker::run_timed("pgrep", &["-f", "api-bench"], Duration::from_secs(10))
            .await
            .is_ok_and(|(pids, _)| !pids.is_empty());
        if !found {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("api-bench kept running for {} s", OTHER_BENCH_MAX_WAIT.as_secs());
        }
        eprintln!("api-bench is running; waiting 30 s before measuring");
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

/// What the machine is: cores, load, Docker's version.
async fn environment() -> report::Environment {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let docker = docker::docker(&["version", "--format", "{{.Server.Version}}"])
        .await
        .unwrap_or_else(|_| "?".into());
    report::Environment { cores, docker, load_before: harness::loadavg() }
}

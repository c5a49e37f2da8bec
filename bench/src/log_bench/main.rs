//! `log-bench`: container-log throughput through Flotilla (a container with the `awslogs`
//! driver → the agent following `docker logs` → its on-disk buffer → the server's log store →
//! GetLogEvents) next to Docker alone (`docker logs -f` of the same container on the json-file
//! driver), in one run, alternating the two, printed as markdown tables:
//!
//! 1. throughput end to end: a task writing N lines as fast as it can, every line read back
//!    and checked (each exactly once, in order);
//! 2. the agent's (and the server's, dockerd's) CPU while a task writes 10,000 lines/s;
//! 3. the goals: ≥ 50,000 lines/s, agent ≤ 25 % of a core at 10,000 lines/s, no line
//!    lost.
//!
//! A lost, repeated, reordered or changed line fails the run (after the report).

// Shared files of the other benchmarks (the bench crate has no library target): api-bench's
// SigV4 client and harness, task-bench's stack (server + one agent), ECS calls and docker CLI.
#[allow(dead_code)]
#[path = "../client.rs"]
mod client;
mod cpu;
#[allow(dead_code)]
#[path = "../task_bench/docker.rs"]
mod docker;
#[allow(dead_code)]
#[path = "../task_bench/ecs.rs"]
mod ecs;
mod flotilla;
#[path = "../harness.rs"]
#[allow(dead_code)] // shared by the benchmark binaries; each uses part of it
mod harness;
mod lines;
mod logs;
mod quiet;
mod raw;
mod report;
#[allow(dead_code)]
#[path = "../task_bench/stack.rs"]
mod stack;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

use cpu::Probe;
use ecs::Ecs;
use lines::LineCheck;
use report::{Results, RoundSample, SteadySample, Timing};
use stack::{AgentOptions, Stack};

/// Task definition families: the fast writer and the steady one.
const FAST_FAMILY: &str = "log-bench-fast";
const STEADY_FAMILY: &str = "log-bench-steady";
const WARMUP_FAMILY: &str = "log-bench-warmup";
/// Lines of the unrecorded warm-up writer on each side.
const WARMUP_LINES: u64 = 10_000;
/// What every line starts with.
const PREFIX: &str = "line";
/// A writer's lines must all be readable within this (the steady one: plus its duration).
const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Memory the agent announces (the writers take 128 MiB each).
const AGENT_MEMORY_MIB: u64 = 100_000;

#[derive(Parser, Debug)]
#[command(
    name = "log-bench",
    about = "Container-log throughput: Flotilla (awslogs → agent → server → GetLogEvents) vs \
             docker logs, side by side; agent CPU at 10,000 lines/s"
)]
pub struct Args {
    /// The `flotilla` binary to benchmark (use a release build).
    #[arg(long)]
    flotilla_bin: PathBuf,
    /// Lines each throughput writer writes (0: skip the throughput rounds).
    #[arg(long, default_value_t = 200_000)]
    lines: u64,
    /// Dots after each line's number: 90 makes lines of about 100 bytes.
    #[arg(long, default_value_t = 90)]
    pad: usize,
    /// Throughput rounds (each: one Flotilla writer and one docker writer, alternating which
    /// goes first).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Lines per second of the CPU phase's writer.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Seconds the CPU phase's writer writes (0: skip the CPU phase).
    #[arg(long, default_value_t = 20)]
    cpu_seconds: u64,
    /// GetLogEvents polling interval while caught up with a stream, in ms.
    #[arg(long, default_value_t = 25)]
    poll_ms: u64,
    /// Pause after each writer's cleanup, so the next one starts on a quiet machine, in ms.
    #[arg(long, default_value_t = 2000)]
    settle_ms: u64,
    /// The image both sides run (built by `flotilla demo build-image` when it is the demo).
    #[arg(long, default_value = "flotilla/demo:latest")]
    image: String,
    /// Measure even while another benchmark or a compiler runs (by default each phase waits).
    #[arg(long)]
    no_wait: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.rate >= 1, "--rate must be at least 1");
    harness::run_until_signal(bench(args))
}

async fn bench(args: Args) -> Result<()> {
    let binary = harness::flotilla_binary(&args.flotilla_bin)?;
    eprintln!("demo image: {binary:?} demo build-image");
    let (built, _) = docker::run_timed(
        &binary.to_string_lossy(),
        &["demo", "build-image"],
        Duration::from_secs(300),
    )
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
    let settings = report::Settings {
        lines: args.lines,
        pad: args.pad,
        rounds: args.rounds,
        poll_ms: args.poll_ms,
    };
    print!("{}", report::markdown(&settings, &results));
    if !results.exact() {
        bail!("lines were lost, repeated, reordered or changed (see the tables)");
    }
    Ok(())
}

/// `flotilla demo lines` arguments for `count` lines (at `rate` per second if given).
fn writer_command(count: u64, pad: usize, rate: Option<u64>) -> Vec<String> {
    let mut command = vec!["lines".to_string(), count.to_string()];
    if let Some(rate) = rate {
        command.extend(["--rate".to_string(), rate.to_string()]);
    }
    command.extend([
        "--prefix".to_string(),
        PREFIX.to_string(),
        "--pad".to_string(),
        pad.to_string(),
        // Keeps the container up after the last line, so its end is not part of the timing.
        "--then-sleep".to_string(),
    ]);
    command
}

async fn measure(args: &Args, binary: &Path, stack: &mut Stack) -> Result<Results> {
    let mut results = Results {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        docker_version: docker::docker(&["version", "--format", "{{.Server.Version}}"])
            .await
            .unwrap_or_else(|_| "?".into()),
        load_before: harness::loadavg(),
        load_after: String::new(),
        flotilla: Vec::new(),
        docker: Vec::new(),
        steady: None,
    };
    let steady_lines = args.rate * args.cpu_seconds;
    let mut ecs = Ecs::open(stack.port, &stack.signer).await?;
    let warmup_command = writer_command(WARMUP_LINES, args.pad, None);
    let fast_command = writer_command(args.lines, args.pad, None);
    let steady_command = writer_command(steady_lines, args.pad, Some(args.rate));
    for (family, command) in [
        (WARMUP_FAMILY, &warmup_command),
        (FAST_FAMILY, &fast_command),
        (STEADY_FAMILY, &steady_command),
    ] {
        flotilla::register(&mut ecs, family, &args.image, command).await?;
    }
    eprintln!("flotilla server on 127.0.0.1:{}; starting the agent", stack.port);
    stack
        .start_agent(binary, &AgentOptions { memory_mib: AGENT_MEMORY_MIB, cleanup_wait_secs: 5 })
        .await?;
    let probe = Probe::new(
        stack.agent_pid().context("agent pid")?,
        stack.server_pid().context("server pid")?,
    );
    let settle = Duration::from_millis(args.settle_ms);

    if args.lines > 0 && args.rounds > 0 {
        // Unrecorded: creates the log group, warms the page cache and both paths.
        quiet::wait(args.no_wait).await?;
        let f = flotilla_round(args, stack, &mut ecs, &probe, WARMUP_FAMILY, WARMUP_LINES).await?;
        let d = docker_round(args, stack, &probe, &warmup_command, WARMUP_LINES).await?;
        eprintln!("warm-up: {}; {}", f.tally.describe(), d.tally.describe());
        tokio::time::sleep(settle).await;
        for round in 0..args.rounds {
            let flotilla_first = round % 2 == 0;
            for side in 0..2 {
                quiet::wait(args.no_wait).await?;
                stack.check_alive()?;
                if (side == 0) == flotilla_first {
                    let sample =
                        flotilla_round(args, stack, &mut ecs, &probe, FAST_FAMILY, args.lines)
                            .await?;
                    log_round("flotilla", round, &sample);
                    results.flotilla.push(sample);
                } else {
                    let sample =
                        docker_round(args, stack, &probe, &fast_command, args.lines).await?;
                    log_round("docker  ", round, &sample);
                    results.docker.push(sample);
                }
                tokio::time::sleep(settle).await;
            }
        }
    }

    if args.cpu_seconds > 0 {
        quiet::wait(args.no_wait).await?;
        stack.check_alive()?;
        let sample = steady_round(args, stack, &mut ecs, &probe, steady_lines).await?;
        eprintln!(
            "steady {} lines/s: agent {:.1} % of a core over {:.1} s; {}",
            args.rate,
            100.0 * sample.cpu.agent / sample.window_secs,
            sample.window_secs,
            sample.tally.describe()
        );
        results.steady = Some(sample);
    }
    results.load_after = harness::loadavg();
    Ok(results)
}

fn log_round(side: &str, round: usize, sample: &RoundSample) {
    let t = &sample.timing;
    eprintln!(
        "round {}: {side} last line readable {:.2} s after the first was written \
         ({:.2} s after the container started); agent {:.2} s, server {:.2} s CPU; {}",
        round + 1,
        t.readable_at - t.first_line_at,
        t.readable_at - t.started,
        sample.cpu.agent,
        sample.cpu.server,
        sample.tally.describe()
    );
}

/// One Flotilla writer of `lines` lines, read back through GetLogEvents to the last line.
async fn flotilla_round(
    args: &Args,
    stack: &mut Stack,
    ecs: &mut Ecs,
    probe: &Probe,
    family: &str,
    lines: u64,
) -> Result<RoundSample> {
    let before = probe.sample()?;
    let check = LineCheck::new(PREFIX, args.pad, lines);
    let mut writer = flotilla::start(ecs, stack, family, check).await?;
    let poll = Duration::from_millis(args.poll_ms);
    let read = writer.read_to_end(stack, poll, Instant::now() + READ_TIMEOUT, |_| Ok(())).await;
    let cpu = probe.sample()? - before;
    let started = writer.container_started_at(ecs).await;
    let stopped = writer.stop(ecs, stack).await;
    read?;
    let reader = &writer.reader;
    let tally = reader.check.tally();
    let (Some(first_line_at), Some(last_line_at), Some(readable_at)) =
        (reader.first_line_at, reader.last_line_at, reader.last_readable_at)
    else {
        bail!(
            "Flotilla: the last line was not readable within {} s; {}",
            READ_TIMEOUT.as_secs(),
            tally.describe()
        );
    };
    stopped?;
    let timing = Timing { started: started?, first_line_at, last_line_at, readable_at };
    Ok(RoundSample { lines, timing, tally, cpu })
}

/// One `docker run -d` writer of `lines` lines, read back by `docker logs -f` to the last line.
async fn docker_round(
    args: &Args,
    stack: &Stack,
    probe: &Probe,
    command: &[String],
    lines: u64,
) -> Result<RoundSample> {
    let before = probe.sample()?;
    let id = raw::run_writer(&args.image, &stack.raw_label, command).await?;
    let followed = raw::follow(&id, LineCheck::new(PREFIX, args.pad, lines), READ_TIMEOUT).await;
    let cpu = probe.sample()? - before;
    let started = docker::created_and_started(std::slice::from_ref(&id)).await;
    docker::remove(std::slice::from_ref(&id)).await?;
    let followed = followed?;
    let (Some(first_line_at), Some(last_line_at), Some(readable_at)) =
        (followed.first_line_at, followed.last_line_at, followed.readable_at)
    else {
        bail!(
            "docker: the last line was not readable within {} s; {}",
            READ_TIMEOUT.as_secs(),
            followed.tally.describe()
        );
    };
    let started = started?.first().context("docker inspect said nothing")?.1;
    let timing = Timing { started, first_line_at, last_line_at, readable_at };
    Ok(RoundSample { lines, timing, tally: followed.tally, cpu })
}

/// The CPU phase: a writer at a steady rate; CPU from its first line readable to its last.
async fn steady_round(
    args: &Args,
    stack: &mut Stack,
    ecs: &mut Ecs,
    probe: &Probe,
    lines: u64,
) -> Result<SteadySample> {
    let check = LineCheck::new(PREFIX, args.pad, lines);
    let mut writer = flotilla::start(ecs, stack, STEADY_FAMILY, check).await?;
    let poll = Duration::from_millis(args.poll_ms);
    let deadline = Instant::now() + READ_TIMEOUT + Duration::from_secs(args.cpu_seconds);
    let mut window_start = None;
    let read = writer
        .read_to_end(stack, poll, deadline, |reader| {
            if window_start.is_none() && reader.first_line_at.is_some() {
                window_start = Some((Instant::now(), probe.sample()?));
            }
            Ok(())
        })
        .await;
    let window_end = (Instant::now(), probe.sample()?);
    let started = writer.container_started_at(ecs).await;
    let stopped = writer.stop(ecs, stack).await;
    read?;
    let reader = &writer.reader;
    let tally = reader.check.tally();
    let (Some(first_line_at), Some(last_line_at), Some(readable_at), Some((since, before))) =
        (reader.first_line_at, reader.last_line_at, reader.last_readable_at, window_start)
    else {
        bail!("steady writer: the last line was not readable in time; {}", tally.describe());
    };
    stopped?;
    Ok(SteadySample {
        lines,
        rate: args.rate,
        timing: Timing { started: started?, first_line_at, last_line_at, readable_at },
        tally,
        cpu: window_end.1 - before,
        window_secs: window_end.0.duration_since(since).as_secs_f64(),
    })
}

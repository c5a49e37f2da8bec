//! `scale-bench`: the placement engine at scale, on hollow agents (`flotilla sim agents`), in
//! phases printed as one markdown report with the issue's goals met or missed:
//!
//! 1. registration: `flotilla server` (release build, free loopback port, temporary data
//!    directory), cluster `scale`, then `--instances` hollow instances in `--zones` zones,
//!    timed until ListContainerInstances counts them all;
//! 2. services: `--services` services of `--tasks-per-service` tasks each (spread over zones,
//!    then binpack on memory), timed from the first CreateService until every runningCount
//!    equals its desiredCount; then placement quality (instances used against the fewest that
//!    could hold the tasks, tasks per zone);
//! 3. storm: `--storm-clients` closed-loop clients calling RunTask (count 10, group "storm")
//!    for `--storm-seconds`; optionally also during the services phase
//!    (`--storm-during-services`).
//!
//! The server's VmRSS/VmHWM and CPU time are sampled at the end of each phase. Each hollow
//! instance is one WebSocket, so one file descriptor in each of the two processes: 10,000
//! instances need `ulimit -n` above ~10,300 (checked at start; nothing is raised here).
//! Everything is killed and the data directory removed at the end, also on failure or
//! Ctrl-C/SIGTERM.

// api-bench's SigV4 client and task-bench's ECS connection, shared as files (the bench crate
// has no library target).
mod api;
#[allow(dead_code)]
#[path = "../client.rs"]
mod client;
#[allow(dead_code)]
#[path = "../task_bench/ecs.rs"]
mod ecs;
#[path = "../harness.rs"]
#[allow(dead_code)] // shared by the benchmark binaries; each uses part of it
mod harness;
mod quality;
mod report;
mod services;
mod stack;
mod storm;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;

use ecs::Ecs;
use report::{Phase, Results};
use stack::{SimOptions, Stack};

const CLUSTER: &str = "scale";
const SERVICE_FAMILY: &str = "scale-service";
const STORM_FAMILY: &str = "scale-storm";
/// File descriptors the processes need beyond one per instance.
const SPARE_FDS: u64 = 300;

#[derive(Parser, Debug)]
#[command(
    name = "scale-bench",
    about = "Placement at scale on hollow agents: registration, services rollout, placement \
             quality and a RunTask storm, against the issue's goals"
)]
pub struct Args {
    /// The `flotilla` binary to benchmark (use a release build).
    #[arg(long, default_value = "target/release/flotilla")]
    flotilla_bin: PathBuf,
    /// Hollow container instances.
    #[arg(long, default_value_t = 10_000)]
    instances: usize,
    /// Availability zones the instances are dealt to (zone-a, zone-b, ...).
    #[arg(long, default_value_t = 3)]
    zones: usize,
    /// CPU units each instance announces.
    #[arg(long, default_value_t = 8192)]
    cpu: u32,
    /// Memory (MiB) each instance announces.
    #[arg(long, default_value_t = 8192)]
    memory: u32,
    /// Milliseconds a hollow task stays PENDING before it reports RUNNING.
    #[arg(long, default_value_t = 0)]
    start_delay_ms: u64,
    /// How long the instances get to register, seconds.
    #[arg(long, default_value_t = 600)]
    register_timeout: u64,
    /// The tasks' image (never pulled: the agents are hollow).
    #[arg(long, default_value = "flotilla/demo:latest")]
    image: String,
    /// Services created in the services phase.
    #[arg(long, default_value_t = 10)]
    services: usize,
    /// Desired count of each service.
    #[arg(long, default_value_t = 5000)]
    tasks_per_service: u32,
    /// Memory (MiB) of a service task's container (cpu 0).
    #[arg(long, default_value_t = 512)]
    task_memory: u32,
    /// DescribeServices polling interval while the services roll out, ms.
    #[arg(long, default_value_t = 250)]
    poll_ms: u64,
    /// How long the services get to be RUNNING, seconds.
    #[arg(long, default_value_t = 600)]
    services_timeout: u64,
    /// Concurrent RunTask clients in the storm.
    #[arg(long, default_value_t = 16)]
    storm_clients: usize,
    /// Length of the storm, seconds.
    #[arg(long, default_value_t = 10.0)]
    storm_seconds: f64,
    /// Tasks per RunTask call.
    #[arg(long, default_value_t = 10)]
    storm_count: u32,
    /// Memory (MiB) of a storm task's container, small so the storm does not run out of room.
    #[arg(long, default_value_t = 128)]
    storm_task_memory: u32,
    /// Also run a storm (same settings) from the first CreateService on.
    #[arg(long)]
    storm_during_services: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.instances >= 1 && args.services >= 1, "need instances and services");
    ensure!(args.zones >= 1 && args.zones <= 26, "--zones must be 1 to 26");
    ensure!((1..=10).contains(&args.storm_count), "--storm-count must be 1 to 10 (RunTask)");
    ensure!(args.task_memory >= 1 && args.storm_task_memory >= 1, "task memory must be positive");
    let fits = u64::from(args.memory / args.task_memory) * args.instances as u64;
    let tasks = args.services as u64 * u64::from(args.tasks_per_service);
    ensure!(fits >= tasks, "{tasks} service tasks do not fit: the instances hold {fits}");
    if let Some(limit) = stack::open_files_limit() {
        ensure!(
            limit >= args.instances as u64 + SPARE_FDS,
            "ulimit -n is {limit}: {} instances need about {} file descriptors in the server and \
             in the sim agents each; raise it (ulimit -n) in the shell first",
            args.instances,
            args.instances as u64 + SPARE_FDS
        );
    }
    harness::run_until_signal(bench(args))
}

async fn bench(args: Args) -> Result<()> {
    let binary = harness::flotilla_binary(&args.flotilla_bin)?;
    let machine = format!("Machine: {}; load before {}", machine(), harness::loadavg());
    let max_tasks = args.tasks_per_service.max(5000);
    let mut stack = Stack::start_server(&binary, max_tasks).await?;
    eprintln!("flotilla server on 127.0.0.1:{}", stack.port);
    let result = measure(&args, &binary, &mut stack).await;
    if result.is_err() {
        eprint!("{}", stack.log_tails());
    }
    drop(stack);
    let mut results = result?;
    results.machine = format!("{machine}; load after {}", harness::loadavg());
    print!("{}", report::markdown(&results));
    Ok(())
}

/// Samples the processes at the end of a phase.
struct Sampler {
    server: u32,
    sim: u32,
    ticks_per_second: f64,
    phase_start: Instant,
    /// CPU ticks of the server and the sim agents when the phase started.
    cpu_at_start: (f64, f64),
}

impl Sampler {
    fn end_phase(&mut self, name: &'static str) -> Result<Phase> {
        let cpu = (stack::cpu_ticks(self.server)?, stack::cpu_ticks(self.sim)?);
        let phase = Phase {
            name,
            elapsed: self.phase_start.elapsed(),
            server: stack::memory(self.server)?,
            server_cpu_seconds: (cpu.0 - self.cpu_at_start.0) / self.ticks_per_second,
            sim: stack::memory(self.sim)?,
            sim_cpu_seconds: (cpu.1 - self.cpu_at_start.1) / self.ticks_per_second,
        };
        eprintln!(
            "{name}: {:.2} s; server VmRSS {:.1} MiB, VmHWM {:.1} MiB, {:.2} CPU s",
            phase.elapsed.as_secs_f64(),
            phase.server.rss,
            phase.server.hwm,
            phase.server_cpu_seconds
        );
        self.phase_start = Instant::now();
        self.cpu_at_start = cpu;
        Ok(phase)
    }
}

async fn measure(args: &Args, binary: &Path, stack: &mut Stack) -> Result<Results> {
    let mut ecs = Ecs::open(stack.port, &stack.signer).await?;
    api::create_cluster(&mut ecs, CLUSTER).await?;
    let server_pid = stack.server_pid().context("server pid")?;

    // Phase 1: registration.
    let server_cpu = stack::cpu_ticks(server_pid)?;
    let start = Instant::now();
    stack.spawn_sim(
        binary,
        &SimOptions {
            cluster: CLUSTER,
            count: args.instances,
            cpu: args.cpu,
            memory: args.memory,
            zones: args.zones,
            start_delay_ms: args.start_delay_ms,
        },
    )?;
    let sim_pid = stack.sim_pid().context("sim agents pid")?;
    let mut sampler = Sampler {
        server: server_pid,
        sim: sim_pid,
        ticks_per_second: harness::clock_ticks(),
        phase_start: start,
        // The sim agents' CPU time counts from their start.
        cpu_at_start: (server_cpu, 0.0),
    };
    let (registration, full_listing) = wait_registered(args, stack, &mut ecs, start).await?;
    eprintln!("{} instances registered in {:.2} s", args.instances, registration.as_secs_f64());
    let mut phases = vec![sampler.end_phase("registration")?];

    let service_td = api::register(&mut ecs, SERVICE_FAMILY, &args.image, args.task_memory).await?;
    let storm_td =
        api::register(&mut ecs, STORM_FAMILY, &args.image, args.storm_task_memory).await?;
    let signer = stack.signer.clone();
    let storm = storm::Storm {
        port: stack.port,
        signer: &signer,
        cluster: CLUSTER,
        task_definition: &storm_td,
        clients: args.storm_clients,
        count: args.storm_count,
        duration: Duration::from_secs_f64(args.storm_seconds),
    };

    // Phase 2: services (with the storm alongside if asked).
    let plan = services::Plan {
        cluster: CLUSTER,
        task_definition: &service_td,
        services: args.services,
        tasks_per_service: args.tasks_per_service,
        poll: Duration::from_millis(args.poll_ms),
        timeout: Duration::from_secs(args.services_timeout),
    };
    sampler.end_phase("task definitions")?;
    let (services, services_storm) = if args.storm_during_services {
        let (services, during) =
            tokio::join!(services::run(&mut ecs, stack, &plan), storm::run(&storm));
        (services?, Some(during?))
    } else {
        (services::run(&mut ecs, stack, &plan).await?, None)
    };
    eprintln!(
        "services: {} tasks RUNNING in {:.2} s ({:.0} tasks/s)",
        services.tasks,
        services.all_running.as_secs_f64(),
        services.tasks_per_second()
    );
    phases.push(sampler.end_phase("services")?);

    let quality =
        quality::measure(&mut ecs, CLUSTER, services.tasks, args.task_memory, args.memory).await?;
    eprintln!("placement: {} instances used, lower bound {}", quality.used, quality.lower_bound);
    phases.push(sampler.end_phase("placement quality")?);

    // Phase 3: the storm alone.
    stack.check_alive()?;
    let storm = storm::run(&storm).await?;
    eprintln!(
        "storm: {} calls, {} tasks, {} failures, {} HTTP errors",
        storm.calls(),
        storm.tasks_started,
        storm.failure_count(),
        storm.http_errors
    );
    phases.push(sampler.end_phase("storm")?);
    stack.check_alive()?;

    Ok(Results {
        command: command_line(),
        machine: String::new(),
        settings: settings(args),
        instances: args.instances,
        registration,
        full_listing,
        services,
        services_storm,
        quality,
        storm,
        phases,
    })
}

/// Polls ListContainerInstances (all pages) every 500 ms until it counts every instance;
/// returns the time since `start` and how long the last listing took.
async fn wait_registered(
    args: &Args,
    stack: &mut Stack,
    ecs: &mut Ecs,
    start: Instant,
) -> Result<(Duration, Duration)> {
    let timeout = Duration::from_secs(args.register_timeout);
    let mut last_progress = Instant::now();
    loop {
        stack.check_alive()?;
        let listing = Instant::now();
        let count = api::list_instances(ecs, CLUSTER, None).await?.len();
        let (seen, listed) = (start.elapsed(), listing.elapsed());
        if count >= args.instances {
            return Ok((seen, listed));
        }
        if seen > timeout {
            bail!(
                "only {count} of {} instances registered within {} s",
                args.instances,
                timeout.as_secs()
            );
        }
        if last_progress.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "  {:>6.1} s: {count} of {} instances registered",
                seen.as_secs_f64(),
                args.instances
            );
            last_progress = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500).saturating_sub(listed)).await;
    }
}

fn settings(args: &Args) -> String {
    format!(
        "Settings: {} hollow instances ({} CPU units, {} MiB, {} zones, start delay {} ms); {} \
         services × {} tasks of {} MiB (cpu 0), strategy spread(attribute:ecs.availability-zone) \
         then binpack(memory), DescribeServices polled every {} ms; storm: {} clients × RunTask \
         count {} ({} MiB tasks, group storm, default strategy) for {} s{}.",
        args.instances,
        args.cpu,
        args.memory,
        args.zones,
        args.start_delay_ms,
        args.services,
        args.tasks_per_service,
        args.task_memory,
        args.poll_ms,
        args.storm_clients,
        args.storm_count,
        args.storm_task_memory,
        args.storm_seconds,
        if args.storm_during_services { ", also during the services phase" } else { "" }
    )
}

/// The exact command line, quoted where needed.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if !a.is_empty()
                && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Cores, memory and the open-files limit.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or("?".into(), |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0));
    let fds = stack::open_files_limit().map_or("?".into(), |n| n.to_string());
    format!("{cores} cores (nproc), {memory} memory, ulimit -n {fds}")
}

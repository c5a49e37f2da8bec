//! The raw-Docker side of the comparison, and cleanup, through the `docker` CLI: what a user
//! would type, so its process start-up is part of what `docker run` costs.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A docker command that takes longer than this fails the benchmark (and is killed).
const DOCKER_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `docker ARGS` with a deadline; returns its stdout, or fails with its stderr.
pub async fn docker(args: &[&str]) -> Result<String> {
    Ok(docker_timed(args).await?.0)
}

async fn docker_timed(args: &[&str]) -> Result<(String, Duration)> {
    run_timed("docker", args, DOCKER_TIMEOUT).await
}

/// Runs `PROGRAM ARGS` on a blocking thread (std's processes: no extra tokio features for
/// the workspace) and times it from spawning until it has exited; killed after `timeout`.
/// Returns its trimmed stdout, or fails with its stderr.
pub async fn run_timed(
    program: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<(String, Duration)> {
    let program = program.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let command = format!("{program} {}", args.join(" "));
    // The running child, for the deadline to kill; taken back once it has closed its stdout.
    let slot: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(None));
    let job = {
        let slot = Arc::clone(&slot);
        tokio::task::spawn_blocking(move || -> Result<(String, Duration, String, bool)> {
            let _in_flight = InFlight::new();
            let start = Instant::now();
            let mut child = Command::new(&program)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("cannot run {program}"))?;
            let mut stdout = child.stdout.take().context("no stdout pipe")?;
            let mut stderr = child.stderr.take().context("no stderr pipe")?;
            *lock(&slot) = Some(child);
            // EOF on stdout: the program is exiting (its few lines of stderr fit the pipe).
            let mut out = String::new();
            stdout.read_to_string(&mut out)?;
            let mut child = lock(&slot).take().context("killed at the deadline")?;
            let status = child.wait()?;
            let elapsed = start.elapsed();
            let mut err = String::new();
            stderr.read_to_string(&mut err)?;
            Ok((out, elapsed, err, status.success()))
        })
    };
    let (out, elapsed, err, success) = match tokio::time::timeout(timeout, job).await {
        Ok(joined) => joined.context("process thread")??,
        Err(_) => {
            if let Some(child) = lock(&slot).as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
            bail!("`{command}` took longer than {} s", timeout.as_secs());
        }
    };
    if !success {
        bail!("`{command}` failed: {}", err.trim());
    }
    Ok((out.trim().to_string(), elapsed))
}

/// Programs started by `run_timed` that have not exited yet.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Counts a running program in `IN_FLIGHT` while alive.
struct InFlight;

impl InFlight {
    fn new() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Blocks until every program `run_timed` started has exited (at most `DOCKER_TIMEOUT`), so
/// that cleanup sees the containers of `docker run`s that were still in flight.
pub fn wait_in_flight_blocking() {
    let deadline = Instant::now() + DOCKER_TIMEOUT;
    while IN_FLIGHT.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `docker run -d --memory 32m --cpu-shares 16 --label LABEL IMAGE sleep`, timed from spawning
/// the CLI until it returns (Docker has created and started the container by then). Returns the
/// container id and the time, and when the CLI was spawned (epoch seconds).
pub async fn run_sleep(image: &str, label: &str) -> Result<(String, Duration, f64)> {
    let sent = epoch_now();
    let (id, elapsed) = docker_timed(&[
        "run",
        "-d",
        "--memory",
        "32m",
        "--cpu-shares",
        "16",
        "--label",
        label,
        image,
        "sleep",
    ])
    .await?;
    if id.is_empty() {
        bail!("docker run -d printed no container id");
    }
    Ok((id, elapsed, sent))
}

/// `docker rm -f` of every given container (nothing to do for none).
pub async fn remove(ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    docker(&args).await.map(|_| ())
}

/// Ids of the containers (running or not) matching every filter (`label=...`, `status=...`).
pub async fn list(filters: &[String]) -> Result<Vec<String>> {
    let mut args = vec!["ps", "-aq", "--no-trunc"];
    for filter in filters {
        args.push("--filter");
        args.push(filter);
    }
    Ok(docker(&args).await?.lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
}

/// When Docker created and started each container (epoch seconds, nanosecond precision).
pub async fn created_and_started(ids: &[String]) -> Result<Vec<(f64, f64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["inspect", "--format", "{{.Created}} {{.State.StartedAt}}"];
    args.extend(ids.iter().map(String::as_str));
    let text = docker(&args).await?;
    text.lines()
        .map(|line| {
            let (created, started) =
                line.split_once(' ').with_context(|| format!("unexpected inspect line {line}"))?;
            Ok((epoch(created)?, epoch(started)?))
        })
        .collect()
}

/// An RFC 3339 time (Docker's, nanosecond precision) as epoch seconds.
pub fn epoch(rfc3339: &str) -> Result<f64> {
    let time = OffsetDateTime::parse(rfc3339, &Rfc3339)
        .with_context(|| format!("not an RFC 3339 time: {rfc3339}"))?;
    Ok(time.unix_timestamp_nanos() as f64 / 1e9)
}

pub fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Synchronous cleanup for `Drop`: `docker rm -f` of everything matching `filters`.
pub fn remove_matching_blocking(filters: &[String]) {
    let mut list = Command::new("docker");
    list.args(["ps", "-aq", "--no-trunc"]);
    for filter in filters {
        list.args(["--filter", filter]);
    }
    let Some(stdout) = run_blocking(list) else { return };
    let ids: Vec<&str> = stdout.lines().filter(|l| !l.is_empty()).collect();
    if ids.is_empty() {
        return;
    }
    eprintln!("cleanup: removing {} container(s) matching {}", ids.len(), filters.join(" "));
    let mut remove = Command::new("docker");
    remove.args(["rm", "-f"]).args(&ids);
    if run_blocking(remove).is_none() {
        eprintln!("cleanup: `docker rm -f` failed; remove them by hand: docker ps -a --filter ...");
    }
}

/// Runs a command to completion within `DOCKER_TIMEOUT` (killed after); its stdout on success.
fn run_blocking(mut command: Command) -> Option<String> {
    let mut child =
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().ok()?;
    let mut stdout = child.stdout.take()?;
    // The pipe is drained on a thread so a large output cannot block the child.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + DOCKER_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let text = reader.join().ok()?;
    status.filter(|s| s.success()).map(|_| text)
}

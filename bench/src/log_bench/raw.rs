//! The peer: the same writer started with `docker run -d` on Docker's json-file driver (with
//! the caps Flotilla's agent gives `awslogs` containers), read back by `docker logs -f
//! --timestamps` from the start until the last line is there — what the agent itself reads,
//! without shipping, storing or serving.

use std::io::{BufRead, BufReader};
use std::process::{ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::docker::{self, epoch, epoch_now};
use crate::lines::{LineCheck, Tally};
use anyhow::{bail, Context, Result};

/// The writer's container, as a user would start it.
pub async fn run_writer(image: &str, label: &str, command: &[String]) -> Result<String> {
    let mut args = vec![
        "run",
        "-d",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=100m",
        "--log-opt",
        "max-file=3",
        "--memory",
        "128m",
        "--cpu-shares",
        "1024",
        "--label",
        label,
        image,
    ];
    args.extend(command.iter().map(String::as_str));
    let id = docker::docker(&args).await?;
    if id.is_empty() {
        bail!("docker run -d printed no container id");
    }
    Ok(id)
}

/// What `docker logs -f` delivered.
pub struct Followed {
    pub tally: Tally,
    /// Docker's timestamps of the first and the last line (epoch seconds).
    pub first_line_at: Option<f64>,
    pub last_line_at: Option<f64>,
    /// When the last line was read from `docker logs` (epoch seconds).
    pub readable_at: Option<f64>,
}

/// Follows container `id`'s output from its start until the last expected line (or
/// `timeout`).
pub async fn follow(id: &str, check: LineCheck, timeout: Duration) -> Result<Followed> {
    let mut child = Command::new("docker")
        .args(["logs", "-f", "--timestamps", id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot run docker logs")?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let mut reader = tokio::task::spawn_blocking(move || read(stdout, check));
    let finished = tokio::time::timeout(timeout, &mut reader).await;
    // Killing the CLI closes the pipe, which ends a reader still waiting for lines.
    let _ = child.kill();
    let _ = child.wait();
    match finished {
        Ok(joined) => joined.context("docker logs reader")?,
        Err(_) => reader.await.context("docker logs reader")?,
    }
}

fn read(stdout: ChildStdout, mut check: LineCheck) -> Result<Followed> {
    let mut lines = BufReader::with_capacity(256 * 1024, stdout);
    let mut line = String::new();
    let mut followed = Followed {
        tally: Tally::default(),
        first_line_at: None,
        last_line_at: None,
        readable_at: None,
    };
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            break;
        }
        let Some((timestamp, message)) = line.trim_end_matches('\n').split_once(' ') else {
            continue;
        };
        let Some(n) = check.push(message) else { continue };
        if n == 1 {
            followed.first_line_at = Some(epoch(timestamp)?);
        }
        if check.reached_last() {
            followed.readable_at = Some(epoch_now());
            followed.last_line_at = Some(epoch(timestamp)?);
            break;
        }
    }
    followed.tally = check.tally();
    Ok(followed)
}

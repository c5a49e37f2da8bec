//! Waiting for a quiet machine: log throughput on 2 shared cores means little while another
//! benchmark or a compiler runs, so each phase waits for them to finish.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::harness::loadavg;

/// Process names (`/proc/<pid>/comm`) that spoil a measurement: the other benchmarks and
/// compilers. Names, not command lines: this benchmark's own server and agent have
/// `task-bench-…` data directories in theirs.
const DISTURBERS: [&str; 7] =
    ["api-bench", "task-bench", "service-bench", "scale-bench", "rustc", "cc1", "cc1plus"];
const CHECK_EVERY: Duration = Duration::from_secs(15);
const MAX_WAIT: Duration = Duration::from_secs(2 * 3600);

/// Returns once none runs (at once with `skip`).
pub async fn wait(skip: bool) -> Result<()> {
    if skip {
        return Ok(());
    }
    let deadline = Instant::now() + MAX_WAIT;
    loop {
        let Some(name) = running_disturber() else { return Ok(()) };
        if Instant::now() > deadline {
            bail!("{name} kept running for {} s", MAX_WAIT.as_secs());
        }
        eprintln!(
            "{name} is running (load {}); waiting {} s (--no-wait measures anyway)",
            loadavg(),
            CHECK_EVERY.as_secs()
        );
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

/// The name of a running process of `DISTURBERS`, if any.
fn running_disturber() -> Option<String> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|entry| {
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        let name = comm.trim_end();
        DISTURBERS.contains(&name).then(|| name.to_string())
    })
}

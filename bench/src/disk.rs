//! What the disk allows a durable write: the median latency of writing a batch-sized file and
//! fsyncing it, where the server keeps its store (the temporary directory). A server that
//! group-commits can answer at most `clients / that latency` durable requests a second with one
//! batch in flight at a time; api-bench prints it beside RegisterTaskDefinition's throughput.

use std::io::Write;
use std::time::{Duration, Instant};

/// Median time of `rounds` writes of `bytes` bytes to a fresh file, each followed by fsync.
pub fn write_fsync_median(bytes: usize, rounds: usize) -> std::io::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let data = vec![0x5au8; bytes];
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let path = dir.path().join(format!("batch-{round}"));
        let started = Instant::now();
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&data)?;
        file.sync_all()?;
        times.push(started.elapsed());
        drop(file);
        std::fs::remove_file(&path)?;
    }
    times.sort();
    Ok(times[times.len() / 2])
}

//! `log-store-bench`: ingest throughput of CloudWatch Logs' store alone (no HTTP, no agent):
//! writers appending batches of ~100-byte lines through the agents' path
//! (`agent_batches::store`), next to the disk's own pace for the same bytes (each batch
//! appended to a plain file and fsynced, as a durable commit must), in one run, printed with
//! the ratio. `log-bench` measures the whole path from a container.

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Parser;
use flotilla_api::agent::{LogBatch, LogLine, LogStreamBatch};
use flotilla_logs::LogStore;

#[derive(Parser)]
#[command(about = "Log store ingest vs the disk's pace for the same batches")]
struct Args {
    /// Concurrent writers (agents).
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Batches each writer sends.
    #[arg(long, default_value_t = 40)]
    batches: usize,
    /// Lines per batch.
    #[arg(long, default_value_t = 5_000)]
    lines: usize,
}

/// Epoch milliseconds the lines are stamped from.
const NOW: i64 = 1_700_000_000_000;

fn line(writer: usize, batch: usize, i: usize) -> String {
    format!("{writer:02} {batch:04} {i:05} GET /api/v1/items?page=3 200 12ms user-agent=curl/8.5.0 trace=abcdef0123456789")
}

/// Lines per second through the log store.
async fn store_rate(args: &Args, dir: &std::path::Path) -> anyhow::Result<f64> {
    let store = LogStore::open(&dir.join("logs.redb"))?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let store = store.clone();
        let (batches, lines) = (args.batches, args.lines);
        tasks.push(tokio::spawn(async move {
            for b in 0..batches {
                let events = (0..lines)
                    .map(|i| LogLine {
                        timestamp: NOW + (b * lines + i) as i64,
                        message: line(w, b, i),
                    })
                    .collect();
                let batch = LogBatch {
                    streams: vec![LogStreamBatch {
                        task_arn: None,
                        group: "/bench".into(),
                        stream: format!("writer-{w}"),
                        create_group: true,
                        events,
                    }],
                };
                let reply = flotilla_logs::agent_batches::store(&store, batch, NOW)
                    .await
                    .map_err(|e| anyhow::anyhow!("store: {e}"))?;
                anyhow::ensure!(
                    reply.accepted == lines as u64,
                    "{} of {lines} lines",
                    reply.accepted
                );
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((args.writers * args.batches * args.lines) as f64 / started.elapsed().as_secs_f64())
}

/// Lines per second when each writer appends its batches' bytes to a file of its own and
/// fsyncs after each: what the disk allows a durable store.
async fn disk_rate(args: &Args, dir: &std::path::Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let path = dir.join(format!("raw-{w}"));
        let (batches, lines) = (args.batches, args.lines);
        tasks.push(tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::create(&path)?;
            for b in 0..batches {
                let mut bytes = Vec::with_capacity(lines * 110);
                for i in 0..lines {
                    writeln!(bytes, "{}\t{}", NOW + (b * lines + i) as i64, line(w, b, i))?;
                }
                file.write_all(&bytes)?;
                file.sync_data()?;
            }
            Ok::<(), std::io::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((args.writers * args.batches * args.lines) as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Two turns each, alternated (ABBA), so the machine's drift falls on both.
    let mut store = Vec::new();
    let mut disk = Vec::new();
    for turn in 0..4 {
        let dir = tempfile::tempdir()?;
        if turn == 0 || turn == 3 {
            store.push(store_rate(&args, dir.path()).await?);
        } else {
            disk.push(disk_rate(&args, dir.path()).await?);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (store, disk) = (mean(&store), mean(&disk));
    println!("| path | lines/s |\n|---|---|");
    println!(
        "| log store ({} writers × {} batches × {} lines) | {store:.0} |",
        args.writers, args.batches, args.lines
    );
    println!("| disk: the same bytes appended and fsynced per batch | {disk:.0} |");
    println!("\nratio store / disk: {:.2}", store / disk);
    Ok(())
}

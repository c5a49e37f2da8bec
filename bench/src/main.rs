//! `api-bench`: ECS API throughput and latency of Flotilla and moto, measured side by side on
//! loopback with the same seed data, workloads and client, printed as a markdown table; with
//! `--iam-user`, Flotilla again signed by an IAM user whose policy has 20 statements (what
//! authorization costs next to the root key, which no policy is evaluated for). Beside
//! RegisterTaskDefinition it prints what the disk allows: the clients over the median latency
//! of writing and fsyncing a batch-sized file, measured in the same run.

mod client;
mod disk;
#[allow(dead_code)] // shared by the benchmark binaries; each uses part of it
mod harness;
mod iam_user;
mod load;
mod servers;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

use load::{Outcome, Workload};
use servers::Server;

#[derive(Parser, Debug)]
#[command(name = "api-bench", about = "ECS API throughput: Flotilla vs moto, side by side")]
struct Args {
    /// The `flotilla` binary to benchmark (use a release build).
    #[arg(long)]
    flotilla_bin: PathBuf,
    /// Concurrent closed-loop clients, one keep-alive connection each.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds each workload runs against each server.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// At most this many requests per workload and server.
    #[arg(long, default_value_t = 5_000_000)]
    max_requests: u64,
    /// The Python that runs moto's server (`pip install 'moto[server]'`).
    #[arg(long, default_value = "python3")]
    moto_python: String,
    /// Benchmark Flotilla alone.
    #[arg(long)]
    skip_moto: bool,
    /// Worker threads of the load generator (it shares the machine with the servers).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Also run every workload on Flotilla as an IAM user with a 20-statement policy.
    #[arg(long)]
    iam_user: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.clients >= 1, "--clients must be at least 1");
    anyhow::ensure!(args.duration >= 1, "--duration must be at least 1 second");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(bench(args))
}

async fn bench(args: Args) -> Result<()> {
    eprintln!("starting flotilla ({})", args.flotilla_bin.display());
    let mut targets: Vec<Server> = vec![servers::start_flotilla(&args.flotilla_bin).await?];
    if !args.skip_moto {
        eprintln!("starting moto ({} -m moto.server)", args.moto_python);
        targets.push(servers::start_moto(&args.moto_python).await?);
    }
    for server in &targets {
        eprintln!("seeding {}: {} families x 2 revisions", server.name, load::SEED_FAMILIES);
        load::seed(server).await?;
    }
    if args.iam_user {
        eprintln!("creating an IAM user with a {}-statement policy", iam_user::STATEMENTS);
        let signer = iam_user::create(&targets[0], "us-east-1").await?;
        let view = targets[0].signed_by(IAM_TARGET, signer);
        targets.insert(1, view);
    }

    // A batch of registrations: each client's one, stored as its record (about twice the
    // request: the definition as ECS describes it, with its defaults).
    let batch_bytes = args.clients * load::task_definition("bench-write-000").len() * 2;
    let mut disk_latency = vec![measure_disk(batch_bytes).await?];

    let duration = Duration::from_secs(args.duration);
    let mut rows: Vec<(Workload, &'static str, Outcome)> = Vec::new();
    for workload in Workload::ALL {
        if args.iam_user {
            // Root and IAM user in turns, ABBA, half the duration each: a drift of the machine
            // or of the store (RegisterTaskDefinition grows it) falls on both alike.
            let half = duration / 2;
            let mut halves: [Vec<Outcome>; 2] = [Vec::new(), Vec::new()];
            for which in [0, 1, 1, 0] {
                let server = &targets[which];
                eprintln!(
                    "{} on {}: {} clients for {:?}",
                    workload.operation(),
                    server.name,
                    args.clients,
                    half
                );
                halves[which].push(
                    load::run(server, workload, args.clients, half, args.max_requests).await?,
                );
            }
            for (which, outcomes) in halves.into_iter().enumerate() {
                let merged = outcomes.into_iter().reduce(Outcome::merge).context("two runs")?;
                rows.push((workload, targets[which].name, merged));
            }
        }
        for server in targets.iter().skip(if args.iam_user { 2 } else { 0 }) {
            eprintln!(
                "{} on {}: {} clients for {} s",
                workload.operation(),
                server.name,
                args.clients,
                args.duration
            );
            let outcome =
                load::run(server, workload, args.clients, duration, args.max_requests).await?;
            if outcome.reconnects > 0 {
                eprintln!("  the server closed connections: {} reconnects", outcome.reconnects);
            }
            if let Some(error) = &outcome.first_error {
                eprintln!("  {} errors; the first: {error}", outcome.errors);
            }
            rows.push((workload, server.name, outcome));
        }
    }
    drop(targets);
    disk_latency.push(measure_disk(batch_bytes).await?);

    println!(
        "{} clients, {} s per workload and target, {} client thread(s)\n",
        args.clients, args.duration, args.client_threads
    );
    print!("{}", table(&rows));
    let latency = disk_latency.iter().sum::<Duration>() / disk_latency.len() as u32;
    let limit = args.clients as f64 / latency.as_secs_f64();
    println!(
        "\nThe disk's limit for a durable write at {} clients: {} / the median write+fsync of a {} KiB file ({:.2} ms, before and after) = {limit:.0}/s",
        args.clients,
        args.clients,
        batch_bytes / 1024,
        latency.as_secs_f64() * 1000.0
    );
    for (workload, target, outcome) in &rows {
        if *workload == Workload::Register && target.starts_with("flotilla") {
            println!(
                "RegisterTaskDefinition on {target}: {:.0}/s = {:.0} % of the disk's limit",
                outcome.throughput(),
                outcome.throughput() / limit * 100.0
            );
        }
    }
    Ok(())
}

/// The disk's median write+fsync latency for a batch of `bytes`, off the async threads.
async fn measure_disk(bytes: usize) -> Result<Duration> {
    tokio::task::spawn_blocking(move || disk::write_fsync_median(bytes, 200))
        .await
        .context("the disk measurement")?
        .context("write and fsync a batch-sized file")
}

/// The name of Flotilla signed by the IAM user in the table.
const IAM_TARGET: &str = "flotilla (IAM user)";

fn millis(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_string(), |d| format!("{:.2}", d.as_secs_f64() * 1000.0))
}

/// The markdown table: one row per workload and target, with Flotilla's throughput over moto's.
fn table(rows: &[(Workload, &'static str, Outcome)]) -> String {
    let mut out = String::from(
        "| workload | target | requests/s | p50 (ms) | p99 (ms) | errors | Flotilla/moto |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for (workload, target, outcome) in rows {
        let moto = rows.iter().find(|(w, t, _)| w == workload && *t == "moto");
        let root = rows.iter().find(|(w, t, _)| w == workload && *t == "flotilla");
        let ratio = match (*target, moto, root) {
            ("flotilla", Some((_, _, m)), _) if m.throughput() > 0.0 => {
                format!("{:.1}x", outcome.throughput() / m.throughput())
            }
            (IAM_TARGET, _, Some((_, _, r))) if r.throughput() > 0.0 => {
                format!("{:.3} of root", outcome.throughput() / r.throughput())
            }
            _ => String::new(),
        };
        out.push_str(&format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} |\n",
            workload.operation(),
            target,
            outcome.throughput(),
            millis(outcome.percentile(50.0)),
            millis(outcome.percentile(99.0)),
            outcome.errors,
            ratio
        ));
    }
    out
}

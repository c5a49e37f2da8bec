//! What every benchmark needs of a Flotilla server: a free loopback port, `flotilla server`
//! started on a data directory, waiting for `/healthz`, and its root key.

use std::fs::File;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::client::Connection;

pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Starts `flotilla server` on 127.0.0.1:`port` with `data_dir`, logging warnings to `log`, with
/// `extra` flags.
pub fn spawn_server(
    binary: &Path,
    port: u16,
    data_dir: &Path,
    log: File,
    extra: &[String],
) -> Result<Child> {
    Command::new(binary)
        .arg("server")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("FLOTILLA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("start {} server", binary.display()))
}

/// Waits until `GET /healthz` on `port` answers 200; `alive` fails early when a process died.
pub async fn wait_healthy(
    port: u16,
    timeout: Duration,
    mut alive: impl FnMut() -> Result<()>,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        alive()?;
        if let Ok(mut connection) = Connection::open(port).await {
            if let Ok(Ok(status)) =
                tokio::time::timeout(Duration::from_secs(5), connection.get("/healthz")).await
            {
                if status.is_success() {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            bail!("the server was not healthy within {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The default profile's key from an AWS shared-credentials file.
pub fn read_credentials(path: &Path) -> Result<(String, String)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let value = |key: &str| -> Result<String> {
        text.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
            .with_context(|| format!("{key} missing in {}", path.display()))
    };
    Ok((value("aws_access_key_id")?, value("aws_secret_access_key")?))
}

/// Runs a benchmark on a one-thread runtime (it shares the machine with what it measures and
/// mostly waits on sockets and processes); Ctrl-C and SIGTERM (e.g. from `timeout`) end it
/// through its cleanup (the benchmark's drops).
pub fn run_until_signal(bench: impl Future<Output = Result<()>>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = bench => result,
            _ = tokio::signal::ctrl_c() => bail!("interrupted; cleaned up"),
            _ = terminate.recv() => bail!("terminated; cleaned up"),
        }
    })
}

/// The `flotilla` binary to benchmark, as an absolute path.
pub fn flotilla_binary(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("no flotilla binary at {}", path.display()))
}

/// The last 20 lines of a process's log, headed with its name, for a failure report.
pub fn log_tail(name: &str, path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(20)..];
    let mut out = format!("--- flotilla {name} log (last {} lines)\n", tail.len());
    for line in tail {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The 1-, 5- and 15-minute load averages, for the report.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `getconf CLK_TCK` (the unit of /proc/<pid>/stat's CPU times), 100 if unknown.
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(100.0)
}

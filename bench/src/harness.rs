//! What every benchmark needs of a Flotilla server: a free loopback port, `flotilla server`
//! started on a data directory, waiting for `/healthz`, and its root key.

use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
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

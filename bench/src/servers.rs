//! Starting the servers under test on free loopback ports: `flotilla server` and moto's server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::client::{Connection, Signer};
use crate::harness::{free_port, read_credentials};

/// A server process, killed when dropped.
pub struct Server {
    pub name: &'static str,
    pub port: u16,
    pub signer: Signer,
    /// `None` for another signer's view of a running server ([`Server::signed_by`]).
    child: Option<Child>,
    /// Flotilla's data directory (kept until the server is gone).
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Server {
    /// The same server, its requests signed by `signer` (it stops with the original).
    pub fn signed_by(&self, name: &'static str, signer: Signer) -> Server {
        Server { name, port: self.port, signer, child: None, _dir: None }
    }
}

/// `flotilla server` on a fresh data directory; requests are signed with its root key.
pub async fn start_flotilla(binary: &Path) -> Result<Server> {
    let dir = tempfile::tempdir().context("temporary data directory")?;
    let data_dir = dir.path().join("data");
    let port = free_port()?;
    let child = Command::new(binary)
        .arg("server")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(&data_dir)
        .env("FLOTILLA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", binary.display()))?;
    // Until the credentials exist the key is unknown: sign health checks with nothing.
    let mut server = Server {
        name: "flotilla",
        port,
        signer: Signer::new("none", "none", "us-east-1"),
        child: Some(child),
        _dir: Some(dir),
    };
    wait_until(&mut server, |status| status.is_success(), Some("/healthz")).await?;
    let (id, secret) = read_credentials(&data_dir.join("credentials"))?;
    let region = read_region(&data_dir.join("config")).unwrap_or_else(|| "us-east-1".into());
    server.signer = Signer::new(&id, &secret, &region);
    Ok(server)
}

/// moto's server (`python -m moto.server`); it accepts any signature, so dummy keys sign.
pub async fn start_moto(python: &str) -> Result<Server> {
    let port = free_port()?;
    let child = Command::new(python)
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // moto (werkzeug) logs a line per request on stderr; it is not read here.
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start `{python} -m moto.server` (pip install 'moto[server]')"))?;
    let mut server = Server {
        name: "moto",
        port,
        signer: Signer::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1"),
        child: Some(child),
        _dir: None,
    };
    // moto has no health endpoint: a signed ListClusters answering 200 means it is up.
    wait_until(&mut server, |status| status.is_success(), None).await?;
    Ok(server)
}

/// Polls the server (GET `path`, or a signed ListClusters) until `ready` holds, for 60 s at most.
async fn wait_until(
    server: &mut Server,
    ready: impl Fn(hyper::StatusCode) -> bool,
    path: Option<&str>,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.child.as_mut().map(Child::try_wait).transpose()?.flatten() {
            bail!("{} exited before it was ready: {status}", server.name);
        }
        if let Ok(mut connection) = Connection::open(server.port).await {
            let status = match path {
                Some(path) => connection.get(path).await,
                None => connection
                    .call(&server.signer, "ListClusters", b"{}".to_vec())
                    .await
                    .map(|r| r.0),
            };
            if status.is_ok_and(&ready) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{} was not ready within 60 s", server.name);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn read_region(path: &PathBuf) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .filter_map(|line| line.split_once('='))
        .find(|(k, _)| k.trim() == "region")
        .map(|(_, v)| v.trim().to_string())
}

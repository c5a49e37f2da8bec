//! The system under test: `flotilla server` on a free loopback port with a temporary data
//! directory, and one `flotilla sim agents` process running the hollow container instances.
//! Dropping the stack kills both and removes the directory, also when the benchmark fails
//! half-way. Also: the processes' memory and CPU time from `/proc`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::client::Signer;
use crate::harness::{free_port, log_tail, read_credentials, spawn_server, wait_healthy};

/// How long the server gets to come up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Stack {
    pub port: u16,
    pub signer: Signer,
    server: Option<Child>,
    sim: Option<Child>,
    dir: tempfile::TempDir,
}

/// What the hollow agents announce.
pub struct SimOptions<'a> {
    pub cluster: &'a str,
    pub count: usize,
    pub cpu: u32,
    pub memory: u32,
    pub zones: usize,
    pub start_delay_ms: u64,
}

impl Stack {
    /// Starts the server and waits until `/healthz` answers 200 and its key is readable.
    pub async fn start_server(binary: &Path, max_tasks_per_service: u32) -> Result<Stack> {
        let dir = tempfile::Builder::new().prefix("scale-bench-").tempdir()?;
        let port = free_port()?;
        let mut stack = Stack {
            port,
            signer: Signer::new("none", "none", "us-east-1"),
            server: None,
            sim: None,
            dir,
        };
        let log = File::create(stack.log_path("server"))?;
        let extra = ["--max-tasks-per-service".to_string(), max_tasks_per_service.to_string()];
        stack.server = Some(spawn_server(binary, port, &stack.server_dir(), log, &extra)?);
        wait_healthy(port, START_TIMEOUT, || stack.check_alive()).await?;
        let (id, secret) = read_credentials(&stack.server_dir().join("credentials"))?;
        stack.signer = Signer::new(&id, &secret, "us-east-1");
        Ok(stack)
    }

    /// Starts `flotilla sim agents` without waiting for the instances to register.
    pub fn spawn_sim(&mut self, binary: &Path, options: &SimOptions<'_>) -> Result<()> {
        let log = File::create(self.log_path("sim"))?;
        self.sim = Some(
            Command::new(binary)
                .args(["sim", "agents", "--server"])
                .arg(format!("http://127.0.0.1:{}", self.port))
                .arg("--cluster")
                .arg(options.cluster)
                .arg("--token-file")
                .arg(self.server_dir().join("agent-token"))
                .arg("--count")
                .arg(options.count.to_string())
                .arg("--cpu")
                .arg(options.cpu.to_string())
                .arg("--memory")
                .arg(options.memory.to_string())
                .arg("--zones")
                .arg(options.zones.to_string())
                .arg("--start-delay-ms")
                .arg(options.start_delay_ms.to_string())
                // info: the "N of M hollow agents registered" lines.
                .env("FLOTILLA_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("start {} sim agents", binary.display()))?,
        );
        Ok(())
    }

    pub fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    pub fn sim_pid(&self) -> Option<u32> {
        self.sim.as_ref().map(Child::id)
    }

    /// Fails if the server or the hollow agents have exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for (name, child) in [("server", &mut self.server), ("sim agents", &mut self.sim)] {
            if let Some(child) = child {
                if let Some(status) = child.try_wait()? {
                    bail!("flotilla {name} exited ({status}); its log follows on stderr");
                }
            }
        }
        Ok(())
    }

    fn server_dir(&self) -> PathBuf {
        self.dir.path().join("server")
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// The last lines of the server's and the hollow agents' logs, for a failure report.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for name in ["server", "sim"] {
            out.push_str(&log_tail(name, &self.log_path(name)));
        }
        out
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // The agents first, so the server does not spend its last moments on lost instances.
        for child in [&mut self.sim, &mut self.server].into_iter().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The TempDir removes the data directory and the logs after this.
    }
}

/// A process's resident memory now (VmRSS) and at its peak (VmHWM), MiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss: f64,
    pub hwm: f64,
}

pub fn memory(pid: u32) -> Result<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    let field = |name: &str| -> Result<f64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{name} missing in /proc/{pid}/status"))?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("unexpected line {line}"))?;
        Ok(kib / 1024.0)
    };
    Ok(Memory { rss: field("VmRSS:")?, hwm: field("VmHWM:")? })
}

/// CPU time (user + system) a process has used so far, in clock ticks, from `/proc/<pid>/stat`.
pub fn cpu_ticks(pid: u32) -> Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces; the fields after it are plain.
    let after_name = text.rsplit_once(')').map(|(_, rest)| rest).context("unexpected stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<f64> {
        fields.get(i).and_then(|v| v.parse::<f64>().ok()).context("unexpected stat fields")
    };
    Ok(ticks(11)? + ticks(12)?)
}

/// The soft limit on open files of this process (its children inherit it).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

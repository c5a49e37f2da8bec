//! The system under test: `flotilla server` on a free loopback port with a temporary data
//! directory, and one `flotilla agent` joined to its `default` cluster. Dropping the stack
//! kills both and removes every container the benchmark created (the agent's, and the raw
//! `docker run` ones), also when the benchmark fails half-way.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::client::Signer;
use crate::docker;
use crate::ecs::{Ecs, CLUSTER};
use crate::harness::{free_port, log_tail, read_credentials, spawn_server, wait_healthy};

/// Docker label put on the raw `docker run` containers (value: this run's id).
pub const RAW_LABEL: &str = "io.flotilla.task-bench";
/// Docker labels Flotilla's agent puts on task containers.
const ECS_CLUSTER_LABEL: &str = "com.amazonaws.ecs.cluster";
const AGENT_LABEL: &str = "io.flotilla.agent";
/// How long the server and the agent get to come up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Stack {
    pub port: u16,
    pub signer: Signer,
    /// `io.flotilla.task-bench=<run id>`: the label of this run's raw containers.
    pub raw_label: String,
    /// The agent's host id (`io.flotilla.agent` label of its containers), once known.
    pub agent_id: Option<String>,
    server: Option<Child>,
    agent: Option<Child>,
    dir: tempfile::TempDir,
}

/// Options for the agent.
pub struct AgentOptions {
    pub memory_mib: u64,
    pub cleanup_wait_secs: u64,
}

impl Stack {
    /// Starts the server and waits until `/healthz` answers 200 and its key is readable.
    pub async fn start_server(binary: &Path) -> Result<Stack> {
        let dir = tempfile::Builder::new().prefix("task-bench-").tempdir()?;
        let port = free_port()?;
        let run_id = dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().trim_start_matches("task-bench-").to_string())
            .unwrap_or_else(|| std::process::id().to_string());
        let mut stack = Stack {
            port,
            signer: Signer::new("none", "none", "us-east-1"),
            raw_label: format!("{RAW_LABEL}={run_id}"),
            agent_id: None,
            server: None,
            agent: None,
            dir,
        };
        let log = File::create(stack.log_path("server"))?;
        stack.server = Some(spawn_server(binary, port, &stack.server_dir(), log, &[])?);
        wait_healthy(port, START_TIMEOUT, || stack.check_alive()).await?;
        let (id, secret) = read_credentials(&stack.server_dir().join("credentials"))?;
        stack.signer = Signer::new(&id, &secret, "us-east-1");
        Ok(stack)
    }

    /// Starts the agent and waits until it is registered (its state file names its container
    /// instance) and the server lists the instance.
    pub async fn start_agent(&mut self, binary: &Path, options: &AgentOptions) -> Result<()> {
        let agent_dir = self.dir.path().join("agent");
        let log = File::create(self.log_path("agent"))?;
        self.agent = Some(
            Command::new(binary)
                .arg("agent")
                .arg("--server")
                .arg(format!("http://127.0.0.1:{}", self.port))
                .arg("--cluster")
                .arg(CLUSTER)
                .arg("--token-file")
                .arg(self.server_dir().join("agent-token"))
                .arg("--data-dir")
                .arg(&agent_dir)
                // Benchmarks time tasks, not names: no DNS server (several agents share a host).
                .args(["--dns", "off"])
                .arg("--task-cleanup-wait")
                .arg(options.cleanup_wait_secs.to_string())
                .arg("--memory")
                .arg(options.memory_mib.to_string())
                .env("FLOTILLA_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("start {} agent", binary.display()))?,
        );
        let state_file = agent_dir.join("agent-state.json");
        let mut ecs = Ecs::open(self.port, &self.signer).await?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.check_alive()?;
            if let Some((host_id, registered)) = read_agent_state(&state_file) {
                // The host id labels the agent's containers: cleanup can find them from now on.
                self.agent_id = Some(host_id);
                if registered && !ecs.list_container_instances().await?.is_empty() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("the agent did not register within {} s", START_TIMEOUT.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn agent_pid(&self) -> Option<u32> {
        self.agent.as_ref().map(Child::id)
    }

    pub fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    /// Docker filters selecting this agent's task containers (and nobody else's: other
    /// agents on the same Docker Engine may use cluster `default` too).
    pub fn agent_filters(&self) -> Option<Vec<String>> {
        self.agent_id.as_ref().map(|id| {
            vec![
                format!("label={ECS_CLUSTER_LABEL}={CLUSTER}"),
                format!("label={AGENT_LABEL}={id}"),
            ]
        })
    }

    /// Fails if the server or the agent has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for (name, child) in [("server", &mut self.server), ("agent", &mut self.agent)] {
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

    /// The last lines of the server's and the agent's logs, for a failure report.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for name in ["server", "agent"] {
            out.push_str(&log_tail(name, &self.log_path(name)));
        }
        out
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // The agent first, so it does not react to its containers going away.
        if let Some(agent) = &mut self.agent {
            let _ = agent.kill();
            let _ = agent.wait();
        }
        // `docker run`s still in flight (an interrupted burst) create containers late.
        docker::wait_in_flight_blocking();
        for sweep in 0..2 {
            if sweep > 0 {
                // Creates Docker was still finishing for a killed client.
                std::thread::sleep(Duration::from_millis(500));
            }
            if let Some(filters) = self.agent_filters() {
                docker::remove_matching_blocking(&filters);
            }
            docker::remove_matching_blocking(&[format!("label={}", self.raw_label)]);
        }
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// The agent's host id, and whether it has registered (has a container instance id).
fn read_agent_state(path: &Path) -> Option<(String, bool)> {
    let bytes = std::fs::read(path).ok()?;
    let state: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let host_id = state["host_id"].as_str()?.to_string();
    Some((host_id, state["container_instance_id"].is_string()))
}

/// `VmRSS` and `VmHWM` (peak) of a process, in MiB, from `/proc/<pid>/status`.
pub fn memory_mib(pid: u32) -> Result<(f64, f64)> {
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
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU time (user + system) a process has used so far, in seconds, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32, ticks_per_second: f64) -> Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces; the fields after it are plain.
    let after_name = text.rsplit_once(')').map(|(_, rest)| rest).context("unexpected stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<f64> {
        fields.get(i).and_then(|v| v.parse::<f64>().ok()).context("unexpected stat fields")
    };
    Ok((ticks(11)? + ticks(12)?) / ticks_per_second)
}

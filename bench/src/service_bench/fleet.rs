//! The system under test: `flotilla server` on a free loopback port with a temporary data
//! directory and `--agent-timeout`, and two `flotilla agent` processes joined to its `default`
//! cluster, each with a data directory of its own. An agent can be killed (`kill -9`) and
//! restarted as the same container instance. Dropping the fleet kills every process and removes
//! every container the benchmark created (the agents' and the raw `docker run` ones), also when
//! the benchmark fails half-way.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::client::Signer;
use crate::docker;
use crate::ecs::{Ecs, CLUSTER};
use crate::harness::{free_port, log_tail, read_credentials, spawn_server, wait_healthy};

/// Docker label put on the raw `docker run` containers (value: this run's id).
pub const RAW_LABEL: &str = "io.flotilla.service-bench";
/// Docker labels Flotilla's agent puts on task containers.
const ECS_CLUSTER_LABEL: &str = "com.amazonaws.ecs.cluster";
const AGENT_LABEL: &str = "io.flotilla.agent";
/// How long the server and an agent get to come up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of the processes.
pub struct FleetOptions {
    pub agent_timeout_secs: f64,
    pub agent_memory_mib: u64,
    pub cleanup_wait_secs: u64,
}

pub struct Agent {
    child: Option<Child>,
    dir: PathBuf,
    log: PathBuf,
    /// The agent's host id (`io.flotilla.agent` label of its containers), once known.
    pub host_id: Option<String>,
    /// Its container instance ARN, once registered.
    pub instance_arn: Option<String>,
}

pub struct Fleet {
    pub port: u16,
    pub signer: Signer,
    /// `io.flotilla.service-bench=<run id>`: the label of this run's raw containers.
    pub raw_label: String,
    pub agents: Vec<Agent>,
    binary: PathBuf,
    options: FleetOptions,
    server: Option<Child>,
    dir: tempfile::TempDir,
}

impl Fleet {
    /// Starts the server, waits until `/healthz` answers 200 and its key is readable, then
    /// starts `agents` agents and waits until each is registered and connected.
    pub async fn start(binary: &Path, options: FleetOptions, agents: usize) -> Result<Fleet> {
        let dir = tempfile::Builder::new().prefix("service-bench-").tempdir()?;
        let port = free_port()?;
        let run_id = dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().trim_start_matches("service-bench-").to_string())
            .unwrap_or_else(|| std::process::id().to_string());
        let mut fleet = Fleet {
            port,
            signer: Signer::new("none", "none", "us-east-1"),
            raw_label: format!("{RAW_LABEL}={run_id}"),
            agents: Vec::new(),
            binary: binary.to_path_buf(),
            options,
            server: None,
            dir,
        };
        let log = File::create(fleet.dir.path().join("server.log"))?;
        let extra = ["--agent-timeout".to_string(), fleet.options.agent_timeout_secs.to_string()];
        fleet.server = Some(spawn_server(binary, port, &fleet.server_dir(), log, &extra)?);
        wait_healthy(port, START_TIMEOUT, || fleet.check_alive()).await?;
        let (id, secret) = read_credentials(&fleet.server_dir().join("credentials"))?;
        fleet.signer = Signer::new(&id, &secret, "us-east-1");
        for index in 0..agents {
            let agent_dir = fleet.dir.path().join(format!("agent{index}"));
            fleet.agents.push(Agent {
                child: None,
                log: fleet.dir.path().join(format!("agent{index}.log")),
                dir: agent_dir,
                host_id: None,
                instance_arn: None,
            });
            fleet.start_agent(index).await?;
        }
        Ok(fleet)
    }

    /// Starts (or restarts, as the same instance) agent `index` without waiting for it.
    pub fn spawn_agent(&mut self, index: usize) -> Result<()> {
        let token = self.server_dir().join("agent-token");
        let url = format!("http://127.0.0.1:{}", self.port);
        let agent = &mut self.agents[index];
        if agent.child.is_some() {
            bail!("agent {index} is already running");
        }
        let log = OpenOptions::new().create(true).append(true).open(&agent.log)?;
        agent.child = Some(
            Command::new(&self.binary)
                .arg("agent")
                .arg("--server")
                .arg(url)
                .arg("--cluster")
                .arg(CLUSTER)
                .arg("--token-file")
                .arg(token)
                .arg("--data-dir")
                .arg(&agent.dir)
                // Benchmarks time tasks, not names: no DNS server (several agents share a host).
                .args(["--dns", "off"])
                .arg("--task-cleanup-wait")
                .arg(self.options.cleanup_wait_secs.to_string())
                .arg("--memory")
                .arg(self.options.agent_memory_mib.to_string())
                .env("FLOTILLA_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("start {} agent", self.binary.display()))?,
        );
        Ok(())
    }

    /// Starts agent `index` and waits until it has registered (its state file names its
    /// container instance) and the server says its agent is connected.
    pub async fn start_agent(&mut self, index: usize) -> Result<()> {
        self.spawn_agent(index)?;
        self.wait_agent_connected(index, START_TIMEOUT).await.map(|_| ())
    }

    /// Waits until agent `index` is registered and DescribeContainerInstances shows
    /// `agentConnected`; returns how long that took.
    pub async fn wait_agent_connected(
        &mut self,
        index: usize,
        timeout: Duration,
    ) -> Result<Duration> {
        let start = Instant::now();
        let state_file = self.agents[index].dir.join("agent-state.json");
        let mut ecs = Ecs::open(self.port, &self.signer).await?;
        loop {
            self.check_alive()?;
            if let Some((host_id, arn)) = read_agent_state(&state_file) {
                // The host id labels the agent's containers: cleanup can find them from now on.
                self.agents[index].host_id = Some(host_id);
                if let Some(arn) = arn {
                    self.agents[index].instance_arn = Some(arn.clone());
                    if agent_connected(&mut ecs, &arn).await? {
                        return Ok(start.elapsed());
                    }
                }
            }
            if start.elapsed() > timeout {
                bail!("agent {index} was not connected within {} s", timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9` of agent `index` (its containers keep running). Returns when the signal was
    /// sent and the process reaped.
    pub fn kill_agent(&mut self, index: usize) -> Result<()> {
        let mut child = self.agents[index].child.take().context("agent is not running")?;
        // std's Child::kill sends SIGKILL.
        child.kill().context("kill -9 the agent")?;
        child.wait()?;
        Ok(())
    }

    pub fn instance_arn(&self, index: usize) -> Result<&str> {
        self.agents[index].instance_arn.as_deref().context("agent has no container instance")
    }

    /// Docker filters selecting agent `index`'s task containers (and nobody else's: other
    /// benchmarks' agents on the same Docker Engine may use cluster `default` too).
    fn agent_filters(&self, index: usize) -> Option<Vec<String>> {
        self.agents[index].host_id.as_ref().map(|id| {
            vec![
                format!("label={ECS_CLUSTER_LABEL}={CLUSTER}"),
                format!("label={AGENT_LABEL}={id}"),
            ]
        })
    }

    /// Fails if the server or a running agent has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = &mut self.server {
            if let Some(status) = child.try_wait()? {
                bail!("flotilla server exited ({status}); its log follows on stderr");
            }
        }
        for (index, agent) in self.agents.iter_mut().enumerate() {
            if let Some(child) = &mut agent.child {
                if let Some(status) = child.try_wait()? {
                    bail!("flotilla agent {index} exited ({status}); its log follows on stderr");
                }
            }
        }
        Ok(())
    }

    fn server_dir(&self) -> PathBuf {
        self.dir.path().join("server")
    }

    /// The last lines of the server's and the agents' logs, for a failure report.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        let mut logs = vec![("server".to_string(), self.dir.path().join("server.log"))];
        for (index, agent) in self.agents.iter().enumerate() {
            logs.push((format!("agent {index}"), agent.log.clone()));
        }
        for (name, path) in logs {
            out.push_str(&log_tail(&name, &path));
        }
        out
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // The agents first, so they do not react to their containers going away.
        for agent in &mut self.agents {
            if let Some(child) = &mut agent.child {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // `docker run`s still in flight (an interrupted measurement) create containers late.
        docker::wait_in_flight_blocking();
        for sweep in 0..2 {
            if sweep > 0 {
                // Creates Docker was still finishing for a killed client.
                std::thread::sleep(Duration::from_millis(500));
            }
            for index in 0..self.agents.len() {
                if let Some(filters) = self.agent_filters(index) {
                    docker::remove_matching_blocking(&filters);
                }
            }
            docker::remove_matching_blocking(&[format!("label={}", self.raw_label)]);
        }
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// Whether DescribeContainerInstances says the instance's agent is connected.
async fn agent_connected(ecs: &mut Ecs, arn: &str) -> Result<bool> {
    let answer = ecs
        .call(
            "DescribeContainerInstances",
            &serde_json::json!({ "cluster": CLUSTER, "containerInstances": [arn] }),
        )
        .await?;
    Ok(answer["containerInstances"]
        .as_array()
        .and_then(|i| i.first())
        .is_some_and(|i| i["agentConnected"].as_bool() == Some(true)))
}

/// The agent's host id, and its container instance ARN once it has registered.
fn read_agent_state(path: &Path) -> Option<(String, Option<String>)> {
    let bytes = std::fs::read(path).ok()?;
    let state: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let host_id = state["host_id"].as_str()?.to_string();
    Some((host_id, state["container_instance_arn"].as_str().map(str::to_string)))
}

//! Harness for tests with agents: a server, a cluster of its own, `flotilla agent` processes,
//! waiting helpers, and a guard that removes every container of the cluster afterwards.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{ContainerDefinition, Task};

use crate::support::{ensure_demo_image, Flotilla, DEMO_IMAGE};

/// A server with one uniquely named cluster, whose containers are removed on drop.
pub struct Fleet {
    pub server: Flotilla,
    pub cluster: String,
    pub ecs: aws_sdk_ecs::Client,
    pub agents: Vec<Agent>,
}

pub struct Agent {
    child: Option<Child>,
    pub data_dir: PathBuf,
    args: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn spawn(&mut self) {
        let log = std::fs::File::create(self.data_dir.join("agent.log")).expect("agent log");
        let child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
            .arg("agent")
            .args(&self.args)
            .env("FLOTILLA_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn agent");
        self.child = Some(child);
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The agent's host id (its containers' `io.flotilla.agent` label), once it has one.
    pub fn host_id(&self) -> Option<String> {
        let state = std::fs::read(self.data_dir.join("agent-state.json")).ok()?;
        let state: serde_json::Value = serde_json::from_slice(&state).ok()?;
        state["host_id"].as_str().map(str::to_string)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("agent.log")).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
        // A killed agent leaves its spare pause container for its next start to sweep: there is
        // none, so it goes here.
        if let Some(host) = self.host_id() {
            crate::support::remove_spare_pauses(&host);
        }
        crate::support::remove_credentials_device_if_unused();
    }
}

impl Fleet {
    /// A server, a fresh cluster and one agent in it.
    pub async fn start() -> Fleet {
        Self::with_agents(&[&[]]).await
    }

    /// A server, a fresh cluster and one agent per entry, each with these extra flags.
    pub async fn with_agents(agent_flags: &[&[&str]]) -> Fleet {
        Self::with_server_flags(&[], agent_flags).await
    }

    /// Like `with_agents`, with extra `flotilla server` flags.
    pub async fn with_server_flags(server_flags: &[&str], agent_flags: &[&[&str]]) -> Fleet {
        Self::build(server_flags, None, agent_flags).await
    }

    /// A server, a fresh cluster in `region` (not the server's) and one agent joining it there
    /// (`--region`); `ecs` is a client of that region.
    pub async fn in_region(region: &str) -> Fleet {
        Self::build(&[], Some(region), &[&["--region", region]]).await
    }

    /// A server listening on every address (so containers reach it through their bridge's
    /// gateway), a fresh cluster and one agent.
    pub async fn reachable_from_containers() -> Fleet {
        Self::build_with(Flotilla::start_on_every_address(Vec::new()), None, &[&[]]).await
    }

    async fn build(server_flags: &[&str], region: Option<&str>, agent_flags: &[&[&str]]) -> Fleet {
        let server =
            Flotilla::start_with(Vec::new(), server_flags.iter().map(|s| s.to_string()).collect());
        Self::build_with(server, region, agent_flags).await
    }

    pub async fn build_with(
        server: Flotilla,
        region: Option<&str>,
        agent_flags: &[&[&str]],
    ) -> Fleet {
        ensure_demo_image();
        let ecs = match region {
            Some(region) => server.ecs_in(region),
            None => server.ecs(),
        };
        let cluster = format!("t{}", &uuid_like()[..12]);
        ecs.create_cluster().cluster_name(&cluster).send().await.expect("create cluster");
        let mut fleet = Fleet { server, cluster, ecs, agents: Vec::new() };
        for flags in agent_flags {
            fleet.add_agent(flags);
        }
        fleet.wait_for_instances(agent_flags.len()).await;
        fleet
    }

    pub fn add_agent(&mut self, flags: &[&str]) -> usize {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut args = vec!["--server".to_string(), self.server.endpoint()];
        // Fargate capacity joins no cluster.
        if !flags.contains(&"--fargate") {
            args.extend(["--cluster".to_string(), self.cluster.clone()]);
        }
        args.extend([
            "--token-file".into(),
            self.server.data_dir.join("agent-token").display().to_string(),
            "--data-dir".into(),
            dir.path().display().to_string(),
            "--task-cleanup-wait".into(),
            "600".into(),
            // Tests run many agents on one machine: each takes any free metadata port.
            "--metadata-port".into(),
            "0".into(),
        ]);
        // Only one agent of a machine can serve DNS on a bridge's gateway: tests that look up
        // names give their agents a bridge network of their own (and say `--dns`).
        if !flags.contains(&"--dns") {
            args.extend(["--dns".to_string(), "off".to_string()]);
        }
        args.extend(flags.iter().map(|f| f.to_string()));
        let mut agent = Agent { child: None, data_dir: dir.path().to_path_buf(), args, _dir: dir };
        agent.spawn();
        self.agents.push(agent);
        self.agents.len() - 1
    }

    pub async fn wait_for_instances(&self, count: usize) -> Vec<String> {
        if count == 0 {
            return Vec::new();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let listed = self
                .ecs
                .list_container_instances()
                .cluster(&self.cluster)
                .send()
                .await
                .expect("list instances");
            let arns = listed.container_instance_arns().to_vec();
            if arns.len() >= count {
                let described = self
                    .ecs
                    .describe_container_instances()
                    .cluster(&self.cluster)
                    .set_container_instances(Some(arns.clone()))
                    .send()
                    .await
                    .expect("describe instances");
                if described.container_instances().iter().filter(|i| i.agent_connected()).count()
                    >= count
                {
                    return arns;
                }
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self.agents.iter().map(Agent::log).collect();
                panic!(
                    "{count} connected instances expected, have {arns:?}; agent logs: {logs:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Registers a task definition in a family named after the cluster and returns its ARN.
    pub async fn register(&self, family: &str, containers: Vec<ContainerDefinition>) -> String {
        self.register_with(family, containers, |b| b).await
    }

    pub async fn register_with(
        &self,
        family: &str,
        containers: Vec<ContainerDefinition>,
        extra: impl FnOnce(aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder) -> aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder,
    ) -> String {
        let builder = self
            .ecs
            .register_task_definition()
            .family(format!("{}-{family}", self.cluster))
            .set_container_definitions(Some(containers));
        extra(builder)
            .send()
            .await
            .expect("register")
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .expect("arn")
            .to_string()
    }

    /// The tasks of a service listed with any of these desired statuses, described.
    pub async fn service_tasks(
        &self,
        service: &str,
        desired: &[aws_sdk_ecs::types::DesiredStatus],
    ) -> Vec<Task> {
        let mut arns = Vec::new();
        for status in desired {
            let listed = self
                .ecs
                .list_tasks()
                .cluster(&self.cluster)
                .service_name(service)
                .desired_status(status.clone())
                .send()
                .await
                .expect("list tasks");
            arns.extend(listed.task_arns().iter().cloned());
        }
        // A task whose desired status changed between two listings is in both.
        arns.sort();
        arns.dedup();
        if arns.is_empty() {
            return Vec::new();
        }
        let described = self
            .ecs
            .describe_tasks()
            .cluster(&self.cluster)
            .set_tasks(Some(arns))
            .send()
            .await
            .expect("describe tasks");
        described.tasks().to_vec()
    }

    /// Runs one task and returns its ARN (panics on failures).
    pub async fn run(&self, task_definition: &str) -> String {
        let out = self
            .ecs
            .run_task()
            .cluster(&self.cluster)
            .task_definition(task_definition)
            .send()
            .await
            .expect("run task");
        assert!(out.failures().is_empty(), "failures: {:?}", out.failures());
        out.tasks()[0].task_arn().expect("arn").to_string()
    }

    pub async fn describe(&self, task: &str) -> Task {
        let out = self
            .ecs
            .describe_tasks()
            .cluster(&self.cluster)
            .tasks(task)
            .send()
            .await
            .expect("describe");
        out.tasks()
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("task {task} missing: {:?}", out.failures()))
    }

    /// Waits until `check` holds for the task (20 s at most).
    pub async fn wait_task(&self, task: &str, what: &str, check: impl Fn(&Task) -> bool) -> Task {
        self.wait_task_for(task, what, Duration::from_secs(20), check).await
    }

    pub async fn wait_task_for(
        &self,
        task: &str,
        what: &str,
        limit: Duration,
        check: impl Fn(&Task) -> bool,
    ) -> Task {
        let deadline = Instant::now() + limit;
        loop {
            let described = self.describe(task).await;
            if check(&described) {
                return described;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self.agents.iter().map(Agent::log).collect();
                panic!("task never became {what}: {described:#?}\nagent logs: {logs:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_status(&self, task: &str, status: &str) -> Task {
        self.wait_task(task, status, |t| t.last_status() == Some(status)).await
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for agent in &mut self.agents {
            agent.kill9();
        }
        remove_cluster_containers(&self.cluster);
        // A create a killed agent had in flight still completes in Docker: sweep once more.
        std::thread::sleep(std::time::Duration::from_millis(500));
        remove_cluster_containers(&self.cluster);
    }
}

pub fn remove_cluster_containers(cluster: &str) {
    let listed = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=com.amazonaws.ecs.cluster={cluster}")])
        .output();
    if let Ok(output) = listed {
        let ids: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let _ = Command::new("docker").arg("rm").arg("-f").args(&ids).output();
        }
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}", nanos, std::process::id()).chars().rev().collect()
}

/// A container of the demo image.
pub fn demo(
    name: &str,
    command: &[&str],
) -> aws_sdk_ecs::types::builders::ContainerDefinitionBuilder {
    ContainerDefinition::builder().name(name).image(DEMO_IMAGE).memory(64).set_command(
        if command.is_empty() {
            None
        } else {
            Some(command.iter().map(|s| s.to_string()).collect())
        },
    )
}

/// `docker inspect` of a container, as JSON.
pub fn docker_inspect(id: &str) -> serde_json::Value {
    let output = Command::new("docker").args(["inspect", id]).output().expect("docker inspect");
    assert!(
        output.status.success(),
        "docker inspect {id}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    value[0].clone()
}

/// Containers (all states) carrying the task's ARN label.
pub fn containers_of(task_arn: &str) -> Vec<String> {
    let output = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=com.amazonaws.ecs.task-arn={task_arn}"),
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&output.stdout).split_whitespace().map(str::to_string).collect()
}

/// Waits until the container's output contains `needle` (e.g. the demo's "listening on").
pub fn wait_logs(container_id: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let output =
            Command::new("docker").args(["logs", container_id]).output().expect("docker logs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if text.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "'{needle}' never appeared in the logs of {container_id}: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

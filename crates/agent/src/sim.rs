//! Simulated ("hollow") agents for scale rehearsals and benchmarks, as Kubernetes' kubemark:
//! many container instances in one process, each speaking the real agent protocol over its
//! own connection, with a simulated runtime — a task "runs" at once (or after a set delay) and
//! no container exists. Never used where a test is about container behaviour.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::agent::{
    AgentMessage, ContainerReport, Register, Report, ServerAddress, ServerMessage, TaskReport,
    TaskSpec, HEARTBEAT_INTERVAL,
};
use flotilla_api::instance::{Resource, VersionInfo};
use flotilla_api::task::TaskStatus;
use flotilla_api::taskdef::Attribute;
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;

use crate::connection::{backoff, connect, encode, parse, register_on, ConnectionError};
use crate::engine::now;

/// Registrations in flight at once, so thousands of agents do not all dial in the same
/// millisecond.
const REGISTERING_AT_ONCE: usize = 64;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub server: ServerAddress,
    pub cluster: String,
    pub token: String,
    pub count: usize,
    /// CPU units and memory (MiB) each instance announces.
    pub cpu: i32,
    pub memory: i32,
    /// Availability zones, dealt round-robin.
    pub zones: Vec<String>,
    pub attributes: Vec<(String, String)>,
    /// How long a task takes from PENDING to RUNNING.
    pub start_delay: Duration,
    /// Host ids are `<prefix>-<n>`.
    pub name_prefix: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("hollow agent {0}: {1}")]
    Fatal(usize, String),
}

/// Runs the hollow agents until one meets a fatal error (wrong token, refused registration)
/// or the process is stopped.
pub async fn run(config: SimConfig) -> Result<(), SimError> {
    let config = Arc::new(config);
    let registering = Arc::new(tokio::sync::Semaphore::new(REGISTERING_AT_ONCE));
    let registered = Arc::new(AtomicUsize::new(0));
    let mut agents = tokio::task::JoinSet::new();
    for n in 0..config.count {
        let config = Arc::clone(&config);
        let registering = Arc::clone(&registering);
        let registered = Arc::clone(&registered);
        agents.spawn(async move { hollow_agent(n, &config, &registering, &registered).await });
    }
    while let Some(done) = agents.join_next().await {
        if let Ok(Err(error)) = done {
            agents.abort_all();
            return Err(error);
        }
    }
    Ok(())
}

/// One instance's lifetime: connect, register, serve; reconnect with backoff.
async fn hollow_agent(
    n: usize,
    config: &SimConfig,
    registering: &tokio::sync::Semaphore,
    registered: &AtomicUsize,
) -> Result<(), SimError> {
    let mut instance_id: Option<String> = None;
    // Kept in memory only: a restarted simulation registers new instances.
    let mut credential: Option<String> = None;
    let mut tasks = SimTasks::default();
    let mut attempt = 0;
    loop {
        let identity = (&mut instance_id, &mut credential);
        match serve(n, config, registering, registered, identity, &mut tasks).await {
            Err(ConnectionError::Fatal(message)) => return Err(SimError::Fatal(n, message)),
            Err(ConnectionError::Transient(message)) => {
                tracing::debug!(n, %message, "hollow agent reconnecting");
            }
            Ok(()) => return Ok(()),
        }
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
    }
}

async fn serve(
    n: usize,
    config: &SimConfig,
    registering: &tokio::sync::Semaphore,
    registered: &AtomicUsize,
    (instance_id, credential): (&mut Option<String>, &mut Option<String>),
    tasks: &mut SimTasks,
) -> Result<(), ConnectionError> {
    let mut socket = {
        let _permit =
            registering.acquire().await.map_err(|e| ConnectionError::Fatal(e.to_string()))?;
        let bearer = credential.as_deref().unwrap_or(&config.token);
        let mut socket = connect(&config.server, bearer).await?;
        let answer = register_on(&mut socket, registration(n, config, instance_id.clone())).await?;
        if answer.instance_credential.is_some() {
            *credential = answer.instance_credential;
        }
        if instance_id.replace(answer.container_instance_id).is_none() {
            let total = registered.fetch_add(1, Ordering::Relaxed) + 1;
            if total == config.count || total.is_multiple_of(1000) {
                tracing::info!("{total} of {} hollow agents registered", config.count);
            }
        }
        socket
    };
    let send = |m: &AgentMessage| encode(m).map_err(|e| ConnectionError::Fatal(e.to_string()));
    socket.send(send(&AgentMessage::Report(tasks.report()))?).await.map_err(transient)?;
    // Heartbeats start at a random phase so thousands of agents do not beat in step.
    let phase = Duration::from_millis(fastrand::u64(..HEARTBEAT_INTERVAL.as_millis() as u64));
    let mut heartbeat = tokio::time::interval_at(Instant::now() + phase, HEARTBEAT_INTERVAL);
    loop {
        let promote_at = tasks.next_start();
        let promote = async {
            match promote_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            message = socket.next() => {
                let Some(message) = message else { return Err(transient("server closed the connection")) };
                match parse(&message.map_err(transient)?) {
                    Some(ServerMessage::Desired(desired)) => {
                        if tasks.apply(desired.tasks, config.start_delay) {
                            socket.send(send(&AgentMessage::Report(tasks.report()))?).await.map_err(transient)?;
                        }
                    }
                    Some(ServerMessage::Refused { message }) => return Err(ConnectionError::Fatal(message)),
                    Some(
                        ServerMessage::Registered { .. }
                        | ServerMessage::Dns(_)
                        | ServerMessage::Firewall(_)
                        | ServerMessage::Routes(_),
                    )
                    | None => {}
                }
            }
            () = promote => {
                if tasks.promote(Instant::now()) {
                    socket.send(send(&AgentMessage::Report(tasks.report()))?).await.map_err(transient)?;
                }
            }
            _ = heartbeat.tick() => {
                socket.send(send(&AgentMessage::Heartbeat)?).await.map_err(transient)?;
            }
        }
    }
}

fn transient(e: impl std::fmt::Display) -> ConnectionError {
    ConnectionError::Transient(e.to_string())
}

fn registration(n: usize, config: &SimConfig, instance_id: Option<String>) -> Register {
    let mut attributes = vec![
        Attribute { name: "ecs.os-type".into(), value: Some("linux".into()), ..Default::default() },
        Attribute {
            name: "io.flotilla.simulated".into(),
            value: Some("true".into()),
            ..Default::default()
        },
    ];
    if !config.zones.is_empty() {
        let zone = &config.zones[n % config.zones.len()];
        attributes.push(Attribute {
            name: "ecs.availability-zone".into(),
            value: Some(zone.clone()),
            ..Default::default()
        });
    }
    for (name, value) in &config.attributes {
        attributes.retain(|a| &a.name != name);
        attributes.push(Attribute {
            name: name.clone(),
            value: Some(value.clone()),
            ..Default::default()
        });
    }
    Register {
        cluster: config.cluster.clone(),
        container_instance_id: instance_id,
        host_id: format!("{}-{n}", config.name_prefix),
        registered_resources: vec![
            Resource::integer("CPU", config.cpu),
            Resource::integer("MEMORY", config.memory),
            Resource::string_set("PORTS", vec!["22".into()]),
            Resource::string_set("PORTS_UDP", Vec::new()),
        ],
        attributes,
        version_info: VersionInfo {
            agent_version: Some(format!("{}-simulated", env!("CARGO_PKG_VERSION"))),
            ..Default::default()
        },
        // Hollow agents run nothing a load balancer could reach.
        advertise_address: None,
    }
}

/// The simulated runtime of one instance: tasks and when each becomes RUNNING.
#[derive(Default)]
struct SimTasks {
    tasks: BTreeMap<String, SimTask>,
}

struct SimTask {
    containers: Vec<String>,
    status: TaskStatus,
    running_at: Option<Instant>,
    started_at: Option<f64>,
    stopped_at: Option<f64>,
}

impl SimTasks {
    /// Takes a desired state; returns whether anything changed (a report is due).
    fn apply(&mut self, desired: Vec<TaskSpec>, delay: Duration) -> bool {
        let mut changed = false;
        let wanted: BTreeMap<&str, &TaskSpec> =
            desired.iter().map(|t| (t.task_arn.as_str(), t)).collect();
        let before = self.tasks.len();
        self.tasks.retain(|arn, _| wanted.contains_key(arn.as_str()));
        changed |= self.tasks.len() != before;
        for (arn, spec) in wanted {
            let task = self.tasks.entry(arn.to_string()).or_insert_with(|| {
                changed = true;
                SimTask {
                    containers: spec.containers.iter().filter_map(|c| c.name.clone()).collect(),
                    status: TaskStatus::Pending,
                    running_at: Some(Instant::now() + delay),
                    started_at: None,
                    stopped_at: None,
                }
            });
            if spec.desired_status == TaskStatus::Stopped && task.status != TaskStatus::Stopped {
                task.status = TaskStatus::Stopped;
                task.running_at = None;
                task.stopped_at = Some(now());
                changed = true;
            }
        }
        self.promote(Instant::now()) || changed
    }

    /// Tasks whose start delay is over become RUNNING; returns whether any did.
    fn promote(&mut self, at: Instant) -> bool {
        let mut changed = false;
        for task in self.tasks.values_mut() {
            if task.running_at.is_some_and(|t| t <= at) {
                task.running_at = None;
                task.status = TaskStatus::Running;
                task.started_at = Some(now());
                changed = true;
            }
        }
        changed
    }

    fn next_start(&self) -> Option<Instant> {
        self.tasks.values().filter_map(|t| t.running_at).min()
    }

    fn report(&self) -> Report {
        let tasks = self
            .tasks
            .iter()
            .map(|(arn, task)| TaskReport {
                task_arn: arn.clone(),
                last_status: task.status,
                containers: task
                    .containers
                    .iter()
                    .map(|name| ContainerReport {
                        name: name.clone(),
                        last_status: task.status,
                        exit_code: (task.status == TaskStatus::Stopped).then_some(0),
                        ..ContainerReport::default()
                    })
                    .collect(),
                started_at: task.started_at,
                stopped_at: task.stopped_at,
                execution_stopped_at: task.stopped_at,
                ..TaskReport::default()
            })
            .collect();
        Report { tasks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(arn: &str, desired: TaskStatus) -> TaskSpec {
        TaskSpec { task_arn: arn.into(), desired_status: desired, ..TaskSpec::default() }
    }

    #[test]
    fn tasks_run_after_the_delay_and_stop_when_told() {
        let mut sim = SimTasks::default();
        assert!(sim.apply(vec![spec("t1", TaskStatus::Running)], Duration::from_secs(60)));
        assert_eq!(sim.report().tasks[0].last_status, TaskStatus::Pending);
        assert!(!sim.promote(Instant::now()));
        assert!(sim.promote(Instant::now() + Duration::from_secs(61)));
        assert_eq!(sim.report().tasks[0].last_status, TaskStatus::Running);
        // The same desired state again changes nothing.
        assert!(!sim.apply(vec![spec("t1", TaskStatus::Running)], Duration::ZERO));
        assert!(sim.apply(vec![spec("t1", TaskStatus::Stopped)], Duration::ZERO));
        assert_eq!(sim.report().tasks[0].last_status, TaskStatus::Stopped);
        // Forgotten by the server: forgotten here.
        assert!(sim.apply(vec![], Duration::ZERO));
        assert!(sim.report().tasks.is_empty());
        // No delay: RUNNING at once.
        assert!(sim.apply(vec![spec("t2", TaskStatus::Running)], Duration::ZERO));
        assert_eq!(sim.report().tasks[0].last_status, TaskStatus::Running);
    }
}

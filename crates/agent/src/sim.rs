//! Simulated ("hollow") agents for scale rehearsals and benchmarks, as Kubernetes' kubemark:
//! many container instances in one process, each speaking the real agent protocol over its
//! own connection and running the real task engine on the in-memory runtime
//! (`RecordingRuntime::simulated`, no cgroups) — a container "starts" at once (or after a set
//! delay) and no process exists. Never used where a test is about container behaviour.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::agent::{
    AgentMessage, Register, ServerAddress, ServerMessage, HEARTBEAT_INTERVAL,
};
use flotilla_api::instance::{Resource, VersionInfo};
use flotilla_api::taskdef::Attribute;
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;

use crate::connection::{backoff, connect, encode, parse, register_on, ConnectionError};
use crate::engine::{Engine, EngineConfig};
use crate::runtime::recording::RecordingRuntime;

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

/// The task engine of hollow agent `n`: the agent's own, on a runtime whose containers are
/// records (each start taking the configured delay), with no cgroups, networking, logs or
/// credentials.
fn hollow_engine(n: usize, config: &SimConfig) -> Engine {
    let engine_config = EngineConfig {
        // Hollow containers are records: a privileged one harms nothing.
        allow_privileged: true,
        ..EngineConfig::bare(
            format!("{}-{n}", config.name_prefix),
            Arc::new(flotilla_api::clock::SystemClock),
            Arc::new(crate::cgroup::NoCgroups),
        )
    };
    let runtime = Arc::new(RecordingRuntime::simulated(config.start_delay));
    Engine::start(runtime, engine_config, BTreeMap::new())
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
    let engine = hollow_engine(n, config);
    let mut attempt = 0;
    loop {
        let identity = (&mut instance_id, &mut credential);
        match serve(n, config, registering, registered, identity, &engine).await {
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
    engine: &Engine,
) -> Result<(), ConnectionError> {
    let mut reports = engine.report_channel();
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
    let report = reports.borrow_and_update().clone();
    socket.send(send(&AgentMessage::Report(report))?).await.map_err(transient)?;
    // Heartbeats start at a random phase so thousands of agents do not beat in step.
    let phase = Duration::from_millis(fastrand::u64(..HEARTBEAT_INTERVAL.as_millis() as u64));
    let mut heartbeat = tokio::time::interval_at(Instant::now() + phase, HEARTBEAT_INTERVAL);
    loop {
        tokio::select! {
            message = socket.next() => {
                let Some(message) = message else { return Err(transient("server closed the connection")) };
                match parse(&message.map_err(transient)?) {
                    Some(ServerMessage::Desired(desired)) => engine.apply(desired).await,
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
            changed = reports.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let report = reports.borrow_and_update().clone();
                socket.send(send(&AgentMessage::Report(report))?).await.map_err(transient)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::agent::{DesiredState, TaskSpec};
    use flotilla_api::task::TaskStatus;
    use flotilla_api::taskdef::ContainerDefinition;

    fn config(start_delay: Duration) -> SimConfig {
        SimConfig {
            server: ServerAddress::new("http://127.0.0.1:1", None),
            cluster: "c".into(),
            token: "t".into(),
            count: 1,
            cpu: 1024,
            memory: 2048,
            zones: Vec::new(),
            attributes: Vec::new(),
            start_delay,
            name_prefix: "hollow".into(),
        }
    }

    fn desired(version: u64, status: TaskStatus) -> DesiredState {
        let container = ContainerDefinition {
            name: Some("main".into()),
            image: Some("flotilla/demo:latest".into()),
            ..ContainerDefinition::default()
        };
        let task = TaskSpec {
            task_arn: "arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef".into(),
            cluster: "c".into(),
            family: "f".into(),
            revision: 1,
            desired_status: status,
            network_mode: "bridge".into(),
            containers: vec![container],
            ..TaskSpec::default()
        };
        DesiredState { version, tasks: vec![task] }
    }

    async fn status_after(
        reports: &mut tokio::sync::watch::Receiver<flotilla_api::agent::Report>,
        wanted: TaskStatus,
    ) -> TaskStatus {
        loop {
            let now = reports.borrow_and_update().tasks.first().map(|t| t.last_status);
            if now == Some(wanted) {
                return wanted;
            }
            reports.changed().await.expect("the engine reports");
        }
    }

    /// The hollow agent's engine is the agent's: a task runs once its start delay is over (on
    /// tokio's paused clock, no time passes) and stops when told, reported as the real agent
    /// reports it.
    #[tokio::test(start_paused = true)]
    async fn hollow_tasks_run_after_the_delay_and_stop_when_told() {
        let engine = hollow_engine(0, &config(Duration::from_secs(60)));
        let mut reports = engine.report_channel();
        engine.apply(desired(1, TaskStatus::Running)).await;
        let started = tokio::time::Instant::now();
        status_after(&mut reports, TaskStatus::Running).await;
        assert!(started.elapsed() >= Duration::from_secs(60), "ran before its start delay");
        engine.apply(desired(2, TaskStatus::Stopped)).await;
        status_after(&mut reports, TaskStatus::Stopped).await;
        let report = reports.borrow().clone();
        let container = &report.tasks[0].containers[0];
        assert_eq!((container.name.as_str(), container.exit_code), ("main", Some(0)));
    }
}

//! The ECS control plane: the ECS API's handlers (`handlers/`, registered at the front door by
//! `service.rs`), the state they read and write (`state/`), the service controller, the agent
//! gateway (agents' WebSockets, `agent_auth.rs`, their log batches) and the `AWS/ECS` figures
//! (`metrics/`). `wire.rs` holds the wire types generated from botocore's model for the
//! operations of `wire.toml`, `convert.rs` the edge between them and the domain records. What
//! ECS hands other services goes through traits it owns: [`LogSink`] for
//! agents' container output, [`FigureSink`] for the figures; the server wires them.

pub mod agent_auth;
mod agent_drain;
mod agent_logs;
pub mod agents;
mod controller;
pub mod convert;
mod deactivation;
pub mod discovery;
mod domain;
pub mod execution_role;
mod gateway;
pub mod handlers;
mod housekeeping;
pub mod load_balancing;
pub mod metrics;
mod registrations;
pub mod service;
pub mod state;
pub mod task_roles;
pub mod vpc;
pub mod wire;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use flotilla_api::agent::{LogBatch, LogBatchReply};
use flotilla_api::arn::ArnScope;
use flotilla_api::datapoint::{SeriesKey, StatSet};
use flotilla_store::{Store, StoreError};

/// Request bodies of the ECS API larger than this are refused (413) before they are read whole.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// An agent silent for longer than this is lost: its service tasks are replaced elsewhere. With
/// the controller's reaction (a pass within 0.5 s, a container start), a service is whole again
/// within 10 s of losing an agent.
pub const DEFAULT_AGENT_TIMEOUT: Duration = Duration::from_secs(8);

/// Limits ECS applies per account; ECS's defaults unless configured.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    pub services_per_cluster: usize,
    pub tasks_per_service: i32,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas { services_per_cluster: 5000, tasks_per_service: 5000 }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where agents' container output goes (CloudWatch Logs): batches already checked to be the
/// sending instance's own tasks' streams.
pub trait LogSink: Send + Sync {
    /// Stores a batch received at `now_ms`; an error fails the whole batch (the agent retries).
    fn store(&self, batch: LogBatch, now_ms: i64) -> BoxFuture<'_, Result<LogBatchReply, String>>;
    /// Which of `groups` do not exist.
    fn missing_groups(&self, groups: Vec<String>) -> BoxFuture<'_, Result<Vec<String>, String>>;
}

/// Where the `AWS/ECS` figures go every tick (CloudWatch metrics): all of a tick's datapoints
/// at once (possibly none: the tick is also when old minutes are forgotten).
pub trait FigureSink: Send + Sync {
    fn record(&self, at: f64, points: Vec<(SeriesKey, StatSet)>);
}

/// How ECS is set up.
#[derive(Debug, Clone)]
pub struct EcsConfig {
    pub scope: ArnScope,
    /// How long an agent may be silent before its instance counts as lost.
    pub agent_timeout: Duration,
    pub quotas: Quotas,
    /// The agents' join token (`None`: revoked, no agent can join).
    pub join_token: Option<String>,
    /// What the controller, upkeep, figures and agent gateway take the time from.
    pub clock: Arc<dyn flotilla_api::clock::Clock>,
}

/// What every ECS handler, controller and agent connection can reach.
pub struct App {
    pub scope: ArnScope,
    /// The time, for everything not answering a request (requests carry their own `now`).
    pub clock: Arc<dyn flotilla_api::clock::Clock>,
    pub state: state::StateHandle,
    pub join_token: Option<String>,
    /// Agents connected right now.
    pub agents: agents::AgentRegistry,
    pub agent_timeout: Duration,
    pub quotas: Quotas,
    /// Task usage samples from agents (memory only).
    pub metrics: metrics::Metrics,
    pub logs: Arc<dyn LogSink>,
    pub figures: Arc<dyn FigureSink>,
    /// The region's load balancers, for services' `loadBalancers`.
    pub load_balancing: Arc<dyn load_balancing::LoadBalancing>,
    /// The region's Cloud Map, for services' `serviceRegistries`.
    pub service_registry: Arc<dyn discovery::ServiceRegistry>,
    /// The region's VPC, for awsvpc tasks' `networkConfiguration`.
    pub vpc: Arc<dyn vpc::Vpc>,
    /// The region's DNS table, pushed to every agent as it changes.
    pub dns: tokio::sync::watch::Receiver<Arc<flotilla_api::dns::DnsTable>>,
    /// The region's security groups and their members, pushed to every agent as they change.
    pub firewall: tokio::sync::watch::Receiver<Arc<flotilla_api::firewall::FirewallTable>>,
    /// The routes to every host's slices, pushed to every agent as they change.
    pub routes: tokio::sync::watch::Receiver<Arc<flotilla_api::routes::RouteTable>>,
    /// Tasks' role credentials (`None`: no task gets any).
    pub task_roles: Option<task_roles::TaskRoles>,
    /// What tasks' execution roles may read and write (`None`: a task with secrets fails to
    /// start).
    pub execution_role: Option<Arc<dyn execution_role::ExecutionRole>>,
}

impl App {
    /// The principal the root key stands for (used as `registeredBy`, settings' principal).
    pub fn root_principal(&self) -> String {
        format!("arn:aws:iam::{}:root", self.scope.account_id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EcsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create the default cluster: {0}")]
    DefaultCluster(String),
}

/// What ECS reaches other services through, each a trait ECS owns (the server wires them).
pub struct Links {
    pub logs: Arc<dyn LogSink>,
    pub figures: Arc<dyn FigureSink>,
    pub load_balancing: Arc<dyn load_balancing::LoadBalancing>,
    pub service_registry: Arc<dyn discovery::ServiceRegistry>,
    pub vpc: Arc<dyn vpc::Vpc>,
    pub dns: tokio::sync::watch::Receiver<Arc<flotilla_api::dns::DnsTable>>,
    pub firewall: tokio::sync::watch::Receiver<Arc<flotilla_api::firewall::FirewallTable>>,
    pub routes: tokio::sync::watch::Receiver<Arc<flotilla_api::routes::RouteTable>>,
    pub task_roles: Option<task_roles::TaskRoles>,
    pub execution_role: Option<Arc<dyn execution_role::ExecutionRole>>,
}

/// Loads the ECS state from `store` and makes sure the `default` cluster exists.
pub async fn open(
    config: EcsConfig,
    store: Arc<dyn Store>,
    links: Links,
) -> Result<Arc<App>, EcsError> {
    let Links {
        logs,
        figures,
        load_balancing,
        service_registry,
        vpc,
        dns,
        firewall,
        routes,
        task_roles,
        execution_role,
    } = links;
    let state = state::StateHandle::load(store).await?;
    let app = Arc::new(App {
        scope: config.scope,
        clock: config.clock,
        state,
        join_token: config.join_token,
        agents: agents::AgentRegistry::default(),
        agent_timeout: config.agent_timeout,
        quotas: config.quotas,
        metrics: metrics::Metrics::default(),
        logs,
        figures,
        load_balancing,
        service_registry,
        vpc,
        dns,
        firewall,
        routes,
        task_roles,
        execution_role,
    });
    handlers::ensure_default_cluster(&app)
        .await
        .map_err(|e| EcsError::DefaultCluster(e.to_string()))?;
    Ok(app)
}

/// The availability zones of the region's container instances (ACTIVE or DRAINING): what their
/// agents announce as `ecs.availability-zone`, sorted, without repeats.
pub fn availability_zones(app: &App) -> Vec<String> {
    let state = app.state.read();
    let zones: std::collections::BTreeSet<String> = state
        .instances
        .values()
        .filter(|i| i.instance.status != flotilla_api::status::InstanceStatus::Inactive)
        .filter_map(|i| {
            let zone = i.instance.attributes.iter().find(|a| a.name == "ecs.availability-zone");
            zone.and_then(|a| a.value.clone())
        })
        .collect();
    zones.into_iter().collect()
}

/// The container instance whose machine id (`ec2InstanceId`) is `host_id`, if registered:
/// the address its agent announces (if any).
pub fn instance_by_host_id(app: &App, host_id: &str) -> Option<Option<String>> {
    let state = app.state.read();
    let record = state.instances.values().find(|i| {
        i.instance.ec2_instance_id == host_id
            && i.instance.status != flotilla_api::status::InstanceStatus::Inactive
    })?;
    Some(record.instance.advertise_address.clone())
}

/// Keeps target groups and service registries in step with the services' tasks, every 250 ms.
fn registrations(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            load_balancing::step(&app).await;
            discovery::step(&app).await;
        }
    })
}

/// Starts the background work (service controller, stopped-task upkeep, the figures' tick);
/// abort the handles to stop it.
pub fn spawn(app: &Arc<App>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        housekeeping::spawn(Arc::clone(app)),
        controller::spawn(Arc::clone(app), app.agent_timeout),
        metrics::spawn(Arc::clone(app)),
        registrations(Arc::clone(app)),
    ]
}

/// The agents' routes: the WebSocket (`GET /v1/agent/connect`), container output
/// (`POST /v1/agent/logs`), log-group queries (`POST /v1/agent/logs/groups`) and the
/// operator's drain of a machine (`POST /v1/agent/drain`), tasks' role credentials
/// (`POST /v1/agent/task-credentials`) and what tasks start with: their secrets, their execution role's log permissions
/// (`POST /v1/agent/execution-resources`).
pub fn agent_routes(app: Arc<App>) -> Router {
    Router::new()
        .route(flotilla_api::agent::CONNECT_PATH, get(gateway::connect))
        .route(flotilla_api::agent::LOGS_PATH, post(agent_logs::receive))
        .route(flotilla_api::agent::LOG_GROUPS_PATH, post(agent_logs::missing_groups))
        .route(flotilla_api::agent::DRAIN_PATH, post(agent_drain::drain))
        .route(flotilla_api::agent::TASK_CREDENTIALS_PATH, post(task_roles::serve))
        .route(flotilla_api::agent::EXECUTION_RESOURCES_PATH, post(execution_role::serve))
        .with_state(app)
}

//! The agent protocol: JSON messages over one WebSocket that the agent opens to the server
//! (`GET /v1/agent/connect`, `Authorization: Bearer <agent token>`).
//!
//! Level-triggered: the server always sends the whole desired state of the instance (with a
//! version), the agent always reports the whole actual state of its tasks. Either side may
//! restart or lose a message; the next full message converges both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::instance::{Resource, VersionInfo};
use crate::task::{NetworkBinding, TaskStatus};
use crate::taskdef::{Attribute, ContainerDefinition, Volume};

pub const CONNECT_PATH: &str = "/v1/agent/connect";

/// Where an agent's server is: its URL (`http://127.0.0.1:8720`) and the region whose clusters
/// the agent joins (`None`: the server's own `--region`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    pub url: String,
    pub region: Option<String>,
}

impl ServerAddress {
    pub fn new(url: impl Into<String>, region: Option<String>) -> ServerAddress {
        ServerAddress { url: url.into(), region }
    }

    /// The URL of one of the agents' routes ([`CONNECT_PATH`], [`LOGS_PATH`],
    /// [`LOG_GROUPS_PATH`]), naming the region as the server reads it (`?region=`).
    pub fn route(&self, path: &str) -> String {
        let base = self.url.trim_end_matches('/');
        match &self.region {
            Some(region) => format!("{base}{path}?region={region}"),
            None => format!("{base}{path}"),
        }
    }
}

/// How an instance credential starts: `instance.<cluster>.<instance id>.<secret>`, presented as
/// `Authorization: Bearer <credential>` (a join token never contains a dot).
const INSTANCE_CREDENTIAL_PREFIX: &str = "instance.";

/// An instance's credential: it names its instance, so the server finds what to check it
/// against without a search.
pub fn instance_credential(cluster: &str, instance_id: &str, secret: &str) -> String {
    format!("{INSTANCE_CREDENTIAL_PREFIX}{cluster}.{instance_id}.{secret}")
}

/// The cluster, instance id and secret of an instance credential; `None` for anything else
/// (a join token).
pub fn parse_instance_credential(bearer: &str) -> Option<(&str, &str, &str)> {
    let mut parts = bearer.strip_prefix(INSTANCE_CREDENTIAL_PREFIX)?.splitn(3, '.');
    let (cluster, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    (!cluster.is_empty() && !id.is_empty() && !secret.is_empty()).then_some((cluster, id, secret))
}

/// How often an agent says it is alive when it has nothing else to say.
pub const HEARTBEAT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);
/// A connected agent is silent (half-open connection) only after missing this many heartbeats.
pub const MISSED_HEARTBEATS: u32 = 3;

/// Agent → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AgentMessage {
    /// First message on every connection.
    Register(Register),
    /// The actual state of every task the agent knows.
    Report(Report),
    Heartbeat,
    /// Resource usage of the running containers, every `STATS_INTERVAL`.
    Stats(StatsReport),
}

/// How often an agent samples Docker's stats of every running container and sends them.
pub const STATS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// One sample of every running task's containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsReport {
    pub tasks: Vec<TaskStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStats {
    pub task_arn: String,
    pub containers: Vec<ContainerStats>,
}

/// A container's usage, from Docker's stats API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStats {
    pub name: String,
    /// Epoch seconds of the sample.
    pub sampled_at: f64,
    /// CPU used over the sample, in ECS CPU units (1024 = one core busy).
    pub cpu_units: f64,
    /// Memory in use, page cache excluded (as `docker stats` shows it).
    pub memory_bytes: u64,
    /// The container's memory limit, 0 if none.
    pub memory_limit_bytes: u64,
    /// Totals since the container started.
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
}

/// The cluster name an agent registers with to be Fargate capacity (`flotilla agent
/// --fargate`): no user cluster can have it (`~` is not a cluster name's character), so its
/// instances belong to no user cluster and are never listed; they run the FARGATE tasks of
/// every cluster.
pub const FARGATE_POOL: &str = "~fargate";

/// The platform version FARGATE tasks run (ECS's `LATEST` on Linux).
pub const FARGATE_PLATFORM_VERSION: &str = "1.4.0";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Register {
    pub cluster: String,
    /// The container instance id the server gave this agent before (kept in its state file):
    /// a restarted agent is the same instance.
    pub container_instance_id: Option<String>,
    /// A stable id of the machine (like an EC2 instance id).
    pub host_id: String,
    pub registered_resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
    pub version_info: VersionInfo,
    /// Where load balancers reach this machine's tasks' host ports
    /// (`flotilla agent --advertise-address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub tasks: Vec<TaskReport>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskReport {
    pub task_arn: String,
    pub last_status: TaskStatus,
    pub containers: Vec<ContainerReport>,
    pub health_status: Option<crate::status::HealthStatus>,
    pub pull_started_at: Option<f64>,
    pub pull_stopped_at: Option<f64>,
    pub started_at: Option<f64>,
    pub stopping_at: Option<f64>,
    pub execution_stopped_at: Option<f64>,
    pub stopped_at: Option<f64>,
    /// Set when the agent itself decided to stop the task (an essential container exited, it
    /// failed to start).
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// An awsvpc task's interface, once wired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<TaskNetworkReport>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerReport {
    pub name: String,
    pub runtime_id: Option<String>,
    pub last_status: TaskStatus,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub network_bindings: Vec<NetworkBinding>,
    pub health_status: Option<crate::status::HealthStatus>,
}

/// Server → agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMessage {
    Registered {
        container_instance_arn: String,
        container_instance_id: String,
        /// Issued when the instance is new (admitted by the join token): the credential every
        /// later connection of this agent presents instead of the join token. The agent keeps
        /// it in its state file (mode 0600); the server keeps only its hash.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance_credential: Option<String>,
    },
    /// Registration refused (unknown cluster, instance deregistered, ...); the agent should not
    /// retry without a change.
    Refused {
        message: String,
    },
    Desired(DesiredState),
    /// The region's DNS table: sent after registration and again whenever it changes.
    Dns(crate::dns::DnsTable),
    /// The region's security groups and their members: sent after registration and again
    /// whenever they change.
    Firewall(crate::firewall::FirewallTable),
    /// Every host's slices of the region's subnets and where each host is: sent after
    /// registration and again whenever they change.
    Routes(crate::routes::RouteTable),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredState {
    /// Grows with every change; an agent ignores a state older than one it has applied.
    pub version: u64,
    pub tasks: Vec<TaskSpec>,
}

/// A task as the agent must run it: the task definition with overrides already applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    pub task_arn: String,
    pub cluster: String,
    pub family: String,
    pub revision: i32,
    /// RUNNING or STOPPED.
    pub desired_status: TaskStatus,
    pub network_mode: String,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub containers: Vec<ContainerDefinition>,
    pub volumes: Vec<Volume>,
    /// Why the task is to stop, when the server decided it (StopTask's reason).
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// An awsvpc task's interface, as the server assigned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<TaskNetworkSpec>,
    /// EC2 or FARGATE, as the task metadata endpoint tells the task (absent: EC2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    /// A task with a role: the id of its credentials at the container credentials endpoint
    /// (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/<id>`), which any agent of
    /// the machine resolves with the server ([`TASK_CREDENTIALS_PATH`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_id: Option<String>,
    /// Whether the task has an execution role: its `awslogs` containers then start only if
    /// the role may write their streams (asked of the server, [`EXECUTION_RESOURCES_PATH`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub execution_role: bool,
}

/// An awsvpc task's interface as the server assigned it: the agent wires the task's namespace
/// into `host_slice` (this host's part of the subnet; its first address is the gateway here).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskNetworkSpec {
    /// `eni-...`.
    pub interface_id: String,
    pub subnet_id: String,
    pub subnet_cidr: String,
    pub host_slice: String,
    pub security_groups: Vec<String>,
    /// Set when `assignPublicIp` is ENABLED: the VPC's CIDR block. Traffic to anywhere else
    /// leaves through the host's NAT (there are no public addresses to give).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_nat: Option<String>,
}

/// An awsvpc task's interface as its agent wired it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskNetworkReport {
    pub ipv4_address: String,
    pub prefix_len: u8,
    pub gateway: String,
    pub mac_address: String,
}

impl TaskSpec {
    /// The task id: the last segment of its ARN.
    pub fn task_id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn)
    }
}

/// Where agents ship container logs: `POST` a JSON [`LogBatch`] with the agent token as bearer.
/// The server answers 200 with a [`LogBatchReply`] only once the events are durable; the agent
/// keeps a batch in its on-disk buffer until then.
pub const LOGS_PATH: &str = "/v1/agent/logs";

/// Which of these log groups do not exist: `POST` a JSON [`LogGroupsQuery`] with the agent
/// token, answered with a [`LogGroupsReply`]. Asked before starting a container whose `awslogs`
/// group the agent may not create, which then fails as on ECS.
pub const LOG_GROUPS_PATH: &str = "/v1/agent/logs/groups";

/// The operator's drain of one machine (`flotilla drain`): `POST` a JSON [`DrainRequest`] with
/// that machine's instance credential (from its agent's state file), answered with a
/// [`DrainReply`]. The way to drain Fargate capacity, whose instances the ECS API never lists;
/// for a cluster's instance it is UpdateContainerInstancesState on that one instance.
pub const DRAIN_PATH: &str = "/v1/agent/drain";

/// `POST` [`TaskCredentialsRequest`] with an instance credential: the role credentials of the
/// task whose credentials id it names ([`TaskCredentials`]), as ECS's container credentials
/// endpoint serves them. 404 for an id of no running task with a role.
pub const TASK_CREDENTIALS_PATH: &str = "/v1/agent/task-credentials";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCredentialsRequest {
    pub credentials_id: String,
}

/// A task's role credentials, in the shape of ECS's container credentials endpoint (what the
/// SDKs read). `Debug` never shows the secret or the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskCredentials {
    pub role_arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub token: String,
    /// ISO 8601, UTC.
    pub expiration: String,
}

impl std::fmt::Debug for TaskCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskCredentials")
            .field("role_arn", &self.role_arn)
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainRequest {
    /// `DRAINING`, or `ACTIVE` to take the machine back.
    pub status: crate::status::InstanceStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainReply {
    pub container_instance_arn: String,
    pub status: crate::status::InstanceStatus,
    /// Tasks on the instance not yet stopped.
    pub running_tasks: usize,
    /// FARGATE_SPOT tasks told to stop now (SpotInterruption).
    pub spot_tasks_interrupted: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroupsQuery {
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroupsReply {
    pub missing: Vec<String>,
}

/// Container output captured by an agent (the `awslogs` driver), grouped by log stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogBatch {
    pub streams: Vec<LogStreamBatch>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStreamBatch {
    /// `awslogs-group`.
    pub group: String,
    /// `<awslogs-stream-prefix>/<container name>/<task id>` (the Docker container id without a
    /// prefix), as ECS names them. Created on first use, as the awslogs driver does.
    pub stream: String,
    /// `awslogs-create-group: "true"`: create the group if it does not exist.
    pub create_group: bool,
    /// The task whose container wrote the lines: the server checks a stream named after a
    /// Docker container id against the task's containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    /// In the order the container wrote them.
    pub events: Vec<LogLine>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// Milliseconds since the epoch: when the container wrote the line (Docker's timestamp).
    pub timestamp: i64,
    /// The line without its trailing newline.
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogBatchReply {
    /// Events stored.
    pub accepted: u64,
    /// Streams refused for good (their group does not exist and `create_group` was false, the
    /// name is invalid): the agent drops them instead of retrying forever.
    pub rejected: Vec<RejectedLogStream>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedLogStream {
    pub group: String,
    pub stream: String,
    pub reason: String,
}

/// `POST` [`ExecutionResourcesRequest`] with an instance credential: what a task placed on that
/// instance starts with, as its execution role may have it ([`ExecutionResources`]): the values
/// of its `secrets` and `logConfiguration.secretOptions`, once the role may also write its
/// `awslogs` streams. 422 with ECS's reason as text when it cannot have them (the task then
/// fails to start with it); 404 for a task that is not this instance's.
pub const EXECUTION_RESOURCES_PATH: &str = "/v1/agent/execution-resources";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionResourcesRequest {
    pub task_arn: String,
}

/// What a task starts with: each container's secret values, by container name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionResources {
    pub containers: BTreeMap<String, ContainerSecrets>,
}

/// One container's secret values: environment variables (`secrets`) and log driver options
/// (`logConfiguration.secretOptions`), each `(name, value)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSecrets {
    #[serde(default)]
    pub environment: Vec<(String, SecretValue)>,
    #[serde(default)]
    pub log_options: Vec<(String, SecretValue)>,
}

/// A secret's value: `Debug` never shows it, so no log line or panic message can.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretValue(pub String);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(..)")
    }
}

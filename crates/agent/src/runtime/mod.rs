//! The container runtime behind a trait the agent owns: Docker in production and in tests
//! (`docker.rs`); a simulated runtime only for scale benchmarks (later).

mod docker;
pub mod recording;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use flotilla_api::agent::SecretValue;
use flotilla_api::task::NetworkBinding;
use flotilla_api::taskdef::{ContainerDefinition, Volume};

pub use docker::{DockerRuntime, DEFAULT_BRIDGE_NETWORK};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Labels ECS's agent puts on every container; Flotilla finds its containers by the first.
pub const LABEL_TASK_ARN: &str = "com.amazonaws.ecs.task-arn";
pub const LABEL_CONTAINER_NAME: &str = "com.amazonaws.ecs.container-name";
pub const LABEL_CLUSTER: &str = "com.amazonaws.ecs.cluster";
pub const LABEL_FAMILY: &str = "com.amazonaws.ecs.task-definition-family";
pub const LABEL_REVISION: &str = "com.amazonaws.ecs.task-definition-version";
/// Which agent created the container (its host id): an agent only ever cleans up its own
/// containers, so several agents can share one Docker Engine.
pub const LABEL_AGENT: &str = "io.flotilla.agent";

/// Marks a spare pause container (its value: the agent's host id), started before an awsvpc task
/// needs one (see `engine::spare`). It carries no task's labels until a task takes it, and
/// never gets them (Docker's labels are fixed): the agent's state file says whose it is.
pub const LABEL_SPARE_PAUSE: &str = "io.flotilla.spare-pause";

/// Everything needed to create one container of a task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerPlan {
    /// Docker container name, `ecs-<family>-<rev>-<name>-<id>` as ECS's agent names them.
    pub docker_name: String,
    /// The container definition with the task's overrides applied.
    pub definition: ContainerDefinition,
    /// ECS's labels (above) merged over the definition's `dockerLabels`.
    pub labels: BTreeMap<String, String>,
    /// `bridge` (default), `host`, `none`, or `container:<id>` (an awsvpc task's container
    /// joining its pause container's namespace).
    pub network_mode: String,
    /// The task's volumes, to resolve `mountPoints.sourceVolume`.
    pub task_volumes: Vec<Volume>,
    /// Task-level limits, enforced when the container has none of its own.
    pub task_memory_mib: Option<u32>,
    pub task_cpu_units: Option<u32>,
    /// Docker names of the task's other containers, to resolve `links` and `volumesFrom`.
    pub sibling_names: BTreeMap<String, String>,
    /// The agent's DNS server: bridge-mode containers resolve with it unless their
    /// definition names `dnsServers`.
    pub resolvers: Vec<std::net::IpAddr>,
    /// Extra environment set by the agent (metadata endpoint and the like).
    pub extra_env: Vec<(String, String)>,
    /// The values of the definition's `secrets`, read when the task started (never stored).
    pub secret_env: Vec<(String, SecretValue)>,
    /// The values of `logConfiguration.secretOptions`, likewise: options of the log driver.
    pub secret_log_options: Vec<(String, SecretValue)>,
    /// Whether `privileged: true` may be honoured on this agent.
    pub allow_privileged: bool,
    /// The task's cgroup (task-level limits), when the agent made one.
    pub cgroup_parent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Created,
    Running,
    Exited,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

/// What Docker says about one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerStatus {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: RunState,
    pub exit_code: Option<i32>,
    /// Docker's error text when the container failed to start, or "OOMKilled".
    pub error: Option<String>,
    pub health: Option<Health>,
    /// Epoch seconds.
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub network_bindings: Vec<NetworkBinding>,
    /// The main process, while it runs (its `/proc/<pid>/ns/net` is the container's network
    /// namespace).
    pub pid: Option<u32>,
}

/// A network a container is attached to, and its address there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerNetwork {
    /// Docker's network name (`bridge`, `host`, a user network).
    pub name: String,
    /// Empty on `host` and `none`.
    pub ipv4_address: String,
}

/// What Docker says about one container beyond its state: for the task metadata endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerDetails {
    pub image_id: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Epoch seconds.
    pub created_at: Option<f64>,
    pub started_at: Option<f64>,
    pub networks: Vec<ContainerNetwork>,
}

/// One line a container wrote to stdout or stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// When Docker received the line, nanoseconds since the epoch.
    pub timestamp_ns: i64,
    /// The line without its newline (invalid UTF-8 replaced).
    pub line: String,
    /// A piece of a longer line that goes on in the next record: Docker splits lines over
    /// 16 KiB, stamping every piece with the first piece's time.
    pub partial: bool,
}

/// A container's output, line by line, until the container stops (or the runtime fails).
pub type LogStream = futures_util::stream::BoxStream<'static, Result<LogRecord, RuntimeError>>;

/// The machine as Docker sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostInfo {
    pub cpus: u32,
    pub memory_bytes: u64,
    pub docker_version: String,
    pub api_version: String,
    pub os_type: String,
    pub architecture: String,
    pub hostname: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("no such container: {0}")]
    NotFound(String),
    /// The image is not present and could not be pulled (the text follows ECS's
    /// `CannotPullContainerError: ...`).
    #[error("CannotPullContainerError: {0}")]
    ImagePull(String),
    /// The definition asks for something this runtime cannot do.
    #[error("{0}")]
    InvalidSpec(String),
    #[error("docker: {0}")]
    Docker(String),
}

/// The operations the task engine needs from a container runtime. Every operation is
/// idempotent where Docker allows it: stopping a stopped container or removing a removed one
/// succeeds.
pub trait Runtime: Send + Sync + 'static {
    fn info(&self) -> BoxFuture<'_, Result<HostInfo, RuntimeError>>;
    fn image_present<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool, RuntimeError>>;
    /// Pulls `image`; fails with `ImagePull` when it cannot be had (no registry, no network).
    fn pull_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Creates the container (not started) and returns its id. If a container with the plan's
    /// name already exists, returns that one's id: a retried create never duplicates.
    fn create<'a>(&'a self, plan: &'a ContainerPlan)
        -> BoxFuture<'a, Result<String, RuntimeError>>;
    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// SIGTERM (or the image's stop signal), then SIGKILL after `timeout`.
    fn stop<'a>(
        &'a self,
        id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// `None` when the container does not exist (any more).
    fn inspect<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ContainerStatus>, RuntimeError>>;
    /// Every container carrying `LABEL_TASK_ARN`, running or not.
    fn list_managed(&self) -> BoxFuture<'_, Result<Vec<ContainerStatus>, RuntimeError>>;
    /// Every container carrying label `label`, running or not.
    fn list_labelled<'a>(
        &'a self,
        label: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>>;
    /// Gives a container another name.
    fn rename<'a>(&'a self, id: &'a str, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Ids of managed containers whose state changed (started, died, health changed), as they
    /// happen. The stream reconnects on its own; the engine also resyncs periodically, so a
    /// missed event only delays an update.
    fn events(&self) -> tokio::sync::mpsc::Receiver<String>;
    /// The container's output from `since_ns` (nanoseconds since the epoch; Docker filters by
    /// whole seconds, so lines up to a second older come too), following until it stops.
    fn follow_logs(&self, id: &str, since_ns: i64) -> LogStream;
    /// One sample of the container's resource usage, in the Docker stats API's JSON shape
    /// (with `precpu_stats`, so CPU percentages can be computed); `None` if it is gone.
    fn stats<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, RuntimeError>>;
    /// Image, creation time and addresses; `None` if the container is gone.
    fn details<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ContainerDetails>, RuntimeError>>;
    /// The address of the host on the bridge network of bridge-mode tasks (its gateway), where
    /// containers in bridge and host mode alike can reach a server of the agent's.
    fn bridge_gateway(&self) -> BoxFuture<'_, Result<Option<std::net::IpAddr>, RuntimeError>>;
    /// Makes sure the image built from this very binary (the demo image, which awsvpc tasks'
    /// pause containers run) is present under `tag`, building it if need be (no pulls).
    fn build_own_image<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
}

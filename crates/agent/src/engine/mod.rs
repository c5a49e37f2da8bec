//! The task engine: one worker per task drives it through ECS's lifecycle on the runtime; the
//! supervisor starts workers for new desired tasks, stops the ones the server no longer wants,
//! adopts what a previous run of the agent left, and publishes the actual state.

pub mod awsvpc;
pub mod spare;
mod worker;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use flotilla_api::agent::{ContainerReport, DesiredState, Report, TaskReport, TaskSpec};
use flotilla_api::status::HealthStatus;
use flotilla_api::task::NetworkBinding;
use flotilla_api::task::TaskStatus;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Notify};

use crate::runtime::{Runtime, LABEL_AGENT, LABEL_TASK_ARN};

/// What the agent knows of one container of a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerRun {
    pub docker_name: String,
    pub docker_id: Option<String>,
    /// PENDING, RUNNING or STOPPED.
    pub last_status: TaskStatus,
    /// Whether `start` was issued (dependency conditions look at this).
    pub started: bool,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub network_bindings: Vec<NetworkBinding>,
    pub health_status: Option<HealthStatus>,
    /// The secret part of the container's metadata endpoint URI (`/v4/<token>`): only the
    /// container itself is told it.
    pub metadata_token: Option<String>,
}

/// What the agent knows of one task: the spec it runs and where it is in the lifecycle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskRun {
    pub spec: TaskSpec,
    pub last_status: TaskStatus,
    pub containers: BTreeMap<String, ContainerRun>,
    pub health_status: Option<HealthStatus>,
    pub pull_started_at: Option<f64>,
    pub pull_stopped_at: Option<f64>,
    pub started_at: Option<f64>,
    pub stopping_at: Option<f64>,
    pub stopped_at: Option<f64>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// When the server stopped listing a STOPPED task; its containers are removed after the
    /// cleanup wait.
    pub forgotten_at: Option<f64>,
    /// An awsvpc task's pause container and interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<awsvpc::PauseRun>,
}

impl TaskRun {
    pub fn new(spec: TaskSpec) -> Self {
        let containers = spec
            .containers
            .iter()
            .map(|c| {
                let name = c.name.clone().unwrap_or_default();
                let run = ContainerRun {
                    docker_name: docker_name(&spec, &name),
                    last_status: TaskStatus::Pending,
                    metadata_token: Some(new_metadata_token()),
                    ..ContainerRun::default()
                };
                (name, run)
            })
            .collect();
        let pause = (spec.network_mode == "awsvpc").then(|| awsvpc::PauseRun::new(&spec));
        TaskRun {
            spec,
            last_status: TaskStatus::Provisioning,
            containers,
            pause,
            ..TaskRun::default()
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.last_status == TaskStatus::Stopped
    }

    fn report(&self) -> TaskReport {
        TaskReport {
            task_arn: self.spec.task_arn.clone(),
            last_status: self.last_status,
            containers: self
                .containers
                .iter()
                .map(|(name, c)| ContainerReport {
                    name: name.clone(),
                    runtime_id: c.docker_id.clone(),
                    last_status: c.last_status,
                    exit_code: c.exit_code,
                    reason: c.reason.clone(),
                    network_bindings: c.network_bindings.clone(),
                    health_status: c.health_status,
                })
                .collect(),
            health_status: self.health_status,
            pull_started_at: self.pull_started_at,
            pull_stopped_at: self.pull_stopped_at,
            started_at: self.started_at,
            stopping_at: self.stopping_at,
            execution_stopped_at: self.stopped_at,
            stopped_at: self.stopped_at,
            stop_code: self.stop_code.clone(),
            stopped_reason: self.stopped_reason.clone(),
            network: self.pause.as_ref().and_then(|p| p.attachment.clone()),
        }
    }
}

/// ECS's agent names containers `ecs-<family>-<revision>-<name>-<unique>`; the task id makes
/// the name unique and deterministic, so a create retried after a crash finds its container.
pub fn docker_name(spec: &TaskSpec, container: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
            .collect::<String>()
    };
    format!("ecs-{}-{}-{}-{}", clean(&spec.family), spec.revision, clean(container), spec.task_id())
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64 / 1000.0)
}

/// Agent settings the engine needs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This agent's host id, put on every container it creates (`LABEL_AGENT`).
    pub agent_id: String,
    pub allow_privileged: bool,
    /// How long a stopped task's containers are kept after the server forgot the task.
    pub cleanup_wait: Duration,
    /// The task metadata endpoint's base URL (`http://<bridge gateway>:<port>`), when serving.
    pub metadata_url: Option<String>,
    /// The agent's DNS server, the resolver of bridge-mode containers (`None`: Docker's
    /// default, the host's resolvers).
    pub resolver: Option<std::net::IpAddr>,
    /// Asks the server whether `awslogs` groups exist before their containers start.
    pub log_groups: Option<Arc<crate::logs::groups::GroupCheck>>,
    /// awsvpc task networking (`None`: awsvpc tasks fail to start, saying why).
    pub networking: Option<Arc<awsvpc::TaskNetworking>>,
    /// This agent's port of the container credentials endpoint (`None`: not serving; tasks
    /// with a role get no credentials).
    pub credentials_port: Option<u16>,
    /// Asks the server what tasks start with: secret values, the execution role's leave to
    /// write logs (`None`: a task with secrets fails to start).
    pub execution_resources: Option<Arc<crate::execution_resources::ResourceFetch>>,
    /// What tasks' timestamps are taken from (tests give a manual clock).
    pub clock: Arc<dyn flotilla_api::clock::Clock>,
    /// Task-level limits' cgroups (the host's; tests record them).
    pub cgroups: Arc<dyn crate::cgroup::TaskCgroups>,
}

impl EngineConfig {
    /// An engine with none of the host's services (no metadata endpoint, resolver, log-group
    /// checks, task networking, credentials or execution resources): the engine's unit tests
    /// and hollow agents.
    pub fn bare(
        agent_id: String,
        clock: Arc<dyn flotilla_api::clock::Clock>,
        cgroups: Arc<dyn crate::cgroup::TaskCgroups>,
    ) -> EngineConfig {
        EngineConfig {
            agent_id,
            allow_privileged: false,
            cleanup_wait: Duration::from_secs(3600),
            metadata_url: None,
            resolver: None,
            log_groups: None,
            networking: None,
            credentials_port: None,
            execution_resources: None,
            clock,
            cgroups,
        }
    }
}

type SharedRuns = Arc<Mutex<BTreeMap<String, TaskRun>>>;

/// How often the agent looks for containers no task owns (always on the first desired state).
const ORPHAN_CHECK_EVERY: Duration = Duration::from_secs(60);

/// The engine's handle: feed it desired states, read actual state from `reports()`.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Arc<dyn Runtime>,
    config: EngineConfig,
    /// Every task's current run; workers update their own entry.
    runs: SharedRuns,
    /// Woken on every change of `runs`.
    changed: Arc<Notify>,
    workers: Mutex<HashMap<String, worker::WorkerHandle>>,
    last_version: Mutex<Option<u64>>,
    /// When orphaned containers were last looked for (listing every container is not cheap,
    /// and desired states can arrive many times a second).
    orphans_checked: Mutex<Option<std::time::Instant>>,
    /// Always holds the latest report; one publisher task feeds it.
    reports: watch::Receiver<Report>,
}

impl Engine {
    /// Starts the engine with what the last run left (`adopted`), resuming every task that was
    /// not stopped. Nothing is killed before the first desired state arrives.
    pub fn start(
        runtime: Arc<dyn Runtime>,
        config: EngineConfig,
        adopted: BTreeMap<String, TaskRun>,
    ) -> Engine {
        let (report_sender, reports) = watch::channel(Report::default());
        let engine = Engine {
            inner: Arc::new(Inner {
                runtime,
                config,
                runs: Arc::new(Mutex::new(BTreeMap::new())),
                changed: Arc::new(Notify::new()),
                workers: Mutex::new(HashMap::new()),
                last_version: Mutex::new(None),
                orphans_checked: Mutex::new(None),
                reports,
            }),
        };
        for (arn, run) in adopted {
            if run.is_stopped() {
                lock(&engine.inner.runs).insert(arn, run);
            } else {
                engine.spawn_worker(run);
            }
        }
        engine.spawn_event_pump();
        engine.spawn_report_publisher(report_sender);
        engine
    }

    /// The one consumer of `changed`: publishes a change at once, then at most one report per
    /// 20 ms (changes during the pause leave a permit, so the latest state always goes out).
    fn spawn_report_publisher(&self, sender: watch::Sender<Report>) {
        sender.send_replace(self.report());
        let inner = Arc::downgrade(&self.inner);
        let changed = Arc::clone(&self.inner.changed);
        tokio::spawn(async move {
            loop {
                changed.notified().await;
                let Some(strong) = inner.upgrade() else { return };
                let report = Engine { inner: strong }.report();
                sender.send_replace(report);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }

    fn spawn_worker(&self, run: TaskRun) {
        let arn = run.spec.task_arn.clone();
        lock(&self.inner.runs).insert(arn.clone(), run.clone());
        let handle = worker::spawn(
            Arc::clone(&self.inner.runtime),
            self.inner.config.clone(),
            run,
            Arc::clone(&self.inner.runs),
            Arc::clone(&self.inner.changed),
        );
        lock(&self.inner.workers).insert(arn, handle);
        self.inner.changed.notify_one();
    }

    /// Forwards Docker's container events to the worker of the task they belong to.
    fn spawn_event_pump(&self) {
        let mut events = self.inner.runtime.events();
        let engine = self.clone();
        tokio::spawn(async move {
            while let Some(container_id) = events.recv().await {
                let task = {
                    let runs = lock(&engine.inner.runs);
                    runs.iter()
                        .find(|(_, r)| {
                            r.containers
                                .values()
                                .any(|c| c.docker_id.as_deref() == Some(container_id.as_str()))
                        })
                        .map(|(arn, _)| arn.clone())
                };
                if let Some(arn) = task {
                    if let Some(worker) = lock(&engine.inner.workers).get(&arn) {
                        worker.poke();
                    }
                }
            }
        });
    }

    /// The region's security groups, as the server sent them last: awsvpc tasks' firewalls
    /// follow them (without task networking there is nothing to guard).
    pub fn set_firewall(&self, table: flotilla_api::firewall::FirewallTable) {
        if let Some(networking) = &self.inner.config.networking {
            networking.firewalls.set_table(table);
        }
    }

    /// The routes to every host's slices, as the server sent them last: this host routes the
    /// other hosts' (without task networking there is nothing to reach).
    pub fn set_routes(&self, table: flotilla_api::routes::RouteTable) {
        if let Some(networking) = &self.inner.config.networking {
            networking.routes.set(table);
        }
    }

    /// Applies a desired state from the server (older versions than one applied are ignored).
    pub async fn apply(&self, desired: DesiredState) {
        {
            let mut last = lock(&self.inner.last_version);
            if last.is_some_and(|v| desired.version < v) {
                return;
            }
            *last = Some(desired.version);
        }
        let wanted: HashMap<String, TaskSpec> =
            desired.tasks.into_iter().map(|t| (t.task_arn.clone(), t)).collect();
        // New tasks, and changes (a stop) to known ones.
        for (arn, spec) in &wanted {
            let existing = lock(&self.inner.workers).get(arn).map(|w| w.update(spec.clone()));
            match existing {
                Some(()) => {}
                None => {
                    let known_stopped =
                        lock(&self.inner.runs).get(arn).is_some_and(TaskRun::is_stopped);
                    if !known_stopped {
                        self.spawn_worker(TaskRun::new(spec.clone()));
                    }
                }
            }
        }
        // Tasks the server no longer lists: stop them; forget them once stopped.
        let unlisted: Vec<String> = lock(&self.inner.runs)
            .keys()
            .filter(|arn| !wanted.contains_key(*arn))
            .cloned()
            .collect();
        for arn in unlisted {
            let run = lock(&self.inner.runs).get(&arn).cloned();
            let Some(run) = run else { continue };
            if run.is_stopped() {
                self.forget(arn, run);
            } else if let Some(worker) = lock(&self.inner.workers).get(&arn) {
                let mut spec = run.spec.clone();
                spec.desired_status = TaskStatus::Stopped;
                spec.stopped_reason
                    .get_or_insert_with(|| "Task is no longer known to the control plane".into());
                worker.update(spec);
            }
        }
        let due = {
            let mut checked = lock(&self.inner.orphans_checked);
            let due = checked.is_none_or(|at| at.elapsed() >= ORPHAN_CHECK_EVERY);
            if due {
                *checked = Some(std::time::Instant::now());
            }
            due
        };
        if due {
            self.remove_orphans(&wanted).await;
        }
        self.inner.changed.notify_one();
    }

    /// Removes a stopped task's containers after the cleanup wait, then drops it.
    fn forget(&self, arn: String, run: TaskRun) {
        if run.forgotten_at.is_some() {
            return;
        }
        if let Some(r) = lock(&self.inner.runs).get_mut(&arn) {
            r.forgotten_at = Some(self.inner.config.clock.epoch_seconds());
        }
        lock(&self.inner.workers).remove(&arn);
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep(inner.config.cleanup_wait).await;
            let pause = run.pause.iter().map(|p| (&p.docker_name, &p.docker_id));
            let containers = run.containers.values().map(|c| (&c.docker_name, &c.docker_id));
            for (name, id) in containers.chain(pause) {
                if let Some(id) = id {
                    if let Err(error) = inner.runtime.remove(id).await {
                        tracing::warn!(%error, container = %name, "cannot remove container");
                    }
                }
            }
            inner.config.cgroups.remove(run.spec.task_id());
            lock(&inner.runs).remove(&arn);
            inner.changed.notify_one();
        });
    }

    /// Managed containers that belong to no task the agent or the server knows: leftovers of a
    /// lost state file or of tasks forgotten while the agent was down. Stopped and removed.
    async fn remove_orphans(&self, wanted: &HashMap<String, TaskSpec>) {
        let Ok(containers) = self.inner.runtime.list_managed().await else { return };
        for container in containers {
            if container.labels.get(LABEL_AGENT) != Some(&self.inner.config.agent_id) {
                continue; // another agent's container
            }
            let Some(arn) = container.labels.get(LABEL_TASK_ARN) else { continue };
            let known = wanted.contains_key(arn) || lock(&self.inner.runs).contains_key(arn);
            if !known {
                tracing::info!(container = %container.name, task = %arn, "removing a container of an unknown task");
                let _ = self.inner.runtime.stop(&container.id, Duration::from_secs(10)).await;
                let _ = self.inner.runtime.remove(&container.id).await;
            }
        }
        // Interfaces of tasks nobody knows (the state file lost, or the agent killed while it
        // attached one): detached, their addresses given back.
        if let Some(networking) = &self.inner.config.networking {
            self.remove_stray_spares(networking).await;
            for task_id in networking.cni.recorded_tasks() {
                let known = |arn: &String| arn.rsplit('/').next() == Some(task_id.as_str());
                let known = wanted.keys().any(known) || lock(&self.inner.runs).keys().any(known);
                if !known {
                    tracing::info!(task = %task_id, "detaching the interface of an unknown task");
                    let gone = std::path::PathBuf::new();
                    if let Err(error) = networking.cni.detach(&task_id, &gone).await {
                        tracing::warn!(%error, task = %task_id, "cannot detach");
                    }
                }
            }
            for task_id in networking.nat.tasks().await {
                let known = |arn: &String| arn.rsplit('/').next() == Some(task_id.as_str());
                let known = wanted.keys().any(known) || lock(&self.inner.runs).keys().any(known);
                if !known {
                    tracing::info!(task = %task_id, "removing the NAT rule of an unknown task");
                    if let Err(error) = networking.nat.disable(&task_id).await {
                        tracing::warn!(%error, task = %task_id, "cannot remove the NAT rule");
                    }
                }
            }
        }
    }

    /// Spare pause containers of this agent that are neither waiting to be taken nor held by a
    /// task (an agent killed while it had one): removed.
    async fn remove_stray_spares(&self, networking: &awsvpc::TaskNetworking) {
        let label = crate::runtime::LABEL_SPARE_PAUSE;
        let Ok(spares) = self.inner.runtime.list_labelled(label).await else { return };
        let agent_id = &self.inner.config.agent_id;
        let held: HashSet<String> = lock(&self.inner.runs)
            .values()
            .filter_map(|run| run.pause.as_ref().and_then(|p| p.docker_id.clone()))
            .collect();
        for spare in spares.iter().filter(|c| c.labels.get(label) == Some(agent_id)) {
            if networking.spare.is_stray(&spare.id, |id| held.contains(id)) {
                tracing::info!(container = %spare.name, "removing a spare pause container");
                let _ = self.inner.runtime.remove(&spare.id).await;
            }
        }
    }

    /// The actual state of every task, for the server.
    pub fn report(&self) -> Report {
        Report { tasks: lock(&self.inner.runs).values().map(TaskRun::report).collect() }
    }

    /// Every task run, for the local state file.
    pub fn runs(&self) -> BTreeMap<String, TaskRun> {
        lock(&self.inner.runs).clone()
    }

    /// Whether a task of this engine with credentials id `id` has not stopped.
    pub fn runs_task_with_credentials(&self, id: &str) -> bool {
        lock(&self.inner.runs).values().any(|run| {
            run.spec.credentials_id.as_deref() == Some(id) && run.last_status != TaskStatus::Stopped
        })
    }

    /// A receiver that always holds the latest report (connection, state file).
    pub fn report_channel(&self) -> watch::Receiver<Report> {
        self.inner.reports.clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each critical section is a single insert/update; the data stays usable after a panic.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Used by workers: a sender for pokes.
pub(crate) type Poke = mpsc::Sender<()>;

/// A new secret for a task's metadata URI (the metadata endpoint checks it): 128 random bits.
pub fn new_metadata_token() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No OS randomness: fall back to a weaker but still unpredictable-enough source.
        for byte in &mut bytes {
            *byte = fastrand::u8(..);
        }
    }
    hex::encode(bytes)
}

#[cfg(test)]
mod tests;

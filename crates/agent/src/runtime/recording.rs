//! A recording, in-memory [`Runtime`]: containers are records that start, run and exit when a
//! test says so, and every call is kept in order. The task engine's unit tests run against it
//! in milliseconds (with tokio's paused clock for stop timeouts); the Docker end-to-end tests
//! stay the proof that the real runtime behaves the same. Hollow agents (`flotilla sim
//! agents`) run the real engine on it too ([`RecordingRuntime::simulated`]: no record kept,
//! each start taking a set time).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{
    BoxFuture, ContainerDetails, ContainerPlan, ContainerStatus, Health, HostInfo, LogStream,
    RunState, Runtime, RuntimeError, LABEL_TASK_ARN,
};

/// One call the engine made, by container name (ids are the runtime's, names are the plan's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Pull(String),
    Create(String),
    Start(String),
    /// With the timeout before SIGKILL.
    Stop(String, Duration),
    Remove(String),
}

#[derive(Debug, Clone)]
struct Container {
    id: String,
    name: String,
    labels: BTreeMap<String, String>,
    state: RunState,
    exit_code: Option<i32>,
    health: Option<Health>,
    /// Stays up through SIGTERM: only the SIGKILL after the stop timeout ends it.
    ignores_sigterm: bool,
    cgroup_parent: Option<String>,
    started_at: Option<f64>,
    finished_at: Option<f64>,
}

impl Container {
    fn status(&self) -> ContainerStatus {
        ContainerStatus {
            id: self.id.clone(),
            name: self.name.clone(),
            labels: self.labels.clone(),
            state: self.state,
            exit_code: self.exit_code,
            error: None,
            health: self.health,
            started_at: self.started_at,
            finished_at: self.finished_at,
            network_bindings: Vec::new(),
            pid: (self.state == RunState::Running).then_some(1),
        }
    }
}

#[derive(Default)]
struct World {
    containers: BTreeMap<String, Container>,
    calls: Vec<Call>,
    next_id: u64,
}

/// The recording runtime. Images are present unless a test removes them with
/// [`RecordingRuntime::without_image`] (then a pull fails, as with no registry).
pub struct RecordingRuntime {
    world: Mutex<World>,
    /// Whether calls are kept (not by hollow agents, which run for days).
    keeps_calls: bool,
    /// How long a start takes.
    start_delay: Duration,
    events_in: mpsc::Sender<String>,
    events_out: Mutex<Option<mpsc::Receiver<String>>>,
    missing_images: Mutex<BTreeSet<String>>,
}

impl Default for RecordingRuntime {
    fn default() -> Self {
        let (events_in, events_out) = mpsc::channel(1024);
        RecordingRuntime {
            world: Mutex::default(),
            keeps_calls: true,
            start_delay: Duration::ZERO,
            events_in,
            events_out: Mutex::new(Some(events_out)),
            missing_images: Mutex::default(),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each critical section is a few field updates; the data stays usable after a panic.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn epoch_now() -> f64 {
    crate::engine::now()
}

impl RecordingRuntime {
    /// A hollow agent's runtime: each start takes `start_delay`, and no call is kept.
    pub fn simulated(start_delay: Duration) -> Self {
        RecordingRuntime { keeps_calls: false, start_delay, ..RecordingRuntime::default() }
    }

    fn record(&self, world: &mut World, call: Call) {
        if self.keeps_calls {
            world.calls.push(call);
        }
    }

    /// An image that is not present and cannot be pulled.
    pub fn without_image(self, image: &str) -> Self {
        lock(&self.missing_images).insert(image.to_string());
        self
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.world).calls.clone()
    }

    /// The calls so far of the container whose name contains `container`.
    pub fn calls_of(&self, container: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|call| {
                let (Call::Pull(name)
                | Call::Create(name)
                | Call::Start(name)
                | Call::Stop(name, _)
                | Call::Remove(name)) = call;
                name.contains(container)
            })
            .collect()
    }

    /// The state of the container whose name contains `container`.
    pub fn state_of(&self, container: &str) -> Option<RunState> {
        let world = lock(&self.world);
        world.containers.values().find(|c| c.name.contains(container)).map(|c| c.state)
    }

    /// The cgroup parent the container whose name contains `container` was created under.
    pub fn cgroup_parent_of(&self, container: &str) -> Option<String> {
        let world = lock(&self.world);
        world.containers.values().find(|c| c.name.contains(container))?.cgroup_parent.clone()
    }

    /// How many containers exist (any state).
    pub fn container_count(&self) -> usize {
        lock(&self.world).containers.len()
    }

    /// The container's main process exits with `code` (a crash, `docker kill`: 137), and
    /// Docker's event for it goes out.
    pub fn exit(&self, container: &str, code: i32) {
        let id = {
            let mut world = lock(&self.world);
            let Some(c) = world.containers.values_mut().find(|c| c.name.contains(container)) else {
                return;
            };
            c.state = RunState::Exited;
            c.exit_code = Some(code);
            c.finished_at = Some(epoch_now());
            c.id.clone()
        };
        let _ = self.events_in.try_send(id);
    }

    /// The container's health check now reports `health`.
    pub fn set_health(&self, container: &str, health: Health) {
        let id = {
            let mut world = lock(&self.world);
            let Some(c) = world.containers.values_mut().find(|c| c.name.contains(container)) else {
                return;
            };
            c.health = Some(health);
            c.id.clone()
        };
        let _ = self.events_in.try_send(id);
    }

    /// The container, once created, stays up through SIGTERM (its stop takes the whole timeout).
    pub fn ignore_sigterm(&self, container: &str) {
        let mut world = lock(&self.world);
        for c in world.containers.values_mut().filter(|c| c.name.contains(container)) {
            c.ignores_sigterm = true;
        }
    }

    fn find_mut<'w>(world: &'w mut World, id: &str) -> Result<&'w mut Container, RuntimeError> {
        world.containers.get_mut(id).ok_or_else(|| RuntimeError::NotFound(id.to_string()))
    }
}

impl Runtime for RecordingRuntime {
    fn info(&self) -> BoxFuture<'_, Result<HostInfo, RuntimeError>> {
        Box::pin(async {
            Ok(HostInfo {
                cpus: 2,
                memory_bytes: 4 << 30,
                docker_version: "recording".into(),
                api_version: "1.41".into(),
                os_type: "linux".into(),
                architecture: "x86_64".into(),
                hostname: "recording".into(),
            })
        })
    }

    fn image_present<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool, RuntimeError>> {
        let present = !lock(&self.missing_images).contains(image);
        Box::pin(async move { Ok(present) })
    }

    fn pull_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        self.record(&mut lock(&self.world), Call::Pull(image.to_string()));
        let missing = lock(&self.missing_images).contains(image);
        Box::pin(async move {
            if missing {
                Err(RuntimeError::ImagePull(format!("pull access denied for {image}")))
            } else {
                Ok(())
            }
        })
    }

    fn create<'a>(
        &'a self,
        plan: &'a ContainerPlan,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        let mut world = lock(&self.world);
        self.record(&mut world, Call::Create(plan.docker_name.clone()));
        let existing = world.containers.values().find(|c| c.name == plan.docker_name);
        let id = match existing {
            Some(c) => c.id.clone(),
            None => {
                world.next_id += 1;
                let id = format!("c{:04}", world.next_id);
                let container = Container {
                    id: id.clone(),
                    name: plan.docker_name.clone(),
                    labels: plan.labels.clone(),
                    state: RunState::Created,
                    exit_code: None,
                    health: plan.definition.health_check.as_ref().map(|_| Health::Starting),
                    ignores_sigterm: false,
                    cgroup_parent: plan.cgroup_parent.clone(),
                    started_at: None,
                    finished_at: None,
                };
                world.containers.insert(id.clone(), container);
                id
            }
        };
        Box::pin(async move { Ok(id) })
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let run = move || {
            let result = {
                let mut world = lock(&self.world);
                let name = world.containers.get(id).map(|c| c.name.clone()).unwrap_or_default();
                self.record(&mut world, Call::Start(name));
                Self::find_mut(&mut world, id).map(|c| {
                    if c.state != RunState::Running {
                        c.state = RunState::Running;
                        c.started_at = Some(epoch_now());
                        c.exit_code = None;
                    }
                })
            };
            if result.is_ok() {
                let _ = self.events_in.try_send(id.to_string());
            }
            result
        };
        if self.start_delay.is_zero() {
            let result = run();
            return Box::pin(async move { result });
        }
        Box::pin(async move {
            tokio::time::sleep(self.start_delay).await;
            run()
        })
    }

    fn stop<'a>(
        &'a self,
        id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let ignores = {
                let mut world = lock(&self.world);
                let name = world.containers.get(id).map(|c| c.name.clone()).unwrap_or_default();
                self.record(&mut world, Call::Stop(name, timeout));
                let c = Self::find_mut(&mut world, id)?;
                c.state == RunState::Running && c.ignores_sigterm
            };
            if ignores {
                tokio::time::sleep(timeout).await;
            }
            let mut world = lock(&self.world);
            let c = Self::find_mut(&mut world, id)?;
            if c.state == RunState::Running {
                c.state = RunState::Exited;
                // SIGKILL's status, or a clean exit on SIGTERM.
                c.exit_code = Some(if ignores { 137 } else { 0 });
                c.finished_at = Some(epoch_now());
            }
            drop(world);
            let _ = self.events_in.try_send(id.to_string());
            Ok(())
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let mut world = lock(&self.world);
        if let Some(c) = world.containers.remove(id) {
            self.record(&mut world, Call::Remove(c.name));
        }
        Box::pin(async { Ok(()) })
    }

    fn inspect<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ContainerStatus>, RuntimeError>> {
        let status = lock(&self.world).containers.get(id).map(Container::status);
        Box::pin(async move { Ok(status) })
    }

    fn list_managed(&self) -> BoxFuture<'_, Result<Vec<ContainerStatus>, RuntimeError>> {
        self.list_labelled(LABEL_TASK_ARN)
    }

    fn list_labelled<'a>(
        &'a self,
        label: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>> {
        let world = lock(&self.world);
        let found = world
            .containers
            .values()
            .filter(|c| c.labels.contains_key(label))
            .map(Container::status)
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn rename<'a>(&'a self, id: &'a str, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let result = Self::find_mut(&mut lock(&self.world), id).map(|c| c.name = name.to_string());
        Box::pin(async move { result })
    }

    fn events(&self) -> mpsc::Receiver<String> {
        // One consumer (the engine's event pump); a second gets a stream that never speaks.
        lock(&self.events_out).take().unwrap_or_else(|| mpsc::channel(1).1)
    }

    fn follow_logs(&self, _id: &str, _since_ns: i64) -> LogStream {
        Box::pin(futures_util::stream::empty())
    }

    fn stats<'a>(
        &'a self,
        _id: &'a str,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, RuntimeError>> {
        Box::pin(async { Ok(None) })
    }

    fn details<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ContainerDetails>, RuntimeError>> {
        let details = lock(&self.world).containers.get(id).map(|c| ContainerDetails {
            labels: c.labels.clone(),
            started_at: c.started_at,
            ..ContainerDetails::default()
        });
        Box::pin(async move { Ok(details) })
    }

    fn bridge_gateway(&self) -> BoxFuture<'_, Result<Option<std::net::IpAddr>, RuntimeError>> {
        Box::pin(async { Ok(None) })
    }

    fn build_own_image<'a>(&'a self, _tag: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async { Ok(()) })
    }
}

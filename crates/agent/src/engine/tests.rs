//! The task engine against the recording runtime: lifecycles, essential and non-essential
//! exits, dependency order, stop timeouts, adoption, and the order of a stop's causes — each
//! in milliseconds, on tokio's paused clock. The Docker end-to-end tests (tests/e2e/tasks.rs)
//! show the same behaviour with real containers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::agent::{DesiredState, TaskSpec};
use flotilla_api::clock::ManualClock;
use flotilla_api::task::TaskStatus;
use flotilla_api::taskdef::{ContainerDefinition, ContainerDependency, HealthCheck};

use super::{Engine, EngineConfig, TaskRun};
use crate::cgroup::RecordingCgroups;
use crate::runtime::recording::{Call, RecordingRuntime};
use crate::runtime::{Health, RunState};

const TASK: &str = "arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef";

/// Where every test's clock starts (epoch seconds).
const START: u64 = 1_700_000_000;

fn config() -> EngineConfig {
    config_on(Arc::new(ManualClock::at_epoch_seconds(START)), Arc::default())
}

fn config_on(clock: Arc<ManualClock>, cgroups: Arc<RecordingCgroups>) -> EngineConfig {
    EngineConfig::bare("unit".into(), clock, cgroups)
}

fn container(name: &str) -> ContainerDefinition {
    ContainerDefinition {
        name: Some(name.into()),
        image: Some("flotilla/demo:latest".into()),
        ..ContainerDefinition::default()
    }
}

fn spec(containers: Vec<ContainerDefinition>) -> TaskSpec {
    TaskSpec {
        task_arn: TASK.into(),
        cluster: "c".into(),
        family: "f".into(),
        revision: 1,
        desired_status: TaskStatus::Running,
        network_mode: "bridge".into(),
        containers,
        ..TaskSpec::default()
    }
}

fn stopping(mut spec: TaskSpec, code: &str) -> TaskSpec {
    spec.desired_status = TaskStatus::Stopped;
    spec.stop_code = Some(code.into());
    spec.stopped_reason = Some("the server stops it".into());
    spec
}

struct Harness {
    runtime: Arc<RecordingRuntime>,
    engine: Engine,
    clock: Arc<ManualClock>,
    cgroups: Arc<RecordingCgroups>,
    version: u64,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(RecordingRuntime::default(), BTreeMap::new())
    }

    fn with(runtime: RecordingRuntime, adopted: BTreeMap<String, TaskRun>) -> Harness {
        let runtime = Arc::new(runtime);
        let clock = Arc::new(ManualClock::at_epoch_seconds(START));
        let cgroups = Arc::new(RecordingCgroups::default());
        let config = config_on(Arc::clone(&clock), Arc::clone(&cgroups));
        let engine = Engine::start(Arc::clone(&runtime) as _, config, adopted);
        Harness { runtime, engine, clock, cgroups, version: 0 }
    }

    async fn desire(&mut self, tasks: Vec<TaskSpec>) {
        self.version += 1;
        self.engine.apply(DesiredState { version: self.version, tasks }).await;
    }

    fn run(&self) -> TaskRun {
        self.engine.runs().get(TASK).cloned().expect("the task's run")
    }

    /// Waits (on the paused clock) until the task's run satisfies `check`.
    async fn until(&self, what: &str, check: impl Fn(&TaskRun) -> bool) -> TaskRun {
        for _ in 0..2000 {
            if let Some(run) = self.engine.runs().get(TASK) {
                if check(run) {
                    return run.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never {what}: {:#?}\ncalls: {:?}", self.engine.runs(), self.runtime.calls());
    }

    async fn until_status(&self, status: TaskStatus) -> TaskRun {
        self.until(&format!("{status}"), |r| r.last_status == status).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_task_runs_and_stops_when_its_essential_container_exits() {
    let mut h = Harness::new();
    h.desire(vec![spec(vec![container("app")])]).await;
    let running = h.until_status(TaskStatus::Running).await;
    assert!(running.started_at.is_some());
    let calls = h.runtime.calls_of("app");
    assert!(matches!(calls.as_slice(), [Call::Create(_), Call::Start(_)]), "{calls:?}");

    // The task's times are the engine's clock's, not the machine's.
    assert_eq!(running.started_at, Some(START as f64));
    h.clock.advance(Duration::from_secs(5));
    h.runtime.exit("app", 137);
    let stopped = h.until_status(TaskStatus::Stopped).await;
    assert_eq!(stopped.stop_code.as_deref(), Some("EssentialContainerExited"));
    assert_eq!(stopped.stopped_reason.as_deref(), Some("Essential container in task exited"));
    assert_eq!(stopped.containers["app"].exit_code, Some(137));
    assert_eq!(stopped.stopping_at, Some(START as f64 + 5.0));
    assert_eq!(stopped.stopped_at, Some(START as f64 + 5.0));
}

#[tokio::test(start_paused = true)]
async fn task_limits_get_a_cgroup_of_the_task_that_goes_with_it() {
    let mut h = Harness::new();
    let sized = TaskSpec {
        cpu: Some("256".into()),
        memory: Some("512".into()),
        ..spec(vec![container("app")])
    };
    h.desire(vec![sized.clone()]).await;
    let running = h.until_status(TaskStatus::Running).await;
    let task_id = running.spec.task_id().to_string();
    let created = h.cgroups.created.lock().expect("lock").clone();
    assert_eq!(created, [(task_id.clone(), Some(256), Some(512))]);
    assert_eq!(h.runtime.cgroup_parent_of("app"), Some(format!("/ecs/{task_id}")));
    h.desire(vec![stopping(sized, "UserInitiated")]).await;
    h.until_status(TaskStatus::Stopped).await;
    assert!(h.cgroups.removed.lock().expect("lock").contains(&task_id));

    // Without task-level limits there is no task cgroup.
    let mut plain = Harness::new();
    plain.desire(vec![spec(vec![container("app")])]).await;
    plain.until_status(TaskStatus::Running).await;
    assert!(plain.cgroups.created.lock().expect("lock").is_empty());
    assert_eq!(plain.runtime.cgroup_parent_of("app"), None);
}

#[tokio::test(start_paused = true)]
async fn a_non_essential_exit_leaves_the_task_running() {
    let mut h = Harness::new();
    let side = ContainerDefinition { essential: Some(false), ..container("side") };
    h.desire(vec![spec(vec![container("app"), side])]).await;
    h.until_status(TaskStatus::Running).await;
    h.runtime.exit("side", 0);
    let run = h
        .until("the side container stopped", |r| {
            r.containers["side"].last_status == TaskStatus::Stopped
        })
        .await;
    assert_eq!(run.last_status, TaskStatus::Running);
    assert_eq!(run.stop_code, None);
    // Still running a while later.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(h.run().last_status, TaskStatus::Running);
    assert_eq!(h.runtime.state_of("app"), Some(RunState::Running));
}

#[tokio::test(start_paused = true)]
async fn dependencies_order_the_starts() {
    let mut h = Harness::new();
    let migrate = ContainerDefinition { essential: Some(false), ..container("migrate") };
    let web = ContainerDefinition {
        depends_on: Some(vec![ContainerDependency {
            container_name: "migrate".into(),
            condition: "SUCCESS".into(),
        }]),
        ..container("web")
    };
    h.desire(vec![spec(vec![migrate, web])]).await;
    h.until("migrate started", |r| r.containers["migrate"].started).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !h.runtime.calls_of("web").iter().any(|c| matches!(c, Call::Start(_))),
        "web waits for migrate's success: {:?}",
        h.runtime.calls()
    );
    h.runtime.exit("migrate", 0);
    h.until("web started", |r| r.containers["web"].started).await;
    let calls = h.runtime.calls();
    let started =
        |name: &str| calls.iter().position(|c| matches!(c, Call::Start(n) if n.contains(name)));
    assert!(started("migrate") < started("web"), "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_dependency_stops_the_task_before_its_dependent_starts() {
    let mut h = Harness::new();
    let migrate = ContainerDefinition { essential: Some(false), ..container("migrate") };
    let web = ContainerDefinition {
        depends_on: Some(vec![ContainerDependency {
            container_name: "migrate".into(),
            condition: "SUCCESS".into(),
        }]),
        ..container("web")
    };
    h.desire(vec![spec(vec![migrate, web])]).await;
    h.until("migrate started", |r| r.containers["migrate"].started).await;
    h.runtime.exit("migrate", 3);
    let stopped = h.until_status(TaskStatus::Stopped).await;
    assert_eq!(stopped.stop_code.as_deref(), Some("TaskFailedToStart"), "{stopped:#?}");
    assert!(!h.runtime.calls_of("web").iter().any(|c| matches!(c, Call::Start(_))));
}

#[tokio::test(start_paused = true)]
async fn a_stop_waits_the_stop_timeout_then_kills() {
    let mut h = Harness::new();
    let app = ContainerDefinition { stop_timeout: Some(7), ..container("app") };
    h.desire(vec![spec(vec![app])]).await;
    h.until_status(TaskStatus::Running).await;
    h.runtime.ignore_sigterm("app");
    let started = tokio::time::Instant::now();
    h.desire(vec![stopping(
        spec(vec![ContainerDefinition { stop_timeout: Some(7), ..container("app") }]),
        "UserInitiated",
    )])
    .await;
    let stopped = h.until_status(TaskStatus::Stopped).await;
    assert!(started.elapsed() >= Duration::from_secs(7), "{:?}", started.elapsed());
    assert!(
        h.runtime.calls_of("app").contains(&Call::Stop(
            crate::engine::docker_name(&spec(Vec::new()), "app"),
            Duration::from_secs(7)
        )),
        "{:?}",
        h.runtime.calls()
    );
    assert_eq!(stopped.stop_code.as_deref(), Some("UserInitiated"));
    assert_eq!(stopped.containers["app"].exit_code, Some(137), "killed after the timeout");
}

#[tokio::test(start_paused = true)]
async fn an_adopted_task_keeps_running_without_new_containers() {
    let mut first = Harness::new();
    first.desire(vec![spec(vec![container("app")])]).await;
    first.until_status(TaskStatus::Running).await;
    let runs = first.engine.runs();
    let runtime = Arc::clone(&first.runtime);
    let creates = runtime.calls().iter().filter(|c| matches!(c, Call::Create(_))).count();

    // A new engine on the same runtime with the state file's runs (an agent restart).
    let engine = Engine::start(Arc::clone(&runtime) as _, config(), runs);
    engine.apply(DesiredState { version: 1, tasks: vec![spec(vec![container("app")])] }).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let run = engine.runs().get(TASK).cloned().expect("adopted");
    assert_eq!(run.last_status, TaskStatus::Running);
    let calls = runtime.calls();
    assert_eq!(calls.iter().filter(|c| matches!(c, Call::Create(_))).count(), creates);
    assert!(!calls.iter().any(|c| matches!(c, Call::Stop(..))), "{calls:?}");
    assert_eq!(runtime.container_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_image_that_cannot_be_pulled_fails_the_start() {
    let runtime = RecordingRuntime::default().without_image("flotilla/demo:latest");
    let mut h = Harness::with(runtime, BTreeMap::new());
    h.desire(vec![spec(vec![container("app")])]).await;
    let stopped = h.until_status(TaskStatus::Stopped).await;
    assert_eq!(stopped.stop_code.as_deref(), Some("TaskFailedToStart"));
    let reason = stopped.stopped_reason.unwrap_or_default();
    assert!(reason.starts_with("CannotPullContainerError"), "{reason}");
    assert_eq!(h.runtime.container_count(), 0, "nothing was created");
}

/// Issue 16's stop-code race, the agent's half: a health-checked essential container is killed
/// (its exit leaves the task UNHEALTHY) and the scheduler's stop arrives right behind: the task
/// stops as `EssentialContainerExited`, and the run says so from the moment it shows the
/// container stopped (the server's half: `crates/ecs/src/controller.rs`, `keep_first_cause`).
#[tokio::test(start_paused = true)]
async fn a_killed_essential_container_always_stops_its_task_as_essential_container_exited() {
    let mut h = Harness::new();
    let checked = ContainerDefinition {
        health_check: Some(HealthCheck {
            command: vec!["CMD".into(), "true".into()],
            ..HealthCheck::default()
        }),
        ..container("app")
    };
    h.desire(vec![spec(vec![checked.clone()])]).await;
    h.until_status(TaskStatus::Running).await;
    h.runtime.set_health("app", Health::Healthy);
    h.until("healthy", |r| r.health_status.is_some()).await;

    h.runtime.set_health("app", Health::Unhealthy);
    h.runtime.exit("app", 137);
    let seen =
        h.until("the exit seen", |r| r.containers["app"].last_status == TaskStatus::Stopped).await;
    assert_eq!(seen.stop_code.as_deref(), Some("EssentialContainerExited"), "{seen:#?}");
    // The scheduler's stop arrives right behind the exit.
    h.desire(vec![stopping(spec(vec![checked]), "ServiceSchedulerInitiated")]).await;
    let stopped = h.until_status(TaskStatus::Stopped).await;
    assert_eq!(stopped.stop_code.as_deref(), Some("EssentialContainerExited"));
}

/// An `awslogs` container asks the server for its execution role's leave to write its stream
/// only when the task has an execution role: without one it starts (this engine has no server
/// to ask), with one it cannot start here and the task fails as ECS's would.
#[tokio::test(start_paused = true)]
async fn only_a_task_with_an_execution_role_asks_leave_for_its_log_streams() {
    let logged = ContainerDefinition {
        log_configuration: Some(flotilla_api::taskdef::LogConfiguration {
            log_driver: "awslogs".into(),
            options: Some(BTreeMap::from([("awslogs-group".into(), "g".into())])),
            secret_options: None,
        }),
        ..container("app")
    };
    let mut h = Harness::new();
    h.desire(vec![spec(vec![logged.clone()])]).await;
    h.until_status(TaskStatus::Running).await;

    let mut h = Harness::new();
    h.desire(vec![TaskSpec { execution_role: true, ..spec(vec![logged]) }]).await;
    let stopped = h.until_status(TaskStatus::Stopped).await;
    assert_eq!(stopped.stop_code.as_deref(), Some("TaskFailedToStart"));
    assert!(h.runtime.calls_of("app").is_empty(), "no container was made");
}

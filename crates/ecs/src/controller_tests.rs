//! The service controller (and the stopped tasks' upkeep) without agents or Docker: an ECS app
//! on an embedded store and a manual clock, instances registered and "connected" in memory,
//! task reports applied as an agent would send them, and one controller pass at a time. Each
//! test runs in milliseconds; the e2e tests (tests/e2e/services.rs) show the same with real
//! agents and containers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flotilla_api::agent::{LogBatch, LogBatchReply, Register, Report, TaskReport};
use flotilla_api::clock::{Clock, ManualClock};
use flotilla_api::datapoint::{SeriesKey, StatSet};
use flotilla_api::instance::{Resource, VersionInfo};
use flotilla_api::task::TaskStatus;
use serde_json::{json, Value};

use super::Controller;
use crate::domain::registration::{apply_report, register, Admission};
use crate::{App, BoxFuture, EcsConfig, FigureSink, Links, LogSink, Quotas};

struct NoLogs;

impl LogSink for NoLogs {
    fn store(&self, _: LogBatch, _: i64) -> BoxFuture<'_, Result<LogBatchReply, String>> {
        Box::pin(async { Err("no logs here".to_string()) })
    }
    fn missing_groups(&self, _: Vec<String>) -> BoxFuture<'_, Result<Vec<String>, String>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

struct NoFigures;

impl FigureSink for NoFigures {
    fn record(&self, _: f64, _: Vec<(SeriesKey, StatSet)>) {}
}

struct Harness {
    app: Arc<App>,
    clock: Arc<ManualClock>,
    controller: Controller,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn flotilla_store::Store> = Arc::new(
            flotilla_store::EmbeddedStore::open(&dir.path().join("s.redb")).expect("store"),
        );
        let clock = Arc::new(ManualClock::at_epoch_seconds(1_700_000_000));
        let (_, dns) = tokio::sync::watch::channel(Arc::default());
        let (_, firewall) = tokio::sync::watch::channel(Arc::default());
        let (_, routes) = tokio::sync::watch::channel(Arc::default());
        let app = crate::open(
            EcsConfig {
                scope: flotilla_api::arn::ArnScope::new("us-east-1", "123456789012"),
                agent_timeout: Duration::from_secs(8),
                quotas: Quotas::default(),
                join_token: None,
                clock: Arc::clone(&clock) as Arc<dyn Clock>,
            },
            store,
            Links {
                logs: Arc::new(NoLogs),
                figures: Arc::new(NoFigures),
                load_balancing: Arc::new(crate::load_balancing::NoLoadBalancing),
                service_registry: Arc::new(crate::discovery::NoServiceRegistry),
                vpc: Arc::new(crate::vpc::NoVpc),
                dns,
                firewall,
                routes,
                task_roles: None,
                execution_role: None,
            },
        )
        .await
        .expect("open ECS");
        Harness { app, clock, controller: Controller::new(Duration::from_secs(8)), _dir: dir }
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    async fn call(&self, operation: &str, body: Value) -> Value {
        let body = serde_json::to_vec(&body).expect("json");
        let answer = crate::handlers::dispatch(&self.app, operation, &body, self.now(), None)
            .await
            .unwrap_or_else(|e| panic!("{operation}: {e}"));
        serde_json::from_slice(&answer).expect("json answer")
    }

    /// A container instance of the default cluster, its agent connected.
    async fn instance(&self, host: &str) -> String {
        let registered = register(
            &self.app,
            Register {
                cluster: "default".into(),
                container_instance_id: None,
                host_id: host.into(),
                registered_resources: vec![
                    Resource::integer("CPU", 4096),
                    Resource::integer("MEMORY", 8192),
                ],
                attributes: Vec::new(),
                version_info: VersionInfo::default(),
                advertise_address: None,
            },
            uuid::Uuid::new_v4().simple().to_string(),
            self.clock.epoch_seconds(),
            Admission::Join { credential_hash: "unit".into() },
        )
        .await
        .expect("register");
        self.app.agents.connect(&registered.id);
        registered.id
    }

    async fn pass(&mut self) {
        self.controller.pass(&self.app).await;
    }

    /// The service's tasks: (task ARN, instance id, desired, last status, stop code).
    fn tasks(&self) -> Vec<(String, String, TaskStatus, TaskStatus, Option<String>)> {
        let state = self.app.state.read();
        let mut tasks: Vec<_> = state
            .tasks
            .values()
            .filter(|t| t.task.group.as_deref() == Some("service:web"))
            .map(|t| {
                (
                    t.task.task_arn.clone(),
                    t.instance_id.clone().unwrap_or_default(),
                    t.task.desired_status,
                    t.task.last_status,
                    t.task.stop_code.clone(),
                )
            })
            .collect();
        tasks.sort();
        tasks
    }

    /// The agent of `instance` reports `task` as `status` (with a stop code).
    async fn report(
        &self,
        instance: &str,
        task: &str,
        status: TaskStatus,
        stop_code: Option<&str>,
    ) {
        let report = Report {
            tasks: vec![TaskReport {
                task_arn: task.into(),
                last_status: status,
                stop_code: stop_code.map(str::to_string),
                stopped_reason: stop_code.map(|_| "Essential container in task exited".into()),
                started_at: Some(self.clock.epoch_seconds()),
                ..TaskReport::default()
            }],
        };
        apply_report(&self.app, instance.into(), report).await.expect("report");
    }

    /// Service `web` of one task (with `deploymentConfiguration`), placed on a fresh
    /// instance `host-a` and reported RUNNING there: (instance, task).
    async fn one_running_task_with(&mut self, configuration: Value) -> (String, String) {
        let a = self.instance("host-a").await;
        self.service_with(1, configuration).await;
        self.pass().await;
        let task = self.tasks()[0].0.clone();
        self.report(&a, &task, TaskStatus::Running, None).await;
        (a, task)
    }

    async fn one_running_task(&mut self) -> (String, String) {
        self.one_running_task_with(json!({})).await
    }

    async fn service(&self, desired: u32) {
        self.service_with(desired, json!({})).await;
    }

    /// Service `web` of `desired` tasks of `web:1`, with `deploymentConfiguration`.
    async fn service_with(&self, desired: u32, configuration: Value) {
        self.revision("flotilla/demo:latest").await;
        self.call(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": desired,
                   "deploymentConfiguration": configuration}),
        )
        .await;
    }

    /// Time enough for running tasks without health checks to count as healthy.
    async fn stable(&self) {
        self.clock.advance(Duration::from_secs_f64(super::STABLE_AFTER_SECONDS + 1.0));
    }

    /// A new revision of `web` running `image`.
    async fn revision(&self, image: &str) {
        self.call(
            "RegisterTaskDefinition",
            json!({"family": "web", "containerDefinitions": [
                {"name": "app", "image": image, "memory": 128}]}),
        )
        .await;
    }

    /// The revision of the task definition `task` runs.
    fn revision_of(&self, task: &str) -> String {
        let state = self.app.state.read();
        let task = state.tasks.values().find(|t| t.task.task_arn == task).expect("the task");
        task.task.task_definition_arn.rsplit(':').next().unwrap_or_default().to_string()
    }

    /// The service's deployments: (task definition revision, status, rollout state).
    async fn deployments(&self) -> Vec<(String, String, String)> {
        let described = self.call("DescribeServices", json!({"services": ["web"]})).await;
        let text = |d: &Value, key: &str| d[key].as_str().unwrap_or_default().to_string();
        described["services"][0]["deployments"]
            .as_array()
            .expect("deployments")
            .iter()
            .map(|d| {
                let definition = text(d, "taskDefinition");
                let revision = definition.rsplit(':').next().unwrap_or_default().to_string();
                (revision, text(d, "status"), text(d, "rolloutState"))
            })
            .collect()
    }
}

fn live(tasks: &[(String, String, TaskStatus, TaskStatus, Option<String>)]) -> usize {
    tasks.iter().filter(|t| t.2 == TaskStatus::Running).count()
}

#[tokio::test]
async fn a_pass_starts_the_desired_count_spread_over_instances() {
    let mut h = Harness::new().await;
    let (a, b) = (h.instance("host-a").await, h.instance("host-b").await);
    h.service(2).await;
    h.pass().await;
    let tasks = h.tasks();
    assert_eq!(live(&tasks), 2, "{tasks:?}");
    let mut on: Vec<&str> = tasks.iter().map(|t| t.1.as_str()).collect();
    on.sort_unstable();
    let mut both = vec![a.as_str(), b.as_str()];
    both.sort_unstable();
    assert_eq!(on, both, "the service default spreads over instances");
    h.pass().await;
    assert_eq!(h.tasks().len(), 2, "a second pass starts nothing more");
}

#[tokio::test]
async fn a_task_that_stops_is_replaced_on_the_next_pass() {
    let mut h = Harness::new().await;
    let (a, first) = h.one_running_task().await;
    h.clock.advance(Duration::from_secs(60));
    h.report(&a, &first, TaskStatus::Stopped, Some("EssentialContainerExited")).await;
    h.pass().await;
    let tasks = h.tasks();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    let replaced = tasks.iter().find(|t| t.0 == first).expect("the first task");
    assert_eq!(replaced.3, TaskStatus::Stopped);
    assert_eq!(replaced.4.as_deref(), Some("EssentialContainerExited"));
    assert_eq!(live(&tasks), 1, "one replacement: {tasks:?}");
}

#[tokio::test]
async fn the_cause_an_agent_reports_first_survives_the_schedulers_stop() {
    let mut h = Harness::new().await;
    let (a, task) = h.one_running_task().await;
    // The agent's report of the exit, the task not stopped yet; then a scale-in pass.
    h.report(&a, &task, TaskStatus::Running, Some("EssentialContainerExited")).await;
    h.call("UpdateService", json!({"service": "web", "desiredCount": 0})).await;
    h.pass().await;
    let tasks = h.tasks();
    assert_eq!(tasks[0].2, TaskStatus::Stopped, "the scheduler stops it: {tasks:?}");
    assert_eq!(tasks[0].4.as_deref(), Some("EssentialContainerExited"));
}

#[tokio::test(start_paused = true)]
async fn a_silent_agents_tasks_are_replaced_elsewhere_after_the_timeout() {
    let mut h = Harness::new().await;
    let (a, first) = h.one_running_task().await;
    let b = h.instance("host-b").await;
    // A's agent goes away (its connection was the first one made).
    h.app.agents.disconnect(&a, 0);
    h.pass().await;
    assert_eq!(h.tasks().len(), 1, "not lost before the timeout: {:?}", h.tasks());
    tokio::time::advance(Duration::from_secs(9)).await;
    // B's agent keeps talking (its heartbeats, here a fresh connection).
    h.app.agents.connect(&b);
    h.pass().await;
    let tasks = h.tasks();
    let lost = tasks.iter().find(|t| t.0 == first).expect("the first task");
    assert_eq!(lost.2, TaskStatus::Stopped, "marked to stop: {tasks:?}");
    assert_eq!(lost.4.as_deref(), Some("ServiceSchedulerInitiated"));
    let Some(replacement) = tasks.iter().find(|t| t.0 != first) else {
        let described = h.call("DescribeServices", json!({"services": ["web"]})).await;
        panic!("no replacement: {tasks:?}\n{described:#}");
    };
    assert_eq!(replacement.1, b, "on the instance that still answers");
}

#[tokio::test]
async fn stopped_tasks_are_forgotten_an_hour_after_they_stopped() {
    let mut h = Harness::new().await;
    let (a, task) = h.one_running_task().await;
    let report = Report {
        tasks: vec![TaskReport {
            task_arn: task.clone(),
            last_status: TaskStatus::Stopped,
            stopped_at: Some(h.clock.epoch_seconds()),
            ..TaskReport::default()
        }],
    };
    apply_report(&h.app, a.clone(), report).await.expect("report");
    h.clock.advance(Duration::from_secs(3599));
    crate::housekeeping::sweep(&h.app).await;
    assert!(h.tasks().iter().any(|t| t.0 == task), "kept within the hour");
    h.clock.advance(Duration::from_secs(2));
    crate::housekeeping::sweep(&h.app).await;
    assert!(!h.tasks().iter().any(|t| t.0 == task), "forgotten after it");
}

/// A rolling deployment with ECS's defaults (minimum healthy 100 %, maximum 200 %): the new
/// revision's tasks start first, the old ones keep running until the new ones run, then stop;
/// the deployment completes once the old tasks are gone.
#[tokio::test]
async fn a_rolling_deployment_stops_old_tasks_only_once_new_ones_run() {
    let mut h = Harness::new().await;
    let _ = (h.instance("host-a").await, h.instance("host-b").await);
    h.service(2).await;
    h.pass().await;
    let old: Vec<(String, String)> = h.tasks().into_iter().map(|t| (t.0, t.1)).collect();
    for (task, on) in &old {
        h.report(on, task, TaskStatus::Running, None).await;
    }
    h.stable().await;
    h.pass().await;
    assert_eq!(h.deployments().await, [("1".into(), "PRIMARY".into(), "COMPLETED".into())]);

    h.revision("flotilla/demo:next").await;
    h.call("UpdateService", json!({"service": "web", "taskDefinition": "web:2"})).await;
    h.pass().await;
    let tasks = h.tasks();
    let new: Vec<(String, String)> = tasks
        .iter()
        .filter(|t| !old.iter().any(|o| o.0 == t.0))
        .map(|t| (t.0.clone(), t.1.clone()))
        .collect();
    assert_eq!(new.len(), 2, "up to 200 %: both new tasks at once: {tasks:?}");
    assert!(new.iter().all(|(task, _)| h.revision_of(task) == "2"));
    let old_desired = |h: &Harness| -> Vec<TaskStatus> {
        h.tasks().iter().filter(|t| old.iter().any(|o| o.0 == t.0)).map(|t| t.2).collect()
    };
    // The new tasks are not running yet: the old ones stay (minimum healthy 100 %).
    h.pass().await;
    assert_eq!(old_desired(&h), [TaskStatus::Running, TaskStatus::Running]);

    for (task, on) in &new {
        h.report(on, task, TaskStatus::Running, None).await;
    }
    // Running, not yet stable: still not healthy enough to replace the old ones.
    h.pass().await;
    assert_eq!(old_desired(&h), [TaskStatus::Running, TaskStatus::Running]);
    h.stable().await;
    h.pass().await;
    assert_eq!(old_desired(&h), [TaskStatus::Stopped, TaskStatus::Stopped]);
    let stopped = h.tasks();
    assert!(
        stopped
            .iter()
            .filter(|t| old.iter().any(|o| o.0 == t.0))
            .all(|t| t.4.as_deref() == Some("ServiceSchedulerInitiated")),
        "{stopped:?}"
    );
    for (task, on) in &old {
        h.report(on, task, TaskStatus::Stopped, None).await;
    }
    h.pass().await;
    assert_eq!(h.deployments().await, [("2".into(), "PRIMARY".into(), "COMPLETED".into())]);
}

/// The deployment circuit breaker with rollback: a new revision whose tasks fail to start
/// fails once the failures reach ECS's threshold (at least 3), and a deployment of the last
/// completed revision takes over; the old task runs all along.
#[tokio::test]
async fn the_circuit_breaker_rolls_back_a_deployment_whose_tasks_fail() {
    let mut h = Harness::new().await;
    let breaker = json!({"deploymentCircuitBreaker": {"enable": true, "rollback": true}});
    let (a, old) = h.one_running_task_with(breaker).await;
    h.stable().await;
    h.pass().await;
    assert_eq!(h.deployments().await, [("1".into(), "PRIMARY".into(), "COMPLETED".into())]);

    h.revision("flotilla/demo:broken").await;
    h.call("UpdateService", json!({"service": "web", "taskDefinition": "web:2"})).await;
    for failure in 1..=3 {
        h.pass().await;
        let tasks = h.tasks();
        let Some(attempt) = tasks
            .iter()
            .find(|t| t.0 != old && t.2 == TaskStatus::Running && t.3 != TaskStatus::Stopped)
        else {
            panic!("no attempt {failure}: {tasks:?}\n{:?}", h.deployments().await);
        };
        assert_eq!(h.revision_of(&attempt.0), "2");
        h.report(&a, &attempt.0, TaskStatus::Stopped, Some("TaskFailedToStart")).await;
        // Past the service's throttle (2^failures seconds).
        h.clock.advance(Duration::from_secs(60));
    }
    h.pass().await;
    let deployments = h.deployments().await;
    assert_eq!(
        deployments.first().map(|d| (d.0.as_str(), d.1.as_str())),
        Some(("1", "PRIMARY")),
        "rolled back to the last completed revision: {deployments:?}"
    );
    // The failed deployment went with its last task; the rollback names it.
    let described = h.call("DescribeServices", json!({"services": ["web"]})).await;
    let reason = described["services"][0]["deployments"][0]["rolloutStateReason"].to_string();
    assert!(reason.contains("circuit breaker: rolling back to deploymentId"), "{reason}");
    assert!(!deployments.iter().any(|d| d.0 == "2"), "{deployments:?}");
    let tasks = h.tasks();
    let kept = tasks.iter().find(|t| t.0 == old).expect("the old task");
    assert_eq!(kept.2, TaskStatus::Running, "the old task ran all along: {tasks:?}");
    let events = h.call("DescribeServices", json!({"services": ["web"]})).await;
    let said = events["services"][0]["events"].to_string();
    assert!(said.contains("deployment failed: tasks failed to start"), "{said}");
}

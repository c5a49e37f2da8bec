//! The ECS service calls service-bench makes (CreateService, UpdateService, DescribeServices,
//! ListTasks, DescribeTasks, ...) over task-bench's `Ecs` connection (SigV4, deadlines).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::ecs::{Ecs, CLUSTER};

/// DescribeTasks takes at most this many tasks per call.
const DESCRIBE_BATCH: usize = 100;

/// What service-bench looks at in a described task.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    pub arn: String,
    pub last_status: String,
    pub desired_status: String,
    pub instance_arn: Option<String>,
    /// Epoch seconds: when the server created the task (a controller pass placed it).
    pub created_at: Option<f64>,
    /// Epoch seconds: when the agent set RUNNING.
    pub started_at: Option<f64>,
    /// Epoch seconds: when the agent set STOPPED.
    pub stopped_at: Option<f64>,
    /// The Docker container id of the task's (only) container.
    pub runtime_id: Option<String>,
}

impl TaskInfo {
    fn from_json(task: &Value) -> TaskInfo {
        let text = |v: &Value| v.as_str().map(str::to_string);
        TaskInfo {
            arn: text(&task["taskArn"]).unwrap_or_default(),
            last_status: text(&task["lastStatus"]).unwrap_or_default(),
            desired_status: text(&task["desiredStatus"]).unwrap_or_default(),
            instance_arn: text(&task["containerInstanceArn"]),
            created_at: task["createdAt"].as_f64(),
            started_at: task["startedAt"].as_f64(),
            stopped_at: task["stoppedAt"].as_f64(),
            runtime_id: task["containers"]
                .as_array()
                .and_then(|c| c.first())
                .and_then(|c| text(&c["runtimeId"])),
        }
    }

    pub fn running(&self) -> bool {
        self.last_status == "RUNNING"
    }
}

#[derive(Debug, Clone)]
pub struct DeploymentInfo {
    pub id: String,
    pub rollout_state: String,
    pub running_count: i64,
}

#[derive(Debug, Clone)]
pub struct ServiceInfo {
    pub desired_count: i64,
    pub running_count: i64,
    pub deployments: Vec<DeploymentInfo>,
    /// (createdAt epoch seconds, message), newest first.
    pub events: Vec<(f64, String)>,
}

impl ServiceInfo {
    /// Stable as the brief (and `services-stable`, plus the rollout) defines it: one
    /// deployment, COMPLETED, runningCount == desiredCount.
    pub fn stable(&self) -> bool {
        self.deployments.len() == 1
            && self.deployments[0].rollout_state == "COMPLETED"
            && self.running_count == self.desired_count
    }

    pub fn primary(&self) -> Option<&DeploymentInfo> {
        self.deployments.first()
    }

    /// The oldest event after `since` (epoch seconds) whose message contains `text`.
    pub fn first_event_after(&self, since: f64, text: &str) -> Option<f64> {
        self.events
            .iter()
            .filter(|(at, message)| *at >= since && message.contains(text))
            .map(|(at, _)| *at)
            .fold(None, |first: Option<f64>, at| Some(first.map_or(at, |f| f.min(at))))
    }
}

pub fn serve_container(image: &str, health_check: bool) -> Value {
    let mut container = json!({
        "name": "web",
        "image": image,
        "command": ["serve"],
        "memory": 32,
        "cpu": 16,
        "essential": true
    });
    if health_check {
        container["healthCheck"] = json!({
            "command": ["CMD", "/flotilla", "demo", "check", "http://127.0.0.1:8080/healthz"],
            "interval": crate::HEALTH_INTERVAL_SECS,
            "timeout": crate::HEALTH_TIMEOUT_SECS,
            "retries": crate::HEALTH_RETRIES
        });
    }
    container
}

pub async fn register(ecs: &mut Ecs, family: &str, container: Value) -> Result<String> {
    let answer = ecs
        .call(
            "RegisterTaskDefinition",
            &json!({ "family": family, "containerDefinitions": [container] }),
        )
        .await?;
    answer["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .map(str::to_string)
        .context("RegisterTaskDefinition answered without a taskDefinitionArn")
}

pub async fn create_service(
    ecs: &mut Ecs,
    name: &str,
    task_definition: &str,
    desired: u32,
) -> Result<()> {
    ecs.call(
        "CreateService",
        &json!({
            "cluster": CLUSTER,
            "serviceName": name,
            "taskDefinition": task_definition,
            "desiredCount": desired
        }),
    )
    .await?;
    Ok(())
}

pub async fn force_new_deployment(ecs: &mut Ecs, name: &str) -> Result<()> {
    ecs.call(
        "UpdateService",
        &json!({ "cluster": CLUSTER, "service": name, "forceNewDeployment": true }),
    )
    .await?;
    Ok(())
}

pub async fn describe_service(ecs: &mut Ecs, name: &str) -> Result<ServiceInfo> {
    let answer =
        ecs.call("DescribeServices", &json!({ "cluster": CLUSTER, "services": [name] })).await?;
    let service = answer["services"]
        .as_array()
        .and_then(|s| s.first())
        .with_context(|| format!("DescribeServices did not find {name}: {answer}"))?;
    let int = |v: &Value| v.as_i64().unwrap_or(-1);
    Ok(ServiceInfo {
        desired_count: int(&service["desiredCount"]),
        running_count: int(&service["runningCount"]),
        deployments: service["deployments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| DeploymentInfo {
                id: d["id"].as_str().unwrap_or_default().to_string(),
                rollout_state: d["rolloutState"].as_str().unwrap_or_default().to_string(),
                running_count: int(&d["runningCount"]),
            })
            .collect(),
        events: service["events"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["createdAt"].as_f64().unwrap_or(0.0),
                    e["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
    })
}

/// Polls DescribeServices until the service is stable, for `timeout` at most.
pub async fn wait_stable(ecs: &mut Ecs, name: &str, timeout: Duration) -> Result<ServiceInfo> {
    let deadline = Instant::now() + timeout;
    loop {
        let info = describe_service(ecs, name).await?;
        if info.stable() {
            return Ok(info);
        }
        if Instant::now() > deadline {
            bail!("service {name} was not stable within {} s: {info:?}", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The service's tasks whose desired status is RUNNING (ListTasks --service-name).
pub async fn list_service_tasks(ecs: &mut Ecs, name: &str) -> Result<Vec<String>> {
    // Bounded: a service here has at most a few dozen tasks.
    let body = json!({ "cluster": CLUSTER, "serviceName": name, "maxResults": 100 });
    ecs.list_all("ListTasks", body, "taskArns", 100).await
}

/// DescribeTasks of `arns` (100 a call); tasks the server does not know are left out.
pub async fn describe_tasks(ecs: &mut Ecs, arns: &[String]) -> Result<Vec<TaskInfo>> {
    let mut out = Vec::with_capacity(arns.len());
    for chunk in arns.chunks(DESCRIBE_BATCH) {
        let answer =
            ecs.call("DescribeTasks", &json!({ "cluster": CLUSTER, "tasks": chunk })).await?;
        out.extend(answer["tasks"].as_array().into_iter().flatten().map(TaskInfo::from_json));
    }
    Ok(out)
}

/// The service's live tasks (desired RUNNING) plus `extra` ones, described in one go.
pub async fn service_tasks_and(
    ecs: &mut Ecs,
    name: &str,
    extra: &[String],
) -> Result<Vec<TaskInfo>> {
    let mut arns = list_service_tasks(ecs, name).await?;
    let known: HashSet<String> = arns.iter().cloned().collect();
    arns.extend(extra.iter().filter(|a| !known.contains(*a)).cloned());
    describe_tasks(ecs, &arns).await
}

/// Scales the service to 0, deletes it and waits until every task it had is STOPPED.
pub async fn delete_service(ecs: &mut Ecs, name: &str, timeout: Duration) -> Result<()> {
    let arns = list_service_tasks(ecs, name).await?;
    ecs.call("UpdateService", &json!({ "cluster": CLUSTER, "service": name, "desiredCount": 0 }))
        .await?;
    ecs.call("DeleteService", &json!({ "cluster": CLUSTER, "service": name, "force": true }))
        .await?;
    wait_all_stopped(ecs, &arns, timeout).await.map(|_| ())
}

/// Polls until every task in `arns` is STOPPED (or forgotten), for `timeout` at most; returns
/// how long it took.
pub async fn wait_all_stopped(
    ecs: &mut Ecs,
    arns: &[String],
    timeout: Duration,
) -> Result<Duration> {
    let start = Instant::now();
    loop {
        let tasks = describe_tasks(ecs, arns).await?;
        if tasks.iter().all(|t| t.last_status == "STOPPED") {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            let left = tasks.iter().filter(|t| t.last_status != "STOPPED").count();
            bail!("{left} of {} tasks were not STOPPED after {} s", arns.len(), timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! The ECS calls task-bench makes (RunTask, DescribeTasks, StopTask, ...), over api-bench's
//! SigV4-signing keep-alive client, with a deadline on every request.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::client::{Connection, Signer};

/// The cluster the agent joins and the tasks run in.
pub const CLUSTER: &str = "default";
/// The task definition family task-bench registers.
pub const FAMILY: &str = "task-bench";
/// DescribeTasks takes at most this many tasks per call.
const DESCRIBE_BATCH: usize = 100;
/// A request that takes longer than this fails the benchmark.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One keep-alive connection to the server, signing with its root key.
pub struct Ecs {
    connection: Connection,
    signer: Signer,
}

/// What task-bench looks at in a described task.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub arn: String,
    pub last_status: String,
    /// Epoch seconds (the agent's clock, millisecond precision: it set RUNNING).
    pub started_at: Option<f64>,
    /// The Docker container id of the task's (only) container.
    pub runtime_id: Option<String>,
    pub stopped_reason: Option<String>,
}

impl TaskView {
    fn from_json(task: &Value) -> TaskView {
        let text = |v: &Value| v.as_str().map(str::to_string);
        TaskView {
            arn: text(&task["taskArn"]).unwrap_or_default(),
            last_status: text(&task["lastStatus"]).unwrap_or_default(),
            started_at: task["startedAt"].as_f64(),
            runtime_id: task["containers"]
                .as_array()
                .and_then(|c| c.first())
                .and_then(|c| text(&c["runtimeId"])),
            stopped_reason: text(&task["stoppedReason"]),
        }
    }
}

impl Ecs {
    pub async fn open(port: u16, signer: &Signer) -> Result<Ecs> {
        Ok(Ecs { connection: Connection::open(port).await?, signer: signer.clone() })
    }

    /// Every string of `key` over all pages of a list `operation` (`body` plus `nextToken`),
    /// at most `max_pages` pages.
    #[allow(dead_code)] // task-bench lists nothing; service-bench and scale-bench do
    pub async fn list_all(
        &mut self,
        operation: &str,
        mut body: Value,
        key: &str,
        max_pages: usize,
    ) -> Result<Vec<String>> {
        let mut items = Vec::new();
        for _ in 0..max_pages {
            let answer = self.call(operation, &body).await?;
            items.extend(
                answer[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_string)),
            );
            match answer["nextToken"].as_str() {
                Some(token) => body["nextToken"] = json!(token),
                None => return Ok(items),
            }
        }
        bail!("{operation} kept paginating past {max_pages} pages")
    }

    /// Sends `operation` and returns the JSON answer; any non-2xx answer is an error.
    pub async fn call(&mut self, operation: &str, body: &Value) -> Result<Value> {
        let bytes = serde_json::to_vec(body)?;
        let answer = tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.connection.call(&self.signer, operation, bytes),
        )
        .await;
        let (status, body) = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                self.connection.reset().await?;
                return Err(error.context(format!("{operation} failed")));
            }
            Err(_) => {
                self.connection.reset().await?;
                bail!("{operation} took longer than {} s", REQUEST_TIMEOUT.as_secs());
            }
        };
        if !status.is_success() {
            bail!("{operation}: HTTP {status}: {}", String::from_utf8_lossy(&body));
        }
        serde_json::from_slice(&body).with_context(|| format!("{operation}: invalid JSON answer"))
    }

    /// The benchmark's task definition: one `sleep` container with the same limits as the raw
    /// `docker run` (memory 32 MiB hard limit, 16 CPU shares).
    pub async fn register_task_definition(&mut self, image: &str) -> Result<String> {
        let answer = self
            .call(
                "RegisterTaskDefinition",
                &json!({
                    "family": FAMILY,
                    "containerDefinitions": [{
                        "name": "main",
                        "image": image,
                        "command": ["sleep"],
                        "memory": 32,
                        "cpu": 16,
                        "essential": true
                    }]
                }),
            )
            .await?;
        answer["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .map(str::to_string)
            .context("RegisterTaskDefinition answered without a taskDefinitionArn")
    }

    /// RunTask with `count` tasks; every one must be placed (no failures).
    pub async fn run_task(&mut self, count: usize) -> Result<Vec<String>> {
        let answer = self
            .call(
                "RunTask",
                &json!({
                    "cluster": CLUSTER,
                    "taskDefinition": FAMILY,
                    "count": count,
                    "startedBy": "task-bench"
                }),
            )
            .await?;
        if let Some(failures) = answer["failures"].as_array().filter(|f| !f.is_empty()) {
            bail!("RunTask could not place every task: {}", Value::Array(failures.clone()));
        }
        let arns: Vec<String> = answer["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["taskArn"].as_str().map(str::to_string))
            .collect();
        if arns.len() != count {
            bail!("RunTask asked for {count} tasks and started {}: {answer}", arns.len());
        }
        Ok(arns)
    }

    /// DescribeTasks, 100 tasks a call.
    pub async fn describe(&mut self, arns: &[String]) -> Result<Vec<TaskView>> {
        let mut out = Vec::with_capacity(arns.len());
        for chunk in arns.chunks(DESCRIBE_BATCH) {
            let answer =
                self.call("DescribeTasks", &json!({ "cluster": CLUSTER, "tasks": chunk })).await?;
            if let Some(failures) = answer["failures"].as_array().filter(|f| !f.is_empty()) {
                bail!("DescribeTasks reported failures: {}", Value::Array(failures.clone()));
            }
            out.extend(answer["tasks"].as_array().into_iter().flatten().map(TaskView::from_json));
        }
        Ok(out)
    }

    pub async fn stop_task(&mut self, arn: &str) -> Result<()> {
        self.call(
            "StopTask",
            &json!({ "cluster": CLUSTER, "task": arn, "reason": "task-bench cleanup" }),
        )
        .await?;
        Ok(())
    }

    /// Container instances of the cluster (ARNs).
    pub async fn list_container_instances(&mut self) -> Result<Vec<String>> {
        let answer = self.call("ListContainerInstances", &json!({ "cluster": CLUSTER })).await?;
        Ok(answer["containerInstanceArns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect())
    }

    /// Polls DescribeTasks every `interval` until every task in `arns` is RUNNING, for
    /// `timeout` at most. Returns when the first and the last became visible as RUNNING (from
    /// `since`) and the last answer. A task that stops on the way fails the benchmark.
    pub async fn wait_running(
        &mut self,
        arns: &[String],
        since: Instant,
        interval: Duration,
        timeout: Duration,
    ) -> Result<(Duration, Duration, Vec<TaskView>)> {
        let deadline = since + timeout;
        let mut first: Option<Duration> = None;
        loop {
            let views = self.describe(arns).await?;
            let seen = since.elapsed();
            if let Some(stopped) = views.iter().find(|v| v.last_status == "STOPPED") {
                bail!(
                    "task {} stopped before it was RUNNING: {}",
                    stopped.arn,
                    stopped.stopped_reason.as_deref().unwrap_or("no reason given")
                );
            }
            let running = views.iter().filter(|v| v.last_status == "RUNNING").count();
            if running > 0 && first.is_none() {
                first = Some(seen);
            }
            if running == arns.len() && views.len() == arns.len() {
                return Ok((first.unwrap_or(seen), seen, views));
            }
            if Instant::now() > deadline {
                bail!(
                    "only {running} of {} tasks were RUNNING after {} s",
                    arns.len(),
                    timeout.as_secs()
                );
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Polls until every task in `arns` is STOPPED, for `timeout` at most (not timed).
    pub async fn wait_stopped(&mut self, arns: &[String], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let views = self.describe(arns).await?;
            let stopped = views.iter().filter(|v| v.last_status == "STOPPED").count();
            if stopped == arns.len() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "only {stopped} of {} tasks were STOPPED after {} s",
                    arns.len(),
                    timeout.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

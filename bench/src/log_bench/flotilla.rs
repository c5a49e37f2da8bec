//! The Flotilla side: an ECS task whose container logs with `awslogs`, run through the server
//! and the agent, its output read back from the server's CloudWatch Logs API.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::docker;
use crate::ecs::{Ecs, CLUSTER};
use crate::lines::LineCheck;
use crate::logs::StreamReader;
use crate::stack::Stack;

/// The log group every writer ships to (created by the agent: `awslogs-create-group`).
pub const GROUP: &str = "/flotilla/log-bench";
const STREAM_PREFIX: &str = "bench";
/// The writer's container name, the middle part of its stream's name.
const CONTAINER: &str = "writer";
/// Stopping a task and its cleanup must be done within this.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Registers `family`: one container running `command` (the demo image's `flotilla demo`
/// arguments) with the same limits as the raw container (128 MiB, 1024 CPU shares).
pub async fn register(ecs: &mut Ecs, family: &str, image: &str, command: &[String]) -> Result<()> {
    ecs.call(
        "RegisterTaskDefinition",
        &json!({
            "family": family,
            "containerDefinitions": [{
                "name": CONTAINER,
                "image": image,
                "command": command,
                "memory": 128,
                "cpu": 1024,
                "essential": true,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": GROUP,
                        "awslogs-stream-prefix": STREAM_PREFIX,
                        "awslogs-create-group": "true",
                        "awslogs-region": "us-east-1"
                    }
                }
            }]
        }),
    )
    .await?;
    Ok(())
}

/// A writer task started and its stream being read.
pub struct Writer {
    pub arn: String,
    pub reader: StreamReader,
}

/// Starts one task of `family` and opens a reader on its stream (which appears with the
/// first batch the agent ships).
pub async fn start(ecs: &mut Ecs, stack: &Stack, family: &str, check: LineCheck) -> Result<Writer> {
    let answer = ecs
        .call(
            "RunTask",
            &json!({
                "cluster": CLUSTER,
                "taskDefinition": family,
                "count": 1,
                "startedBy": "log-bench"
            }),
        )
        .await?;
    if let Some(failures) = answer["failures"].as_array().filter(|f| !f.is_empty()) {
        bail!("RunTask could not place the writer: {}", Value::Array(failures.clone()));
    }
    let arn = answer["tasks"][0]["taskArn"]
        .as_str()
        .context("RunTask answered without a task")?
        .to_string();
    let task_id = arn.rsplit('/').next().unwrap_or(&arn);
    let stream = format!("{STREAM_PREFIX}/{CONTAINER}/{task_id}");
    let reader = StreamReader::open(stack.port, &stack.signer, GROUP, &stream, check).await?;
    Ok(Writer { arn, reader })
}

impl Writer {
    /// Reads until the last line has arrived or `deadline` passes, every `poll` while caught
    /// up; `on_progress` runs after each catch-up (the CPU phase samples there).
    pub async fn read_to_end(
        &mut self,
        stack: &mut Stack,
        poll: Duration,
        deadline: Instant,
        mut on_progress: impl FnMut(&StreamReader) -> Result<()>,
    ) -> Result<()> {
        loop {
            self.reader.catch_up().await?;
            on_progress(&self.reader)?;
            if self.reader.check.reached_last() || Instant::now() > deadline {
                return Ok(());
            }
            stack.check_alive()?;
            tokio::time::sleep(poll).await;
        }
    }

    /// Docker's `State.StartedAt` of the writer's container (epoch seconds).
    pub async fn container_started_at(&self, ecs: &mut Ecs) -> Result<f64> {
        let views = ecs.describe(std::slice::from_ref(&self.arn)).await?;
        let id = views
            .first()
            .and_then(|v| v.runtime_id.clone())
            .context("the writer task has no container id")?;
        let times = docker::created_and_started(&[id]).await?;
        Ok(times.first().context("docker inspect said nothing")?.1)
    }

    /// Stops the task and removes its container (the agent would after its cleanup wait).
    pub async fn stop(&self, ecs: &mut Ecs, stack: &Stack) -> Result<()> {
        ecs.stop_task(&self.arn).await?;
        ecs.wait_stopped(std::slice::from_ref(&self.arn), STOP_TIMEOUT).await?;
        let Some(mut filters) = stack.agent_filters() else { return Ok(()) };
        filters.push("status=exited".into());
        let ids = docker::list(&filters).await?;
        docker::remove(&ids).await
    }
}

//! `POST /v1/agent/logs` and `POST /v1/agent/logs/groups`: container output shipped by agents
//! (the awslogs driver) and their log-group queries, authenticated with the instance's
//! credential and accepted only for the log streams of the tasks placed on that instance
//! (`OwnStreams`), then handed to the [`LogSink`](crate::LogSink). The answer to a batch comes
//! once its events are durable.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flotilla_api::agent::{
    LogBatch, LogGroupsQuery, LogGroupsReply, LogStreamBatch, RejectedLogStream,
};

use crate::agent_auth;
use crate::App;

/// Request bodies larger than this are refused: agents send batches of at most ~5,000 lines or
/// 2 MiB of messages, which JSON escaping can make several times larger.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

pub async fn receive(State(app): State<Arc<App>>, request: Request) -> Response {
    let (own, mut batch): (OwnStreams, LogBatch) =
        match agent_request(&app, request, MAX_BODY_BYTES, "log batch").await {
            Ok(accepted) => accepted,
            Err(refused) => return refused,
        };
    let mut foreign = Vec::new();
    for mut stream in std::mem::take(&mut batch.streams) {
        match own.admits(&stream) {
            Some(may_create) => {
                stream.create_group &= may_create;
                batch.streams.push(stream);
            }
            None => foreign.push(stream),
        }
    }
    let now_ms = app.clock.epoch_millis();
    match app.logs.store(batch, now_ms).await {
        Ok(mut reply) => {
            reply.rejected.extend(foreign.into_iter().map(|s| RejectedLogStream {
                group: s.group,
                stream: s.stream,
                reason: NOT_OWN.into(),
            }));
            agent_auth::json_reply(&reply)
        }
        // The agent keeps the batch and retries.
        Err(error) => {
            tracing::error!(%error, "could not store an agent log batch");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response()
        }
    }
}

/// Asked by agents before starting a container whose awslogs group they may not create.
const MAX_GROUPS_QUERY_BYTES: usize = 64 * 1024;

/// `POST /v1/agent/logs/groups`: which of the named log groups do not exist.
pub async fn missing_groups(State(app): State<Arc<App>>, request: Request) -> Response {
    let (own, query): (OwnStreams, LogGroupsQuery) =
        match agent_request(&app, request, MAX_GROUPS_QUERY_BYTES, "log groups query").await {
            Ok(accepted) => accepted,
            Err(refused) => return refused,
        };
    if let Some(group) = query.groups.iter().find(|g| !own.allows_group(g)) {
        return (
            StatusCode::FORBIDDEN,
            format!("log group {group} is not used by a task of this container instance\n"),
        )
            .into_response();
    }
    match app.logs.missing_groups(query.groups).await {
        Ok(missing) => agent_auth::json_reply(&LogGroupsReply { missing }),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response(),
    }
}

/// Why a stream batch of another instance's tasks is refused.
const NOT_OWN: &str = "The log stream does not belong to a task of this container instance.";

/// What an instance may write: the log streams of the `awslogs` containers of the tasks placed
/// on it (any status: a stopped task's last lines still arrive), and whether each may create
/// its group (the task definition's `awslogs-create-group`, never the agent's say).
#[derive(Debug, Default)]
pub struct OwnStreams {
    /// (group, stream) of containers with a stream prefix (`<prefix>/<container>/<task id>`)
    /// -> may create the group.
    named: HashMap<(String, String), bool>,
    /// Task id -> its containers without a prefix, whose streams are their Docker ids.
    unnamed: HashMap<String, Vec<Unnamed>>,
}

#[derive(Debug)]
struct Unnamed {
    group: String,
    create: bool,
    /// The container's Docker id once its agent reported it; lines may come before that.
    runtime_id: Option<String>,
}

impl OwnStreams {
    pub fn of(app: &App, instance_id: &str) -> OwnStreams {
        let state = app.state.read();
        let mut own = OwnStreams::default();
        // Every task placed on the instance, whatever its cluster (the Fargate capacity runs
        // every cluster's).
        for record in state.tasks_on(instance_id) {
            let Some(stored) = state.task_definition_by_arn(&record.task.task_definition_arn)
            else {
                continue;
            };
            for container in &stored.definition.container_definitions {
                let Some(log) =
                    container.log_configuration.as_ref().filter(|l| l.log_driver == "awslogs")
                else {
                    continue;
                };
                let options = log.options.clone().unwrap_or_default();
                let Some(group) = options.get("awslogs-group").filter(|g| !g.is_empty()) else {
                    continue;
                };
                let create = options.get("awslogs-create-group").is_some_and(|v| v == "true");
                let name = container.name.as_deref().unwrap_or_default();
                match options.get("awslogs-stream-prefix").filter(|p| !p.is_empty()) {
                    Some(prefix) => {
                        let stream = format!("{prefix}/{name}/{}", record.id);
                        own.named.insert((group.clone(), stream), create);
                    }
                    None => {
                        let runtime_id = record
                            .task
                            .containers
                            .iter()
                            .find(|c| c.name == name)
                            .and_then(|c| c.runtime_id.clone());
                        own.unnamed.entry(record.id.clone()).or_default().push(Unnamed {
                            group: group.clone(),
                            create,
                            runtime_id,
                        });
                    }
                }
            }
        }
        own
    }

    /// Whether the instance may write `batch`'s stream, and then whether it may create the
    /// group. A stream named after a Docker id must name the batch's task (one of this
    /// instance's) and one of its containers in that group: the container's reported id, or
    /// a container whose id is not reported yet.
    pub fn admits(&self, batch: &LogStreamBatch) -> Option<bool> {
        if let Some(create) = self.named.get(&(batch.group.clone(), batch.stream.clone())) {
            return Some(*create);
        }
        let docker_id =
            batch.stream.len() == 64 && batch.stream.bytes().all(|b| b.is_ascii_hexdigit());
        let task_id = batch.task_arn.as_deref()?.rsplit('/').next()?;
        let containers = self.unnamed.get(task_id).filter(|_| docker_id)?;
        containers
            .iter()
            .filter(|c| c.group == batch.group)
            .find(|c| c.runtime_id.as_deref().is_none_or(|id| id == batch.stream))
            .map(|c| c.create)
    }

    pub fn allows_group(&self, group: &str) -> bool {
        self.named.keys().any(|(g, _)| g == group)
            || self.unnamed.values().flatten().any(|c| c.group == group)
    }
}

/// An agent's JSON request (`agent_auth::instance_request`), with the streams its instance
/// may write.
async fn agent_request<T: serde::de::DeserializeOwned>(
    app: &App,
    request: Request,
    limit: usize,
    what: &str,
) -> Result<(OwnStreams, T), Response> {
    let (_, id, decoded) = agent_auth::instance_request(app, request, limit, what).await?;
    Ok((OwnStreams::of(app, &id), decoded))
}

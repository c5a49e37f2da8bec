//! Task secrets: a container's `secrets` (environment variables) and
//! `logConfiguration.secretOptions` (log driver options) are read when its task starts, with
//! the task's execution role, as ECS does. The agent asks over its own connection
//! (`POST /v1/agent/task-secrets`) for a task placed on its instance; the values go into the
//! containers it creates and nowhere else (not the desired state, the store or its state
//! file). Where values come from (Secrets Manager, Parameter Store) and whether the role may
//! read them is [`SecretSource`]'s, wired by the server.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flotilla_api::agent::{ContainerSecrets, SecretValue, TaskSecrets, TaskSecretsRequest};
use flotilla_api::task::TaskStatus;

use crate::{agent_auth, App, BoxFuture};

/// Reads secret values for a task's execution role (wired by the server).
pub trait SecretSource: Send + Sync {
    /// The value of each `value_from` (in order) as `execution_role` reads them in `region`;
    /// `Err` with the reason ECS stops the task with when one cannot be read.
    fn fetch<'a>(
        &'a self,
        region: &'a str,
        execution_role: &'a str,
        task_id: &'a str,
        value_from: Vec<String>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>>;
}

/// Which container wants which value, in the order [`SecretSource::fetch`] is asked.
struct Wanted {
    /// (container, is a log option, variable or option name), one per value.
    slots: Vec<(String, bool, String)>,
    value_from: Vec<String>,
}

fn wanted(definition: &flotilla_api::taskdef::TaskDefinition) -> Wanted {
    let mut out = Wanted { slots: Vec::new(), value_from: Vec::new() };
    for container in &definition.container_definitions {
        let Some(name) = container.name.clone() else { continue };
        let log_options =
            container.log_configuration.as_ref().and_then(|l| l.secret_options.as_ref());
        let kinds = [(false, container.secrets.as_ref()), (true, log_options)];
        for (is_log_option, secrets) in kinds {
            for secret in secrets.into_iter().flatten() {
                out.slots.push((name.clone(), is_log_option, secret.name.clone()));
                out.value_from.push(secret.value_from.clone());
            }
        }
    }
    out
}

/// `POST /v1/agent/task-secrets`: the secret values of a task placed on the asking instance.
pub async fn serve(State(app): State<Arc<App>>, request: Request) -> Response {
    let (_, instance_id, asked) = match agent_auth::instance_request::<TaskSecretsRequest>(
        &app,
        request,
        4096,
        "task secrets request",
    )
    .await
    {
        Ok(accepted) => accepted,
        Err(refused) => return refused,
    };
    let not_found = || (StatusCode::NOT_FOUND, "no task of this instance has this ARN\n");
    let Some(source) = app.secrets.as_ref() else {
        let reason =
            "ResourceInitializationError: unable to pull secrets: this server reads no secrets";
        return (StatusCode::UNPROCESSABLE_ENTITY, reason).into_response();
    };
    let (task_id, role, wanted) = {
        let state = app.state.read();
        let Some(task) = state.task_by_arn(&asked.task_arn) else {
            return not_found().into_response();
        };
        if task.instance_id.as_deref() != Some(instance_id.as_str())
            || task.task.last_status == TaskStatus::Stopped
        {
            return not_found().into_response();
        }
        let Some(stored) = state.task_definition_by_arn(&task.task.task_definition_arn) else {
            return not_found().into_response();
        };
        let role = task
            .task
            .overrides
            .execution_role_arn
            .clone()
            .or_else(|| stored.definition.execution_role_arn.clone())
            .filter(|r| !r.is_empty());
        (task.id.clone(), role, wanted(&stored.definition))
    };
    let mut answer = TaskSecrets::default();
    if wanted.value_from.is_empty() {
        return agent_auth::json_reply(&answer);
    }
    let Some(role) = role else {
        // Registration requires the role with secrets; an override cannot take it away.
        let reason =
            "ResourceInitializationError: unable to pull secrets: the task has no execution role";
        return (StatusCode::UNPROCESSABLE_ENTITY, reason).into_response();
    };
    let values = match source.fetch(&app.scope.region, &role, &task_id, wanted.value_from).await {
        Ok(values) => values,
        Err(reason) => {
            tracing::info!(task = %asked.task_arn, %reason, "task secrets refused");
            return (StatusCode::UNPROCESSABLE_ENTITY, reason).into_response();
        }
    };
    for ((container, is_log_option, name), value) in wanted.slots.into_iter().zip(values) {
        let entry: &mut ContainerSecrets = answer.containers.entry(container).or_default();
        let list = if is_log_option { &mut entry.log_options } else { &mut entry.environment };
        list.push((name, SecretValue(value)));
    }
    agent_auth::json_reply(&answer)
}

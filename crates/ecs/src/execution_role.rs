//! What a task starts with, as its execution role may have it (ECS's "execution resources"):
//! a container's `secrets` (environment variables) and `logConfiguration.secretOptions` (log
//! driver options) are read when its task starts, and an `awslogs` container of a task with an
//! execution role starts only if that role may write its log stream (ECS's agent hands the
//! role's credentials to the driver). The agent asks over its own connection
//! (`POST /v1/agent/execution-resources`) for a task placed on its instance; the values go
//! into the containers it creates and nowhere else (not the desired state, the store or its
//! state file). Where values come from (Secrets Manager, Parameter Store) and what the role may
//! do is [`ExecutionRole`]'s, wired by the server.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flotilla_api::agent::{
    ContainerSecrets, ExecutionResources, ExecutionResourcesRequest, SecretValue,
};
use flotilla_api::task::TaskStatus;
use flotilla_api::taskdef::TaskDefinition;

use crate::{agent_auth, App, BoxFuture};

/// What tasks' execution roles may do (wired by the server).
pub trait ExecutionRole: Send + Sync {
    /// The value of each `value_from` (in order) as `role` reads them in `region`; `Err` with
    /// the reason ECS stops the task with when one cannot be read.
    fn fetch_secrets<'a>(
        &'a self,
        region: &'a str,
        role: &'a str,
        task_id: &'a str,
        value_from: Vec<String>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>>;

    /// Whether `role`, assumed for task `task_id`, may take each `(action, resource)`; `Err`
    /// with the first one refused and AWS's denial (`AccessDeniedException: User: ... is not
    /// authorized to perform: ...`). The role's trust is judged once for all of them.
    fn may_all(
        &self,
        role: &str,
        task_id: &str,
        wanted: &[(&'static str, String)],
    ) -> Result<(), (&'static str, String)>;
}

/// Which container wants which value, in the order [`ExecutionRole::fetch_secrets`] is asked.
struct Wanted {
    /// (container, is a log option, variable or option name), one per value.
    slots: Vec<(String, bool, String)>,
    value_from: Vec<String>,
}

fn wanted(definition: &TaskDefinition) -> Wanted {
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

/// The actions an `awslogs` container's stream needs of the execution role, on which ARNs:
/// `logs:CreateLogGroup` when it may create its group, then `logs:CreateLogStream` and
/// `logs:PutLogEvents` on its stream (`<prefix>/<container>/<task id>`; without a prefix the
/// stream is named after the container's Docker id, unknown until it exists: any stream of the
/// group).
fn log_permissions(
    definition: &TaskDefinition,
    region: &str,
    account: &str,
    task_id: &str,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for container in &definition.container_definitions {
        let Some(log) = container.log_configuration.as_ref().filter(|l| l.log_driver == "awslogs")
        else {
            continue;
        };
        let options = log.options.clone().unwrap_or_default();
        let Some(group) = options.get("awslogs-group").filter(|g| !g.is_empty()) else {
            continue;
        };
        let group_arn = format!("arn:aws:logs:{region}:{account}:log-group:{group}");
        if options.get("awslogs-create-group").is_some_and(|v| v == "true") {
            out.push(("logs:CreateLogGroup", group_arn.clone()));
        }
        let name = container.name.as_deref().unwrap_or_default();
        let stream = match options.get("awslogs-stream-prefix").filter(|p| !p.is_empty()) {
            Some(prefix) => format!("{prefix}/{name}/{task_id}"),
            None => "*".to_string(),
        };
        let stream_arn = format!("{group_arn}:log-stream:{stream}");
        out.push(("logs:CreateLogStream", stream_arn.clone()));
        out.push(("logs:PutLogEvents", stream_arn));
    }
    out
}

/// A refusal the agent stops the task with (its reason as text).
fn failed(reason: String) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, reason).into_response()
}

/// `POST /v1/agent/execution-resources`: the secret values of a task placed on the asking
/// instance, once its execution role's log permissions hold.
pub async fn serve(State(app): State<Arc<App>>, request: Request) -> Response {
    let (_, instance_id, asked) = match agent_auth::instance_request::<ExecutionResourcesRequest>(
        &app,
        request,
        4096,
        "execution resources request",
    )
    .await
    {
        Ok(accepted) => accepted,
        Err(refused) => return refused,
    };
    let not_found = || (StatusCode::NOT_FOUND, "no task of this instance has this ARN\n");
    let (task_id, role, definition) = {
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
        let role = crate::task_roles::execution_role_of(task, &stored.definition);
        (task.id.clone(), role, stored.definition.clone())
    };
    let wanted = wanted(&definition);
    let mut answer = ExecutionResources::default();
    // Without an execution role, awslogs writes as the instance (ECS's instance role).
    let (Some(role), Some(source)) = (role, app.execution_role.as_ref()) else {
        return if wanted.value_from.is_empty() {
            agent_auth::json_reply(&answer)
        } else {
            // Registration requires the role with secrets; this server may read none.
            failed("ResourceInitializationError: unable to pull secrets or registry auth: the task has no execution role to read them with".into())
        };
    };
    let (region, account) = (&app.scope.region, &app.scope.account_id);
    let logs = log_permissions(&definition, region, account, &task_id);
    if let Err((action, denial)) = source.may_all(&role, &task_id, &logs) {
        let what = if action == "logs:CreateLogGroup" { "group" } else { "stream" };
        return failed(format!(
            "CannotStartContainerError: Error response from daemon: failed to initialize logging driver: failed to create Cloudwatch log {what}: {denial}"
        ));
    }
    if wanted.value_from.is_empty() {
        return agent_auth::json_reply(&answer);
    }
    let values = match source.fetch_secrets(region, &role, &task_id, wanted.value_from).await {
        Ok(values) => values,
        Err(reason) => {
            tracing::info!(task = %asked.task_arn, %reason, "task secrets refused");
            return failed(reason);
        }
    };
    for ((container, is_log_option, name), value) in wanted.slots.into_iter().zip(values) {
        let entry: &mut ContainerSecrets = answer.containers.entry(container).or_default();
        let list = if is_log_option { &mut entry.log_options } else { &mut entry.environment };
        list.push((name, SecretValue(value)));
    }
    agent_auth::json_reply(&answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awslogs_streams_need_the_roles_permissions_on_their_arns() {
        let definition: TaskDefinition = serde_json::from_value(serde_json::json!({
            "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/f:1",
            "family": "f", "revision": 1, "status": "ACTIVE",
            "containerDefinitions": [
                {"name": "app", "logConfiguration": {"logDriver": "awslogs", "options":
                    {"awslogs-group": "/ecs/app", "awslogs-stream-prefix": "web",
                     "awslogs-create-group": "true"}}},
                {"name": "side", "logConfiguration": {"logDriver": "awslogs", "options":
                    {"awslogs-group": "g"}}},
                {"name": "plain", "logConfiguration": {"logDriver": "json-file"}}
            ]
        }))
        .expect("a definition");
        let wanted = log_permissions(&definition, "eu-west-1", "123456789012", "abc");
        let group = "arn:aws:logs:eu-west-1:123456789012:log-group";
        assert_eq!(
            wanted,
            [
                ("logs:CreateLogGroup", format!("{group}:/ecs/app")),
                ("logs:CreateLogStream", format!("{group}:/ecs/app:log-stream:web/app/abc")),
                ("logs:PutLogEvents", format!("{group}:/ecs/app:log-stream:web/app/abc")),
                ("logs:CreateLogStream", format!("{group}:g:log-stream:*")),
                ("logs:PutLogEvents", format!("{group}:g:log-stream:*")),
            ]
        );
    }
}

//! Task roles: a task whose definition (or RunTask's overrides) names `taskRoleArn` gets that
//! role's temporary credentials at ECS's container credentials endpoint, which the agents of
//! its machine serve at 169.254.170.2 (`crates/agent/src/credentials`). The task's containers
//! are told `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/<id>`; the id names the
//! task and carries a MAC under a key only the server holds, so it cannot be guessed or made
//! for another task, and any agent of the machine can have it resolved here
//! (`POST /v1/agent/task-credentials`). Credentials come from STS ([`RoleCredentials`], wired
//! by the server) as a session of the role, whose trust policy must let
//! `ecs-tasks.amazonaws.com` assume it; they are never stored by the agent.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flotilla_api::agent::{TaskCredentials, TaskCredentialsRequest};
use flotilla_api::task::TaskStatus;
use flotilla_api::taskdef::TaskDefinition;
use sha2::Sha256;

use crate::state::TaskRecord;
use crate::{agent_auth, App, BoxFuture};

/// The service principal a task role's trust policy names.
pub const TASKS_PRINCIPAL: &str = "ecs-tasks.amazonaws.com";

/// Hands out a role's temporary credentials (STS, wired by the server).
pub trait RoleCredentials: Send + Sync {
    /// A session of `role_arn` named `session`, for `service` (its trust policy decides).
    fn issue<'a>(
        &'a self,
        role_arn: &'a str,
        service: &'a str,
        session: &'a str,
    ) -> BoxFuture<'a, Result<TaskCredentials, String>>;
}

/// What task roles need: the key of the ids, and where credentials come from.
pub struct TaskRoles {
    key: Vec<u8>,
    issuer: Arc<dyn RoleCredentials>,
}

impl TaskRoles {
    pub fn new(key: &str, issuer: Arc<dyn RoleCredentials>) -> TaskRoles {
        TaskRoles { key: key.as_bytes().to_vec(), issuer }
    }

    /// `<cluster>/<task id>/<mac>`: the MAC (HMAC-SHA256 of the cluster and task, cut to 128
    /// bits) makes it the task's alone.
    pub fn credentials_id(&self, cluster: &str, task_id: &str) -> String {
        format!("{cluster}/{task_id}/{}", self.mac(cluster, task_id))
    }

    fn mac(&self, cluster: &str, task_id: &str) -> String {
        use hmac::Mac;
        // A key of any length is valid for HMAC: `new_from_slice` cannot fail.
        let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(format!("{cluster}/{task_id}").as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The cluster and task an id names, if its MAC holds.
    fn verify<'a>(&self, id: &'a str) -> Option<(&'a str, &'a str)> {
        use subtle::ConstantTimeEq;
        let mut parts = id.splitn(3, '/');
        let (cluster, task_id, mac) = (parts.next()?, parts.next()?, parts.next()?);
        let expected = self.mac(cluster, task_id);
        bool::from(expected.as_bytes().ct_eq(mac.as_bytes())).then_some((cluster, task_id))
    }
}

/// The role a task runs as: RunTask's override, else its definition's.
pub fn role_of(task: &TaskRecord, definition: &TaskDefinition) -> Option<String> {
    overridden(&task.task.overrides.task_role_arn, &definition.task_role_arn)
}

/// The role a task starts with (secrets, logs): RunTask's override, else its definition's.
pub fn execution_role_of(task: &TaskRecord, definition: &TaskDefinition) -> Option<String> {
    overridden(&task.task.overrides.execution_role_arn, &definition.execution_role_arn)
}

/// A role ARN as RunTask's override, else the definition, gives it (empty is none).
fn overridden(given: &Option<String>, defined: &Option<String>) -> Option<String> {
    given.as_ref().or(defined.as_ref()).filter(|arn| !arn.is_empty()).cloned()
}

/// `POST /v1/agent/task-credentials`: the credentials of the task an id names, for an agent
/// (any instance of the region: the machine's endpoint may be another agent's).
pub async fn serve(State(app): State<Arc<App>>, request: Request) -> Response {
    let (_, _, asked) = match agent_auth::instance_request::<TaskCredentialsRequest>(
        &app,
        request,
        4096,
        "task credentials request",
    )
    .await
    {
        Ok(accepted) => accepted,
        Err(refused) => return refused,
    };
    let not_found = || (StatusCode::NOT_FOUND, "no running task with a role has this id\n");
    let Some(roles) = app.task_roles.as_ref() else {
        return not_found().into_response();
    };
    let Some((cluster, task_id)) = roles.verify(&asked.credentials_id) else {
        return not_found().into_response();
    };
    let role = {
        let state = app.state.read();
        let Some(task) = state.tasks.get(&(cluster.to_string(), task_id.to_string())) else {
            return not_found().into_response();
        };
        if task.task.last_status == TaskStatus::Stopped {
            return not_found().into_response();
        }
        let Some(stored) = state.task_definition_by_arn(&task.task.task_definition_arn) else {
            return not_found().into_response();
        };
        match role_of(task, &stored.definition) {
            Some(role) => role,
            None => return not_found().into_response(),
        }
    };
    match roles.issuer.issue(&role, TASKS_PRINCIPAL, task_id).await {
        Ok(credentials) => agent_auth::json_reply(&credentials),
        Err(error) => {
            tracing::warn!(%error, role, task_id, "task role credentials refused");
            (StatusCode::FORBIDDEN, format!("{error}\n")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Never;

    impl RoleCredentials for Never {
        fn issue<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<TaskCredentials, String>> {
            Box::pin(async { Err("never".to_string()) })
        }
    }

    #[test]
    fn ids_name_their_task_and_cannot_be_made_for_another() {
        let roles = TaskRoles::new(&"ab".repeat(32), Arc::new(Never));
        let id = roles.credentials_id("prod", "0123abcd");
        assert_eq!(roles.verify(&id), Some(("prod", "0123abcd")));
        let (_, mac) = id.rsplit_once('/').expect("three parts");
        for forged in [
            format!("prod/0123abce/{mac}"),
            format!("dev/0123abcd/{mac}"),
            "prod/0123abcd/00".into(),
        ] {
            assert_eq!(roles.verify(&forged), None, "{forged}");
        }
        let other = TaskRoles::new(&"cd".repeat(32), Arc::new(Never));
        assert_eq!(other.verify(&id), None, "another server's key makes other ids");
    }
}

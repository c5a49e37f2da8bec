//! What a task starts with (ECS's execution resources), asked of the server when its
//! containers are about to be created (`POST /v1/agent/execution-resources`, with this
//! instance's credential): its secret values, once its execution role may read them and write
//! its logs. Values live only in memory, for the creation: never in the state file, the
//! desired state or a log line ([`SecretValue`] shows no value in `Debug`).

use std::sync::Arc;
use std::time::Duration;

use flotilla_api::agent::{
    ExecutionResources, ExecutionResourcesRequest, ServerAddress, EXECUTION_RESOURCES_PATH,
};

use crate::credential::AgentCredential;
use crate::logs::ship::{exchange, http_client, HttpClient};

pub use flotilla_api::agent::SecretValue;

/// The server reads every value of a task within this; past it the task fails to start.
const ASK_TIMEOUT: Duration = Duration::from_secs(20);

/// Asks the server what tasks start with.
pub struct ResourceFetch {
    url: String,
    credential: Arc<AgentCredential>,
    client: HttpClient,
}

impl std::fmt::Debug for ResourceFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceFetch").field("url", &self.url).finish_non_exhaustive()
    }
}

impl ResourceFetch {
    pub fn new(server: &ServerAddress, credential: Arc<AgentCredential>) -> ResourceFetch {
        ResourceFetch {
            url: server.route(EXECUTION_RESOURCES_PATH),
            credential,
            client: http_client(),
        }
    }

    /// What task `task_arn` starts with; `Err` with the reason the task stops with.
    pub async fn fetch(&self, task_arn: &str) -> Result<ExecutionResources, String> {
        let unavailable = |why: String| {
            format!("ResourceInitializationError: unable to pull secrets or registry auth: {why}")
        };
        let body =
            serde_json::to_vec(&ExecutionResourcesRequest { task_arn: task_arn.to_string() })
                .map_err(|e| unavailable(e.to_string()))?;
        let credential = self
            .credential
            .instance()
            .ok_or_else(|| unavailable("this agent is not registered yet".into()))?;
        match exchange(&self.client, &self.url, &credential, body, ASK_TIMEOUT).await {
            Ok((200, answer)) => serde_json::from_slice(&answer)
                .map_err(|e| unavailable(format!("the server's answer is malformed: {e}"))),
            // The server's reason, as ECS words it.
            Ok((422, reason)) => Err(String::from_utf8_lossy(&reason).trim().to_string()),
            Ok((status, answer)) => Err(unavailable(format!(
                "the server answered {status}: {}",
                String::from_utf8_lossy(&answer).trim()
            ))),
            Err(error) => Err(unavailable(error)),
        }
    }
}

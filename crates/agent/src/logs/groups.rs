//! Before starting a container whose `awslogs` group it may not create, the agent asks the
//! server whether the group exists: on ECS such a container fails to start ("The specified log
//! group does not exist."), and so it does here, instead of running with its output dropped.

use std::sync::Arc;
use std::time::Duration;

use flotilla_api::agent::{LogGroupsQuery, LogGroupsReply, ServerAddress, LOG_GROUPS_PATH};

use super::ship::{exchange, http_client, HttpClient};
use crate::credential::AgentCredential;

/// A start does not wait longer than this for the answer; without one, the container starts.
const ASK_TIMEOUT: Duration = Duration::from_secs(3);

/// Asks the server which log groups are missing.
pub struct GroupCheck {
    url: String,
    credential: Arc<AgentCredential>,
    client: HttpClient,
}

impl std::fmt::Debug for GroupCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCheck").field("url", &self.url).finish_non_exhaustive()
    }
}

impl GroupCheck {
    pub fn new(server: &ServerAddress, credential: Arc<AgentCredential>) -> GroupCheck {
        GroupCheck { url: server.route(LOG_GROUPS_PATH), credential, client: http_client() }
    }

    /// The groups of `groups` that do not exist; `None` when the server could not say (down,
    /// too old): the container then starts, and its lines wait in the buffer.
    pub async fn missing(&self, groups: Vec<String>) -> Option<Vec<String>> {
        let body = serde_json::to_vec(&LogGroupsQuery { groups }).ok()?;
        // Tasks come only after registration, which issued the credential.
        let credential = self.credential.instance()?;
        match exchange(&self.client, &self.url, &credential, body, ASK_TIMEOUT).await {
            Ok((200, answer)) => {
                serde_json::from_slice::<LogGroupsReply>(&answer).ok().map(|r| r.missing)
            }
            Ok((status, _)) => {
                tracing::debug!(status, "the server did not say which log groups exist");
                None
            }
            Err(error) => {
                tracing::debug!(%error, "cannot ask the server which log groups exist");
                None
            }
        }
    }
}

//! `flotilla drain`: the operator drains (or takes back) the machine an agent runs on, asking
//! the server with that agent's instance credential (read from its state file), since Fargate
//! capacity is never listed by the ECS API.

use std::path::Path;
use std::time::Duration;

use flotilla_api::agent::{DrainReply, DrainRequest, ServerAddress, DRAIN_PATH};
use flotilla_api::status::InstanceStatus;

use crate::local_state::LocalStateFile;
use crate::logs::ship::{exchange, http_client};

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error(transparent)]
    State(#[from] crate::local_state::LocalStateError),
    #[error("{0} holds no instance credential: this agent has not registered yet")]
    NotRegistered(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("the server refused: {0}")]
    Refused(String),
}

/// Puts the instance of the agent whose state is in `data_dir` in `status` (DRAINING or
/// ACTIVE).
pub async fn request(
    server: &ServerAddress,
    data_dir: &Path,
    status: InstanceStatus,
) -> Result<DrainReply, DrainError> {
    let state = LocalStateFile::new(data_dir).load()?;
    let credential = state
        .instance_credential
        .ok_or_else(|| DrainError::NotRegistered(data_dir.display().to_string()))?;
    let body = serde_json::to_vec(&DrainRequest { status })
        .map_err(|e| DrainError::Refused(e.to_string()))?;
    let url = server.route(DRAIN_PATH);
    let (code, answer) = exchange(&http_client(), &url, &credential, body, Duration::from_secs(30))
        .await
        .map_err(DrainError::Unreachable)?;
    match code {
        200 => serde_json::from_slice(&answer)
            .map_err(|e| DrainError::Refused(format!("unreadable answer from {url}: {e}"))),
        _ => {
            Err(DrainError::Refused(format!("{code}: {}", String::from_utf8_lossy(&answer).trim())))
        }
    }
}

//! The agent's small local state file (`<data-dir>/agent-state.json`, mode 0600): who it is
//! (with its instance credential) and every task it runs with its containers' ids, so a
//! restarted agent adopts instead of duplicating.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::TaskRun;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LocalState {
    /// A stable id of this agent's machine slot (reported as `ec2InstanceId`).
    pub host_id: String,
    pub container_instance_id: Option<String>,
    pub container_instance_arn: Option<String>,
    /// The credential the server issued this instance: presented instead of the join token.
    #[serde(default)]
    pub instance_credential: Option<String>,
    /// Task ARN -> what the agent knows of it.
    #[serde(default)]
    pub tasks: BTreeMap<String, TaskRun>,
    /// This agent's port of the container credentials endpoint: running tasks' URIs name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_port: Option<u16>,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalStateError {
    #[error("cannot read or write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is not a valid agent state file: {source}")]
    Corrupt { path: String, source: serde_json::Error },
}

pub struct LocalStateFile {
    path: PathBuf,
}

impl LocalStateFile {
    pub fn new(data_dir: &Path) -> Self {
        LocalStateFile { path: data_dir.join("agent-state.json") }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, or a fresh one (with a new host id) when there is none.
    pub fn load(&self) -> Result<LocalState, LocalStateError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| {
                LocalStateError::Corrupt { path: self.path.display().to_string(), source }
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 9];
                let _ = getrandom::getrandom(&mut bytes);
                Ok(LocalState {
                    host_id: format!("i-{}", &hex::encode(bytes)[..17]),
                    ..LocalState::default()
                })
            }
            Err(source) => {
                Err(LocalStateError::Io { path: self.path.display().to_string(), source })
            }
        }
    }

    /// Writes atomically: a crash leaves the old file or the new one, never half of one.
    pub fn save(&self, state: &LocalState) -> Result<(), LocalStateError> {
        let io = |source| LocalStateError::Io { path: self.path.display().to_string(), source };
        if let Some(dir) = self.path.parent() {
            crate::credential::create_private_dir(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(state).map_err(|source| LocalStateError::Corrupt {
            path: self.path.display().to_string(),
            source,
        })?;
        let mut file = crate::credential::create_private(&tmp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

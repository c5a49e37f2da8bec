//! Running a CNI plugin (the CNI spec, version 1.0.0): the command in `CNI_COMMAND`, the
//! network's configuration on stdin, the result (or an error) as JSON on stdout.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;

/// What a plugin is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
}

impl Command {
    fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
        }
    }
}

/// One call: which container and namespace, which interface.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    pub container_id: &'a str,
    /// `/proc/<pid>/ns/net` of the namespace's holder.
    pub netns: &'a Path,
    pub ifname: &'a str,
}

/// What ADD answers (the parts the agent uses).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AddResult {
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    #[serde(default)]
    pub ips: Vec<IpConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default)]
    pub mac: String,
    /// Set for the interface inside the namespace.
    #[serde(default)]
    pub sandbox: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IpConfig {
    /// Index into `interfaces`.
    #[serde(default)]
    pub interface: Option<usize>,
    /// `10.0.1.5/24`.
    pub address: String,
    #[serde(default)]
    pub gateway: Option<String>,
}

/// The error a plugin reports (CNI's error shape).
#[derive(Debug, Deserialize)]
struct PluginError {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("cannot run the CNI plugin {plugin}: {source}")]
    Spawn { plugin: String, source: std::io::Error },
    #[error("the CNI plugin {plugin} failed (code {code}): {message}")]
    Plugin { plugin: String, code: u32, message: String },
    #[error("the CNI plugin {plugin} answered what is no CNI result: {message}")]
    Answer { plugin: String, message: String },
}

/// The CNI plugins of a directory (Debian's `containernetworking-plugins`: /usr/lib/cni).
#[derive(Debug, Clone)]
pub struct Plugins {
    pub dir: PathBuf,
}

impl Plugins {
    /// Runs `plugin` (the configuration's `type`) with `config` (a network configuration);
    /// ADD answers the plugin's result as it gave it (the next plugin of a chain takes it as
    /// `prevResult`).
    pub async fn call(
        &self,
        command: Command,
        config: &serde_json::Value,
        call: &Invocation<'_>,
    ) -> Result<Option<serde_json::Value>, CniError> {
        let plugin = config.get("type").and_then(|t| t.as_str()).unwrap_or_default().to_string();
        let spawn_error = |source| CniError::Spawn { plugin: plugin.clone(), source };
        let mut child = tokio::process::Command::new(self.dir.join(&plugin))
            .env_clear()
            // Plugins run iptables and the like: a fixed PATH, not the agent's.
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", command.as_str())
            .env("CNI_CONTAINERID", call.container_id)
            .env("CNI_NETNS", call.netns)
            .env("CNI_IFNAME", call.ifname)
            .env("CNI_PATH", &self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        if let Some(mut stdin) = child.stdin.take() {
            let bytes = serde_json::to_vec(config).unwrap_or_default();
            stdin.write_all(&bytes).await.map_err(spawn_error)?;
        }
        let output = child.wait_with_output().await.map_err(spawn_error)?;
        if !output.status.success() {
            let message = match serde_json::from_slice::<PluginError>(&output.stdout) {
                Ok(error) => {
                    (error.code, format!("{} {}", error.msg, error.details).trim().to_string())
                }
                Err(_) => (0, String::from_utf8_lossy(&output.stderr).trim().to_string()),
            };
            return Err(CniError::Plugin { plugin, code: message.0, message: message.1 });
        }
        match command {
            Command::Del => Ok(None),
            Command::Add => serde_json::from_slice(&output.stdout)
                .map(Some)
                .map_err(|e| CniError::Answer { plugin, message: e.to_string() }),
        }
    }
}

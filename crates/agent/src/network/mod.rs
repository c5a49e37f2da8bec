//! awsvpc task networking on this host (issue 14, first step): a task's network namespace —
//! held by its pause container — gets an interface on a Linux bridge of its subnet and an
//! address from this host's slice of the subnet, through a chain of Debian's CNI plugins
//! (`containernetworking-plugins`): `bridge` with `host-local` address management, then
//! `firewall`, which lets the task's traffic through the host's FORWARD chain (Docker sets its
//! policy to DROP). Detaching undoes the chain in reverse, also when the namespace is already
//! gone: no veth, address or rule is left.

pub mod cni;
pub mod firewall;
pub mod nat;
pub mod routes;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

/// Where Debian installs the CNI plugins.
pub const DEFAULT_PLUGIN_DIR: &str = "/usr/lib/cni";
/// The interface a task sees, as on ECS.
const TASK_INTERFACE: &str = "eth0";

/// This host's part of a subnet: the addresses its tasks take, and the subnet's gateway (the
/// bridge's address on this host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetSlice {
    /// `subnet-...`: names the bridge.
    pub subnet_id: String,
    pub network: Ipv4Addr,
    pub prefix_len: u8,
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
    pub gateway: Ipv4Addr,
}

impl SubnetSlice {
    /// The bridge of this slice on this host: `fl`, the subnet id's last 8 characters and the
    /// slice's network as 4 hex digits (its low 16 bits: slices are /24s of a subnet no larger
    /// than a /16), 14 characters where Linux allows 15. One bridge per slice, not per subnet:
    /// each slice has its own gateway, and two agents of one machine may hold two slices of a
    /// subnet (the kernel routes between their bridges).
    pub fn bridge(&self) -> String {
        let id = self.subnet_id.trim_start_matches("subnet-");
        let tail = &id[id.len().saturating_sub(8)..];
        format!("fl{tail}{:04x}", u32::from(self.network) & 0xffff)
    }
}

/// A task's interface, as DescribeTasks' ENI attachment shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub ipv4: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Cni(#[from] cni::CniError),
    #[error("the CNI result has no address for the task's interface")]
    NoAddress,
    #[error("cannot keep the CNI result of task {task}: {source}")]
    Cache { task: String, source: std::io::Error },
}

/// Task networking through CNI plugins.
#[derive(Debug, Clone)]
pub struct CniNetwork {
    plugins: cni::Plugins,
    /// Where `host-local` keeps which addresses are taken (survives agent restarts).
    ipam_dir: PathBuf,
    /// Each attached task's chain result, which DEL needs (the `firewall` plugin removes the
    /// rules of the addresses it names).
    results_dir: PathBuf,
}

impl CniNetwork {
    pub fn new(plugin_dir: impl Into<PathBuf>, state_dir: &Path) -> CniNetwork {
        CniNetwork {
            plugins: cni::Plugins { dir: plugin_dir.into() },
            ipam_dir: state_dir.join("ipam"),
            results_dir: state_dir.join("cni-results"),
        }
    }

    /// The `firewall` link of the chain of `config`, after `previous` (the bridge's result).
    fn firewall(
        &self,
        config: &serde_json::Value,
        previous: &serde_json::Value,
    ) -> serde_json::Value {
        json!({
            "cniVersion": "1.0.0",
            "name": config["name"],
            "type": "firewall",
            "backend": "iptables",
            "prevResult": previous,
        })
    }

    fn result_file(&self, task_id: &str) -> PathBuf {
        self.results_dir.join(format!("{task_id}.json"))
    }

    /// The network configuration of `slice`: its bridge (the gateway's address on it, no NAT:
    /// tasks are reached by their own addresses) and this host's range.
    fn config(&self, slice: &SubnetSlice) -> serde_json::Value {
        json!({
            "cniVersion": "1.0.0",
            "name": slice.bridge(),
            "type": "bridge",
            "bridge": slice.bridge(),
            "isGateway": true,
            "ipMasq": false,
            "ipam": {
                "type": "host-local",
                "dataDir": self.ipam_dir,
                "ranges": [[{
                    "subnet": format!("{}/{}", slice.network, slice.prefix_len),
                    "rangeStart": slice.first.to_string(),
                    "rangeEnd": slice.last.to_string(),
                    "gateway": slice.gateway.to_string(),
                }]],
                "routes": [{ "dst": "0.0.0.0/0" }],
            },
        })
    }

    /// Gives the namespace at `netns` (`/proc/<pid>/ns/net`) of task `task_id` its interface.
    /// What is about to be done is recorded first, so a crash at any point leaves a record
    /// [`CniNetwork::detach`] can undo (see [`CniNetwork::recorded_tasks`]).
    pub async fn attach(
        &self,
        task_id: &str,
        netns: &Path,
        slice: &SubnetSlice,
    ) -> Result<Attachment, NetworkError> {
        let config = self.config(slice);
        self.write_record(task_id, &Record { config: config.clone(), result: None })?;
        let call = cni::Invocation { container_id: task_id, netns, ifname: TASK_INTERFACE };
        let added = self.plugins.call(cni::Command::Add, &config, &call).await;
        let outcome = match added {
            Ok(raw) => self.finish_attach(task_id, &call, config, raw.unwrap_or_default()).await,
            Err(error) => Err(error.into()),
        };
        if outcome.is_err() {
            // Half a chain is no attachment: undo what was done.
            if let Err(undo) = self.detach(task_id, netns).await {
                tracing::error!(%undo, task = task_id, "cannot undo a failed attachment");
            }
        }
        outcome
    }

    /// After the bridge's ADD: the result recorded, the firewall's ADD, the address read.
    async fn finish_attach(
        &self,
        task_id: &str,
        call: &cni::Invocation<'_>,
        config: serde_json::Value,
        raw: serde_json::Value,
    ) -> Result<Attachment, NetworkError> {
        self.write_record(task_id, &Record { config: config.clone(), result: Some(raw.clone()) })?;
        self.plugins.call(cni::Command::Add, &self.firewall(&config, &raw), call).await?;
        let result: cni::AddResult =
            serde_json::from_value(raw).map_err(|_| NetworkError::NoAddress)?;
        let inside = result.interfaces.iter().position(|i| i.sandbox.is_some());
        let ip = result
            .ips
            .iter()
            .find(|ip| inside.is_none() || ip.interface == inside)
            .ok_or(NetworkError::NoAddress)?;
        let (address, prefix) = ip.address.split_once('/').ok_or(NetworkError::NoAddress)?;
        Ok(Attachment {
            ipv4: address.parse().map_err(|_| NetworkError::NoAddress)?,
            prefix_len: prefix.parse().map_err(|_| NetworkError::NoAddress)?,
            gateway: ip
                .gateway
                .as_deref()
                .and_then(|g| g.parse().ok())
                .ok_or(NetworkError::NoAddress)?,
            mac: inside.map(|i| result.interfaces[i].mac.clone()).unwrap_or_default(),
        })
    }

    fn write_record(&self, task_id: &str, record: &Record) -> Result<(), NetworkError> {
        let cache_error = |source| NetworkError::Cache { task: task_id.to_string(), source };
        std::fs::create_dir_all(&self.results_dir).map_err(cache_error)?;
        let bytes = serde_json::to_vec(record).unwrap_or_default();
        let file = self.result_file(task_id);
        let partial = file.with_extension("partial");
        std::fs::write(&partial, bytes).map_err(cache_error)?;
        std::fs::rename(&partial, &file).map_err(cache_error)
    }

    /// The tasks with an interface attached, or being attached, on this host (by the records
    /// of this agent and of its predecessors in the same state directory).
    pub fn recorded_tasks(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.results_dir) else { return Vec::new() };
        let mut tasks: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
            .collect();
        tasks.sort();
        tasks
    }

    /// Takes the task's interface away and gives its address back, from what `attach`
    /// recorded (the namespace may be gone; nothing recorded: nothing to undo).
    pub async fn detach(&self, task_id: &str, netns: &Path) -> Result<(), NetworkError> {
        let file = self.result_file(task_id);
        let Some(record) = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
        else {
            let _ = std::fs::remove_file(&file);
            return Ok(());
        };
        let call = cni::Invocation { container_id: task_id, netns, ifname: TASK_INTERFACE };
        // Every step is tried even when one before it failed, so nothing stays behind.
        let mut first_error = None;
        if let Some(previous) = &record.result {
            let firewall = self.firewall(&record.config, previous);
            if let Err(error) = self.plugins.call(cni::Command::Del, &firewall, &call).await {
                first_error = Some(error);
            }
        }
        match self.plugins.call(cni::Command::Del, &record.config, &call).await {
            Ok(_) if first_error.is_none() => {
                let _ = std::fs::remove_file(&file);
            }
            Ok(_) => {}
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
        match first_error {
            None => Ok(()),
            Some(error) => Err(error.into()),
        }
    }
}

/// What `attach` keeps of a task's chain: the bridge's configuration (DEL needs it, with the
/// address range) and, once ADD answered, its result (the firewall's DEL needs that).
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    config: serde_json::Value,
    result: Option<serde_json::Value>,
}

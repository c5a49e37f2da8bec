//! The data plane's way to awsvpc tasks on other hosts: each host's slices routed through that
//! host's address (`flotilla_api::routes::RouteTable`, pushed by the control plane), in this
//! process's network namespace. Slices of hosts whose address is this machine's need no route
//! (their bridge is here). Only routes this process added are changed or removed — several
//! servers may share a machine — and they carry their own `proto` so `ip route` shows whose
//! they are. What was added is written down (a ledger file in the data directory) before it is
//! added, so a process that crashed or was stopped removes its leftovers when it starts again,
//! and one that stops removes them itself (`remove_recorded`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flotilla_api::routes::RouteTable;
use tokio::process::Command;
use tokio::sync::watch;

/// The `proto` of the data plane's routes (the agents' are 77).
const PROTO: &str = "78";

/// cidr -> via, as added by this process (and its earlier runs).
type Added = BTreeMap<String, Ipv4Addr>;

/// This machine's IPv4 addresses (none when `ip` cannot say).
pub async fn local_addresses() -> BTreeSet<Ipv4Addr> {
    let Ok(output) = Command::new("ip").args(["-4", "-o", "addr", "show"]).output().await else {
        return BTreeSet::new();
    };
    flotilla_api::routes::addresses_in_ip_output(&String::from_utf8_lossy(&output.stdout))
}

async fn ip_route(args: &[&str]) -> Result<(), String> {
    let output =
        Command::new("ip").arg("route").args(args).output().await.map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// The routes an earlier run recorded (none when the ledger is missing or unreadable: a route
/// the ledger does not name is never touched).
fn recorded(ledger: &Path) -> Added {
    std::fs::read(ledger)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Writes `added` to the ledger (replacing it whole, so a crash leaves the old or the new one).
fn record(ledger: &Path, added: &Added) {
    let write = || -> std::io::Result<()> {
        let staged = ledger.with_extension("json.new");
        std::fs::write(&staged, serde_json::to_vec(added).map_err(std::io::Error::other)?)?;
        std::fs::rename(&staged, ledger)
    };
    if let Err(error) = write() {
        tracing::warn!(ledger = %ledger.display(), %error, "cannot record the routes to tasks");
    }
}

/// Keeps this namespace's routes to other hosts' slices equal to the table's, until the table's
/// sender goes (then removes them). `ledger` names the file recording what was added; routes an
/// earlier run recorded and the table no longer wants are removed first.
pub fn follow(
    mut table: watch::Receiver<Arc<RouteTable>>,
    ledger: PathBuf,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut added = recorded(&ledger);
        loop {
            let current = Arc::clone(&table.borrow_and_update());
            let local = local_addresses().await;
            let wanted: Added = current
                .routes
                .iter()
                .filter(|r| !local.contains(&r.via))
                .map(|r| (r.cidr.clone(), r.via))
                .collect();
            sync(&mut added, &wanted, &ledger).await;
            if table.changed().await.is_err() {
                sync(&mut added, &Added::new(), &ledger).await;
                return;
            }
        }
    })
}

/// Removes every route the ledger records (a process stopping: its routes go with it).
pub async fn remove_recorded(ledger: &Path) {
    let mut added = recorded(ledger);
    if !added.is_empty() {
        sync(&mut added, &Added::new(), ledger).await;
    }
}

async fn sync(added: &mut Added, wanted: &Added, ledger: &Path) {
    for (cidr, via) in wanted {
        if added.get(cidr) == Some(via) {
            continue;
        }
        // Recorded before it is added: a stop in between leaves a name, never a stray route.
        added.insert(cidr.clone(), *via);
        record(ledger, added);
        let via_text = via.to_string();
        if let Err(error) = ip_route(&["replace", cidr, "via", &via_text, "proto", PROTO]).await {
            tracing::warn!(%cidr, via = %via_text, %error, "cannot route a host's slice");
            added.remove(cidr);
            record(ledger, added);
        }
    }
    let gone: Vec<String> = added.keys().filter(|c| !wanted.contains_key(*c)).cloned().collect();
    for cidr in &gone {
        // Gone already (its interface went, or someone removed it) is as good as removed.
        if let Err(error) = ip_route(&["del", cidr, "proto", PROTO]).await {
            tracing::debug!(%cidr, %error, "cannot remove the route of a host's slice");
        }
        added.remove(cidr);
    }
    if !gone.is_empty() {
        record(ledger, added);
    }
}

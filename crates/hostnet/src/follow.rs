//! A data plane's way to awsvpc tasks on other hosts (the server's load balancers, health
//! checks and DNS; a remote `flotilla lb`): each host's slices routed as `plan` says — through
//! the host when it is on one of this namespace's segments, else through this namespace's own
//! end of the overlay (`overlay::DATA_PLANE_END`) — in this process's network namespace. Only
//! routes this process added are changed or removed — several servers may share a machine —
//! and they carry their own `proto` so `ip route` shows whose they are. What was added (and
//! whether the overlay end was made) is written down in a ledger file before it is added, so a
//! process that crashed removes its leftovers when it starts again, and one that stops removes
//! them itself (`remove_recorded`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flotilla_api::routes::RouteTable;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::overlay::DATA_PLANE_END;
use crate::plan::Route;

/// The `proto` of the data planes' routes (the agents' are 77).
const PROTO: &str = "78";

/// What this process added (and its earlier runs).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Ledger {
    /// cidr -> next hop.
    routes: BTreeMap<String, Hop>,
    /// Whether this process made the overlay end (a device it did not make is not its to
    /// remove).
    overlay: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Hop {
    via: Ipv4Addr,
    /// On the overlay end, `onlink`, from the end's address (the device has none of its own,
    /// and replies must come back to an address the segments' routers know).
    overlay: Option<Ipv4Addr>,
}

/// The routes an earlier run recorded (none when the ledger is missing or unreadable: a route
/// the ledger does not name is never touched).
fn recorded(path: &Path) -> Ledger {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Writes the ledger (replacing it whole, so a crash leaves the old or the new one).
fn record(path: &Path, ledger: &Ledger) {
    let write = || -> std::io::Result<()> {
        let staged = path.with_extension("json.new");
        std::fs::write(&staged, serde_json::to_vec(ledger).map_err(std::io::Error::other)?)?;
        std::fs::rename(&staged, path)
    };
    if let Err(error) = write() {
        tracing::warn!(ledger = %path.display(), %error, "cannot record the routes to tasks");
    }
}

/// Keeps this namespace's routes to other hosts' slices equal to the table's, until the table's
/// sender goes (then removes them). `ledger` names the file recording what was added; what an
/// earlier run recorded and the table no longer wants is removed first.
pub fn follow(
    mut table: watch::Receiver<Arc<RouteTable>>,
    ledger: PathBuf,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut added = recorded(&ledger);
        loop {
            let current = Arc::clone(&table.borrow_and_update());
            let wanted = routes_and_end(&current, &mut added, &ledger).await;
            sync(&mut added, &wanted, &ledger).await;
            if table.changed().await.is_err() {
                release(&mut added, &ledger).await;
                return;
            }
        }
    })
}

/// Removes every route (and the overlay end) the ledger records: a process stopping.
pub async fn remove_recorded(ledger: &Path) {
    let mut added = recorded(ledger);
    if added != Ledger::default() {
        release(&mut added, ledger).await;
    }
}

async fn release(added: &mut Ledger, ledger: &Path) {
    sync(added, &BTreeMap::new(), ledger).await;
    if added.overlay {
        DATA_PLANE_END.remove().await;
        added.overlay = false;
        record(ledger, added);
    }
}

/// The routes `table` asks of this namespace; on the way, the overlay end is made (and
/// recorded) when a host is on another segment, or removed when none is and this process made
/// it.
async fn routes_and_end(
    table: &RouteTable,
    added: &mut Ledger,
    ledger: &Path,
) -> BTreeMap<String, Hop> {
    let (local, segments) = crate::local_addresses().await.unwrap_or_default();
    let plan = crate::plan::plan(table, &local, &segments);
    // The end is where this namespace sends to the far hosts from.
    let end = match plan.overlay_hosts().first() {
        Some(host) => crate::source_toward(*host).await,
        None => None,
    };
    let mut routes = plan.routes();
    match end {
        Some(end) => {
            if !added.overlay {
                added.overlay = true;
                record(ledger, added);
            }
            if let Err(error) = DATA_PLANE_END.sync(end, &plan.overlay).await {
                tracing::warn!(%error, "cannot make this data plane's end of the overlay");
            }
        }
        None => {
            routes.retain(|r| !r.overlay);
            if added.overlay {
                DATA_PLANE_END.remove().await;
                added.overlay = false;
                record(ledger, added);
            }
        }
    }
    routes
        .into_iter()
        .map(|Route { cidr, via, overlay }| (cidr, Hop { via, overlay: end.filter(|_| overlay) }))
        .collect()
}

async fn ip_route(args: &[&str]) -> Result<(), String> {
    crate::run("ip", &[&["route"][..], args].concat()).await.map(drop).map_err(|e| e.to_string())
}

async fn sync(added: &mut Ledger, wanted: &BTreeMap<String, Hop>, ledger: &Path) {
    for (cidr, hop) in wanted {
        if added.routes.get(cidr) == Some(hop) {
            continue;
        }
        // Recorded before it is added: a stop in between leaves a name, never a stray route.
        added.routes.insert(cidr.clone(), *hop);
        record(ledger, added);
        let (via, src) = (hop.via.to_string(), hop.overlay.map(|a| a.to_string()));
        let mut args = vec!["replace", cidr.as_str(), "via", &via, "proto", PROTO];
        if let Some(src) = &src {
            args.extend(["dev", DATA_PLANE_END.device, "onlink", "src", src]);
        }
        if let Err(error) = ip_route(&args).await {
            tracing::warn!(%cidr, %via, %error, "cannot route a host's slice");
            added.routes.remove(cidr);
            record(ledger, added);
        }
    }
    let gone: Vec<String> =
        added.routes.keys().filter(|c| !wanted.contains_key(*c)).cloned().collect();
    for cidr in &gone {
        // Gone already (its interface went, or someone removed it) is as good as removed.
        if let Err(error) = ip_route(&["del", cidr, "proto", PROTO]).await {
            tracing::debug!(%cidr, %error, "cannot remove the route of a host's slice");
        }
        added.routes.remove(cidr);
    }
    if !gone.is_empty() {
        record(ledger, added);
    }
}

//! The data plane's way to awsvpc tasks on other hosts: each host's slices routed through that
//! host's address (`flotilla_api::routes::RouteTable`, pushed by the control plane), in this
//! process's network namespace. Slices of hosts whose address is this machine's need no route
//! (their bridge is here). Only routes this process added are changed or removed — several
//! servers may share a machine — and they carry their own `proto` so `ip route` shows whose
//! they are.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use flotilla_api::routes::RouteTable;
use tokio::process::Command;
use tokio::sync::watch;

/// The `proto` of the data plane's routes (the agents' are 77).
const PROTO: &str = "78";

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

/// Keeps this namespace's routes to other hosts' slices equal to the table's, until the table's
/// sender goes (then removes them).
pub fn follow(mut table: watch::Receiver<Arc<RouteTable>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // cidr -> via, as added by this process.
        let mut added: BTreeMap<String, Ipv4Addr> = BTreeMap::new();
        loop {
            let current = Arc::clone(&table.borrow_and_update());
            let local = local_addresses().await;
            let wanted: BTreeMap<String, Ipv4Addr> = current
                .routes
                .iter()
                .filter(|r| !local.contains(&r.via))
                .map(|r| (r.cidr.clone(), r.via))
                .collect();
            sync(&mut added, &wanted).await;
            if table.changed().await.is_err() {
                sync(&mut added, &BTreeMap::new()).await;
                return;
            }
        }
    })
}

async fn sync(added: &mut BTreeMap<String, Ipv4Addr>, wanted: &BTreeMap<String, Ipv4Addr>) {
    for (cidr, via) in wanted {
        if added.get(cidr) == Some(via) {
            continue;
        }
        let via_text = via.to_string();
        match ip_route(&["replace", cidr, "via", &via_text, "proto", PROTO]).await {
            Ok(()) => {
                added.insert(cidr.clone(), *via);
            }
            Err(error) => {
                tracing::warn!(%cidr, via = %via_text, %error, "cannot route a host's slice")
            }
        }
    }
    let gone: Vec<String> = added.keys().filter(|c| !wanted.contains_key(*c)).cloned().collect();
    for cidr in gone {
        if let Err(error) = ip_route(&["del", &cidr, "proto", PROTO]).await {
            tracing::warn!(%cidr, %error, "cannot remove the route of a host's slice");
        }
        added.remove(&cidr);
    }
}

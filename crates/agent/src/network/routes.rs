//! Routes between hosts (issue 14, item 4): every other host's slices of the region's subnets
//! (`flotilla_api::routes::RouteTable`, pushed by the server), so a task reaches a task on
//! another host by its own address, without NAT. Which slice goes how is
//! `flotilla_hostnet::plan`'s: a host on this host's segment is the next hop itself, a host on
//! another segment is reached through the VXLAN overlay (`flotilla_hostnet::overlay`, this
//! host's end `flvx0`). The end is also kept while the server or a remote data plane
//! (`RouteTable::data_planes`) is on another segment, since their load balancers and health
//! checks come to this host's tasks through it.
//! The agent's routes carry `proto 77`: whatever this namespace has with it and the table no
//! longer names is removed, also after a crash; `flvx0` goes when nothing needs it.
//! The host's FORWARD chain lets traffic from elsewhere in to this host's slices — other hosts'
//! tasks, the server's and remote data planes' load balancers and health checks, which may be
//! on another machine even when this host is the region's only one (Docker's policy drops
//! forwarded traffic; each task's own namespace enforces its security groups): one rule per
//! slice commented `flotilla-slice`, removed with the slice.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use flotilla_api::routes::RouteTable;
use flotilla_hostnet::overlay::HOST_END;
use flotilla_hostnet::{run, HostNetError};

/// The `proto` of the agents' routes.
const PROTO: &str = "77";
/// The comment of the FORWARD rules letting other hosts' traffic in to this host's slices.
const SLICE_COMMENT: &str = "flotilla-slice";

/// The agent's routes now: (cidr, via) of each `proto 77` route.
async fn current_routes() -> Result<BTreeSet<(String, Ipv4Addr)>, HostNetError> {
    let listed = run("ip", &["-4", "route", "show", "proto", PROTO]).await?;
    Ok(listed
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let via = words.iter().position(|w| *w == "via").and_then(|i| words.get(i + 1))?;
            Some((words.first()?.to_string(), via.parse().ok()?))
        })
        .collect())
}

/// The slices the FORWARD chain lets other hosts' traffic in to now.
async fn current_openings() -> Result<BTreeSet<String>, HostNetError> {
    let listed = run("iptables", &["-w", "5", "-S", "FORWARD"]).await?;
    Ok(listed
        .lines()
        .filter(|l| l.contains(SLICE_COMMENT))
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let i = words.iter().position(|w| *w == "-d")?;
            Some(words.get(i + 1)?.to_string())
        })
        .collect())
}

fn opening(cidr: &str) -> [&str; 8] {
    ["-d", cidr, "-m", "comment", "--comment", SLICE_COMMENT, "-j", "ACCEPT"]
}

/// Logs a step that failed; the others go on (one bad route must not stop the rest).
fn logged(result: Result<String, HostNetError>) {
    if let Err(error) = result {
        tracing::warn!(%error, "cannot route another host's slice");
    }
}

/// Makes this namespace's routes, overlay end and FORWARD openings what `table` asks, each
/// independently. `server` is the server's address, if known.
async fn apply(table: &RouteTable, server: Option<Ipv4Addr>) -> Result<(), HostNetError> {
    let (local, segments) = flotilla_hostnet::local_addresses().await?;
    let mut plan = flotilla_hostnet::plan::plan(table, &local, &segments);
    // Without an address of its own in the table, this host has no end of an overlay.
    if plan.address.is_none() {
        plan.overlay.clear();
    }
    // The server and the remote data planes send to this host's tasks through the overlay when
    // they are on none of its segments.
    let far = |a: &Ipv4Addr| {
        !a.is_loopback() && !local.contains(a) && !flotilla_hostnet::on_segments(*a, &segments)
    };
    let senders_are_far = server.iter().chain(&table.data_planes).any(far);
    // The end first: its routes need the device.
    match plan.address.filter(|_| !plan.overlay.is_empty() || senders_are_far) {
        Some(end) => {
            if let Err(error) = HOST_END.sync(end, &plan.overlay).await {
                tracing::warn!(%error, "cannot set up the overlay to hosts on other segments");
            }
        }
        None => HOST_END.remove().await,
    }
    let remote = plan.routes();
    let now = current_routes().await?;
    for route in &remote {
        if now.contains(&(route.cidr.clone(), route.via)) {
            continue;
        }
        let via = route.via.to_string();
        let mut args = vec!["route", "replace", route.cidr.as_str(), "via", &via, "proto", PROTO];
        if route.overlay {
            args.extend(["dev", HOST_END.device, "onlink"]);
        }
        logged(run("ip", &args).await);
    }
    for (cidr, _) in &now {
        if !remote.iter().any(|r| &r.cidr == cidr) {
            logged(run("ip", &["route", "del", cidr, "proto", PROTO]).await);
        }
    }
    // Traffic from elsewhere in to this host's slices (reachable at a routable address).
    let wanted = &plan.own;
    let open = current_openings().await?;
    for cidr in wanted.difference(&open) {
        let rule = opening(cidr);
        logged(run("iptables", &[&["-w", "5", "-I", "FORWARD", "1"][..], &rule].concat()).await);
    }
    for cidr in open.difference(wanted) {
        let rule = opening(cidr);
        logged(run("iptables", &[&["-w", "5", "-D", "FORWARD"][..], &rule].concat()).await);
    }
    Ok(())
}

/// Applies the latest table the server sent, one at a time, in a task of its own (a newer
/// table replaces one not yet applied).
#[derive(Debug)]
pub struct RouteFollower {
    latest: tokio::sync::watch::Sender<Option<std::sync::Arc<RouteTable>>>,
}

impl RouteFollower {
    /// Follows the tables set, for a host whose server is at `server` (if known).
    pub fn start(server: Option<Ipv4Addr>) -> RouteFollower {
        let (latest, mut tables) =
            tokio::sync::watch::channel::<Option<std::sync::Arc<RouteTable>>>(None);
        tokio::spawn(async move {
            while tables.changed().await.is_ok() {
                let Some(table) = tables.borrow_and_update().clone() else { continue };
                if let Err(error) = apply(&table, server).await {
                    tracing::error!(%error, "cannot route the other hosts' slices");
                }
            }
        });
        RouteFollower { latest }
    }

    pub fn set(&self, table: RouteTable) {
        self.latest.send_replace(Some(std::sync::Arc::new(table)));
    }
}

//! Routes between hosts (issue 14, item 4: hosts on one segment): every other host's slices of
//! the region's subnets through that host's address (`flotilla_api::routes::RouteTable`, pushed
//! by the server), so a task reaches a task on another host by its own address, without NAT.
//! The agent's routes carry `proto 77`: whatever this namespace has with it and the table no
//! longer names is removed, also after a crash. While other hosts exist, the host's FORWARD
//! chain lets their traffic in to this host's slices (Docker's policy drops forwarded traffic;
//! each task's own namespace enforces its security groups), one rule per slice commented
//! `flotilla-slice`, removed when no other host is left.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use flotilla_api::routes::RouteTable;
use tokio::process::Command;

/// The `proto` of the agents' routes.
const PROTO: &str = "77";
/// The comment of the FORWARD rules letting other hosts' traffic in to this host's slices.
const SLICE_COMMENT: &str = "flotilla-slice";

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("cannot run {0}: {1}")]
    Spawn(&'static str, std::io::Error),
    #[error("{command}: {stderr}")]
    Refused { command: String, stderr: String },
}

async fn run(program: &'static str, args: &[&str]) -> Result<String, RouteError> {
    let output = Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|e| RouteError::Spawn(program, e))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(RouteError::Refused {
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// This namespace's IPv4 addresses.
async fn local_addresses() -> Result<BTreeSet<Ipv4Addr>, RouteError> {
    let listed = run("ip", &["-4", "-o", "addr", "show"]).await?;
    Ok(flotilla_api::routes::addresses_in_ip_output(&listed))
}

/// What the table asks of this host: routes to the other hosts' slices (cidr, via), and this
/// host's own slices (those through one of its addresses).
fn plan(
    table: &RouteTable,
    local: &BTreeSet<Ipv4Addr>,
) -> (BTreeSet<(String, Ipv4Addr)>, BTreeSet<String>) {
    let mut remote = BTreeSet::new();
    let mut own = BTreeSet::new();
    for route in &table.routes {
        // A host that advertises loopback (or nothing) is reachable from nowhere else.
        if route.via.is_loopback() || route.via.is_unspecified() {
            continue;
        }
        if local.contains(&route.via) {
            own.insert(route.cidr.clone());
        } else {
            remote.insert((route.cidr.clone(), route.via));
        }
    }
    (remote, own)
}

/// The agent's routes now: (cidr, via) of each `proto 77` route.
async fn current_routes() -> Result<BTreeSet<(String, Ipv4Addr)>, RouteError> {
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
async fn current_openings() -> Result<BTreeSet<String>, RouteError> {
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
fn logged(result: Result<String, RouteError>) {
    if let Err(error) = result {
        tracing::warn!(%error, "cannot route another host's slice");
    }
}

/// Makes this namespace's routes and FORWARD openings what `table` asks, each independently.
async fn apply(table: &RouteTable) -> Result<(), RouteError> {
    let local = local_addresses().await?;
    let (remote, own) = plan(table, &local);
    let now = current_routes().await?;
    for (cidr, via) in remote.difference(&now) {
        let via = via.to_string();
        logged(run("ip", &["route", "replace", cidr, "via", &via, "proto", PROTO]).await);
    }
    for (cidr, _) in now.difference(&remote) {
        if !remote.iter().any(|(c, _)| c == cidr) {
            logged(run("ip", &["route", "del", cidr, "proto", PROTO]).await);
        }
    }
    // Other hosts' traffic in to this host's slices, while there are other hosts.
    let wanted: BTreeSet<String> = if remote.is_empty() { BTreeSet::new() } else { own };
    let open = current_openings().await?;
    for cidr in wanted.difference(&open) {
        let rule = opening(cidr);
        logged(run("iptables", &[&["-w", "5", "-I", "FORWARD", "1"][..], &rule].concat()).await);
    }
    for cidr in open.difference(&wanted) {
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
    pub fn start() -> RouteFollower {
        let (latest, mut tables) =
            tokio::sync::watch::channel::<Option<std::sync::Arc<RouteTable>>>(None);
        tokio::spawn(async move {
            while tables.changed().await.is_ok() {
                let Some(table) = tables.borrow_and_update().clone() else { continue };
                if let Err(error) = apply(&table).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::routes::HostRoute;

    #[test]
    fn other_hosts_slices_are_routed_and_own_ones_opened() {
        let table = RouteTable {
            routes: vec![
                HostRoute { cidr: "10.0.0.0/24".into(), via: Ipv4Addr::new(192, 168, 9, 2) },
                HostRoute { cidr: "10.0.1.0/24".into(), via: Ipv4Addr::new(192, 168, 9, 3) },
                HostRoute { cidr: "10.0.16.0/24".into(), via: Ipv4Addr::new(192, 168, 9, 2) },
            ],
        };
        let local = BTreeSet::from([Ipv4Addr::new(192, 168, 9, 2), Ipv4Addr::LOCALHOST]);
        let (remote, own) = plan(&table, &local);
        assert_eq!(
            remote,
            BTreeSet::from([("10.0.1.0/24".to_string(), Ipv4Addr::new(192, 168, 9, 3))])
        );
        assert_eq!(own, BTreeSet::from(["10.0.0.0/24".to_string(), "10.0.16.0/24".to_string()]));
    }
}

//! Routes between hosts (issue 14, item 4): every other host's slices of the region's subnets
//! (`flotilla_api::routes::RouteTable`, pushed by the server), so a task reaches a task on
//! another host by its own address, without NAT. A host on this host's segment (its address in
//! one of this namespace's networks) is the next hop itself; a host on another segment is
//! reached through a VXLAN overlay (`flvx0`, VNI 7700, UDP 4789): each host's end has a MAC
//! derived from its address (`02:00` and the address's four bytes), so no host needs to learn
//! another's; a remote slice is routed `via` its gateway `onlink` on `flvx0`, that gateway's
//! neighbour entry is the remote host's MAC, and the forwarding entry for that MAC sends the
//! frames to the remote host's address (packets cross the segments' routers as UDP).
//! The agent's routes carry `proto 77`: whatever this namespace has with it and the table no
//! longer names is removed, also after a crash; `flvx0` goes when no host is on another segment.
//! The host's FORWARD chain lets traffic from elsewhere in to this host's slices — other hosts'
//! tasks, the server's and remote data planes' load balancers and health checks, which may be
//! on another machine even when this host is the region's only one (Docker's policy drops
//! forwarded traffic; each task's own namespace enforces its security groups): one rule per
//! slice commented `flotilla-slice`, removed with the slice.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use flotilla_api::cidr::Cidr;
use flotilla_api::routes::RouteTable;
use tokio::process::Command;

/// The `proto` of the agents' routes.
const PROTO: &str = "77";
/// The overlay's device, VNI and UDP port.
const OVERLAY: &str = "flvx0";
const OVERLAY_VNI: &str = "7700";
const OVERLAY_PORT: &str = "4789";
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

/// This namespace's IPv4 addresses, and the networks they are in (`ip -4 -o addr show`).
async fn local_addresses() -> Result<(BTreeSet<Ipv4Addr>, Vec<Cidr>), RouteError> {
    let listed = run("ip", &["-4", "-o", "addr", "show"]).await?;
    use flotilla_api::routes::{addresses_in_ip_output, networks_in_ip_output};
    Ok((addresses_in_ip_output(&listed), networks_in_ip_output(&listed)))
}

/// What the table asks of this host.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    /// Slices of hosts on this host's segment: (cidr, that host's address as next hop).
    direct: BTreeSet<(String, Ipv4Addr)>,
    /// Slices of hosts on other segments: (cidr, that host's address), through the overlay.
    overlay: BTreeSet<(String, Ipv4Addr)>,
    /// This host's own slices (those through one of its addresses).
    own: BTreeSet<String>,
    /// This host's address in the table (its end of the overlay).
    address: Option<Ipv4Addr>,
}

impl Plan {
    /// Every route this host wants: (cidr, next hop, through the overlay).
    fn routes(&self) -> BTreeSet<(String, Ipv4Addr)> {
        let overlay =
            self.overlay.iter().filter_map(|(cidr, _)| Some((cidr.clone(), gateway(cidr)?)));
        self.direct.iter().cloned().chain(overlay).collect()
    }
}

fn plan(table: &RouteTable, local: &BTreeSet<Ipv4Addr>, segments: &[Cidr]) -> Plan {
    let mut plan = Plan::default();
    for route in &table.routes {
        // A host that advertises loopback (or nothing) is reachable from nowhere else.
        if route.via.is_loopback() || route.via.is_unspecified() {
            continue;
        }
        if local.contains(&route.via) {
            plan.own.insert(route.cidr.clone());
            plan.address = Some(route.via);
        } else if Cidr::parse(&format!("{}/32", route.via))
            .is_ok_and(|host| segments.iter().any(|s| s.contains(host)))
        {
            plan.direct.insert((route.cidr.clone(), route.via));
        } else {
            plan.overlay.insert((route.cidr.clone(), route.via));
        }
    }
    // Without an address of its own in the table, this host has no end of an overlay.
    if plan.address.is_none() {
        plan.overlay.clear();
    }
    plan
}

/// A slice's gateway: its first address (the bridge's on the host holding it).
fn gateway(cidr: &str) -> Option<Ipv4Addr> {
    let network: Ipv4Addr = cidr.split('/').next()?.parse().ok()?;
    Some(Ipv4Addr::from(u32::from(network) + 1))
}

/// The overlay MAC of the host at `address`: locally administered, `02:00` and its four bytes.
fn overlay_mac(address: Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("02:00:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
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

/// Makes this namespace's routes, overlay and FORWARD openings what `table` asks, each
/// independently.
async fn apply(table: &RouteTable) -> Result<(), RouteError> {
    let (local, segments) = local_addresses().await?;
    let plan = plan(table, &local, &segments);
    // The overlay first: its routes need the device.
    if let Err(error) = overlay(&plan).await {
        tracing::warn!(%error, "cannot set up the overlay to hosts on other segments");
    }
    let remote = plan.routes();
    let through_overlay: BTreeSet<&String> = plan.overlay.iter().map(|(cidr, _)| cidr).collect();
    let now = current_routes().await?;
    for (cidr, via) in remote.difference(&now) {
        let via = via.to_string();
        let mut args = vec!["route", "replace", cidr.as_str(), "via", &via, "proto", PROTO];
        if through_overlay.contains(cidr) {
            args.extend(["dev", OVERLAY, "onlink"]);
        }
        logged(run("ip", &args).await);
    }
    for (cidr, _) in now.difference(&remote) {
        if !remote.iter().any(|(c, _)| c == cidr) {
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

/// Makes `flvx0` what `plan` asks: absent without hosts on other segments, else up with this
/// host's MAC, a forwarding entry per remote host and a neighbour entry per remote slice's
/// gateway (stale ones removed).
async fn overlay(plan: &Plan) -> Result<(), RouteError> {
    let exists = run("ip", &["link", "show", OVERLAY]).await.is_ok();
    let Some(address) = plan.address.filter(|_| !plan.overlay.is_empty()) else {
        if exists {
            run("ip", &["link", "del", OVERLAY]).await?;
        }
        return Ok(());
    };
    let local = address.to_string();
    if !exists {
        run(
            "ip",
            &[
                "link",
                "add",
                OVERLAY,
                "type",
                "vxlan",
                "id",
                OVERLAY_VNI,
                "local",
                &local,
                "dstport",
                OVERLAY_PORT,
                "nolearning",
            ],
        )
        .await?;
    }
    run("ip", &["link", "set", OVERLAY, "address", &overlay_mac(address), "up"]).await?;
    let peers: BTreeSet<Ipv4Addr> = plan.overlay.iter().map(|(_, host)| *host).collect();
    let forwarding = run("bridge", &["fdb", "show", "dev", OVERLAY]).await?;
    for line in forwarding.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let dst = words.iter().position(|w| *w == "dst").and_then(|i| words.get(i + 1));
        let stale = dst.and_then(|d| d.parse().ok()).is_some_and(|d| !peers.contains(&d));
        if let (true, Some(mac)) = (stale, words.first()) {
            logged(
                run("bridge", &["fdb", "del", mac, "dev", OVERLAY, "dst", dst.unwrap_or(&"")])
                    .await,
            );
        }
    }
    for peer in &peers {
        let (mac, peer) = (overlay_mac(*peer), peer.to_string());
        logged(
            run(
                "bridge",
                &["fdb", "replace", &mac, "dev", OVERLAY, "dst", &peer, "self", "permanent"],
            )
            .await,
        );
    }
    let gateways: BTreeSet<(Ipv4Addr, Ipv4Addr)> =
        plan.overlay.iter().filter_map(|(cidr, host)| Some((gateway(cidr)?, *host))).collect();
    let neighbours = run("ip", &["neigh", "show", "dev", OVERLAY]).await?;
    for line in neighbours.lines() {
        let Some(ip) = line.split_whitespace().next().and_then(|w| w.parse::<Ipv4Addr>().ok())
        else {
            continue;
        };
        if !gateways.iter().any(|(g, _)| *g == ip) {
            logged(run("ip", &["neigh", "del", &ip.to_string(), "dev", OVERLAY]).await);
        }
    }
    for (gateway, host) in &gateways {
        let (gateway, mac) = (gateway.to_string(), overlay_mac(*host));
        logged(
            run(
                "ip",
                &["neigh", "replace", &gateway, "lladdr", &mac, "dev", OVERLAY, "nud", "permanent"],
            )
            .await,
        );
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
    use flotilla_api::routes::{networks_in_ip_output, HostRoute};

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
        let segments =
            networks_in_ip_output("2: eth0    inet 192.168.9.2/24 brd x scope global eth0");
        let plan = plan(&table, &local, &segments);
        assert_eq!(
            plan.direct,
            BTreeSet::from([("10.0.1.0/24".to_string(), Ipv4Addr::new(192, 168, 9, 3))])
        );
        assert!(plan.overlay.is_empty());
        assert_eq!(
            plan.own,
            BTreeSet::from(["10.0.0.0/24".to_string(), "10.0.16.0/24".to_string()])
        );
    }

    #[test]
    fn hosts_on_other_segments_go_through_the_overlay() {
        let table = RouteTable {
            routes: vec![
                HostRoute { cidr: "10.0.0.0/24".into(), via: Ipv4Addr::new(192, 168, 9, 2) },
                HostRoute { cidr: "10.0.1.0/24".into(), via: Ipv4Addr::new(192, 168, 9, 3) },
                HostRoute { cidr: "10.0.2.0/24".into(), via: Ipv4Addr::new(172, 30, 0, 7) },
            ],
        };
        let local = BTreeSet::from([Ipv4Addr::new(192, 168, 9, 2)]);
        let segments = networks_in_ip_output(
            "1: lo inet 127.0.0.1/8 scope host lo\n2: eth0 inet 192.168.9.2/24 scope global eth0",
        );
        let plan = plan(&table, &local, &segments);
        let far = Ipv4Addr::new(172, 30, 0, 7);
        assert_eq!(plan.overlay, BTreeSet::from([("10.0.2.0/24".to_string(), far)]));
        assert_eq!(plan.address, Some(Ipv4Addr::new(192, 168, 9, 2)));
        // The far slice's next hop is its gateway, on the overlay.
        assert!(plan.routes().contains(&("10.0.2.0/24".to_string(), Ipv4Addr::new(10, 0, 2, 1))));
        assert_eq!(overlay_mac(far), "02:00:ac:1e:00:07");
        // A host with no slice of its own has no end of an overlay.
        let stranger = plan_without_address(&table, &segments);
        assert!(stranger.overlay.is_empty() && stranger.address.is_none());
    }

    fn plan_without_address(table: &RouteTable, segments: &[Cidr]) -> Plan {
        plan(table, &BTreeSet::from([Ipv4Addr::new(192, 168, 9, 9)]), segments)
    }
}

//! Which of the region's task slices this namespace reaches how, from the route table: slices
//! of hosts whose address is this namespace's own need nothing (their bridges are here), a
//! host on one of this namespace's segments is the next hop itself, and a host on another
//! segment is reached through the overlay — its slice routed `via` the slice's gateway (its
//! first address) `onlink` on the overlay device, whose neighbour entry for that gateway is
//! the host's overlay MAC (`overlay_mac`: derived from its address, so nothing is learnt).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use flotilla_api::cidr::Cidr;
use flotilla_api::routes::RouteTable;

/// What the table asks of this namespace.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Slices of hosts on this namespace's segments: (cidr, that host's address as next hop).
    pub direct: BTreeSet<(String, Ipv4Addr)>,
    /// Slices of hosts on other segments: (cidr, that host's address), through the overlay.
    pub overlay: BTreeSet<(String, Ipv4Addr)>,
    /// This namespace's own slices (those through one of its addresses).
    pub own: BTreeSet<String>,
    /// This namespace's address in the table, if it holds slices (a host's end of the overlay).
    pub address: Option<Ipv4Addr>,
}

/// One route: a slice through its next hop, on the overlay device or not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub cidr: String,
    pub via: Ipv4Addr,
    pub overlay: bool,
}

impl Plan {
    /// Every route this namespace wants: direct slices through their hosts, overlay slices
    /// through their gateways.
    pub fn routes(&self) -> BTreeSet<Route> {
        let direct = self.direct.iter().map(|(cidr, via)| Route {
            cidr: cidr.clone(),
            via: *via,
            overlay: false,
        });
        let overlay = self.overlay.iter().filter_map(|(cidr, _)| {
            Some(Route { cidr: cidr.clone(), via: gateway(cidr)?, overlay: true })
        });
        direct.chain(overlay).collect()
    }

    /// The hosts reached through the overlay.
    pub fn overlay_hosts(&self) -> BTreeSet<Ipv4Addr> {
        self.overlay.iter().map(|(_, host)| *host).collect()
    }
}

/// The plan of a namespace with addresses `local` in networks `segments`.
pub fn plan(table: &RouteTable, local: &BTreeSet<Ipv4Addr>, segments: &[Cidr]) -> Plan {
    let mut plan = Plan::default();
    for route in &table.routes {
        // A host that advertises loopback (or nothing) is reachable from nowhere else.
        if route.via.is_loopback() || route.via.is_unspecified() {
            continue;
        }
        if local.contains(&route.via) {
            plan.own.insert(route.cidr.clone());
            plan.address = Some(route.via);
        } else if crate::on_segments(route.via, segments) {
            plan.direct.insert((route.cidr.clone(), route.via));
        } else {
            plan.overlay.insert((route.cidr.clone(), route.via));
        }
    }
    plan
}

/// A slice's gateway: its first address (the bridge's on the host holding it).
pub fn gateway(cidr: &str) -> Option<Ipv4Addr> {
    let network: Ipv4Addr = cidr.split('/').next()?.parse().ok()?;
    Some(Ipv4Addr::from(u32::from(network) + 1))
}

/// The overlay MAC of the machine at `address`: locally administered, `02:00` and its four
/// bytes.
pub fn overlay_mac(address: Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("02:00:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::routes::{networks_in_ip_output, HostRoute};

    #[test]
    fn other_hosts_slices_are_routed_and_own_ones_kept() {
        let table = RouteTable {
            routes: vec![
                HostRoute { cidr: "10.0.0.0/24".into(), via: Ipv4Addr::new(192, 168, 9, 2) },
                HostRoute { cidr: "10.0.1.0/24".into(), via: Ipv4Addr::new(192, 168, 9, 3) },
                HostRoute { cidr: "10.0.16.0/24".into(), via: Ipv4Addr::new(192, 168, 9, 2) },
                HostRoute { cidr: "10.0.5.0/24".into(), via: Ipv4Addr::LOCALHOST },
            ],
            ..RouteTable::default()
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
        assert_eq!(plan.address, Some(Ipv4Addr::new(192, 168, 9, 2)));
    }

    #[test]
    fn hosts_on_other_segments_go_through_the_overlay() {
        let table = RouteTable {
            routes: vec![
                HostRoute { cidr: "10.0.0.0/24".into(), via: Ipv4Addr::new(192, 168, 9, 2) },
                HostRoute { cidr: "10.0.1.0/24".into(), via: Ipv4Addr::new(192, 168, 9, 3) },
                HostRoute { cidr: "10.0.2.0/24".into(), via: Ipv4Addr::new(172, 30, 0, 7) },
            ],
            ..RouteTable::default()
        };
        let local = BTreeSet::from([Ipv4Addr::new(192, 168, 9, 2)]);
        let segments = networks_in_ip_output(
            "1: lo inet 127.0.0.1/8 scope host lo\n2: eth0 inet 192.168.9.2/24 scope global eth0",
        );
        let plan = plan(&table, &local, &segments);
        let far = Ipv4Addr::new(172, 30, 0, 7);
        assert_eq!(plan.overlay, BTreeSet::from([("10.0.2.0/24".to_string(), far)]));
        assert_eq!(plan.overlay_hosts(), BTreeSet::from([far]));
        // The far slice's next hop is its gateway, on the overlay.
        let far_route =
            Route { cidr: "10.0.2.0/24".into(), via: Ipv4Addr::new(10, 0, 2, 1), overlay: true };
        assert!(plan.routes().contains(&far_route));
        assert_eq!(overlay_mac(far), "02:00:ac:1e:00:07");
        // A namespace with no slice of its own (a data plane) still sees the far slice.
        let data_plane =
            super::plan(&table, &BTreeSet::from([Ipv4Addr::new(192, 168, 9, 9)]), &segments);
        assert!(data_plane.address.is_none() && data_plane.routes().contains(&far_route));
    }
}

//! The region's routes to tasks (`ServerMessage::Routes`): each host's slice of each subnet and
//! the address that host is reached at. Every agent (and the server, where the load balancers
//! and the DNS server run) routes the slices of the other hosts through them, so a task's
//! address is reachable from every host of the region without NAT between tasks.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Every host's slices, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTable {
    pub routes: Vec<HostRoute>,
    /// The addresses of the remote data planes (`flotilla lb`) connected now, which reach
    /// tasks from them: a host that has none of them on its segments keeps its end of the
    /// overlay for their packets.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub data_planes: BTreeSet<Ipv4Addr>,
}

/// The IPv4 addresses in the output of `ip -4 -o addr show` (the agents and the server read
/// their own machine's addresses with it: a route through one of them needs none).
pub fn addresses_in_ip_output(output: &str) -> BTreeSet<Ipv4Addr> {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect()
}

/// The networks of the addresses in `ip -4 -o addr show` output (`192.168.9.2/24` is in
/// 192.168.9.0/24), loopback left out.
pub fn networks_in_ip_output(output: &str) -> Vec<crate::cidr::Cidr> {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet")?;
            let (address, prefix) = words.next()?.split_once('/')?;
            let address: Ipv4Addr = address.parse().ok()?;
            let prefix: u8 = prefix.parse().ok()?;
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            let network = Ipv4Addr::from(u32::from(address) & mask);
            (!address.is_loopback())
                .then(|| crate::cidr::Cidr::parse(&format!("{network}/{prefix}")).ok())?
        })
        .collect()
}

/// One host's slice of one subnet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostRoute {
    /// The slice, `10.0.1.0/24`.
    pub cidr: String,
    /// The host's address (its agent's `--advertise-address`).
    pub via: Ipv4Addr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_from_ip_addr_output() {
        let output = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n\
                      2: eth0    inet 192.168.9.2/24 brd 192.168.9.255 scope global eth0\n\
                      3: eth1    inet6 fe80::1/64 scope link\n";
        assert_eq!(
            addresses_in_ip_output(output),
            BTreeSet::from([Ipv4Addr::LOCALHOST, Ipv4Addr::new(192, 168, 9, 2)])
        );
    }
}

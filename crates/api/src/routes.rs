//! The region's routes to tasks (`ServerMessage::Routes`): each host's slice of each subnet and
//! the address that host is reached at. Every agent (and the server, where the load balancers
//! and the DNS server run) routes the slices of the other hosts through them, so a task's
//! address is reachable from every host of the region without NAT between tasks.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Every host's slices, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTable {
    pub routes: Vec<HostRoute>,
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

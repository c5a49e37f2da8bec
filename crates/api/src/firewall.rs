//! The region's security groups as agents enforce them (`ServerMessage::Firewall`): each
//! group's ingress and egress permissions, and who is in each group (the addresses of the
//! awsvpc tasks that carry it). An agent turns the table into each of its awsvpc tasks'
//! firewall; the server sends the whole table after registration and again on every change
//! (a rule authorized or revoked, a task given an address or stopped).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Everything agents need to enforce the region's security groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirewallTable {
    /// group id -> its permissions.
    pub groups: BTreeMap<String, GroupRules>,
    /// group id -> the addresses of the tasks in it.
    pub members: BTreeMap<String, BTreeSet<Ipv4Addr>>,
    /// The groups of the region's load balancers: traffic from the load balancers' data plane
    /// counts as coming from these groups.
    pub load_balancer_groups: BTreeSet<String>,
    /// The addresses the data plane's machine connects to tasks on other hosts from (the
    /// server's own, loopback aside): members of every load balancer's group.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub data_plane_addresses: BTreeSet<Ipv4Addr>,
}

/// A security group's permissions. A task may receive what one of its groups' ingress
/// permissions allows and send what one of their egress permissions allows; replies to
/// allowed connections always pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRules {
    pub ingress: Vec<Permission>,
    pub egress: Vec<Permission>,
}

/// One permission: a protocol, its ports and the peer (the source of ingress, the destination
/// of egress).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    pub protocol: Protocol,
    pub peer: Peer,
}

/// What a permission lets through, as EC2 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Protocol {
    /// `-1`: every protocol and port.
    All,
    /// A port range, inclusive.
    Tcp {
        from: u16,
        to: u16,
    },
    Udp {
        from: u16,
        to: u16,
    },
    /// An ICMP type and code (`None`: any).
    Icmp {
        icmp_type: Option<u8>,
        code: Option<u8>,
    },
    /// Another IP protocol, by number (ports do not apply).
    Number {
        number: u8,
    },
}

impl Protocol {
    /// EC2's protocol and its `FromPort`/`ToPort` (ICMP: type and code), or `None` when they
    /// do not describe a permission (a port out of range, an unknown protocol name).
    pub fn from_ec2(protocol: &str, from: i32, to: i32) -> Option<Protocol> {
        let port = |p: i32| u16::try_from(p).ok();
        let icmp = |v: i32| if v < 0 { Some(None) } else { u8::try_from(v).ok().map(Some) };
        Some(match protocol {
            "-1" => Protocol::All,
            "tcp" | "6" => Protocol::Tcp { from: port(from)?, to: port(to)? },
            "udp" | "17" => Protocol::Udp { from: port(from)?, to: port(to)? },
            "icmp" | "1" => Protocol::Icmp { icmp_type: icmp(from)?, code: icmp(to)? },
            other => Protocol::Number { number: other.parse().ok()? },
        })
    }
}

/// The other end of a permission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum Peer {
    /// An IPv4 CIDR block.
    Cidr(String),
    /// The members of a security group.
    Group(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_protocols_become_permissions() {
        assert_eq!(Protocol::from_ec2("-1", -1, -1), Some(Protocol::All));
        assert_eq!(Protocol::from_ec2("tcp", 80, 443), Some(Protocol::Tcp { from: 80, to: 443 }));
        assert_eq!(Protocol::from_ec2("udp", 53, 53), Some(Protocol::Udp { from: 53, to: 53 }));
        assert_eq!(
            Protocol::from_ec2("icmp", 8, -1),
            Some(Protocol::Icmp { icmp_type: Some(8), code: None })
        );
        assert_eq!(Protocol::from_ec2("47", -1, -1), Some(Protocol::Number { number: 47 }));
        assert_eq!(Protocol::from_ec2("tcp", -1, 80), None);
        assert_eq!(Protocol::from_ec2("bogus", 0, 0), None);
    }
}

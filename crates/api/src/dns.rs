//! The region's DNS table, as the server pushes it to every agent (`ServerMessage::Dns`): the
//! names Cloud Map's private DNS namespaces give to registered instances and the names of the
//! load balancers. An agent's DNS server answers these and forwards every other name.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Everything the region's DNS answers itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsTable {
    /// Zones answered with authority (private DNS namespaces, lowercase, no trailing dot): a
    /// name under one of them that has no record set is answered NXDOMAIN, never forwarded.
    pub zones: Vec<String>,
    pub record_sets: Vec<RecordSet>,
}

/// The records of one name and type, already filtered by health (Route 53 answers only healthy
/// records, and all of them when none is healthy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordSet {
    /// Lowercase, no trailing dot: `web.prod.local`.
    pub name: String,
    pub ttl: u32,
    pub routing: Routing,
    pub data: RecordData,
}

/// How many of a record set's records one answer carries (Cloud Map's `RoutingPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Routing {
    /// Up to 8 records, drawn at random for each answer.
    Multivalue,
    /// One record, drawn at random for each answer (every instance weighs the same).
    Weighted,
}

impl Routing {
    /// The most records one answer carries.
    pub fn answer_limit(self) -> usize {
        match self {
            Routing::Multivalue => 8,
            Routing::Weighted => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", content = "records")]
pub enum RecordData {
    A(Vec<Ipv4Addr>),
    Srv(Vec<SrvRecord>),
}

impl RecordData {
    pub fn len(&self) -> usize {
        match self {
            RecordData::A(records) => records.len(),
            RecordData::Srv(records) => records.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// Lowercase, no trailing dot.
    pub target: String,
}

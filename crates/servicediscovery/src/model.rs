//! Cloud Map's records: namespaces, services with their instances, operations and tags.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every record of a region's Cloud Map.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    /// By id (`ns-...`).
    pub namespaces: BTreeMap<String, Namespace>,
    /// By id (`srv-...`).
    pub services: BTreeMap<String, Service>,
    /// By id.
    pub operations: BTreeMap<String, Operation>,
    /// Resource ARN -> its tags.
    pub tags: BTreeMap<String, BTreeMap<String, String>>,
}

/// What a namespace resolves names with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NamespaceType {
    DnsPrivate,
    Http,
}

impl NamespaceType {
    pub fn as_str(self) -> &'static str {
        match self {
            NamespaceType::DnsPrivate => "DNS_PRIVATE",
            NamespaceType::Http => "HTTP",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub kind: NamespaceType,
    pub description: Option<String>,
    /// A private DNS namespace's VPC.
    pub vpc: Option<String>,
    pub created: f64,
    pub creator_request_id: Option<String>,
    /// The operation that created it (a repeat with the same request id answers it).
    pub operation_id: String,
}

/// A service's DNS records (answered by the DNS server once it exists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dns {
    pub routing_policy: String,
    /// (type, TTL): `A` and/or `SRV`.
    pub records: Vec<(String, i64)>,
}

impl Dns {
    pub fn has(&self, kind: &str) -> bool {
        self.records.iter().any(|(t, _)| t == kind)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub namespace_id: String,
    pub description: Option<String>,
    pub dns: Option<Dns>,
    /// `HealthCheckCustomConfig`: instances' health is what UpdateInstanceCustomHealthStatus says.
    pub custom_health: bool,
    /// `HTTP` (discoverable by API only) when asked for.
    pub http_only: bool,
    pub created: f64,
    pub creator_request_id: Option<String>,
    pub instances: BTreeMap<String, Instance>,
    /// Bumped at every change of its instances (DiscoverInstances' `InstancesRevision`).
    pub revision: i64,
}

/// An instance's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    Healthy,
    Unhealthy,
    /// The service has no health checks.
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "HEALTHY",
            Health::Unhealthy => "UNHEALTHY",
            Health::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    pub attributes: BTreeMap<String, String>,
    pub creator_request_id: Option<String>,
    pub health: Health,
}

/// A finished operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    /// `CREATE_NAMESPACE`, `DELETE_NAMESPACE`, `REGISTER_INSTANCE`, `DEREGISTER_INSTANCE`.
    pub kind: String,
    pub at: f64,
    /// `NAMESPACE`/`SERVICE`/`INSTANCE` -> id.
    pub targets: BTreeMap<String, String>,
}

/// A fresh id: `prefix` and 16 lowercase letters and digits, as Cloud Map's.
pub fn new_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &hex[..16])
}

//! The task metadata endpoint v4's JSON, as ECS's agent writes it (PascalCase members, times in
//! RFC 3339, the task's revision as a string).

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskMetadata {
    pub cluster: String,
    #[serde(rename = "TaskARN")]
    pub task_arn: String,
    pub family: String,
    pub revision: String,
    pub desired_status: String,
    pub known_status: String,
    pub containers: Vec<ContainerMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<TaskLimits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_stopped_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_stopped_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    pub launch_type: String,
}

/// Task-level limits: CPU in vCPUs, memory in MiB.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskLimits {
    #[serde(rename = "CPU", skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerMetadata {
    pub docker_id: String,
    pub name: String,
    pub docker_name: String,
    pub image: String,
    #[serde(rename = "ImageID", skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub desired_status: String,
    pub known_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Container-level limits: CPU units, memory in MiB.
    pub limits: ContainerLimits,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_options: Option<BTreeMap<String, String>>,
    pub networks: Vec<NetworkMetadata>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMetadata>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerLimits {
    #[serde(rename = "CPU")]
    pub cpu: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthMetadata {
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkMetadata {
    #[serde(rename = "NetworkMode")]
    pub network_mode: String,
    #[serde(rename = "IPv4Addresses", skip_serializing_if = "Vec::is_empty")]
    pub ipv4_addresses: Vec<String>,
    /// An awsvpc task's interface, as ECS's agent describes it.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub interface: Option<InterfaceMetadata>,
}

/// The fields ECS's agent adds to an awsvpc task's network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterfaceMetadata {
    #[serde(rename = "AttachmentIndex")]
    pub attachment_index: u32,
    #[serde(rename = "MACAddress")]
    pub mac_address: String,
    #[serde(rename = "IPv4SubnetCIDRBlock")]
    pub ipv4_subnet_cidr_block: String,
    #[serde(rename = "PrivateDNSName")]
    pub private_dns_name: String,
    /// The gateway with the prefix length, as ECS writes it (`10.0.3.1/24`).
    #[serde(rename = "SubnetGatewayIpv4Address")]
    pub subnet_gateway_ipv4_address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortMetadata {
    pub container_port: i32,
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

/// Epoch seconds as RFC 3339 with nanoseconds, as ECS's agent writes times.
pub fn rfc3339(epoch_seconds: f64) -> Option<String> {
    let nanos = (epoch_seconds * 1e9).round() as i128;
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
    at.format(&time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0.0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339(1_700_000_000.5).as_deref(), Some("2023-11-14T22:13:20.5Z"));
    }
}

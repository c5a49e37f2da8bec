//! Container instances (the machines agents run on) as the store keeps them.

use serde::{Deserialize, Serialize};

use crate::common::Tag;
use crate::taskdef::Attribute;

/// One entry of `registeredResources` / `remainingResources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub double_value: f64,
    pub long_value: i64,
    pub integer_value: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_set_value: Option<Vec<String>>,
}

impl Resource {
    pub fn integer(name: &str, value: i32) -> Self {
        Resource {
            name: name.into(),
            resource_type: "INTEGER".into(),
            integer_value: value,
            ..Resource::default()
        }
    }

    pub fn string_set(name: &str, values: Vec<String>) -> Self {
        Resource {
            name: name.into(),
            resource_type: "STRINGSET".into(),
            string_set_value: Some(values),
            ..Resource::default()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInstance {
    pub container_instance_arn: String,
    pub ec2_instance_id: String,
    /// The address its agent announces: where load balancers reach its tasks' host ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise_address: Option<String>,
    /// The capacity provider whose group its agent joined; worked out when described.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_name: Option<String>,
    pub version: i64,
    pub version_info: VersionInfo,
    pub remaining_resources: Vec<Resource>,
    pub registered_resources: Vec<Resource>,
    pub status: crate::status::InstanceStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub agent_connected: bool,
    pub running_tasks_count: i32,
    pub pending_tasks_count: i32,
    pub attributes: Vec<Attribute>,
    pub registered_at: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

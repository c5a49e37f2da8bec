//! The stored cluster and the rules for its settings.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{KeyValuePair, Tag};
use crate::error::ApiError;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSetting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderStrategyItem {
    pub capacity_provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<i32>,
}

/// A cluster as DescribeClusters returns it. Counts and statistics are filled in on the way out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub cluster_arn: String,
    pub cluster_name: String,
    /// Kept as the client gave it: it only configures features (ECS Exec, managed storage)
    /// that Flotilla stores and returns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Value>,
    pub status: crate::status::ClusterStatus,
    pub registered_container_instances_count: i32,
    pub running_tasks_count: i32,
    pub pending_tasks_count: i32,
    pub active_services_count: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistics: Option<Vec<KeyValuePair>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<Vec<ClusterSetting>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_providers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_connect_defaults: Option<Value>,
}

/// The `include` values DescribeClusters accepts.
pub const CLUSTER_FIELDS: &[&str] =
    &["ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"];

/// Cluster settings: only `containerInsights` exists, with these values.
pub fn validate_cluster_settings(settings: &[ClusterSetting]) -> Result<(), ApiError> {
    let mut problems = Vec::new();
    for setting in settings {
        match setting.name.as_deref() {
            Some("containerInsights") => {}
            other => problems.push(format!(
                "invalid cluster setting name '{}': the only setting is containerInsights",
                other.unwrap_or("")
            )),
        }
        match setting.value.as_deref() {
            Some("enabled" | "disabled" | "enhanced") => {}
            other => problems.push(format!(
                "invalid containerInsights value '{}': expected enabled, disabled or enhanced",
                other.unwrap_or("")
            )),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(problems.join("; ")))
    }
}

/// Merges `updates` into `current` by name, as UpdateClusterSettings does.
pub fn merge_settings(current: &mut Vec<ClusterSetting>, updates: &[ClusterSetting]) {
    for update in updates {
        match current.iter_mut().find(|s| s.name == update.name) {
            Some(existing) => existing.value.clone_from(&update.value),
            None => current.push(update.clone()),
        }
    }
}

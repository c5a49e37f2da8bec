//! Services and their deployments as the store keeps them.

use serde::{Deserialize, Serialize};

use crate::common::Tag;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_circuit_breaker: Option<DeploymentCircuitBreaker>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_percent: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_healthy_percent: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    pub status: crate::status::DeploymentStatus,
    pub task_definition: String,
    pub desired_count: i32,
    pub pending_count: i32,
    pub running_count: i32,
    pub failed_tasks: i32,
    pub created_at: f64,
    pub updated_at: f64,
    pub launch_type: String,
    /// How its tasks are shared by capacity providers (empty: its launch type decides).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<crate::cluster::CapacityProviderStrategyItem>,
    /// Fargate only: the platform version asked for (LATEST or 1.4.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    pub rollout_state: crate::status::RolloutState,
    pub rollout_state_reason: String,
    /// The awsvpc configuration its tasks get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<AwsVpcConfig>,
}

impl Deployment {
    /// Whether its tasks run on the Fargate capacity (launch type FARGATE, or a strategy of
    /// FARGATE/FARGATE_SPOT).
    pub fn runs_on_fargate(&self) -> bool {
        crate::capacity::runs_on_fargate(Some(&self.launch_type), &self.capacity_provider_strategy)
    }
}

/// A checked `awsvpcConfiguration`, as a service, deployment or task set keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsVpcConfig {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// ENABLED or DISABLED.
    pub assign_public_ip: String,
}

impl TaskSet {
    /// Whether its tasks run on the Fargate capacity.
    pub fn runs_on_fargate(&self) -> bool {
        let strategy = self.capacity_provider_strategy.as_deref().unwrap_or_default();
        crate::capacity::runs_on_fargate(self.launch_type.as_deref(), strategy)
    }
}

impl Service {
    /// Whether its new tasks run on the Fargate capacity (its strategy, else its launch type).
    pub fn runs_on_fargate(&self) -> bool {
        crate::capacity::runs_on_fargate(Some(&self.launch_type), &self.capacity_provider_strategy)
    }
}

/// How much of the service's desired count a task set runs: a percentage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scale {
    pub value: f64,
    pub unit: String,
}

/// A set of a service's tasks run from one task definition, created and scaled by an outside
/// deployment tool (the EXTERNAL deployment controller), as DescribeTaskSets answers it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSet {
    pub id: String,
    pub task_set_arn: String,
    pub service_arn: String,
    pub cluster_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub status: crate::status::TaskSetStatus,
    pub task_definition: String,
    pub computed_desired_count: i32,
    pub pending_count: i32,
    pub running_count: i32,
    pub created_at: f64,
    pub updated_at: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_provider_strategy: Option<Vec<crate::cluster::CapacityProviderStrategyItem>>,
    /// Fargate only: the platform version asked for (LATEST or 1.4.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    pub scale: Scale,
    pub stability_status: crate::status::StabilityStatus,
    pub stability_status_at: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// The target groups its tasks register with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// The registry its tasks register in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_registries: Vec<ServiceRegistryEntry>,
    /// The awsvpc configuration its tasks get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<AwsVpcConfig>,
}

impl TaskSet {
    /// Its share of a service's desired count: `scale` percent, rounded up (as ECS rounds).
    pub fn computed_desired(&self, service_desired: i32, draining: bool) -> i32 {
        if draining {
            return 0;
        }
        let wanted = (f64::from(service_desired.max(0)) * self.scale.value / 100.0).ceil();
        wanted.clamp(0.0, f64::from(i32::MAX)) as i32
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementConstraint {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub constraint_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementStrategy {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub strategy_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEvent {
    pub id: String,
    pub created_at: f64,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub service_arn: String,
    /// The target groups its tasks are registered in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// The Cloud Map services its tasks are registered in (at most one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_registries: Vec<ServiceRegistryEntry>,
    pub service_name: String,
    pub cluster_arn: String,
    pub status: crate::status::ServiceStatus,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub launch_type: String,
    pub task_definition: String,
    pub deployment_configuration: DeploymentConfiguration,
    pub deployments: Vec<Deployment>,
    pub events: Vec<ServiceEvent>,
    pub created_at: f64,
    pub placement_constraints: Vec<PlacementConstraint>,
    pub placement_strategy: Vec<PlacementStrategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<i32>,
    /// REPLICA or DAEMON.
    pub scheduling_strategy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    pub created_by: String,
    /// Whose tags the service's tasks get.
    #[serde(default)]
    pub propagate_tags: PropagateTags,
    /// Tasks get `aws:ecs:clusterName` and `aws:ecs:serviceName`.
    #[serde(default, rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: bool,
    /// How its tasks are shared by capacity providers (empty: the EC2 launch type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<crate::cluster::CapacityProviderStrategyItem>,
    /// Fargate only: the platform version asked for (LATEST or 1.4.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    /// ECS deploys it, or an outside tool through task sets (EXTERNAL).
    #[serde(default)]
    pub deployment_controller: crate::status::DeploymentControllerType,
    /// EXTERNAL only: its task sets (DRAINING ones until their tasks are gone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_sets: Vec<TaskSet>,
    /// The awsvpc configuration of its tasks (the primary deployment's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<AwsVpcConfig>,
}

/// A `loadBalancers` entry of a service: the container port a target group reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLoadBalancer {
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: i32,
}

/// A `serviceRegistries` entry of a service: the Cloud Map service its tasks register in, and
/// the container port an SRV record names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRegistryEntry {
    pub registry_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i32>,
    /// awsvpc with an SRV record: the port the record gives, instead of a container's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

/// Whose tags a task gets besides its own: `propagateTags`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PropagateTags {
    #[default]
    #[serde(rename = "NONE")]
    None,
    #[serde(rename = "TASK_DEFINITION")]
    TaskDefinition,
    #[serde(rename = "SERVICE")]
    Service,
}

impl PropagateTags {
    pub fn parse(text: &str) -> Option<PropagateTags> {
        match text {
            "NONE" => Some(PropagateTags::None),
            "TASK_DEFINITION" => Some(PropagateTags::TaskDefinition),
            "SERVICE" => Some(PropagateTags::Service),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PropagateTags::None => "NONE",
            PropagateTags::TaskDefinition => "TASK_DEFINITION",
            PropagateTags::Service => "SERVICE",
        }
    }
}

/// The tags a new task carries: its own, then (where they do not name the same key) those
/// propagated from its task definition or service, then ECS's managed tags.
pub fn task_tags(own: &[Tag], propagated: &[Tag], managed: &[(&str, &str)]) -> Vec<Tag> {
    let mut tags = own.to_vec();
    for tag in propagated {
        if !tags.iter().any(|t| t.key == tag.key) {
            tags.push(tag.clone());
        }
    }
    for (key, value) in managed {
        tags.retain(|t| t.key.as_deref() != Some(key));
        tags.push(Tag { key: Some(key.to_string()), value: Some(value.to_string()) });
    }
    tags
}

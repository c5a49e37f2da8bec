//! A service's deployments: new ids and new PRIMARY deployments, for UpdateService and the
//! controller's rollbacks.

use flotilla_api::service::{Deployment, Service};
use flotilla_api::status::{DeploymentStatus, RolloutState};

/// A new deployment id like ECS's `ecs-svc/1234567890123456789`.
pub fn new_deployment_id() -> String {
    let n = u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap_or([7; 8]));
    format!("ecs-svc/{:019}", n % 10_000_000_000_000_000_000)
}

pub fn new_deployment(id: String, task_definition: &str, desired: i32, now: f64) -> Deployment {
    Deployment {
        rollout_state_reason: format!("ECS deployment {id} in progress."),
        id,
        status: DeploymentStatus::Primary,
        task_definition: task_definition.to_string(),
        desired_count: desired,
        created_at: now,
        updated_at: now,
        launch_type: "EC2".into(),
        rollout_state: RolloutState::InProgress,
        ..Deployment::default()
    }
}

/// A new deployment of `task_definition` that runs as `service` says now: its network
/// configuration, launch type, capacity provider strategy and platform version.
pub fn service_deployment(
    service: &Service,
    id: String,
    task_definition: &str,
    now: f64,
) -> Deployment {
    Deployment {
        network_configuration: service.network_configuration.clone(),
        launch_type: service.launch_type.clone(),
        capacity_provider_strategy: service.capacity_provider_strategy.clone(),
        platform_version: service.platform_version.clone(),
        ..new_deployment(id, task_definition, service.desired_count, now)
    }
}

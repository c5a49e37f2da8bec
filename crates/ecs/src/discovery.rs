//! Services with `serviceRegistries`: what ECS needs of Cloud Map ([`ServiceRegistry`], a trait
//! ECS owns and the server wires to Cloud Map), and the step (run beside load balancing's) that keeps each registry's
//! instances the service's running, healthy tasks — a task is registered (its id, its
//! instance's address and host port, ECS's attributes) once RUNNING and healthy, and
//! deregistered as it stops (the controller holds SIGTERM back a moment for that). An awsvpc
//! task registers its own address and container port.

use flotilla_api::service::ServiceRegistryEntry;
use flotilla_api::status::{HealthStatus, TaskStatus};
use std::collections::BTreeMap;

use crate::registrations::where_flag;
use crate::state::{ServiceRecord, State, TaskRecord};
use crate::{App, BoxFuture};

/// A Cloud Map service as ECS checks a `serviceRegistries` entry against it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryInfo {
    pub namespace_id: String,
    /// Whether its DNS records include A (which needs an address of the task's own: awsvpc).
    pub a_record: bool,
    /// Whether its DNS records include SRV (which needs a port).
    pub srv_record: bool,
}

/// An instance to register: (registry ARN, instance id, attributes).
pub type Registration = (String, String, BTreeMap<String, String>);

/// What ECS needs of Cloud Map.
pub trait ServiceRegistry: Send + Sync {
    fn registry(&self, arn: &str) -> Option<RegistryInfo>;
    /// Whether a namespace (id, ARN or name) exists.
    fn namespace_exists(&self, reference: &str) -> bool;
    /// Which of (registry ARN, instance id) are registered now.
    fn registered(&self, instances: &[(String, String)]) -> Vec<bool>;
    fn sync(
        &self,
        register: Vec<Registration>,
        deregister: Vec<(String, String)>,
    ) -> BoxFuture<'_, Result<(), String>>;
}

/// No Cloud Map (tests).
pub struct NoServiceRegistry;

impl ServiceRegistry for NoServiceRegistry {
    fn registry(&self, _arn: &str) -> Option<RegistryInfo> {
        None
    }

    fn namespace_exists(&self, _reference: &str) -> bool {
        false
    }

    fn registered(&self, instances: &[(String, String)]) -> Vec<bool> {
        vec![false; instances.len()]
    }

    fn sync(
        &self,
        _: Vec<Registration>,
        _: Vec<(String, String)>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// Whether a task should be discoverable now: running, not stopping, healthy if it has checks.
fn should_register(task: &TaskRecord) -> bool {
    task.task.last_status == TaskStatus::Running
        && task.task.desired_status == TaskStatus::Running
        && task.deregistering_until.is_none()
        && task
            .task
            .health_status
            .is_none_or(|h| h == HealthStatus::Healthy || h == HealthStatus::Unknown)
}

/// The instance a task registers as: its id, its instance's address and zone, the host port of
/// the entry's container port, and ECS's attributes.
fn registration(
    state: &State,
    service: &ServiceRecord,
    task: &TaskRecord,
    entry: &ServiceRegistryEntry,
) -> Option<Registration> {
    let instance = state.instance_of(task)?;
    // An awsvpc task is registered at its own address (A records), once wired; others at
    // their instance's.
    let own_address = task.task.interface.as_ref().map(|i| i.ipv4_address.clone());
    let address = match own_address {
        Some(address) => address?,
        None => instance.instance.advertise_address.clone()?,
    };
    let mut attributes = BTreeMap::from([
        ("AWS_INSTANCE_IPV4".to_string(), address),
        ("ECS_CLUSTER_NAME".to_string(), task.cluster.clone()),
        ("ECS_SERVICE_NAME".to_string(), service.name.clone()),
    ]);
    if let Some(family) =
        task.task.task_definition_arn.rsplit('/').next().and_then(|f| f.split(':').next())
    {
        attributes.insert("ECS_TASK_DEFINITION_FAMILY".into(), family.to_string());
    }
    let zone = instance.instance.attributes.iter().find(|a| a.name == "ecs.availability-zone");
    if let Some(zone) = zone.and_then(|a| a.value.clone()) {
        attributes.insert("AVAILABILITY_ZONE".into(), zone);
    }
    if let (Some(name), Some(port)) = (&entry.container_name, entry.container_port) {
        let container = task.task.containers.iter().find(|c| &c.name == name)?;
        // An awsvpc task listens on the container port of its own address.
        let port = if task.task.interface.is_some() {
            port
        } else {
            container
                .network_bindings
                .iter()
                .find_map(|b| (b.container_port == Some(port)).then_some(b.host_port).flatten())?
        };
        attributes.insert("AWS_INSTANCE_PORT".into(), port.to_string());
    } else if let Some(port) = entry.port.filter(|_| task.task.interface.is_some()) {
        // awsvpc: the port the registry entry gives, on the task's own address.
        attributes.insert("AWS_INSTANCE_PORT".into(), port.to_string());
    }
    Some((entry.registry_arn.clone(), task.id.clone(), attributes))
}

/// The registrations the tasks want: (register, deregister).
fn plan(app: &App) -> (Vec<Registration>, Vec<(String, String)>) {
    let state = app.state.read();
    let (mut register, mut deregister) = (Vec::new(), Vec::new());
    for service in state.services.values().filter(|s| s.has_registries()) {
        for task in crate::registrations::service_tasks(&state, service) {
            for entry in service.registries_of(task) {
                if should_register(task) {
                    register.extend(registration(&state, service, task, entry));
                } else {
                    deregister.push((entry.registry_arn.clone(), task.id.clone()));
                }
            }
        }
    }
    drop(state);
    let keys: Vec<(String, String)> =
        register.iter().map(|(a, i, _)| (a.clone(), i.clone())).collect();
    let registered = app.service_registry.registered(&keys);
    let register = where_flag(register, registered, false);
    let registered = app.service_registry.registered(&deregister);
    (register, where_flag(deregister, registered, true))
}

/// Brings service registries in step with the services' running, healthy tasks (one pass;
/// `crate::spawn` runs it beside the target groups').
pub(crate) async fn step(app: &App) {
    let (register, deregister) = plan(app);
    if register.is_empty() && deregister.is_empty() {
        return;
    }
    if let Err(error) = app.service_registry.sync(register, deregister).await {
        tracing::warn!(%error, "cannot update the service registries of services");
    }
}

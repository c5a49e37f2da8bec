//! A service's or a task set's `loadBalancers` and `serviceRegistries`: read from a request,
//! checked as ECS checks them against the task definition and what ELBv2 and Cloud Map hold,
//! and answered.

use flotilla_api::service::{ServiceLoadBalancer, ServiceRegistryEntry};
use flotilla_api::taskdef::TaskDefinition;
use flotilla_api::ApiError;

use crate::wire;

/// ECS's limit of target groups per service.
const MAX_LOAD_BALANCERS: usize = 5;

/// A request's `loadBalancers`, each naming a target group, a container and its port.
pub(crate) fn load_balancers_from_wire(
    list: Vec<wire::LoadBalancer>,
) -> Result<Vec<ServiceLoadBalancer>, ApiError> {
    if list.len() > MAX_LOAD_BALANCERS {
        return Err(ApiError::invalid(format!(
            "A service can have at most {MAX_LOAD_BALANCERS} load balancers (target groups), not {}",
            list.len()
        )));
    }
    // `loadBalancerName` (Classic Load Balancers) and `advancedConfiguration` are refused by
    // the field ledger before this runs.
    let entries: Vec<ServiceLoadBalancer> = list
        .into_iter()
        .map(|lb| {
            let target_group_arn = lb.target_group_arn.ok_or_else(|| {
                ApiError::invalid("Each loadBalancers entry must name a targetGroupArn")
            })?;
            let container_name = lb.container_name.ok_or_else(|| {
                ApiError::invalid("Each loadBalancers entry must name a containerName")
            })?;
            let container_port = lb.container_port.ok_or_else(|| {
                ApiError::invalid("Each loadBalancers entry must give a containerPort")
            })?;
            Ok(ServiceLoadBalancer { target_group_arn, container_name, container_port })
        })
        .collect::<Result<_, ApiError>>()?;
    for (i, entry) in entries.iter().enumerate() {
        if entries[..i].contains(entry) {
            return Err(ApiError::invalid(format!(
                "The target group {} is given twice for container {} port {}",
                entry.target_group_arn, entry.container_name, entry.container_port
            )));
        }
    }
    Ok(entries)
}

/// A request's `serviceRegistries`: at most one, as ECS allows.
pub(crate) fn registries_from_wire(
    list: Vec<wire::ServiceRegistry>,
) -> Result<Vec<ServiceRegistryEntry>, ApiError> {
    if list.len() > 1 {
        return Err(ApiError::invalid("A service can have only one service registry"));
    }
    list.into_iter()
        .map(|r| {
            let registry_arn = r.registry_arn.ok_or_else(|| {
                ApiError::invalid("Each serviceRegistries entry must name a registryArn")
            })?;
            if r.container_name.is_some() != r.container_port.is_some() {
                return Err(ApiError::invalid(
                    "containerName and containerPort of a service registry go together",
                ));
            }
            if r.port.is_some() && r.container_name.is_some() {
                return Err(ApiError::invalid(
                    "A service registry takes either containerName and containerPort or port, \
                     not both.",
                ));
            }
            if r.port.is_some_and(|p| !(1..=65535).contains(&p)) {
                return Err(ApiError::invalid("serviceRegistries port must be 1 to 65535"));
            }
            Ok(ServiceRegistryEntry {
                registry_arn,
                container_name: r.container_name,
                container_port: r.container_port,
                port: r.port,
            })
        })
        .collect()
}

/// `serviceRegistries` checked as ECS checks them: the Cloud Map service exists; bridge and
/// host tasks have no address of their own, so their registry needs an SRV record (not A
/// alone), and an SRV record needs the container and port it names, which the container maps.
pub(crate) fn check_registries(
    entries: &[ServiceRegistryEntry],
    definition: &TaskDefinition,
    registry: &dyn crate::discovery::ServiceRegistry,
) -> Result<(), ApiError> {
    let mode = definition.network_mode.as_deref().unwrap_or("bridge");
    for entry in entries {
        let arn = &entry.registry_arn;
        let info = registry.registry(arn).ok_or_else(|| {
            ApiError::invalid(format!("The service registry {arn} does not exist."))
        })?;
        if mode != "awsvpc" && info.a_record && !info.srv_record {
            return Err(ApiError::invalid(format!(
                "The service registry {arn} has an A record, which needs the awsvpc network mode; with the {mode} network mode use an SRV record."
            )));
        }
        if entry.port.is_some() && mode != "awsvpc" {
            return Err(ApiError::invalid(format!(
                "The service registry {arn} takes port only with the awsvpc network mode; with the {mode} network mode give containerName and containerPort."
            )));
        }
        if info.srv_record {
            // awsvpc: the record may give a port of its own.
            if entry.port.is_some() {
                continue;
            }
            let (Some(name), Some(port)) = (&entry.container_name, entry.container_port) else {
                return Err(ApiError::invalid(format!(
                    "The service registry {arn} has an SRV record: give containerName and containerPort{}.",
                    if mode == "awsvpc" { ", or port" } else { "" }
                )));
            };
            let maps = definition.container(name).is_some_and(|c| {
                c.port_mappings.iter().flatten().any(|m| m.container_port == Some(port))
            });
            if !maps {
                return Err(ApiError::invalid(format!(
                    "The container {name} did not have a container port {port} defined."
                )));
            }
        }
    }
    Ok(())
}

/// `loadBalancers` checked as ECS checks them: each target group exists and a load balancer
/// forwards to it, its target type suits the task definition's network mode, and the container
/// maps the port.
pub(crate) fn check_load_balancers(
    entries: &[ServiceLoadBalancer],
    definition: &TaskDefinition,
    load_balancing: &dyn crate::load_balancing::LoadBalancing,
) -> Result<(), ApiError> {
    let mode = definition.network_mode.as_deref().unwrap_or("bridge");
    for entry in entries {
        let arn = &entry.target_group_arn;
        let group = load_balancing.target_group(arn).ok_or_else(|| {
            ApiError::invalid(format!("The target group with targetGroupArn {arn} does not exist."))
        })?;
        if !group.has_load_balancer {
            return Err(ApiError::invalid(format!(
                "The target group with targetGroupArn {arn} does not have an associated load balancer."
            )));
        }
        let wanted = if mode == "awsvpc" { "ip" } else { "instance" };
        if group.target_type != wanted {
            return Err(ApiError::invalid(format!(
                "The provided target group {arn} has target type {}, which is incompatible with the {mode} network mode specified in the task definition.",
                group.target_type
            )));
        }
        let maps_port = definition.container(&entry.container_name).is_some_and(|c| {
            c.port_mappings.iter().flatten().any(|m| m.container_port == Some(entry.container_port))
        });
        if !maps_port {
            return Err(ApiError::invalid(format!(
                "The container {} did not have a container port {} defined.",
                entry.container_name, entry.container_port
            )));
        }
    }
    Ok(())
}

/// `loadBalancers` as the API answers them (services and task sets).
pub(crate) fn load_balancers_to_wire(entries: &[ServiceLoadBalancer]) -> Vec<wire::LoadBalancer> {
    entries
        .iter()
        .map(|lb| wire::LoadBalancer {
            target_group_arn: Some(lb.target_group_arn.clone()),
            container_name: Some(lb.container_name.clone()),
            container_port: Some(lb.container_port),
            ..Default::default()
        })
        .collect()
}

/// `serviceRegistries` as the API answers them (services and task sets).
pub(crate) fn registries_to_wire(entries: &[ServiceRegistryEntry]) -> Vec<wire::ServiceRegistry> {
    entries
        .iter()
        .map(|r| wire::ServiceRegistry {
            registry_arn: Some(r.registry_arn.clone()),
            container_name: r.container_name.clone(),
            container_port: r.container_port,
            port: r.port,
        })
        .collect()
}

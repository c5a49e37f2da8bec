//! Instances: Register (the attributes a service's DNS records need checked), Deregister,
//! List, Get, DiscoverInstances (query and optional parameters, health filters) and custom
//! health.

use std::collections::BTreeMap;

use flotilla_api::{ApiError, ErrorCode};

use crate::handlers::{namespace_not_found, operation, service_not_found};
use crate::model::{Health, Instance, Service};
use crate::{invalid, page, wire, App};

/// Cloud Map's limit of attributes per instance.
const MAX_ATTRIBUTES: usize = 30;

fn instance_not_found() -> ApiError {
    ApiError::new(ErrorCode::InstanceNotFound, "No instance exists with the specified ID.")
}

/// The attributes a service's DNS records need: an IPv4 address for A, and a port for SRV.
pub(crate) fn check_attributes(
    service: &Service,
    attributes: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!("An instance can have at most {MAX_ATTRIBUTES} attributes")));
    }
    for (key, value) in attributes {
        if key.is_empty() || key.len() > 255 || value.len() > 1024 {
            return Err(invalid(format!("The attribute '{key}' is too long or empty")));
        }
    }
    if let Some(ip) = attributes.get("AWS_INSTANCE_IPV4") {
        if ip.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(invalid(format!("AWS_INSTANCE_IPV4 '{ip}' is not an IPv4 address")));
        }
    }
    if let Some(port) = attributes.get("AWS_INSTANCE_PORT") {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(invalid(format!("AWS_INSTANCE_PORT '{port}' is not a port")));
        }
    }
    if let Some(dns) = &service.dns {
        if (dns.has("A") || dns.has("SRV")) && !attributes.contains_key("AWS_INSTANCE_IPV4") {
            return Err(invalid(
                "The service's A or SRV record needs the attribute AWS_INSTANCE_IPV4",
            ));
        }
        if dns.has("SRV") && !attributes.contains_key("AWS_INSTANCE_PORT") {
            return Err(invalid("The service's SRV record needs the attribute AWS_INSTANCE_PORT"));
        }
    }
    Ok(())
}

pub async fn register(
    app: &App,
    input: wire::RegisterInstanceRequest,
    now: f64,
) -> Result<wire::RegisterInstanceResponse, ApiError> {
    if input.instance_id.is_empty() || input.instance_id.len() > 64 {
        return Err(invalid("InstanceId must be 1 to 64 characters"));
    }
    let operation_id = app
        .change(|state| {
            let service =
                state.services.get_mut(&input.service_id).ok_or_else(service_not_found)?;
            check_attributes(service, &input.attributes)?;
            let health = match service.instances.get(&input.instance_id) {
                Some(existing) => existing.health,
                None if service.custom_health => Health::Healthy,
                None => Health::Unknown,
            };
            service.instances.insert(
                input.instance_id.clone(),
                Instance {
                    id: input.instance_id.clone(),
                    attributes: input.attributes.clone(),
                    creator_request_id: input.creator_request_id.clone(),
                    health,
                },
            );
            service.revision += 1;
            let id = service.id.clone();
            Ok(operation(
                state,
                "REGISTER_INSTANCE",
                now,
                &[("SERVICE", &id), ("INSTANCE", &input.instance_id)],
            ))
        })
        .await?;
    Ok(wire::RegisterInstanceResponse { operation_id: Some(operation_id) })
}

pub async fn deregister(
    app: &App,
    input: wire::DeregisterInstanceRequest,
    now: f64,
) -> Result<wire::DeregisterInstanceResponse, ApiError> {
    let operation_id = app
        .change(|state| {
            let service =
                state.services.get_mut(&input.service_id).ok_or_else(service_not_found)?;
            service.instances.remove(&input.instance_id).ok_or_else(instance_not_found)?;
            service.revision += 1;
            let id = service.id.clone();
            Ok(operation(
                state,
                "DEREGISTER_INSTANCE",
                now,
                &[("SERVICE", &id), ("INSTANCE", &input.instance_id)],
            ))
        })
        .await?;
    Ok(wire::DeregisterInstanceResponse { operation_id: Some(operation_id) })
}

pub fn list(
    app: &App,
    input: wire::ListInstancesRequest,
) -> Result<wire::ListInstancesResponse, ApiError> {
    let state = app.records.snapshot();
    let service = state.services.get(&input.service_id).ok_or_else(service_not_found)?;
    let all: Vec<&Instance> = service.instances.values().collect();
    let (items, next) = page(&all, input.next_token.as_deref(), input.max_results, 100)?;
    Ok(wire::ListInstancesResponse {
        resource_owner: Some(app.scope.account_id.clone()),
        instances: Some(
            items
                .iter()
                .map(|i| wire::InstanceSummary {
                    id: Some(i.id.clone()),
                    attributes: Some(i.attributes.clone()),
                    created_by_account: Some(app.scope.account_id.clone()),
                })
                .collect(),
        ),
        next_token: next,
    })
}

pub fn get(
    app: &App,
    input: wire::GetInstanceRequest,
) -> Result<wire::GetInstanceResponse, ApiError> {
    let state = app.records.snapshot();
    let service = state.services.get(&input.service_id).ok_or_else(service_not_found)?;
    let instance = service.instances.get(&input.instance_id).ok_or_else(instance_not_found)?;
    Ok(wire::GetInstanceResponse {
        resource_owner: Some(app.scope.account_id.clone()),
        instance: Some(wire::Instance {
            id: instance.id.clone(),
            creator_request_id: instance.creator_request_id.clone(),
            attributes: Some(instance.attributes.clone()),
            created_by_account: Some(app.scope.account_id.clone()),
        }),
    })
}

pub fn discover(
    app: &App,
    input: wire::DiscoverInstancesRequest,
) -> Result<wire::DiscoverInstancesResponse, ApiError> {
    if input.owner_account.as_ref().is_some_and(|a| *a != app.scope.account_id) {
        return Err(namespace_not_found());
    }
    let state = app.records.snapshot();
    let namespace = state
        .namespaces
        .values()
        .find(|n| {
            n.name == input.namespace_name || n.name == input.namespace_name.trim_end_matches('.')
        })
        .ok_or_else(namespace_not_found)?;
    let service = state
        .services
        .values()
        .find(|s| s.namespace_id == namespace.id && s.name == input.service_name)
        .ok_or_else(service_not_found)?;
    let max = match input.max_results {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => return Err(invalid(format!("MaxResults must be between 1 and 1000, not {n}"))),
    };
    let query = input.query_parameters.unwrap_or_default();
    let matching: Vec<&Instance> = service
        .instances
        .values()
        .filter(|i| query.iter().all(|(k, v)| i.attributes.get(k) == Some(v)))
        .collect();
    // An instance of a service without health checks counts as healthy.
    let healthy = |i: &&Instance| i.health != Health::Unhealthy;
    let mut found: Vec<&Instance> = match input.health_status.as_deref().unwrap_or("HEALTHY") {
        "HEALTHY" => matching.into_iter().filter(healthy).collect(),
        "UNHEALTHY" => matching.into_iter().filter(|i| i.health == Health::Unhealthy).collect(),
        "HEALTHY_OR_ELSE_ALL" => {
            let some: Vec<&Instance> = matching.iter().copied().filter(healthy).collect();
            if some.is_empty() {
                matching
            } else {
                some
            }
        }
        _ => matching,
    };
    if let Some(optional) = input.optional_parameters.filter(|o| !o.is_empty()) {
        let preferred: Vec<&Instance> = found
            .iter()
            .copied()
            .filter(|i| optional.iter().all(|(k, v)| i.attributes.get(k) == Some(v)))
            .collect();
        if !preferred.is_empty() {
            found = preferred;
        }
    }
    found.truncate(max);
    Ok(wire::DiscoverInstancesResponse {
        instances: Some(
            found
                .iter()
                .map(|i| wire::HttpInstanceSummary {
                    instance_id: Some(i.id.clone()),
                    namespace_name: Some(namespace.name.clone()),
                    service_name: Some(service.name.clone()),
                    health_status: Some(i.health.as_str().into()),
                    attributes: Some(i.attributes.clone()),
                })
                .collect(),
        ),
        instances_revision: Some(service.revision),
    })
}

pub fn health_status(
    app: &App,
    input: wire::GetInstancesHealthStatusRequest,
) -> Result<wire::GetInstancesHealthStatusResponse, ApiError> {
    let state = app.records.snapshot();
    let service = state.services.get(&input.service_id).ok_or_else(service_not_found)?;
    let wanted: Vec<&Instance> = match &input.instances {
        Some(ids) if !ids.is_empty() => ids
            .iter()
            .map(|id| service.instances.get(id).ok_or_else(instance_not_found))
            .collect::<Result<_, _>>()?,
        _ => service.instances.values().collect(),
    };
    let (items, next) = page(&wanted, input.next_token.as_deref(), input.max_results, 100)?;
    Ok(wire::GetInstancesHealthStatusResponse {
        status: Some(items.iter().map(|i| (i.id.clone(), i.health.as_str().to_string())).collect()),
        next_token: next,
    })
}

pub async fn update_health(
    app: &App,
    input: wire::UpdateInstanceCustomHealthStatusRequest,
) -> Result<(), ApiError> {
    let health = match input.status.as_str() {
        "HEALTHY" => Health::Healthy,
        "UNHEALTHY" => Health::Unhealthy,
        other => return Err(invalid(format!("Status must be HEALTHY or UNHEALTHY, not {other}"))),
    };
    app.change(|state| {
        let service = state.services.get_mut(&input.service_id).ok_or_else(service_not_found)?;
        if !service.custom_health {
            return Err(ApiError::new(
                ErrorCode::CustomHealthNotFound,
                "The service has no custom health check configuration (HealthCheckCustomConfig)",
            ));
        }
        let instance =
            service.instances.get_mut(&input.instance_id).ok_or_else(instance_not_found)?;
        if instance.health != health {
            instance.health = health;
            service.revision += 1;
        }
        Ok(())
    })
    .await
}

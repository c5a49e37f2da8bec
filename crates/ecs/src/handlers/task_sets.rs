//! CreateTaskSet, UpdateTaskSet, DeleteTaskSet, DescribeTaskSets, UpdateServicePrimaryTaskSet:
//! the EXTERNAL deployment controller. An outside tool deploys a service by creating task sets
//! (each a task definition and a `scale` percent of the service's desired count) and moving
//! the PRIMARY mark; the service controller runs each set's tasks (`reconcile_external`).

use flotilla_api::arn::id_from;
use flotilla_api::capacity::runs_on_fargate;
use flotilla_api::cluster::CapacityProviderStrategyItem;
use flotilla_api::common::{decode, validate_tags, Tag};
use flotilla_api::service::{Scale, TaskSet};
use flotilla_api::status::{
    DeploymentControllerType, ServiceStatus, StabilityStatus, TaskSetStatus,
};
use flotilla_api::{ApiError, ErrorCode, Failure};

use super::{respond, Ctx};
use crate::convert::{
    failures_to_wire, into_domain, strategy_to_wire, tags_from_wire, tags_if_any,
};
use crate::domain::active_cluster;
use crate::domain::capacity::launch_strategy;
use crate::domain::deployments::new_deployment_id;
use crate::domain::tasks::{
    checked_platform_version, resolve_definition_as, TASK_DEFINITION_NOT_FOUND,
};
use crate::state::{service_key, Record, ServiceRecord, Staged};
use crate::wire;

/// A task set as the API answers it (tags only when asked for).
pub fn answered(set: &TaskSet, with_tags: bool) -> wire::TaskSet {
    wire::TaskSet {
        id: Some(set.id.clone()),
        task_set_arn: Some(set.task_set_arn.clone()),
        service_arn: Some(set.service_arn.clone()),
        cluster_arn: Some(set.cluster_arn.clone()),
        started_by: set.started_by.clone(),
        external_id: set.external_id.clone(),
        status: Some(set.status.to_string()),
        task_definition: Some(set.task_definition.clone()),
        computed_desired_count: Some(set.computed_desired_count),
        pending_count: Some(set.pending_count),
        running_count: Some(set.running_count),
        created_at: Some(set.created_at),
        updated_at: Some(set.updated_at),
        launch_type: set.launch_type.clone(),
        capacity_provider_strategy: set.capacity_provider_strategy.as_deref().map(strategy_to_wire),
        platform_version: set.platform_version.clone(),
        platform_family: set.platform_version.as_ref().map(|_| "Linux".to_string()),
        network_configuration: set.network_configuration.as_ref().map(crate::vpc::to_wire),
        load_balancers: Some(super::targets::load_balancers_to_wire(&set.load_balancers)),
        service_registries: Some(super::targets::registries_to_wire(&set.service_registries)),
        scale: Some(wire::Scale {
            value: Some(set.scale.value),
            unit: Some(set.scale.unit.clone()),
        }),
        stability_status: Some(set.stability_status.to_string()),
        stability_status_at: Some(set.stability_status_at),
        tags: if with_tags { tags_if_any(set.tags.as_deref()) } else { None },
        fargate_ephemeral_storage: None,
    }
}

/// `scale` as ECS takes it: a percentage from 0 to 100 (default: 100).
fn scale_from_wire(scale: Option<wire::Scale>) -> Result<Scale, ApiError> {
    let scale = scale.unwrap_or_default();
    if let Some(unit) = scale.unit.as_deref().filter(|u| *u != "PERCENT") {
        return Err(ApiError::invalid(format!("scale.unit must be PERCENT, not {unit}")));
    }
    let value = scale.value.unwrap_or(100.0);
    if !(0.0..=100.0).contains(&value) || value.is_nan() {
        return Err(ApiError::invalid(format!("scale.value ({value}) must be between 0 and 100")));
    }
    Ok(Scale { value, unit: "PERCENT".into() })
}

/// The EXTERNAL service a task set request names: ServiceNotFound, then ServiceNotActive, then
/// not EXTERNAL, in ECS's order.
fn external_service(
    staged: &Staged<'_>,
    cluster: &str,
    service: &str,
) -> Result<ServiceRecord, ApiError> {
    let cluster = active_cluster(staged, Some(cluster))?;
    let record = match staged.get(&service_key(&cluster.cluster_name, id_from(service))) {
        Some(Record::Service(record)) => *record,
        _ => return Err(ApiError::new(ErrorCode::ServiceNotFoundException, "Service not found.")),
    };
    if record.service.status != ServiceStatus::Active {
        return Err(ApiError::new(ErrorCode::ServiceNotActiveException, "Service was not ACTIVE."));
    }
    if record.service.deployment_controller != DeploymentControllerType::External {
        return Err(ApiError::invalid(
            "Task sets are only supported for services using the EXTERNAL deployment controller.",
        ));
    }
    Ok(record)
}

/// The task set a reference (id or ARN) names among the service's.
fn set_index(record: &ServiceRecord, reference: &str) -> Result<usize, ApiError> {
    let id = reference.rsplit_once('/').map_or(reference, |(_, id)| id);
    record
        .service
        .task_sets
        .iter()
        .position(|s| {
            s.id == reference || s.id.ends_with(&format!("/{id}")) || s.task_set_arn == reference
        })
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::TaskSetNotFoundException,
                "The specified task set does not exist.",
            )
        })
}

pub async fn create(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::CreateTaskSetRequest {
        service,
        cluster,
        external_id,
        task_definition,
        network_configuration,
        load_balancers,
        service_registries,
        launch_type,
        capacity_provider_strategy,
        platform_version,
        scale,
        client_token,
        tags,
    } = decode(body)?;
    let scale = scale_from_wire(scale)?;
    let load_balancers =
        super::targets::load_balancers_from_wire(load_balancers.unwrap_or_default())?;
    let service_registries =
        super::targets::registries_from_wire(service_registries.unwrap_or_default())?;
    let load_balancing = std::sync::Arc::clone(&ctx.app.load_balancing);
    let service_registry = std::sync::Arc::clone(&ctx.app.service_registry);
    let tags: Vec<Tag> = tags_from_wire(tags);
    validate_tags(&tags)?;
    if client_token.as_ref().is_some_and(|t| t.is_empty() || t.len() > 36 || !t.is_ascii()) {
        return Err(ApiError::invalid("clientToken must be 1 to 36 ASCII characters"));
    }
    let requested: Vec<CapacityProviderStrategyItem> = capacity_provider_strategy
        .map(|s| into_domain("capacityProviderStrategy", &s))
        .transpose()?
        .unwrap_or_default();
    let network = crate::vpc::from_wire(network_configuration);
    let vpc = crate::vpc::view_if_given(ctx.app, &network).await?;
    let id = new_deployment_id();
    let now = ctx.now;
    let scope = ctx.app.scope.clone();
    let created = ctx
        .app
        .state
        .write(move |staged| {
            let mut record = external_service(staged, &cluster, &service)?;
            // A retry with the same clientToken gets the task set it made.
            if let Some(token) = &client_token {
                if let Some(id) = record.task_set_tokens.get(token) {
                    if let Ok(n) = set_index(&record, id) {
                        return Ok(record.service.task_sets[n].clone());
                    }
                }
            }
            let definition =
                resolve_definition_as(staged.state(), &task_definition, TASK_DEFINITION_NOT_FOUND)?;
            let cluster = active_cluster(staged, Some(&record.cluster))?;
            let strategy = launch_strategy(&cluster, &requested, launch_type.is_some())?;
            // Its tasks run on the Fargate capacity by launch type or by strategy.
            let fargate = runs_on_fargate(launch_type.as_deref(), &strategy);
            let platform_version = checked_platform_version(platform_version, fargate)?;
            if fargate {
                super::tasks::check_fargate_definition(&definition)?;
            }
            let mode = definition.network_mode.as_deref().unwrap_or("bridge");
            let network = crate::vpc::check(mode, network, &vpc, fargate)?;
            super::targets::check_load_balancers(
                &load_balancers,
                &definition,
                load_balancing.as_ref(),
            )?;
            super::targets::check_registries(
                &service_registries,
                &definition,
                service_registry.as_ref(),
            )?;
            let set = TaskSet {
                task_set_arn: scope.task_set(&record.cluster, &record.name, &id),
                id: id.clone(),
                service_arn: record.service.service_arn.clone(),
                cluster_arn: record.service.cluster_arn.clone(),
                started_by: None,
                external_id,
                status: TaskSetStatus::Active,
                task_definition: definition.task_definition_arn,
                computed_desired_count: 0,
                pending_count: 0,
                running_count: 0,
                created_at: now,
                updated_at: now,
                launch_type: if strategy.is_empty() {
                    Some(launch_type.unwrap_or_else(|| "EC2".into()))
                } else {
                    None
                },
                capacity_provider_strategy: (!strategy.is_empty()).then_some(strategy),
                platform_version,
                scale,
                stability_status: StabilityStatus::Stabilizing,
                stability_status_at: now,
                tags: Some(tags),
                load_balancers,
                service_registries,
                network_configuration: network,
            };
            let desired = record.service.desired_count;
            let mut set = set;
            set.computed_desired_count = set.computed_desired(desired, false);
            record.service.task_sets.push(set.clone());
            if let Some(token) = client_token {
                record.task_set_tokens.insert(token, id);
            }
            staged.put(Record::Service(Box::new(record)));
            Ok(set)
        })
        .await?;
    respond(&wire::CreateTaskSetResponse { task_set: Some(answered(&created, true)) })
}

pub async fn update(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::UpdateTaskSetRequest { cluster, service, task_set, scale } = decode(body)?;
    let scale = scale_from_wire(Some(scale))?;
    let now = ctx.now;
    let updated = change_set(ctx, cluster, service, task_set, move |record, n| {
        let desired = record.service.desired_count;
        let set = &mut record.service.task_sets[n];
        if set.status == TaskSetStatus::Draining {
            return Err(ApiError::invalid("The task set is being deleted and cannot be scaled."));
        }
        set.scale = scale;
        set.computed_desired_count = set.computed_desired(desired, false);
        set.updated_at = now;
        Ok(set.clone())
    })
    .await?;
    respond(&wire::UpdateTaskSetResponse { task_set: Some(answered(&updated, true)) })
}

pub async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DeleteTaskSetRequest { cluster, service, task_set, force } = decode(body)?;
    let force = force.unwrap_or(false);
    let now = ctx.now;
    let deleted = change_set(ctx, cluster, service, task_set, move |record, n| {
        let set = &mut record.service.task_sets[n];
        if !force && set.scale.value > 0.0 && set.running_count + set.pending_count > 0 {
            return Err(ApiError::invalid(
                "The task set cannot be deleted until it is scaled down to zero; use force to \
                 delete it anyway.",
            ));
        }
        set.status = TaskSetStatus::Draining;
        set.computed_desired_count = 0;
        set.updated_at = now;
        Ok(set.clone())
    })
    .await?;
    respond(&wire::DeleteTaskSetResponse { task_set: Some(answered(&deleted, true)) })
}

pub async fn update_primary(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::UpdateServicePrimaryTaskSetRequest { cluster, service, primary_task_set } =
        decode(body)?;
    let now = ctx.now;
    let primary = change_set(ctx, cluster, service, primary_task_set, move |record, n| {
        if record.service.task_sets[n].status == TaskSetStatus::Draining {
            return Err(ApiError::invalid("A task set being deleted cannot become the primary."));
        }
        for (i, set) in record.service.task_sets.iter_mut().enumerate() {
            if i == n {
                set.status = TaskSetStatus::Primary;
                set.updated_at = now;
            } else if set.status == TaskSetStatus::Primary {
                set.status = TaskSetStatus::Active;
                set.updated_at = now;
            }
        }
        // The primary task set's definition is the service's, as on ECS.
        let set = record.service.task_sets[n].clone();
        record.service.task_definition = set.task_definition.clone();
        Ok(set)
    })
    .await?;
    respond(&wire::UpdateServicePrimaryTaskSetResponse { task_set: Some(answered(&primary, true)) })
}

/// Applies `change` to task set `reference` of the EXTERNAL service and stores the service.
async fn change_set(
    ctx: &Ctx<'_>,
    cluster: String,
    service: String,
    reference: String,
    change: impl FnOnce(&mut ServiceRecord, usize) -> Result<TaskSet, ApiError> + Send + 'static,
) -> Result<TaskSet, ApiError> {
    ctx.app
        .state
        .write(move |staged| {
            let mut record = external_service(staged, &cluster, &service)?;
            let n = set_index(&record, &reference)?;
            let set = change(&mut record, n)?;
            staged.put(Record::Service(Box::new(record)));
            Ok(set)
        })
        .await
}

pub fn describe(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DescribeTaskSetsRequest { cluster, service, task_sets, include } = decode(body)?;
    let include = include.unwrap_or_default();
    if let Some(other) = include.iter().find(|i| *i != "TAGS") {
        return Err(ApiError::invalid(format!("include '{other}' is not one of TAGS")));
    }
    let with_tags = !include.is_empty();
    let state = ctx.app.state.read();
    let cluster_name = flotilla_api::arn::cluster_name_from(&cluster).to_string();
    if !crate::domain::is_active_cluster(&state, &cluster_name) {
        return Err(ApiError::cluster_not_found());
    }
    let record = state
        .services
        .get(&(cluster_name, id_from(&service).to_string()))
        .ok_or_else(|| ApiError::new(ErrorCode::ServiceNotFoundException, "Service not found."))?;
    if record.service.status != ServiceStatus::Active {
        return Err(ApiError::new(ErrorCode::ServiceNotActiveException, "Service was not ACTIVE."));
    }
    let mut found = Vec::new();
    let mut failures = Vec::new();
    match task_sets.filter(|sets| !sets.is_empty()) {
        None => found.extend(record.service.task_sets.iter().map(|s| answered(s, with_tags))),
        Some(references) => {
            for reference in references {
                match set_index(record, &reference) {
                    Ok(n) => found.push(answered(&record.service.task_sets[n], with_tags)),
                    Err(_) => failures.push(Failure {
                        arn: Some(reference),
                        reason: Some("MISSING".into()),
                        detail: None,
                    }),
                }
            }
        }
    }
    respond(&wire::DescribeTaskSetsResponse {
        task_sets: Some(found),
        failures: Some(failures_to_wire(failures)),
    })
}

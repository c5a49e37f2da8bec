//! CreateService, UpdateService, DeleteService, DescribeServices, ListServices. The work of
//! keeping services whole is the controller's (`crate::controller`).

use flotilla_api::arn::id_from;
use flotilla_api::common::{decode, validate_tags};
use flotilla_api::service::{
    CreateServiceRequest, DeleteServiceRequest, Deployment, DeploymentCircuitBreaker,
    DeploymentConfiguration, DeploymentController, DescribeServicesRequest, ListServicesRequest,
    Service, UpdateServiceRequest,
};
use flotilla_api::service::{PlacementConstraint, PlacementStrategy};
use flotilla_api::status::{DeploymentStatus, RolloutState, ServiceStatus};
use flotilla_api::task::TaskStatus;
use flotilla_api::taskdef::TaskDefinition;
use flotilla_api::{ApiError, ErrorCode, Failure};
use flotilla_scheduler::Strategy;
use serde_json::json;

use super::clusters::active_cluster;
use super::placement;
use super::tasks::resolve_definition;
use super::{respond, respond_page, Ctx};
use crate::state::{service_key, Record, ServiceRecord, Staged, State};
use flotilla_api::pagination::paginate;

// The quotas (ECS's defaults: 5,000 services per cluster, 5,000 tasks per service) are in
// `crate::Quotas`, set by `--max-services-per-cluster` and `--max-tasks-per-service`.

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::ServiceNotFoundException, "Service not found.")
}

fn not_active() -> ApiError {
    ApiError::new(ErrorCode::ServiceNotActiveException, "Service was not ACTIVE.")
}

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

fn validate_deployment_configuration(config: &DeploymentConfiguration) -> Result<(), ApiError> {
    let min = config.minimum_healthy_percent.unwrap_or(100);
    let max = config.maximum_percent.unwrap_or(200);
    if !(0..=100).contains(&min) {
        return Err(ApiError::invalid(format!(
            "minimumHealthyPercent must be between 0 and 100, not {min}"
        )));
    }
    if !(100..=200).contains(&max) {
        return Err(ApiError::invalid(format!(
            "maximumPercent must be between 100 and 200, not {max}"
        )));
    }
    Ok(())
}

fn service_name_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn create(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: CreateServiceRequest = decode(body)?;
    if !service_name_valid(&req.service_name) {
        return Err(ApiError::invalid(
            "serviceName must be 1 to 255 letters, digits, hyphens and underscores",
        ));
    }
    let strategy = req.scheduling_strategy.clone().unwrap_or_else(|| "REPLICA".into());
    if strategy != "REPLICA" && strategy != "DAEMON" {
        return Err(ApiError::invalid(format!(
            "schedulingStrategy must be REPLICA or DAEMON, not {strategy}"
        )));
    }
    if let Some(controller) = &req.deployment_controller {
        if controller.controller_type != "ECS" {
            return Err(ApiError::invalid("only the ECS deployment controller is supported"));
        }
    }
    match req.launch_type.as_deref() {
        None | Some("EC2") | Some("EXTERNAL") => {}
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "launch type {other} is not supported yet; use EC2"
            )))
        }
    }
    let daemon = strategy == "DAEMON";
    let desired = if daemon { 0 } else { req.desired_count.unwrap_or(0) };
    if daemon && req.desired_count.is_some_and(|d| d != 0) {
        return Err(ApiError::invalid("DAEMON services do not take a desiredCount"));
    }
    let max_tasks = ctx.app.quotas.tasks_per_service;
    let max_services = ctx.app.quotas.services_per_cluster;
    if !(0..=max_tasks).contains(&desired) {
        return Err(ApiError::invalid(format!("desiredCount must be between 0 and {max_tasks}")));
    }
    let mut config = req.deployment_configuration.clone().unwrap_or_default();
    config.minimum_healthy_percent.get_or_insert(if daemon { 0 } else { 100 });
    config.maximum_percent.get_or_insert(if daemon { 100 } else { 200 });
    config.deployment_circuit_breaker.get_or_insert(DeploymentCircuitBreaker::default());
    validate_deployment_configuration(&config)?;
    let tags = req.tags.clone().unwrap_or_default();
    validate_tags(&tags)?;
    if req.health_check_grace_period_seconds.is_some_and(|g| !(0..=2_147_483_647).contains(&g)) {
        return Err(ApiError::invalid("healthCheckGracePeriodSeconds must not be negative"));
    }
    let definition_ref = req
        .task_definition
        .clone()
        .ok_or_else(|| ApiError::invalid("taskDefinition is required"))?;
    let deployment_id = new_deployment_id();
    let now = ctx.now;
    let scope = ctx.app.scope.clone();
    let created_by = ctx.app.root_principal();
    let service = ctx
        .app
        .state
        .write(move |staged| {
            let cluster = active_cluster(staged, req.cluster.as_deref())?;
            let definition = resolve_definition(staged.state(), &definition_ref)?;
            validate_placement(
                req.placement_constraints.as_deref().unwrap_or_default(),
                req.placement_strategy.as_deref().unwrap_or_default(),
                &definition,
                daemon,
            )?;
            let name = req.service_name.clone();
            if let Some(Record::Service(existing)) =
                staged.get(&service_key(&cluster.cluster_name, &name))
            {
                if existing.service.status != ServiceStatus::Inactive {
                    return Err(ApiError::invalid("Creation of service was not idempotent."));
                }
            }
            let count = staged
                .state()
                .services
                .range((cluster.cluster_name.clone(), String::new())..)
                .take_while(|((c, _), _)| *c == cluster.cluster_name)
                .filter(|(_, s)| s.service.status != ServiceStatus::Inactive)
                .count();
            if count >= max_services {
                return Err(ApiError::new(
                    ErrorCode::LimitExceededException,
                    "the cluster has reached its service quota",
                ));
            }
            let service = Service {
                service_arn: scope.service(&cluster.cluster_name, &name),
                service_name: name.clone(),
                cluster_arn: cluster.cluster_arn.clone(),
                status: ServiceStatus::Active,
                desired_count: desired,
                launch_type: "EC2".into(),
                task_definition: definition.task_definition_arn.clone(),
                deployment_configuration: config,
                deployments: vec![new_deployment(
                    deployment_id,
                    &definition.task_definition_arn,
                    desired,
                    now,
                )],
                created_at: now,
                placement_constraints: req.placement_constraints.clone().unwrap_or_default(),
                placement_strategy: req.placement_strategy.clone().unwrap_or_default(),
                health_check_grace_period_seconds: req.health_check_grace_period_seconds,
                scheduling_strategy: strategy,
                deployment_controller: DeploymentController { controller_type: "ECS".into() },
                tags: Some(tags),
                created_by,
                enable_ecs_managed_tags: req.enable_ecs_managed_tags.unwrap_or(false),
                propagate_tags: req.propagate_tags.clone(),
                enable_execute_command: req.enable_execute_command.unwrap_or(false),
                ..Service::default()
            };
            staged.put(Record::Service(Box::new(ServiceRecord {
                cluster: cluster.cluster_name,
                name,
                service: service.clone(),
                last_completed_task_definition: None,
                throttled_until: None,
                steady_since: None,
            })));
            Ok(service)
        })
        .await?;
    respond(&json!({ "service": service }))
}

fn service_in(
    staged: &Staged<'_>,
    cluster: &str,
    reference: &str,
) -> Result<ServiceRecord, ApiError> {
    match staged.get(&service_key(cluster, id_from(reference))) {
        Some(Record::Service(s)) => Ok(*s),
        _ => Err(not_found()),
    }
}

pub async fn update(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: UpdateServiceRequest = decode(body)?;
    if let Some(config) = &req.deployment_configuration {
        validate_deployment_configuration(config)?;
    }
    let max_tasks = ctx.app.quotas.tasks_per_service;
    if req.desired_count.is_some_and(|d| !(0..=max_tasks).contains(&d)) {
        return Err(ApiError::invalid(format!("desiredCount must be between 0 and {max_tasks}")));
    }
    let deployment_id = new_deployment_id();
    let now = ctx.now;
    let service = ctx
        .app
        .state
        .write(move |staged| {
            let cluster = active_cluster(staged, req.cluster.as_deref())?;
            let mut record = service_in(staged, &cluster.cluster_name, &req.service)?;
            if record.service.status != ServiceStatus::Active {
                return Err(not_active());
            }
            let service = &mut record.service;
            if let Some(desired) = req.desired_count {
                if service.scheduling_strategy == "DAEMON" {
                    return Err(ApiError::invalid("DAEMON services do not take a desiredCount"));
                }
                service.desired_count = desired;
            }
            if let Some(config) = &req.deployment_configuration {
                let current = &mut service.deployment_configuration;
                if config.minimum_healthy_percent.is_some() {
                    current.minimum_healthy_percent = config.minimum_healthy_percent;
                }
                if config.maximum_percent.is_some() {
                    current.maximum_percent = config.maximum_percent;
                }
                if config.deployment_circuit_breaker.is_some() {
                    current
                        .deployment_circuit_breaker
                        .clone_from(&config.deployment_circuit_breaker);
                }
            }
            if let Some(c) = &req.placement_constraints {
                service.placement_constraints.clone_from(c);
            }
            if let Some(s) = &req.placement_strategy {
                service.placement_strategy.clone_from(s);
            }
            if req.health_check_grace_period_seconds.is_some() {
                service.health_check_grace_period_seconds = req.health_check_grace_period_seconds;
            }
            let new_definition = match &req.task_definition {
                Some(reference) => {
                    Some(resolve_definition(staged.state(), reference)?.task_definition_arn)
                }
                None => None,
            };
            if req.placement_constraints.is_some()
                || req.placement_strategy.is_some()
                || new_definition.is_some()
            {
                let arn = new_definition.as_deref().unwrap_or(&service.task_definition);
                if let Some(definition) = staged.state().task_definition_by_arn(arn) {
                    validate_placement(
                        &service.placement_constraints,
                        &service.placement_strategy,
                        &definition.definition,
                        service.scheduling_strategy == "DAEMON",
                    )?;
                }
            }
            if new_definition.is_some() || req.force_new_deployment {
                let arn = new_definition.unwrap_or_else(|| service.task_definition.clone());
                // The new deployment supersedes the current primary, as on ECS.
                for d in &mut service.deployments {
                    d.status = DeploymentStatus::Active;
                }
                service.task_definition.clone_from(&arn);
                service
                    .deployments
                    .insert(0, new_deployment(deployment_id, &arn, service.desired_count, now));
                record.throttled_until = None;
            }
            if let Some(primary) = record.service.deployments.first_mut() {
                primary.desired_count = record.service.desired_count;
                primary.updated_at = now;
            }
            staged.put(Record::Service(Box::new(record.clone())));
            Ok(record.service)
        })
        .await?;
    let service = with_counts(&ctx.app.state.read(), service, false);
    respond(&json!({ "service": service }))
}

/// Constraints and strategies parse, within ECS's limits; DAEMON services take no strategy.
fn validate_placement(
    constraints: &[PlacementConstraint],
    strategies: &[PlacementStrategy],
    definition: &TaskDefinition,
    daemon: bool,
) -> Result<(), ApiError> {
    if daemon && !strategies.is_empty() {
        return Err(ApiError::invalid(
            "Placement strategies are not supported with the DAEMON scheduling strategy.",
        ));
    }
    placement::constraints(constraints, Some(definition))?;
    placement::strategies(strategies, Strategy::service_default)?;
    Ok(())
}

pub async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: DeleteServiceRequest = decode(body)?;
    let force = req.force.unwrap_or(false);
    let service = ctx
        .app
        .state
        .write(move |staged| {
            let cluster = active_cluster(staged, req.cluster.as_deref())?;
            let mut record = service_in(staged, &cluster.cluster_name, &req.service)?;
            if record.service.status != ServiceStatus::Active {
                return Err(not_active());
            }
            if record.service.desired_count > 0
                && record.service.scheduling_strategy == "REPLICA"
                && !force
            {
                return Err(ApiError::invalid(
                    "The service cannot be stopped while it is scaled above 0.",
                ));
            }
            // DRAINING: the controller stops its tasks, then marks it INACTIVE.
            record.service.status = ServiceStatus::Draining;
            record.service.desired_count = 0;
            staged.put(Record::Service(Box::new(record.clone())));
            Ok(record.service)
        })
        .await?;
    let service = with_counts(&ctx.app.state.read(), service, false);
    respond(&json!({ "service": service }))
}

/// Fills the live counts of a service and its deployments from its tasks.
pub fn with_counts(state: &State, mut service: Service, with_tags: bool) -> Service {
    let (cluster, name) = split_arn(&service.service_arn);
    let group = format!("service:{name}");
    let (mut running, mut pending) = (0, 0);
    for d in &mut service.deployments {
        d.running_count = 0;
        d.pending_count = 0;
    }
    for task in state
        .tasks_of_group(cluster, &group)
        .filter(|t| t.task.desired_status == TaskStatus::Running)
    {
        let is_running = task.task.last_status == TaskStatus::Running;
        if is_running {
            running += 1;
        } else if task.task.last_status != TaskStatus::Stopped {
            pending += 1;
        }
        if let Some(d) =
            service.deployments.iter_mut().find(|d| Some(&d.id) == task.task.started_by.as_ref())
        {
            if is_running {
                d.running_count += 1;
            } else if task.task.last_status != TaskStatus::Stopped {
                d.pending_count += 1;
            }
        }
    }
    service.running_count = running;
    service.pending_count = pending;
    if !with_tags {
        service.tags = None;
    }
    service
}

/// (cluster, name) from `arn:...:service/<cluster>/<name>`.
fn split_arn(arn: &str) -> (&str, &str) {
    let resource = arn.rsplit_once(":service/").map_or(arn, |(_, r)| r);
    resource.split_once('/').unwrap_or(("", resource))
}

pub fn describe(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: DescribeServicesRequest = decode(body)?;
    if req.services.is_empty() || req.services.len() > 10 {
        return Err(ApiError::invalid("services must name 1 to 10 services"));
    }
    let with_tags = req.include.as_deref().unwrap_or_default().iter().any(|i| i == "TAGS");
    let cluster = flotilla_api::arn::cluster_name_from(req.cluster.as_deref().unwrap_or("default"))
        .to_string();
    let state = ctx.app.state.read();
    if !state.clusters.contains_key(&cluster) {
        return Err(ApiError::cluster_not_found());
    }
    let mut services = Vec::new();
    let mut failures = Vec::new();
    for reference in &req.services {
        match state.services.get(&(cluster.clone(), id_from(reference).to_string())) {
            Some(record) => services.push(with_counts(&state, record.service.clone(), with_tags)),
            None => failures.push(Failure {
                arn: Some(ctx.app.scope.service(&cluster, id_from(reference))),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    respond(&json!({ "services": services, "failures": failures }))
}

pub fn list(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: ListServicesRequest = decode(body)?;
    let cluster = flotilla_api::arn::cluster_name_from(req.cluster.as_deref().unwrap_or("default"))
        .to_string();
    let state = ctx.app.state.read();
    if !state.clusters.contains_key(&cluster) {
        return Err(ApiError::cluster_not_found());
    }
    let items = state
        .services
        .range((cluster.clone(), String::new())..)
        .take_while(|((c, _), _)| *c == cluster)
        .map(|(_, s)| s)
        .filter(|s| {
            s.service.status == ServiceStatus::Active || s.service.status == ServiceStatus::Draining
        })
        .filter(|s| req.launch_type.as_ref().is_none_or(|l| *l == s.service.launch_type))
        .filter(|s| {
            req.scheduling_strategy.as_ref().is_none_or(|l| *l == s.service.scheduling_strategy)
        })
        .map(|s| (s.name.clone(), s.service.service_arn.clone()));
    let (arns, next) =
        paginate(items, req.next_token.as_deref(), req.max_results.or(Some(10)), 100)?;
    respond_page("serviceArns", arns, next)
}

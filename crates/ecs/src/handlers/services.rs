//! CreateService, UpdateService, DeleteService, DescribeServices, ListServices. The work of
//! keeping services whole is the controller's (`crate::controller`).

use flotilla_api::arn::id_from;
use flotilla_api::cluster::CapacityProviderStrategyItem;
use flotilla_api::common::{decode, validate_tags};

use flotilla_api::common::Tag;
use flotilla_api::pagination::paginate;
use flotilla_api::service::{
    Deployment, DeploymentCircuitBreaker, DeploymentConfiguration, PlacementConstraint,
    PlacementStrategy, PropagateTags, Service, ServiceLoadBalancer, ServiceRegistryEntry,
};
use flotilla_api::status::{DeploymentControllerType, DeploymentStatus, ServiceStatus};
use flotilla_api::task::TaskStatus;
use flotilla_api::taskdef::TaskDefinition;
use flotilla_api::{ApiError, ErrorCode, Failure};
use flotilla_scheduler::Strategy;

use super::{respond, Ctx};
use crate::convert::{
    failures_to_wire, into_domain, strategy_to_wire, tags_from_wire, tags_if_any,
};
use crate::domain::active_cluster;
use crate::domain::capacity::{is_fargate_strategy, launch_strategy, refuse_placement_on_fargate};
use crate::domain::deployments::{new_deployment, new_deployment_id, service_deployment};
use crate::domain::placement;
use crate::domain::tasks::checked_platform_version;
use crate::domain::tasks::{resolve_definition_as, TASK_DEFINITION_NOT_FOUND};
use crate::state::{service_key, DeploymentTargets, Record, ServiceRecord, Staged, State};

use super::targets::{
    check_load_balancers, check_registries, load_balancers_from_wire, load_balancers_to_wire,
    registries_from_wire, registries_to_wire,
};
use crate::wire;

// The quotas (ECS's defaults: 5,000 services per cluster, 5,000 tasks per service) are in
// `crate::Quotas`, set by `--max-services-per-cluster` and `--max-tasks-per-service`.

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::ServiceNotFoundException, "Service not found.")
}

fn not_active() -> ApiError {
    ApiError::new(ErrorCode::ServiceNotActiveException, "Service was not ACTIVE.")
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

/// What CreateService asks for, checked before the store is read.
struct NewService {
    name: String,
    cluster: Option<String>,
    definition_ref: String,
    desired: i32,
    daemon: bool,
    config: DeploymentConfiguration,
    constraints: Vec<PlacementConstraint>,
    strategies: Vec<PlacementStrategy>,
    grace_period: Option<i32>,
    tags: Vec<Tag>,
    propagate_tags: PropagateTags,
    managed_tags: bool,
    /// A retry with the same token gets the service back.
    client_token: Option<String>,
    launch_type_given: bool,
    /// launchType FARGATE: its tasks run on the Fargate capacity.
    fargate: bool,
    /// EXTERNAL: task sets, created by an outside tool, run the tasks.
    external: bool,
    /// The request's capacity provider strategy (the cluster's default applies when neither
    /// this nor a launch type is given).
    capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    /// The target groups its tasks are registered in (checked against the task definition
    /// and ELBv2 once the store is read).
    load_balancers: Vec<ServiceLoadBalancer>,
    /// The Cloud Map service its tasks register in (checked once the store is read).
    service_registries: Vec<ServiceRegistryEntry>,
    /// Its tasks' `awsvpcConfiguration` (checked against the definition and the VPC once the
    /// store is read).
    network: Option<crate::vpc::AwsVpcConfig>,
    /// Fargate only (checked once the strategy is known).
    platform_version: Option<String>,
}

impl NewService {
    /// Every member of the request, each either honoured or refused.
    fn parse(req: wire::CreateServiceRequest, max_tasks: i32) -> Result<Self, ApiError> {
        // The members the field ledger refuses (crates/ecs/ledger.toml: load balancers, service
        // registries, capacity providers, networking, ECS Exec, Service Connect, ...) were
        // refused before this handler ran, by name; what they held is bound to `_`.
        let wire::CreateServiceRequest {
            cluster,
            service_name,
            task_definition,
            availability_zone_rebalancing: _,
            load_balancers,
            service_registries,
            desired_count,
            client_token,
            launch_type,
            capacity_provider_strategy,
            platform_version,
            role: _,
            deployment_configuration,
            placement_constraints,
            placement_strategy,
            network_configuration,
            health_check_grace_period_seconds,
            scheduling_strategy,
            deployment_controller,
            tags,
            enable_ecs_managed_tags,
            propagate_tags,
            enable_execute_command: _,
            service_connect_configuration: _,
            volume_configurations: _,
            vpc_lattice_configurations: _,
        } = req;
        if client_token.as_ref().is_some_and(|t| t.is_empty() || t.len() > 36 || !t.is_ascii()) {
            return Err(ApiError::invalid("clientToken must be 1 to 36 ASCII characters"));
        }
        if !service_name_valid(&service_name) {
            return Err(ApiError::invalid(
                "serviceName must be 1 to 255 letters, digits, hyphens and underscores",
            ));
        }
        let strategy = scheduling_strategy.unwrap_or_else(|| "REPLICA".into());
        if strategy != "REPLICA" && strategy != "DAEMON" {
            return Err(ApiError::invalid(format!(
                "schedulingStrategy must be REPLICA or DAEMON, not {strategy}"
            )));
        }
        // CODE_DEPLOY is refused by the field ledger before this handler runs.
        let external = deployment_controller.is_some_and(|c| c.r#type == "EXTERNAL");
        if external && strategy == "DAEMON" {
            return Err(ApiError::invalid(
                "The DAEMON scheduling strategy is not supported with the EXTERNAL deployment \
                 controller.",
            ));
        }
        if external && task_definition.is_some() {
            return Err(ApiError::invalid(
                "With the EXTERNAL deployment controller, task definitions come from task sets \
                 (CreateTaskSet): taskDefinition is not taken.",
            ));
        }
        match launch_type.as_deref() {
            None | Some("EC2") | Some("EXTERNAL") | Some("FARGATE") => {}
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "launch type {other} is not supported yet; use EC2"
                )))
            }
        }
        let daemon = strategy == "DAEMON";
        let fargate = launch_type.as_deref() == Some("FARGATE");
        if fargate && daemon {
            return Err(ApiError::invalid(
                "The DAEMON scheduling strategy does not support the FARGATE launch type.",
            ));
        }
        // Placement on Fargate (by launch type or strategy) is refused once the strategy is known.
        let desired = if daemon { 0 } else { desired_count.unwrap_or(0) };
        if daemon && desired_count.is_some_and(|d| d != 0) {
            return Err(ApiError::invalid("DAEMON services do not take a desiredCount"));
        }
        let capacity_provider_strategy: Vec<CapacityProviderStrategyItem> =
            capacity_provider_strategy
                .map(|s| into_domain("capacityProviderStrategy", &s))
                .transpose()?
                .unwrap_or_default();
        if daemon && !capacity_provider_strategy.is_empty() {
            return Err(ApiError::invalid(
                "A capacity provider strategy is not supported for services using the DAEMON \
                 scheduling strategy.",
            ));
        }
        if !(0..=max_tasks).contains(&desired) {
            return Err(ApiError::invalid(format!(
                "desiredCount must be between 0 and {max_tasks}"
            )));
        }
        let mut config = deployment_configuration
            .map(deployment_configuration_from_wire)
            .transpose()?
            .unwrap_or_default();
        config.minimum_healthy_percent.get_or_insert(if daemon { 0 } else { 100 });
        config.maximum_percent.get_or_insert(if daemon { 100 } else { 200 });
        config.deployment_circuit_breaker.get_or_insert(DeploymentCircuitBreaker::default());
        validate_deployment_configuration(&config)?;
        let tags = tags_from_wire(tags);
        validate_tags(&tags)?;
        if health_check_grace_period_seconds.is_some_and(|g| g < 0) {
            return Err(ApiError::invalid("healthCheckGracePeriodSeconds must not be negative"));
        }
        let load_balancers = load_balancers_from_wire(load_balancers.unwrap_or_default())?;
        if external && !load_balancers.is_empty() {
            return Err(ApiError::invalid(
                "loadBalancers of a service of the EXTERNAL deployment controller (on its task \
                 sets) are not supported yet",
            ));
        }
        let service_registries = registries_from_wire(service_registries.unwrap_or_default())?;
        if external && !service_registries.is_empty() {
            return Err(ApiError::invalid(
                "serviceRegistries of a service of the EXTERNAL deployment controller (on its \
                 task sets) are not supported yet",
            ));
        }
        let network = crate::vpc::from_wire(network_configuration);
        if external && network.is_some() {
            return Err(ApiError::invalid(
                "networkConfiguration of a service of the EXTERNAL deployment controller goes \
                 on its task sets (CreateTaskSet)",
            ));
        }
        Ok(NewService {
            platform_version,
            load_balancers,
            service_registries,
            network,
            name: service_name,
            cluster,
            definition_ref: match task_definition {
                Some(reference) => reference,
                None if external => String::new(),
                None => return Err(ApiError::invalid("taskDefinition is required")),
            },
            desired,
            daemon,
            config,
            constraints: placement_constraints.map(constraints_from_wire).unwrap_or_default(),
            strategies: placement_strategy.map(strategies_from_wire).unwrap_or_default(),
            grace_period: health_check_grace_period_seconds,
            tags,
            propagate_tags: parse_propagate(propagate_tags.as_deref())?
                .unwrap_or(PropagateTags::None),
            managed_tags: enable_ecs_managed_tags.unwrap_or(false),
            client_token,
            launch_type_given: launch_type.is_some(),
            fargate,
            external,
            capacity_provider_strategy,
        })
    }
}

/// `propagateTags`, when given.
fn parse_propagate(value: Option<&str>) -> Result<Option<PropagateTags>, ApiError> {
    value
        .map(|v| {
            PropagateTags::parse(v).ok_or_else(|| {
                ApiError::invalid(format!(
                    "propagateTags must be NONE, TASK_DEFINITION or SERVICE, not {v}"
                ))
            })
        })
        .transpose()
}

fn deployment_configuration_from_wire(
    config: wire::DeploymentConfiguration,
) -> Result<DeploymentConfiguration, ApiError> {
    // Alarms, strategies other than ROLLING, bake time, lifecycle hooks, linear and canary
    // configurations are refused by the field ledger before a handler runs.
    let wire::DeploymentConfiguration {
        deployment_circuit_breaker,
        maximum_percent,
        minimum_healthy_percent,
        alarms: _,
        strategy: _,
        bake_time_in_minutes: _,
        lifecycle_hooks: _,
        linear_configuration: _,
        canary_configuration: _,
    } = config;
    Ok(DeploymentConfiguration {
        deployment_circuit_breaker: deployment_circuit_breaker
            .map(|b| DeploymentCircuitBreaker { enable: b.enable, rollback: b.rollback }),
        maximum_percent,
        minimum_healthy_percent,
    })
}

fn constraints_from_wire(list: Vec<wire::PlacementConstraint>) -> Vec<PlacementConstraint> {
    list.into_iter()
        .map(|c| PlacementConstraint { constraint_type: c.r#type, expression: c.expression })
        .collect()
}

fn strategies_from_wire(list: Vec<wire::PlacementStrategy>) -> Vec<PlacementStrategy> {
    list.into_iter()
        .map(|s| PlacementStrategy { strategy_type: s.r#type, field: s.field })
        .collect()
}

/// A service (counts filled in) as the API answers it.
pub fn answered(service: &Service) -> wire::Service {
    let config = &service.deployment_configuration;
    wire::Service {
        service_arn: Some(service.service_arn.clone()),
        service_name: Some(service.service_name.clone()),
        cluster_arn: Some(service.cluster_arn.clone()),
        load_balancers: Some(load_balancers_to_wire(&service.load_balancers)),
        service_registries: Some(registries_to_wire(&service.service_registries)),
        status: Some(service.status.to_string()),
        desired_count: Some(service.desired_count),
        running_count: Some(service.running_count),
        pending_count: Some(service.pending_count),
        // A service placed by capacity providers has a strategy and no launch type.
        launch_type: service
            .capacity_provider_strategy
            .is_empty()
            .then(|| service.launch_type.clone()),
        capacity_provider_strategy: (!service.capacity_provider_strategy.is_empty())
            .then(|| strategy_to_wire(&service.capacity_provider_strategy)),
        platform_version: service.platform_version.clone(),
        platform_family: service.platform_version.as_ref().map(|_| "Linux".to_string()),
        // An EXTERNAL service has one only once a task set is its primary.
        task_definition: (!service.task_definition.is_empty())
            .then(|| service.task_definition.clone()),
        deployment_configuration: Some(wire::DeploymentConfiguration {
            deployment_circuit_breaker: config
                .deployment_circuit_breaker
                .as_ref()
                .map(|b| wire::DeploymentCircuitBreaker { enable: b.enable, rollback: b.rollback }),
            maximum_percent: config.maximum_percent,
            minimum_healthy_percent: config.minimum_healthy_percent,
            alarms: None,
            strategy: Some("ROLLING".into()),
            bake_time_in_minutes: None,
            lifecycle_hooks: None,
            linear_configuration: None,
            canary_configuration: None,
        }),
        task_sets: (service.deployment_controller == DeploymentControllerType::External).then(
            || service.task_sets.iter().map(|s| super::task_sets::answered(s, false)).collect(),
        ),
        deployments: Some(service.deployments.iter().map(deployment_answered).collect()),
        role_arn: None,
        events: Some(
            service
                .events
                .iter()
                .map(|e| wire::ServiceEvent {
                    id: Some(e.id.clone()),
                    created_at: Some(e.created_at),
                    message: Some(e.message.clone()),
                })
                .collect(),
        ),
        created_at: Some(service.created_at),
        current_service_deployment: None,
        current_service_revisions: None,
        placement_constraints: Some(
            service
                .placement_constraints
                .iter()
                .map(|c| wire::PlacementConstraint {
                    r#type: c.constraint_type.clone(),
                    expression: c.expression.clone(),
                })
                .collect(),
        ),
        placement_strategy: Some(
            service
                .placement_strategy
                .iter()
                .map(|s| wire::PlacementStrategy {
                    r#type: s.strategy_type.clone(),
                    field: s.field.clone(),
                })
                .collect(),
        ),
        network_configuration: service.network_configuration.as_ref().map(crate::vpc::to_wire),
        health_check_grace_period_seconds: service.health_check_grace_period_seconds,
        scheduling_strategy: Some(service.scheduling_strategy.clone()),
        deployment_controller: Some(wire::DeploymentController {
            r#type: service.deployment_controller.to_string(),
        }),
        tags: tags_if_any(service.tags.as_deref()),
        created_by: Some(service.created_by.clone()),
        enable_ecs_managed_tags: Some(service.enable_ecs_managed_tags),
        propagate_tags: Some(service.propagate_tags.as_str().into()),
        enable_execute_command: Some(false),
        availability_zone_rebalancing: Some("DISABLED".into()),
        resource_management_type: Some("CUSTOMER".into()),
    }
}

fn deployment_answered(d: &Deployment) -> wire::Deployment {
    wire::Deployment {
        id: Some(d.id.clone()),
        status: Some(d.status.to_string()),
        task_definition: Some(d.task_definition.clone()),
        desired_count: Some(d.desired_count),
        pending_count: Some(d.pending_count),
        running_count: Some(d.running_count),
        failed_tasks: Some(d.failed_tasks),
        created_at: Some(d.created_at),
        updated_at: Some(d.updated_at),
        // A deployment placed by capacity providers has a strategy and no launch type.
        capacity_provider_strategy: (!d.capacity_provider_strategy.is_empty())
            .then(|| strategy_to_wire(&d.capacity_provider_strategy)),
        launch_type: d.capacity_provider_strategy.is_empty().then(|| d.launch_type.clone()),
        platform_version: d.platform_version.clone(),
        platform_family: d.platform_version.as_ref().map(|_| "Linux".to_string()),
        network_configuration: d.network_configuration.as_ref().map(crate::vpc::to_wire),
        rollout_state: Some(d.rollout_state.to_string()),
        rollout_state_reason: Some(d.rollout_state_reason.clone()),
        service_connect_configuration: None,
        service_connect_resources: None,
        volume_configurations: None,
        fargate_ephemeral_storage: None,
        vpc_lattice_configurations: None,
    }
}

pub async fn create(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let new = NewService::parse(decode(body)?, ctx.app.quotas.tasks_per_service)?;
    let max_services = ctx.app.quotas.services_per_cluster;
    let deployment_id = new_deployment_id();
    let now = ctx.now;
    let scope = ctx.app.scope.clone();
    let created_by = ctx.app.root_principal();
    let load_balancing = std::sync::Arc::clone(&ctx.app.load_balancing);
    let service_registry = std::sync::Arc::clone(&ctx.app.service_registry);
    let vpc = crate::vpc::view_if_given(ctx.app, &new.network).await?;
    let service = ctx
        .app
        .state
        .write(move |staged| {
            let cluster = active_cluster(staged, new.cluster.as_deref())?;
            // EXTERNAL services take their task definitions from their task sets.
            let definition = if new.external {
                None
            } else {
                Some(resolve_definition_as(
                    staged.state(),
                    &new.definition_ref,
                    TASK_DEFINITION_NOT_FOUND,
                )?)
            };
            validate_placement(&new.constraints, &new.strategies, definition.as_ref(), new.daemon)?;
            // The DAEMON check above keeps a daemon on the EC2 launch type; task sets choose
            // their own.
            let capacity_provider_strategy = if new.daemon || new.external {
                Vec::new()
            } else {
                launch_strategy(&cluster, &new.capacity_provider_strategy, new.launch_type_given)?
            };
            // Its tasks run on the Fargate capacity by launch type or by strategy (its own or
            // the cluster's default).
            let fargate = new.fargate || is_fargate_strategy(&capacity_provider_strategy);
            let platform_version = checked_platform_version(new.platform_version.clone(), fargate)?;
            refuse_placement_on_fargate(
                fargate,
                !new.constraints.is_empty(),
                !new.strategies.is_empty(),
            )?;
            let network = match &definition {
                Some(d) => {
                    if fargate {
                        super::tasks::check_fargate_definition(d)?;
                    }
                    let mode = d.network_mode.as_deref().unwrap_or("bridge");
                    crate::vpc::check(mode, new.network.clone(), &vpc, fargate)?
                }
                None => None,
            };
            if let Some(definition) = &definition {
                check_load_balancers(&new.load_balancers, definition, load_balancing.as_ref())?;
                check_registries(&new.service_registries, definition, service_registry.as_ref())?;
            }
            let name = new.name.clone();
            if let Some(Record::Service(existing)) =
                staged.get(&service_key(&cluster.cluster_name, &name))
            {
                if existing.service.status != ServiceStatus::Inactive {
                    // A retry of the same creation (same clientToken) gets the service back.
                    if new.client_token.is_some() && existing.client_token == new.client_token {
                        return Ok(existing.service);
                    }
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
                desired_count: new.desired,
                launch_type: if new.fargate { "FARGATE" } else { "EC2" }.into(),
                task_definition: definition
                    .as_ref()
                    .map(|d| d.task_definition_arn.clone())
                    .unwrap_or_default(),
                deployment_configuration: new.config,
                // EXTERNAL services have task sets instead of deployments.
                deployments: definition
                    .iter()
                    .map(|d| Deployment {
                        network_configuration: network.clone(),
                        launch_type: if new.fargate { "FARGATE" } else { "EC2" }.into(),
                        capacity_provider_strategy: capacity_provider_strategy.clone(),
                        platform_version: platform_version.clone(),
                        ..new_deployment(
                            deployment_id.clone(),
                            &d.task_definition_arn,
                            new.desired,
                            now,
                        )
                    })
                    .collect(),
                deployment_controller: if new.external {
                    DeploymentControllerType::External
                } else {
                    DeploymentControllerType::Ecs
                },
                created_at: now,
                placement_constraints: new.constraints,
                placement_strategy: new.strategies,
                health_check_grace_period_seconds: new.grace_period,
                scheduling_strategy: if new.daemon { "DAEMON" } else { "REPLICA" }.into(),
                tags: Some(new.tags),
                created_by,
                propagate_tags: new.propagate_tags,
                enable_ecs_managed_tags: new.managed_tags,
                capacity_provider_strategy,
                platform_version,
                load_balancers: new.load_balancers,
                service_registries: new.service_registries,
                network_configuration: network,
                ..Service::default()
            };
            staged.put(Record::Service(Box::new(ServiceRecord {
                cluster: cluster.cluster_name,
                name,
                service: service.clone(),
                last_completed_task_definition: None,
                throttled_until: None,
                steady_since: None,
                client_token: new.client_token.clone(),
                task_set_tokens: Default::default(),
                deployment_targets: Default::default(),
            })));
            Ok(service)
        })
        .await?;
    respond(&wire::CreateServiceResponse { service: Some(answered(&service)) })
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

/// One change UpdateService makes: the closed set of what it can do.
enum ServiceChange {
    DesiredCount(i32),
    /// Members given replace the current ones; absent ones stay.
    DeploymentConfiguration(DeploymentConfiguration),
    PlacementConstraints(Vec<PlacementConstraint>),
    PlacementStrategy(Vec<PlacementStrategy>),
    HealthCheckGracePeriod(i32),
    /// A new deployment of this task definition (family, family:revision or ARN).
    TaskDefinition(String),
    /// A new deployment of the current task definition.
    ForceNewDeployment,
    /// For the tasks started from now on.
    PropagateTags(PropagateTags),
    /// For the tasks started from now on.
    ManagedTags(bool),
    /// A new deployment placed by this strategy (empty: the cluster's default).
    CapacityProviderStrategy(Vec<CapacityProviderStrategyItem>),
    /// A new deployment whose tasks register with these target groups (empty: none).
    LoadBalancers(Vec<ServiceLoadBalancer>),
    /// A new deployment whose tasks register in this registry (empty: none).
    ServiceRegistries(Vec<ServiceRegistryEntry>),
    /// The controller it has already (a change of controller is refused).
    DeploymentController(DeploymentControllerType),
    /// A new deployment whose tasks get this `awsvpcConfiguration` (checked against the
    /// deployment's definition and the VPC).
    NetworkConfiguration(crate::vpc::AwsVpcConfig),
    /// Fargate only: a new deployment on this platform version.
    PlatformVersion(String),
}

/// UpdateService's request: the service it names and its changes, every member honoured or
/// refused.
fn parse_update(
    req: wire::UpdateServiceRequest,
    max_tasks: i32,
) -> Result<(Option<String>, String, Vec<ServiceChange>), ApiError> {
    // The members the field ledger refuses were refused before this handler ran, by name.
    let wire::UpdateServiceRequest {
        cluster,
        service,
        desired_count,
        task_definition,
        capacity_provider_strategy,
        deployment_configuration,
        availability_zone_rebalancing: _,
        network_configuration,
        placement_constraints,
        placement_strategy,
        platform_version,
        force_new_deployment,
        health_check_grace_period_seconds,
        deployment_controller,
        enable_execute_command: _,
        enable_ecs_managed_tags,
        load_balancers,
        propagate_tags,
        service_registries,
        service_connect_configuration: _,
        volume_configurations: _,
        vpc_lattice_configurations: _,
    } = req;
    let mut changes = Vec::new();
    if let Some(config) = crate::vpc::from_wire(network_configuration) {
        changes.push(ServiceChange::NetworkConfiguration(config));
    }
    if let Some(controller) = deployment_controller {
        // CODE_DEPLOY and EXTERNAL are refused by the field ledger before this handler runs.
        let controller = DeploymentControllerType::parse(&controller.r#type).ok_or_else(|| {
            ApiError::invalid("deploymentController.type is not one of ECS, EXTERNAL")
        })?;
        changes.push(ServiceChange::DeploymentController(controller));
    }
    if let Some(list) = load_balancers {
        changes.push(ServiceChange::LoadBalancers(load_balancers_from_wire(list)?));
    }
    if let Some(list) = service_registries {
        changes.push(ServiceChange::ServiceRegistries(registries_from_wire(list)?));
    }
    if let Some(propagate) = parse_propagate(propagate_tags.as_deref())? {
        changes.push(ServiceChange::PropagateTags(propagate));
    }
    if let Some(managed) = enable_ecs_managed_tags {
        changes.push(ServiceChange::ManagedTags(managed));
    }
    if let Some(strategy) = capacity_provider_strategy {
        changes.push(ServiceChange::CapacityProviderStrategy(into_domain(
            "capacityProviderStrategy",
            &strategy,
        )?));
    }
    if let Some(desired) = desired_count {
        if !(0..=max_tasks).contains(&desired) {
            return Err(ApiError::invalid(format!(
                "desiredCount must be between 0 and {max_tasks}"
            )));
        }
        changes.push(ServiceChange::DesiredCount(desired));
    }
    if let Some(config) = deployment_configuration {
        let config = deployment_configuration_from_wire(config)?;
        validate_deployment_configuration(&config)?;
        changes.push(ServiceChange::DeploymentConfiguration(config));
    }
    if let Some(list) = placement_constraints {
        changes.push(ServiceChange::PlacementConstraints(constraints_from_wire(list)));
    }
    if let Some(list) = placement_strategy {
        changes.push(ServiceChange::PlacementStrategy(strategies_from_wire(list)));
    }
    if let Some(version) = platform_version {
        changes.push(ServiceChange::PlatformVersion(version));
    }
    if let Some(grace) = health_check_grace_period_seconds {
        if grace < 0 {
            return Err(ApiError::invalid("healthCheckGracePeriodSeconds must not be negative"));
        }
        changes.push(ServiceChange::HealthCheckGracePeriod(grace));
    }
    match (task_definition, force_new_deployment.unwrap_or(false)) {
        (Some(reference), _) => changes.push(ServiceChange::TaskDefinition(reference)),
        (None, true) => changes.push(ServiceChange::ForceNewDeployment),
        (None, false) => {}
    }
    Ok((cluster, service, changes))
}

/// What UpdateService checks new load balancers and registries against.
struct TargetChecks<'a> {
    load_balancing: &'a dyn crate::load_balancing::LoadBalancing,
    service_registry: &'a dyn crate::discovery::ServiceRegistry,
    /// The VPC, read when the update names a network configuration.
    vpc: &'a crate::vpc::VpcView,
}

/// Applies `changes` to a service: settings first, then at most one new deployment.
fn apply_changes(
    staged: &Staged<'_>,
    record: &mut ServiceRecord,
    changes: Vec<ServiceChange>,
    deployment_id: String,
    now: f64,
    checks: &TargetChecks<'_>,
) -> Result<(), ApiError> {
    let before = DeploymentTargets {
        load_balancers: record.service.load_balancers.clone(),
        service_registries: record.service.service_registries.clone(),
    };
    let mut targets_changed = false;
    let service = &mut record.service;
    let daemon = service.scheduling_strategy == "DAEMON";
    let external = service.deployment_controller == DeploymentControllerType::External;
    let mut placement_changed = false;
    let mut deploy: Option<String> = None;
    let mut network_given: Option<crate::vpc::AwsVpcConfig> = None;
    let mut platform_given: Option<String> = None;
    for change in changes {
        match change {
            ServiceChange::TaskDefinition(_)
            | ServiceChange::ForceNewDeployment
            | ServiceChange::CapacityProviderStrategy(_)
                if external =>
            {
                return Err(ApiError::invalid(
                    "A service using the EXTERNAL deployment controller is deployed through task \
                     sets: create a task set (CreateTaskSet) instead of updating the task \
                     definition, deployment or capacity provider strategy.",
                ));
            }
            ServiceChange::NetworkConfiguration(_) if external => {
                return Err(ApiError::invalid(
                    "A service using the EXTERNAL deployment controller takes its network \
                     configuration with its task sets.",
                ));
            }
            ServiceChange::PlatformVersion(version) => {
                // Checked against where the tasks run once every change is in.
                if service.platform_version.as_deref() != Some(version.as_str()) {
                    platform_given = Some(version);
                    deploy.get_or_insert_with(|| service.task_definition.clone());
                }
            }
            ServiceChange::NetworkConfiguration(config) => {
                // A new network configuration is rolled out by a new deployment, as on ECS.
                network_given = Some(config);
                deploy.get_or_insert_with(|| service.task_definition.clone());
            }
            ServiceChange::DesiredCount(_) if daemon => {
                return Err(ApiError::invalid("DAEMON services do not take a desiredCount"));
            }
            ServiceChange::DesiredCount(desired) => service.desired_count = desired,
            ServiceChange::LoadBalancers(_) | ServiceChange::ServiceRegistries(_) if external => {
                return Err(ApiError::invalid(
                    "A service using the EXTERNAL deployment controller takes its load balancers \
                     and service registries with its task sets.",
                ));
            }
            ServiceChange::LoadBalancers(list) => {
                if list != service.load_balancers {
                    service.load_balancers = list;
                    targets_changed = true;
                }
            }
            ServiceChange::ServiceRegistries(list) => {
                if list != service.service_registries {
                    service.service_registries = list;
                    targets_changed = true;
                }
            }
            ServiceChange::DeploymentConfiguration(config) => {
                let current = &mut service.deployment_configuration;
                if config.minimum_healthy_percent.is_some() {
                    current.minimum_healthy_percent = config.minimum_healthy_percent;
                }
                if config.maximum_percent.is_some() {
                    current.maximum_percent = config.maximum_percent;
                }
                if config.deployment_circuit_breaker.is_some() {
                    current.deployment_circuit_breaker = config.deployment_circuit_breaker;
                }
            }
            ServiceChange::PlacementConstraints(list) => {
                service.placement_constraints = list;
                placement_changed = true;
            }
            ServiceChange::PlacementStrategy(list) => {
                service.placement_strategy = list;
                placement_changed = true;
            }
            ServiceChange::HealthCheckGracePeriod(grace) => {
                service.health_check_grace_period_seconds = Some(grace)
            }
            ServiceChange::TaskDefinition(reference) => {
                deploy = Some(
                    resolve_definition_as(staged.state(), &reference, TASK_DEFINITION_NOT_FOUND)?
                        .task_definition_arn,
                );
                placement_changed = true;
            }
            ServiceChange::ForceNewDeployment => {
                deploy = Some(service.task_definition.clone());
            }
            ServiceChange::PropagateTags(propagate) => service.propagate_tags = propagate,
            ServiceChange::ManagedTags(managed) => service.enable_ecs_managed_tags = managed,
            ServiceChange::DeploymentController(controller) => {
                if controller != service.deployment_controller {
                    return Err(ApiError::invalid(
                        "Changing the deployment controller of a service is not supported yet by \
                         this server.",
                    ));
                }
            }
            ServiceChange::CapacityProviderStrategy(_) if daemon => {
                return Err(ApiError::invalid(
                    "A capacity provider strategy is not supported for services using the \
                     DAEMON scheduling strategy.",
                ));
            }
            ServiceChange::CapacityProviderStrategy(list) => {
                let cluster = staged
                    .state()
                    .clusters
                    .get(&record.cluster)
                    .ok_or_else(ApiError::cluster_not_found)?;
                // An empty list is the cluster's default strategy (none: the launch type).
                let strategy = launch_strategy(cluster, &list, false)?;
                if strategy != service.capacity_provider_strategy {
                    service.capacity_provider_strategy = strategy;
                    // Tasks move to the new shares through a deployment, as on ECS.
                    deploy.get_or_insert_with(|| service.task_definition.clone());
                }
            }
        }
    }
    // Where its tasks run from now on: a strategy may have moved it to or from Fargate.
    let fargate = service.runs_on_fargate();
    // A service moved off Fargate drops its platform version; one moved onto it gets LATEST.
    service.platform_version = match (platform_given, fargate) {
        (given @ Some(_), _) => checked_platform_version(given, fargate)?,
        (None, true) => checked_platform_version(service.platform_version.clone(), true)?,
        (None, false) => None,
    };
    refuse_placement_on_fargate(
        fargate,
        !service.placement_constraints.is_empty(),
        !service.placement_strategy.is_empty(),
    )?;
    if placement_changed {
        let arn = deploy.as_deref().unwrap_or(&service.task_definition);
        // An EXTERNAL service has no definition of its own: its constraints are checked alone.
        let definition = staged.state().task_definition_by_arn(arn).map(|d| &d.definition);
        if definition.is_some() || external {
            validate_placement(
                &service.placement_constraints,
                &service.placement_strategy,
                definition,
                daemon,
            )?;
        }
    }
    if targets_changed {
        deploy.get_or_insert_with(|| service.task_definition.clone());
    }
    // A new deployment's definition must suit the service's network configuration (a new one
    // checked against the VPC; the one it has kept, as long as the network mode allows it), and
    // map what its load balancers and registry name.
    if let Some(arn) = deploy.clone() {
        let definition = staged
            .state()
            .task_definition_by_arn(&arn)
            .map(|d| d.definition.clone())
            .ok_or_else(|| ApiError::invalid(TASK_DEFINITION_NOT_FOUND))?;
        if fargate {
            super::tasks::check_fargate_definition(&definition)?;
        }
        let mode = definition.network_mode.as_deref().unwrap_or("bridge");
        service.network_configuration = match network_given.take() {
            Some(given) => crate::vpc::check(mode, Some(given), checks.vpc, fargate)?,
            None => {
                let kept = service.network_configuration.clone();
                crate::vpc::agrees_with_mode(mode, kept.is_some())?;
                kept
            }
        };
        check_load_balancers(&service.load_balancers, &definition, checks.load_balancing)?;
        check_registries(&service.service_registries, &definition, checks.service_registry)?;
    }
    if targets_changed {
        // The tasks of the deployments there are keep registering where they did until they
        // are replaced.
        for deployment in &service.deployments {
            record
                .deployment_targets
                .entry(deployment.id.clone())
                .or_insert_with(|| before.clone());
        }
    }
    let service = &mut record.service;
    if let Some(arn) = deploy {
        // The new deployment supersedes the current primary, as on ECS.
        for d in &mut service.deployments {
            d.status = DeploymentStatus::Active;
        }
        service.task_definition.clone_from(&arn);
        let deployment = service_deployment(service, deployment_id, &arn, now);
        service.deployments.insert(0, deployment);
        record.throttled_until = None;
    }
    if let Some(primary) = record.service.deployments.first_mut() {
        primary.desired_count = record.service.desired_count;
        primary.updated_at = now;
    }
    // Deployments that are gone took their tasks with them.
    let live: Vec<String> = record.service.deployments.iter().map(|d| d.id.clone()).collect();
    record.deployment_targets.retain(|id, _| live.contains(id));
    Ok(())
}

pub async fn update(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let (cluster, reference, changes) =
        parse_update(decode(body)?, ctx.app.quotas.tasks_per_service)?;
    let deployment_id = new_deployment_id();
    let now = ctx.now;
    let load_balancing = std::sync::Arc::clone(&ctx.app.load_balancing);
    let service_registry = std::sync::Arc::clone(&ctx.app.service_registry);
    let network = changes.iter().find_map(|c| match c {
        ServiceChange::NetworkConfiguration(config) => Some(config.clone()),
        _ => None,
    });
    let vpc = crate::vpc::view_if_given(ctx.app, &network).await?;
    let service = ctx
        .app
        .state
        .write(move |staged| {
            let cluster = active_cluster(staged, cluster.as_deref())?;
            let mut record = service_in(staged, &cluster.cluster_name, &reference)?;
            if record.service.status != ServiceStatus::Active {
                return Err(not_active());
            }
            let checks = TargetChecks {
                load_balancing: load_balancing.as_ref(),
                service_registry: service_registry.as_ref(),
                vpc: &vpc,
            };
            apply_changes(staged, &mut record, changes, deployment_id, now, &checks)?;
            staged.put(Record::Service(Box::new(record.clone())));
            Ok(record.service)
        })
        .await?;
    let service = with_counts(&ctx.app.state.read(), service, false);
    respond(&wire::UpdateServiceResponse { service: Some(answered(&service)) })
}

/// Constraints and strategies parse, within ECS's limits; DAEMON services take no strategy.
fn validate_placement(
    constraints: &[PlacementConstraint],
    strategies: &[PlacementStrategy],
    definition: Option<&TaskDefinition>,
    daemon: bool,
) -> Result<(), ApiError> {
    if daemon && !strategies.is_empty() {
        return Err(ApiError::invalid(
            "Placement strategies are not supported with the DAEMON scheduling strategy.",
        ));
    }
    placement::constraints(constraints, definition)?;
    placement::strategies(strategies, Strategy::service_default)?;
    Ok(())
}

pub async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DeleteServiceRequest { cluster, service, force } = decode(body)?;
    let force = force.unwrap_or(false);
    let service = ctx
        .app
        .state
        .write(move |staged| {
            let cluster = active_cluster(staged, cluster.as_deref())?;
            let mut record = service_in(staged, &cluster.cluster_name, &service)?;
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
    respond(&wire::DeleteServiceResponse { service: Some(answered(&service)) })
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
    let wire::DescribeServicesRequest { cluster, services: references, include } = decode(body)?;
    if references.is_empty() || references.len() > 10 {
        return Err(ApiError::invalid("services must name 1 to 10 services"));
    }
    let include = include.unwrap_or_default();
    if let Some(bad) = include.iter().find(|i| *i != "TAGS") {
        return Err(ApiError::invalid(format!(
            "invalid include value '{bad}'; valid values: TAGS"
        )));
    }
    let with_tags = !include.is_empty();
    let cluster =
        flotilla_api::arn::cluster_name_from(cluster.as_deref().unwrap_or("default")).to_string();
    let state = ctx.app.state.read();
    if !crate::domain::is_active_cluster(&state, &cluster) {
        return Err(ApiError::cluster_not_found());
    }
    let mut services = Vec::new();
    let mut failures = Vec::new();
    for reference in &references {
        match state.services.get(&(cluster.clone(), id_from(reference).to_string())) {
            Some(record) => {
                services.push(answered(&with_counts(&state, record.service.clone(), with_tags)))
            }
            None => failures.push(Failure {
                arn: Some(ctx.app.scope.service(&cluster, id_from(reference))),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    respond(&wire::DescribeServicesResponse {
        services: Some(services),
        failures: Some(failures_to_wire(failures)),
    })
}

pub fn list(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::ListServicesRequest {
        cluster,
        next_token,
        max_results,
        launch_type,
        scheduling_strategy,
        resource_management_type,
    } = decode(body)?;
    // Every service is the customer's: none is managed by ECS on its behalf.
    let ecs_managed = match resource_management_type.as_deref() {
        None | Some("CUSTOMER") => false,
        Some("ECS") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "resourceManagementType must be CUSTOMER or ECS, not {other}"
            )))
        }
    };
    let cluster =
        flotilla_api::arn::cluster_name_from(cluster.as_deref().unwrap_or("default")).to_string();
    let state = ctx.app.state.read();
    if !crate::domain::is_active_cluster(&state, &cluster) {
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
        .filter(|_| !ecs_managed)
        .filter(|s| launch_type.as_ref().is_none_or(|l| *l == s.service.launch_type))
        .filter(|s| {
            scheduling_strategy.as_ref().is_none_or(|l| *l == s.service.scheduling_strategy)
        })
        .map(|s| (s.name.clone(), s.service.service_arn.clone()));
    let (arns, next) = paginate(items, next_token.as_deref(), max_results.or(Some(10)), 100)?;
    respond(&wire::ListServicesResponse { service_arns: Some(arns), next_token: next })
}

/// ListServicesByNamespace: services by the Cloud Map namespace they are in through Service
/// Connect. Service Connect is refused, so an existing namespace has none; one Cloud Map does
/// not have is unknown, as ECS answers.
pub fn list_by_namespace(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::ListServicesByNamespaceRequest { namespace, next_token: _, max_results } =
        decode(body)?;
    if let Some(n) = max_results.filter(|n| !(1..=100).contains(n)) {
        return Err(ApiError::invalid(format!("maxResults ({n}) must be between 1 and 100")));
    }
    if !ctx.app.service_registry.namespace_exists(&namespace) {
        return Err(ApiError::new(
            ErrorCode::NamespaceNotFoundException,
            format!("Namespace not found: {namespace}."),
        ));
    }
    respond(&wire::ListServicesByNamespaceResponse {
        service_arns: Some(Vec::new()),
        next_token: None,
    })
}

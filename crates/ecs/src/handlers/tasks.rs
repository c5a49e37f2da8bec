//! RunTask, StartTask, StopTask, DescribeTasks, ListTasks.

use std::collections::HashSet;

use flotilla_api::agent::FARGATE_POOL;
use flotilla_api::arn::id_from;
use flotilla_api::capacity::{share_out, CapacityProvider, FARGATE_PROVIDERS};
use flotilla_api::cluster::CapacityProviderStrategyItem;
use flotilla_api::common::{decode, validate_tags};
use flotilla_api::service::{PlacementConstraint, PlacementStrategy};
use flotilla_api::status::InstanceStatus;
use flotilla_api::task::TaskStatus;
use flotilla_api::task::{Container, ContainerOverride, Task, TaskInterface, TaskOverride};
use flotilla_api::taskdef::TaskDefinition;
use flotilla_api::{ApiError, ErrorCode, Failure, KeyValuePair};
use flotilla_scheduler::{place, Request, Strategy};

use super::{respond, Ctx};
use crate::convert::{failures_to_wire, pairs_to_wire, tags_from_wire, tags_if_any};
use crate::deactivation::{deactivate, deregistration_hold};
use crate::domain::capacity::{is_fargate_strategy, launch_strategy, provider_constraint};
use crate::domain::launch::{reservation, validate_overrides};
use crate::domain::placement;
use crate::domain::tasks::{
    mark_stopped, new_ids, new_task, resolve_definition, run_on_fargate, Launch, TaskIds,
};
use crate::domain::{active_cluster, is_active_cluster, DEFAULT_CLUSTER};
use crate::state::{task_key, Record, Staged, TaskRecord};
use crate::wire;
use flotilla_api::pagination::paginate;

/// RunTask starts at most this many tasks per call, as ECS.
const MAX_RUN_COUNT: i32 = 10;
/// DescribeTasks takes at most this many tasks per call.
const MAX_DESCRIBE: usize = 100;

fn validate_launch_common(
    tags: &[flotilla_api::Tag],
    group: Option<&str>,
    started_by: Option<&str>,
) -> Result<(), ApiError> {
    validate_tags(tags)?;
    if group.is_some_and(|g| g.is_empty() || g.len() > 255) {
        return Err(ApiError::invalid("group must be 1 to 255 characters"));
    }
    if started_by.is_some_and(|s| s.len() > 128) {
        return Err(ApiError::invalid("startedBy must be at most 128 characters"));
    }
    Ok(())
}

/// The launch parameters RunTask and StartTask share, read from their requests.
struct LaunchRequest {
    task_definition: String,
    cluster: Option<String>,
    overrides: TaskOverride,
    group: Option<String>,
    started_by: Option<String>,
    tags: Vec<flotilla_api::Tag>,
    constraints: Vec<PlacementConstraint>,
    strategies: Vec<PlacementStrategy>,
    /// The task definition's tags join the task's (`propagateTags` TASK_DEFINITION).
    propagate_definition_tags: bool,
    /// `aws:ecs:clusterName` joins them (`enableECSManagedTags`).
    managed_tags: bool,
}

/// A request's overrides as the task keeps them; what no container could honour is refused.
/// (Accelerator, ephemeral-storage and GPU overrides and environment files are refused by the
/// field ledger before a handler runs.)
fn overrides_from_wire(overrides: Option<wire::TaskOverride>) -> TaskOverride {
    let Some(wire::TaskOverride {
        container_overrides,
        cpu,
        inference_accelerator_overrides: _,
        execution_role_arn,
        memory,
        task_role_arn,
        ephemeral_storage: _,
    }) = overrides
    else {
        return TaskOverride::default();
    };
    let container_overrides = container_overrides
        .unwrap_or_default()
        .into_iter()
        .map(|o| {
            let wire::ContainerOverride {
                name,
                command,
                environment,
                // Refused by the field ledger until access control (#15) reads S3 files.
                environment_files: _,
                cpu,
                memory,
                memory_reservation,
                resource_requirements: _,
            } = o;
            ContainerOverride {
                name,
                command,
                environment: environment.map(|list| {
                    list.into_iter()
                        .map(|p| KeyValuePair { name: p.name, value: p.value })
                        .collect()
                }),
                cpu,
                memory,
                memory_reservation,
            }
        })
        .collect();
    TaskOverride { container_overrides, cpu, memory, task_role_arn, execution_role_arn }
}

/// Validates a launch against the current task definition and stamps ids for `count` tasks.
fn prepare_launch(ctx: &Ctx<'_>, r: LaunchRequest, count: usize) -> Result<Launch, ApiError> {
    // ECS reports a missing cluster before anything else about the request.
    let cluster =
        flotilla_api::arn::cluster_name_from(r.cluster.as_deref().unwrap_or(DEFAULT_CLUSTER));
    if !is_active_cluster(&ctx.app.state.read(), cluster) {
        return Err(ApiError::cluster_not_found());
    }
    validate_launch_common(&r.tags, r.group.as_deref(), r.started_by.as_deref())?;
    let strategies = placement::strategies(&r.strategies, Strategy::task_default)?;
    let containers = {
        let state = ctx.app.state.read();
        let definition = resolve_definition(&state, &r.task_definition)?;
        validate_overrides(&definition, &r.overrides)?;
        // Checked now for a clear error; parsed again with the definition when placing.
        placement::constraints(&r.constraints, Some(&definition))?;
        definition.container_definitions.len()
    };
    let tags = {
        let state = ctx.app.state.read();
        let propagated = match resolve_definition(&state, &r.task_definition) {
            Ok(definition) if r.propagate_definition_tags => state
                .task_definition_by_arn(&definition.task_definition_arn)
                .map(|d| d.tags.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let cluster =
            flotilla_api::arn::cluster_name_from(r.cluster.as_deref().unwrap_or("default"));
        let managed = [("aws:ecs:clusterName", cluster)];
        let managed: &[(&str, &str)] = if r.managed_tags { &managed } else { &[] };
        flotilla_api::service::task_tags(&r.tags, &propagated, managed)
    };
    Ok(Launch {
        cluster_ref: r.cluster,
        definition_ref: r.task_definition,
        overrides: r.overrides,
        group: r.group,
        started_by: r.started_by,
        tags,
        ids: new_ids(count, containers),
        now: ctx.now,
        constraints: r.constraints,
        strategies,
    })
}

/// A task as the API answers it.
pub fn answered(task: &Task) -> wire::Task {
    let o = &task.overrides;
    wire::Task {
        attachments: Some(task.interface.iter().map(|i| eni_attachment(task, i)).collect()),
        attributes: None,
        availability_zone: task.availability_zone.clone(),
        capacity_provider_name: task.capacity_provider_name.clone(),
        cluster_arn: Some(task.cluster_arn.clone()),
        connectivity: task.connectivity.clone(),
        connectivity_at: task.connectivity_at,
        container_instance_arn: task.container_instance_arn.clone(),
        containers: Some(
            task.containers
                .iter()
                .map(|c| container_answered(c, task.interface.as_ref()))
                .collect(),
        ),
        cpu: task.cpu.clone(),
        created_at: Some(task.created_at),
        desired_status: Some(task.desired_status.to_string()),
        enable_execute_command: Some(false),
        execution_stopped_at: task.execution_stopped_at,
        group: task.group.clone(),
        health_status: task.health_status.map(|h| h.to_string()),
        inference_accelerators: None,
        last_status: Some(task.last_status.to_string()),
        launch_type: Some(task.launch_type.clone()),
        memory: task.memory.clone(),
        overrides: Some(wire::TaskOverride {
            container_overrides: Some(
                o.container_overrides
                    .iter()
                    .map(|c| wire::ContainerOverride {
                        name: c.name.clone(),
                        command: c.command.clone(),
                        environment: c.environment.as_deref().map(pairs_to_wire),
                        environment_files: None,
                        cpu: c.cpu,
                        memory: c.memory,
                        memory_reservation: c.memory_reservation,
                        resource_requirements: None,
                    })
                    .collect(),
            ),
            cpu: o.cpu.clone(),
            inference_accelerator_overrides: None,
            execution_role_arn: o.execution_role_arn.clone(),
            memory: o.memory.clone(),
            task_role_arn: o.task_role_arn.clone(),
            ephemeral_storage: None,
        }),
        platform_version: task.platform_version.clone(),
        platform_family: task.platform_version.as_ref().map(|_| "Linux".to_string()),
        pull_started_at: task.pull_started_at,
        pull_stopped_at: task.pull_stopped_at,
        started_at: task.started_at,
        started_by: task.started_by.clone(),
        stop_code: task.stop_code.clone(),
        stopped_at: task.stopped_at,
        stopped_reason: task.stopped_reason.clone(),
        stopping_at: task.stopping_at,
        tags: tags_if_any(task.tags.as_deref()),
        task_arn: Some(task.task_arn.clone()),
        task_definition_arn: Some(task.task_definition_arn.clone()),
        version: Some(task.version),
        ephemeral_storage: None,
        fargate_ephemeral_storage: None,
    }
}

/// An awsvpc task's interface as ECS describes it: `ElasticNetworkInterface`, PRECREATED until
/// its agent has wired it, ATTACHED while the task holds it, DELETED once the task stopped.
fn eni_attachment(task: &Task, interface: &TaskInterface) -> wire::Attachment {
    let status = if task.last_status == TaskStatus::Stopped {
        "DELETED"
    } else if interface.ipv4_address.is_some() {
        "ATTACHED"
    } else {
        "PRECREATED"
    };
    let detail = |name: &str, value: Option<&str>| {
        value.map(|v| wire::KeyValuePair { name: Some(name.into()), value: Some(v.into()) })
    };
    let ip = interface.ipv4_address.as_deref();
    let dns_name = ip.map(|ip| flotilla_api::task::private_dns_name(ip, &task.task_arn));
    let details = [
        detail("subnetId", Some(&interface.subnet_id)),
        detail("networkInterfaceId", Some(&interface.interface_id)),
        detail("macAddress", interface.mac_address.as_deref()),
        detail("privateDnsName", dns_name.as_deref()),
        detail("privateIPv4Address", ip),
    ];
    wire::Attachment {
        id: Some(interface.attachment_id.clone()),
        r#type: Some("ElasticNetworkInterface".into()),
        status: Some(status.into()),
        details: Some(details.into_iter().flatten().collect()),
    }
}

fn container_answered(c: &Container, interface: Option<&TaskInterface>) -> wire::Container {
    wire::Container {
        container_arn: Some(c.container_arn.clone()),
        task_arn: Some(c.task_arn.clone()),
        name: Some(c.name.clone()),
        image: c.image.clone(),
        image_digest: None,
        runtime_id: c.runtime_id.clone(),
        last_status: Some(c.last_status.to_string()),
        exit_code: c.exit_code,
        reason: c.reason.clone(),
        network_bindings: Some(
            c.network_bindings
                .iter()
                .map(|b| wire::NetworkBinding {
                    bind_ip: b.bind_ip.clone(),
                    container_port: b.container_port,
                    host_port: b.host_port,
                    protocol: b.protocol.clone(),
                    container_port_range: None,
                    host_port_range: None,
                })
                .collect(),
        ),
        network_interfaces: Some(
            interface
                .map(|i| wire::NetworkInterface {
                    attachment_id: Some(i.attachment_id.clone()),
                    private_ipv4_address: i.ipv4_address.clone(),
                    ipv6_address: None,
                })
                .into_iter()
                .collect(),
        ),
        health_status: c.health_status.map(|h| h.to_string()),
        managed_agents: None,
        cpu: c.cpu.clone(),
        memory: c.memory.clone(),
        memory_reservation: c.memory_reservation.clone(),
        gpu_ids: None,
    }
}

/// Some of a launch's tasks and the capacity provider whose agents they go to (none: any).
type Lane<'i> = (Option<CapacityProvider>, Vec<&'i TaskIds>);

/// The tasks each provider of `strategy` gets (base, then weight), with the provider; without a
/// strategy, every task in one lane with no provider.
fn provider_lanes<'i>(
    state: &crate::state::State,
    scope: &flotilla_api::arn::ArnScope,
    strategy: &[CapacityProviderStrategyItem],
    ids: &'i [TaskIds],
) -> Result<Vec<Lane<'i>>, ApiError> {
    if strategy.is_empty() {
        return Ok(vec![(None, ids.iter().collect())]);
    }
    let mut lanes = Vec::new();
    for (n, mine) in share_out(strategy, &[], ids) {
        let item = &strategy[n];
        // FARGATE and FARGATE_SPOT are built in: the Fargate capacity runs both.
        if FARGATE_PROVIDERS.contains(&item.capacity_provider.as_str()) {
            let arn = scope.capacity_provider(&item.capacity_provider);
            lanes.push((Some(CapacityProvider::fargate(arn, &item.capacity_provider)), mine));
            continue;
        }
        let provider =
            state.capacity_providers.get(&item.capacity_provider).cloned().ok_or_else(|| {
                ApiError::client(format!(
                    "The capacity provider {} does not exist.",
                    item.capacity_provider
                ))
            })?;
        lanes.push((Some(provider), mine));
    }
    Ok(lanes)
}

/// Tasks started and the ones that could not be, as RunTask and StartTask answer.
fn launched(tasks: &[Task], failures: Vec<Failure>) -> (Vec<wire::Task>, Vec<wire::Failure>) {
    (tasks.iter().map(answered).collect(), failures_to_wire(failures))
}

/// A launch's `networkConfiguration`, checked against its task definition (as it is now) and
/// the VPC, with its subnets readied for the cluster's hosts. Without one nothing is read: the
/// commit checks that the definition needs none (`vpc::agrees`).
async fn prepare_network(
    ctx: &Ctx<'_>,
    launch: &Launch,
    given: Option<wire::NetworkConfiguration>,
    fargate: bool,
) -> Result<Option<crate::vpc::Prepared>, ApiError> {
    let Some(given) = given else { return Ok(None) };
    let (mode, cluster) = {
        let state = ctx.app.state.read();
        let definition = resolve_definition(&state, &launch.definition_ref)?;
        // FARGATE tasks run on the Fargate capacity: its hosts' slices.
        let cluster = match fargate {
            true => FARGATE_POOL.to_string(),
            false => launch.cluster_ref.as_deref().map_or(DEFAULT_CLUSTER, id_from).to_string(),
        };
        (definition.network_mode.unwrap_or_else(|| "bridge".into()), cluster)
    };
    let given = crate::vpc::from_wire(Some(given));
    crate::vpc::prepare(ctx.app, &cluster, &mode, given, fargate).await
}

/// ECS's checks of a FARGATE launch that need no store: no capacity provider strategy beside
/// the launch type, no placement constraints or strategies.
fn check_fargate_launch(
    strategy: &[CapacityProviderStrategyItem],
    placement: bool,
) -> Result<(), ApiError> {
    if !strategy.is_empty() {
        return Err(ApiError::invalid(
            "Specifying both a launch type and capacity provider strategy is not supported. \
             Please specify one or the other and try again.",
        ));
    }
    crate::domain::capacity::refuse_placement_on_fargate(true, placement, false)
}

/// A FARGATE launch's definition must be FARGATE-compatible (checked for Fargate when it was
/// registered).
pub(crate) fn check_fargate_definition(definition: &TaskDefinition) -> Result<(), ApiError> {
    if definition.compatibilities.iter().flatten().any(|c| c == "FARGATE") {
        Ok(())
    } else {
        Err(ApiError::invalid("Task definition does not support launch_type FARGATE."))
    }
}

/// What RunTask says when no Fargate capacity is connected.
const NO_FARGATE_CAPACITY: &str = "No Fargate capacity is running in this region: start \
    `flotilla agent --fargate` on a machine (`flotilla dev` runs one).";

pub async fn run(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    // The members the field ledger refuses (ECS Exec, networking, capacity providers, ...) were
    // refused before this handler ran, by name.
    let wire::RunTaskRequest {
        capacity_provider_strategy,
        cluster,
        count,
        enable_ecs_managed_tags,
        enable_execute_command: _,
        group,
        launch_type,
        network_configuration,
        overrides,
        placement_constraints,
        placement_strategy,
        platform_version,
        propagate_tags,
        reference_id: _,
        started_by,
        tags,
        task_definition,
        client_token,
        volume_configurations: _,
    } = decode(body)?;
    // Up to 64 characters from ! to ~, as ECS takes them (botocore fills one on every call).
    if client_token.as_ref().is_some_and(|t| {
        t.is_empty() || t.len() > 64 || !t.bytes().all(|b| (33..=126).contains(&b))
    }) {
        return Err(ApiError::invalid(
            "clientToken must be 1 to 64 characters in the range 33-126 (! to ~)",
        ));
    }
    let count = count.unwrap_or(1);
    if !(1..=MAX_RUN_COUNT).contains(&count) {
        return Err(ApiError::invalid(format!(
            "count must be between 1 and {MAX_RUN_COUNT}, not {count}"
        )));
    }
    let fargate = launch_type.as_deref() == Some("FARGATE");
    match launch_type.as_deref() {
        None | Some("EC2") | Some("EXTERNAL") | Some("FARGATE") => {}
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "launch type {other} is not supported by this cluster yet; use EC2"
            )))
        }
    }
    let requested: Vec<CapacityProviderStrategyItem> = capacity_provider_strategy
        .map(|s| crate::convert::into_domain("capacityProviderStrategy", &s))
        .transpose()?
        .unwrap_or_default();
    let launch_type_given = launch_type.is_some();
    let placement_given = placement_constraints.as_ref().is_some_and(|c| !c.is_empty())
        || placement_strategy.as_ref().is_some_and(|s| !s.is_empty());
    if fargate {
        check_fargate_launch(&requested, placement_given)?;
    }
    let launch = prepare_launch(
        ctx,
        LaunchRequest {
            task_definition,
            cluster,
            overrides: overrides_from_wire(overrides),
            group,
            started_by,
            tags: tags_from_wire(tags),
            constraints: placement_constraints
                .unwrap_or_default()
                .into_iter()
                .map(|c| PlacementConstraint {
                    constraint_type: c.r#type,
                    expression: c.expression,
                })
                .collect(),
            strategies: placement_strategy
                .unwrap_or_default()
                .into_iter()
                .map(|s| PlacementStrategy { strategy_type: s.r#type, field: s.field })
                .collect(),
            propagate_definition_tags: propagate_tags.as_deref() == Some("TASK_DEFINITION"),
            managed_tags: enable_ecs_managed_tags.unwrap_or(false),
        },
        count as usize,
    )?;
    // A strategy of FARGATE/FARGATE_SPOT (given, or the cluster's default when neither a
    // strategy nor a launch type is) runs on the Fargate capacity too.
    let by_strategy = !fargate
        && match (requested.is_empty(), launch_type_given) {
            (false, _) => is_fargate_strategy(&requested),
            (true, false) => {
                let state = ctx.app.state.read();
                let name = launch.cluster_ref.as_deref().map_or(DEFAULT_CLUSTER, id_from);
                state.clusters.get(name).is_some_and(|c| {
                    is_fargate_strategy(
                        c.default_capacity_provider_strategy.as_deref().unwrap_or_default(),
                    )
                })
            }
            (true, true) => false,
        };
    if by_strategy {
        check_fargate_launch(&[], placement_given)?;
    }
    let fargate = fargate || by_strategy;
    // Every FARGATE task runs the one platform version there is; the check is ECS's.
    crate::domain::tasks::checked_platform_version(platform_version, fargate)?;
    let network = prepare_network(ctx, &launch, network_configuration, fargate).await?;
    let connected = ctx.app.agents.connected_ids();
    let scope = ctx.app.scope.clone();
    // Drawn here, outside the write, so applying it is deterministic: lane n places with
    // `seed + n`.
    let seed = placement::seed();
    let (tasks, failures) = ctx
        .app
        .state
        .write(move |staged| {
            let cluster = active_cluster(staged, launch.cluster_ref.as_deref())?;
            let definition = resolve_definition(staged.state(), &launch.definition_ref)?;
            crate::vpc::agrees(definition.network_mode.as_deref(), network.as_ref())?;
            if fargate {
                check_fargate_definition(&definition)?;
            }
            let reservation = reservation(&definition, &launch.overrides);
            let group = launch.group_of(&definition);
            let constraints = placement::constraints(&launch.constraints, Some(&definition))?;
            // FARGATE tasks are placed on the Fargate capacity, not the cluster's instances.
            let hosts = if fargate { FARGATE_POOL } else { cluster.cluster_name.as_str() };
            let mut snapshot = placement::snapshot(staged, hosts, &connected, &HashSet::new());
            if snapshot.cluster.is_empty() {
                return Err(ApiError::invalid(if fargate {
                    NO_FARGATE_CAPACITY
                } else {
                    "No Container Instances were found in your cluster."
                }));
            }
            // A retry of a call that started tasks gets those tasks back, not more: the tasks
            // committed with its token, and those staged earlier in this very commit.
            if let Some(token) = &client_token {
                let name = &cluster.cluster_name;
                let committed = staged.state().tasks_by_token.get(&(name.clone(), token.clone()));
                let mut tasks: Vec<Task> = committed
                    .into_iter()
                    .flatten()
                    .filter_map(|id| staged.task(name, id))
                    .map(|t| t.task.clone())
                    .collect();
                for record in staged.pending(&crate::state::task_prefix(name)).into_values() {
                    if let Some(Record::Task(t)) = record {
                        let new = !tasks.iter().any(|known| known.task_arn == t.task.task_arn);
                        if t.client_token.as_ref() == Some(token) && new {
                            tasks.push(t.task.clone());
                        }
                    }
                }
                if !tasks.is_empty() {
                    return Ok((tasks, Vec::new()));
                }
            }
            let demand = reservation.demand();
            let strategy = launch_strategy(&cluster, &requested, launch_type_given)?;
            if is_fargate_strategy(&strategy) != by_strategy {
                // The cluster's default strategy changed since it was read: try again.
                return Err(ApiError::new(
                    ErrorCode::ServerException,
                    "the cluster's capacity provider strategy changed during the call; retry",
                ));
            }
            let mut tasks = Vec::new();
            let mut failures = Vec::new();
            // One lane per capacity provider (its share of the tasks, on its agents only; the
            // Fargate providers' on the Fargate capacity), or one lane of every task when no
            // strategy applies.
            let lanes = provider_lanes(staged.state(), &scope, &strategy, &launch.ids)?;
            for (lane, (provider, ids)) in lanes.into_iter().enumerate() {
                let mut lane_constraints = constraints.clone();
                let own_agents =
                    provider.as_ref().filter(|p| !FARGATE_PROVIDERS.contains(&p.name.as_str()));
                lane_constraints.extend(own_agents.map(provider_constraint));
                lane_constraints.extend(network.as_ref().map(crate::vpc::Prepared::constraint));
                let placements = place(
                    &mut snapshot.cluster,
                    &Request {
                        demand: &demand,
                        group: &group,
                        constraints: &lane_constraints,
                        strategies: &launch.strategies,
                        count: ids.len(),
                        seed: seed.wrapping_add(lane as u64),
                    },
                );
                for (placement, ids) in placements.into_iter().zip(ids) {
                    match placement {
                        Ok(i) => {
                            let Some(instance) =
                                placement::record_of(staged, hosts, snapshot.id(i))
                            else {
                                continue; // cannot happen: views follow the records
                            };
                            let mut record = new_task(
                                &scope,
                                &launch,
                                &cluster.cluster_name,
                                &definition,
                                &instance,
                                ids,
                                &reservation,
                            );
                            if fargate {
                                run_on_fargate(&mut record.task);
                            }
                            record.task.capacity_provider_name =
                                provider.as_ref().map(|p| p.name.clone());
                            record.task.interface = network
                                .as_ref()
                                .and_then(|n| n.interface_for(&instance.instance.ec2_instance_id));
                            record.client_token.clone_from(&client_token);
                            tasks.push(record.task.clone());
                            staged.put(Record::Task(Box::new(record)));
                        }
                        Err(reason) => failures.push(Failure {
                            arn: None,
                            reason: Some(reason.as_str().into()),
                            detail: None,
                        }),
                    }
                }
            }
            Ok((tasks, failures))
        })
        .await?;
    let (tasks, failures) = launched(&tasks, failures);
    respond(&wire::RunTaskResponse { tasks: Some(tasks), failures: Some(failures) })
}

pub async fn start(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    // The members the field ledger refuses were refused before this handler ran, by name.
    let wire::StartTaskRequest {
        cluster,
        container_instances,
        enable_ecs_managed_tags,
        enable_execute_command: _,
        group,
        network_configuration,
        overrides,
        propagate_tags,
        reference_id: _,
        started_by,
        tags,
        task_definition,
        volume_configurations: _,
    } = decode(body)?;
    if container_instances.is_empty() || container_instances.len() > 10 {
        return Err(ApiError::invalid("containerInstances must name 1 to 10 container instances"));
    }
    let targets: Vec<String> = container_instances.iter().map(|r| id_from(r).to_string()).collect();
    let launch = prepare_launch(
        ctx,
        LaunchRequest {
            task_definition,
            cluster,
            overrides: overrides_from_wire(overrides),
            group,
            started_by,
            tags: tags_from_wire(tags),
            constraints: Vec::new(),
            strategies: Vec::new(),
            propagate_definition_tags: propagate_tags.as_deref() == Some("TASK_DEFINITION"),
            managed_tags: enable_ecs_managed_tags.unwrap_or(false),
        },
        targets.len(),
    )?;
    let network = prepare_network(ctx, &launch, network_configuration, false).await?;
    let connected = ctx.app.agents.connected_ids();
    let scope = ctx.app.scope.clone();
    let (tasks, failures) = ctx
        .app
        .state
        .write(move |staged| {
            let cluster = active_cluster(staged, launch.cluster_ref.as_deref())?;
            let definition = resolve_definition(staged.state(), &launch.definition_ref)?;
            crate::vpc::agrees(definition.network_mode.as_deref(), network.as_ref())?;
            let reservation = reservation(&definition, &launch.overrides);
            let mut tasks = Vec::new();
            let mut failures = Vec::new();
            for (target, ids) in targets.iter().zip(&launch.ids) {
                let arn = scope.container_instance(&cluster.cluster_name, target);
                let instance = match staged
                    .get(&crate::state::instance_key(&cluster.cluster_name, target))
                {
                    Some(Record::Instance(i)) if i.instance.status != InstanceStatus::Inactive => {
                        *i
                    }
                    _ => {
                        failures.push(Failure {
                            arn: Some(arn),
                            reason: Some("MISSING".into()),
                            detail: None,
                        });
                        continue;
                    }
                };
                let placed = staged.tasks_on(&cluster.cluster_name, target);
                let view = crate::state::views::instance_view(&instance, &connected, placed.iter());
                // StartTask names its instances: resources must fit, strategies and
                // constraints do not apply (as in ECS).
                let fit = if view.active {
                    flotilla_scheduler::fits(&view, &reservation.demand())
                } else {
                    Err(flotilla_scheduler::Reason::Agent)
                };
                // An awsvpc task needs a slice of one of its subnets on the named instance.
                let interface =
                    network.as_ref().map(|n| n.interface_for(&instance.instance.ec2_instance_id));
                if let Some(None) = interface {
                    failures.push(Failure {
                        arn: Some(arn),
                        reason: Some("ATTRIBUTE".into()),
                        detail: Some(
                            "the instance runs no awsvpc tasks in the zones of the given subnets"
                                .into(),
                        ),
                    });
                    continue;
                }
                match fit {
                    Ok(()) => {
                        let mut record = new_task(
                            &scope,
                            &launch,
                            &cluster.cluster_name,
                            &definition,
                            &instance,
                            ids,
                            &reservation,
                        );
                        record.task.interface = interface.flatten();
                        tasks.push(record.task.clone());
                        staged.put(Record::Task(Box::new(record)));
                    }
                    Err(reason) => failures.push(Failure {
                        arn: Some(arn),
                        reason: Some(reason.as_str().into()),
                        detail: None,
                    }),
                }
            }
            Ok((tasks, failures))
        })
        .await?;
    let (tasks, failures) = launched(&tasks, failures);
    respond(&wire::StartTaskResponse { tasks: Some(tasks), failures: Some(failures) })
}

/// Finds a task by ARN or id in the named cluster.
fn task_in<'s>(staged: &Staged<'s>, cluster: &str, reference: &str) -> Option<TaskRecord> {
    match staged.get(&task_key(cluster, id_from(reference))) {
        Some(Record::Task(t)) => Some(*t),
        _ => None,
    }
}

pub async fn stop(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::StopTaskRequest { cluster, task, reason } = decode(body)?;
    if reason.as_deref().is_some_and(|r| r.len() > 255) {
        return Err(ApiError::invalid("reason must be at most 255 characters"));
    }
    let now = ctx.now;
    let load_balancing = std::sync::Arc::clone(&ctx.app.load_balancing);
    let task = ctx
        .app
        .state
        .write(move |staged| {
            let cluster = active_cluster(staged, cluster.as_deref())?;
            let mut record = task_in(staged, &cluster.cluster_name, &task)
                .ok_or_else(|| ApiError::invalid("The referenced task was not found."))?;
            let task = &mut record.task;
            if task.desired_status != TaskStatus::Stopped {
                task.desired_status = TaskStatus::Stopped;
                task.stop_code.get_or_insert_with(|| "UserInitiated".into());
                task.stopped_reason.get_or_insert_with(|| reason.clone().unwrap_or_else(|| "Task stopped by user".into()));
                task.stopping_at.get_or_insert(now);
                task.version += 1;
                // A task whose instance is gone has nobody to stop it: it is stopped now. (A
                // FARGATE task's instance is the Fargate capacity's.)
                let live = |cluster: &str, id: &str| matches!(staged.get(&crate::state::instance_key(cluster, id)), Some(Record::Instance(i)) if i.instance.status != InstanceStatus::Inactive);
                let instance_gone = match &record.instance_id {
                    Some(id) => !live(&record.cluster, id) && !live(FARGATE_POOL, id),
                    None => true,
                };
                if instance_gone {
                    mark_stopped(&mut record.task, now);
                } else if let Some(service) = record
                    .task
                    .group
                    .as_deref()
                    .and_then(|g| g.strip_prefix("service:"))
                    .and_then(|name| staged.state().services.get(&(record.cluster.clone(), name.to_string())))
                {
                    // A service task leaves its load balancers and registry first, as the
                    // scheduler's stops do.
                    let hold = deregistration_hold(service, &record, load_balancing.as_ref());
                    deactivate(&mut record, hold, now);
                }
                staged.put(Record::Task(Box::new(record.clone())));
            }
            Ok(record.task)
        })
        .await?;
    respond(&wire::StopTaskResponse { task: Some(answered(&task)) })
}

pub fn describe(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DescribeTasksRequest { cluster, tasks: references, include } = decode(body)?;
    if references.is_empty() || references.len() > MAX_DESCRIBE {
        return Err(ApiError::invalid(format!("tasks must name 1 to {MAX_DESCRIBE} tasks")));
    }
    let include = include.unwrap_or_default();
    if let Some(bad) = include.iter().find(|i| *i != "TAGS") {
        return Err(ApiError::invalid(format!(
            "invalid include value '{bad}'; valid values: TAGS"
        )));
    }
    let with_tags = !include.is_empty();
    let cluster_name =
        flotilla_api::arn::cluster_name_from(cluster.as_deref().unwrap_or("default")).to_string();
    let state = ctx.app.state.read();
    if !crate::domain::is_active_cluster(&state, &cluster_name) {
        return Err(ApiError::cluster_not_found());
    }
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for reference in &references {
        match state.tasks.get(&(cluster_name.clone(), id_from(reference).to_string())) {
            Some(record) => {
                let mut task = answered(&record.task);
                if !with_tags {
                    task.tags = None;
                }
                tasks.push(task);
            }
            None => failures.push(Failure {
                arn: Some(if reference.starts_with("arn:") {
                    reference.clone()
                } else {
                    ctx.app.scope.task(&cluster_name, reference)
                }),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    respond(&wire::DescribeTasksResponse {
        tasks: Some(tasks),
        failures: Some(failures_to_wire(failures)),
    })
}

pub fn list(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::ListTasksRequest {
        cluster,
        container_instance,
        family,
        next_token,
        max_results,
        started_by,
        service_name,
        desired_status,
        launch_type,
        // Refused by the field ledger before a handler runs: there are no managed daemons.
        daemon_name: _,
    } = decode(body)?;
    let cluster_name =
        flotilla_api::arn::cluster_name_from(cluster.as_deref().unwrap_or("default")).to_string();
    let desired = match desired_status.as_deref().map(TaskStatus::parse) {
        None => TaskStatus::Running,
        Some(Some(status @ (TaskStatus::Running | TaskStatus::Pending | TaskStatus::Stopped))) => {
            status
        }
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "desiredStatus must be RUNNING, PENDING or STOPPED, not {}",
                desired_status.as_deref().unwrap_or_default()
            )))
        }
    };
    if family.is_some() && service_name.is_some() {
        return Err(ApiError::invalid("family and serviceName cannot both be given"));
    }
    let instance_filter = container_instance.as_deref().map(|r| id_from(r).to_string());
    let service_group =
        service_name.as_deref().map(|s| format!("service:{}", flotilla_api::arn::id_from(s)));
    let state = ctx.app.state.read();
    if !crate::domain::is_active_cluster(&state, &cluster_name) {
        return Err(ApiError::cluster_not_found());
    }
    if let Some(service) = service_name.as_deref().map(flotilla_api::arn::id_from) {
        if !state.services.contains_key(&(cluster_name.clone(), service.to_string())) {
            return Err(ApiError::new(ErrorCode::ServiceNotFoundException, "Service not found."));
        }
    }
    let items = state
        .tasks
        .range((cluster_name.clone(), String::new())..)
        .take_while(|((c, _), _)| *c == cluster_name)
        .map(|(_, t)| t)
        .filter(|t| match desired {
            // PENDING: desired RUNNING but not running yet.
            TaskStatus::Pending => {
                t.task.desired_status == TaskStatus::Running
                    && t.task.last_status != TaskStatus::Running
            }
            other => t.task.desired_status == other,
        })
        .filter(|t| instance_filter.as_ref().is_none_or(|i| t.instance_id.as_ref() == Some(i)))
        .filter(|t| started_by.as_ref().is_none_or(|s| t.task.started_by.as_ref() == Some(s)))
        .filter(|t| launch_type.as_ref().is_none_or(|l| *l == t.task.launch_type))
        .filter(|t| service_group.as_ref().is_none_or(|g| t.task.group.as_ref() == Some(g)))
        .filter(|t| {
            family.as_ref().is_none_or(|f| {
                state
                    .task_definition_by_arn(&t.task.task_definition_arn)
                    .is_some_and(|td| td.definition.family == *f)
            })
        })
        .map(|t| (t.id.clone(), t.task.task_arn.clone()));
    let (arns, next) = paginate(items, next_token.as_deref(), max_results, 100)?;
    respond(&wire::ListTasksResponse { task_arns: Some(arns), next_token: next })
}

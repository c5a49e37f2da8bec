//! Container instances: registration and reports from agents (called by the gateway), and
//! DescribeContainerInstances, ListContainerInstances, DeregisterContainerInstance,
//! UpdateContainerInstancesState.

use std::collections::HashSet;

use flotilla_api::arn::id_from;
use flotilla_api::common::decode;
use flotilla_api::instance::{ContainerInstance, Resource};
use flotilla_api::status::InstanceStatus;
use flotilla_api::task::TaskStatus;
use flotilla_api::{ApiError, Failure};

use super::{respond, Ctx};
use crate::convert::{attribute_to_wire, failures_to_wire, tags_if_any};
use crate::domain::active_cluster;
use crate::domain::capacity::provider_of_group;
use crate::domain::tasks::mark_stopped;
use crate::state::views::instance_view;
use crate::state::{instance_key, InstanceRecord, Record, Staged, State};
use crate::wire;
use flotilla_api::capacity::GROUP_ATTRIBUTE;
use flotilla_api::pagination::paginate;

/// The instance as DescribeContainerInstances shows it, with live counts and resources.
fn describe_one(
    state: &State,
    record: &InstanceRecord,
    connected: &HashSet<String>,
) -> ContainerInstance {
    let mut out = record.instance.clone();
    out.agent_connected = connected.contains(&record.id);
    let (mut running, mut pending) = (0, 0);
    for task in state.tasks_on(&record.id) {
        match task.task.last_status {
            TaskStatus::Running => running += 1,
            TaskStatus::Stopped => {}
            _ => pending += 1,
        }
    }
    out.running_tasks_count = running;
    out.pending_tasks_count = pending;
    out.remaining_resources = remaining(state, record, connected);
    let group = out.attributes.iter().find(|a| a.name == GROUP_ATTRIBUTE);
    out.capacity_provider_name =
        provider_of_group(state, group.and_then(|a| a.value.as_deref())).map(|p| p.name.clone());
    out
}

fn remaining(state: &State, record: &InstanceRecord, connected: &HashSet<String>) -> Vec<Resource> {
    // Reuse placement's accounting so what is shown is what placement uses.
    let view = instance_view(record, connected, state.tasks_on(&record.id));
    record
        .instance
        .registered_resources
        .iter()
        .map(|r| match r.name.as_str() {
            "CPU" => Resource::integer("CPU", view.remaining_cpu as i32),
            "MEMORY" => Resource::integer("MEMORY", view.remaining_memory as i32),
            "PORTS" => Resource::string_set(
                "PORTS",
                view.used_tcp_ports.iter().map(u16::to_string).collect(),
            ),
            "PORTS_UDP" => Resource::string_set(
                "PORTS_UDP",
                view.used_udp_ports.iter().map(u16::to_string).collect(),
            ),
            _ => r.clone(),
        })
        .collect()
}

fn cluster_name(reference: Option<&str>) -> String {
    flotilla_api::arn::cluster_name_from(reference.unwrap_or("default")).to_string()
}

/// An instance as the API answers it.
fn answered(instance: &ContainerInstance) -> wire::ContainerInstance {
    let resources = |list: &[Resource]| {
        list.iter()
            .map(|r| wire::Resource {
                name: Some(r.name.clone()),
                r#type: Some(r.resource_type.clone()),
                double_value: Some(r.double_value),
                long_value: Some(r.long_value),
                integer_value: Some(r.integer_value),
                string_set_value: r.string_set_value.clone(),
            })
            .collect()
    };
    wire::ContainerInstance {
        container_instance_arn: Some(instance.container_instance_arn.clone()),
        ec2_instance_id: Some(instance.ec2_instance_id.clone()),
        capacity_provider_name: instance.capacity_provider_name.clone(),
        version: Some(instance.version),
        version_info: Some(wire::VersionInfo {
            agent_version: instance.version_info.agent_version.clone(),
            agent_hash: instance.version_info.agent_hash.clone(),
            docker_version: instance.version_info.docker_version.clone(),
        }),
        remaining_resources: Some(resources(&instance.remaining_resources)),
        registered_resources: Some(resources(&instance.registered_resources)),
        status: Some(instance.status.to_string()),
        status_reason: instance.status_reason.clone(),
        agent_connected: Some(instance.agent_connected),
        running_tasks_count: Some(instance.running_tasks_count),
        pending_tasks_count: Some(instance.pending_tasks_count),
        // Agents are updated by their operator, not through the API.
        agent_update_status: None,
        attributes: Some(instance.attributes.iter().cloned().map(attribute_to_wire).collect()),
        registered_at: Some(instance.registered_at),
        // Instances have no elastic network interfaces: awsvpc trunking does not exist.
        attachments: Some(Vec::new()),
        tags: tags_if_any(instance.tags.as_deref()),
        // Instance health checks (CONTAINER_INSTANCE_HEALTH) are not reported yet.
        health_status: None,
    }
}

/// The `include` values DescribeContainerInstances accepts.
const INSTANCE_FIELDS: &[&str] = &["TAGS", "CONTAINER_INSTANCE_HEALTH"];

pub fn describe(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DescribeContainerInstancesRequest { cluster, container_instances, include } =
        decode(body)?;
    let include = include.unwrap_or_default();
    if let Some(bad) = include.iter().find(|f| !INSTANCE_FIELDS.contains(&f.as_str())) {
        return Err(ApiError::invalid(format!(
            "invalid include value '{bad}'; valid values: {}",
            INSTANCE_FIELDS.join(", ")
        )));
    }
    // include CONTAINER_INSTANCE_HEALTH is refused by the field ledger: health is not reported.
    let cluster = cluster_name(cluster.as_deref());
    let with_tags = include.iter().any(|i| i == "TAGS");
    let connected = ctx.app.agents.connected_ids();
    let state = ctx.app.state.read();
    // The cluster first, as ECS checks it.
    if !crate::domain::is_active_cluster(&state, &cluster) {
        return Err(ApiError::cluster_not_found());
    }
    if container_instances.is_empty() {
        return Err(ApiError::invalid("Container Instances cannot be empty."));
    }
    if container_instances.len() > 100 {
        return Err(ApiError::invalid(
            "containerInstances must name at most 100 container instances",
        ));
    }
    let mut instances = Vec::new();
    let mut failures = Vec::new();
    for reference in &container_instances {
        match state.instances.get(&(cluster.clone(), id_from(reference).to_string())) {
            Some(record) => {
                let mut instance = describe_one(&state, record, &connected);
                if with_tags {
                    instance.tags.get_or_insert_with(Vec::new);
                } else {
                    instance.tags = None;
                }
                instances.push(answered(&instance));
            }
            None => failures.push(Failure {
                arn: Some(ctx.app.scope.container_instance(&cluster, id_from(reference))),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    respond(&wire::DescribeContainerInstancesResponse {
        container_instances: Some(instances),
        failures: Some(failures_to_wire(failures)),
    })
}

pub fn list(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::ListContainerInstancesRequest { cluster, filter, next_token, max_results, status } =
        decode(body)?;
    let filter = match filter.as_deref() {
        Some(text) => Some(
            flotilla_scheduler::query::parse(text)
                .map_err(|e| ApiError::invalid(format!("invalid filter: {e}")))?,
        ),
        None => None,
    };
    let connected = ctx.app.agents.connected_ids();
    let status = match status.as_deref() {
        None => None,
        Some(text) => match InstanceStatus::parse(text) {
            Some(InstanceStatus::Inactive) | None => {
                return Err(ApiError::invalid(format!("invalid status {text}")))
            }
            status => status,
        },
    };
    let cluster = cluster_name(cluster.as_deref());
    let state = ctx.app.state.read();
    if !crate::domain::is_active_cluster(&state, &cluster) {
        return Err(ApiError::cluster_not_found());
    }
    let items = state
        .instances
        .range((cluster.clone(), String::new())..)
        .take_while(|((c, _), _)| *c == cluster)
        .map(|(_, i)| i)
        .filter(|i| match status {
            Some(s) => i.instance.status == s,
            None => i.instance.status != InstanceStatus::Inactive,
        })
        .filter(|i| {
            filter.as_ref().is_none_or(|f| {
                let view = instance_view(i, &connected, state.tasks_on(&i.id));
                flotilla_scheduler::query::eval(f, &view)
            })
        })
        .map(|i| (i.id.clone(), i.instance.container_instance_arn.clone()));
    let (arns, next) = paginate(items, next_token.as_deref(), max_results, 100)?;
    respond(&wire::ListContainerInstancesResponse {
        container_instance_arns: Some(arns),
        next_token: next,
    })
}

fn instance_in(staged: &Staged<'_>, cluster: &str, reference: &str) -> Option<InstanceRecord> {
    match staged.get(&instance_key(cluster, id_from(reference))) {
        Some(Record::Instance(i)) if i.instance.status != InstanceStatus::Inactive => Some(*i),
        _ => None,
    }
}

pub async fn deregister(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DeregisterContainerInstanceRequest { cluster, container_instance, force } =
        decode(body)?;
    let force = force.unwrap_or(false);
    let now = ctx.now;
    let connected = ctx.app.agents.connected_ids();
    let instance = ctx
        .app
        .state
        .write(move |staged| {
            let cluster = active_cluster(staged, cluster.as_deref())?.cluster_name;
            let mut record = instance_in(staged, &cluster, &container_instance)
                .ok_or_else(|| ApiError::invalid("The referenced container instance was not found."))?;
            let live: Vec<_> = staged.tasks_on(&cluster, &record.id).into_iter().filter(|t| t.task.last_status != TaskStatus::Stopped).collect();
            if !live.is_empty() && !force {
                return Err(ApiError::invalid(
                    "Found running tasks on the instance. Stop them first, or deregister with force.",
                ));
            }
            // Orphaned tasks are marked stopped: no agent of this cluster will report them.
            for mut task in live {
                mark_stopped(&mut task.task, now);
                task.task.stopped_reason.get_or_insert_with(|| "Container instance deregistration forced by user".into());
                task.task.version += 1;
                staged.put(Record::Task(Box::new(task)));
            }
            record.instance.status = InstanceStatus::Inactive;
            record.instance.version += 1;
            staged.put(Record::Instance(Box::new(record.clone())));
            Ok(record)
        })
        .await?;
    let state = ctx.app.state.read();
    respond(&wire::DeregisterContainerInstanceResponse {
        container_instance: Some(answered(&describe_one(&state, &instance, &connected))),
    })
}

pub async fn update_state(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::UpdateContainerInstancesStateRequest { cluster, container_instances, status } =
        decode(body)?;
    let wanted = match InstanceStatus::parse(&status) {
        Some(status @ (InstanceStatus::Active | InstanceStatus::Draining)) => status,
        _ => {
            return Err(ApiError::invalid(format!(
                "status must be ACTIVE or DRAINING, not {status}"
            )))
        }
    };
    if container_instances.is_empty() || container_instances.len() > 10 {
        return Err(ApiError::invalid("containerInstances must name 1 to 10 container instances"));
    }
    let scope = ctx.app.scope.clone();
    let connected = ctx.app.agents.connected_ids();
    let (updated, failures) = ctx
        .app
        .state
        .write(move |staged| {
            let cluster = active_cluster(staged, cluster.as_deref())?.cluster_name;
            let mut updated = Vec::new();
            let mut failures = Vec::new();
            for reference in &container_instances {
                match instance_in(staged, &cluster, reference) {
                    Some(mut record) => {
                        if record.instance.status != wanted {
                            record.instance.status = wanted;
                            record.instance.version += 1;
                            staged.put(Record::Instance(Box::new(record.clone())));
                        }
                        updated.push(record);
                    }
                    None => failures.push(Failure {
                        arn: Some(scope.container_instance(&cluster, id_from(reference))),
                        reason: Some("MISSING".into()),
                        detail: None,
                    }),
                }
            }
            Ok((updated, failures))
        })
        .await?;
    let state = ctx.app.state.read();
    let instances =
        updated.iter().map(|r| answered(&describe_one(&state, r, &connected))).collect();
    respond(&wire::UpdateContainerInstancesStateResponse {
        container_instances: Some(instances),
        failures: Some(failures_to_wire(failures)),
    })
}

/// DiscoverPollEndpoint: where an agent connects. Every cluster and container instance of this
/// server polls the same endpoint, the one the request was sent to (its `Host`), whose
/// `/v1/agent/connect` is the agents' door.
pub fn discover_poll_endpoint(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DiscoverPollEndpointRequest { container_instance: _, cluster: _ } = decode(body)?;
    let host = ctx.host.filter(|h| !h.is_empty()).ok_or_else(|| {
        ApiError::client("The request has no Host header, so this server cannot name its endpoint.")
    })?;
    let endpoint = format!("http://{host}/");
    respond(&wire::DiscoverPollEndpointResponse {
        endpoint: Some(endpoint.clone()),
        telemetry_endpoint: Some(endpoint),
        // Service Connect is refused, so it has no endpoint.
        service_connect_endpoint: None,
    })
}

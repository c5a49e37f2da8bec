//! Turning a task definition plus overrides into what a task reserves and what the agent runs.

use std::collections::BTreeSet;

use flotilla_api::agent::{TaskNetworkSpec, TaskSpec};
use flotilla_api::task::TaskOverride;
use flotilla_api::taskdef::{
    parse_task_cpu, parse_task_memory, ContainerDefinition, TaskDefinition,
};
use flotilla_api::{ApiError, KeyValuePair};

use crate::state::{Reservation, TaskRecord};

/// Checks overrides against the definition (container names exist, values sane).
pub fn validate_overrides(
    definition: &TaskDefinition,
    overrides: &TaskOverride,
) -> Result<(), ApiError> {
    let mut problems = Vec::new();
    for o in &overrides.container_overrides {
        match o.name.as_deref() {
            Some(name) if definition.container(name).is_some() => {}
            Some(name) => problems.push(format!("container override names '{name}', which is not a container of the task definition")),
            None => problems.push("container overrides must name a container".to_string()),
        }
        if o.cpu.is_some_and(|c| c < 0)
            || o.memory.is_some_and(|m| m < 6)
            || o.memory_reservation.is_some_and(|m| m < 6)
        {
            problems.push("container override cpu must be >= 0 and memory >= 6 MiB".to_string());
        }
    }
    if let Some(cpu) = &overrides.cpu {
        if let Err(e) = parse_task_cpu(cpu) {
            problems.push(format!("task cpu override: {e}"));
        }
    }
    if let Some(memory) = &overrides.memory {
        if let Err(e) = parse_task_memory(memory) {
            problems.push(format!("task memory override: {e}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(problems.join("; ")))
    }
}

/// The container definitions with the overrides applied, as the agent will run them.
pub fn effective_containers(
    definition: &TaskDefinition,
    overrides: &TaskOverride,
) -> Vec<ContainerDefinition> {
    definition
        .container_definitions
        .iter()
        .map(|c| {
            let mut c = c.clone();
            let Some(o) = overrides.container_overrides.iter().find(|o| o.name == c.name) else {
                return c;
            };
            if let Some(command) = &o.command {
                c.command = Some(command.clone());
            }
            if let Some(env) = &o.environment {
                let vars = c.environment.get_or_insert_with(Vec::new);
                for var in env {
                    match vars.iter_mut().find(|v: &&mut KeyValuePair| v.name == var.name) {
                        Some(existing) => existing.value.clone_from(&var.value),
                        None => vars.push(var.clone()),
                    }
                }
            }
            if o.cpu.is_some() {
                c.cpu = o.cpu;
            }
            if o.memory.is_some() {
                c.memory = o.memory;
            }
            if o.memory_reservation.is_some() {
                c.memory_reservation = o.memory_reservation;
            }
            c
        })
        .collect()
}

/// What a task reserves: task-level cpu/memory when set, else the containers' sums (memory:
/// the reservation when set, else the hard limit), and its static host ports.
pub fn reservation(definition: &TaskDefinition, overrides: &TaskOverride) -> Reservation {
    let containers = effective_containers(definition, overrides);
    let task_cpu =
        overrides.cpu.as_deref().or(definition.cpu.as_deref()).and_then(|c| parse_task_cpu(c).ok());
    let task_memory = overrides
        .memory
        .as_deref()
        .or(definition.memory.as_deref())
        .and_then(|m| parse_task_memory(m).ok());
    let cpu = task_cpu.map_or_else(
        || containers.iter().map(|c| i64::from(c.cpu.unwrap_or(0).max(0))).sum(),
        i64::from,
    );
    let memory = task_memory.map_or_else(
        || {
            containers
                .iter()
                .map(|c| i64::from(c.memory_reservation.or(c.memory).unwrap_or(0).max(0)))
                .sum()
        },
        i64::from,
    );
    let host_mode = matches!(definition.network_mode.as_deref(), Some("host"));
    // An awsvpc task's ports are its own address's: it holds none of the host's.
    let own_address = matches!(definition.network_mode.as_deref(), Some("awsvpc"));
    let mut tcp = BTreeSet::new();
    let mut udp = BTreeSet::new();
    let mappings = containers.iter().filter(|_| !own_address);
    for mapping in mappings.flat_map(|c| c.port_mappings.iter().flatten()) {
        let port = if host_mode {
            mapping.host_port.or(mapping.container_port)
        } else {
            mapping.host_port
        };
        let Some(port) = port.filter(|p| *p > 0).and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        if mapping.protocol.as_deref() == Some("udp") {
            udp.insert(port);
        } else {
            tcp.insert(port);
        }
    }
    Reservation {
        cpu,
        memory,
        tcp_ports: tcp.into_iter().collect(),
        udp_ports: udp.into_iter().collect(),
    }
}

/// The task as its agent must run it.
pub fn task_spec(task: &TaskRecord, definition: &TaskDefinition) -> TaskSpec {
    let overrides = &task.task.overrides;
    TaskSpec {
        task_arn: task.task.task_arn.clone(),
        cluster: task.cluster.clone(),
        family: definition.family.clone(),
        revision: definition.revision,
        desired_status: task.agent_desired_status(),
        network_mode: definition.network_mode.clone().unwrap_or_else(|| "bridge".into()),
        cpu: overrides.cpu.clone().or_else(|| definition.cpu.clone()),
        memory: overrides.memory.clone().or_else(|| definition.memory.clone()),
        containers: effective_containers(definition, overrides),
        volumes: definition.volumes.clone().unwrap_or_default(),
        stop_code: task.task.stop_code.clone(),
        stopped_reason: task.task.stopped_reason.clone(),
        network: task.task.interface.as_ref().map(|i| TaskNetworkSpec {
            interface_id: i.interface_id.clone(),
            subnet_id: i.subnet_id.clone(),
            subnet_cidr: i.subnet_cidr.clone(),
            host_slice: i.host_slice.clone(),
            security_groups: i.security_groups.clone(),
            outbound_nat: i.outbound_nat.clone(),
        }),
        launch_type: Some(task.task.launch_type.clone()),
        // Set by the gateway, which holds the key ids are made with.
        credentials_id: None,
        execution_role: crate::task_roles::execution_role_of(task, definition).is_some(),
    }
}

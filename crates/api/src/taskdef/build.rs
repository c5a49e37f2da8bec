//! The definition as ECS stores and returns it: the registered members unchanged, plus the
//! defaults and derived members DescribeTaskDefinition shows.

use super::container::{ContainerDefinition, HealthCheck};
use super::units::{fargate_pair_is_valid, parse_task_cpu, parse_task_memory};
use super::{Attribute, TaskDefinition, TaskDefinitionRegistration, TaskDefinitionStatus};

/// Health check defaults ECS fills in (seconds, seconds, count).
const HEALTH_CHECK_INTERVAL: i32 = 30;
const HEALTH_CHECK_TIMEOUT: i32 = 5;
const HEALTH_CHECK_RETRIES: i32 = 3;

/// Builds revision `revision` of a validated registration.
///
/// What changes from the request, as ECS does it:
/// - `status` ACTIVE, `revision`, `registeredAt`, `registeredBy`, `taskDefinitionArn`;
/// - task `cpu`/`memory` become plain units/MiB ("1 vCPU" → "1024", "2 GB" → "2048");
/// - `compatibilities` and `requiresAttributes` are derived (see the functions below);
/// - `volumes` and `placementConstraints` default to empty lists;
/// - each container gets `cpu` 0, `essential` true and empty `portMappings`, `environment`,
///   `mountPoints` and `volumesFrom` when absent; port mappings get protocol `tcp`, and in host
///   and awsvpc mode the host port of their container port; health checks get interval 30,
///   timeout 5 and retries 3.
///
/// `networkMode` stays absent when none was given: ECS does not echo its `bridge` default.
/// Tags are not part of a task definition: take `req.tags` before calling this.
pub fn build_task_definition(
    req: TaskDefinitionRegistration,
    arn: String,
    revision: u32,
    registered_at: f64,
    registered_by: Option<String>,
) -> TaskDefinition {
    let compatibilities = derive_compatibilities(&req);
    let requires_attributes = derive_requires_attributes(&req);
    let mode = req.network_mode.clone().unwrap_or_else(|| "bridge".to_string());
    // A value that does not parse was rejected by validation; kept as given if it gets here.
    let cpu = req.cpu.map(|c| parse_task_cpu(&c).map_or(c, |units| units.to_string()));
    let memory = req.memory.map(|m| parse_task_memory(&m).map_or(m, |mib| mib.to_string()));
    let container_definitions =
        req.container_definitions.into_iter().map(|c| with_container_defaults(c, &mode)).collect();
    TaskDefinition {
        task_definition_arn: arn,
        container_definitions,
        family: req.family,
        task_role_arn: req.task_role_arn,
        execution_role_arn: req.execution_role_arn,
        network_mode: req.network_mode,
        revision: i32::try_from(revision).unwrap_or(i32::MAX),
        volumes: Some(req.volumes.unwrap_or_default()),
        status: TaskDefinitionStatus::Active,
        requires_attributes: Some(requires_attributes),
        placement_constraints: Some(req.placement_constraints.unwrap_or_default()),
        compatibilities: Some(compatibilities),
        runtime_platform: req.runtime_platform,
        requires_compatibilities: req.requires_compatibilities,
        cpu,
        memory,
        inference_accelerators: req.inference_accelerators,
        pid_mode: req.pid_mode,
        ipc_mode: req.ipc_mode,
        proxy_configuration: req.proxy_configuration,
        registered_at: Some(registered_at),
        deregistered_at: None,
        delete_requested_at: None,
        registered_by,
        ephemeral_storage: req.ephemeral_storage,
        enable_fault_injection: req.enable_fault_injection,
    }
}

fn with_container_defaults(mut c: ContainerDefinition, mode: &str) -> ContainerDefinition {
    c.cpu.get_or_insert(0);
    c.essential.get_or_insert(true);
    c.environment.get_or_insert_with(Vec::new);
    c.mount_points.get_or_insert_with(Vec::new);
    c.volumes_from.get_or_insert_with(Vec::new);
    for m in c.port_mappings.get_or_insert_with(Vec::new) {
        m.protocol.get_or_insert_with(|| "tcp".to_string());
        if matches!(mode, "host" | "awsvpc") && m.host_port.is_none() {
            m.host_port = m.container_port;
        }
    }
    if let Some(HealthCheck { interval, timeout, retries, .. }) = &mut c.health_check {
        interval.get_or_insert(HEALTH_CHECK_INTERVAL);
        timeout.get_or_insert(HEALTH_CHECK_TIMEOUT);
        retries.get_or_insert(HEALTH_CHECK_RETRIES);
    }
    c
}

/// The launch types the definition can run on: always EC2; FARGATE when it meets Fargate's
/// requirements (awsvpc, a task size Fargate offers, nothing Fargate lacks); EXTERNAL and
/// MANAGED_INSTANCES when required.
pub fn derive_compatibilities(req: &TaskDefinitionRegistration) -> Vec<String> {
    let required = |c: &str| req.requires_compatibilities.iter().flatten().any(|r| r == c);
    let mut out = vec!["EC2".to_string()];
    if required("EXTERNAL") {
        out.push("EXTERNAL".to_string());
    }
    if fargate_compatible(req) {
        out.push("FARGATE".to_string());
    }
    if required("MANAGED_INSTANCES") {
        out.push("MANAGED_INSTANCES".to_string());
    }
    out
}

fn fargate_compatible(req: &TaskDefinitionRegistration) -> bool {
    let size = req
        .cpu
        .as_deref()
        .and_then(|c| parse_task_cpu(c).ok())
        .zip(req.memory.as_deref().and_then(|m| parse_task_memory(m).ok()));
    let no_devices = req.container_definitions.iter().all(|c| {
        c.linux_parameters
            .as_ref()
            .is_none_or(|l| l.devices.as_deref().unwrap_or_default().is_empty())
    });
    let no_host_paths = req.volumes.iter().flatten().all(|v| {
        v.docker_volume_configuration.is_none()
            && v.host.as_ref().is_none_or(|h| h.source_path.is_none())
    });
    req.network_mode.as_deref() == Some("awsvpc")
        && size.is_some_and(|(cpu, memory)| fargate_pair_is_valid(cpu, memory))
        && no_devices
        && no_host_paths
}

const COM: &str = "com.amazonaws.ecs.capability.";
const ECS: &str = "ecs.capability.";

/// The container instance attributes the definition needs, as ECS derives them. Best effort, a
/// documented subset of ECS's (undocumented) derivation:
///
/// | member | attributes |
/// |---|---|
/// | any `logConfiguration` | `logging-driver.<driver>`, `docker-remote-api.1.18` (1.19 for awslogs) |
/// | `dockerLabels`, `ulimits` | `docker-remote-api.1.18` |
/// | `memoryReservation` | `docker-remote-api.1.21` |
/// | `healthCheck` | `container-health-check`, `docker-remote-api.1.24` |
/// | `taskRoleArn` | `task-iam-role` (`task-iam-role-network-host` in host mode) |
/// | `executionRoleArn` | `execution-role-awslogs` with awslogs, `execution-role-ecr-pull` with ECR images |
/// | an ECR image | `ecr-auth` |
/// | `repositoryCredentials` | `private-registry-authentication.secretsmanager` |
/// | `privileged` true | `privileged-container` |
/// | `dependsOn` | `container-ordering` |
/// | `secrets` | `secrets.ssm.environment-variables` / `secrets.asm.environment-variables` |
/// | `environmentFiles` | `env-files.s3` |
/// | awsvpc | `task-eni` |
/// | task `cpu`/`memory` | `task-cpu-mem-limit` |
/// | `firelensConfiguration` | `firelens.<type>` |
/// | EFS volumes | `efs`, and `efsAuth` with an authorization config |
///
/// A scheduler that matches these against instance attributes needs agents that advertise them.
pub fn derive_requires_attributes(req: &TaskDefinitionRegistration) -> Vec<Attribute> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |prefix: &str, name: &str| {
        let full = format!("{prefix}{name}");
        if !names.contains(&full) {
            names.push(full);
        }
    };
    let execution_role = req.execution_role_arn.as_deref().is_some_and(|a| !a.is_empty());
    let task_role = req.task_role_arn.as_deref().is_some_and(|a| !a.is_empty());
    let mode = req.network_mode.as_deref().unwrap_or("bridge");

    for c in &req.container_definitions {
        if let Some(log) = &c.log_configuration {
            add(COM, &format!("logging-driver.{}", log.log_driver));
            add(COM, "docker-remote-api.1.18");
            if log.log_driver == "awslogs" {
                add(COM, "docker-remote-api.1.19");
                if execution_role {
                    add(ECS, "execution-role-awslogs");
                }
            }
        }
        if c.docker_labels.is_some() || c.ulimits.as_deref().is_some_and(|u| !u.is_empty()) {
            add(COM, "docker-remote-api.1.18");
        }
        if c.memory_reservation.is_some() {
            add(COM, "docker-remote-api.1.21");
        }
        if c.health_check.is_some() {
            add(ECS, "container-health-check");
            add(COM, "docker-remote-api.1.24");
        }
        if c.image.as_deref().is_some_and(is_ecr_image) {
            add(COM, "ecr-auth");
            if execution_role {
                add(ECS, "execution-role-ecr-pull");
            }
        }
        if c.repository_credentials.is_some() {
            add(COM, "private-registry-authentication.secretsmanager");
        }
        if c.privileged == Some(true) {
            add(COM, "privileged-container");
        }
        if c.depends_on.as_deref().is_some_and(|d| !d.is_empty()) {
            add(ECS, "container-ordering");
        }
        let log_secrets =
            c.log_configuration.iter().flat_map(|l| l.secret_options.iter().flatten());
        for secret in c.secrets.iter().flatten().chain(log_secrets) {
            if secret.value_from.contains(":secretsmanager:") {
                add(ECS, "secrets.asm.environment-variables");
            } else {
                add(ECS, "secrets.ssm.environment-variables");
            }
        }
        if c.environment_files.as_deref().is_some_and(|f| !f.is_empty()) {
            add(ECS, "env-files.s3");
        }
        if let Some(firelens) = &c.firelens_configuration {
            add(ECS, &format!("firelens.{}", firelens.firelens_type));
        }
    }
    if task_role {
        add(COM, "task-iam-role");
        if mode == "host" {
            add(COM, "task-iam-role-network-host");
        }
    }
    if mode == "awsvpc" {
        add(ECS, "task-eni");
    }
    if req.cpu.is_some() || req.memory.is_some() {
        add(ECS, "task-cpu-mem-limit");
    }
    for v in req.volumes.iter().flatten() {
        if let Some(efs) = &v.efs_volume_configuration {
            add(ECS, "efs");
            if efs.authorization_config.is_some() {
                add(ECS, "efsAuth");
            }
        }
    }
    names.into_iter().map(Attribute::named).collect()
}

/// `<account>.dkr.ecr.<region>.amazonaws.com/...` (and the .cn partition).
fn is_ecr_image(image: &str) -> bool {
    let registry = image.split('/').next().unwrap_or_default();
    registry.contains(".dkr.ecr.") && registry.contains(".amazonaws.com")
}

//! RegisterTaskDefinition's rules, and the small checks of the other task-definition operations.
//!
//! Every problem is collected and reported in one message joined with "; ". ECS answers
//! `ClientException` for what is wrong with a definition's content and
//! `InvalidParameterException` for a malformed parameter (an unknown enum value, a bad tag); a
//! message mixing both kinds carries `ClientException`.
//!
//! Only rules ECS documents or enforces are here: where it is unclear whether ECS rejects
//! something, it is accepted.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::container::{ContainerDefinition, PortMapping};
use super::enums::*;
use super::units::{
    fargate_pair_is_valid, parse_task_cpu, parse_task_memory, EC2_TASK_CPU_MAX, EC2_TASK_CPU_MIN,
};
use super::{TaskDefinitionRegistration, Volume};
use crate::common::validate_tags;
use crate::error::{ApiError, ErrorCode};

/// The largest RegisterTaskDefinition request body ECS accepts (its 64 KiB quota).
pub const MAX_TASK_DEFINITION_BYTES: usize = 65536;
/// Containers per task definition.
pub const MAX_CONTAINERS: usize = 10;
/// Placement constraints per task definition.
pub const MAX_PLACEMENT_CONSTRAINTS: usize = 10;
/// Docker 20.10 and later refuse a container memory limit under 6 MiB; ECS documents the same
/// floor for `memory` and `memoryReservation`.
pub const MIN_CONTAINER_MEMORY_MIB: i32 = 6;
const MAX_CONSTRAINT_EXPRESSION_CHARS: usize = 2000;
const MAX_ENVIRONMENT_FILES: usize = 10;
const MAX_IGNORED_EXIT_CODES: usize = 50;
/// Fargate's bounds for `startTimeout` and `stopTimeout`, in seconds.
const FARGATE_TIMEOUT_RANGE: (i32, i32) = (2, 120);
/// Cycles reported at most, so a pathological definition cannot make a huge message.
const MAX_CYCLES_REPORTED: usize = 10;

/// Rejects a RegisterTaskDefinition body over ECS's 64 KiB quota. The server calls this with the
/// raw body length before decoding.
pub fn validate_size(body_len: usize) -> Result<(), ApiError> {
    if body_len > MAX_TASK_DEFINITION_BYTES {
        Err(ApiError::client(format!(
            "task definition is {body_len} bytes; at most {MAX_TASK_DEFINITION_BYTES} are allowed"
        )))
    } else {
        Ok(())
    }
}

/// Family, container and volume names: 1 to 255 letters, digits, hyphens and underscores.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Problems found so far, and whether any is a content problem (`ClientException`).
#[derive(Default)]
struct Problems {
    messages: Vec<String>,
    any_client: bool,
}

impl Problems {
    fn client(&mut self, message: String) {
        self.any_client = true;
        self.messages.push(message);
    }

    fn invalid(&mut self, message: String) {
        self.messages.push(message);
    }

    /// Checks an enum-valued member against the model's values.
    fn one_of(&mut self, what: impl FnOnce() -> String, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.invalid(format!("{} '{value}' is not one of {}", what(), allowed.join(", ")));
        }
    }

    fn finish(self) -> Result<(), ApiError> {
        if self.messages.is_empty() {
            return Ok(());
        }
        let code = if self.any_client {
            ErrorCode::ClientException
        } else {
            ErrorCode::InvalidParameterException
        };
        Err(ApiError::new(code, self.messages.join("; ")))
    }
}

/// What the task as a whole says, as the container checks need it.
struct Task<'a> {
    /// `networkMode`, with ECS's default (`bridge`) when absent or unknown.
    mode: &'a str,
    fargate: bool,
    /// Task-level memory, when given and well formed (MiB).
    memory: Option<u32>,
    memory_given: bool,
    /// Whether the definition may run on EC2-like capacity, where container memory is needed.
    ec2_like: bool,
    /// First index of each container name.
    containers: HashMap<&'a str, usize>,
    definitions: &'a [ContainerDefinition],
    volumes: HashSet<&'a str>,
    accelerators: HashSet<&'a str>,
}

/// Checks a RegisterTaskDefinition request the way ECS does, reporting every problem found.
/// The body size is checked separately by [`validate_size`].
pub fn validate_register(req: &TaskDefinitionRegistration) -> Result<(), ApiError> {
    let mut p = Problems::default();

    if req.family.is_empty() {
        p.client("family is required".to_string());
    } else if !valid_name(&req.family) {
        p.client(format!(
            "family '{}' must be 1 to 255 letters, digits, hyphens and underscores",
            req.family
        ));
    }

    let count = req.container_definitions.len();
    if count == 0 {
        p.client("at least one container definition is required".to_string());
    } else if count > MAX_CONTAINERS {
        p.client(format!("too many containers: {count} given, at most {MAX_CONTAINERS} allowed"));
    }

    let requires: Vec<&str> =
        req.requires_compatibilities.iter().flatten().map(String::as_str).collect();
    for c in &requires {
        p.one_of(|| "requiresCompatibilities value".to_string(), c, COMPATIBILITIES);
    }
    let fargate = requires.contains(&"FARGATE");
    let ec2_like = requires.is_empty()
        || requires.iter().any(|c| matches!(*c, "EC2" | "EXTERNAL" | "MANAGED_INSTANCES"));

    if let Some(mode) = &req.network_mode {
        p.one_of(|| "networkMode".to_string(), mode, NETWORK_MODES);
    }
    let mode = match req.network_mode.as_deref() {
        Some(m) if NETWORK_MODES.contains(&m) => m,
        _ => "bridge",
    };
    if let Some(pid) = &req.pid_mode {
        p.one_of(|| "pidMode".to_string(), pid, PID_MODES);
    }
    if let Some(ipc) = &req.ipc_mode {
        p.one_of(|| "ipcMode".to_string(), ipc, IPC_MODES);
    }
    let mut windows = false;
    if let Some(platform) = &req.runtime_platform {
        if let Some(arch) = &platform.cpu_architecture {
            p.one_of(|| "runtimePlatform.cpuArchitecture".to_string(), arch, CPU_ARCHITECTURES);
        }
        if let Some(os) = &platform.operating_system_family {
            p.one_of(|| "runtimePlatform.operatingSystemFamily".to_string(), os, OS_FAMILIES);
            windows = os.starts_with("WINDOWS");
        }
    }

    let cpu = req.cpu.as_deref().and_then(|text| match parse_task_cpu(text) {
        Ok(units) => Some(units),
        Err(e) => {
            p.client(format!("task cpu: {e}"));
            None
        }
    });
    let memory = req.memory.as_deref().and_then(|text| match parse_task_memory(text) {
        Ok(0) => {
            p.client("task memory must be more than 0 MiB".to_string());
            None
        }
        Ok(mib) => Some(mib),
        Err(e) => {
            p.client(format!("task memory: {e}"));
            None
        }
    });
    if fargate {
        check_fargate_task(&mut p, req, cpu, memory, windows);
        check_fargate_parameters(&mut p, req);
    } else if let Some(units) = cpu {
        if !(EC2_TASK_CPU_MIN..=EC2_TASK_CPU_MAX).contains(&units) {
            p.client(format!(
                "task cpu ({units}) must be between {EC2_TASK_CPU_MIN} and {EC2_TASK_CPU_MAX} units"
            ));
        }
    }

    let volumes = check_volumes(&mut p, req.volumes.as_deref().unwrap_or_default());
    check_placement_constraints(&mut p, req);
    let accelerators = check_accelerators(&mut p, req);
    if let Some(storage) = &req.ephemeral_storage {
        if !(21..=200).contains(&storage.size_in_gib) {
            p.client(format!(
                "ephemeralStorage.sizeInGiB ({}) must be between 21 and 200",
                storage.size_in_gib
            ));
        }
    }
    if let Some(tags) = &req.tags {
        if let Err(e) = validate_tags(tags) {
            p.invalid(e.message);
        }
    }

    // References resolve to the first container of a name; unnamed ones cannot be referenced.
    let mut containers = HashMap::new();
    let mut reported_duplicates = HashSet::new();
    for (i, c) in req.container_definitions.iter().enumerate() {
        let name = c.name_str();
        if name.is_empty() {
            continue;
        }
        if containers.contains_key(name) {
            if reported_duplicates.insert(name) {
                p.client(format!("container name '{name}' is used more than once"));
            }
        } else {
            containers.insert(name, i);
        }
    }
    if let Some(proxy) = &req.proxy_configuration {
        if let Some(t) = &proxy.proxy_type {
            p.one_of(|| "proxyConfiguration.type".to_string(), t, PROXY_CONFIGURATION_TYPES);
        }
        if !containers.contains_key(proxy.container_name.as_str()) {
            p.client(format!(
                "proxyConfiguration.containerName '{}' is not a container of the task",
                proxy.container_name
            ));
        }
    }

    let task = Task {
        mode,
        fargate,
        memory,
        memory_given: req.memory.is_some(),
        ec2_like,
        containers,
        definitions: &req.container_definitions,
        volumes,
        accelerators,
    };
    for (i, c) in req.container_definitions.iter().enumerate() {
        check_container(&mut p, &task, i, c);
    }
    let has_secrets = req.container_definitions.iter().any(|c| {
        let log_secrets = c.log_configuration.as_ref().and_then(|l| l.secret_options.as_ref());
        c.secrets.iter().chain(log_secrets).any(|s| !s.is_empty())
    });
    if has_secrets && req.execution_role_arn.as_deref().is_none_or(str::is_empty) {
        // ECS's own words.
        p.client(
            "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."
                .to_string(),
        );
    }
    if count > 0 && !req.container_definitions.iter().any(ContainerDefinition::is_essential) {
        p.client("at least one container must be essential".to_string());
    }
    check_ports(&mut p, &task, &req.container_definitions);
    check_cycles(&mut p, &task, &req.container_definitions);
    check_totals(&mut p, &req.container_definitions, cpu, memory);

    p.finish()
}

fn label(i: usize, c: &ContainerDefinition) -> String {
    match c.name.as_deref() {
        Some(name) if !name.is_empty() => format!("container '{name}'"),
        _ => format!("container #{}", i + 1),
    }
}

fn check_fargate_task(
    p: &mut Problems,
    req: &TaskDefinitionRegistration,
    cpu: Option<u32>,
    memory: Option<u32>,
    windows: bool,
) {
    // ECS's own words, as it answers them.
    if req.network_mode.as_deref() != Some("awsvpc") {
        p.client("Fargate only supports network mode \u{2018}awsvpc\u{2019}.".to_string());
    }
    if req.cpu.is_none() {
        p.client("Fargate requires that 'cpu' be defined at the task level.".to_string());
    }
    if req.memory.is_none() {
        p.client("Fargate requires that 'memory' be defined at the task level.".to_string());
    }
    let awslogs = req
        .container_definitions
        .iter()
        .any(|c| c.log_configuration.as_ref().is_some_and(|l| l.log_driver == "awslogs"));
    if awslogs && req.execution_role_arn.as_deref().is_none_or(str::is_empty) {
        // Fargate's logs are written with the execution role (there is no instance role).
        p.client(
            "Fargate requires task definition to have execution role ARN to support log driver awslogs."
                .to_string(),
        );
    }
    if let (Some(cpu), Some(memory)) = (cpu, memory) {
        if !fargate_pair_is_valid(cpu, memory) {
            p.client(format!(
                "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. \
                 See the Amazon ECS documentation for the valid values."
            ));
        }
        if windows && cpu < 1024 {
            p.client(format!(
                "Windows containers on FARGATE need a task cpu of at least 1024, not {cpu}"
            ));
        }
    }
}

/// What a Fargate-compatible definition may not use, in ECS's words ("Fargate compatible task
/// definitions do not support X").
fn check_fargate_parameters(p: &mut Problems, req: &TaskDefinitionRegistration) {
    let unsupported = |p: &mut Problems, what: &str| {
        p.client(format!("Fargate compatible task definitions do not support {what}"));
    };
    if req.ipc_mode.is_some() {
        p.client("Tasks using the Fargate launch type do not support ipcMode.".to_string());
    }
    if let Some(pid) = req.pid_mode.as_deref().filter(|pid| *pid != "task") {
        p.client(format!(
            "Tasks using the Fargate launch type do not support pidMode '{pid}'. The supported \
             value for pidMode is 'task'."
        ));
    }
    if req.placement_constraints.as_deref().is_some_and(|c| !c.is_empty()) {
        unsupported(p, "constraints");
    }
    for volume in req.volumes.iter().flatten() {
        if volume.host.as_ref().is_some_and(|h| h.source_path.is_some()) {
            unsupported(p, "sourcePath");
        }
        if volume.docker_volume_configuration.is_some() {
            unsupported(p, "dockerVolumeConfiguration");
        }
    }
    for c in &req.container_definitions {
        if c.privileged == Some(true) {
            unsupported(p, "privileged");
        }
        if c.docker_security_options.as_deref().is_some_and(|o| !o.is_empty()) {
            unsupported(p, "dockerSecurityOptions");
        }
        if let Some(linux) = &c.linux_parameters {
            if linux.devices.as_deref().is_some_and(|d| !d.is_empty()) {
                unsupported(p, "devices");
            }
            if linux.shared_memory_size.is_some() {
                unsupported(p, "sharedMemorySize");
            }
            if linux.max_swap.is_some() {
                unsupported(p, "maxSwap");
            }
        }
    }
}

fn check_volumes<'a>(p: &mut Problems, volumes: &'a [Volume]) -> HashSet<&'a str> {
    let mut names = HashSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let what = match v.name.as_deref() {
            Some(name) => format!("volume '{name}'"),
            None => format!("volume #{}", i + 1),
        };
        match v.name.as_deref() {
            Some(name) => {
                if !valid_name(name) {
                    p.client(format!(
                        "{what}: name must be 1 to 255 letters, digits, hyphens and underscores"
                    ));
                }
                if !names.insert(name) {
                    p.client(format!("volume name '{name}' is used more than once"));
                }
            }
            None if v.efs_volume_configuration.is_some()
                || v.s3files_volume_configuration.is_some()
                || v.configured_at_launch == Some(true) =>
            {
                p.client(format!("{what}: name is required for this kind of volume"));
            }
            None => {}
        }
        if let Some(docker) = &v.docker_volume_configuration {
            if let Some(scope) = &docker.scope {
                p.one_of(
                    || format!("{what}: dockerVolumeConfiguration.scope"),
                    scope,
                    VOLUME_SCOPES,
                );
            }
        }
        if let Some(efs) = &v.efs_volume_configuration {
            if let Some(te) = &efs.transit_encryption {
                p.one_of(
                    || format!("{what}: efsVolumeConfiguration.transitEncryption"),
                    te,
                    EFS_TRANSIT_ENCRYPTION,
                );
            }
            let encrypted = efs.transit_encryption.as_deref() == Some("ENABLED");
            if let Some(auth) = &efs.authorization_config {
                if let Some(iam) = &auth.iam {
                    p.one_of(|| format!("{what}: authorizationConfig.iam"), iam, EFS_IAM);
                    if iam == "ENABLED" && !encrypted {
                        p.client(format!(
                            "{what}: authorizationConfig.iam ENABLED requires transitEncryption \
                             ENABLED"
                        ));
                    }
                }
                if auth.access_point_id.is_some() {
                    if !encrypted {
                        p.client(format!(
                            "{what}: an EFS access point requires transitEncryption ENABLED"
                        ));
                    }
                    if efs.root_directory.as_deref().is_some_and(|d| !d.is_empty() && d != "/") {
                        p.client(format!(
                            "{what}: rootDirectory must be omitted or '/' with an EFS access point"
                        ));
                    }
                }
            }
        }
    }
    names
}

fn check_placement_constraints(p: &mut Problems, req: &TaskDefinitionRegistration) {
    let constraints = req.placement_constraints.as_deref().unwrap_or_default();
    if constraints.len() > MAX_PLACEMENT_CONSTRAINTS {
        p.client(format!(
            "too many placement constraints: {} given, at most {MAX_PLACEMENT_CONSTRAINTS} allowed",
            constraints.len()
        ));
    }
    for (i, c) in constraints.iter().enumerate() {
        match c.constraint_type.as_deref() {
            Some("memberOf") => {
                if c.expression.as_deref().is_none_or(|e| e.trim().is_empty()) {
                    p.client(format!("placementConstraints[{i}]: memberOf needs an expression"));
                }
            }
            Some("distinctInstance") => p.client(format!(
                "placementConstraints[{i}]: distinctInstance is not allowed in a task definition"
            )),
            Some(other) => p.one_of(
                || format!("placementConstraints[{i}].type"),
                other,
                PLACEMENT_CONSTRAINT_TYPES,
            ),
            None => p.client(format!("placementConstraints[{i}]: type is required")),
        }
        if let Some(e) = &c.expression {
            let chars = e.chars().count();
            if chars > MAX_CONSTRAINT_EXPRESSION_CHARS {
                p.client(format!(
                    "placementConstraints[{i}]: expression is {chars} characters; at most \
                     {MAX_CONSTRAINT_EXPRESSION_CHARS} are allowed"
                ));
            }
        }
    }
}

fn check_accelerators<'a>(
    p: &mut Problems,
    req: &'a TaskDefinitionRegistration,
) -> HashSet<&'a str> {
    let mut names = HashSet::new();
    for a in req.inference_accelerators.iter().flatten() {
        if !names.insert(a.device_name.as_str()) {
            p.client(format!("inference accelerator '{}' is named more than once", a.device_name));
        }
    }
    names
}

/// A container's `secrets` or `secretOptions`: each named once, each naming a value (a
/// Secrets Manager ARN, or a Parameter Store name or ARN).
fn check_secrets(p: &mut Problems, what: &str, secrets: &[super::container::Secret]) {
    let mut seen = HashSet::new();
    for secret in secrets {
        if secret.name.is_empty() {
            p.client(format!("{what}: a secret has an empty name"));
        } else if !seen.insert(secret.name.as_str()) {
            p.client(format!("{what}: the name '{}' is used more than once", secret.name));
        }
        let value_from = secret.value_from.as_str();
        let valid = if value_from.starts_with("arn:") {
            let parts: Vec<&str> = value_from.splitn(6, ':').collect();
            let minimum = match parts.get(2) {
                Some(&"secretsmanager") => "secret:".len(),
                Some(&"ssm") => "parameter/".len(),
                _ => usize::MAX,
            };
            parts.get(5).is_some_and(|resource| resource.len() > minimum)
        } else {
            !value_from.is_empty()
        };
        if !valid {
            p.client(format!(
                "{what}: valueFrom '{value_from}' of '{}' is neither a Secrets Manager secret ARN nor a Parameter Store parameter name or ARN",
                secret.name
            ));
        }
    }
}

fn check_container(p: &mut Problems, task: &Task<'_>, i: usize, c: &ContainerDefinition) {
    let who = label(i, c);
    match c.name.as_deref() {
        // ECS's own words.
        None | Some("") => p.client(format!("{who}: Container.name should not be null or empty.")),
        Some(name) if !valid_name(name) => p.client(format!(
            "{who}: name must be 1 to 255 letters, digits, hyphens and underscores"
        )),
        Some(_) => {}
    }
    if c.image.as_deref().is_none_or(|image| image.trim().is_empty()) {
        p.client(format!("{who}: image is required"));
    }

    if let Some(cpu) = c.cpu.filter(|cpu| *cpu < 0) {
        p.client(format!("{who}: cpu ({cpu}) must not be negative"));
    }
    for (field, value) in [("memory", c.memory), ("memoryReservation", c.memory_reservation)] {
        if let Some(mib) = value.filter(|mib| *mib < MIN_CONTAINER_MEMORY_MIB) {
            p.client(format!(
                "{who}: {field} ({mib}) must be at least {MIN_CONTAINER_MEMORY_MIB} MiB"
            ));
        }
    }
    if let (Some(hard), Some(soft)) = (c.memory, c.memory_reservation) {
        if soft > hard {
            p.client(format!(
                "{who}: memoryReservation ({soft}) must not be greater than memory ({hard})"
            ));
        }
    }
    if task.ec2_like && !task.memory_given && c.memory.is_none() && c.memory_reservation.is_none() {
        p.client(format!(
            "{who}: at least one of memory or memoryReservation must be specified when the task \
             has no task-level memory"
        ));
    }
    if let (Some(hard), Some(task_memory)) = (c.memory, task.memory) {
        if i64::from(hard) > i64::from(task_memory) {
            p.client(format!(
                "{who}: memory ({hard}) is greater than the task memory ({task_memory})"
            ));
        }
    }

    let links = c.links.as_deref().unwrap_or_default();
    if !links.is_empty() && task.mode == "awsvpc" {
        p.client("Links are not supported when networkMode=awsvpc.".to_string());
    } else if !links.is_empty() && task.mode != "bridge" {
        p.client(format!("{who}: links are only supported in bridge network mode"));
    }
    if c.hostname.is_some() && task.mode == "awsvpc" {
        p.client("hostname is not supported on container when networkMode=awsvpc.".to_string());
    }
    if c.extra_hosts.as_ref().is_some_and(|h| !h.is_empty()) && task.mode == "awsvpc" {
        p.client("Extra hosts are not supported when networkMode=awsvpc.".to_string());
    }
    for link in links {
        let target = link.split_once(':').map_or(link.as_str(), |(target, _)| target);
        match task.containers.get(target) {
            Some(&j) if j == i => p.client(format!("{who}: links to itself")),
            Some(_) => {}
            None => p.client(format!("{who}: link '{link}' names no container of the task")),
        }
    }

    if let Some(policy) = &c.restart_policy {
        if let Some(period) = policy.restart_attempt_period {
            if !(60..=1800).contains(&period) {
                p.client(format!(
                    "{who}: restartPolicy.restartAttemptPeriod ({period}) must be between 60 and \
                     1800 seconds"
                ));
            }
        }
        let codes = policy.ignored_exit_codes.as_deref().unwrap_or_default().len();
        if codes > MAX_IGNORED_EXIT_CODES {
            p.client(format!(
                "{who}: restartPolicy.ignoredExitCodes has {codes} entries; at most \
                 {MAX_IGNORED_EXIT_CODES} are allowed"
            ));
        }
    }

    let files = c.environment_files.as_deref().unwrap_or_default();
    if files.len() > MAX_ENVIRONMENT_FILES {
        p.client(format!(
            "{who}: {} environment files given; at most {MAX_ENVIRONMENT_FILES} are allowed",
            files.len()
        ));
    }
    for (j, f) in files.iter().enumerate() {
        p.one_of(
            || format!("{who}: environmentFiles[{j}].type"),
            &f.file_type,
            ENVIRONMENT_FILE_TYPES,
        );
    }

    for (j, m) in c.mount_points.iter().flatten().enumerate() {
        match m.source_volume.as_deref() {
            None | Some("") => {
                p.client(format!("{who}: mountPoints[{j}].sourceVolume is required"))
            }
            Some(v) if !task.volumes.contains(v) => p.client(format!(
                "{who}: mountPoints[{j}].sourceVolume '{v}' is not a volume of the task"
            )),
            Some(_) => {}
        }
    }
    for (j, v) in c.volumes_from.iter().flatten().enumerate() {
        match v.source_container.as_deref() {
            None | Some("") => {
                p.client(format!("{who}: volumesFrom[{j}].sourceContainer is required"))
            }
            Some(source) => match task.containers.get(source) {
                Some(&k) if k == i => {
                    p.client(format!("{who}: volumesFrom[{j}] names the container itself"))
                }
                Some(_) => {}
                None => p.client(format!(
                    "{who}: volumesFrom[{j}].sourceContainer '{source}' is not a container of the \
                     task"
                )),
            },
        }
    }

    if let Some(linux) = &c.linux_parameters {
        for (j, d) in linux.devices.iter().flatten().enumerate() {
            for perm in d.permissions.iter().flatten() {
                p.one_of(
                    || format!("{who}: linuxParameters.devices[{j}] permission"),
                    perm,
                    DEVICE_CGROUP_PERMISSIONS,
                );
            }
        }
        for (j, t) in linux.tmpfs.iter().flatten().enumerate() {
            if t.size < 0 {
                p.client(format!(
                    "{who}: linuxParameters.tmpfs[{j}].size ({}) must not be negative",
                    t.size
                ));
            }
        }
        if let Some(swappiness) = linux.swappiness.filter(|s| !(0..=100).contains(s)) {
            p.client(format!(
                "{who}: linuxParameters.swappiness ({swappiness}) must be between 0 and 100"
            ));
        }
        if let Some(max_swap) = linux.max_swap.filter(|s| *s < 0) {
            p.client(format!("{who}: linuxParameters.maxSwap ({max_swap}) must not be negative"));
        }
        if let Some(shm) = linux.shared_memory_size.filter(|s| *s < 0) {
            p.client(format!(
                "{who}: linuxParameters.sharedMemorySize ({shm}) must not be negative"
            ));
        }
    }

    for (j, d) in c.depends_on.iter().flatten().enumerate() {
        p.one_of(|| format!("{who}: dependsOn[{j}].condition"), &d.condition, CONTAINER_CONDITIONS);
        match task.containers.get(d.container_name.as_str()) {
            Some(&k) if k == i => p.client(format!("{who}: dependsOn names the container itself")),
            Some(&k) => {
                if d.condition == "HEALTHY" && task.definitions[k].health_check.is_none() {
                    p.client(format!(
                        "{who}: dependsOn '{}' with condition HEALTHY, but that container has no \
                         healthCheck",
                        d.container_name
                    ));
                }
            }
            None => p.client(format!(
                "{who}: dependsOn[{j}].containerName '{}' is not a container of the task",
                d.container_name
            )),
        }
    }

    for (field, value) in [("startTimeout", c.start_timeout), ("stopTimeout", c.stop_timeout)] {
        let Some(seconds) = value else { continue };
        let (low, high) = FARGATE_TIMEOUT_RANGE;
        if task.fargate && !(low..=high).contains(&seconds) {
            p.client(format!(
                "{who}: {field} ({seconds}) must be between {low} and {high} seconds on FARGATE"
            ));
        } else if seconds < 0 {
            p.client(format!("{who}: {field} ({seconds}) must not be negative"));
        }
    }
    if let Some(v) = &c.version_consistency {
        p.one_of(|| format!("{who}: versionConsistency"), v, VERSION_CONSISTENCY);
    }
    for u in c.ulimits.iter().flatten() {
        p.one_of(|| format!("{who}: ulimit name"), &u.name, ULIMIT_NAMES);
    }
    if let Some(log) = &c.log_configuration {
        p.one_of(|| format!("{who}: logConfiguration.logDriver"), &log.log_driver, LOG_DRIVERS);
        let secret_options = log.secret_options.as_deref().unwrap_or_default();
        if !secret_options.is_empty()
            && matches!(log.log_driver.as_str(), "awslogs" | "awsfirelens")
        {
            // The agent ships these drivers' output itself; none of their options is a secret.
            p.client(format!(
                "{who}: logConfiguration.secretOptions is not supported yet with the {} log driver (it goes to Docker log drivers' options)",
                log.log_driver
            ));
        }
        check_secrets(p, &format!("{who}: logConfiguration.secretOptions"), secret_options);
    }
    check_secrets(p, &format!("{who}: secrets"), c.secrets.as_deref().unwrap_or_default());
    if let Some(firelens) = &c.firelens_configuration {
        p.one_of(
            || format!("{who}: firelensConfiguration.type"),
            &firelens.firelens_type,
            FIRELENS_TYPES,
        );
    }
    if let Some(hc) = &c.health_check {
        check_health_check(p, &who, hc);
    }
    for (j, r) in c.resource_requirements.iter().flatten().enumerate() {
        p.one_of(
            || format!("{who}: resourceRequirements[{j}].type"),
            &r.resource_type,
            RESOURCE_TYPES,
        );
        match r.resource_type.as_str() {
            "GPU" if r.value.parse::<u32>().map_or(true, |n| n == 0) => p.client(format!(
                "{who}: resourceRequirements[{j}]: GPU value '{}' must be a positive whole number",
                r.value
            )),
            "InferenceAccelerator" if !task.accelerators.contains(r.value.as_str()) => {
                p.client(format!(
                    "{who}: resourceRequirements[{j}]: '{}' is not an inference accelerator of the \
                     task",
                    r.value
                ))
            }
            _ => {}
        }
    }
}

fn check_health_check(p: &mut Problems, who: &str, hc: &super::container::HealthCheck) {
    match hc.command.first().map(String::as_str) {
        None => p.client(format!("{who}: healthCheck.command must not be empty")),
        Some(kind @ ("CMD" | "CMD-SHELL")) if hc.command.len() < 2 => {
            p.client(format!("{who}: healthCheck.command needs the command to run after '{kind}'"))
        }
        // NONE is Docker's way to turn off a health check the image defines.
        Some("CMD" | "CMD-SHELL" | "NONE") => {}
        Some(other) => p.client(format!(
            "{who}: healthCheck.command must start with CMD or CMD-SHELL, not '{other}'"
        )),
    }
    let ranges = [
        ("interval", hc.interval, 5, 300),
        ("timeout", hc.timeout, 2, 60),
        ("retries", hc.retries, 1, 10),
        ("startPeriod", hc.start_period, 0, 300),
    ];
    for (field, value, low, high) in ranges {
        if let Some(v) = value.filter(|v| !(low..=high).contains(v)) {
            p.client(format!("{who}: healthCheck.{field} ({v}) must be between {low} and {high}"));
        }
    }
}

/// A `containerPortRange` ("8000-8010") as (first, last).
fn parse_port_range(range: &str) -> Option<(i32, i32)> {
    let (first, last) = range.split_once('-')?;
    let first: i32 = first.trim().parse().ok()?;
    let last: i32 = last.trim().parse().ok()?;
    (1 <= first && first < last && last <= 65535).then_some((first, last))
}

/// Port mapping names: up to 64 lowercase letters, digits, underscores and hyphens, not starting
/// with a hyphen.
fn valid_port_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Per-mapping checks, then the task-wide ones: unique port names and no host port (or host
/// port range) bound twice for the same protocol.
fn check_ports(p: &mut Problems, task: &Task<'_>, containers: &[ContainerDefinition]) {
    // (protocol, first, last, container label) of every static host binding.
    let mut bindings: Vec<(&str, i32, i32, String)> = Vec::new();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, c) in containers.iter().enumerate() {
        let who = label(i, c);
        let mappings = c.port_mappings.as_deref().unwrap_or_default();
        if !mappings.is_empty() && task.mode == "none" {
            p.client(format!("{who}: port mappings are not allowed in network mode none"));
            continue;
        }
        for (j, m) in mappings.iter().enumerate() {
            if let Some(binding) = check_port_mapping(p, task, &who, j, m) {
                bindings.push((binding.0, binding.1, binding.2, who.clone()));
            }
            if let Some(name) = &m.name {
                *names.entry(name.as_str()).or_default() += 1;
            }
        }
    }
    for (name, uses) in names {
        if uses > 1 {
            p.client(format!("port mapping name '{name}' is used more than once"));
        }
    }
    bindings.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    for pair in bindings.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.0 == b.0 && b.1 <= a.2 {
            let port = |x: &(&str, i32, i32, String)| {
                if x.1 == x.2 {
                    x.1.to_string()
                } else {
                    format!("{}-{}", x.1, x.2)
                }
            };
            p.client(format!(
                "host port {}/{} of {} overlaps host port {}/{} of {}",
                port(b),
                b.0,
                b.3,
                port(a),
                a.0,
                a.3
            ));
        }
    }
}

/// Checks one mapping; returns its static host binding (protocol, first, last), if it has one.
fn check_port_mapping<'m>(
    p: &mut Problems,
    task: &Task<'_>,
    who: &str,
    j: usize,
    m: &'m PortMapping,
) -> Option<(&'m str, i32, i32)> {
    let at = format!("{who}: portMappings[{j}]");
    let protocol = match m.protocol.as_deref() {
        Some(proto) => {
            p.one_of(|| format!("{at}.protocol"), proto, TRANSPORT_PROTOCOLS);
            proto
        }
        None => "tcp",
    };
    if let Some(app) = &m.app_protocol {
        p.one_of(|| format!("{at}.appProtocol"), app, APPLICATION_PROTOCOLS);
    }
    if let Some(name) = m.name.as_deref().filter(|n| !valid_port_name(n)) {
        p.client(format!(
            "{at}.name '{name}' must be up to 64 lowercase letters, digits, underscores and \
             hyphens, not starting with a hyphen"
        ));
    }
    let host_port = match m.host_port {
        Some(h) if !(0..=65535).contains(&h) => {
            p.client(format!("{at}.hostPort ({h}) must be between 0 and 65535"));
            None
        }
        other => other,
    };
    let static_mode = matches!(task.mode, "host" | "awsvpc");
    match (m.container_port, m.container_port_range.as_deref()) {
        (None, None) => {
            p.client(format!("{at}: containerPort or containerPortRange is required"));
            None
        }
        (Some(_), Some(_)) => {
            p.client(format!("{at}: give containerPort or containerPortRange, not both"));
            None
        }
        (Some(port), None) => {
            if !(1..=65535).contains(&port) {
                p.client(format!("{at}.containerPort ({port}) must be between 1 and 65535"));
                return None;
            }
            match host_port {
                Some(h) if task.mode == "awsvpc" && h != 0 && h != port => {
                    p.client(
                        "When networkMode=awsvpc, the host ports and container ports in port \
                         mappings must match."
                            .to_string(),
                    );
                    None
                }
                Some(h) if static_mode && h != 0 && h != port => {
                    p.client(format!(
                        "{at}.hostPort ({h}) must be left out or equal containerPort ({port}) in \
                         {} network mode",
                        task.mode
                    ));
                    None
                }
                _ if static_mode => Some((protocol, port, port)),
                Some(h) if h > 0 => Some((protocol, h, h)),
                _ => None,
            }
        }
        (None, Some(range)) => {
            let Some((first, last)) = parse_port_range(range) else {
                p.client(format!(
                    "{at}.containerPortRange '{range}' must be 'first-last' with 1 <= first < last \
                     <= 65535"
                ));
                return None;
            };
            if !matches!(task.mode, "bridge" | "awsvpc") {
                p.client(format!(
                    "{at}: containerPortRange needs bridge or awsvpc network mode, not {}",
                    task.mode
                ));
            }
            if host_port.is_some() {
                p.client(format!("{at}: hostPort must be left out with containerPortRange"));
            }
            (task.mode == "awsvpc").then_some((protocol, first, last))
        }
    }
}

/// Containers wait for what they depend on, link to or take volumes from, so a cycle through
/// any of these can never start. Self-references are reported where they are found.
fn check_cycles(p: &mut Problems, task: &Task<'_>, containers: &[ContainerDefinition]) {
    let n = containers.len();
    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (i, c) in containers.iter().enumerate() {
        if task.containers.get(c.name_str()) != Some(&i) {
            continue; // a duplicate name: references resolve to the first container only
        }
        let targets = c
            .depends_on
            .iter()
            .flatten()
            .map(|d| d.container_name.as_str())
            .chain(
                c.links
                    .iter()
                    .flatten()
                    .map(|l| l.split_once(':').map_or(l.as_str(), |(target, _)| target)),
            )
            .chain(c.volumes_from.iter().flatten().filter_map(|v| v.source_container.as_deref()));
        for target in targets {
            if let Some(&j) = task.containers.get(target) {
                if j != i {
                    edges[i].insert(j);
                }
            }
        }
    }

    // Iterative depth-first search: every back edge closes a cycle along the current path.
    let (white, grey, black) = (0u8, 1u8, 2u8);
    let mut colour = vec![white; n];
    let mut cycles: BTreeSet<Vec<usize>> = BTreeSet::new();
    for start in 0..n {
        if colour[start] != white {
            continue;
        }
        colour[start] = grey;
        let mut path: Vec<(usize, Vec<usize>)> =
            vec![(start, edges[start].iter().copied().collect())];
        while let Some((node, pending)) = path.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) if colour[next] == white => {
                    colour[next] = grey;
                    path.push((next, edges[next].iter().copied().collect()));
                }
                Some(next) if colour[next] == grey => {
                    if let Some(from) = path.iter().position(|(x, _)| *x == next) {
                        let mut cycle: Vec<usize> = path[from..].iter().map(|(x, _)| *x).collect();
                        // One rotation per cycle, so the same cycle found twice is reported once.
                        if let Some(min_at) = cycle.iter().enumerate().min_by_key(|(_, x)| **x) {
                            let min_at = min_at.0;
                            cycle.rotate_left(min_at);
                        }
                        cycles.insert(cycle);
                    }
                }
                Some(_) => {}
                None => {
                    colour[node] = black;
                    path.pop();
                }
            }
        }
    }
    for cycle in cycles.iter().take(MAX_CYCLES_REPORTED) {
        let mut names: Vec<&str> = cycle.iter().map(|&i| containers[i].name_str()).collect();
        names.push(containers[cycle[0]].name_str());
        p.client(format!("containers depend on each other in a cycle: {}", names.join(" -> ")));
    }
}

/// The containers' reservations must fit the task's size, when the task has one.
fn check_totals(
    p: &mut Problems,
    containers: &[ContainerDefinition],
    cpu: Option<u32>,
    memory: Option<u32>,
) {
    if let Some(task_cpu) = cpu {
        let total: i64 = containers.iter().filter_map(|c| c.cpu).map(i64::from).sum();
        if total > i64::from(task_cpu) {
            p.client(format!(
                "the containers' cpu adds up to {total}, more than the task cpu ({task_cpu})"
            ));
        }
    }
    if let Some(task_memory) = memory {
        let reserved = || containers.iter().filter_map(|c| c.reserved_memory()).map(i64::from);
        let total: i64 = reserved().sum();
        // A container that alone exceeds the task was reported by itself; the sum adds nothing.
        let alone = reserved().any(|m| m > i64::from(task_memory));
        if total > i64::from(task_memory) && !alone {
            p.client(format!(
                "the containers' memory reservations add up to {total} MiB, more than the task \
                 memory ({task_memory} MiB)"
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The other operations

fn check_max_results(p: &mut Problems, max_results: Option<i32>) {
    if let Some(n) = max_results.filter(|n| !(1..=100).contains(n)) {
        p.invalid(format!("maxResults ({n}) must be between 1 and 100"));
    }
}

pub fn validate_describe_task_definition(include: &[String]) -> Result<(), ApiError> {
    let mut p = Problems::default();
    for field in include {
        p.one_of(|| "include value".to_string(), field, TASK_DEFINITION_FIELDS);
    }
    p.finish()
}

pub fn validate_list_task_definitions(
    status: Option<&str>,
    sort: Option<&str>,
    max_results: Option<i32>,
) -> Result<(), ApiError> {
    let mut p = Problems::default();
    if let Some(status) = status {
        p.one_of(|| "status".to_string(), status, TASK_DEFINITION_STATUSES);
    }
    if let Some(sort) = sort {
        p.one_of(|| "sort".to_string(), sort, SORT_ORDERS);
    }
    check_max_results(&mut p, max_results);
    p.finish()
}

pub fn validate_list_task_definition_families(
    status: Option<&str>,
    max_results: Option<i32>,
) -> Result<(), ApiError> {
    let mut p = Problems::default();
    if let Some(status) = status {
        p.one_of(|| "status".to_string(), status, TASK_DEFINITION_FAMILY_STATUSES);
    }
    check_max_results(&mut p, max_results);
    p.finish()
}

/// DeleteTaskDefinitions takes 1 to 10 task definitions.
pub fn validate_delete_task_definitions(count: usize) -> Result<(), ApiError> {
    let mut p = Problems::default();
    if !(1..=10).contains(&count) {
        p.invalid(format!("taskDefinitions has {count} entries; 1 to 10 are allowed"));
    }
    p.finish()
}

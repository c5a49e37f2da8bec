//! The pure translation of a `ContainerPlan` into Docker's container-create body, field by field
//! as the open-source ECS agent maps a container definition (no IO here).

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, DeviceMapping, HealthConfig, HostConfig, HostConfigLogConfig, PortBinding,
    PortMap, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};
use flotilla_api::taskdef::{ContainerDefinition, HealthCheck, LinuxParameters, Volume};

use crate::runtime::{ContainerPlan, RuntimeError, LABEL_FAMILY, LABEL_REVISION, LABEL_TASK_ARN};

const MIB: i64 = 1024 * 1024;
const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Docker (20.10+) refuses hard limits under 6 MiB; ECS's agent raises smaller ones to this.
pub(super) const MIN_MEMORY_BYTES: i64 = 6 * MIB;
/// CPU shares below 2 mean "the default" (1024) to Docker; ECS's agent raises 0 and 1 to 2 so a
/// container with `cpu: 0` gets the least weight, not a full vCPU's.
pub(super) const MIN_CPU_SHARES: i64 = 2;
/// CFS period for the task cpu cap, in microseconds (Docker's default period).
pub(super) const CPU_PERIOD_US: i64 = 100_000;
/// The kernel refuses quotas under 1 ms.
const MIN_CPU_QUOTA_US: i64 = 1_000;

/// Health check defaults ECS documents (seconds, seconds, count, seconds).
const HEALTH_INTERVAL: i32 = 30;
const HEALTH_TIMEOUT: i32 = 5;
const HEALTH_RETRIES: i32 = 3;
const HEALTH_START_PERIOD: i32 = 0;

/// ECS's default swappiness when `maxSwap` is set without one.
const DEFAULT_SWAPPINESS: i32 = 60;

/// Log drivers the agent stands in for: their containers log to Docker's `json-file` driver,
/// which the agent follows (`awslogs` is shipped to the server, see `crate::logs`; `awsfirelens`
/// stays local until a FireLens issue). The local file is capped: it is only a staging area.
const AGENT_LOG_DRIVERS: [&str; 2] = ["awslogs", "awsfirelens"];
/// `json-file` caps for those containers: 3 files of 100 MB. Files are big because Docker's log
/// follower skips whole rotated files once the writer is more than one file ahead of it
/// (measured with Docker 20.10: a burst of ~40 MB faster than ~150,000 lines/s lost a 20 MB
/// file, through `docker logs -f` as through the agent); at 100 MB a burst must pass ~200 MB.
const STAGING_LOG_OPTIONS: [(&str, &str); 2] = [("max-size", "100m"), ("max-file", "3")];

/// A named Docker volume a container of the plan mounts, which `create` makes sure exists
/// before creating the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NamedVolume {
    /// Docker's volume name.
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Task scope: the volume lives and dies with the task; it carries `LABEL_TASK_ARN` so
    /// `remove` can find it and delete it once its last container is gone.
    pub task_scoped: bool,
    /// Shared scope without `autoprovision`: the volume must already exist (ECS fails the task
    /// otherwise).
    pub must_exist: bool,
}

/// Docker's `ExposedPorts`: keys only (`"8080/tcp"`), each mapped to an empty object.
type ExposedPorts = HashMap<String, HashMap<(), ()>>;

/// The network modes this runtime can give a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NetworkMode {
    Bridge,
    Host,
    None,
    /// Another container's namespace: an awsvpc task's pause container, which holds the
    /// task's resolvers, hostname and hosts too (Docker refuses them here).
    Container,
}

/// Collects every problem of a plan, so one error reports them all.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    fn into_result<T>(self, value: T) -> Result<T, RuntimeError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(RuntimeError::InvalidSpec(self.0.join("; ")))
        }
    }
}

/// Docker's create body for `plan`: the container definition translated field by field as
/// ECS's agent does. Every problem of the plan is reported at once in one `InvalidSpec`.
///
/// | ECS | Docker |
/// |---|---|
/// | image, command, entryPoint, workingDirectory, user | Image, Cmd, Entrypoint, WorkingDir, User |
/// | environment, secrets + the agent's variables | Env `NAME=value` (secrets over environment, the agent's over both) |
/// | hostname | Hostname (not in host mode) |
/// | dockerLabels + ECS labels (`plan.labels`) | Labels |
/// | cpu | CpuShares, at least 2 |
/// | task cpu | CpuPeriod 100000, CpuQuota units/1024 × 100000 |
/// | memory, else task memory (MiB) | Memory (bytes, at least 6 MiB) |
/// | memoryReservation | MemoryReservation |
/// | portMappings | ExposedPorts, PortBindings `port/proto` → 0.0.0.0:hostPort ("" = ephemeral); bridge only |
/// | links, volumesFrom | Links `docker-name:alias` (bridge only), VolumesFrom `docker-name[:ro]` |
/// | mountPoints | Binds `host-path-or-volume:containerPath[:ro]` |
/// | dnsServers, dnsSearchDomains, extraHosts | Dns, DnsSearch, ExtraHosts `host:ip` |
/// | ulimits, readonlyRootFilesystem, privileged | Ulimits, ReadonlyRootfs, Privileged (if allowed) |
/// | linuxParameters | Init, CapAdd, CapDrop, ShmSize, Devices, Tmpfs, MemorySwap, MemorySwappiness |
/// | dockerSecurityOptions, systemControls | SecurityOpt, Sysctls |
/// | interactive, pseudoTerminal, disableNetworking | OpenStdin, Tty, NetworkDisabled |
/// | stopTimeout, healthCheck (s) | StopTimeout, Healthcheck (ns) |
/// | logConfiguration (+ secretOptions' values) | LogConfig (awslogs, awsfirelens: json-file) |
/// | - | RestartPolicy no, NetworkMode bridge/host/none/container:<pause> |
pub(super) fn container_config(plan: &ContainerPlan) -> Result<ContainerCreateBody, RuntimeError> {
    let def = &plan.definition;
    let mut problems = Problems::default();

    let mode = match plan.network_mode.as_str() {
        "" | "bridge" => NetworkMode::Bridge,
        "host" => NetworkMode::Host,
        "none" => NetworkMode::None,
        other if other.starts_with("container:") => NetworkMode::Container,
        other => {
            problems.push(format!("network mode {other} is not supported by this agent"));
            NetworkMode::Bridge
        }
    };

    if plan.docker_name.is_empty() {
        // Without a name a retried create would make a second container.
        problems.push("the plan has no docker name");
    }
    let image = def.image.clone().filter(|i| !i.is_empty());
    if image.is_none() {
        problems.push("the container has no image");
    }

    let mut host = HostConfig {
        cgroup_parent: plan.cgroup_parent.clone(),
        network_mode: Some(
            match mode {
                NetworkMode::Bridge => "bridge",
                NetworkMode::Host => "host",
                NetworkMode::None => "none",
                NetworkMode::Container => plan.network_mode.as_str(),
            }
            .to_string(),
        ),
        // The agent decides what happens to a stopped container (ECS semantics); Docker must
        // never restart one behind its back.
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        ..Default::default()
    };

    resources(plan, &mut host, &mut problems);

    let (exposed_ports, port_bindings) = ports(def, mode, &mut problems);
    host.port_bindings = port_bindings;

    // Links name containers of the same bridge network; in host and none mode there is nothing
    // to link (the task's containers share the host's localhost), so they are left out rather
    // than refused by Docker.
    if mode == NetworkMode::Bridge {
        host.links = non_empty(links(plan, &mut problems));
    }
    host.volumes_from = non_empty(volumes_from(plan, &mut problems));
    host.binds = non_empty(binds(plan, &mut problems));

    // The definition's own resolvers win; bridge-mode containers otherwise ask the agent's DNS
    // server (host and none mode cannot be given resolvers: Docker refuses it).
    // A container in another's namespace shares that one's resolvers and hosts.
    if mode != NetworkMode::Container {
        let own_dns = def.dns_servers.clone().unwrap_or_default();
        host.dns = non_empty(if own_dns.is_empty() && mode == NetworkMode::Bridge {
            plan.resolvers.iter().map(|r| r.to_string()).collect()
        } else {
            own_dns
        });
        host.dns_search = non_empty(def.dns_search_domains.clone().unwrap_or_default());
        host.extra_hosts = non_empty(
            def.extra_hosts
                .iter()
                .flatten()
                .map(|h| format!("{}:{}", h.hostname, h.ip_address))
                .collect(),
        );
    }
    host.ulimits = non_empty(
        def.ulimits
            .iter()
            .flatten()
            .map(|u| ResourcesUlimits {
                name: Some(u.name.clone()),
                soft: Some(i64::from(u.soft_limit)),
                hard: Some(i64::from(u.hard_limit)),
            })
            .collect(),
    );
    host.readonly_rootfs = def.readonly_root_filesystem.filter(|r| *r);
    if def.privileged == Some(true) {
        if plan.allow_privileged {
            host.privileged = Some(true);
        } else {
            problems.push("privileged containers are not allowed on this agent");
        }
    }
    host.security_opt = non_empty(def.docker_security_options.clone().unwrap_or_default());
    host.sysctls = sysctls(def, &mut problems);
    host.log_config = def.log_configuration.as_ref().map(|log| {
        if AGENT_LOG_DRIVERS.contains(&log.log_driver.as_str()) {
            HostConfigLogConfig {
                typ: Some("json-file".to_string()),
                config: Some(
                    STAGING_LOG_OPTIONS
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            }
        } else {
            let mut options: HashMap<String, String> =
                log.options.clone().unwrap_or_default().into_iter().collect();
            for (name, value) in &plan.secret_log_options {
                options.insert(name.clone(), value.0.clone());
            }
            HostConfigLogConfig {
                typ: Some(log.log_driver.clone()),
                config: (!options.is_empty()).then_some(options),
            }
        }
    });
    if let Some(linux) = &def.linux_parameters {
        linux_parameters(linux, &mut host, &mut problems);
    }

    let config = ContainerCreateBody {
        image,
        cmd: def.command.clone(),
        entrypoint: def.entry_point.clone(),
        env: non_empty(environment(plan)),
        working_dir: def.working_directory.clone().filter(|w| !w.is_empty()),
        user: def.user.clone().filter(|u| !u.is_empty()),
        // Docker refuses a hostname for a container sharing the host's network namespace.
        hostname: if matches!(mode, NetworkMode::Host | NetworkMode::Container) {
            None
        } else {
            def.hostname.clone()
        },
        labels: Some(plan.labels.clone().into_iter().collect()),
        exposed_ports,
        open_stdin: def.interactive.filter(|i| *i),
        tty: def.pseudo_terminal.filter(|t| *t),
        network_disabled: def.disable_networking.filter(|d| *d),
        stop_timeout: def.stop_timeout.map(i64::from),
        healthcheck: def.health_check.as_ref().map(|h| health_config(h, &mut problems)),
        host_config: Some(host),
        ..Default::default()
    };
    problems.into_result(config)
}

/// The named volumes `plan`'s container mounts (task-scoped, shared or ECS's "empty host"
/// volumes), in mount order, without duplicates. Bind mounts of host paths are not listed.
pub(super) fn named_volumes(plan: &ContainerPlan) -> Result<Vec<NamedVolume>, RuntimeError> {
    let mut problems = Problems::default();
    let mut out: Vec<NamedVolume> = Vec::new();
    for mount in plan.definition.mount_points.iter().flatten() {
        let Some(source) = mount.source_volume.as_deref() else { continue };
        let Some(volume) = find_volume(plan, source) else { continue };
        let Ok(VolumeSource::Named(name)) = volume_source(plan, volume) else { continue };
        if out.iter().any(|v| v.name == name) {
            continue;
        }
        let cfg = volume.docker_volume_configuration.as_ref();
        let shared = cfg.and_then(|c| c.scope.as_deref()) == Some("shared");
        let mut labels: BTreeMap<String, String> =
            cfg.and_then(|c| c.labels.clone()).unwrap_or_default();
        if !shared {
            match plan.labels.get(LABEL_TASK_ARN) {
                Some(arn) => {
                    labels.insert(LABEL_TASK_ARN.to_string(), arn.clone());
                }
                None => problems.push(format!(
                    "volume {source} is task-scoped but the plan has no {LABEL_TASK_ARN} label"
                )),
            }
        }
        out.push(NamedVolume {
            name,
            driver: cfg.and_then(|c| c.driver.clone()),
            driver_opts: cfg.and_then(|c| c.driver_opts.clone()).unwrap_or_default(),
            labels,
            task_scoped: !shared,
            must_exist: shared && cfg.and_then(|c| c.autoprovision) != Some(true),
        });
    }
    problems.into_result(out)
}

/// CPU shares, the task cpu cap and the memory limits.
fn resources(plan: &ContainerPlan, host: &mut HostConfig, problems: &mut Problems) {
    let def = &plan.definition;
    host.cpu_shares = Some(i64::from(def.cpu.unwrap_or(0)).max(MIN_CPU_SHARES));
    if let Some(units) = plan.task_cpu_units.filter(|u| *u > 0) {
        // Task-level cpu is a hard cap (CFS quota). The task's cgroup (`cgroup_parent`) caps
        // the containers together; each container is capped too, which also covers machines
        // where the agent cannot make that cgroup.
        host.cpu_period = Some(CPU_PERIOD_US);
        host.cpu_quota = Some((i64::from(units) * CPU_PERIOD_US / 1024).max(MIN_CPU_QUOTA_US));
    }

    // Task-level memory: the task's cgroup (`cgroup_parent`) holds the containers together to
    // it; a container without a hard limit of its own also gets the task's, which is all there
    // is where the agent cannot make that cgroup.
    let hard = def
        .memory
        .filter(|m| *m > 0)
        .map(i64::from)
        .or(plan.task_memory_mib.filter(|m| *m > 0).map(i64::from))
        .map(|mib| (mib * MIB).max(MIN_MEMORY_BYTES));
    let reservation = def.memory_reservation.filter(|m| *m > 0).map(|mib| i64::from(mib) * MIB);
    if let (Some(hard), Some(reservation)) = (hard, reservation) {
        if reservation > hard {
            problems.push(format!(
                "memoryReservation ({} MiB) is larger than the memory limit ({} MiB)",
                reservation / MIB,
                hard / MIB
            ));
        }
    }
    host.memory = hard;
    host.memory_reservation = reservation;
}

/// `ExposedPorts` and `PortBindings`: `"<port>/<protocol>"` keys; host port 0 or absent means
/// an ephemeral port Docker picks (HostPort ""). None in host and none mode, where there is no
/// port to publish.
fn ports(
    def: &ContainerDefinition,
    mode: NetworkMode,
    problems: &mut Problems,
) -> (Option<ExposedPorts>, Option<PortMap>) {
    if mode != NetworkMode::Bridge {
        return (None, None);
    }
    let mut exposed: ExposedPorts = HashMap::new();
    let mut bindings: PortMap = HashMap::new();
    for mapping in def.port_mappings.iter().flatten() {
        let protocol = mapping.protocol.as_deref().unwrap_or("tcp").to_ascii_lowercase();
        if protocol != "tcp" && protocol != "udp" {
            problems.push(format!("port mapping protocol {protocol} is not tcp or udp"));
            continue;
        }
        let (container_ports, host_port) =
            match (mapping.container_port, &mapping.container_port_range) {
                (Some(port), _) => {
                    let host_port = mapping.host_port.filter(|h| *h > 0).map(|h| h.to_string());
                    (port..=port, host_port.unwrap_or_default())
                }
                // A range gets one ephemeral host port per container port.
                (None, Some(range)) => match parse_port_range(range) {
                    Some((first, last)) => (first..=last, String::new()),
                    None => {
                        problems.push(format!("container port range {range} is not first-last"));
                        continue;
                    }
                },
                (None, None) => {
                    problems.push("a port mapping has no containerPort");
                    continue;
                }
            };
        for port in container_ports {
            if !(1..=65535).contains(&port) {
                problems.push(format!("container port {port} is out of range"));
                continue;
            }
            let key = format!("{port}/{protocol}");
            exposed.insert(key.clone(), HashMap::new());
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some("0.0.0.0".to_string()),
                    host_port: Some(host_port.clone()),
                });
        }
    }
    if exposed.is_empty() {
        (None, None)
    } else {
        (Some(exposed), Some(bindings))
    }
}

fn parse_port_range(range: &str) -> Option<(i32, i32)> {
    let (first, last) = range.split_once('-')?;
    let first: i32 = first.trim().parse().ok()?;
    let last: i32 = last.trim().parse().ok()?;
    (first <= last).then_some((first, last))
}

/// The definition's environment, then the agent's (which wins on a clash, as ECS's agent lets
/// its own variables override the definition's), as `NAME=value`.
fn environment(plan: &ContainerPlan) -> Vec<String> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: &str| match vars.iter_mut().find(|(n, _)| n == name) {
        Some(existing) => existing.1 = value.to_string(),
        None => vars.push((name.to_string(), value.to_string())),
    };
    for kv in plan.definition.environment.iter().flatten() {
        if let Some(name) = kv.name.as_deref().filter(|n| !n.is_empty()) {
            set(name, kv.value.as_deref().unwrap_or(""));
        }
    }
    // Secrets win over plain variables of the same name; the agent's own win over both.
    for (name, value) in &plan.secret_env {
        set(name, &value.0);
    }
    for (name, value) in &plan.extra_env {
        set(name, value);
    }
    vars.into_iter().map(|(n, v)| format!("{n}={v}")).collect()
}

/// `links`: `name[:alias]` becomes `<docker name of name>:<alias or name>`.
fn links(plan: &ContainerPlan, problems: &mut Problems) -> Vec<String> {
    let mut out = Vec::new();
    for link in plan.definition.links.iter().flatten() {
        let (name, alias) = link.split_once(':').unwrap_or((link.as_str(), link.as_str()));
        match plan.sibling_names.get(name) {
            Some(docker_name) => out.push(format!("{docker_name}:{alias}")),
            None => problems.push(format!("link {link} names no container of the task")),
        }
    }
    out
}

/// `volumesFrom`: the source container's Docker name, `:ro` when read-only.
fn volumes_from(plan: &ContainerPlan, problems: &mut Problems) -> Vec<String> {
    let mut out = Vec::new();
    for from in plan.definition.volumes_from.iter().flatten() {
        let source = from.source_container.as_deref().unwrap_or("");
        match plan.sibling_names.get(source) {
            Some(docker_name) if from.read_only == Some(true) => {
                out.push(format!("{docker_name}:ro"))
            }
            Some(docker_name) => out.push(docker_name.clone()),
            None => problems.push(format!("volumesFrom {source} names no container of the task")),
        }
    }
    out
}

/// Where a task volume's data lives.
#[derive(Debug, PartialEq, Eq)]
enum VolumeSource {
    /// A host path, bind-mounted.
    Bind(String),
    /// A named Docker volume.
    Named(String),
}

fn find_volume<'a>(plan: &'a ContainerPlan, name: &str) -> Option<&'a Volume> {
    plan.task_volumes.iter().find(|v| v.name.as_deref() == Some(name))
}

fn volume_source(plan: &ContainerPlan, volume: &Volume) -> Result<VolumeSource, String> {
    let name = volume.name.as_deref().unwrap_or("");
    if volume.efs_volume_configuration.is_some() {
        return Err(format!("volume {name}: EFS volumes are not supported by this agent"));
    }
    if volume.fsx_windows_file_server_volume_configuration.is_some() {
        return Err(format!("volume {name}: FSx volumes are not supported by this agent"));
    }
    if let Some(path) = volume.host.as_ref().and_then(|h| h.source_path.as_deref()) {
        if !path.is_empty() {
            return Ok(VolumeSource::Bind(path.to_string()));
        }
    }
    let shared = volume.docker_volume_configuration.as_ref().and_then(|c| c.scope.as_deref())
        == Some("shared");
    if shared {
        Ok(VolumeSource::Named(name.to_string()))
    } else {
        // Task scope, and ECS's "empty host" volume (`host: {}` or nothing): a Docker volume of
        // this task only, shared by its containers.
        Ok(VolumeSource::Named(task_volume_name(plan, name)))
    }
}

/// `ecs-<family>-<revision>-<volume>-<task id>`, like the names ECS's agent gives task-scoped
/// volumes, so every container of the task resolves the same volume. Without the task labels
/// (a plan built by hand), the container's own name stands in for the task.
fn task_volume_name(plan: &ContainerPlan, volume: &str) -> String {
    let task_id = plan.labels.get(LABEL_TASK_ARN).and_then(|arn| arn.rsplit('/').next());
    match (plan.labels.get(LABEL_FAMILY), plan.labels.get(LABEL_REVISION), task_id) {
        (Some(family), Some(revision), Some(task_id)) => {
            format!("ecs-{family}-{revision}-{volume}-{task_id}")
        }
        _ => format!("{}-{volume}", plan.docker_name),
    }
}

/// `mountPoints`: `source:containerPath[:ro]`, the source a host path or a named volume.
fn binds(plan: &ContainerPlan, problems: &mut Problems) -> Vec<String> {
    let mut out = Vec::new();
    for mount in plan.definition.mount_points.iter().flatten() {
        let source = mount.source_volume.as_deref().unwrap_or("");
        let Some(target) = mount.container_path.as_deref().filter(|p| !p.is_empty()) else {
            problems.push(format!("mount point of volume {source} has no containerPath"));
            continue;
        };
        let Some(volume) = find_volume(plan, source) else {
            problems
                .push(format!("mount point source volume {source} is not a volume of the task"));
            continue;
        };
        let from = match volume_source(plan, volume) {
            Ok(VolumeSource::Bind(path)) | Ok(VolumeSource::Named(path)) => path,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let ro = if mount.read_only == Some(true) { ":ro" } else { "" };
        out.push(format!("{from}:{target}{ro}"));
    }
    out
}

fn sysctls(def: &ContainerDefinition, problems: &mut Problems) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    for control in def.system_controls.iter().flatten() {
        match (&control.namespace, &control.value) {
            (Some(namespace), Some(value)) => {
                out.insert(namespace.clone(), value.clone());
            }
            _ => problems.push("a system control needs both namespace and value"),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// ECS's `healthCheck` (seconds) as Docker's (nanoseconds), with ECS's defaults.
fn health_config(check: &HealthCheck, problems: &mut Problems) -> HealthConfig {
    if check.command.is_empty() {
        problems.push("the health check has no command");
    }
    let nanos =
        |secs: Option<i32>, default: i32| i64::from(secs.unwrap_or(default)) * NANOS_PER_SEC;
    HealthConfig {
        test: Some(check.command.clone()),
        interval: Some(nanos(check.interval, HEALTH_INTERVAL)),
        timeout: Some(nanos(check.timeout, HEALTH_TIMEOUT)),
        retries: Some(i64::from(check.retries.unwrap_or(HEALTH_RETRIES))),
        start_period: Some(nanos(check.start_period, HEALTH_START_PERIOD)),
        start_interval: None,
    }
}

fn linux_parameters(linux: &LinuxParameters, host: &mut HostConfig, problems: &mut Problems) {
    if linux.init_process_enabled == Some(true) {
        host.init = Some(true);
    }
    if let Some(caps) = &linux.capabilities {
        host.cap_add = caps.add.clone().and_then(non_empty);
        host.cap_drop = caps.drop.clone().and_then(non_empty);
    }
    host.shm_size = linux.shared_memory_size.map(|mib| i64::from(mib) * MIB);
    host.devices = non_empty(
        linux
            .devices
            .iter()
            .flatten()
            .map(|d| DeviceMapping {
                path_on_host: Some(d.host_path.clone()),
                path_in_container: Some(
                    d.container_path.clone().unwrap_or_else(|| d.host_path.clone()),
                ),
                cgroup_permissions: Some(device_permissions(d.permissions.as_deref())),
            })
            .collect(),
    );
    let tmpfs: HashMap<String, String> = linux
        .tmpfs
        .iter()
        .flatten()
        .map(|t| {
            let mut options = t.mount_options.clone().unwrap_or_default();
            options.push(format!("size={}m", t.size));
            (t.container_path.clone(), options.join(","))
        })
        .collect();
    host.tmpfs = (!tmpfs.is_empty()).then_some(tmpfs);
    // `maxSwap` is the swap on top of the memory limit (0: no swap); Docker's MemorySwap is
    // memory plus swap. Without `maxSwap` the host's swap settings apply and `swappiness` is
    // ignored, as ECS documents.
    if let Some(max_swap) = linux.max_swap {
        match host.memory {
            Some(memory) if max_swap >= 0 => {
                host.memory_swap = Some(memory + i64::from(max_swap) * MIB);
                host.memory_swappiness =
                    Some(i64::from(linux.swappiness.unwrap_or(DEFAULT_SWAPPINESS)));
            }
            Some(_) => problems.push("maxSwap must not be negative"),
            None => problems.push("maxSwap needs a memory limit (container or task memory)"),
        }
    }
}

/// ECS's `read`/`write`/`mknod` as cgroup's `rwm`; none given means all three.
fn device_permissions(permissions: Option<&[String]>) -> String {
    let permissions = permissions.unwrap_or_default();
    if permissions.is_empty() {
        return "rwm".to_string();
    }
    let mut out = String::new();
    for (name, letter) in [("read", 'r'), ("write", 'w'), ("mknod", 'm')] {
        if permissions.iter().any(|p| p == name) {
            out.push(letter);
        }
    }
    out
}

/// Splits an image reference into what Docker's pull takes: the repository and the tag or
/// digest. A reference without either means `latest` (an empty tag would pull every tag).
pub(super) fn image_reference(image: &str) -> (String, String) {
    if let Some((repository, digest)) = image.split_once('@') {
        return (repository.to_string(), digest.to_string());
    }
    // A colon before the last slash is a registry port, not a tag.
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(at) => {
            let at = name_start + at;
            (image[..at].to_string(), image[at + 1..].to_string())
        }
        None => (image.to_string(), "latest".to_string()),
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

//! Unit tests of the pure parts of the Docker runtime: plan translation and status mapping.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerConfig, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum,
    HealthStatusEnum, NetworkSettings, PortBinding, RestartPolicyNameEnum,
};
use flotilla_api::agent::SecretValue;
use flotilla_api::common::KeyValuePair;
use flotilla_api::task::NetworkBinding;
use flotilla_api::taskdef::{
    ContainerDefinition, Device, DockerVolumeConfiguration, EfsVolumeConfiguration, HealthCheck,
    HostEntry, HostVolumeProperties, KernelCapabilities, LinuxParameters, LogConfiguration,
    MountPoint, PortMapping, SystemControl, Tmpfs, Ulimit, Volume, VolumeFrom,
};

use super::status::{
    container_status, first_address, log_records, normalize_architecture, parse_docker_time,
};
use super::translate::{container_config, image_reference, named_volumes, NamedVolume};
use crate::runtime::{
    ContainerPlan, Health, RunState, RuntimeError, LABEL_CONTAINER_NAME, LABEL_FAMILY,
    LABEL_REVISION, LABEL_TASK_ARN,
};

const MIB: i64 = 1024 * 1024;
const TASK_ARN: &str = "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef";

fn kv(name: &str, value: &str) -> KeyValuePair {
    KeyValuePair { name: Some(name.to_string()), value: Some(value.to_string()) }
}

fn port(container: i32, host: Option<i32>, protocol: Option<&str>) -> PortMapping {
    PortMapping {
        container_port: Some(container),
        host_port: host,
        protocol: protocol.map(str::to_string),
        ..Default::default()
    }
}

fn volume(name: &str) -> Volume {
    Volume { name: Some(name.to_string()), ..Default::default() }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A web container of a two-container task, using most of what a definition can say.
fn rich_plan() -> ContainerPlan {
    let definition = ContainerDefinition {
        name: Some("web".to_string()),
        image: Some("flotilla/demo:latest".to_string()),
        cpu: Some(256),
        memory: Some(512),
        memory_reservation: Some(128),
        command: Some(strings(&["serve", "--port", "8080"])),
        entry_point: Some(strings(&["/flotilla", "demo"])),
        environment: Some(vec![kv("MODE", "test"), kv("ECS_CONTAINER_METADATA_URI", "user")]),
        working_directory: Some("/srv".to_string()),
        user: Some("1000:1000".to_string()),
        hostname: Some("web-host".to_string()),
        port_mappings: Some(vec![
            port(8080, Some(0), Some("tcp")),
            port(9090, Some(19090), None),
            port(5353, None, Some("udp")),
        ]),
        links: Some(strings(&["db:database", "cache"])),
        volumes_from: Some(vec![
            VolumeFrom { source_container: Some("db".to_string()), read_only: Some(true) },
            VolumeFrom { source_container: Some("cache".to_string()), read_only: None },
        ]),
        mount_points: Some(vec![
            MountPoint {
                source_volume: Some("config".to_string()),
                container_path: Some("/etc/app".to_string()),
                read_only: Some(true),
            },
            MountPoint {
                source_volume: Some("scratch".to_string()),
                container_path: Some("/scratch".to_string()),
                read_only: None,
            },
            MountPoint {
                source_volume: Some("shared-data".to_string()),
                container_path: Some("/data".to_string()),
                read_only: Some(false),
            },
        ]),
        dns_servers: Some(strings(&["10.0.0.2"])),
        dns_search_domains: Some(strings(&["example.internal"])),
        extra_hosts: Some(vec![HostEntry {
            hostname: "db.local".to_string(),
            ip_address: "10.0.0.5".to_string(),
        }]),
        ulimits: Some(vec![Ulimit {
            name: "nofile".to_string(),
            soft_limit: 1024,
            hard_limit: 4096,
        }]),
        readonly_root_filesystem: Some(true),
        docker_security_options: Some(strings(&["no-new-privileges"])),
        system_controls: Some(vec![SystemControl {
            namespace: Some("net.core.somaxconn".to_string()),
            value: Some("1024".to_string()),
        }]),
        interactive: Some(true),
        pseudo_terminal: Some(true),
        stop_timeout: Some(20),
        health_check: Some(HealthCheck {
            command: strings(&["CMD-SHELL", "curl -f http://localhost:8080/healthz || exit 1"]),
            interval: Some(10),
            timeout: None,
            retries: None,
            start_period: Some(15),
        }),
        log_configuration: Some(LogConfiguration {
            log_driver: "json-file".to_string(),
            options: Some(BTreeMap::from([("max-size".to_string(), "10m".to_string())])),
            secret_options: None,
        }),
        linux_parameters: Some(LinuxParameters {
            capabilities: Some(KernelCapabilities {
                add: Some(strings(&["NET_ADMIN"])),
                drop: Some(strings(&["MKNOD"])),
            }),
            devices: Some(vec![Device {
                host_path: "/dev/fuse".to_string(),
                container_path: None,
                permissions: Some(strings(&["read", "write"])),
            }]),
            init_process_enabled: Some(true),
            shared_memory_size: Some(64),
            tmpfs: Some(vec![Tmpfs {
                container_path: "/run".to_string(),
                size: 32,
                mount_options: Some(strings(&["noexec", "nosuid"])),
            }]),
            max_swap: Some(256),
            swappiness: None,
        }),
        ..Default::default()
    };
    ContainerPlan {
        docker_name: "ecs-web-3-web-a1b2c3".to_string(),
        definition,
        labels: BTreeMap::from([
            (LABEL_TASK_ARN.to_string(), TASK_ARN.to_string()),
            (LABEL_CONTAINER_NAME.to_string(), "web".to_string()),
            (LABEL_FAMILY.to_string(), "web".to_string()),
            (LABEL_REVISION.to_string(), "3".to_string()),
            ("team".to_string(), "platform".to_string()),
        ]),
        network_mode: "bridge".to_string(),
        task_volumes: vec![
            Volume {
                host: Some(HostVolumeProperties { source_path: Some("/srv/config".to_string()) }),
                ..volume("config")
            },
            Volume { host: Some(HostVolumeProperties { source_path: None }), ..volume("scratch") },
            Volume {
                docker_volume_configuration: Some(DockerVolumeConfiguration {
                    scope: Some("shared".to_string()),
                    autoprovision: Some(true),
                    driver: Some("local".to_string()),
                    ..Default::default()
                }),
                ..volume("shared-data")
            },
        ],
        task_memory_mib: Some(1024),
        task_cpu_units: Some(512),
        sibling_names: BTreeMap::from([
            ("db".to_string(), "ecs-web-3-db-a1b2c3".to_string()),
            ("cache".to_string(), "ecs-web-3-cache-a1b2c3".to_string()),
        ]),
        extra_env: vec![
            ("ECS_CONTAINER_METADATA_URI".to_string(), "http://169.254.170.2/v3/x".to_string()),
            ("AWS_EXECUTION_ENV".to_string(), "AWS_ECS_EC2".to_string()),
        ],
        secret_env: vec![("DB_PASSWORD".to_string(), SecretValue("hunter2".to_string()))],
        secret_log_options: Vec::new(),
        allow_privileged: false,
        cgroup_parent: Some("/ecs/a1b2c3".to_string()),
        resolvers: vec![std::net::Ipv4Addr::new(172, 17, 0, 1).into()],
    }
}

fn invalid_spec(plan: &ContainerPlan) -> String {
    match container_config(plan) {
        Err(RuntimeError::InvalidSpec(message)) => message,
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
}

#[test]
fn translates_command_environment_and_labels() {
    let config = container_config(&rich_plan()).expect("valid plan");
    assert_eq!(config.image.as_deref(), Some("flotilla/demo:latest"));
    assert_eq!(config.entrypoint, Some(strings(&["/flotilla", "demo"])));
    assert_eq!(config.cmd, Some(strings(&["serve", "--port", "8080"])));
    // Secrets come after the definition's variables; the agent's override both, in place.
    assert_eq!(
        config.env,
        Some(strings(&[
            "MODE=test",
            "ECS_CONTAINER_METADATA_URI=http://169.254.170.2/v3/x",
            "DB_PASSWORD=hunter2",
            "AWS_EXECUTION_ENV=AWS_ECS_EC2",
        ]))
    );
    assert_eq!(config.working_dir.as_deref(), Some("/srv"));
    assert_eq!(config.user.as_deref(), Some("1000:1000"));
    assert_eq!(config.hostname.as_deref(), Some("web-host"));
    let labels = config.labels.expect("labels");
    assert_eq!(labels.get(LABEL_TASK_ARN).map(String::as_str), Some(TASK_ARN));
    assert_eq!(labels.get("team").map(String::as_str), Some("platform"));
    assert_eq!(labels.len(), 5);
    assert_eq!(config.open_stdin, Some(true));
    assert_eq!(config.tty, Some(true));
    assert_eq!(config.stop_timeout, Some(20));
}

#[test]
fn translates_limits() {
    let host = container_config(&rich_plan()).expect("valid plan").host_config.expect("host");
    assert_eq!(host.cpu_shares, Some(256));
    assert_eq!(host.cgroup_parent.as_deref(), Some("/ecs/a1b2c3"), "the task cgroup");
    assert_eq!(host.memory, Some(512 * MIB));
    assert_eq!(host.memory_reservation, Some(128 * MIB));
    // Task cpu 512 units = half a vCPU.
    assert_eq!(host.cpu_period, Some(100_000));
    assert_eq!(host.cpu_quota, Some(50_000));
    // maxSwap 256 MiB on top of the memory limit; ECS's default swappiness.
    assert_eq!(host.memory_swap, Some((512 + 256) * MIB));
    assert_eq!(host.memory_swappiness, Some(60));
    assert_eq!(host.restart_policy.and_then(|r| r.name), Some(RestartPolicyNameEnum::NO));
}

#[test]
fn task_memory_is_the_hard_limit_of_containers_without_one() {
    let mut plan = rich_plan();
    plan.definition.memory = None;
    plan.definition.cpu = Some(0);
    plan.task_cpu_units = None;
    let host = container_config(&plan).expect("valid plan").host_config.expect("host");
    assert_eq!(host.memory, Some(1024 * MIB));
    assert_eq!(host.memory_reservation, Some(128 * MIB));
    // cpu 0 is Docker's "default weight"; ECS's agent gives the least weight instead.
    assert_eq!(host.cpu_shares, Some(2));
    assert_eq!(host.cpu_quota, None);
    assert_eq!(host.cpu_period, None);

    plan.task_memory_mib = None;
    plan.definition.linux_parameters = None;
    let host = container_config(&plan).expect("valid plan").host_config.expect("host");
    assert_eq!(host.memory, None);
}

#[test]
fn tiny_limits_are_raised_to_what_docker_accepts() {
    let mut plan = rich_plan();
    plan.definition.memory = Some(4);
    plan.definition.memory_reservation = None;
    plan.definition.linux_parameters = None;
    plan.task_cpu_units = Some(1);
    let host = container_config(&plan).expect("valid plan").host_config.expect("host");
    assert_eq!(host.memory, Some(6 * MIB));
    assert_eq!(host.cpu_quota, Some(1_000));
}

#[test]
fn translates_dynamic_and_static_ports() {
    let config = container_config(&rich_plan()).expect("valid plan");
    let exposed = config.exposed_ports.expect("exposed ports");
    assert_eq!(
        sorted(exposed.keys().cloned().collect()),
        strings(&["5353/udp", "8080/tcp", "9090/tcp"])
    );
    let bindings = config.host_config.and_then(|h| h.port_bindings).expect("port bindings");
    let binding = |key: &str| bindings.get(key).cloned().flatten().expect(key);
    let any = |port: &str| PortBinding {
        host_ip: Some("0.0.0.0".to_string()),
        host_port: Some(port.to_string()),
    };
    assert_eq!(binding("8080/tcp"), vec![any("")]);
    assert_eq!(binding("9090/tcp"), vec![any("19090")]);
    assert_eq!(binding("5353/udp"), vec![any("")]);
}

#[test]
fn port_ranges_get_one_ephemeral_port_each() {
    let mut plan = rich_plan();
    plan.definition.port_mappings = Some(vec![PortMapping {
        container_port_range: Some("7000-7002".to_string()),
        ..Default::default()
    }]);
    let config = container_config(&plan).expect("valid plan");
    let exposed = config.exposed_ports.expect("exposed ports");
    assert_eq!(
        sorted(exposed.keys().cloned().collect()),
        strings(&["7000/tcp", "7001/tcp", "7002/tcp"])
    );
}

#[test]
fn host_mode_drops_ports_hostname_and_links() {
    let mut plan = rich_plan();
    plan.network_mode = "host".to_string();
    let config = container_config(&plan).expect("valid plan");
    assert_eq!(config.hostname, None);
    assert_eq!(config.exposed_ports, None);
    let host = config.host_config.expect("host");
    assert_eq!(host.network_mode.as_deref(), Some("host"));
    assert_eq!(host.port_bindings, None);
    assert_eq!(host.links, None);
    // volumesFrom does not depend on the network.
    assert!(host.volumes_from.is_some());
}

#[test]
fn none_mode_keeps_hostname_but_publishes_nothing() {
    let mut plan = rich_plan();
    plan.network_mode = "none".to_string();
    let config = container_config(&plan).expect("valid plan");
    assert_eq!(config.hostname.as_deref(), Some("web-host"));
    assert_eq!(config.exposed_ports, None);
    let host = config.host_config.expect("host");
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.port_bindings, None);
}

#[test]
fn default_network_mode_is_bridge() {
    let mut plan = rich_plan();
    plan.network_mode = String::new();
    let host = container_config(&plan).expect("valid plan").host_config.expect("host");
    assert_eq!(host.network_mode.as_deref(), Some("bridge"));
}

#[test]
fn bridge_containers_resolve_with_the_agent_unless_they_name_dns_servers() {
    let mut plan = rich_plan();
    plan.definition.dns_servers = None;
    let host = container_config(&plan).expect("valid plan").host_config.expect("host");
    assert_eq!(host.dns, Some(strings(&["172.17.0.1"])));
    // Docker refuses resolvers in host mode; none mode has no network to ask on.
    for mode in ["host", "none"] {
        plan.network_mode = mode.to_string();
        let host = container_config(&plan).expect("valid plan").host_config.expect("host");
        assert_eq!(host.dns, None, "{mode}");
    }
    // An agent that serves no DNS leaves Docker's default.
    plan.network_mode = "bridge".to_string();
    plan.resolvers.clear();
    let host = container_config(&plan).expect("valid plan").host_config.expect("host");
    assert_eq!(host.dns, None);
}

#[test]
fn resolves_links_and_volumes_from_to_docker_names() {
    let host = container_config(&rich_plan()).expect("valid plan").host_config.expect("host");
    assert_eq!(
        host.links,
        Some(strings(&["ecs-web-3-db-a1b2c3:database", "ecs-web-3-cache-a1b2c3:cache"]))
    );
    assert_eq!(
        host.volumes_from,
        Some(strings(&["ecs-web-3-db-a1b2c3:ro", "ecs-web-3-cache-a1b2c3"]))
    );
}

#[test]
fn binds_host_paths_and_named_volumes() {
    let host = container_config(&rich_plan()).expect("valid plan").host_config.expect("host");
    assert_eq!(
        host.binds,
        Some(strings(&[
            "/srv/config:/etc/app:ro",
            // An "empty host" volume: a Docker volume of this task only.
            "ecs-web-3-scratch-0123456789abcdef:/scratch",
            // A shared Docker volume keeps its name.
            "shared-data:/data",
        ]))
    );
}

#[test]
fn lists_the_named_volumes_to_create() {
    let volumes = named_volumes(&rich_plan()).expect("valid plan");
    assert_eq!(
        volumes,
        vec![
            NamedVolume {
                name: "ecs-web-3-scratch-0123456789abcdef".to_string(),
                driver: None,
                driver_opts: BTreeMap::new(),
                labels: BTreeMap::from([(LABEL_TASK_ARN.to_string(), TASK_ARN.to_string())]),
                task_scoped: true,
                must_exist: false,
            },
            NamedVolume {
                name: "shared-data".to_string(),
                driver: Some("local".to_string()),
                driver_opts: BTreeMap::new(),
                labels: BTreeMap::new(),
                task_scoped: false,
                must_exist: false,
            },
        ]
    );
}

#[test]
fn task_scoped_docker_volumes_are_named_per_task() {
    let mut plan = rich_plan();
    plan.task_volumes[1].docker_volume_configuration = Some(DockerVolumeConfiguration {
        scope: Some("task".to_string()),
        driver_opts: Some(BTreeMap::from([("type".to_string(), "tmpfs".to_string())])),
        labels: Some(BTreeMap::from([("purpose".to_string(), "scratch".to_string())])),
        ..Default::default()
    });
    plan.task_volumes[2].docker_volume_configuration = Some(DockerVolumeConfiguration {
        scope: Some("shared".to_string()),
        autoprovision: None,
        ..Default::default()
    });
    let volumes = named_volumes(&plan).expect("valid plan");
    assert_eq!(volumes[0].name, "ecs-web-3-scratch-0123456789abcdef");
    assert_eq!(volumes[0].driver_opts.get("type").map(String::as_str), Some("tmpfs"));
    assert_eq!(volumes[0].labels.get("purpose").map(String::as_str), Some("scratch"));
    assert!(volumes[0].labels.contains_key(LABEL_TASK_ARN));
    // Shared without autoprovision: it has to be there already.
    assert!(volumes[1].must_exist);
}

#[test]
fn translates_health_check_to_nanoseconds_with_ecs_defaults() {
    let check = container_config(&rich_plan()).expect("valid plan").healthcheck.expect("check");
    assert_eq!(
        check.test,
        Some(strings(&["CMD-SHELL", "curl -f http://localhost:8080/healthz || exit 1"]))
    );
    assert_eq!(check.interval, Some(10_000_000_000));
    assert_eq!(check.timeout, Some(5_000_000_000));
    assert_eq!(check.retries, Some(3));
    assert_eq!(check.start_period, Some(15_000_000_000));

    let mut plan = rich_plan();
    plan.definition.health_check =
        Some(HealthCheck { command: strings(&["CMD", "/bin/true"]), ..Default::default() });
    let check = container_config(&plan).expect("valid plan").healthcheck.expect("check");
    assert_eq!(check.interval, Some(30_000_000_000));
    assert_eq!(check.start_period, Some(0));
}

#[test]
fn translates_host_options() {
    let host = container_config(&rich_plan()).expect("valid plan").host_config.expect("host");
    assert_eq!(host.dns, Some(strings(&["10.0.0.2"])));
    assert_eq!(host.dns_search, Some(strings(&["example.internal"])));
    assert_eq!(host.extra_hosts, Some(strings(&["db.local:10.0.0.5"])));
    let ulimit = &host.ulimits.expect("ulimits")[0];
    assert_eq!(
        (ulimit.name.as_deref(), ulimit.soft, ulimit.hard),
        (Some("nofile"), Some(1024), Some(4096))
    );
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.privileged, None);
    assert_eq!(host.security_opt, Some(strings(&["no-new-privileges"])));
    assert_eq!(
        host.sysctls,
        Some(HashMap::from([("net.core.somaxconn".to_string(), "1024".to_string())]))
    );
    let log = host.log_config.expect("log config");
    assert_eq!(log.typ.as_deref(), Some("json-file"));
    assert_eq!(log.config.and_then(|c| c.get("max-size").cloned()).as_deref(), Some("10m"));
    assert_eq!(host.init, Some(true));
    assert_eq!(host.cap_add, Some(strings(&["NET_ADMIN"])));
    assert_eq!(host.cap_drop, Some(strings(&["MKNOD"])));
    assert_eq!(host.shm_size, Some(64 * MIB));
    let device = &host.devices.expect("devices")[0];
    assert_eq!(device.path_on_host.as_deref(), Some("/dev/fuse"));
    assert_eq!(device.path_in_container.as_deref(), Some("/dev/fuse"));
    assert_eq!(device.cgroup_permissions.as_deref(), Some("rw"));
    assert_eq!(
        host.tmpfs,
        Some(HashMap::from([("/run".to_string(), "noexec,nosuid,size=32m".to_string())]))
    );
}

#[test]
fn awslogs_logs_to_a_capped_json_file_the_agent_follows() {
    let mut plan = rich_plan();
    plan.definition.log_configuration = Some(LogConfiguration {
        log_driver: "awslogs".to_string(),
        options: Some(BTreeMap::from([("awslogs-group".to_string(), "/ecs/web".to_string())])),
        secret_options: None,
    });
    let log = container_config(&plan).expect("valid plan").host_config.and_then(|h| h.log_config);
    let log = log.expect("log config");
    assert_eq!(log.typ.as_deref(), Some("json-file"));
    let config = log.config.expect("caps");
    assert_eq!(config.get("max-size").map(String::as_str), Some("100m"));
    assert_eq!(config.get("max-file").map(String::as_str), Some("3"));
}

#[test]
fn privileged_needs_the_agents_permission() {
    let mut plan = rich_plan();
    plan.definition.privileged = Some(true);
    assert_eq!(invalid_spec(&plan), "privileged containers are not allowed on this agent");

    plan.allow_privileged = true;
    let host = container_config(&plan).expect("allowed").host_config.expect("host");
    assert_eq!(host.privileged, Some(true));
}

#[test]
fn reports_every_problem_at_once() {
    let mut plan = rich_plan();
    plan.definition.privileged = Some(true);
    plan.definition.links = Some(strings(&["ghost"]));
    plan.definition.volumes_from =
        Some(vec![VolumeFrom { source_container: Some("phantom".to_string()), read_only: None }]);
    plan.definition.mount_points = Some(vec![MountPoint {
        source_volume: Some("nowhere".to_string()),
        container_path: Some("/x".to_string()),
        read_only: None,
    }]);
    plan.definition.memory_reservation = Some(4096);
    let message = invalid_spec(&plan);
    for expected in [
        "privileged containers are not allowed on this agent",
        "link ghost names no container of the task",
        "volumesFrom phantom names no container of the task",
        "mount point source volume nowhere is not a volume of the task",
        "memoryReservation (4096 MiB) is larger than the memory limit (512 MiB)",
    ] {
        assert!(message.contains(expected), "{expected:?} missing from {message:?}");
    }
}

#[test]
fn refuses_what_this_agent_cannot_run() {
    let mut plan = rich_plan();
    plan.network_mode = "awsvpc".to_string();
    plan.task_volumes.push(Volume {
        efs_volume_configuration: Some(EfsVolumeConfiguration {
            file_system_id: "fs-1".to_string(),
            ..Default::default()
        }),
        ..volume("efs")
    });
    plan.definition.mount_points = Some(vec![MountPoint {
        source_volume: Some("efs".to_string()),
        container_path: Some("/efs".to_string()),
        read_only: None,
    }]);
    let message = invalid_spec(&plan);
    assert!(message.contains("network mode awsvpc is not supported by this agent"), "{message}");
    assert!(
        message.contains("volume efs: EFS volumes are not supported by this agent"),
        "{message}"
    );
}

#[test]
fn a_minimal_definition_translates_to_a_minimal_config() {
    let plan = ContainerPlan {
        docker_name: "ecs-min-1-app-1".to_string(),
        definition: ContainerDefinition {
            name: Some("app".to_string()),
            image: Some("busybox".to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    let config = container_config(&plan).expect("valid plan");
    assert_eq!(config.cmd, None);
    assert_eq!(config.env, None);
    assert_eq!(config.exposed_ports, None);
    assert_eq!(config.healthcheck, None);
    let host = config.host_config.expect("host");
    assert_eq!(host.cpu_shares, Some(2));
    assert_eq!(host.memory, None);
    assert_eq!(host.binds, None);
    assert_eq!(host.log_config, None);

    let nameless = ContainerPlan { docker_name: String::new(), ..plan };
    assert_eq!(invalid_spec(&nameless), "the plan has no docker name");
}

#[test]
fn splits_image_references() {
    let split = |image: &str| {
        let (repository, tag) = image_reference(image);
        (repository, tag)
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(split("busybox"), pair("busybox", "latest"));
    assert_eq!(split("flotilla/demo:latest"), pair("flotilla/demo", "latest"));
    assert_eq!(split("localhost:5000/app"), pair("localhost:5000/app", "latest"));
    assert_eq!(split("localhost:5000/app:1.2"), pair("localhost:5000/app", "1.2"));
    assert_eq!(split("app@sha256:abcd"), pair("app", "sha256:abcd"));
}

fn inspected(state: ContainerState) -> ContainerInspectResponse {
    ContainerInspectResponse {
        id: Some("c0ffee".to_string()),
        name: Some("/ecs-web-3-web-a1b2c3".to_string()),
        state: Some(state),
        config: Some(ContainerConfig {
            labels: Some(HashMap::from([(LABEL_TASK_ARN.to_string(), TASK_ARN.to_string())])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn maps_a_running_container() {
    let mut response = inspected(ContainerState {
        status: Some(ContainerStateStatusEnum::RUNNING),
        running: Some(true),
        exit_code: Some(0),
        started_at: Some("2024-05-07T21:09:36.5Z".to_string()),
        finished_at: Some("0001-01-01T00:00:00Z".to_string()),
        health: Some(bollard::models::Health {
            status: Some(HealthStatusEnum::HEALTHY),
            ..Default::default()
        }),
        ..Default::default()
    });
    response.network_settings = Some(NetworkSettings {
        ports: Some(HashMap::from([
            (
                "8080/tcp".to_string(),
                Some(vec![
                    PortBinding {
                        host_ip: Some("0.0.0.0".to_string()),
                        host_port: Some("49153".to_string()),
                    },
                    PortBinding {
                        host_ip: Some("::".to_string()),
                        host_port: Some("49153".to_string()),
                    },
                ]),
            ),
            ("9999/tcp".to_string(), None),
            (
                "53/udp".to_string(),
                Some(vec![PortBinding {
                    host_ip: Some("0.0.0.0".to_string()),
                    host_port: Some("5353".to_string()),
                }]),
            ),
        ])),
        ..Default::default()
    });
    let status = container_status(response);
    assert_eq!(status.id, "c0ffee");
    assert_eq!(status.name, "ecs-web-3-web-a1b2c3");
    assert_eq!(status.labels.get(LABEL_TASK_ARN).map(String::as_str), Some(TASK_ARN));
    assert_eq!(status.state, RunState::Running);
    assert_eq!(status.exit_code, None);
    assert_eq!(status.error, None);
    assert_eq!(status.health, Some(Health::Healthy));
    assert_eq!(status.started_at, Some(1_715_116_176.5));
    assert_eq!(status.finished_at, None);
    let binding = |ip: &str, container: i32, host: i32, protocol: &str| NetworkBinding {
        bind_ip: Some(ip.to_string()),
        container_port: Some(container),
        host_port: Some(host),
        protocol: Some(protocol.to_string()),
    };
    assert_eq!(
        status.network_bindings,
        vec![
            binding("0.0.0.0", 53, 5353, "udp"),
            binding("0.0.0.0", 8080, 49153, "tcp"),
            binding("::", 8080, 49153, "tcp"),
        ]
    );
}

#[test]
fn maps_exited_and_odd_states() {
    let exited = container_status(inspected(ContainerState {
        status: Some(ContainerStateStatusEnum::EXITED),
        exit_code: Some(137),
        oom_killed: Some(true),
        error: Some(String::new()),
        started_at: Some("2024-05-07T21:09:36Z".to_string()),
        finished_at: Some("2024-05-07T21:10:00.25Z".to_string()),
        ..Default::default()
    }));
    assert_eq!(exited.state, RunState::Exited);
    assert_eq!(exited.exit_code, Some(137));
    assert_eq!(exited.error.as_deref(), Some("OOMKilled"));
    assert_eq!(exited.finished_at, Some(1_715_116_200.25));

    let failed = container_status(inspected(ContainerState {
        status: Some(ContainerStateStatusEnum::CREATED),
        exit_code: Some(127),
        error: Some("exec: \"nope\": executable file not found in $PATH".to_string()),
        ..Default::default()
    }));
    assert_eq!(failed.state, RunState::Created);
    assert_eq!(failed.exit_code, None);
    assert!(failed.error.as_deref().is_some_and(|e| e.contains("executable file not found")));

    for (docker, ours) in [
        (ContainerStateStatusEnum::DEAD, RunState::Exited),
        (ContainerStateStatusEnum::REMOVING, RunState::Exited),
        (ContainerStateStatusEnum::PAUSED, RunState::Running),
        (ContainerStateStatusEnum::RESTARTING, RunState::Running),
    ] {
        let status = container_status(inspected(ContainerState {
            status: Some(docker),
            health: Some(bollard::models::Health {
                status: Some(HealthStatusEnum::STARTING),
                ..Default::default()
            }),
            ..Default::default()
        }));
        assert_eq!(status.state, ours, "{docker:?}");
        assert_eq!(status.health, Some(Health::Starting));
    }
}

#[test]
fn parses_docker_timestamps() {
    assert_eq!(parse_docker_time(Some("1970-01-01T00:00:00Z")), Some(0.0));
    assert_eq!(parse_docker_time(Some("2000-03-01T00:00:00Z")), Some(951_868_800.0));
    assert_eq!(parse_docker_time(Some("2024-02-29T12:00:00.000000001Z")), Some(1_709_208_000.0));
    assert_eq!(parse_docker_time(Some("2024-02-29T14:00:00+02:00")), Some(1_709_208_000.0));
    assert_eq!(parse_docker_time(Some("2024-02-29T11:30:00-00:30")), Some(1_709_208_000.0));
    assert_eq!(parse_docker_time(Some("0001-01-01T00:00:00Z")), None);
    assert_eq!(parse_docker_time(Some("")), None);
    assert_eq!(parse_docker_time(None), None);
    assert_eq!(parse_docker_time(Some("yesterday")), None);
    assert_eq!(parse_docker_time(Some("2024-13-01T00:00:00Z")), None);
}

#[test]
fn normalizes_architectures_to_ecs_names() {
    assert_eq!(normalize_architecture("x86_64"), "x86_64");
    assert_eq!(normalize_architecture("amd64"), "x86_64");
    assert_eq!(normalize_architecture("aarch64"), "arm64");
    assert_eq!(normalize_architecture("arm64"), "arm64");
    assert_eq!(normalize_architecture("s390x"), "s390x");
}

#[test]
fn a_bridge_gateway_defaults_to_the_subnets_first_address() {
    assert_eq!(first_address("172.17.0.0/16"), Some([172, 17, 0, 1].into()));
    assert_eq!(first_address("10.1.2.128/25"), Some([10, 1, 2, 129].into()));
    assert_eq!(first_address("fd00::/64"), None);
    assert_eq!(first_address("nonsense"), None);
}

#[test]
fn docker_log_frames_become_timestamped_lines() {
    let records = log_records(b"2026-11-24T11:00:00.000000001Z hello world\n");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].line, "hello world");
    assert_eq!(records[0].timestamp_ns, 1_795_518_000_000_000_001);
    // A TTY frame can carry several lines; an empty line is a timestamp alone.
    let records = log_records(
        b"2026-11-24T11:00:01Z one\r\n2026-11-24T11:00:02Z\n2026-11-24T11:00:03Z three\n",
    );
    let lines: Vec<&str> = records.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(lines, ["one", "", "three"]);
    assert_eq!(records[2].timestamp_ns, 1_795_518_003_000_000_000);
    assert!(records.iter().all(|r| !r.partial));
    // A piece of a line over 16 KiB: no newline at the end of the frame.
    let piece = log_records(b"2026-11-24T11:00:04Z aaaa");
    assert_eq!(piece.len(), 1);
    assert!(piece[0].partial);
    assert_eq!(piece[0].line, "aaaa");
}

#[test]
fn every_ulimit_name_reaches_docker() {
    let names = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    for (n, name) in names.into_iter().enumerate() {
        let mut plan = rich_plan();
        let limit = 100 + n as i32;
        plan.definition.ulimits =
            Some(vec![Ulimit { name: name.to_string(), soft_limit: limit, hard_limit: limit * 2 }]);
        let host = container_config(&plan).expect("valid plan").host_config.expect("host");
        let ulimit = &host.ulimits.expect("ulimits")[0];
        assert_eq!(
            (ulimit.name.as_deref(), ulimit.soft, ulimit.hard),
            (Some(name), Some(i64::from(limit)), Some(i64::from(limit * 2))),
            "ulimit {name}"
        );
    }
}

#[test]
fn docker_log_drivers_reach_docker_with_their_options() {
    for driver in ["json-file", "syslog", "journald", "gelf", "fluentd", "splunk"] {
        let mut plan = rich_plan();
        plan.definition.log_configuration = Some(LogConfiguration {
            log_driver: driver.to_string(),
            options: Some(BTreeMap::from([("tag".to_string(), format!("{driver}-tag"))])),
            secret_options: None,
        });
        let host = container_config(&plan).expect("valid plan").host_config.expect("host");
        let log = host.log_config.expect("log config");
        assert_eq!(log.typ.as_deref(), Some(driver));
        let tag = log.config.and_then(|c| c.get("tag").cloned());
        assert_eq!(tag, Some(format!("{driver}-tag")), "{driver} keeps its options");
    }
}

#[test]
fn secret_options_reach_docker_log_drivers_as_options() {
    let mut plan = rich_plan();
    plan.definition.log_configuration = Some(LogConfiguration {
        log_driver: "splunk".to_string(),
        options: Some(BTreeMap::from([("splunk-url".to_string(), "https://s:8088".to_string())])),
        secret_options: None,
    });
    plan.secret_log_options = vec![("splunk-token".to_string(), SecretValue("t0ken".to_string()))];
    let host = container_config(&plan).expect("valid plan").host_config.expect("host");
    let options = host.log_config.and_then(|l| l.config).expect("options");
    assert_eq!(options.get("splunk-token").map(String::as_str), Some("t0ken"));
    assert_eq!(options.get("splunk-url").map(String::as_str), Some("https://s:8088"));
    assert!(!format!("{plan:?}").contains("t0ken"), "a plan's Debug shows no secret value");
}

#[test]
fn devices_swappiness_networking_and_health_timing_reach_docker() {
    let mut plan = rich_plan();
    plan.definition.disable_networking = Some(true);
    plan.definition.health_check = Some(HealthCheck {
        command: strings(&["CMD", "/bin/true"]),
        interval: Some(12),
        timeout: Some(7),
        retries: Some(9),
        start_period: None,
    });
    let linux = plan.definition.linux_parameters.as_mut().expect("linux parameters");
    linux.devices = Some(vec![Device {
        host_path: "/dev/fuse".to_string(),
        container_path: Some("/dev/inside".to_string()),
        permissions: Some(strings(&["mknod"])),
    }]);
    linux.swappiness = Some(17);
    let config = container_config(&plan).expect("valid plan");
    assert_eq!(config.network_disabled, Some(true));
    let check = config.healthcheck.expect("check");
    assert_eq!((check.timeout, check.retries), (Some(7_000_000_000), Some(9)));
    let host = config.host_config.expect("host");
    let device = &host.devices.expect("devices")[0];
    assert_eq!(device.path_in_container.as_deref(), Some("/dev/inside"));
    assert_eq!(device.cgroup_permissions.as_deref(), Some("m"));
    assert_eq!(host.memory_swappiness, Some(17));
}

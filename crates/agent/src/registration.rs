//! What the agent tells the server about its machine when it registers, as ECS's agent does.

use flotilla_api::agent::Register;
/// The attribute `--capacity-provider GROUP` announces: the capacity provider group joined.
pub use flotilla_api::capacity::GROUP_ATTRIBUTE;
use flotilla_api::instance::{Resource, VersionInfo};
use flotilla_api::taskdef::Attribute;

use crate::runtime::HostInfo;

/// Ports ECS's agent registers as taken on every instance (SSH, Docker, the agent's own).
pub const RESERVED_PORTS: &[u16] = &[22, 2375, 2376, 51678, 51679];
/// Memory kept for the OS, Docker and the agent unless `--memory` says otherwise.
pub const DEFAULT_RESERVED_MEMORY_MIB: u64 = 256;
/// The availability zone an agent announces when `--attribute ecs.availability-zone=...` is not
/// given.
pub const DEFAULT_AVAILABILITY_ZONE: &str = "local-a";

/// Flags that shape registration.
#[derive(Debug, Clone, Default)]
pub struct Announce {
    pub cluster: String,
    pub cpu_units: Option<u32>,
    pub memory_mib: Option<u64>,
    pub reserved_memory_mib: u64,
    pub attributes: Vec<(String, String)>,
    pub allow_privileged: bool,
    /// Where load balancers reach this machine (`--advertise-address`).
    pub advertise_address: Option<std::net::IpAddr>,
    /// Whether this agent runs awsvpc tasks (announced as ECS's `ecs.capability.task-eni`).
    pub task_networking: bool,
}

/// The capability ECS's agents announce when they run awsvpc tasks.
pub const TASK_ENI_CAPABILITY: &str = "ecs.capability.task-eni";

pub fn register_message(
    announce: &Announce,
    host: &HostInfo,
    host_id: &str,
    container_instance_id: Option<String>,
) -> Register {
    let cpu = announce.cpu_units.map_or(i64::from(host.cpus) * 1024, i64::from);
    let total_mib = host.memory_bytes / (1024 * 1024);
    let memory = announce
        .memory_mib
        .unwrap_or_else(|| total_mib.saturating_sub(announce.reserved_memory_mib));
    let resources = vec![
        Resource::integer("CPU", i32::try_from(cpu).unwrap_or(i32::MAX)),
        Resource::integer("MEMORY", i32::try_from(memory).unwrap_or(i32::MAX)),
        Resource::string_set("PORTS", RESERVED_PORTS.iter().map(u16::to_string).collect()),
        Resource::string_set("PORTS_UDP", Vec::new()),
    ];

    let mut attributes: Vec<(String, String)> = vec![
        ("ecs.os-type".into(), host.os_type.clone()),
        ("ecs.cpu-architecture".into(), host.architecture.clone()),
        ("ecs.availability-zone".into(), DEFAULT_AVAILABILITY_ZONE.into()),
        ("ecs.os-family".into(), "LINUX".into()),
    ];
    let mut capabilities = vec![
        "com.amazonaws.ecs.capability.logging-driver.json-file",
        "com.amazonaws.ecs.capability.logging-driver.none",
        "ecs.capability.container-health-check",
        "ecs.capability.container-ordering",
        "ecs.capability.task-cpu-mem-limit",
        "ecs.capability.docker-plugin.local",
        "ecs.capability.secrets.asm.environment-variables",
        "ecs.capability.secrets.ssm.environment-variables",
        "ecs.capability.secrets.asm.bootstrap.log-driver",
        "ecs.capability.secrets.ssm.bootstrap.log-driver",
        "com.amazonaws.ecs.capability.docker-remote-api.1.17",
        "com.amazonaws.ecs.capability.docker-remote-api.1.18",
        "com.amazonaws.ecs.capability.docker-remote-api.1.19",
        "com.amazonaws.ecs.capability.docker-remote-api.1.21",
        "com.amazonaws.ecs.capability.docker-remote-api.1.22",
        "com.amazonaws.ecs.capability.docker-remote-api.1.23",
        "com.amazonaws.ecs.capability.docker-remote-api.1.24",
        "com.amazonaws.ecs.capability.docker-remote-api.1.25",
        "com.amazonaws.ecs.capability.docker-remote-api.1.29",
        "com.amazonaws.ecs.capability.docker-remote-api.1.30",
        "com.amazonaws.ecs.capability.docker-remote-api.1.32",
    ];
    if announce.allow_privileged {
        capabilities.push("com.amazonaws.ecs.capability.privileged-container");
    }
    if announce.task_networking {
        capabilities.push(TASK_ENI_CAPABILITY);
    }
    attributes.extend(capabilities.into_iter().map(|c| (c.to_string(), String::new())));
    // Flags win over defaults of the same name.
    for (name, value) in &announce.attributes {
        attributes.retain(|(n, _)| n != name);
        attributes.push((name.clone(), value.clone()));
    }
    let attributes = attributes
        .into_iter()
        .map(|(name, value)| Attribute {
            name,
            value: (!value.is_empty()).then_some(value),
            target_type: None,
            target_id: None,
        })
        .collect();

    Register {
        cluster: announce.cluster.clone(),
        container_instance_id,
        host_id: host_id.to_string(),
        registered_resources: resources,
        attributes,
        version_info: VersionInfo {
            agent_version: Some(env!("CARGO_PKG_VERSION").to_string()),
            agent_hash: None,
            docker_version: Some(format!("DockerVersion: {}", host.docker_version)),
        },
        advertise_address: announce.advertise_address.map(|a| a.to_string()),
    }
}

/// The address this machine uses to reach `server_url`'s host: what load balancers on the
/// server's side can reach it at, unless told otherwise. A connected UDP socket names its
/// local address without sending anything.
pub fn route_address(server_url: &str) -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    socket.connect(server_target(server_url)?.as_str()).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

/// The `host:port` of a server URL (port 80 when it names none).
fn server_target(server_url: &str) -> Option<String> {
    let authority = server_url.split("://").nth(1).unwrap_or(server_url).split('/').next()?;
    Some(if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        authority.to_string()
    } else {
        format!("{authority}:80")
    })
}

/// The server's IPv4 address, as the URL names or resolves it (`None` when it does not).
pub fn server_address(server_url: &str) -> Option<std::net::Ipv4Addr> {
    use std::net::ToSocketAddrs;
    server_target(server_url)?.to_socket_addrs().ok()?.find_map(|a| match a.ip() {
        std::net::IpAddr::V4(ip) => Some(ip),
        std::net::IpAddr::V6(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostInfo {
        HostInfo {
            cpus: 2,
            memory_bytes: 4096 * 1024 * 1024,
            docker_version: "20.10.24".into(),
            api_version: "1.41".into(),
            os_type: "linux".into(),
            architecture: "x86_64".into(),
            hostname: "h".into(),
        }
    }

    #[test]
    fn resources_follow_ecs_conventions_and_flags_override() {
        let announce = Announce {
            cluster: "c".into(),
            reserved_memory_mib: DEFAULT_RESERVED_MEMORY_MIB,
            attributes: vec![
                ("ecs.availability-zone".into(), "zone-b".into()),
                ("team".into(), "web".into()),
            ],
            ..Announce::default()
        };
        let message = register_message(&announce, &host(), "i-1", None);
        let get = |n: &str| {
            message.registered_resources.iter().find(|r| r.name == n).cloned().expect("resource")
        };
        assert_eq!(get("CPU").integer_value, 2048);
        assert_eq!(get("MEMORY").integer_value, 4096 - 256);
        assert_eq!(get("PORTS").string_set_value.expect("ports").len(), RESERVED_PORTS.len());
        let attr =
            |n: &str| message.attributes.iter().find(|a| a.name == n).and_then(|a| a.value.clone());
        assert_eq!(attr("ecs.availability-zone").as_deref(), Some("zone-b"));
        assert_eq!(attr("team").as_deref(), Some("web"));
        assert_eq!(attr("ecs.os-type").as_deref(), Some("linux"));

        let sized = Announce { cpu_units: Some(512), memory_mib: Some(300), ..announce };
        let message = register_message(&sized, &host(), "i-1", None);
        assert_eq!(message.registered_resources[0].integer_value, 512);
        assert_eq!(message.registered_resources[1].integer_value, 300);
    }
}

//! awsvpc tasks, as ECS's agent runs them: a pause container (the demo image, which is the
//! Flotilla binary, sleeping until SIGTERM) holds the task's network namespace; CNI gives that
//! namespace its interface on the subnet (`crate::network`); the task's containers join it
//! (`container:<pause>`). The pause container carries the namespace's resolvers, which its
//! members share; the task's security groups guard the namespace before its containers start
//! (`crate::network::firewall`). Teardown detaches the interface before the pause container
//! goes, and works from what was recorded, so an agent restarted at any point finds and undoes
//! what its predecessor did.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::agent::{TaskNetworkReport, TaskSpec};
use flotilla_api::cidr::Cidr;
use flotilla_api::taskdef::ContainerDefinition;
use serde::{Deserialize, Serialize};

use super::spare::SparePause;
use super::EngineConfig;
use crate::network::firewall::{Firewalls, Member};
use crate::network::nat::Nat;
use crate::network::{Attachment, CniNetwork, SubnetSlice};
use crate::runtime::{
    ContainerPlan, RunState, Runtime, LABEL_AGENT, LABEL_CLUSTER, LABEL_CONTAINER_NAME,
    LABEL_SPARE_PAUSE, LABEL_TASK_ARN,
};

/// Task networking on this host: the CNI chain and the pause containers' image.
#[derive(Debug)]
pub struct TaskNetworking {
    pub cni: CniNetwork,
    /// The tasks' security groups, enforced in their namespaces.
    pub firewalls: Arc<Firewalls>,
    /// `assignPublicIp` ENABLED: the tasks' traffic beyond the VPC through the host's NAT.
    pub nat: Nat,
    /// The region's route table, applied as it comes.
    pub routes: crate::network::routes::RouteFollower,
    /// The demo image (the Flotilla binary), run as `sleep`.
    pub pause_image: String,
    /// Whether the image is there, made sure of at the first awsvpc task.
    image_ready: tokio::sync::OnceCell<Result<(), String>>,
    /// A pause container started ahead of the next task (see `super::spare`).
    pub spare: Arc<SparePause>,
}

impl TaskNetworking {
    pub fn new(
        cni: CniNetwork,
        firewalls: Arc<Firewalls>,
        nat: Nat,
        routes: crate::network::routes::RouteFollower,
        pause_image: impl Into<String>,
    ) -> TaskNetworking {
        TaskNetworking {
            cni,
            firewalls,
            nat,
            routes,
            pause_image: pause_image.into(),
            image_ready: tokio::sync::OnceCell::new(),
            spare: Arc::default(),
        }
    }

    async fn ensure_image(&self, runtime: &dyn Runtime) -> Result<(), String> {
        self.image_ready
            .get_or_init(|| async {
                runtime
                    .build_own_image(&self.pause_image)
                    .await
                    .map_err(|e| format!("cannot build the pause image {}: {e}", self.pause_image))
            })
            .await
            .clone()
    }
}

/// The container name ECS's agent gives the pause container.
pub const PAUSE_CONTAINER_NAME: &str = "~internal~ecs~pause";

/// What the agent knows of a task's pause container and interface (kept in the state file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PauseRun {
    pub docker_name: String,
    pub docker_id: Option<String>,
    /// The interface, once attached.
    pub attachment: Option<TaskNetworkReport>,
}

impl PauseRun {
    pub fn new(spec: &TaskSpec) -> PauseRun {
        PauseRun {
            docker_name: super::docker_name(spec, "internalecspause"),
            ..PauseRun::default()
        }
    }
}

/// This host's slice of the task's subnet, as CNI's bridge and address management take it:
/// the slice's first address is the gateway (the bridge's address here), the task's address
/// one of the rest.
pub fn slice_of(spec: &TaskSpec) -> Result<SubnetSlice, String> {
    let network = spec.network.as_ref().ok_or("the task has no network configuration")?;
    let slice = Cidr::parse(&network.host_slice)
        .ok()
        .filter(|c| (16..=28).contains(&c.prefix))
        .ok_or_else(|| format!("the host slice '{}' is not a CIDR block", network.host_slice))?;
    let last = u32::try_from(slice.size() - 2).unwrap_or(u32::MAX);
    Ok(SubnetSlice {
        subnet_id: network.subnet_id.clone(),
        network: slice.first(),
        prefix_len: slice.prefix,
        gateway: slice.nth(1),
        first: slice.nth(2),
        last: slice.nth(last),
    })
}

fn report(attachment: &Attachment) -> TaskNetworkReport {
    TaskNetworkReport {
        ipv4_address: attachment.ipv4.to_string(),
        prefix_len: attachment.prefix_len,
        gateway: attachment.gateway.to_string(),
        mac_address: attachment.mac.clone(),
    }
}

/// The pause container's plan: no network but loopback (CNI adds the interface), the task's
/// resolvers (its members share them), its cgroup.
fn pause_plan(
    networking: &TaskNetworking,
    config: &EngineConfig,
    spec: &TaskSpec,
    pause: &PauseRun,
    cgroup_parent: Option<String>,
) -> ContainerPlan {
    let mut labels = BTreeMap::new();
    labels.insert(LABEL_TASK_ARN.to_string(), spec.task_arn.clone());
    labels.insert(LABEL_CONTAINER_NAME.to_string(), PAUSE_CONTAINER_NAME.to_string());
    labels.insert(LABEL_CLUSTER.to_string(), spec.cluster.clone());
    labels.insert(LABEL_AGENT.to_string(), config.agent_id.clone());
    // The task's containers share one resolv.conf: every resolver and search domain any of
    // them names, in order, or else the agent's DNS server. (Extra hosts are refused for
    // awsvpc at registration, as ECS does.)
    let union = |pick: fn(&ContainerDefinition) -> Option<&Vec<String>>| {
        let mut all: Vec<String> = Vec::new();
        for value in spec.containers.iter().filter_map(pick).flatten() {
            if !all.contains(value) {
                all.push(value.clone());
            }
        }
        all
    };
    let mut dns_servers = union(|c| c.dns_servers.as_ref());
    if dns_servers.is_empty() {
        dns_servers = config.resolver.iter().map(|r| r.to_string()).collect();
    }
    let search = union(|c| c.dns_search_domains.as_ref());
    let definition = ContainerDefinition {
        name: Some(PAUSE_CONTAINER_NAME.to_string()),
        image: Some(networking.pause_image.clone()),
        command: Some(vec!["sleep".to_string()]),
        dns_servers: Some(dns_servers).filter(|d| !d.is_empty()),
        dns_search_domains: Some(search).filter(|d| !d.is_empty()),
        ..ContainerDefinition::default()
    };
    ContainerPlan {
        docker_name: pause.docker_name.clone(),
        definition,
        labels,
        network_mode: "none".to_string(),
        cgroup_parent,
        ..ContainerPlan::default()
    }
}

/// The network namespace of a running container.
async fn netns_of(runtime: &dyn Runtime, id: &str) -> Result<PathBuf, String> {
    let status = runtime
        .inspect(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the pause container is gone")?;
    match (status.state, status.pid) {
        (RunState::Running, Some(pid)) if pid > 0 => {
            Ok(PathBuf::from(format!("/proc/{pid}/ns/net")))
        }
        _ => Err("the pause container is not running".to_string()),
    }
}

/// The task's pause container, created (not started) unless it exists: the spare, if one is
/// ready and the task's containers name no DNS settings of their own (the spare has the
/// agent's), else a new one. Creating it before the task's containers lets them be created while
/// it starts and is wired (they only need its id).
pub async fn create_pause(
    runtime: &Arc<dyn Runtime>,
    networking: &TaskNetworking,
    config: &EngineConfig,
    spec: &TaskSpec,
    pause: &mut PauseRun,
    cgroup_parent: Option<String>,
) -> Result<(), String> {
    if pause.docker_id.is_some() {
        return Ok(());
    }
    networking.ensure_image(runtime.as_ref()).await?;
    let plan = pause_plan(networking, config, spec, pause, cgroup_parent);
    let spare = spare_plan(networking, config);
    let spare_fits = plan.definition.dns_servers == spare.definition.dns_servers
        && plan.definition.dns_search_domains.is_none();
    if let Some(id) = spare_fits.then(|| networking.spare.take(runtime, spare)).flatten() {
        // Named as ECS's agent names a pause container. A rename fails when the spare was
        // removed behind the agent's back, or when the task's pause exists already (made before
        // an agent was killed, ahead of its state file): the spare goes, and `create` below
        // (idempotent by name) makes the task's or finds it.
        match runtime.rename(&id, &plan.docker_name).await {
            Ok(()) => {
                pause.docker_id = Some(id);
                return Ok(());
            }
            Err(error) => {
                tracing::warn!(%error, "the spare pause container cannot be the task's");
                let _ = runtime.remove(&id).await;
            }
        }
    }
    let id = runtime.create(&plan).await.map_err(|e| format!("pause container: {e}"))?;
    pause.docker_id = Some(id);
    Ok(())
}

/// A spare pause container: the agent's DNS server, no task's labels (see `super::spare`).
fn spare_plan(networking: &TaskNetworking, config: &EngineConfig) -> ContainerPlan {
    let mut labels = BTreeMap::new();
    labels.insert(LABEL_AGENT.to_string(), config.agent_id.clone());
    labels.insert(LABEL_SPARE_PAUSE.to_string(), config.agent_id.clone());
    let dns_servers: Vec<String> = config.resolver.iter().map(|r| r.to_string()).collect();
    ContainerPlan {
        docker_name: super::spare::spare_name(&config.agent_id),
        definition: ContainerDefinition {
            name: Some(PAUSE_CONTAINER_NAME.to_string()),
            image: Some(networking.pause_image.clone()),
            command: Some(vec!["sleep".to_string()]),
            dns_servers: Some(dns_servers).filter(|d| !d.is_empty()),
            ..ContainerDefinition::default()
        },
        labels,
        network_mode: "none".to_string(),
        ..ContainerPlan::default()
    }
}

/// PROVISIONING: the pause container started and its namespace attached. `record` is called
/// whenever something was made that teardown must find (the container's id, the attachment).
pub async fn provision(
    runtime: &dyn Runtime,
    networking: &TaskNetworking,
    config: &EngineConfig,
    spec: &TaskSpec,
    pause: &mut PauseRun,
    cgroup_parent: Option<String>,
    mut record: impl FnMut(&PauseRun),
) -> Result<(), String> {
    let slice = slice_of(spec)?;
    if pause.docker_id.is_none() {
        networking.ensure_image(runtime).await?;
        let plan = pause_plan(networking, config, spec, pause, cgroup_parent);
        let id = runtime.create(&plan).await.map_err(|e| format!("pause container: {e}"))?;
        pause.docker_id = Some(id);
        record(pause);
    }
    let id = pause.docker_id.clone().unwrap_or_default();
    runtime.start(&id).await.map_err(|e| format!("pause container: {e}"))?;
    let netns = netns_of(runtime, &id).await?;
    if pause.attachment.is_none() {
        let attachment = networking
            .cni
            .attach(spec.task_id(), &netns, &slice)
            .await
            .map_err(|e| format!("task network: {e}"))?;
        pause.attachment = Some(report(&attachment));
        record(pause);
    }
    // The task's groups guard the namespace before any of its containers starts.
    guard_namespace(networking, spec, &netns, slice.gateway).await?;
    let nat = spec.network.as_ref().and_then(|n| n.outbound_nat.as_deref());
    let address = pause.attachment.as_ref().and_then(|a| a.ipv4_address.parse().ok());
    if let (Some(vpc_cidr), Some(address)) = (nat, address) {
        networking
            .nat
            .enable(spec.task_id(), address, vpc_cidr)
            .await
            .map_err(|e| format!("outbound NAT (assignPublicIp): {e}"))?;
    }
    Ok(())
}

async fn guard_namespace(
    networking: &TaskNetworking,
    spec: &TaskSpec,
    netns: &std::path::Path,
    gateway: std::net::Ipv4Addr,
) -> Result<(), String> {
    let groups = spec.network.as_ref().map(|n| n.security_groups.clone()).unwrap_or_default();
    networking
        .firewalls
        .guard(&spec.task_arn, netns, &Member { groups: &groups, gateway })
        .await
        .map_err(|e| format!("security groups: {e}"))
}

/// A task adopted after an agent restart: its namespace's rules are there, but this agent must
/// apply the region's groups as they change from now on.
pub async fn guard(
    runtime: &dyn Runtime,
    networking: &TaskNetworking,
    spec: &TaskSpec,
    pause: &PauseRun,
) -> Result<(), String> {
    let id = pause.docker_id.as_deref().ok_or("the task has no pause container")?;
    let netns = netns_of(runtime, id).await?;
    let groups = spec.network.as_ref().map(|n| n.security_groups.clone()).unwrap_or_default();
    let member = Member { groups: &groups, gateway: slice_of(spec)?.gateway };
    networking.firewalls.adopt(&spec.task_arn, &netns, &member).await;
    Ok(())
}

/// DEPROVISIONING: the interface detached (while the namespace still exists, if it does),
/// then the pause container stopped. Removal comes with the task's other containers.
pub async fn deprovision(
    runtime: &dyn Runtime,
    networking: &TaskNetworking,
    spec: &TaskSpec,
    pause: &mut PauseRun,
) {
    let netns = match &pause.docker_id {
        Some(id) => netns_of(runtime, id).await.unwrap_or_default(),
        None => PathBuf::new(),
    };
    networking.firewalls.release(&spec.task_arn).await;
    if spec.network.as_ref().is_some_and(|n| n.outbound_nat.is_some()) {
        if let Err(error) = networking.nat.disable(spec.task_id()).await {
            tracing::error!(%error, task = %spec.task_arn, "cannot remove the task's NAT rule");
        }
    }
    match networking.cni.detach(spec.task_id(), &netns).await {
        Ok(()) => pause.attachment = None,
        Err(error) => {
            tracing::error!(%error, task = %spec.task_arn, "cannot detach the task's interface")
        }
    }
    if let Some(id) = &pause.docker_id {
        if let Err(error) = runtime.stop(id, Duration::from_secs(5)).await {
            tracing::warn!(%error, "cannot stop the pause container");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::agent::TaskNetworkSpec;

    fn spec(host_slice: &str) -> TaskSpec {
        TaskSpec {
            network: Some(TaskNetworkSpec {
                subnet_id: "subnet-0123456789abcdef0".into(),
                host_slice: host_slice.into(),
                ..TaskNetworkSpec::default()
            }),
            ..TaskSpec::default()
        }
    }

    #[test]
    fn a_slice_gives_its_gateway_and_the_rest_to_tasks() {
        let slice = slice_of(&spec("10.7.3.0/24")).expect("slice");
        assert_eq!(slice.gateway.to_string(), "10.7.3.1");
        assert_eq!(
            (slice.first.to_string(), slice.last.to_string()),
            ("10.7.3.2".into(), "10.7.3.254".into())
        );
        assert_eq!(slice.prefix_len, 24);
        assert_eq!(slice.bridge(), "fl9abcdef00300");
        for bad in ["10.7.3.0", "10.7.3.1/24", "10.0.0.0/8", "10.0.0.0/30"] {
            assert!(slice_of(&spec(bad)).is_err(), "{bad}");
        }
        assert!(slice_of(&TaskSpec::default()).is_err(), "no network, no slice");
    }
}

//! awsvpc tasks' `networkConfiguration`: what ECS needs of EC2 ([`Vpc`], a trait ECS owns and
//! the server wires to EC2's records), the checks ECS makes of an `awsvpcConfiguration`, and
//! what a placed task keeps of it ([`TaskInterface`], in the task): its interface id, subnet, this host's
//! slice of the subnet, its security groups and, once its agent has wired it, its address.

pub use flotilla_api::task::TaskInterface;

use std::collections::BTreeMap;

use flotilla_api::ApiError;
use flotilla_scheduler::query::{Expr, Operator, Subject};
use flotilla_scheduler::Constraint;

use crate::BoxFuture;

/// A subnet as ECS places tasks in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetInfo {
    pub id: String,
    pub zone: String,
    pub cidr: String,
}

/// The region's VPC as ECS checks a configuration against it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VpcView {
    pub vpc_id: String,
    /// The VPC's CIDR block.
    pub cidr: String,
    pub default_group: String,
    pub subnets: Vec<SubnetInfo>,
    pub groups: Vec<String>,
}

/// (subnet id, host id) -> the host's slice of the subnet (a CIDR block).
pub type HostSlices = BTreeMap<(String, String), String>;

/// What ECS needs of EC2.
pub trait Vpc: Send + Sync {
    fn view(&self) -> BoxFuture<'_, Result<VpcView, String>>;
    /// Each (subnet, host)'s slice of the subnet (a CIDR block), given on the first ask and
    /// kept: the addresses that host's agent hands its tasks in that subnet.
    fn host_slices(
        &self,
        pairs: Vec<(String, String)>,
    ) -> BoxFuture<'_, Result<HostSlices, String>>;
}

/// No EC2 (tests): no subnets, so every awsvpc configuration is refused.
pub struct NoVpc;

impl Vpc for NoVpc {
    fn view(&self) -> BoxFuture<'_, Result<VpcView, String>> {
        Box::pin(async { Ok(VpcView::default()) })
    }

    fn host_slices(&self, _: Vec<(String, String)>) -> BoxFuture<'_, Result<HostSlices, String>> {
        Box::pin(async { Err("there is no VPC".to_string()) })
    }
}

pub use flotilla_api::service::AwsVpcConfig;

/// ECS's answers to a configuration missing, or given where it does not belong.
const MUST_PROVIDE: &str =
    "Network Configuration must be provided when networkMode 'awsvpc' is specified.";
const NOT_VALID: &str =
    "Network Configuration is not valid for the given networkMode of this task definition.";

/// The definition a launch commits with must agree with the network `prepare` readied (a
/// family's latest revision may have changed in between): awsvpc needs one, others none.
pub fn agrees(network_mode: Option<&str>, network: Option<&Prepared>) -> Result<(), ApiError> {
    agrees_with_mode(network_mode.unwrap_or("bridge"), network.is_some())
}

/// A definition of `network_mode` for a service that has (or has not) a network
/// configuration: awsvpc needs one, others none.
pub fn agrees_with_mode(network_mode: &str, configured: bool) -> Result<(), ApiError> {
    match (network_mode == "awsvpc", configured) {
        (true, false) => Err(ApiError::invalid(MUST_PROVIDE)),
        (false, true) => Err(ApiError::invalid(NOT_VALID)),
        _ => Ok(()),
    }
}

/// ECS's limits on a configuration.
const MAX_SUBNETS: usize = 16;
const MAX_GROUPS: usize = 5;

/// Checks `networkConfiguration` against the task definition's network mode and the VPC, as
/// ECS does; `None` for a task that needs none. Security groups default to the VPC's default
/// group, as on ECS.
pub fn check(
    network_mode: &str,
    given: Option<AwsVpcConfig>,
    vpc: &VpcView,
    fargate: bool,
) -> Result<Option<AwsVpcConfig>, ApiError> {
    let Some(mut config) = given else {
        if network_mode == "awsvpc" {
            return Err(ApiError::invalid(MUST_PROVIDE));
        }
        return Ok(None);
    };
    if network_mode != "awsvpc" {
        return Err(ApiError::invalid(NOT_VALID));
    }
    if config.subnets.is_empty() {
        return Err(ApiError::invalid("subnets can not be empty."));
    }
    if config.subnets.len() > MAX_SUBNETS {
        return Err(ApiError::invalid(format!("subnets can have at most {MAX_SUBNETS} items.")));
    }
    if config.security_groups.len() > MAX_GROUPS {
        return Err(ApiError::invalid(format!(
            "securityGroups can have at most {MAX_GROUPS} items."
        )));
    }
    match config.assign_public_ip.as_str() {
        "" => config.assign_public_ip = "DISABLED".into(),
        "DISABLED" => {}
        "ENABLED" if fargate => {}
        "ENABLED" => {
            return Err(ApiError::invalid(
                "Assign public IP is not supported for this launch type.",
            ))
        }
        other => {
            return Err(ApiError::invalid(format!(
                "assignPublicIp '{other}' is not one of ENABLED, DISABLED"
            )))
        }
    }
    let unknown: Vec<&String> =
        config.subnets.iter().filter(|s| !vpc.subnets.iter().any(|k| &k.id == *s)).collect();
    if !unknown.is_empty() {
        let ids = unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        return Err(ApiError::invalid(format!(
            "Error retrieving subnet information for [{ids}]: The subnet ID '{}' does not exist",
            unknown[0]
        )));
    }
    let unknown: Vec<&String> =
        config.security_groups.iter().filter(|g| !vpc.groups.contains(g)).collect();
    if !unknown.is_empty() {
        let ids = unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        return Err(ApiError::invalid(format!(
            "Error retrieving security group information for [{ids}]: The security group '{}' does not exist",
            unknown[0]
        )));
    }
    config.subnets.dedup();
    if config.security_groups.is_empty() {
        config.security_groups.push(vpc.default_group.clone());
    }
    Ok(Some(config))
}

/// The availability zones of a configuration's subnets: awsvpc tasks are placed only there.
pub fn zones(config: &AwsVpcConfig, vpc: &VpcView) -> Vec<String> {
    let mut zones: Vec<String> = config
        .subnets
        .iter()
        .filter_map(|id| vpc.subnets.iter().find(|s| &s.id == id))
        .map(|s| s.zone.clone())
        .collect();
    zones.sort();
    zones.dedup();
    zones
}

/// An awsvpc launch's network, made ready before placement: the checked configuration, its
/// subnets, and the slices of those subnets held by the cluster's hosts that can take it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub config: AwsVpcConfig,
    /// The VPC's CIDR block (for `assignPublicIp` ENABLED).
    vpc_cidr: String,
    subnets: Vec<SubnetInfo>,
    slices: HostSlices,
}

impl Prepared {
    /// Only hosts with a slice of one of the subnets (so in their zones, and running awsvpc)
    /// can take the task.
    pub fn constraint(&self) -> Constraint {
        let mut hosts: Vec<String> = self.slices.keys().map(|(_, host)| host.clone()).collect();
        hosts.dedup();
        Constraint::MemberOf(Expr::Clause(Subject::Ec2InstanceId, Operator::In(hosts)))
    }

    /// The interface of a task placed on `host_id`: in the first of the configuration's
    /// subnets that the host has a slice of.
    pub fn interface_for(&self, host_id: &str) -> Option<TaskInterface> {
        let (subnet, slice) = self.config.subnets.iter().find_map(|id| {
            let slice = self.slices.get(&(id.clone(), host_id.to_string()))?;
            Some((self.subnets.iter().find(|s| &s.id == id)?, slice))
        })?;
        Some(TaskInterface {
            attachment_id: uuid::Uuid::new_v4().to_string(),
            interface_id: new_interface_id(),
            subnet_id: subnet.id.clone(),
            subnet_cidr: subnet.cidr.clone(),
            host_slice: slice.clone(),
            security_groups: self.config.security_groups.clone(),
            outbound_nat: (self.config.assign_public_ip == "ENABLED")
                .then(|| self.vpc_cidr.clone()),
            ..TaskInterface::default()
        })
    }
}

/// A request's `networkConfiguration`, as given (checked later, against the VPC).
pub fn from_wire(given: Option<crate::wire::NetworkConfiguration>) -> Option<AwsVpcConfig> {
    given?.awsvpc_configuration.map(|c| AwsVpcConfig {
        subnets: c.subnets,
        security_groups: c.security_groups.unwrap_or_default(),
        assign_public_ip: c.assign_public_ip.unwrap_or_default(),
    })
}

/// A kept configuration, as the API answers it.
pub fn to_wire(config: &AwsVpcConfig) -> crate::wire::NetworkConfiguration {
    crate::wire::NetworkConfiguration {
        awsvpc_configuration: Some(crate::wire::AwsVpcConfiguration {
            subnets: config.subnets.clone(),
            security_groups: Some(config.security_groups.clone()),
            assign_public_ip: Some(config.assign_public_ip.clone()),
        }),
    }
}

fn unavailable(e: String) -> ApiError {
    ApiError::new(flotilla_api::ErrorCode::ServerException, format!("the VPC: {e}"))
}

/// The VPC to check a configuration against: read only when one was given (a request without
/// one is checked against nothing: [`check`] needs no VPC to refuse or pass it).
pub async fn view_if_given(
    app: &crate::App,
    given: &Option<AwsVpcConfig>,
) -> Result<VpcView, ApiError> {
    match given {
        Some(_) => app.vpc.view().await.map_err(unavailable),
        None => Ok(VpcView::default()),
    }
}

/// Readies a checked configuration's subnets for the cluster's hosts that run awsvpc tasks in
/// their zones (their slices, given on first use).
pub async fn ready(
    app: &crate::App,
    cluster: &str,
    config: AwsVpcConfig,
    view: &VpcView,
) -> Result<Prepared, String> {
    let subnets: Vec<SubnetInfo> = config
        .subnets
        .iter()
        .filter_map(|id| view.subnets.iter().find(|s| &s.id == id).cloned())
        .collect();
    let pairs: Vec<(String, String)> = {
        let state = app.state.read();
        state
            .instances
            .values()
            .filter(|i| i.cluster == cluster)
            .filter(|i| i.instance.status != flotilla_api::status::InstanceStatus::Inactive)
            .filter(|i| i.instance.attributes.iter().any(|a| a.name == TASK_ENI_CAPABILITY))
            .flat_map(|i| {
                let zone = i
                    .instance
                    .attributes
                    .iter()
                    .find(|a| a.name == "ecs.availability-zone")
                    .and_then(|a| a.value.clone())
                    .unwrap_or_default();
                let host = i.instance.ec2_instance_id.clone();
                subnets
                    .iter()
                    .filter(move |s| s.zone == zone)
                    .map(move |s| (s.id.clone(), host.clone()))
            })
            .collect()
    };
    let slices =
        if pairs.is_empty() { BTreeMap::new() } else { app.vpc.host_slices(pairs).await? };
    Ok(Prepared { config, vpc_cidr: view.cidr.clone(), subnets, slices })
}

/// Checks a launch's `networkConfiguration` and readies its subnets for the cluster's hosts
/// that run awsvpc tasks in their zones; `None` when the task needs no network of its own.
pub async fn prepare(
    app: &crate::App,
    cluster: &str,
    network_mode: &str,
    given: Option<AwsVpcConfig>,
    fargate: bool,
) -> Result<Option<Prepared>, ApiError> {
    if given.is_none() && network_mode != "awsvpc" {
        return Ok(None);
    }
    let view = app.vpc.view().await.map_err(unavailable)?;
    let Some(config) = check(network_mode, given, &view, fargate)? else { return Ok(None) };
    ready(app, cluster, config, &view).await.map(Some).map_err(unavailable)
}

/// The addresses of the awsvpc tasks that hold one now (wired, not yet stopped), each with its
/// security groups: who is in which group, for the agents' firewalls.
pub fn task_addresses(state: &crate::state::State) -> Vec<(std::net::Ipv4Addr, Vec<String>)> {
    state
        .tasks
        .values()
        .filter(|t| t.task.last_status != flotilla_api::status::TaskStatus::Stopped)
        .filter_map(|t| {
            let interface = t.task.interface.as_ref()?;
            let address = interface.ipv4_address.as_deref()?.parse().ok()?;
            Some((address, interface.security_groups.clone()))
        })
        .collect()
}

/// Where each host is reached (its agent's advertised address), by host id, for the hosts of
/// live container instances (the Fargate capacity's included).
pub fn host_addresses(state: &crate::state::State) -> BTreeMap<String, std::net::Ipv4Addr> {
    state
        .instances
        .values()
        .filter(|i| i.instance.status != flotilla_api::status::InstanceStatus::Inactive)
        .filter_map(|i| {
            let address = i.instance.advertise_address.as_deref()?.parse().ok()?;
            Some((i.instance.ec2_instance_id.clone(), address))
        })
        .collect()
}

/// The interfaces of the tasks that hold one now (not stopped), each with its task's ARN.
pub fn task_interfaces(state: &crate::state::State) -> Vec<(String, TaskInterface)> {
    state
        .tasks
        .values()
        .filter(|t| t.task.last_status != flotilla_api::status::TaskStatus::Stopped)
        .filter_map(|t| Some((t.task.task_arn.clone(), t.task.interface.clone()?)))
        .collect()
}

/// The capability agents that run awsvpc tasks announce (as ECS's do).
pub const TASK_ENI_CAPABILITY: &str = "ecs.capability.task-eni";

/// A fresh interface id of EC2's form.
pub fn new_interface_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("eni-{}", &hex[..17])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vpc() -> VpcView {
        VpcView {
            vpc_id: "vpc-1".into(),
            cidr: "10.0.0.0/16".into(),
            default_group: "sg-default".into(),
            subnets: vec![
                SubnetInfo {
                    id: "subnet-a".into(),
                    zone: "zone-a".into(),
                    cidr: "10.0.0.0/20".into(),
                },
                SubnetInfo {
                    id: "subnet-b".into(),
                    zone: "zone-b".into(),
                    cidr: "10.0.16.0/20".into(),
                },
            ],
            groups: vec!["sg-default".into(), "sg-web".into()],
        }
    }

    fn config(subnets: &[&str], groups: &[&str], public: &str) -> Option<AwsVpcConfig> {
        Some(AwsVpcConfig {
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            security_groups: groups.iter().map(|s| s.to_string()).collect(),
            assign_public_ip: public.to_string(),
        })
    }

    fn message(result: Result<Option<AwsVpcConfig>, ApiError>) -> String {
        result.expect_err("refused").message
    }

    #[test]
    fn awsvpc_needs_a_configuration_and_others_take_none() {
        assert!(message(check("awsvpc", None, &vpc(), false)).contains("must be provided"));
        assert_eq!(check("bridge", None, &vpc(), false).expect("no configuration"), None);
        let given = config(&["subnet-a"], &[], "");
        assert!(message(check("bridge", given, &vpc(), false)).contains("not valid"));
    }

    #[test]
    fn unknown_subnets_and_groups_are_named() {
        let m = message(check("awsvpc", config(&["subnet-a", "subnet-x"], &[], ""), &vpc(), false));
        assert!(m.contains("subnet-x") && !m.contains("subnet-a"), "{m}");
        let m = message(check("awsvpc", config(&["subnet-a"], &["sg-nope"], ""), &vpc(), false));
        assert!(m.contains("sg-nope"), "{m}");
        assert!(message(check("awsvpc", config(&[], &[], ""), &vpc(), false)).contains("empty"));
    }

    #[test]
    fn defaults_and_public_ips() {
        let checked = check("awsvpc", config(&["subnet-b"], &[], ""), &vpc(), false)
            .expect("valid")
            .expect("configured");
        assert_eq!(checked.security_groups, vec!["sg-default"]);
        assert_eq!(checked.assign_public_ip, "DISABLED");
        assert_eq!(zones(&checked, &vpc()), vec!["zone-b"]);
        let public = config(&["subnet-a"], &["sg-web"], "ENABLED");
        assert!(message(check("awsvpc", public.clone(), &vpc(), false)).contains("launch type"));
        assert!(check("awsvpc", public, &vpc(), true).is_ok());
    }
}

//! DescribeNetworkInterfaces: the interfaces of the region's awsvpc tasks (ECS owns them; the
//! server wires them in through [`InterfaceSource`]) as EC2 answers them — requester-managed
//! interfaces in the tasks' subnets, with their address, MAC address and security groups —
//! chosen by ids and filters, a page at a time.

use flotilla_api::pagination::paginate;
use flotilla_api::{ApiError, ErrorCode};

use crate::network::Network;
use crate::wire;
use crate::{check_filter, dry_run, Ctx};

/// An awsvpc task's interface, as ECS keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskInterface {
    /// `eni-...`.
    pub id: String,
    pub subnet_id: String,
    /// Once its agent has wired it.
    pub private_ip: Option<String>,
    pub mac_address: Option<String>,
    pub private_dns_name: Option<String>,
    pub security_groups: Vec<String>,
    /// ECS's attachment ARN (the interface's description, as on AWS).
    pub attachment_arn: String,
    pub attachment_id: String,
}

/// Where the region's task interfaces come from.
pub trait InterfaceSource: Send + Sync {
    /// The interfaces of the tasks that hold one now.
    fn interfaces(&self) -> Vec<TaskInterface>;
}

/// No tasks (tests).
pub struct NoInterfaces;

impl InterfaceSource for NoInterfaces {
    fn interfaces(&self) -> Vec<TaskInterface> {
        Vec::new()
    }
}

const FILTERS: &[&str] = &[
    "network-interface-id",
    "subnet-id",
    "vpc-id",
    "availability-zone",
    "group-id",
    "group-name",
    "addresses.private-ip-address",
    "private-ip-address",
    "mac-address",
    "description",
    "status",
    "interface-type",
    "requester-managed",
    "owner-id",
];

/// Every value an interface has for filter `name`.
fn values(interface: &wire::NetworkInterface, name: &str) -> Vec<String> {
    let one = |v: &Option<String>| v.iter().cloned().collect::<Vec<_>>();
    let groups = interface.groups.iter().flatten();
    match name {
        "network-interface-id" => one(&interface.network_interface_id),
        "subnet-id" => one(&interface.subnet_id),
        "vpc-id" => one(&interface.vpc_id),
        "availability-zone" => one(&interface.availability_zone),
        "group-id" => groups.filter_map(|g| g.group_id.clone()).collect(),
        "group-name" => groups.filter_map(|g| g.group_name.clone()).collect(),
        "addresses.private-ip-address" | "private-ip-address" => one(&interface.private_ip_address),
        "mac-address" => one(&interface.mac_address),
        "description" => one(&interface.description),
        "status" => one(&interface.status),
        "interface-type" => one(&interface.interface_type),
        "requester-managed" => interface.requester_managed.iter().map(bool::to_string).collect(),
        "owner-id" => one(&interface.owner_id),
        _ => Vec::new(),
    }
}

fn answered(network: &Network, account: &str, task: TaskInterface) -> wire::NetworkInterface {
    let subnet = network.subnet(&task.subnet_id);
    let group_name = |id: &str| {
        if id == network.group_id {
            Some("default".to_string())
        } else {
            network.groups.get(id).map(|g| g.name.clone())
        }
    };
    let wired = task.private_ip.is_some();
    wire::NetworkInterface {
        network_interface_id: Some(task.id),
        subnet_id: Some(task.subnet_id.clone()),
        vpc_id: Some(network.vpc_id.clone()),
        availability_zone: subnet.map(|s| s.zone.to_string()),
        description: Some(task.attachment_arn),
        groups: Some(
            task.security_groups
                .iter()
                .map(|id| wire::GroupIdentifier {
                    group_id: Some(id.clone()),
                    group_name: group_name(id),
                })
                .collect(),
        ),
        interface_type: Some("interface".into()),
        mac_address: task.mac_address,
        owner_id: Some(account.to_string()),
        private_dns_name: task.private_dns_name.clone(),
        private_ip_address: task.private_ip.clone(),
        private_ip_addresses: task.private_ip.map(|ip| {
            vec![wire::NetworkInterfacePrivateIpAddress {
                primary: Some(true),
                private_dns_name: task.private_dns_name,
                private_ip_address: Some(ip),
                ..Default::default()
            }]
        }),
        attachment: Some(wire::NetworkInterfaceAttachment {
            attachment_id: Some(attachment_id(&task.attachment_id)),
            device_index: Some(1),
            network_card_index: Some(0),
            delete_on_termination: Some(true),
            status: Some(if wired { "attached" } else { "attaching" }.into()),
            ..Default::default()
        }),
        requester_id: Some("ecs".into()),
        requester_managed: Some(true),
        source_dest_check: Some(true),
        status: Some(if wired { "in-use" } else { "attaching" }.into()),
        tag_set: Some(Vec::new()),
        ..Default::default()
    }
}

/// EC2's form of an attachment id (`eni-attach-` and 17 hex digits), from ECS's UUID.
fn attachment_id(uuid: &str) -> String {
    let hex: String = uuid.chars().filter(char::is_ascii_hexdigit).take(17).collect();
    format!("eni-attach-{hex}")
}

pub async fn describe(
    ctx: &Ctx<'_>,
    request: wire::DescribeNetworkInterfacesRequest,
) -> Result<wire::DescribeNetworkInterfacesResult, ApiError> {
    let wire::DescribeNetworkInterfacesRequest {
        next_token,
        max_results,
        // No interface here is operator-managed: the answer is the same either way.
        include_managed_resources: _,
        dry_run: dry,
        network_interface_ids,
        filters,
    } = request;
    if let Some(n) = max_results.filter(|n| !(5..=1000).contains(n)) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueException,
            format!("Value ( {n} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000."),
        ));
    }
    let filters = filters.unwrap_or_default();
    for f in &filters {
        check_filter(f.name.as_deref().unwrap_or_default(), FILTERS)?;
    }
    if dry == Some(true) {
        return Err(dry_run());
    }
    let network = ctx.network().await?;
    let mut all: Vec<wire::NetworkInterface> = ctx
        .app
        .interfaces
        .interfaces()
        .into_iter()
        .map(|task| answered(&network, &ctx.app.scope.account_id, task))
        .collect();
    let ids = network_interface_ids.unwrap_or_default();
    if let Some(id) = ids
        .iter()
        .find(|id| !all.iter().any(|i| i.network_interface_id.as_deref() == Some(id.as_str())))
    {
        return Err(ApiError::new(
            ErrorCode::InvalidNetworkInterfaceIdNotFound,
            format!("The networkInterface ID '{id}' does not exist"),
        ));
    }
    all.retain(|i| {
        (ids.is_empty() || i.network_interface_id.as_ref().is_some_and(|id| ids.contains(id)))
            && filters.iter().all(|f| {
                let wanted = f.values.as_deref().unwrap_or_default();
                values(i, f.name.as_deref().unwrap_or_default()).iter().any(|v| wanted.contains(v))
            })
    });
    let mut keyed: Vec<(String, wire::NetworkInterface)> =
        all.into_iter().map(|i| (i.network_interface_id.clone().unwrap_or_default(), i)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let (page, next) = paginate(keyed.into_iter(), next_token.as_deref(), max_results, 1000)?;
    Ok(wire::DescribeNetworkInterfacesResult { network_interfaces: Some(page), next_token: next })
}

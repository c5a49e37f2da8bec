//! DescribeVpcs, DescribeSubnets, DescribeSecurityGroups: the region's default network
//! (`network.rs`) as EC2 answers it, chosen by ids, names and filters, a page at a time.

use flotilla_api::pagination::paginate;
use flotilla_api::{ApiError, ErrorCode};

use crate::network::{Cidr, Group, Network, Tag};
use crate::wire;
use crate::{check_filter, dry_run, Ctx};

/// EC2's page sizes for these operations.
const PAGE: (i32, i32) = (5, 1000);

fn check_page(max_results: Option<i32>) -> Result<(), ApiError> {
    match max_results {
        Some(n) if !(PAGE.0..=PAGE.1).contains(&n) => Err(ApiError::new(
            ErrorCode::InvalidParameterValueException,
            format!("Value ( {n} ) for parameter maxResults is invalid. Expecting a value greater than {}.", PAGE.0 - 1),
        )),
        _ => Ok(()),
    }
}

/// A resource matches the filters when, for every filter, one of its values is the field's.
fn matches(filters: &[wire::Filter], field: impl Fn(&str) -> Option<String>) -> bool {
    filters.iter().all(|f| {
        let name = f.name.as_deref().unwrap_or_default();
        let values = f.values.as_deref().unwrap_or_default();
        field(name).is_some_and(|v| values.contains(&v))
    })
}

/// The ids asked for must exist, as EC2 requires.
fn check_ids(
    wanted: &[String],
    known: &[String],
    code: ErrorCode,
    what: &str,
) -> Result<(), ApiError> {
    match wanted.iter().find(|id| !known.contains(id)) {
        Some(id) => Err(ApiError::new(code, format!("The {what} '{id}' does not exist"))),
        None => Ok(()),
    }
}

pub async fn vpcs(
    ctx: &Ctx<'_>,
    request: wire::DescribeVpcsRequest,
) -> Result<wire::DescribeVpcsResult, ApiError> {
    let wire::DescribeVpcsRequest { filters, vpc_ids, next_token, max_results, dry_run: dry } =
        request;
    let filters = filters.unwrap_or_default();
    for f in &filters {
        check_filter(
            f.name.as_deref().unwrap_or_default(),
            &["vpc-id", "is-default", "cidr", "cidr-block", "state", "owner-id"],
        )?;
    }
    check_page(max_results)?;
    let network = ctx.network().await?;
    let ids = vpc_ids.unwrap_or_default();
    check_ids(
        &ids,
        std::slice::from_ref(&network.vpc_id),
        ErrorCode::InvalidVpcIdNotFound,
        "vpc ID",
    )?;
    if dry == Some(true) {
        return Err(dry_run());
    }
    let owner = ctx.app.scope.account_id.clone();
    let vpc = wire::Vpc {
        owner_id: Some(owner.clone()),
        instance_tenancy: Some("default".into()),
        cidr_block_association_set: Some(vec![wire::VpcCidrBlockAssociation {
            association_id: Some(network.cidr_association_id.clone()),
            cidr_block: Some(network.cidr.clone()),
            cidr_block_state: Some(wire::VpcCidrBlockState {
                state: Some("associated".into()),
                status_message: None,
            }),
        }]),
        is_default: Some(true),
        tags: Some(tags_answer(&crate::tags::tags_of(&network, &network.vpc_id))),
        vpc_id: Some(network.vpc_id.clone()),
        state: Some("available".into()),
        cidr_block: Some(network.cidr.clone()),
        dhcp_options_id: Some("default".into()),
        ..Default::default()
    };
    let chosen = (ids.is_empty() || ids.contains(&network.vpc_id))
        && matches(&filters, |name| {
            Some(match name {
                "vpc-id" => network.vpc_id.clone(),
                "is-default" => "true".into(),
                "cidr" | "cidr-block" => network.cidr.clone(),
                "state" => "available".into(),
                _ => owner.clone(),
            })
        });
    let items = chosen.then(|| (network.vpc_id.clone(), vpc)).into_iter();
    let (vpcs, next) = paginate(items, next_token.as_deref(), max_results, PAGE.1)?;
    Ok(wire::DescribeVpcsResult { next_token: next, vpcs: Some(vpcs) })
}

pub async fn subnets(
    ctx: &Ctx<'_>,
    request: wire::DescribeSubnetsRequest,
) -> Result<wire::DescribeSubnetsResult, ApiError> {
    let wire::DescribeSubnetsRequest { filters, subnet_ids, next_token, max_results, dry_run: dry } =
        request;
    let filters = filters.unwrap_or_default();
    let known_filters = [
        "subnet-id",
        "vpc-id",
        "availability-zone",
        "availability-zone-id",
        "default-for-az",
        "cidr-block",
        "state",
        "owner-id",
    ];
    for f in &filters {
        check_filter(f.name.as_deref().unwrap_or_default(), &known_filters)?;
    }
    check_page(max_results)?;
    let network = ctx.network().await?;
    let ids = subnet_ids.unwrap_or_default();
    let known: Vec<String> = network
        .subnets
        .values()
        .map(|s| s.id.clone())
        .chain(network.created_subnets.keys().cloned())
        .collect();
    check_ids(&ids, &known, ErrorCode::InvalidSubnetIdNotFound, "subnet ID")?;
    if dry == Some(true) {
        return Err(dry_run());
    }
    let scope = &ctx.app.scope;
    // Default subnets (one per zone), then the ones users created.
    let all =
        network
            .subnets
            .iter()
            .map(|(zone, subnet)| {
                (
                    subnet.id.clone(),
                    zone.clone(),
                    subnet.cidr.clone(),
                    true,
                    crate::tags::tags_of(&network, &subnet.id),
                )
            })
            .chain(network.created_subnets.iter().map(|(id, s)| {
                (id.clone(), s.zone.clone(), s.cidr.clone(), false, s.tags.clone())
            }));
    let items = all.filter_map(|(id, zone, cidr, default, tags)| {
        if !ids.is_empty() && !ids.contains(&id) {
            return None;
        }
        let zone_id = crate::zones::zone_id(&zone);
        let chosen = matches(&filters, |name| {
            Some(match name {
                "subnet-id" => id.clone(),
                "vpc-id" => network.vpc_id.clone(),
                "availability-zone" => zone.clone(),
                "availability-zone-id" => zone_id.clone(),
                "default-for-az" => default.to_string(),
                "cidr-block" => cidr.clone(),
                "state" => "available".into(),
                _ => scope.account_id.clone(),
            })
        });
        chosen.then(|| {
            let answer = subnet_answer(scope, &network.vpc_id, &id, &zone, &cidr, default, &tags);
            (id.clone(), answer)
        })
    });
    // Pages continue after a key: the items go in key order.
    let mut items: Vec<_> = items.collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (subnets, next) = paginate(items.into_iter(), next_token.as_deref(), max_results, PAGE.1)?;
    Ok(wire::DescribeSubnetsResult { next_token: next, subnets: Some(subnets) })
}

/// A subnet as EC2 describes it.
pub(crate) fn subnet_answer(
    scope: &flotilla_api::arn::ArnScope,
    vpc_id: &str,
    id: &str,
    zone: &str,
    cidr: &str,
    default: bool,
    tags: &[Tag],
) -> wire::Subnet {
    wire::Subnet {
        availability_zone_id: Some(crate::zones::zone_id(zone)),
        owner_id: Some(scope.account_id.clone()),
        assign_ipv6_address_on_creation: Some(false),
        ipv6_cidr_block_association_set: Some(Vec::new()),
        tags: Some(tags_answer(tags)),
        subnet_arn: Some(format!("arn:aws:ec2:{}:{}:subnet/{id}", scope.region, scope.account_id)),
        subnet_id: Some(id.to_string()),
        state: Some("available".into()),
        vpc_id: Some(vpc_id.to_string()),
        cidr_block: Some(cidr.to_string()),
        available_ip_address_count: Some(Cidr::parse(cidr).map_or(0, Cidr::usable)),
        availability_zone: Some(zone.to_string()),
        default_for_az: Some(default),
        map_public_ip_on_launch: Some(false),
        ..Default::default()
    }
}

/// Tags as EC2 answers them.
pub(crate) fn tags_answer(tags: &[Tag]) -> Vec<wire::Tag> {
    tags.iter()
        .map(|t| wire::Tag { key: Some(t.key.clone()), value: Some(t.value.clone()) })
        .collect()
}

/// A security group a user created: nothing in, everything out.
fn created_group(id: &str, group: &Group, network: &Network, ctx: &Ctx<'_>) -> wire::SecurityGroup {
    let scope = &ctx.app.scope;
    wire::SecurityGroup {
        group_id: Some(id.to_string()),
        ip_permissions_egress: Some(crate::rules::permissions(ctx, network, id, true)),
        tags: Some(tags_answer(&group.tags)),
        vpc_id: Some(network.vpc_id.clone()),
        security_group_arn: Some(format!(
            "arn:aws:ec2:{}:{}:security-group/{id}",
            scope.region, scope.account_id
        )),
        owner_id: Some(scope.account_id.clone()),
        group_name: Some(group.name.clone()),
        description: Some(group.description.clone()),
        ip_permissions: Some(crate::rules::permissions(ctx, network, id, false)),
    }
}

/// The VPC's default group: every member may reach every other, anything may go out.
fn default_group(network: &Network, ctx: &Ctx<'_>) -> wire::SecurityGroup {
    let scope = &ctx.app.scope;
    let id = &network.group_id;
    wire::SecurityGroup {
        group_id: Some(id.clone()),
        ip_permissions_egress: Some(crate::rules::permissions(ctx, network, id, true)),
        tags: Some(tags_answer(&crate::tags::tags_of(network, id))),
        vpc_id: Some(network.vpc_id.clone()),
        security_group_arn: Some(format!(
            "arn:aws:ec2:{}:{}:security-group/{id}",
            scope.region, scope.account_id
        )),
        owner_id: Some(scope.account_id.clone()),
        group_name: Some("default".into()),
        description: Some("default VPC security group".into()),
        ip_permissions: Some(crate::rules::permissions(ctx, network, id, false)),
    }
}

pub async fn security_groups(
    ctx: &Ctx<'_>,
    request: wire::DescribeSecurityGroupsRequest,
) -> Result<wire::DescribeSecurityGroupsResult, ApiError> {
    let wire::DescribeSecurityGroupsRequest {
        group_ids,
        group_names,
        next_token,
        max_results,
        dry_run: dry,
        filters,
    } = request;
    let filters = filters.unwrap_or_default();
    for f in &filters {
        check_filter(
            f.name.as_deref().unwrap_or_default(),
            &["group-id", "group-name", "vpc-id", "description", "owner-id"],
        )?;
    }
    check_page(max_results)?;
    let network = ctx.network().await?;
    let ids = group_ids.unwrap_or_default();
    let mut known_ids = vec![network.group_id.clone()];
    known_ids.extend(network.groups.keys().cloned());
    check_ids(&ids, &known_ids, ErrorCode::InvalidGroupNotFound, "security group")?;
    let names = group_names.unwrap_or_default();
    let mut known_names = vec!["default".to_string()];
    known_names.extend(network.groups.values().map(|g| g.name.clone()));
    check_ids(&names, &known_names, ErrorCode::InvalidGroupNotFound, "security group")?;
    if dry == Some(true) {
        return Err(dry_run());
    }
    let default = (
        network.group_id.clone(),
        "default".to_string(),
        "default VPC security group".to_string(),
        default_group(&network, ctx),
    );
    let created = network.groups.iter().map(|(id, g)| {
        (id.clone(), g.name.clone(), g.description.clone(), created_group(id, g, &network, ctx))
    });
    let items =
        std::iter::once(default).chain(created).filter_map(|(id, name, description, group)| {
            let wanted = (ids.is_empty() || ids.contains(&id))
                && (names.is_empty() || names.contains(&name));
            let chosen = wanted
                && matches(&filters, |filter| {
                    Some(match filter {
                        "group-id" => id.clone(),
                        "group-name" => name.clone(),
                        "vpc-id" => network.vpc_id.clone(),
                        "description" => description.clone(),
                        _ => ctx.app.scope.account_id.clone(),
                    })
                });
            chosen.then_some((id, group))
        });
    // Pages continue after a key: the items go in key order.
    let mut items: Vec<_> = items.collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (groups, next) = paginate(items.into_iter(), next_token.as_deref(), max_results, PAGE.1)?;
    Ok(wire::DescribeSecurityGroupsResult { next_token: next, security_groups: Some(groups) })
}

//! CreateSubnet, DeleteSubnet, CreateSecurityGroup, DeleteSecurityGroup: records in the
//! region's network (`network.rs`), checked as EC2 checks them. Nothing is enforced yet: that
//! comes with task networking.

use flotilla_api::{ApiError, ErrorCode};

use crate::network::{new_id, Cidr, CreatedSubnet, Group, Network, Tag};
use crate::wire;
use crate::{dry_run, missing, Ctx};

/// The tags a request's `TagSpecifications` give `resource_type` (the field ledger refuses
/// other resource types).
fn tags_for(
    specs: Option<Vec<wire::TagSpecification>>,
    resource_type: &str,
) -> Result<Vec<Tag>, ApiError> {
    let mut tags = Vec::new();
    for spec in specs.unwrap_or_default() {
        if spec.resource_type.as_deref().is_some_and(|t| t != resource_type) {
            continue;
        }
        for tag in spec.tags.unwrap_or_default() {
            let key = tag.key.unwrap_or_default();
            if key.is_empty() || key.len() > 127 || key.starts_with("aws:") {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameterValueException,
                    format!(
                        "Tag key '{key}' is invalid: 1 to 127 characters, not starting with aws:"
                    ),
                ));
            }
            tags.push(Tag { key, value: tag.value.unwrap_or_default() });
        }
    }
    Ok(tags)
}

fn check_vpc(network: &Network, vpc_id: Option<&str>) -> Result<(), ApiError> {
    match vpc_id {
        Some(id) if id != network.vpc_id => Err(ApiError::new(
            ErrorCode::InvalidVpcIdNotFound,
            format!("The vpc ID '{id}' does not exist"),
        )),
        _ => Ok(()),
    }
}

pub async fn create_subnet(
    ctx: &Ctx<'_>,
    request: wire::CreateSubnetRequest,
) -> Result<wire::CreateSubnetResult, ApiError> {
    // IPv6, Outposts and IPAM pools are refused by the field ledger.
    let wire::CreateSubnetRequest {
        tag_specifications,
        availability_zone,
        availability_zone_id,
        cidr_block,
        ipv6_cidr_block: _,
        outpost_arn: _,
        vpc_id,
        ipv6_native: _,
        ipv4_ipam_pool_id: _,
        ipv4_netmask_length: _,
        ipv6_ipam_pool_id: _,
        ipv6_netmask_length: _,
        dry_run: dry,
    } = request;
    let cidr_text = cidr_block.ok_or_else(|| missing("CidrBlock"))?;
    let tags = tags_for(tag_specifications, "subnet")?;
    let zones = ctx.app.zones.zones();
    let zone = match (availability_zone, availability_zone_id) {
        (Some(zone), _) => zone,
        (None, Some(id)) => {
            zones.iter().find(|z| crate::zones::zone_id(z) == id).cloned().ok_or_else(|| {
                invalid(format!("Value ({id}) for parameter availabilityZoneId is invalid."))
            })?
        }
        (None, None) => zones.first().cloned().ok_or_else(|| {
            invalid("There are no availability zones: no agent has joined this region yet.".into())
        })?,
    };
    if !zones.contains(&zone) {
        return Err(invalid(format!(
            "Value ({zone}) for parameter availabilityZone is invalid. Subnets can currently only be \
             created in the following availability zones: {}.",
            zones.join(", ")
        )));
    }
    let id = new_id("subnet");
    let scope = ctx.app.scope.clone();
    let (network, cidr) = ctx
        .app
        .networks
        .change(&zones, |network| {
            check_vpc(network, Some(vpc_id.as_str()))?;
            let cidr = Cidr::parse(&cidr_text).map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidSubnetRange,
                    format!("The CIDR '{cidr_text}' is invalid."),
                )
            })?;
            let vpc = Cidr::parse(&network.cidr).map_err(invalid)?;
            if !(16..=28).contains(&cidr.prefix) || !vpc.contains(cidr) {
                return Err(ApiError::new(
                    ErrorCode::InvalidSubnetRange,
                    format!("The CIDR '{cidr}' is invalid."),
                ));
            }
            if network.subnet_cidrs().into_iter().any(|other| other.overlaps(cidr)) {
                return Err(ApiError::new(
                    ErrorCode::InvalidSubnetConflict,
                    format!("The CIDR '{cidr}' conflicts with another subnet"),
                ));
            }
            if dry == Some(true) {
                return Err(dry_run());
            }
            network.created_subnets.insert(
                id.clone(),
                CreatedSubnet { zone: zone.clone(), cidr: cidr.to_string(), tags },
            );
            Ok((network.clone(), cidr))
        })
        .await?;
    let created = &network.created_subnets[&id];
    Ok(wire::CreateSubnetResult {
        subnet: Some(crate::describe::subnet_answer(
            &scope,
            &network.vpc_id,
            &id,
            &created.zone,
            &cidr.to_string(),
            false,
            &created.tags,
        )),
    })
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterValueException, message)
}

pub async fn delete_subnet(
    ctx: &Ctx<'_>,
    request: wire::DeleteSubnetRequest,
) -> Result<(), ApiError> {
    let wire::DeleteSubnetRequest { subnet_id, dry_run: dry } = request;
    let zones = ctx.app.zones.zones();
    ctx.app
        .networks
        .change(&zones, |network| {
            if network.subnets.values().any(|s| s.id == subnet_id) {
                return Err(invalid(format!(
                    "The subnet '{subnet_id}' is a default subnet: each zone of the region's agents keeps one here."
                )));
            }
            if !network.created_subnets.contains_key(&subnet_id) {
                return Err(ApiError::new(
                    ErrorCode::InvalidSubnetIdNotFound,
                    format!("The subnet ID '{subnet_id}' does not exist"),
                ));
            }
            if dry == Some(true) {
                return Err(dry_run());
            }
            network.created_subnets.remove(&subnet_id);
            // Hosts' slices of it go with it.
            network.host_slices.remove(&subnet_id);
            Ok(())
        })
        .await
}

pub async fn create_security_group(
    ctx: &Ctx<'_>,
    request: wire::CreateSecurityGroupRequest,
) -> Result<wire::CreateSecurityGroupResult, ApiError> {
    let wire::CreateSecurityGroupRequest {
        description,
        group_name,
        vpc_id,
        tag_specifications,
        dry_run: dry,
    } = request;
    let tags = tags_for(tag_specifications, "security-group")?;
    if group_name.is_empty() || group_name.len() > 255 || group_name.starts_with("sg-") {
        return Err(invalid(format!("Invalid security group name '{group_name}': 1 to 255 characters, not starting with sg-")));
    }
    if description.is_empty() || description.len() > 255 {
        return Err(invalid("The security group description must be 1 to 255 characters.".into()));
    }
    let id = new_id("sg");
    let zones = ctx.app.zones.zones();
    let scope = ctx.app.scope.clone();
    let tags = ctx
        .app
        .networks
        .change(&zones, |network| {
            check_vpc(network, vpc_id.as_deref())?;
            let taken =
                group_name == "default" || network.groups.values().any(|g| g.name == group_name);
            if taken {
                return Err(ApiError::new(
                    ErrorCode::InvalidGroupDuplicate,
                    format!(
                        "The security group '{group_name}' already exists for VPC '{}'",
                        network.vpc_id
                    ),
                ));
            }
            if dry == Some(true) {
                return Err(dry_run());
            }
            network.groups.insert(
                id.clone(),
                Group {
                    name: group_name.clone(),
                    description: description.clone(),
                    tags: tags.clone(),
                },
            );
            Ok(tags)
        })
        .await?;
    Ok(wire::CreateSecurityGroupResult {
        group_id: Some(id.clone()),
        tags: Some(crate::describe::tags_answer(&tags)),
        security_group_arn: Some(format!(
            "arn:aws:ec2:{}:{}:security-group/{id}",
            scope.region, scope.account_id
        )),
    })
}

pub async fn delete_security_group(
    ctx: &Ctx<'_>,
    request: wire::DeleteSecurityGroupRequest,
) -> Result<wire::DeleteSecurityGroupResult, ApiError> {
    let wire::DeleteSecurityGroupRequest { group_id, group_name, dry_run: dry } = request;
    let zones = ctx.app.zones.zones();
    // Groups that running tasks' interfaces carry cannot go (as on EC2).
    let in_use: Vec<(String, Vec<String>)> =
        ctx.app.interfaces.interfaces().into_iter().map(|i| (i.id, i.security_groups)).collect();
    ctx.app
        .networks
        .change(&zones, |network| {
            let is_default = group_id.as_deref() == Some(network.group_id.as_str())
                || group_name.as_deref() == Some("default");
            if is_default {
                return Err(ApiError::new(
                    ErrorCode::CannotDelete,
                    format!(
                        "the specified group: \"{}\" name: \"default\" cannot be deleted by a user",
                        network.group_id
                    ),
                ));
            }
            let found = network.groups.iter().find(|(id, g)| {
                group_id.as_deref() == Some(id.as_str())
                    || (group_id.is_none() && group_name.as_deref() == Some(g.name.as_str()))
            });
            let Some((id, _)) = found.map(|(id, g)| (id.clone(), g.clone())) else {
                let named = group_id.clone().or(group_name.clone()).unwrap_or_default();
                if named.is_empty() {
                    return Err(missing("GroupId"));
                }
                return Err(ApiError::new(
                    ErrorCode::InvalidGroupNotFound,
                    format!("The security group '{named}' does not exist"),
                ));
            };
            if let Some((interface, _)) = in_use.iter().find(|(_, groups)| groups.contains(&id)) {
                return Err(ApiError::new(
                    ErrorCode::DependencyViolation,
                    format!("resource {id} has a dependent object: network interface {interface}"),
                ));
            }
            if let Some(other) = crate::rules::referenced(network, &id) {
                return Err(ApiError::new(
                    ErrorCode::DependencyViolation,
                    format!("resource {id} has a dependent object: a rule of {other}"),
                ));
            }
            if dry == Some(true) {
                return Err(dry_run());
            }
            network.groups.remove(&id);
            network.rules.remove(&id);
            Ok(wire::DeleteSecurityGroupResult { r#return: Some(true), group_id: Some(id) })
        })
        .await
}

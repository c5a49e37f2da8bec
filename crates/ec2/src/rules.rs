//! Security group rules: Authorize/RevokeSecurityGroupIngress and Egress. A rule is a protocol,
//! a port range and one source (a CIDR or another group of the VPC), with an `sgr-` id; the
//! Describe calls gather a group's rules into EC2's `IpPermissions`. Rules are records until
//! task networking enforces them.

use flotilla_api::{ApiError, ErrorCode};

use crate::network::{new_id, Cidr, Network, Rule};
use crate::wire;
use crate::{dry_run, missing, Ctx};

/// The rules a group has before any change: the default group lets its members in and
/// anything out; another group lets anything out.
pub fn initial_rules(network: &Network, group_id: &str) -> Vec<Rule> {
    let mut rules = vec![Rule {
        id: format!("sgr-out-{}", &group_id[3.min(group_id.len())..]),
        egress: true,
        protocol: "-1".into(),
        from: -1,
        to: -1,
        cidr: Some("0.0.0.0/0".into()),
        group: None,
        description: None,
    }];
    if group_id == network.group_id {
        rules.push(Rule {
            id: format!("sgr-in-{}", &group_id[3.min(group_id.len())..]),
            egress: false,
            protocol: "-1".into(),
            from: -1,
            to: -1,
            cidr: None,
            group: Some(group_id.to_string()),
            description: None,
        });
    }
    rules
}

/// A group's rules: as changed, or as it began.
pub fn rules_of(network: &Network, group_id: &str) -> Vec<Rule> {
    network.rules.get(group_id).cloned().unwrap_or_else(|| initial_rules(network, group_id))
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterValueException, message)
}

/// A protocol and its port range as EC2 takes them: `-1` (all) ignores ports; tcp and udp need
/// 0–65535 with from ≤ to; icmp takes type and code (-1 for any).
fn protocol_and_ports(
    protocol: &str,
    from: Option<i32>,
    to: Option<i32>,
) -> Result<(String, i32, i32), ApiError> {
    let protocol = match protocol.to_ascii_lowercase().as_str() {
        "-1" | "all" => return Ok(("-1".into(), -1, -1)),
        "6" | "tcp" => "tcp".to_string(),
        "17" | "udp" => "udp".to_string(),
        "1" | "icmp" => "icmp".to_string(),
        // Protocol 0 cannot be told apart from "every protocol" by the firewall.
        "0" => {
            return Err(invalid(
                "IP protocol 0 (HOPOPT) is not supported yet by this server.".into(),
            ))
        }
        other => match other.parse::<u8>() {
            Ok(_) => other.to_string(),
            Err(_) => {
                return Err(invalid(format!(
                    "Invalid value '{protocol}' for IP protocol. Unknown protocol."
                )))
            }
        },
    };
    let (from, to) = (from.unwrap_or(-1), to.unwrap_or(-1));
    let in_range = |port: i32| (0..=65535).contains(&port);
    if matches!(protocol.as_str(), "tcp" | "udp") && (!in_range(from) || !in_range(to) || from > to)
    {
        return Err(invalid(format!("Invalid port range: {from}-{to} for {protocol}")));
    }
    // ICMP: a type and a code, each -1 (any) or 0–255.
    let icmp_value = |v: i32| (-1..=255).contains(&v);
    if protocol == "icmp" && !(icmp_value(from) && icmp_value(to)) {
        return Err(invalid(format!("Invalid ICMP type/code: {from}/{to}")));
    }
    Ok((protocol, from, to))
}

/// The older, flat way to name one rule: a protocol and ports with a CIDR or a source group.
#[derive(Debug, Default)]
pub struct Flat {
    pub protocol: Option<String>,
    pub from: Option<i32>,
    pub to: Option<i32>,
    pub cidr: Option<String>,
    pub source_group_name: Option<String>,
    pub source_owner: Option<String>,
}

/// The rules a request names: its `IpPermissions`, or the older flat members.
fn requested(
    network: &Network,
    account: &str,
    egress: bool,
    permissions: Option<Vec<wire::IpPermission>>,
    flat: Flat,
) -> Result<Vec<Rule>, ApiError> {
    let Flat { protocol, from, to, cidr, source_group_name, source_owner } = flat;
    let group_by_name = |name: &str| -> Result<String, ApiError> {
        if name == "default" {
            return Ok(network.group_id.clone());
        }
        network.groups.iter().find(|(_, g)| g.name == name).map(|(id, _)| id.clone()).ok_or_else(
            || {
                ApiError::new(
                    ErrorCode::InvalidGroupNotFound,
                    format!("The security group '{name}' does not exist"),
                )
            },
        )
    };
    let group_exists = |id: &str| -> Result<String, ApiError> {
        if id == network.group_id || network.groups.contains_key(id) {
            Ok(id.to_string())
        } else {
            Err(ApiError::new(
                ErrorCode::InvalidGroupNotFound,
                format!("The security group '{id}' does not exist"),
            ))
        }
    };
    let own = |owner: Option<&str>| -> Result<(), ApiError> {
        match owner {
            Some(owner) if owner != account => Err(ApiError::new(
                ErrorCode::InvalidGroupNotFound,
                format!("No security group of account {owner} exists here"),
            )),
            _ => Ok(()),
        }
    };
    let check_cidr = |text: &str| -> Result<String, ApiError> {
        Cidr::parse(text)
            .map(|c| c.to_string())
            .map_err(|_| invalid(format!("CIDR block {text} is malformed")))
    };
    let mut rules = Vec::new();
    let blank = |protocol: String, from: i32, to: i32| Rule {
        id: new_id("sgr"),
        egress,
        protocol,
        from,
        to,
        cidr: None,
        group: None,
        description: None,
    };
    for permission in permissions.unwrap_or_default() {
        let wire::IpPermission {
            ip_protocol,
            from_port,
            to_port,
            user_id_group_pairs,
            ip_ranges,
            ..
        } = permission;
        let (protocol, from, to) =
            protocol_and_ports(ip_protocol.as_deref().unwrap_or_default(), from_port, to_port)?;
        for range in ip_ranges.unwrap_or_default() {
            let cidr = check_cidr(range.cidr_ip.as_deref().unwrap_or_default())?;
            rules.push(Rule {
                cidr: Some(cidr),
                description: range.description,
                ..blank(protocol.clone(), from, to)
            });
        }
        for pair in user_id_group_pairs.unwrap_or_default() {
            own(pair.user_id.as_deref())?;
            let group = match (&pair.group_id, &pair.group_name) {
                (Some(id), _) => group_exists(id)?,
                (None, Some(name)) => group_by_name(name)?,
                (None, None) => return Err(invalid("A group pair names no group.".into())),
            };
            rules.push(Rule {
                group: Some(group),
                description: pair.description,
                ..blank(protocol.clone(), from, to)
            });
        }
    }
    if let Some(protocol) = protocol {
        let (protocol, from, to) = protocol_and_ports(&protocol, from, to)?;
        if let Some(cidr) = cidr {
            let cidr = check_cidr(&cidr)?;
            rules.push(Rule { cidr: Some(cidr), ..blank(protocol.clone(), from, to) });
        }
        if let Some(name) = source_group_name {
            own(source_owner.as_deref())?;
            let group = group_by_name(&name)?;
            rules.push(Rule { group: Some(group), ..blank(protocol, from, to) });
        }
    } else if let Some(name) = source_group_name {
        // The older form: every protocol from another group.
        own(source_owner.as_deref())?;
        let group = group_by_name(&name)?;
        rules.push(Rule { group: Some(group), ..blank("-1".into(), -1, -1) });
    } else if cidr.is_some() {
        return Err(missing("IpProtocol"));
    }
    if rules.is_empty() {
        return Err(missing("IpPermissions"));
    }
    Ok(rules)
}

/// The group a request names by id or name.
fn target(network: &Network, id: Option<&str>, name: Option<&str>) -> Result<String, ApiError> {
    match (id, name) {
        (Some(id), _) if id == network.group_id || network.groups.contains_key(id) => {
            Ok(id.to_string())
        }
        (None, Some("default")) => Ok(network.group_id.clone()),
        (None, Some(name)) => network
            .groups
            .iter()
            .find(|(_, g)| g.name == name)
            .map(|(id, _)| id.clone())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidGroupNotFound,
                    format!("The security group '{name}' does not exist"),
                )
            }),
        (Some(id), _) => Err(ApiError::new(
            ErrorCode::InvalidGroupNotFound,
            format!("The security group '{id}' does not exist"),
        )),
        (None, None) => Err(missing("GroupId")),
    }
}

/// A rule as the Authorize and Revoke answers show it.
fn rule_answer(ctx: &Ctx<'_>, group_id: &str, rule: &Rule) -> wire::SecurityGroupRule {
    let scope = &ctx.app.scope;
    wire::SecurityGroupRule {
        security_group_rule_id: Some(rule.id.clone()),
        group_id: Some(group_id.to_string()),
        group_owner_id: Some(scope.account_id.clone()),
        is_egress: Some(rule.egress),
        ip_protocol: Some(rule.protocol.clone()),
        from_port: Some(rule.from),
        to_port: Some(rule.to),
        cidr_ipv4: rule.cidr.clone(),
        referenced_group_info: rule.group.as_ref().map(|g| wire::ReferencedSecurityGroup {
            group_id: Some(g.clone()),
            user_id: Some(scope.account_id.clone()),
            ..Default::default()
        }),
        description: rule.description.clone(),
        tags: Some(Vec::new()),
        security_group_rule_arn: Some(format!(
            "arn:aws:ec2:{}:{}:security-group-rule/{}",
            scope.region, scope.account_id, rule.id
        )),
        ..Default::default()
    }
}

/// Adds rules to a group; a rule it has already is `InvalidPermission.Duplicate`.
#[allow(clippy::too_many_arguments)]
pub async fn authorize(
    ctx: &Ctx<'_>,
    egress: bool,
    group_id: Option<String>,
    group_name: Option<String>,
    permissions: Option<Vec<wire::IpPermission>>,
    flat: Flat,
    dry: Option<bool>,
) -> Result<Vec<wire::SecurityGroupRule>, ApiError> {
    let zones = ctx.app.zones.zones();
    let account = ctx.app.scope.account_id.clone();
    let (group, added) = ctx
        .app
        .networks
        .change(&zones, |network| {
            let group = target(network, group_id.as_deref(), group_name.as_deref())?;
            let new = requested(network, &account, egress, permissions, flat)?;
            let mut rules = rules_of(network, &group);
            for (n, rule) in new.iter().enumerate() {
                // Already the group's, or named twice in this request.
                if rules.iter().chain(&new[..n]).any(|r| r.same(rule)) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidPermissionDuplicate,
                        format!(
                            "the specified rule \"peer: {}, {}, ALLOW\" already exists",
                            rule.cidr.clone().or(rule.group.clone()).unwrap_or_default(),
                            rule.protocol
                        ),
                    ));
                }
            }
            if dry == Some(true) {
                return Err(dry_run());
            }
            rules.extend(new.iter().cloned());
            network.rules.insert(group.clone(), rules);
            Ok((group, new))
        })
        .await?;
    Ok(added.iter().map(|r| rule_answer(ctx, &group, r)).collect())
}

/// What a revoke removed, and the permissions it named that the group did not have.
pub struct Revoked {
    pub rules: Vec<wire::RevokedSecurityGroupRule>,
    pub unknown: Vec<wire::IpPermission>,
}

/// Removes rules from a group, by their ids or as permissions; ones it lacks come back as
/// unknown, as EC2 answers.
#[allow(clippy::too_many_arguments)]
pub async fn revoke(
    ctx: &Ctx<'_>,
    egress: bool,
    group_id: Option<String>,
    group_name: Option<String>,
    permissions: Option<Vec<wire::IpPermission>>,
    rule_ids: Option<Vec<String>>,
    flat: Flat,
    dry: Option<bool>,
) -> Result<Revoked, ApiError> {
    let zones = ctx.app.zones.zones();
    let account = ctx.app.scope.account_id.clone();
    let by_id = rule_ids.unwrap_or_default();
    let by_value = permissions.is_some()
        || flat.protocol.is_some()
        || flat.cidr.is_some()
        || flat.source_group_name.is_some();
    if !by_id.is_empty() && by_value {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterCombinationException,
            "Name the rules to revoke by SecurityGroupRuleIds or by IpPermissions, not both.",
        ));
    }
    let (group, removed, unknown) = ctx
        .app
        .networks
        .change(&zones, |network| {
            let group = target(network, group_id.as_deref(), group_name.as_deref())?;
            let mut rules = rules_of(network, &group);
            let wanted = if by_id.is_empty() {
                requested(network, &account, egress, permissions, flat)?
            } else {
                Vec::new()
            };
            let mut removed = Vec::new();
            let mut unknown = Vec::new();
            for id in &by_id {
                match rules.iter().position(|r| &r.id == id && r.egress == egress) {
                    Some(n) => removed.push(rules.remove(n)),
                    None => {
                        return Err(ApiError::new(
                            ErrorCode::InvalidSecurityGroupRuleIdNotFound,
                            format!("The security group rule ID '{id}' does not exist"),
                        ))
                    }
                }
            }
            for rule in &wanted {
                match rules.iter().position(|r| r.same(rule)) {
                    Some(n) => removed.push(rules.remove(n)),
                    None => unknown.push(permission_of(rule)),
                }
            }
            if dry == Some(true) {
                return Err(dry_run());
            }
            network.rules.insert(group.clone(), rules);
            Ok((group, removed, unknown))
        })
        .await?;
    let rules = removed
        .iter()
        .map(|r| wire::RevokedSecurityGroupRule {
            security_group_rule_id: Some(r.id.clone()),
            group_id: Some(group.clone()),
            is_egress: Some(r.egress),
            ip_protocol: Some(r.protocol.clone()),
            from_port: Some(r.from),
            to_port: Some(r.to),
            cidr_ipv4: r.cidr.clone(),
            referenced_group_id: r.group.clone(),
            description: r.description.clone(),
            ..Default::default()
        })
        .collect();
    Ok(Revoked { rules, unknown })
}

/// A rule the group did not have, as EC2 reports it back: one permission of its own.
fn permission_of(rule: &Rule) -> wire::IpPermission {
    let (from_port, to_port) = ports(rule);
    wire::IpPermission {
        ip_protocol: Some(rule.protocol.clone()),
        from_port,
        to_port,
        ip_ranges: Some(
            rule.cidr
                .iter()
                .map(|c| wire::IpRange { description: None, cidr_ip: Some(c.clone()) })
                .collect(),
        ),
        user_id_group_pairs: Some(
            rule.group
                .iter()
                .map(|g| wire::UserIdGroupPair { group_id: Some(g.clone()), ..Default::default() })
                .collect(),
        ),
        ipv6_ranges: Some(Vec::new()),
        prefix_list_ids: Some(Vec::new()),
    }
}

/// A group's rules in EC2's `IpPermissions` form, ingress or egress: one permission per
/// protocol and port range, its CIDRs and groups gathered.
pub fn permissions(
    ctx: &Ctx<'_>,
    network: &Network,
    group_id: &str,
    egress: bool,
) -> Vec<wire::IpPermission> {
    let mut out: Vec<wire::IpPermission> = Vec::new();
    for rule in rules_of(network, group_id).into_iter().filter(|r| r.egress == egress) {
        let same = |p: &wire::IpPermission| {
            p.ip_protocol.as_deref() == Some(rule.protocol.as_str())
                && p.from_port == ports(&rule).0
                && p.to_port == ports(&rule).1
        };
        let index = match out.iter().position(same) {
            Some(n) => n,
            None => {
                out.push(wire::IpPermission {
                    ip_protocol: Some(rule.protocol.clone()),
                    from_port: ports(&rule).0,
                    to_port: ports(&rule).1,
                    user_id_group_pairs: Some(Vec::new()),
                    ip_ranges: Some(Vec::new()),
                    ipv6_ranges: Some(Vec::new()),
                    prefix_list_ids: Some(Vec::new()),
                });
                out.len() - 1
            }
        };
        let permission = &mut out[index];
        if let Some(cidr) = &rule.cidr {
            permission.ip_ranges.get_or_insert_with(Vec::new).push(wire::IpRange {
                description: rule.description.clone(),
                cidr_ip: Some(cidr.clone()),
            });
        }
        if let Some(group) = &rule.group {
            permission.user_id_group_pairs.get_or_insert_with(Vec::new).push(
                wire::UserIdGroupPair {
                    description: rule.description.clone(),
                    user_id: Some(ctx.app.scope.account_id.clone()),
                    group_id: Some(group.clone()),
                    ..Default::default()
                },
            );
        }
    }
    out
}

/// EC2 leaves the ports out of an all-protocols permission.
fn ports(rule: &Rule) -> (Option<i32>, Option<i32>) {
    if rule.protocol == "-1" {
        (None, None)
    } else {
        (Some(rule.from), Some(rule.to))
    }
}

/// Whether any other group's rule names `group_id`: such a group cannot be deleted.
pub fn referenced(network: &Network, group_id: &str) -> Option<String> {
    let groups = std::iter::once(network.group_id.clone()).chain(network.groups.keys().cloned());
    groups
        .filter(|other| other != group_id)
        .find(|other| rules_of(network, other).iter().any(|r| r.group.as_deref() == Some(group_id)))
}

/// AuthorizeSecurityGroupIngress.
pub async fn authorize_ingress(
    ctx: &Ctx<'_>,
    request: wire::AuthorizeSecurityGroupIngressRequest,
) -> Result<wire::AuthorizeSecurityGroupIngressResult, ApiError> {
    // TagSpecifications (tags on rules) are refused by the field ledger.
    let wire::AuthorizeSecurityGroupIngressRequest {
        cidr_ip,
        from_port,
        group_id,
        group_name,
        ip_permissions,
        ip_protocol,
        source_security_group_name,
        source_security_group_owner_id,
        to_port,
        tag_specifications: _,
        dry_run,
    } = request;
    let flat = Flat {
        protocol: ip_protocol,
        from: from_port,
        to: to_port,
        cidr: cidr_ip,
        source_group_name: source_security_group_name,
        source_owner: source_security_group_owner_id,
    };
    let rules = authorize(ctx, false, group_id, group_name, ip_permissions, flat, dry_run).await?;
    let result = wire::AuthorizeSecurityGroupIngressResult {
        r#return: Some(true),
        security_group_rules: Some(rules),
    };
    Ok(result)
}

/// AuthorizeSecurityGroupEgress.
pub async fn authorize_egress(
    ctx: &Ctx<'_>,
    request: wire::AuthorizeSecurityGroupEgressRequest,
) -> Result<wire::AuthorizeSecurityGroupEgressResult, ApiError> {
    let wire::AuthorizeSecurityGroupEgressRequest {
        tag_specifications: _,
        dry_run,
        group_id,
        source_security_group_name,
        source_security_group_owner_id,
        ip_protocol,
        from_port,
        to_port,
        cidr_ip,
        ip_permissions,
    } = request;
    let flat = Flat {
        protocol: ip_protocol,
        from: from_port,
        to: to_port,
        cidr: cidr_ip,
        source_group_name: source_security_group_name,
        source_owner: source_security_group_owner_id,
    };
    let rules = authorize(ctx, true, Some(group_id), None, ip_permissions, flat, dry_run).await?;
    let result = wire::AuthorizeSecurityGroupEgressResult {
        r#return: Some(true),
        security_group_rules: Some(rules),
    };
    Ok(result)
}

/// RevokeSecurityGroupIngress.
pub async fn revoke_ingress(
    ctx: &Ctx<'_>,
    request: wire::RevokeSecurityGroupIngressRequest,
) -> Result<wire::RevokeSecurityGroupIngressResult, ApiError> {
    let wire::RevokeSecurityGroupIngressRequest {
        cidr_ip,
        from_port,
        group_id,
        group_name,
        ip_permissions,
        ip_protocol,
        source_security_group_name,
        source_security_group_owner_id,
        to_port,
        security_group_rule_ids,
        dry_run,
    } = request;
    let flat = Flat {
        protocol: ip_protocol,
        from: from_port,
        to: to_port,
        cidr: cidr_ip,
        source_group_name: source_security_group_name,
        source_owner: source_security_group_owner_id,
    };
    let revoked = revoke(
        ctx,
        false,
        group_id,
        group_name,
        ip_permissions,
        security_group_rule_ids,
        flat,
        dry_run,
    )
    .await?;
    let result = wire::RevokeSecurityGroupIngressResult {
        r#return: Some(true),
        unknown_ip_permissions: Some(revoked.unknown),
        revoked_security_group_rules: Some(revoked.rules),
    };
    Ok(result)
}

/// RevokeSecurityGroupEgress.
pub async fn revoke_egress(
    ctx: &Ctx<'_>,
    request: wire::RevokeSecurityGroupEgressRequest,
) -> Result<wire::RevokeSecurityGroupEgressResult, ApiError> {
    let wire::RevokeSecurityGroupEgressRequest {
        security_group_rule_ids,
        dry_run,
        group_id,
        source_security_group_name,
        source_security_group_owner_id,
        ip_protocol,
        from_port,
        to_port,
        cidr_ip,
        ip_permissions,
    } = request;
    let flat = Flat {
        protocol: ip_protocol,
        from: from_port,
        to: to_port,
        cidr: cidr_ip,
        source_group_name: source_security_group_name,
        source_owner: source_security_group_owner_id,
    };
    let revoked = revoke(
        ctx,
        true,
        Some(group_id),
        None,
        ip_permissions,
        security_group_rule_ids,
        flat,
        dry_run,
    )
    .await?;
    let result = wire::RevokeSecurityGroupEgressResult {
        r#return: Some(true),
        unknown_ip_permissions: Some(revoked.unknown),
        revoked_security_group_rules: Some(revoked.rules),
    };
    Ok(result)
}

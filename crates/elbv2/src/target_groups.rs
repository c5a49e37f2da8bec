//! Target groups: HTTP (application load balancers) or TCP (network ones), instance or ip
//! targets, an HTTP or TCP health check within ELB's ranges; Create
//! (a repeat answers with the same group), Describe, Modify, Delete (not while an action
//! forwards to it) and their attributes.

use std::collections::BTreeMap;

use flotilla_api::{ApiError, ErrorCode};

use crate::attributes;
use crate::model::{HealthCheck, Protocol, TargetGroup, TargetType};
use crate::{check_name, new_id, page, tags, validation, wire, App};

/// The health check of a create request, or a modify request applied to `base`.
struct HealthChange {
    /// `HTTP` or `TCP` (others are refused by the field ledger).
    protocol: Option<String>,
    port: Option<String>,
    enabled: Option<bool>,
    path: Option<String>,
    interval: Option<i32>,
    timeout: Option<i32>,
    healthy: Option<i32>,
    unhealthy: Option<i32>,
    matcher: Option<wire::Matcher>,
}

impl HealthChange {
    /// The check of a group speaking `group`, this change applied to `base`.
    fn apply(self, base: &HealthCheck, group: Protocol) -> Result<HealthCheck, ApiError> {
        let protocol = match self.protocol.as_deref() {
            None => base.protocol,
            Some("TCP") if group == Protocol::Tcp => Protocol::Tcp,
            Some("TCP") => {
                return Err(validation(
                    "Health check protocol 'TCP' is not supported for target groups with the protocol 'HTTP'",
                ))
            }
            Some(_) => Protocol::Http,
        };
        if protocol == Protocol::Tcp {
            if self.path.is_some() {
                return Err(validation("A health check path cannot be set for TCP health checks"));
            }
            if self.matcher.is_some() {
                return Err(validation(
                    "Custom health check matchers are not supported for health checks with the protocol 'TCP'",
                ));
            }
        }
        let port = match self.port.as_deref() {
            None => base.port,
            Some("traffic-port") => None,
            Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                validation(format!(
                    "Health check port '{p}' must be 'traffic-port' or a port between 1 and 65535"
                ))
            })?),
        };
        let range = |value: Option<i32>, base: u32, low: i32, high: i32, what: &str| match value {
            None => Ok(base),
            Some(v) if (low..=high).contains(&v) => Ok(v as u32),
            Some(v) => Err(validation(format!("{what} '{v}' must be between {low} and {high}"))),
        };
        let check = HealthCheck {
            enabled: self.enabled.unwrap_or(base.enabled),
            protocol,
            port,
            path: match self.path {
                None => base.path.clone(),
                Some(p) if p.starts_with('/') && p.len() <= 1024 => p,
                Some(p) => {
                    return Err(validation(format!(
                    "Health check path '{p}' must begin with '/' and be at most 1024 characters"
                )))
                }
            },
            interval_seconds: range(
                self.interval,
                base.interval_seconds,
                5,
                300,
                "Health check interval",
            )?,
            timeout_seconds: range(
                self.timeout,
                base.timeout_seconds,
                2,
                120,
                "Health check timeout",
            )?,
            healthy_threshold: range(
                self.healthy,
                base.healthy_threshold,
                2,
                10,
                "Healthy threshold count",
            )?,
            unhealthy_threshold: range(
                self.unhealthy,
                base.unhealthy_threshold,
                2,
                10,
                "Unhealthy threshold count",
            )?,
            matcher: match self.matcher.and_then(|m| m.http_code) {
                None => base.matcher.clone(),
                Some(codes) => check_matcher(codes)?,
            },
        };
        if check.timeout_seconds >= check.interval_seconds {
            return Err(validation(format!(
                "Health check timeout '{}' must be smaller than the interval '{}'",
                check.timeout_seconds, check.interval_seconds
            )));
        }
        Ok(check)
    }
}

/// ELB's defaults for a target group speaking `protocol` (a TCP group is checked by
/// connecting, with ELB's 10 s timeout).
fn default_health(protocol: Protocol) -> HealthCheck {
    let tcp = protocol == Protocol::Tcp;
    HealthCheck {
        enabled: true,
        protocol,
        port: None,
        path: "/".into(),
        interval_seconds: 30,
        timeout_seconds: if tcp { 10 } else { 5 },
        healthy_threshold: 5,
        unhealthy_threshold: 2,
        matcher: "200".into(),
    }
}

/// A matcher of codes 200–499: `200`, `200,202`, `200-299`.
fn check_matcher(codes: String) -> Result<String, ApiError> {
    let code_ok = |s: &str| s.trim().parse::<u16>().is_ok_and(|c| (200..=499).contains(&c));
    let ok = !codes.is_empty()
        && codes.split(',').all(|part| match part.split_once('-') {
            Some((low, high)) => code_ok(low) && code_ok(high),
            None => code_ok(part),
        });
    if ok {
        Ok(codes)
    } else {
        Err(validation(format!("Health check matcher HTTP code '{codes}' must be one or more codes between 200 and 499, as a list or a range")))
    }
}

pub async fn create(
    app: &App,
    input: wire::CreateTargetGroupInput,
) -> Result<wire::CreateTargetGroupOutput, ApiError> {
    check_name(&input.name, "Target group")?;
    let tags = tags::checked(input.tags.unwrap_or_default())?;
    let target_type = match input.target_type.as_deref() {
        None | Some("instance") => TargetType::Instance,
        Some("ip") => TargetType::Ip,
        Some(other) => return Err(validation(format!("Target type '{other}' is not valid"))),
    };
    if input.protocol.is_none() {
        return Err(validation(format!(
            "A protocol must be specified for target type '{}'",
            target_type.as_str()
        )));
    }
    // Other protocols are refused by the field ledger.
    let protocol = match input.protocol.as_deref() {
        Some("TCP") => Protocol::Tcp,
        _ => Protocol::Http,
    };
    if protocol == Protocol::Tcp && input.protocol_version.is_some() {
        return Err(validation("A protocol version can only be given for HTTP target groups"));
    }
    if let Some(version) = input.protocol_version.as_deref().filter(|v| *v != "HTTP1") {
        return Err(validation(format!(
            "The value {version} of parameter ProtocolVersion is not supported yet by this server."
        )));
    }
    let port = input
        .port
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| validation("A port between 1 and 65535 must be specified"))?;
    let vpc = app.vpc().await?;
    match input.vpc_id.as_deref() {
        None => {
            return Err(validation(format!(
                "A VPC ID must be specified for target type '{}'",
                target_type.as_str()
            )))
        }
        Some(id) if id != vpc.vpc_id => {
            return Err(validation(format!("The VPC ID '{id}' is not found")))
        }
        Some(_) => {}
    }
    let health_check = HealthChange {
        protocol: input.health_check_protocol,
        port: input.health_check_port,
        enabled: input.health_check_enabled,
        path: input.health_check_path,
        interval: input.health_check_interval_seconds,
        timeout: input.health_check_timeout_seconds,
        healthy: input.healthy_threshold_count,
        unhealthy: input.unhealthy_threshold_count,
        matcher: input.matcher,
    }
    .apply(&default_health(protocol), protocol)?;
    let arn = app.arn(&format!("targetgroup/{}/{}", input.name, new_id()));
    let wanted = TargetGroup {
        arn: arn.clone(),
        name: input.name.clone(),
        protocol,
        port,
        vpc_id: vpc.vpc_id,
        target_type,
        health_check,
        targets: Vec::new(),
        attributes: BTreeMap::new(),
    };
    let described = app
        .records
        .change(|state| {
            if let Some(existing) = state.target_groups.values().find(|g| g.name == input.name) {
                let same =
                    (existing.port, existing.protocol, existing.target_type, &existing.health_check)
                        == (wanted.port, wanted.protocol, wanted.target_type, &wanted.health_check);
                if !same {
                    return Err(ApiError::new(
                        ErrorCode::DuplicateTargetGroupName,
                        format!("A target group with the same name '{}' exists, but with different settings", input.name),
                    ));
                }
                return Ok(view(state, existing));
            }
            state.target_groups.insert(arn.clone(), wanted.clone());
            tags::put(state, &arn, &tags)?;
            Ok(view(state, &wanted))
        })
        .await?;
    Ok(wire::CreateTargetGroupOutput { target_groups: Some(vec![described]) })
}

pub fn describe(
    app: &App,
    input: wire::DescribeTargetGroupsInput,
) -> Result<wire::DescribeTargetGroupsOutput, ApiError> {
    let state = app.records.snapshot();
    let arns = input.target_group_arns.unwrap_or_default();
    let names = input.names.unwrap_or_default();
    let mut groups: Vec<&TargetGroup> = if !arns.is_empty() {
        arns.iter()
            .map(|a| state.target_groups.get(a))
            .collect::<Option<_>>()
            .ok_or_else(crate::tg_not_found)?
    } else if !names.is_empty() {
        names
            .iter()
            .map(|n| state.target_groups.values().find(|g| &g.name == n))
            .collect::<Option<_>>()
            .ok_or_else(crate::tg_not_found)?
    } else {
        let mut all: Vec<&TargetGroup> = state.target_groups.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    };
    if let Some(lb) = &input.load_balancer_arn {
        if !state.load_balancers.contains_key(lb) {
            return Err(crate::lb_not_found());
        }
        groups.retain(|g| state.load_balancers_of(&g.arn).contains(lb));
    }
    groups.dedup_by(|a, b| a.arn == b.arn);
    let (items, next) = page(&groups, input.marker.as_deref(), input.page_size)?;
    Ok(wire::DescribeTargetGroupsOutput {
        target_groups: Some(items.into_iter().map(|g| view(&state, g)).collect()),
        next_marker: next,
    })
}

pub async fn modify(
    app: &App,
    input: wire::ModifyTargetGroupInput,
) -> Result<wire::ModifyTargetGroupOutput, ApiError> {
    let change = HealthChange {
        protocol: input.health_check_protocol,
        port: input.health_check_port,
        enabled: input.health_check_enabled,
        path: input.health_check_path,
        interval: input.health_check_interval_seconds,
        timeout: input.health_check_timeout_seconds,
        healthy: input.healthy_threshold_count,
        unhealthy: input.unhealthy_threshold_count,
        matcher: input.matcher,
    };
    let described = app
        .records
        .change(|state| {
            let group = state
                .target_groups
                .get_mut(&input.target_group_arn)
                .ok_or_else(crate::tg_not_found)?;
            group.health_check = change.apply(&group.health_check, group.protocol)?;
            let group = group.clone();
            Ok(view(state, &group))
        })
        .await?;
    Ok(wire::ModifyTargetGroupOutput { target_groups: Some(vec![described]) })
}

pub async fn delete(
    app: &App,
    input: wire::DeleteTargetGroupInput,
) -> Result<wire::DeleteTargetGroupOutput, ApiError> {
    let arn = input.target_group_arn;
    app.records
        .change(|state| {
            if !state.target_groups.contains_key(&arn) {
                return Ok(());
            }
            if state.rules.values().any(|r| r.actions.iter().any(|a| a.forwards_to(&arn))) {
                return Err(ApiError::new(
                    ErrorCode::ResourceInUse,
                    format!("Target group '{arn}' is currently in use by a listener or a rule"),
                ));
            }
            state.target_groups.remove(&arn);
            state.tags.remove(&arn);
            Ok(())
        })
        .await?;
    Ok(wire::DeleteTargetGroupOutput {})
}

pub fn describe_attributes(
    app: &App,
    input: wire::DescribeTargetGroupAttributesInput,
) -> Result<wire::DescribeTargetGroupAttributesOutput, ApiError> {
    let state = app.records.snapshot();
    let group = state.target_groups.get(&input.target_group_arn).ok_or_else(crate::tg_not_found)?;
    Ok(wire::DescribeTargetGroupAttributesOutput {
        attributes: Some(attributes::described(
            group.protocol.target_group_attributes(),
            &group.attributes,
        )),
    })
}

pub async fn modify_attributes(
    app: &App,
    input: wire::ModifyTargetGroupAttributesInput,
) -> Result<wire::ModifyTargetGroupAttributesOutput, ApiError> {
    let changes = attributes::changes(input.attributes);
    let (of, set) = app
        .records
        .change(|state| {
            let group = state
                .target_groups
                .get_mut(&input.target_group_arn)
                .ok_or_else(crate::tg_not_found)?;
            let of = group.protocol.target_group_attributes();
            attributes::apply(of, &mut group.attributes, &changes)?;
            Ok((of, group.attributes.clone()))
        })
        .await?;
    Ok(wire::ModifyTargetGroupAttributesOutput {
        attributes: Some(attributes::described(of, &set)),
    })
}

/// A target group as ELB describes it.
fn view(state: &crate::model::State, group: &TargetGroup) -> wire::TargetGroup {
    let check = &group.health_check;
    let http_check = check.protocol == Protocol::Http;
    wire::TargetGroup {
        target_group_arn: Some(group.arn.clone()),
        target_group_name: Some(group.name.clone()),
        protocol: Some(group.protocol.as_str().into()),
        port: Some(i32::from(group.port)),
        vpc_id: Some(group.vpc_id.clone()),
        health_check_protocol: Some(check.protocol.as_str().into()),
        health_check_port: Some(
            check.port.map(|p| p.to_string()).unwrap_or_else(|| "traffic-port".into()),
        ),
        health_check_enabled: Some(check.enabled),
        health_check_interval_seconds: Some(check.interval_seconds as i32),
        health_check_timeout_seconds: Some(check.timeout_seconds as i32),
        healthy_threshold_count: Some(check.healthy_threshold as i32),
        unhealthy_threshold_count: Some(check.unhealthy_threshold as i32),
        health_check_path: http_check.then(|| check.path.clone()),
        matcher: http_check
            .then(|| wire::Matcher { http_code: Some(check.matcher.clone()), grpc_code: None }),
        load_balancer_arns: Some(state.load_balancers_of(&group.arn)),
        target_type: Some(group.target_type.as_str().into()),
        protocol_version: (group.protocol == Protocol::Http).then(|| "HTTP1".into()),
        ip_address_type: Some("ipv4".into()),
        ..Default::default()
    }
}

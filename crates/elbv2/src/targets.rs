//! Targets: RegisterTargets (instances ECS knows, or private IPv4 addresses), DeregisterTargets
//! (a target in use drains for the group's deregistration delay before it is gone), and
//! DescribeTargetHealth with ELB's states and reason codes, from the records and what the
//! proxy's health checks report.

use std::net::Ipv4Addr;

use flotilla_api::{ApiError, ErrorCode};

use crate::model::{State, Target, TargetGroup, TargetType};
use crate::{validation, wire, App};

/// ELB's limit of targets per target group.
const MAX_TARGETS: usize = 1000;

/// (id, port) of each request target, the port defaulting to the group's.
fn addressed(
    group: &TargetGroup,
    targets: &[wire::TargetDescription],
) -> Result<Vec<(String, u16)>, ApiError> {
    if targets.is_empty() {
        return Err(validation("At least one target must be specified"));
    }
    targets
        .iter()
        .map(|t| {
            let port = match t.port {
                None => group.port,
                Some(p) => u16::try_from(p).ok().filter(|p| *p > 0).ok_or_else(|| {
                    validation(format!("Target port '{p}' must be between 1 and 65535"))
                })?,
            };
            Ok((t.id.clone(), port))
        })
        .collect()
}

/// Whether an IP target may be registered: a private IPv4 address, as ELB allows outside a VPC's
/// own subnets (RFC 1918 and RFC 6598).
fn private_ipv4(id: &str) -> bool {
    id.parse::<Ipv4Addr>().is_ok_and(|ip| {
        let [a, b, ..] = ip.octets();
        ip.is_private() || (a == 100 && (64..128).contains(&b))
    })
}

/// Forgets targets whose draining is over.
fn purge_drained(state: &mut State, now: f64) {
    for group in state.target_groups.values_mut() {
        let delay = group.deregistration_delay();
        group.targets.retain(|t| !t.drained(delay, now));
    }
}

pub async fn register(
    app: &App,
    input: wire::RegisterTargetsInput,
    now: f64,
) -> Result<wire::RegisterTargetsOutput, ApiError> {
    app.records
        .change(|state| {
            purge_drained(state, now);
            let group = state.target_groups.get(&input.target_group_arn).ok_or_else(crate::tg_not_found)?;
            let wanted = addressed(group, &input.targets)?;
            for (id, _) in &wanted {
                let valid = match group.target_type {
                    TargetType::Instance => app.instances.instance(id).is_some(),
                    TargetType::Ip => private_ipv4(id),
                };
                if !valid {
                    let message = match group.target_type {
                        TargetType::Instance => format!("The following targets are not valid instances of this region's clusters: '{id}'"),
                        TargetType::Ip => format!("The IP address '{id}' is not a private IPv4 address (RFC 1918 or RFC 6598)"),
                    };
                    return Err(ApiError::new(ErrorCode::InvalidTarget, message));
                }
            }
            let group = state.target_groups.get_mut(&input.target_group_arn).ok_or_else(crate::tg_not_found)?;
            for (id, port) in wanted {
                group.add_target(id, port, now);
            }
            if group.targets.len() > MAX_TARGETS {
                return Err(ApiError::new(ErrorCode::TooManyTargets, format!("A target group can have at most {MAX_TARGETS} targets")));
            }
            Ok(())
        })
        .await?;
    Ok(wire::RegisterTargetsOutput {})
}

pub async fn deregister(
    app: &App,
    input: wire::DeregisterTargetsInput,
    now: f64,
) -> Result<wire::DeregisterTargetsOutput, ApiError> {
    app.records
        .change(|state| {
            purge_drained(state, now);
            let in_use = !state.load_balancers_of(&input.target_group_arn).is_empty();
            let group = state
                .target_groups
                .get_mut(&input.target_group_arn)
                .ok_or_else(crate::tg_not_found)?;
            let wanted = addressed(group, &input.targets)?;
            let missing: Vec<String> = wanted
                .iter()
                .filter(|(id, port)| !group.targets.iter().any(|t| &t.id == id && t.port == *port))
                .map(|(id, _)| format!("'{id}'"))
                .collect();
            if !missing.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::InvalidTarget,
                    format!(
                        "The following targets are not registered in target group '{}': {}",
                        group.arn,
                        missing.join(", ")
                    ),
                ));
            }
            for (id, port) in wanted {
                group.remove_target(&id, port, in_use, now);
            }
            Ok(())
        })
        .await?;
    Ok(wire::DeregisterTargetsOutput {})
}

pub fn describe_health(
    app: &App,
    input: wire::DescribeTargetHealthInput,
    now: f64,
) -> Result<wire::DescribeTargetHealthOutput, ApiError> {
    let state = app.records.snapshot();
    let group = state.target_groups.get(&input.target_group_arn).ok_or_else(crate::tg_not_found)?;
    let live: Vec<&Target> = group.live_targets(now).collect();
    let asked: Vec<(String, u16)> = match &input.targets {
        Some(targets) if !targets.is_empty() => addressed(group, targets)?,
        _ => live.iter().map(|t| (t.id.clone(), t.port)).collect(),
    };
    let in_use = !state.load_balancers_of(&group.arn).is_empty();
    let descriptions = asked
        .into_iter()
        .map(|(id, port)| {
            let target = live.iter().find(|t| t.id == id && t.port == port);
            let (state, reason, description) = match target {
                None => (
                    "unused",
                    Some("Target.NotRegistered"),
                    Some("Target is not registered to the target group".to_string()),
                ),
                Some(t) if t.draining_since.is_some() => (
                    "draining",
                    Some("Target.DeregistrationInProgress"),
                    Some("Target deregistration is in progress".into()),
                ),
                Some(_) if !in_use => (
                    "unused",
                    Some("Target.NotInUse"),
                    Some(
                        "Target group is not configured to receive traffic from the load balancer"
                            .into(),
                    ),
                ),
                Some(_) if !group.health_check.enabled => (
                    "unavailable",
                    Some("Target.HealthCheckDisabled"),
                    Some("Health checks are disabled".into()),
                ),
                Some(_)
                    if group.target_type == TargetType::Instance
                        && app.instances.instance(&id).is_none() =>
                {
                    (
                        "unused",
                        Some("Target.InvalidState"),
                        Some("Target is in the stopped state".into()),
                    )
                }
                Some(_) => match app.health.verdict(&(group.arn.clone(), id.clone(), port)) {
                    Some(verdict) => verdict.describe(),
                    None => (
                        "initial",
                        Some("Elb.RegistrationInProgress"),
                        Some("Target registration is in progress".into()),
                    ),
                },
            };
            wire::TargetHealthDescription {
                target: Some(wire::TargetDescription {
                    id,
                    port: Some(i32::from(port)),
                    ..Default::default()
                }),
                health_check_port: Some(group.health_check.port.unwrap_or(port).to_string()),
                target_health: Some(wire::TargetHealth {
                    state: Some(state.into()),
                    reason: reason.map(str::to_string),
                    description,
                }),
                ..Default::default()
            }
        })
        .collect();
    Ok(wire::DescribeTargetHealthOutput { target_health_descriptions: Some(descriptions) })
}

/// A target as ECS names the ones it registers for services: (target group ARN, id, port).
pub type ServiceTarget = (String, String, u16);

/// ECS's registrations for its services' tasks, in one change: `register` added (a draining
/// one brought back), `deregister` made to drain (or removed, where nothing uses its group).
/// Targets of groups deleted meanwhile are skipped: there is nothing to keep them in.
pub async fn sync_for_services(
    app: &App,
    register: &[ServiceTarget],
    deregister: &[ServiceTarget],
    now: f64,
) -> Result<(), ApiError> {
    app.records
        .change(|state| {
            purge_drained(state, now);
            for (arn, id, port) in deregister {
                let in_use = !state.load_balancers_of(arn).is_empty();
                if let Some(group) = state.target_groups.get_mut(arn) {
                    group.remove_target(id, *port, in_use, now);
                }
            }
            for (arn, id, port) in register {
                if let Some(group) = state.target_groups.get_mut(arn) {
                    group.add_target(id.clone(), *port, now);
                }
            }
            Ok(())
        })
        .await
}

/// Whether a target is registered and serving (not draining) now.
pub fn serving(app: &App, (arn, id, port): &ServiceTarget, now: f64) -> bool {
    let state = app.records.snapshot();
    state.target_groups.get(arn).is_some_and(|group| {
        group
            .live_targets(now)
            .any(|t| &t.id == id && t.port == *port && t.draining_since.is_none())
    })
}

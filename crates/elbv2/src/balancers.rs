//! Load balancers: CreateLoadBalancer (an address of its own from `--lb-addresses`, subnets and
//! security groups checked against EC2's records), Describe, Delete (deletion protection
//! honoured) and their attributes.

use std::collections::BTreeMap;

use flotilla_api::dns::{RecordData, RecordSet, Routing};
use flotilla_api::{ApiError, ErrorCode};

use crate::attributes;
use crate::health::Serving;
use crate::model::{LoadBalancer, LoadBalancerType, State};
use crate::{check_name, new_id, page, tags, validation, wire, App};

pub async fn create(
    app: &App,
    input: wire::CreateLoadBalancerInput,
    now: f64,
) -> Result<wire::CreateLoadBalancerOutput, ApiError> {
    check_name(&input.name, "Load balancer")?;
    if input.name.starts_with("internal-") {
        return Err(validation("Load balancer names cannot start with 'internal-'"));
    }
    let tags = tags::checked(input.tags.unwrap_or_default())?;
    // Other types (gateway) are refused by the field ledger.
    let kind = match input.r#type.as_deref() {
        Some("network") => LoadBalancerType::Network,
        _ => LoadBalancerType::Application,
    };
    let scheme = input.scheme.unwrap_or_else(|| "internet-facing".into());
    let subnet_ids: Vec<String> = match (input.subnets, input.subnet_mappings) {
        (Some(_), Some(_)) => {
            return Err(validation("You can specify subnets or subnet mappings, not both"))
        }
        (Some(subnets), None) => subnets,
        (None, Some(mappings)) => mappings.into_iter().filter_map(|m| m.subnet_id).collect(),
        (None, None) => Vec::new(),
    };
    if subnet_ids.is_empty() {
        return Err(validation("At least one subnet must be specified"));
    }
    let vpc = app.vpc().await?;
    let mut subnets: Vec<(String, String)> = Vec::new();
    for id in &subnet_ids {
        let Some((_, zone)) = vpc.subnets.iter().find(|(s, _)| s == id) else {
            return Err(ApiError::new(
                ErrorCode::SubnetNotFound,
                format!("The subnet ID '{id}' is not valid"),
            ));
        };
        if subnets.iter().any(|(z, s)| z == zone && s != id) {
            return Err(ApiError::new(
                ErrorCode::InvalidConfigurationRequest,
                "A load balancer cannot be attached to multiple subnets in the same Availability Zone",
            ));
        }
        if !subnets.iter().any(|(_, s)| s == id) {
            subnets.push((zone.clone(), id.clone()));
        }
    }
    subnets.sort();
    let security_groups = match input.security_groups {
        Some(groups) if !groups.is_empty() => {
            if let Some(bad) = groups.iter().find(|g| !vpc.groups.contains(g)) {
                return Err(ApiError::new(
                    ErrorCode::InvalidSecurityGroup,
                    format!("One or more security groups are invalid: '{bad}'"),
                ));
            }
            groups
        }
        _ => vec![vpc.default_group.clone()],
    };
    let address = app.addresses.take().ok_or_else(|| {
        ApiError::new(
            ErrorCode::TooManyLoadBalancers,
            "You've reached the limit on the number of load balancers: every address of the server's --lb-addresses is taken",
        )
    })?;
    let id = new_id();
    let kind_part = match kind {
        LoadBalancerType::Application => "app",
        LoadBalancerType::Network => "net",
    };
    let arn = app.arn(&format!("loadbalancer/{kind_part}/{}/{id}", input.name));
    let digits: String = u64::from_str_radix(&id[..12], 16).unwrap_or(0).to_string();
    let prefix = if scheme == "internal" { "internal-" } else { "" };
    let dns_name = format!(
        "{prefix}{}-{}.{}",
        input.name,
        &digits[..digits.len().min(10)],
        dns_zone(&app.scope.region)
    );
    let wanted = LoadBalancer {
        arn: arn.clone(),
        kind,
        name: input.name.clone(),
        scheme,
        vpc_id: vpc.vpc_id.clone(),
        subnets,
        security_groups,
        address,
        dns_name,
        created: now,
        attributes: BTreeMap::new(),
    };
    let result = app
        .records
        .change(|state| {
            if let Some(existing) = state.load_balancers.values().find(|lb| lb.name == input.name)
            {
                // A repeat of the same request answers with what it made.
                let same = (&existing.scheme, &existing.subnets, &existing.security_groups)
                    == (&wanted.scheme, &wanted.subnets, &wanted.security_groups);
                if !same {
                    return Err(ApiError::new(
                        ErrorCode::DuplicateLoadBalancerName,
                        format!("A load balancer with the same name '{}' exists, but with different settings", input.name),
                    ));
                }
                return Ok(existing.clone());
            }
            state.load_balancers.insert(arn.clone(), wanted.clone());
            tags::put(state, &arn, &tags)?;
            Ok(wanted.clone())
        })
        .await;
    match &result {
        Ok(lb) if lb.address == address => {}
        _ => app.addresses.release(address),
    }
    let lb = result?;
    Ok(wire::CreateLoadBalancerOutput { load_balancers: Some(vec![view(app, &lb)]) })
}

pub fn describe(
    app: &App,
    input: wire::DescribeLoadBalancersInput,
) -> Result<wire::DescribeLoadBalancersOutput, ApiError> {
    let state = app.records.snapshot();
    let arns = input.load_balancer_arns.unwrap_or_default();
    let names = input.names.unwrap_or_default();
    if !arns.is_empty() && !names.is_empty() {
        return Err(validation(
            "Load balancer names and load balancer ARNs cannot be specified at the same time",
        ));
    }
    let mut found: Vec<&LoadBalancer> = if !arns.is_empty() {
        arns.iter()
            .map(|a| state.load_balancers.get(a))
            .collect::<Option<_>>()
            .ok_or_else(crate::lb_not_found)?
    } else if !names.is_empty() {
        names
            .iter()
            .map(|n| state.load_balancers.values().find(|lb| &lb.name == n))
            .collect::<Option<_>>()
            .ok_or_else(crate::lb_not_found)?
    } else {
        let mut all: Vec<&LoadBalancer> = state.load_balancers.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    };
    found.dedup_by(|a, b| a.arn == b.arn);
    let (items, next) = page(&found, input.marker.as_deref(), input.page_size)?;
    Ok(wire::DescribeLoadBalancersOutput {
        load_balancers: Some(items.into_iter().map(|lb| view(app, lb)).collect()),
        next_marker: next,
    })
}

pub async fn delete(
    app: &App,
    input: wire::DeleteLoadBalancerInput,
) -> Result<wire::DeleteLoadBalancerOutput, ApiError> {
    let arn = input.load_balancer_arn;
    let removed = app
        .records
        .change(|state| {
            // Deleting what is not there succeeds, as ELB's does.
            let Some(lb) = state.load_balancers.get(&arn) else { return Ok(None) };
            if lb.attributes.get(attributes::DELETION_PROTECTION).map(String::as_str)
                == Some("true")
            {
                return Err(ApiError::new(
                    ErrorCode::OperationNotPermitted,
                    format!("Load balancer '{arn}' cannot be deleted because deletion protection is enabled"),
                ));
            }
            let address = lb.address;
            remove_balancer(state, &arn);
            Ok(Some(address))
        })
        .await?;
    if let Some(address) = removed {
        app.addresses.release(address);
    }
    Ok(wire::DeleteLoadBalancerOutput {})
}

/// Removes a load balancer with its listeners, their rules and every one's tags.
fn remove_balancer(state: &mut State, arn: &str) {
    let listeners: Vec<String> = state.listeners_of(arn).map(|l| l.arn.clone()).collect();
    for listener in &listeners {
        state.remove_listener(listener);
    }
    state.load_balancers.remove(arn);
    state.tags.remove(arn);
}

pub fn describe_attributes(
    app: &App,
    input: wire::DescribeLoadBalancerAttributesInput,
) -> Result<wire::DescribeLoadBalancerAttributesOutput, ApiError> {
    let state = app.records.snapshot();
    let lb = state.load_balancers.get(&input.load_balancer_arn).ok_or_else(crate::lb_not_found)?;
    Ok(wire::DescribeLoadBalancerAttributesOutput {
        attributes: Some(attributes::described(lb.kind.attributes(), &lb.attributes)),
    })
}

pub async fn modify_attributes(
    app: &App,
    input: wire::ModifyLoadBalancerAttributesInput,
) -> Result<wire::ModifyLoadBalancerAttributesOutput, ApiError> {
    let changes = attributes::changes(input.attributes);
    let (of, set) = app
        .records
        .change(|state| {
            let lb = state
                .load_balancers
                .get_mut(&input.load_balancer_arn)
                .ok_or_else(crate::lb_not_found)?;
            let of = lb.kind.attributes();
            attributes::apply(of, &mut lb.attributes, &changes)?;
            Ok((of, lb.attributes.clone()))
        })
        .await?;
    Ok(wire::ModifyLoadBalancerAttributesOutput {
        attributes: Some(attributes::described(of, &set)),
    })
}

/// A load balancer as ELB describes it; its state is what the data plane reports.
fn view(app: &App, lb: &LoadBalancer) -> wire::LoadBalancer {
    let (code, reason) = match app.health.serving(&lb.arn) {
        None => ("provisioning", None),
        Some(Serving::Active) => ("active", None),
        Some(Serving::Impaired(why)) => ("active_impaired", Some(why)),
    };
    wire::LoadBalancer {
        load_balancer_arn: Some(lb.arn.clone()),
        dns_name: Some(lb.dns_name.clone()),
        created_time: Some(lb.created),
        load_balancer_name: Some(lb.name.clone()),
        scheme: Some(lb.scheme.clone()),
        vpc_id: Some(lb.vpc_id.clone()),
        state: Some(wire::LoadBalancerState { code: Some(code.into()), reason }),
        r#type: Some(lb.kind.as_str().into()),
        availability_zones: Some(
            lb.subnets
                .iter()
                .map(|(zone, subnet)| wire::AvailabilityZone {
                    zone_name: Some(zone.clone()),
                    subnet_id: Some(subnet.clone()),
                    load_balancer_addresses: Some(vec![wire::LoadBalancerAddress {
                        ip_address: Some(lb.address.to_string()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                })
                .collect(),
        ),
        security_groups: Some(lb.security_groups.clone()),
        ip_address_type: Some("ipv4".into()),
        ..Default::default()
    }
}

/// The DNS zone of a region's load balancer names (`<name>-<digits>.<zone>`): the region's DNS
/// answers it.
pub fn dns_zone(region: &str) -> String {
    format!("{region}.elb.flotilla.internal")
}

/// What the region's DNS answers for load balancers: each `DNSName`, its address (ELB's
/// records live a minute).
pub fn dns_record_sets(state: &State) -> Vec<RecordSet> {
    state
        .load_balancers
        .values()
        .map(|lb| RecordSet {
            name: lb.dns_name.to_ascii_lowercase(),
            ttl: 60,
            routing: Routing::Multivalue,
            data: RecordData::A(vec![lb.address]),
        })
        .collect()
}

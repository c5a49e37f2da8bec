//! DescribeAvailabilityZones: a region's zones are where its agents are — the
//! `ecs.availability-zone` each announces (`local-a` unless told otherwise).

use crate::wire;
use crate::{check_filter, dry_run, Ctx};
use flotilla_api::{ApiError, ErrorCode};

/// The filter names DescribeAvailabilityZones takes here.
const FILTERS: &[&str] =
    &["zone-name", "zone-id", "region-name", "state", "zone-type", "group-name", "opt-in-status"];

/// A zone's id: stable, and apart from its name as AWS keeps them.
pub(crate) fn zone_id(zone: &str) -> String {
    format!("flt-{zone}")
}

/// A zone as EC2 describes it.
fn zone(region: &str, name: &str) -> wire::AvailabilityZone {
    wire::AvailabilityZone {
        opt_in_status: Some("opt-in-not-required".into()),
        messages: Some(Vec::new()),
        region_name: Some(region.to_string()),
        zone_name: Some(name.to_string()),
        zone_id: Some(zone_id(name)),
        group_name: Some(region.to_string()),
        network_border_group: Some(region.to_string()),
        zone_type: Some("availability-zone".into()),
        parent_zone_name: None,
        parent_zone_id: None,
        group_long_name: None,
        geography: None,
        sub_geography: None,
        state: Some("available".into()),
    }
}

/// The value of `filter` for a zone.
fn field<'z>(zone: &'z wire::AvailabilityZone, filter: &str) -> Option<&'z str> {
    let value = match filter {
        "zone-name" => &zone.zone_name,
        "zone-id" => &zone.zone_id,
        "region-name" => &zone.region_name,
        "state" => &zone.state,
        "zone-type" => &zone.zone_type,
        "group-name" => &zone.group_name,
        _ => &zone.opt_in_status,
    };
    value.as_deref()
}

pub fn describe(
    ctx: &Ctx<'_>,
    request: wire::DescribeAvailabilityZonesRequest,
) -> Result<wire::DescribeAvailabilityZonesResult, ApiError> {
    let wire::DescribeAvailabilityZonesRequest {
        zone_names,
        zone_ids,
        // Every zone here needs no opting in: all of them are the zones.
        all_availability_zones: _,
        dry_run: dry,
        filters,
    } = request;
    let filters = filters.unwrap_or_default();
    for filter in &filters {
        check_filter(filter.name.as_deref().unwrap_or_default(), FILTERS)?;
    }
    let region = &ctx.app.scope.region;
    let all: Vec<wire::AvailabilityZone> =
        ctx.app.zones.zones().iter().map(|name| zone(region, name)).collect();
    // Named zones must exist, as EC2 requires.
    for name in zone_names.iter().flatten() {
        if !all.iter().any(|z| z.zone_name.as_deref() == Some(name.as_str())) {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueException,
                format!("Invalid availability zone: [{name}]"),
            ));
        }
    }
    for id in zone_ids.iter().flatten() {
        if !all.iter().any(|z| z.zone_id.as_deref() == Some(id.as_str())) {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueException,
                format!("Invalid availability zone ID: [{id}]"),
            ));
        }
    }
    if dry == Some(true) {
        return Err(dry_run());
    }
    let chosen = all
        .into_iter()
        .filter(|z| {
            zone_names.as_ref().is_none_or(|names| {
                names.iter().any(|n| z.zone_name.as_deref() == Some(n.as_str()))
            })
        })
        .filter(|z| {
            zone_ids
                .as_ref()
                .is_none_or(|ids| ids.iter().any(|i| z.zone_id.as_deref() == Some(i.as_str())))
        })
        .filter(|z| {
            filters.iter().all(|f| {
                let name = f.name.as_deref().unwrap_or_default();
                let values = f.values.as_deref().unwrap_or_default();
                field(z, name).is_some_and(|v| values.iter().any(|wanted| wanted == v))
            })
        })
        .collect();
    Ok(wire::DescribeAvailabilityZonesResult { availability_zones: Some(chosen) })
}

//! CreateTags, DeleteTags, DescribeTags over the region's network resources (the VPC, its
//! subnets and security groups), and DescribeNetworkInterfaces, which has nothing to show
//! until task networking gives tasks interfaces.

use flotilla_api::pagination::paginate;
use flotilla_api::{ApiError, ErrorCode};

use crate::network::{Network, Tag};
use crate::wire;
use crate::{check_filter, dry_run, Ctx};

/// At most this many tags per resource, as EC2 allows.
const MAX_TAGS: usize = 50;

/// The kind of a resource id, as DescribeTags names it, if the network has it.
fn resource_type(network: &Network, id: &str) -> Option<&'static str> {
    if id == network.vpc_id {
        Some("vpc")
    } else if network.subnets.values().any(|s| s.id == id)
        || network.created_subnets.contains_key(id)
    {
        Some("subnet")
    } else if id == network.group_id || network.groups.contains_key(id) {
        Some("security-group")
    } else {
        None
    }
}

/// The tags of resource `id`: kept with a created subnet or group, or beside the network for
/// the VPC and the default subnets and group.
fn tags_mut<'n>(network: &'n mut Network, id: &str) -> &'n mut Vec<Tag> {
    if let Some(subnet) = network.created_subnets.get_mut(id) {
        return &mut subnet.tags;
    }
    if let Some(group) = network.groups.get_mut(id) {
        return &mut group.tags;
    }
    network.tags.entry(id.to_string()).or_default()
}

/// Every resource's tags, for DescribeTags and the Describe calls.
pub fn tags_of(network: &Network, id: &str) -> Vec<Tag> {
    if let Some(subnet) = network.created_subnets.get(id) {
        return subnet.tags.clone();
    }
    if let Some(group) = network.groups.get(id) {
        return group.tags.clone();
    }
    network.tags.get(id).cloned().unwrap_or_default()
}

fn not_found(id: &str) -> ApiError {
    let code = match id.split('-').next() {
        Some("vpc") => ErrorCode::InvalidVpcIdNotFound,
        Some("subnet") => ErrorCode::InvalidSubnetIdNotFound,
        Some("sg") => ErrorCode::InvalidGroupNotFound,
        _ => ErrorCode::InvalidParameterValueException,
    };
    ApiError::new(
        code,
        format!("The ID '{id}' does not exist or is not a resource tags can be put on here"),
    )
}

pub async fn create(ctx: &Ctx<'_>, request: wire::CreateTagsRequest) -> Result<(), ApiError> {
    let wire::CreateTagsRequest { dry_run: dry, resources, tags } = request;
    let mut new = Vec::new();
    for tag in tags {
        let key = tag.key.unwrap_or_default();
        if key.is_empty() || key.len() > 127 || key.starts_with("aws:") {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueException,
                format!("Tag key '{key}' is invalid: 1 to 127 characters, not starting with aws:"),
            ));
        }
        new.push(Tag { key, value: tag.value.unwrap_or_default() });
    }
    let zones = ctx.app.zones.zones();
    ctx.app
        .networks
        .change(&zones, |network| {
            if let Some(id) = resources.iter().find(|id| resource_type(network, id).is_none()) {
                return Err(not_found(id));
            }
            if dry == Some(true) {
                return Err(dry_run());
            }
            for id in &resources {
                let tags = tags_mut(network, id);
                for tag in &new {
                    match tags.iter_mut().find(|t| t.key == tag.key) {
                        Some(existing) => existing.value = tag.value.clone(),
                        None => tags.push(tag.clone()),
                    }
                }
                if tags.len() > MAX_TAGS {
                    return Err(ApiError::new(
                        ErrorCode::InvalidParameterValueException,
                        format!(
                            "A resource can have at most {MAX_TAGS} tags; {id} would have more"
                        ),
                    ));
                }
            }
            Ok(())
        })
        .await
}

pub async fn delete(ctx: &Ctx<'_>, request: wire::DeleteTagsRequest) -> Result<(), ApiError> {
    let wire::DeleteTagsRequest { dry_run: dry, resources, tags } = request;
    let zones = ctx.app.zones.zones();
    ctx.app
        .networks
        .change(&zones, |network| {
            if let Some(id) = resources.iter().find(|id| resource_type(network, id).is_none()) {
                return Err(not_found(id));
            }
            if dry == Some(true) {
                return Err(dry_run());
            }
            for id in &resources {
                let current = tags_mut(network, id);
                match &tags {
                    // No tags named: all of them go.
                    None => current.clear(),
                    // A key alone removes it; a key with a value only when the value matches.
                    Some(named) => current.retain(|t| {
                        !named.iter().any(|n| {
                            n.key.as_deref() == Some(t.key.as_str())
                                && n.value.as_ref().is_none_or(|v| *v == t.value)
                        })
                    }),
                }
            }
            Ok(())
        })
        .await
}

pub async fn describe(
    ctx: &Ctx<'_>,
    request: wire::DescribeTagsRequest,
) -> Result<wire::DescribeTagsResult, ApiError> {
    let wire::DescribeTagsRequest { dry_run: dry, filters, max_results, next_token } = request;
    let filters = filters.unwrap_or_default();
    for f in &filters {
        check_filter(
            f.name.as_deref().unwrap_or_default(),
            &["resource-id", "resource-type", "key", "value"],
        )?;
    }
    if let Some(n) = max_results.filter(|n| !(5..=1000).contains(n)) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueException,
            format!("Value ( {n} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000."),
        ));
    }
    if dry == Some(true) {
        return Err(dry_run());
    }
    let network = ctx.network().await?;
    let ids = std::iter::once(network.vpc_id.clone())
        .chain(network.subnets.values().map(|s| s.id.clone()))
        .chain(network.created_subnets.keys().cloned())
        .chain(std::iter::once(network.group_id.clone()))
        .chain(network.groups.keys().cloned());
    let mut all = Vec::new();
    for id in ids {
        let kind = resource_type(&network, &id).unwrap_or_default();
        for tag in tags_of(&network, &id) {
            let chosen = filters.iter().all(|f| {
                let values = f.values.as_deref().unwrap_or_default();
                let field = match f.name.as_deref().unwrap_or_default() {
                    "resource-id" => id.as_str(),
                    "resource-type" => kind,
                    "key" => tag.key.as_str(),
                    _ => tag.value.as_str(),
                };
                values.iter().any(|v| v == field)
            });
            if chosen {
                let description = wire::TagDescription {
                    key: Some(tag.key.clone()),
                    resource_id: Some(id.clone()),
                    resource_type: Some(kind.to_string()),
                    value: Some(tag.value.clone()),
                };
                all.push((format!("{id}\u{0}{}", tag.key), description));
            }
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let (tags, next) = paginate(all.into_iter(), next_token.as_deref(), max_results, 1000)?;
    Ok(wire::DescribeTagsResult { next_token: next, tags: Some(tags) })
}

//! Tags of load balancers, target groups, listeners and rules: AddTags, RemoveTags,
//! DescribeTags, and the `Tags` of the create operations.

use flotilla_api::{ApiError, ErrorCode};

use crate::model::{State, Tag};
use crate::{validation, wire, App};

/// ELB's limit of tags per resource.
const MAX_TAGS: usize = 50;

/// Request tags checked: keys 1–128 characters, not `aws:`, none twice.
pub fn checked(tags: Vec<wire::Tag>) -> Result<Vec<Tag>, ApiError> {
    let mut out: Vec<Tag> = Vec::new();
    for tag in tags {
        if tag.key.is_empty() || tag.key.chars().count() > 128 || tag.key.starts_with("aws:") {
            return Err(validation(format!("Tag key '{}' is not valid", tag.key)));
        }
        if tag.value.as_ref().is_some_and(|v| v.chars().count() > 256) {
            return Err(validation(format!(
                "The value of tag '{}' is longer than 256 characters",
                tag.key
            )));
        }
        if out.iter().any(|t| t.key == tag.key) {
            return Err(ApiError::new(
                ErrorCode::DuplicateTagKeys,
                format!("A tag key was specified more than once. Tag key: {}", tag.key),
            ));
        }
        out.push(Tag { key: tag.key, value: tag.value });
    }
    Ok(out)
}

/// Sets `tags` on `arn` (a tag of the same key is replaced), within ELB's limit.
pub fn put(state: &mut State, arn: &str, tags: &[Tag]) -> Result<(), ApiError> {
    if tags.is_empty() {
        return Ok(());
    }
    let held = state.tags.entry(arn.to_string()).or_default();
    for tag in tags {
        match held.iter_mut().find(|t| t.key == tag.key) {
            Some(existing) => existing.value = tag.value.clone(),
            None => held.push(tag.clone()),
        }
    }
    if held.len() > MAX_TAGS {
        return Err(ApiError::new(
            ErrorCode::TooManyTags,
            format!("The quota for the number of tags that can be assigned to a resource has been reached ({MAX_TAGS})"),
        ));
    }
    Ok(())
}

/// Checks that `arn` names a resource of `state`, with the error of its kind.
fn check_exists(state: &State, arn: &str) -> Result<(), ApiError> {
    let exists = state.load_balancers.contains_key(arn)
        || state.target_groups.contains_key(arn)
        || state.listeners.contains_key(arn)
        || state.rules.contains_key(arn);
    if exists {
        return Ok(());
    }
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    Err(if resource.starts_with("targetgroup/") {
        crate::tg_not_found()
    } else if resource.starts_with("listener-rule/") {
        crate::rule_not_found()
    } else if resource.starts_with("listener/") {
        crate::listener_not_found()
    } else if resource.starts_with("loadbalancer/") {
        crate::lb_not_found()
    } else {
        validation(format!(
            "'{arn}' is not a valid load balancer, target group, listener or rule ARN"
        ))
    })
}

pub async fn add(app: &App, input: wire::AddTagsInput) -> Result<wire::AddTagsOutput, ApiError> {
    let tags = checked(input.tags)?;
    app.records
        .change(|state| {
            for arn in &input.resource_arns {
                check_exists(state, arn)?;
                put(state, arn, &tags)?;
            }
            Ok(())
        })
        .await?;
    Ok(wire::AddTagsOutput {})
}

pub async fn remove(
    app: &App,
    input: wire::RemoveTagsInput,
) -> Result<wire::RemoveTagsOutput, ApiError> {
    app.records
        .change(|state| {
            for arn in &input.resource_arns {
                check_exists(state, arn)?;
                if let Some(held) = state.tags.get_mut(arn) {
                    held.retain(|t| !input.tag_keys.contains(&t.key));
                    if held.is_empty() {
                        state.tags.remove(arn);
                    }
                }
            }
            Ok(())
        })
        .await?;
    Ok(wire::RemoveTagsOutput {})
}

pub fn describe(
    app: &App,
    input: wire::DescribeTagsInput,
) -> Result<wire::DescribeTagsOutput, ApiError> {
    if input.resource_arns.len() > 20 {
        return Err(validation("At most 20 resource ARNs can be described at once"));
    }
    let state = app.records.snapshot();
    let mut out = Vec::new();
    for arn in &input.resource_arns {
        check_exists(&state, arn)?;
        out.push(wire::TagDescription {
            resource_arn: Some(arn.clone()),
            tags: Some(wire_tags(state.tags.get(arn).map(Vec::as_slice).unwrap_or_default())),
        });
    }
    Ok(wire::DescribeTagsOutput { tag_descriptions: Some(out) })
}

fn wire_tags(tags: &[Tag]) -> Vec<wire::Tag> {
    tags.iter().map(|t| wire::Tag { key: t.key.clone(), value: t.value.clone() }).collect()
}

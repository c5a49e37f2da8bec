//! Tags of parameters: AddTagsToResource, RemoveTagsFromResource, ListTagsForResource (the
//! `Parameter` resource type; the ledger refuses the others with `InvalidResourceType`).

use std::collections::BTreeMap;

use crate::error::SsmError;
use crate::model::{ParameterStore, MAX_TAGS};
use crate::parameters::whole;
use crate::{wire, App};

/// A tag key or value's characters, as the model's pattern `[\p{L}\p{Z}\p{N}_.:/=+\-@]*` has
/// them.
fn tag_char(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || (c.is_whitespace() && !c.is_control())
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

/// Tags checked as AWS checks them (every problem named), by key; a key given twice keeps its
/// last value.
pub(crate) fn checked(tags: Vec<wire::Tag>) -> Result<BTreeMap<String, String>, SsmError> {
    let mut problems = Vec::new();
    let mut out = BTreeMap::new();
    for tag in tags {
        let key_chars = tag.key.chars().count();
        if key_chars == 0 || key_chars > 128 || !tag.key.chars().all(tag_char) {
            problems.push(format!(
                "the tag key '{}' is not 1 to 128 letters, digits, spaces or _.:/=+-@",
                tag.key
            ));
        } else if tag.key.to_ascii_lowercase().starts_with("aws:") {
            problems.push(format!("the tag key '{}' uses the reserved prefix aws:", tag.key));
        }
        if tag.value.chars().count() > 256 || !tag.value.chars().all(tag_char) {
            problems.push(format!(
                "the value of tag '{}' is not at most 256 letters, digits, spaces or _.:/=+-@",
                tag.key
            ));
        }
        out.insert(tag.key, tag.value);
    }
    if !problems.is_empty() {
        return Err(SsmError::Validation(problems.join("; ")));
    }
    if out.len() > MAX_TAGS {
        return Err(SsmError::TooManyTags(out.len()));
    }
    Ok(out)
}

/// The key of the parameter a tagging request names.
fn resource(app: &App, state: &ParameterStore, kind: &str, id: &str) -> Result<String, SsmError> {
    if kind != "Parameter" {
        return Err(SsmError::InvalidResourceType(format!(
            "The resource type {kind} is not valid: this server tags parameters (Parameter)"
        )));
    }
    whole(app, id).filter(|key| state.parameters.contains_key(key)).ok_or_else(|| {
        SsmError::InvalidResourceId(format!(
            "The resource ID {id} isn't valid. Verify that you entered the correct ID and try again."
        ))
    })
}

pub async fn add(
    app: &App,
    input: wire::AddTagsToResourceRequest,
) -> Result<wire::AddTagsToResourceResult, SsmError> {
    let tags = checked(input.tags)?;
    app.change(|state| {
        let key = resource(app, state, &input.resource_type, &input.resource_id)?;
        let parameter = state
            .parameters
            .get_mut(&key)
            .ok_or_else(|| SsmError::Internal("a parameter vanished under its lock".into()))?;
        parameter.tags.extend(tags);
        if parameter.tags.len() > MAX_TAGS {
            return Err(SsmError::TooManyTags(parameter.tags.len()));
        }
        Ok(())
    })
    .await?;
    Ok(wire::AddTagsToResourceResult {})
}

pub async fn remove(
    app: &App,
    input: wire::RemoveTagsFromResourceRequest,
) -> Result<wire::RemoveTagsFromResourceResult, SsmError> {
    app.change(|state| {
        let key = resource(app, state, &input.resource_type, &input.resource_id)?;
        if let Some(parameter) = state.parameters.get_mut(&key) {
            parameter.tags.retain(|k, _| !input.tag_keys.contains(k));
        }
        Ok(())
    })
    .await?;
    Ok(wire::RemoveTagsFromResourceResult {})
}

pub fn list(
    app: &App,
    input: wire::ListTagsForResourceRequest,
) -> Result<wire::ListTagsForResourceResult, SsmError> {
    let state = app.records.snapshot();
    let key = resource(app, &state, &input.resource_type, &input.resource_id)?;
    let tags = state.parameters.get(&key).map(|p| p.tags.clone()).unwrap_or_default();
    Ok(wire::ListTagsForResourceResult {
        tag_list: Some(tags.into_iter().map(|(key, value)| wire::Tag { key, value }).collect()),
    })
}

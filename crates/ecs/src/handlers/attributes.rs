//! PutAttributes, DeleteAttributes, ListAttributes: custom attributes of container instances
//! (the only target type ECS has), which placement's `attribute:<name>` reads.

use flotilla_api::arn::id_from;
use flotilla_api::common::decode;
use flotilla_api::pagination::paginate;
use flotilla_api::status::InstanceStatus;
use flotilla_api::taskdef::Attribute;
use flotilla_api::{ApiError, ErrorCode};

use super::{respond, Ctx};
use crate::convert::{attribute_from_wire, attribute_to_wire};
use crate::domain::active_cluster;
use crate::state::{instance_key, InstanceRecord, Record, Staged};
use crate::wire::{
    DeleteAttributesRequest, DeleteAttributesResponse, ListAttributesRequest,
    ListAttributesResponse, PutAttributesRequest, PutAttributesResponse,
};

pub const TARGET_TYPE: &str = "container-instance";
/// ECS: at most 10 custom attributes per resource, and per call.
const MAX_CUSTOM: usize = 10;
const MAX_LEN: usize = 128;

pub async fn put(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: PutAttributesRequest = decode(body)?;
    let attributes: Vec<Attribute> = req.attributes.into_iter().map(attribute_from_wire).collect();
    check_batch(&attributes)?;
    for attribute in &attributes {
        check_name(&attribute.name)?;
        if let Some(value) = &attribute.value {
            check_value(value)?;
        }
    }
    let written = ctx
        .app
        .state
        .write(move |staged| {
            change_targets(staged, req.cluster.as_deref(), attributes, |record, attribute| {
                record.custom_attributes.retain(|a| a.name != attribute.name);
                record.custom_attributes.push(Attribute {
                    name: attribute.name.clone(),
                    value: attribute.value.clone(),
                    ..Attribute::default()
                });
                if record.custom_attributes.len() > MAX_CUSTOM {
                    return Err(ApiError::new(
                        ErrorCode::AttributeLimitExceededException,
                        format!(
                            "container instance {} would have more than {MAX_CUSTOM} custom attributes",
                            record.id
                        ),
                    ));
                }
                Ok(attribute.value.clone())
            })
        })
        .await?;
    respond(&PutAttributesResponse {
        attributes: Some(written.into_iter().map(attribute_to_wire).collect()),
    })
}

pub async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: DeleteAttributesRequest = decode(body)?;
    let attributes: Vec<Attribute> = req.attributes.into_iter().map(attribute_from_wire).collect();
    check_batch(&attributes)?;
    let deleted = ctx
        .app
        .state
        .write(move |staged| {
            change_targets(staged, req.cluster.as_deref(), attributes, |record, attribute| {
                let value = record
                    .instance
                    .attributes
                    .iter()
                    .find(|a| a.name == attribute.name)
                    .and_then(|a| a.value.clone());
                // Only custom attributes go; an agent's own value (if it announced the name)
                // shows again.
                record.custom_attributes.retain(|a| a.name != attribute.name);
                Ok(value)
            })
        })
        .await?;
    respond(&DeleteAttributesResponse {
        attributes: Some(deleted.into_iter().map(attribute_to_wire).collect()),
    })
}

pub fn list(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: ListAttributesRequest = decode(body)?;
    if req.target_type != TARGET_TYPE {
        return Err(ApiError::invalid(format!(
            "targetType must be {TARGET_TYPE}, not '{}'",
            req.target_type
        )));
    }
    if req.attribute_value.is_some() && req.attribute_name.is_none() {
        return Err(ApiError::invalid("attributeValue can only be given with attributeName"));
    }
    let state = ctx.app.state.read();
    let cluster = active_cluster(&Staged::read_only(&state), req.cluster.as_deref())?.cluster_name;
    let items = state
        .instances
        .range((cluster.clone(), String::new())..)
        .take_while(|((c, _), _)| *c == cluster)
        .map(|(_, i)| i)
        .filter(|i| i.instance.status != InstanceStatus::Inactive)
        .flat_map(|i| {
            i.instance
                .attributes
                .iter()
                .map(move |a| (format!("{}/{}", i.id, a.name), shown(i, &a.name, a.value.clone())))
        })
        .filter(|(_, a)| req.attribute_name.as_ref().is_none_or(|n| *n == a.name))
        .filter(|(_, a)| req.attribute_value.as_ref().is_none_or(|v| Some(v) == a.value.as_ref()));
    let (attributes, next_token) =
        paginate(items, req.next_token.as_deref(), req.max_results, 100)?;
    respond(&ListAttributesResponse {
        attributes: Some(attributes.into_iter().map(attribute_to_wire).collect()),
        next_token,
    })
}

/// Applies `change` to each attribute's target instance (each instance loaded once), then
/// stores the changed instances with their attributes merged again. Answers the attributes as
/// the API shows them, with the value `change` returns.
fn change_targets(
    staged: &mut Staged<'_>,
    cluster: Option<&str>,
    attributes: Vec<Attribute>,
    mut change: impl FnMut(&mut InstanceRecord, &Attribute) -> Result<Option<String>, ApiError>,
) -> Result<Vec<Attribute>, ApiError> {
    let cluster = active_cluster(staged, cluster)?.cluster_name;
    let mut touched: Vec<InstanceRecord> = Vec::new();
    let mut out = Vec::new();
    for attribute in attributes {
        let target = attribute.target_id.as_deref().ok_or_else(|| {
            ApiError::invalid(format!("attribute {}: targetId is required", attribute.name))
        })?;
        let record = target_in(staged, &mut touched, &cluster, target)?;
        let value = change(record, &attribute)?;
        out.push(shown(record, &attribute.name, value));
    }
    for mut record in touched {
        record.merge_attributes();
        record.instance.version += 1;
        staged.put(Record::Instance(Box::new(record)));
    }
    Ok(out)
}

/// An attribute as the API returns it: with its target.
fn shown(record: &InstanceRecord, name: &str, value: Option<String>) -> Attribute {
    Attribute {
        name: name.to_string(),
        value,
        target_type: Some(TARGET_TYPE.into()),
        target_id: Some(record.instance.container_instance_arn.clone()),
    }
}

/// The instance a target names, loaded once per change into `touched`.
fn target_in<'t>(
    staged: &Staged<'_>,
    touched: &'t mut Vec<InstanceRecord>,
    cluster: &str,
    target: &str,
) -> Result<&'t mut InstanceRecord, ApiError> {
    let id = id_from(target);
    if let Some(n) = touched.iter().position(|r| r.id == id) {
        return Ok(&mut touched[n]);
    }
    match staged.get(&instance_key(cluster, id)) {
        Some(Record::Instance(record)) if record.instance.status != InstanceStatus::Inactive => {
            touched.push(*record);
            let last = touched.len() - 1;
            Ok(&mut touched[last])
        }
        _ => Err(ApiError::new(
            ErrorCode::TargetNotFoundException,
            format!("Could not find {target} in cluster {cluster}."),
        )),
    }
}

fn check_batch(attributes: &[Attribute]) -> Result<(), ApiError> {
    if attributes.is_empty() || attributes.len() > MAX_CUSTOM {
        return Err(ApiError::invalid(format!(
            "attributes must hold 1 to {MAX_CUSTOM} attributes, not {}",
            attributes.len()
        )));
    }
    for attribute in attributes {
        if attribute.target_type.as_deref().is_some_and(|t| t != TARGET_TYPE) {
            return Err(ApiError::invalid(format!("targetType must be {TARGET_TYPE}")));
        }
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_LEN
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_/\\.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "attribute name '{name}' must be 1 to {MAX_LEN} letters, numbers, hyphens, underscores, slashes, backslashes or periods"
        )))
    }
}

fn check_value(value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_LEN
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@/\\: ".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "attribute value '{value}' must be 1 to {MAX_LEN} letters, numbers, hyphens, underscores, periods, at signs, slashes, backslashes, colons or inner spaces"
        )))
    }
}

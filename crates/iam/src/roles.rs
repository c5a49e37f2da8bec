//! Roles: who may assume them (the trust policy), for how long, and their tags.

use serde_json::{json, Value};

use crate::documents::check_trust_document;
use crate::error::IamError;
use crate::model::{Permissions, Role};
use crate::names::{check_name, check_tags, encoded_document, merge_tags, path_or_root, unique_id};
use crate::paging::page;
use crate::users::{tags_in, tags_out};
use crate::{wire, App};

pub(crate) fn role_out(app: &App, role: &Role, with_tags: bool) -> wire::Role {
    wire::Role {
        path: role.path.clone(),
        role_name: role.name.clone(),
        role_id: role.id.clone(),
        arn: app.arn("role", &role.path, &role.name),
        create_date: role.created,
        assume_role_policy_document: Some(encoded_document(&role.trust)),
        description: role.description.clone(),
        max_session_duration: Some(role.max_session_duration),
        permissions_boundary: None,
        tags: (with_tags && !role.tags.is_empty()).then(|| tags_out(&role.tags)),
        role_last_used: None,
    }
}

fn missing(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The role with name {name} cannot be found."))
}

pub async fn create(
    app: &App,
    input: wire::CreateRoleRequest,
    now: f64,
) -> Result<wire::CreateRoleResponse, IamError> {
    check_name("roleName", &input.role_name, 64)?;
    let path = path_or_root(input.path)?;
    check_trust_document(&input.assume_role_policy_document)?;
    let max_session_duration = input.max_session_duration.unwrap_or(3600);
    if !(3600..=43200).contains(&max_session_duration) {
        return Err(IamError::Validation(format!(
            "1 validation error detected: Value '{max_session_duration}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200 and greater than or equal to 3600"
        )));
    }
    if input.description.as_ref().is_some_and(|d| d.chars().count() > 1000) {
        return Err(IamError::Validation(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000".into(),
        ));
    }
    let tags = tags_in(input.tags);
    check_tags(&tags)?;
    let id = unique_id("AROA")?;
    let role = app
        .change(|account| {
            let key = input.role_name.to_lowercase();
            if account.roles.contains_key(&key) {
                return Err(IamError::EntityAlreadyExists(format!(
                    "Role with name {} already exists.",
                    input.role_name
                )));
            }
            let role = Role {
                name: input.role_name.clone(),
                id,
                path,
                created: now,
                trust: input.assume_role_policy_document.clone(),
                description: input.description.clone(),
                max_session_duration,
                tags,
                permissions: Permissions::default(),
            };
            account.roles.insert(key, role.clone());
            Ok(role)
        })
        .await?;
    Ok(wire::CreateRoleResponse { role: role_out(app, &role, true) })
}

pub fn get(app: &App, input: wire::GetRoleRequest) -> Result<wire::GetRoleResponse, IamError> {
    let account = app.account.snapshot();
    let role = account
        .roles
        .get(&input.role_name.to_lowercase())
        .ok_or_else(|| missing(&input.role_name))?;
    Ok(wire::GetRoleResponse { role: role_out(app, role, true) })
}

pub fn list(app: &App, input: wire::ListRolesRequest) -> Result<wire::ListRolesResponse, IamError> {
    let account = app.account.snapshot();
    let prefix = input.path_prefix.unwrap_or_else(|| "/".into());
    let roles: Vec<wire::Role> = account
        .roles
        .values()
        .filter(|r| r.path.starts_with(&prefix))
        .map(|r| role_out(app, r, false))
        .collect();
    let page = page(roles, input.marker.as_deref(), input.max_items)?;
    Ok(wire::ListRolesResponse {
        roles: page.items,
        is_truncated: Some(page.is_truncated),
        marker: page.marker,
    })
}

pub async fn delete(app: &App, input: wire::DeleteRoleRequest) -> Result<Value, IamError> {
    app.change(|account| {
        let key = input.role_name.to_lowercase();
        let role = account.roles.get(&key).ok_or_else(|| missing(&input.role_name))?;
        let conflict = |what: &str| {
            Err(IamError::DeleteConflict(format!("Cannot delete entity, must {what} first.")))
        };
        if !role.permissions.inline.is_empty() {
            return conflict("delete policies");
        }
        if !role.permissions.attached.is_empty() {
            return conflict("detach all policies");
        }
        account.roles.remove(&key);
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub async fn update_trust(
    app: &App,
    input: wire::UpdateAssumeRolePolicyRequest,
) -> Result<Value, IamError> {
    check_trust_document(&input.policy_document)?;
    app.change(|account| {
        let role = account
            .roles
            .get_mut(&input.role_name.to_lowercase())
            .ok_or_else(|| missing(&input.role_name))?;
        role.trust = input.policy_document.clone();
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub async fn tag(app: &App, input: wire::TagRoleRequest) -> Result<Value, IamError> {
    let added = tags_in(Some(input.tags));
    check_tags(&added)?;
    app.change(|account| {
        let role = account
            .roles
            .get_mut(&input.role_name.to_lowercase())
            .ok_or_else(|| missing(&input.role_name))?;
        merge_tags(&mut role.tags, added);
        check_tags(&role.tags)
    })
    .await?;
    Ok(json!({}))
}

pub async fn untag(app: &App, input: wire::UntagRoleRequest) -> Result<Value, IamError> {
    app.change(|account| {
        let role = account
            .roles
            .get_mut(&input.role_name.to_lowercase())
            .ok_or_else(|| missing(&input.role_name))?;
        role.tags.retain(|t| !input.tag_keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub fn list_tags(
    app: &App,
    input: wire::ListRoleTagsRequest,
) -> Result<wire::ListRoleTagsResponse, IamError> {
    let account = app.account.snapshot();
    let role = account
        .roles
        .get(&input.role_name.to_lowercase())
        .ok_or_else(|| missing(&input.role_name))?;
    let page = page(tags_out(&role.tags), input.marker.as_deref(), input.max_items)?;
    Ok(wire::ListRoleTagsResponse {
        tags: page.items,
        is_truncated: Some(page.is_truncated),
        marker: page.marker,
    })
}

//! Groups and their members.

use serde_json::{json, Value};

use crate::error::IamError;
use crate::model::{Group, Permissions};
use crate::names::{check_name, path_or_root, unique_id};
use crate::paging::page;
use crate::users::user_out;
use crate::{wire, App};

fn group_out(app: &App, group: &Group) -> wire::Group {
    wire::Group {
        path: group.path.clone(),
        group_name: group.name.clone(),
        group_id: group.id.clone(),
        arn: app.arn("group", &group.path, &group.name),
        create_date: group.created,
    }
}

pub async fn create(
    app: &App,
    input: wire::CreateGroupRequest,
    now: f64,
) -> Result<wire::CreateGroupResponse, IamError> {
    check_name("groupName", &input.group_name, 128)?;
    let path = path_or_root(input.path)?;
    let id = unique_id("AGPA")?;
    let group = app
        .change(|account| {
            let key = input.group_name.to_lowercase();
            if account.groups.contains_key(&key) {
                return Err(IamError::EntityAlreadyExists(format!(
                    "Group with name {} already exists.",
                    input.group_name
                )));
            }
            let group = Group {
                name: input.group_name.clone(),
                id,
                path,
                created: now,
                members: Default::default(),
                permissions: Permissions::default(),
            };
            account.groups.insert(key, group.clone());
            Ok(group)
        })
        .await?;
    Ok(wire::CreateGroupResponse { group: group_out(app, &group) })
}

pub fn get(app: &App, input: wire::GetGroupRequest) -> Result<wire::GetGroupResponse, IamError> {
    let account = app.account.snapshot();
    let group = account
        .groups
        .get(&input.group_name.to_lowercase())
        .ok_or_else(|| IamError::no_such("group", &input.group_name))?;
    let users: Vec<wire::User> = group
        .members
        .iter()
        .filter_map(|m| account.users.get(m))
        .map(|u| user_out(app, u, false))
        .collect();
    let page = page(users, input.marker.as_deref(), input.max_items)?;
    Ok(wire::GetGroupResponse {
        group: group_out(app, group),
        users: page.items,
        is_truncated: Some(page.is_truncated),
        marker: page.marker,
    })
}

pub fn list(
    app: &App,
    input: wire::ListGroupsRequest,
) -> Result<wire::ListGroupsResponse, IamError> {
    let account = app.account.snapshot();
    let prefix = input.path_prefix.unwrap_or_else(|| "/".into());
    let groups: Vec<wire::Group> = account
        .groups
        .values()
        .filter(|g| g.path.starts_with(&prefix))
        .map(|g| group_out(app, g))
        .collect();
    let page = page(groups, input.marker.as_deref(), input.max_items)?;
    Ok(wire::ListGroupsResponse {
        groups: page.items,
        is_truncated: Some(page.is_truncated),
        marker: page.marker,
    })
}

pub async fn delete(app: &App, input: wire::DeleteGroupRequest) -> Result<Value, IamError> {
    app.change(|account| {
        let key = input.group_name.to_lowercase();
        let group = account
            .groups
            .get(&key)
            .ok_or_else(|| IamError::no_such("group", &input.group_name))?;
        let conflict = |what: &str| {
            Err(IamError::DeleteConflict(format!("Cannot delete entity, must {what} first.")))
        };
        if !group.members.is_empty() {
            return conflict("remove users from group");
        }
        if !group.permissions.inline.is_empty() {
            return conflict("delete policies");
        }
        if !group.permissions.attached.is_empty() {
            return conflict("detach all policies");
        }
        account.groups.remove(&key);
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

async fn membership(app: &App, group: &str, user: &str, member: bool) -> Result<Value, IamError> {
    app.change(|account| {
        let user_key = user.to_lowercase();
        if !account.users.contains_key(&user_key) {
            return Err(IamError::no_such("user", user));
        }
        let group = account
            .groups
            .get_mut(&group.to_lowercase())
            .ok_or_else(|| IamError::no_such("group", group))?;
        if member {
            group.members.insert(user_key);
        } else if !group.members.remove(&user_key) {
            return Err(IamError::NoSuchEntity(format!(
                "The user with name {user} cannot be found in group {}.",
                group.name
            )));
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub async fn add_user(app: &App, input: wire::AddUserToGroupRequest) -> Result<Value, IamError> {
    membership(app, &input.group_name, &input.user_name, true).await
}

pub async fn remove_user(
    app: &App,
    input: wire::RemoveUserFromGroupRequest,
) -> Result<Value, IamError> {
    membership(app, &input.group_name, &input.user_name, false).await
}

pub fn list_for_user(
    app: &App,
    input: wire::ListGroupsForUserRequest,
) -> Result<wire::ListGroupsForUserResponse, IamError> {
    let account = app.account.snapshot();
    let key = input.user_name.to_lowercase();
    if !account.users.contains_key(&key) {
        return Err(IamError::no_such("user", &input.user_name));
    }
    let groups: Vec<wire::Group> = account.groups_of(&key).map(|g| group_out(app, g)).collect();
    let page = page(groups, input.marker.as_deref(), input.max_items)?;
    Ok(wire::ListGroupsForUserResponse {
        groups: page.items,
        is_truncated: Some(page.is_truncated),
        marker: page.marker,
    })
}

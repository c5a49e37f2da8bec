//! Users, their tags and their access keys.

use serde_json::{json, Value};

use crate::error::IamError;
use crate::model::{AccessKey, KeyStatus, Permissions, Tag, User};
use crate::names::{check_name, check_tags, key_pair, merge_tags, path_or_root, unique_id};
use crate::paging::page;
use crate::{wire, App};

/// The most access keys a user may have (IAM's quota).
const KEYS_PER_USER: usize = 2;

pub(crate) fn tags_in(tags: Option<Vec<wire::Tag>>) -> Vec<Tag> {
    tags.unwrap_or_default().into_iter().map(|t| Tag { key: t.key, value: t.value }).collect()
}

pub(crate) fn tags_out(tags: &[Tag]) -> Vec<wire::Tag> {
    tags.iter().map(|t| wire::Tag { key: t.key.clone(), value: t.value.clone() }).collect()
}

pub(crate) fn user_out(app: &App, user: &User, with_tags: bool) -> wire::User {
    wire::User {
        path: user.path.clone(),
        user_name: user.name.clone(),
        user_id: user.id.clone(),
        arn: app.arn("user", &user.path, &user.name),
        create_date: user.created,
        password_last_used: None,
        permissions_boundary: None,
        tags: (with_tags && !user.tags.is_empty()).then(|| tags_out(&user.tags)),
    }
}

/// The user a request names, or the caller's own when it names none (as IAM does for the
/// user-scoped operations); `None` for the root.
fn named_or_caller(
    caller: &flotilla_front::Caller,
    named: Option<String>,
) -> Result<Option<String>, IamError> {
    if let Some(name) = named {
        return Ok(Some(name));
    }
    let arn = &caller.principal_arn;
    if arn.ends_with(":root") {
        return Ok(None);
    }
    match arn.split_once(":user/") {
        Some((_, rest)) => Ok(Some(rest.rsplit('/').next().unwrap_or(rest).to_string())),
        None => Err(IamError::Validation(
            "Must specify userName when calling with non-User credentials".into(),
        )),
    }
}

pub async fn create(
    app: &App,
    input: wire::CreateUserRequest,
    now: f64,
) -> Result<wire::CreateUserResponse, IamError> {
    check_name("userName", &input.user_name, 64)?;
    let path = path_or_root(input.path)?;
    let tags = tags_in(input.tags);
    check_tags(&tags)?;
    let id = unique_id("AIDA")?;
    let user = app
        .change(|account| {
            let key = input.user_name.to_lowercase();
            if account.users.contains_key(&key) {
                return Err(IamError::EntityAlreadyExists(format!(
                    "User with name {} already exists.",
                    input.user_name
                )));
            }
            let user = User {
                name: input.user_name.clone(),
                id,
                path,
                created: now,
                tags,
                permissions: Permissions::default(),
            };
            account.users.insert(key, user.clone());
            Ok(user)
        })
        .await?;
    Ok(wire::CreateUserResponse { user: Some(user_out(app, &user, true)) })
}

pub fn get(
    app: &App,
    caller: &flotilla_front::Caller,
    input: wire::GetUserRequest,
) -> Result<Value, IamError> {
    let Some(name) = named_or_caller(caller, input.user_name)? else {
        // The root answers as AWS's root user does: its account id and ARN, no name.
        return Ok(json!({"User": {
            "Path": "/",
            "UserId": app.account_id,
            "Arn": format!("arn:aws:iam::{}:root", app.account_id),
            "CreateDate": 0.0,
        }}));
    };
    let account = app.account.snapshot();
    let user =
        account.users.get(&name.to_lowercase()).ok_or_else(|| IamError::no_such("user", &name))?;
    to_value(wire::GetUserResponse { user: user_out(app, user, true) })
}

pub fn list(app: &App, input: wire::ListUsersRequest) -> Result<wire::ListUsersResponse, IamError> {
    let account = app.account.snapshot();
    let prefix = input.path_prefix.unwrap_or_else(|| "/".into());
    let users: Vec<wire::User> = account
        .users
        .values()
        .filter(|u| u.path.starts_with(&prefix))
        .map(|u| user_out(app, u, false))
        .collect();
    let page = page(users, input.marker.as_deref(), input.max_items)?;
    Ok(wire::ListUsersResponse {
        users: page.items,
        is_truncated: Some(page.is_truncated),
        marker: page.marker,
    })
}

pub async fn delete(app: &App, input: wire::DeleteUserRequest) -> Result<Value, IamError> {
    app.change(|account| {
        let key = input.user_name.to_lowercase();
        let user =
            account.users.get(&key).ok_or_else(|| IamError::no_such("user", &input.user_name))?;
        let conflict = |what: &str| {
            Err(IamError::DeleteConflict(format!("Cannot delete entity, must {what} first.")))
        };
        if account.access_keys.values().any(|k| k.user == key) {
            return conflict("delete access keys");
        }
        if !user.permissions.inline.is_empty() {
            return conflict("delete policies");
        }
        if !user.permissions.attached.is_empty() {
            return conflict("detach all policies");
        }
        if account.groups_of(&key).next().is_some() {
            return conflict("remove user from group");
        }
        account.users.remove(&key);
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub async fn tag(app: &App, input: wire::TagUserRequest) -> Result<Value, IamError> {
    let added = tags_in(Some(input.tags));
    check_tags(&added)?;
    app.change(|account| {
        let user = account
            .users
            .get_mut(&input.user_name.to_lowercase())
            .ok_or_else(|| IamError::no_such("user", &input.user_name))?;
        merge_tags(&mut user.tags, added);
        check_tags(&user.tags)
    })
    .await?;
    Ok(json!({}))
}

pub async fn untag(app: &App, input: wire::UntagUserRequest) -> Result<Value, IamError> {
    app.change(|account| {
        let user = account
            .users
            .get_mut(&input.user_name.to_lowercase())
            .ok_or_else(|| IamError::no_such("user", &input.user_name))?;
        user.tags.retain(|t| !input.tag_keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub fn list_tags(
    app: &App,
    input: wire::ListUserTagsRequest,
) -> Result<wire::ListUserTagsResponse, IamError> {
    let account = app.account.snapshot();
    let user = account
        .users
        .get(&input.user_name.to_lowercase())
        .ok_or_else(|| IamError::no_such("user", &input.user_name))?;
    let page = page(tags_out(&user.tags), input.marker.as_deref(), input.max_items)?;
    Ok(wire::ListUserTagsResponse {
        tags: page.items,
        is_truncated: Some(page.is_truncated),
        marker: page.marker,
    })
}

fn root_keys_refused() -> IamError {
    IamError::NotSupported(
        "The root's access key is the server's own (<data-dir>/credentials); name a UserName: keys of the root are not supported yet".into(),
    )
}

pub async fn create_key(
    app: &App,
    caller: &flotilla_front::Caller,
    input: wire::CreateAccessKeyRequest,
    now: f64,
) -> Result<wire::CreateAccessKeyResponse, IamError> {
    let name = named_or_caller(caller, input.user_name)?.ok_or_else(root_keys_refused)?;
    let (id, secret) = key_pair("AKIA")?;
    let key = app
        .change(|account| {
            let user_key = name.to_lowercase();
            let user =
                account.users.get(&user_key).ok_or_else(|| IamError::no_such("user", &name))?;
            let user_name = user.name.clone();
            if account.access_keys.values().filter(|k| k.user == user_key).count() >= KEYS_PER_USER
            {
                return Err(IamError::LimitExceeded(format!(
                    "Cannot exceed quota for AccessKeysPerUser: {KEYS_PER_USER}"
                )));
            }
            let key =
                AccessKey { id, secret, user: user_key, status: KeyStatus::Active, created: now };
            account.access_keys.insert(key.id.clone(), key.clone());
            Ok((key, user_name))
        })
        .await?;
    let (key, user_name) = key;
    Ok(wire::CreateAccessKeyResponse {
        access_key: wire::AccessKey {
            user_name,
            access_key_id: key.id,
            status: key.status.as_str().into(),
            secret_access_key: key.secret,
            create_date: Some(key.created),
        },
    })
}

pub fn list_keys(
    app: &App,
    caller: &flotilla_front::Caller,
    input: wire::ListAccessKeysRequest,
) -> Result<wire::ListAccessKeysResponse, IamError> {
    let Some(name) = named_or_caller(caller, input.user_name)? else {
        return Ok(wire::ListAccessKeysResponse {
            access_key_metadata: Vec::new(),
            is_truncated: Some(false),
            marker: None,
        });
    };
    let account = app.account.snapshot();
    let user_key = name.to_lowercase();
    let user = account.users.get(&user_key).ok_or_else(|| IamError::no_such("user", &name))?;
    let keys: Vec<wire::AccessKeyMetadata> = account
        .access_keys
        .values()
        .filter(|k| k.user == user_key)
        .map(|k| wire::AccessKeyMetadata {
            user_name: Some(user.name.clone()),
            access_key_id: Some(k.id.clone()),
            status: Some(k.status.as_str().into()),
            create_date: Some(k.created),
        })
        .collect();
    let page = page(keys, input.marker.as_deref(), input.max_items)?;
    Ok(wire::ListAccessKeysResponse {
        access_key_metadata: page.items,
        is_truncated: Some(page.is_truncated),
        marker: page.marker,
    })
}

/// The key `id` of the user named (or the caller): `NoSuchEntity` if that user has no such key.
fn owned_key<'a>(
    account: &'a mut crate::model::Account,
    name: &str,
    id: &str,
) -> Result<&'a mut AccessKey, IamError> {
    let user_key = name.to_lowercase();
    if !account.users.contains_key(&user_key) {
        return Err(IamError::no_such("user", name));
    }
    account.access_keys.get_mut(id).filter(|k| k.user == user_key).ok_or_else(|| {
        IamError::NoSuchEntity(format!("The Access Key with id {id} cannot be found"))
    })
}

pub async fn update_key(
    app: &App,
    caller: &flotilla_front::Caller,
    input: wire::UpdateAccessKeyRequest,
) -> Result<Value, IamError> {
    let name = named_or_caller(caller, input.user_name)?.ok_or_else(root_keys_refused)?;
    let status = match input.status.as_str() {
        "Active" => KeyStatus::Active,
        "Inactive" => KeyStatus::Inactive,
        other => {
            return Err(IamError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
            )))
        }
    };
    app.change(|account| {
        owned_key(account, &name, &input.access_key_id)?.status = status;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub async fn delete_key(
    app: &App,
    caller: &flotilla_front::Caller,
    input: wire::DeleteAccessKeyRequest,
) -> Result<Value, IamError> {
    let name = named_or_caller(caller, input.user_name)?.ok_or_else(root_keys_refused)?;
    app.change(|account| {
        owned_key(account, &name, &input.access_key_id)?;
        account.access_keys.remove(&input.access_key_id);
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub fn key_last_used(
    app: &App,
    input: wire::GetAccessKeyLastUsedRequest,
) -> Result<wire::GetAccessKeyLastUsedResponse, IamError> {
    let account = app.account.snapshot();
    let key = account.access_keys.get(&input.access_key_id).ok_or_else(|| {
        IamError::NoSuchEntity(format!(
            "The Access Key with id {} cannot be found",
            input.access_key_id
        ))
    })?;
    let user_name = account.users.get(&key.user).map(|u| u.name.clone());
    // A key never used answers `N/A` for the service and region, as IAM does.
    let last_used = match app.last_used(&key.id) {
        Some(used) => wire::AccessKeyLastUsed {
            last_used_date: Some(used.at),
            service_name: used.service,
            region: used.region,
        },
        None => wire::AccessKeyLastUsed {
            last_used_date: None,
            service_name: "N/A".into(),
            region: "N/A".into(),
        },
    };
    Ok(wire::GetAccessKeyLastUsedResponse { user_name, access_key_last_used: Some(last_used) })
}

fn to_value(output: impl serde::Serialize) -> Result<Value, IamError> {
    serde_json::to_value(output).map_err(|e| IamError::Internal(format!("cannot encode: {e}")))
}

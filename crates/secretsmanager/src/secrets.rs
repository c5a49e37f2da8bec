//! Secrets themselves: create, describe, list, update, delete with a recovery window,
//! restore, tags.

use std::collections::BTreeMap;

use crate::model::{Secret, Vault, AWSCURRENT};
use crate::versions::{add_version, requested_value, version_id};
use crate::{find, find_mut, page, wire, App, SecretsError};

/// Seconds in a day (recovery windows are in days).
const DAY: f64 = 86_400.0;
/// Most tags a secret carries.
const MAX_TAGS: usize = 50;

/// A secret's name: 1 to 512 of the characters AWS allows.
fn check_name(name: &str) -> Result<(), SecretsError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-!".contains(c);
    if name.is_empty() || name.len() > 512 || !name.chars().all(allowed) {
        return Err(SecretsError::InvalidParameter(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!".into(),
        ));
    }
    Ok(())
}

fn check_description(description: Option<&String>) -> Result<(), SecretsError> {
    match description {
        Some(d) if d.chars().count() > 2048 => Err(SecretsError::InvalidParameter(
            "The description must be at most 2048 characters".into(),
        )),
        _ => Ok(()),
    }
}

/// Six random letters and digits, as AWS ends every secret's ARN with, so a secret deleted and
/// made again under its name has another ARN.
fn arn_suffix() -> Result<String, SecretsError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 6];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| SecretsError::Internal(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect())
}

fn checked_tags(tags: Vec<wire::Tag>) -> Result<Vec<(String, String)>, SecretsError> {
    tags.into_iter()
        .map(|tag| {
            let key = tag.key.unwrap_or_default();
            let value = tag.value.unwrap_or_default();
            if key.is_empty() || key.chars().count() > 128 || key.starts_with("aws:") {
                return Err(SecretsError::InvalidParameter(format!(
                    "The tag key '{key}' is not valid: 1 to 128 characters, not starting with aws:"
                )));
            }
            if value.chars().count() > 256 {
                return Err(SecretsError::InvalidParameter(format!(
                    "The value of tag '{key}' is longer than 256 characters"
                )));
            }
            Ok((key, value))
        })
        .collect()
}

fn put_tags(secret: &mut Secret, tags: Vec<(String, String)>) -> Result<(), SecretsError> {
    for (key, value) in tags {
        match secret.tags.iter_mut().find(|(k, _)| *k == key) {
            Some(held) => held.1 = value,
            None => secret.tags.push((key, value)),
        }
    }
    if secret.tags.len() > MAX_TAGS {
        return Err(SecretsError::LimitExceeded(format!(
            "A secret can have at most {MAX_TAGS} tags"
        )));
    }
    Ok(())
}

fn wire_tags(secret: &Secret) -> Vec<wire::Tag> {
    secret
        .tags
        .iter()
        .map(|(k, v)| wire::Tag { key: Some(k.clone()), value: Some(v.clone()) })
        .collect()
}

pub(crate) async fn create(
    app: &App,
    request: wire::CreateSecretRequest,
    now: f64,
) -> Result<wire::CreateSecretResponse, SecretsError> {
    check_name(&request.name)?;
    check_description(request.description.as_ref())?;
    let value = requested_value(request.secret_string, request.secret_binary)?;
    let tags = checked_tags(request.tags.unwrap_or_default())?;
    let id = version_id(request.client_request_token)?;
    let arn = format!(
        "arn:aws:secretsmanager:{}:{}:secret:{}-{}",
        app.scope.region,
        app.scope.account_id,
        request.name,
        arn_suffix()?
    );
    app.change(now, |vault: &mut Vault| {
        if let Some(existing) = vault.secrets.get_mut(&request.name) {
            if existing.deleted.is_some() {
                return Err(SecretsError::InvalidRequest(
                    "You can't create this secret because a secret with this name is already scheduled for deletion.".into(),
                ));
            }
            // A retried request (same token, same value) answers as the first did.
            if let Some(value) = value.clone().filter(|_| existing.versions.contains_key(&id)) {
                let arn = existing.arn.clone();
                if !add_version(app, existing, id.clone(), value, Vec::new(), now)? {
                    return Ok(wire::CreateSecretResponse {
                        arn: Some(arn),
                        name: Some(request.name.clone()),
                        version_id: Some(id),
                        replication_status: None,
                    });
                }
            }
            return Err(SecretsError::Exists(format!(
                "The operation failed because the secret {} already exists.",
                request.name
            )));
        }
        let mut secret = Secret {
            arn: arn.clone(),
            name: request.name.clone(),
            description: request.description.clone(),
            created: now,
            last_changed: now,
            deleted: None,
            deletion_date: None,
            tags: Vec::new(),
            versions: BTreeMap::new(),
        };
        put_tags(&mut secret, tags)?;
        let version_id = match value {
            Some(value) => {
                add_version(app, &mut secret, id.clone(), value, vec![AWSCURRENT.into()], now)?;
                Some(id)
            }
            None => None,
        };
        vault.secrets.insert(request.name.clone(), secret);
        Ok(wire::CreateSecretResponse {
            arn: Some(arn),
            name: Some(request.name.clone()),
            version_id,
            replication_status: None,
        })
    })
    .await
}

pub(crate) fn describe(
    app: &App,
    request: wire::DescribeSecretRequest,
    now: f64,
) -> Result<wire::DescribeSecretResponse, SecretsError> {
    let vault = app.snapshot();
    let secret = find(&vault, &request.secret_id, now)?;
    Ok(wire::DescribeSecretResponse {
        arn: Some(secret.arn.clone()),
        name: Some(secret.name.clone()),
        description: secret.description.clone(),
        rotation_enabled: Some(false),
        last_changed_date: Some(secret.last_changed),
        deleted_date: secret.deleted,
        tags: Some(wire_tags(secret)),
        version_ids_to_stages: Some(secret.stages_by_version()),
        created_date: Some(secret.created),
        ..Default::default()
    })
}

/// Whether `secret` passes ListSecrets' filter `key` with `values` (a value starting with `!`
/// negates it; names and descriptions match by prefix, as AWS does).
fn passes(secret: &Secret, key: &str, values: &[String]) -> bool {
    values.iter().any(|value| {
        let (negated, value) = match value.strip_prefix('!') {
            Some(v) => (true, v),
            None => (false, value.as_str()),
        };
        let prefix = |text: &str| text.to_lowercase().starts_with(&value.to_lowercase());
        let hit = match key {
            "name" => prefix(&secret.name),
            "description" => secret.description.as_deref().is_some_and(prefix),
            "tag-key" => secret.tags.iter().any(|(k, _)| prefix(k)),
            "tag-value" => secret.tags.iter().any(|(_, v)| prefix(v)),
            _ => {
                prefix(&secret.name)
                    || secret.description.as_deref().is_some_and(prefix)
                    || secret.tags.iter().any(|(k, v)| prefix(k) || prefix(v))
            }
        };
        hit != negated
    })
}

pub(crate) fn list(
    app: &App,
    request: wire::ListSecretsRequest,
    now: f64,
) -> Result<wire::ListSecretsResponse, SecretsError> {
    let vault = app.snapshot();
    let filters = request.filters.unwrap_or_default();
    let include_deleted = request.include_planned_deletion.unwrap_or(false);
    let mut secrets: Vec<&Secret> = vault
        .secrets
        .values()
        .filter(|s| !s.purged(now) && (include_deleted || s.deleted.is_none()))
        .filter(|s| {
            filters.iter().all(|f| {
                passes(s, f.key.as_deref().unwrap_or("all"), f.values.as_deref().unwrap_or(&[]))
            })
        })
        .collect();
    match request.sort_by.as_deref() {
        Some("name") => secrets.sort_by(|a, b| a.name.cmp(&b.name)),
        Some("last-changed-date") => {
            secrets.sort_by(|a, b| a.last_changed.total_cmp(&b.last_changed))
        }
        // created-date, the default (last-accessed-date is refused: access is not kept).
        _ => secrets.sort_by(|a, b| a.created.total_cmp(&b.created).then(a.name.cmp(&b.name))),
    }
    // Descending when asked, or by default once a key is named; else oldest first.
    let descending = match request.sort_order.as_deref() {
        Some("desc") => true,
        Some(_) => false,
        None => request.sort_by.is_some(),
    };
    if descending {
        secrets.reverse();
    }
    let entries: Vec<wire::SecretListEntry> = secrets
        .into_iter()
        .map(|s| wire::SecretListEntry {
            arn: Some(s.arn.clone()),
            name: Some(s.name.clone()),
            description: s.description.clone(),
            rotation_enabled: Some(false),
            last_changed_date: Some(s.last_changed),
            deleted_date: s.deleted,
            tags: Some(wire_tags(s)),
            secret_versions_to_stages: Some(s.stages_by_version()),
            created_date: Some(s.created),
            ..Default::default()
        })
        .collect();
    let (secret_list, next_token) =
        page(&entries, request.next_token.as_deref(), request.max_results)?;
    Ok(wire::ListSecretsResponse { secret_list: Some(secret_list), next_token })
}

pub(crate) async fn update(
    app: &App,
    request: wire::UpdateSecretRequest,
    now: f64,
) -> Result<wire::UpdateSecretResponse, SecretsError> {
    check_description(request.description.as_ref())?;
    let value = requested_value(request.secret_string, request.secret_binary)?;
    let id = version_id(request.client_request_token)?;
    app.change(now, |vault| {
        let secret = find_mut(vault, &request.secret_id, now)?;
        if secret.deleted.is_some() {
            return Err(SecretsError::marked_for_deletion());
        }
        if let Some(description) = &request.description {
            secret.description = Some(description.clone());
            secret.last_changed = now;
        }
        let version_id = match value {
            Some(value) => {
                add_version(app, secret, id.clone(), value, vec![AWSCURRENT.into()], now)?;
                Some(id)
            }
            None => None,
        };
        Ok(wire::UpdateSecretResponse {
            arn: Some(secret.arn.clone()),
            name: Some(secret.name.clone()),
            version_id,
        })
    })
    .await
}

pub(crate) async fn delete(
    app: &App,
    request: wire::DeleteSecretRequest,
    now: f64,
) -> Result<wire::DeleteSecretResponse, SecretsError> {
    let force = request.force_delete_without_recovery.unwrap_or(false);
    let days = match (request.recovery_window_in_days, force) {
        (Some(_), true) => return Err(SecretsError::InvalidParameter(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
                .into(),
        )),
        (_, true) => 0,
        (Some(days), false) if (7..=30).contains(&days) => days,
        (Some(_), false) => {
            return Err(SecretsError::InvalidParameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).".into(),
            ))
        }
        (None, false) => 30,
    };
    app.change(now, |vault| {
        let secret = find_mut(vault, &request.secret_id, now)?;
        if secret.deleted.is_some() && !force {
            return Err(SecretsError::InvalidRequest(
                "You can't perform this operation on the secret because it was already scheduled for deletion.".into(),
            ));
        }
        let deletion_date = now + days as f64 * DAY;
        let answer = wire::DeleteSecretResponse {
            arn: Some(secret.arn.clone()),
            name: Some(secret.name.clone()),
            deletion_date: Some(deletion_date),
        };
        if force {
            let name = secret.name.clone();
            vault.secrets.remove(&name);
        } else {
            secret.deleted = Some(now);
            secret.deletion_date = Some(deletion_date);
        }
        Ok(answer)
    })
    .await
}

pub(crate) async fn restore(
    app: &App,
    request: wire::RestoreSecretRequest,
    now: f64,
) -> Result<wire::RestoreSecretResponse, SecretsError> {
    app.change(now, |vault| {
        let secret = find_mut(vault, &request.secret_id, now)?;
        secret.deleted = None;
        secret.deletion_date = None;
        Ok(wire::RestoreSecretResponse {
            arn: Some(secret.arn.clone()),
            name: Some(secret.name.clone()),
        })
    })
    .await
}

pub(crate) async fn tag(
    app: &App,
    request: wire::TagResourceRequest,
    now: f64,
) -> Result<(), SecretsError> {
    let tags = checked_tags(request.tags)?;
    app.change(now, |vault| {
        let secret = find_mut(vault, &request.secret_id, now)?;
        if secret.deleted.is_some() {
            return Err(SecretsError::marked_for_deletion());
        }
        put_tags(secret, tags)
    })
    .await
}

pub(crate) async fn untag(
    app: &App,
    request: wire::UntagResourceRequest,
    now: f64,
) -> Result<(), SecretsError> {
    app.change(now, |vault| {
        let secret = find_mut(vault, &request.secret_id, now)?;
        if secret.deleted.is_some() {
            return Err(SecretsError::marked_for_deletion());
        }
        secret.tags.retain(|(k, _)| !request.tag_keys.contains(k));
        Ok(())
    })
    .await
}

//! A secret's versions: reading a value, adding one, moving staging labels, listing them.

use crate::model::{seal_context, Secret, ValueKind, Version, AWSCURRENT, AWSPREVIOUS};
use crate::{find, find_mut, page, wire, App, SecretsError};

/// Most versions a secret keeps: past it the oldest deprecated (unlabelled) ones go, as AWS
/// removes deprecated versions.
const MAX_VERSIONS: usize = 100;
/// Most labels one version carries.
const MAX_STAGES_PER_VERSION: usize = 20;
/// A value's largest size, in bytes.
const MAX_VALUE_BYTES: usize = 65536;

/// The value a request carries: `SecretString` or `SecretBinary` (base64, kept as sent), or
/// neither.
pub(crate) fn requested_value(
    string: Option<String>,
    binary: Option<String>,
) -> Result<Option<(ValueKind, String)>, SecretsError> {
    let value = match (string, binary) {
        (Some(_), Some(_)) => {
            return Err(SecretsError::InvalidParameter(
                "You can't specify both a binary secret value and a string secret value in the same secret.".into(),
            ))
        }
        (Some(s), None) => Some((ValueKind::String, s)),
        (None, Some(b)) => Some((ValueKind::Binary, b)),
        (None, None) => None,
    };
    if let Some((ValueKind::Binary, text)) = &value {
        // Stored as sent and answered as is: a value that is not base64 would be an answer no
        // SDK can decode.
        let alphabet = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
        let padding = text.bytes().rev().take_while(|b| *b == b'=').count();
        if text.len() % 4 != 0
            || padding > 2
            || !text.bytes().all(|b| alphabet(&b))
            || text.trim_end_matches('=').contains('=')
        {
            return Err(SecretsError::InvalidParameter(
                "SecretBinary must be base64-encoded".into(),
            ));
        }
    }
    if let Some((kind, text)) = &value {
        // A binary value arrives in base64: three bytes for every four characters.
        let bytes = match kind {
            ValueKind::String => text.len(),
            ValueKind::Binary => text.len() / 4 * 3,
        };
        if bytes == 0 || bytes > MAX_VALUE_BYTES {
            return Err(SecretsError::InvalidParameter(format!(
                "The secret value must be between 1 and {MAX_VALUE_BYTES} bytes"
            )));
        }
    }
    Ok(value)
}

/// A version id: the request's token (32 to 64 characters), else a fresh one.
pub(crate) fn version_id(token: Option<String>) -> Result<String, SecretsError> {
    match token {
        None => Ok(uuid::Uuid::new_v4().to_string()),
        Some(t) if (32..=64).contains(&t.len()) => Ok(t),
        Some(t) => Err(SecretsError::InvalidParameter(format!(
            "ClientRequestToken must be between 32 and 64 characters, not {}",
            t.len()
        ))),
    }
}

/// Adds version `id` holding `value` with `stages`, or, when `id` exists with the same value,
/// nothing (a retried request). Labels move from the versions that had them; a version that
/// loses AWSCURRENT gets AWSPREVIOUS. Whether a version was added.
pub(crate) fn add_version(
    app: &App,
    secret: &mut Secret,
    id: String,
    (kind, value): (ValueKind, String),
    stages: Vec<String>,
    now: f64,
) -> Result<bool, SecretsError> {
    let context = seal_context(&secret.arn, &id);
    if let Some(existing) = secret.versions.get(&id) {
        let same = existing.kind == kind
            && app.sealer.open(&existing.value, &context)? == value.as_bytes();
        return if same {
            Ok(false)
        } else {
            Err(SecretsError::Exists(
                "You can't modify an existing version, you can only create a new version.".into(),
            ))
        };
    }
    check_stages(&stages)?;
    let sealed = app.sealer.seal(value.as_bytes(), &context)?;
    secret.versions.insert(
        id.clone(),
        Version { id: id.clone(), created: now, stages: Vec::new(), kind, value: sealed },
    );
    for stage in stages {
        move_stage(secret, &stage, &id);
    }
    prune(secret);
    secret.last_changed = now;
    Ok(true)
}

fn check_stages(stages: &[String]) -> Result<(), SecretsError> {
    if stages.len() > MAX_STAGES_PER_VERSION {
        return Err(SecretsError::LimitExceeded(format!(
            "A version can have at most {MAX_STAGES_PER_VERSION} staging labels"
        )));
    }
    if let Some(bad) = stages.iter().find(|s| s.is_empty() || s.len() > 256) {
        return Err(SecretsError::InvalidParameter(format!(
            "The staging label '{bad}' must be between 1 and 256 characters"
        )));
    }
    Ok(())
}

/// Puts `stage` on version `to`, taking it from whichever version had it.
fn move_stage(secret: &mut Secret, stage: &str, to: &str) {
    let from = secret.version_with_stage(stage).map(|v| v.id.clone());
    if from.as_deref() == Some(to) {
        return;
    }
    if let Some(from) = &from {
        if let Some(v) = secret.versions.get_mut(from) {
            v.stages.retain(|s| s != stage);
        }
    }
    if let Some(v) = secret.versions.get_mut(to) {
        v.stages.push(stage.to_string());
    }
    if stage == AWSCURRENT {
        if let Some(from) = from {
            move_stage(secret, AWSPREVIOUS, &from);
        }
    }
}

/// Drops the oldest deprecated versions past [`MAX_VERSIONS`].
fn prune(secret: &mut Secret) {
    while secret.versions.len() > MAX_VERSIONS {
        let oldest = secret
            .versions
            .values()
            .filter(|v| v.stages.is_empty())
            .min_by(|a, b| a.created.total_cmp(&b.created))
            .map(|v| v.id.clone());
        match oldest {
            Some(id) => secret.versions.remove(&id),
            None => break,
        };
    }
}

/// The version a GetSecretValue-like request names: by id, by stage, or AWSCURRENT; when both
/// are given they must name the same version.
pub(crate) fn select<'s>(
    secret: &'s Secret,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<&'s Version, SecretsError> {
    let missing = |what: String| {
        SecretsError::NotFound(format!(
            "Secrets Manager can't find the specified secret value for {what}"
        ))
    };
    match (version_id, stage) {
        (Some(id), stage) => {
            let version =
                secret.versions.get(id).ok_or_else(|| missing(format!("VersionId: {id}")))?;
            match stage {
                Some(stage) if !version.stages.iter().any(|s| s == stage) => {
                    Err(SecretsError::InvalidRequest(format!(
                        "The version {id} does not have the staging label {stage}"
                    )))
                }
                _ => Ok(version),
            }
        }
        (None, stage) => {
            let stage = stage.unwrap_or(AWSCURRENT);
            secret
                .version_with_stage(stage)
                .ok_or_else(|| missing(format!("staging label: {stage}")))
        }
    }
}

/// The clear value of `version` of `secret`.
pub(crate) fn open_value(
    app: &App,
    secret: &Secret,
    version: &Version,
) -> Result<String, SecretsError> {
    let bytes = app.sealer.open(&version.value, &seal_context(&secret.arn, &version.id))?;
    String::from_utf8(bytes)
        .map_err(|_| SecretsError::Decryption("the stored value is not text".into()))
}

pub(crate) fn get_value(
    app: &App,
    request: wire::GetSecretValueRequest,
    now: f64,
) -> Result<wire::GetSecretValueResponse, SecretsError> {
    let vault = app.snapshot();
    let secret = find(&vault, &request.secret_id, now)?;
    if secret.deleted.is_some() {
        return Err(SecretsError::marked_for_deletion());
    }
    let version = select(secret, request.version_id.as_deref(), request.version_stage.as_deref())?;
    let value = open_value(app, secret, version)?;
    let (secret_string, secret_binary) = match version.kind {
        ValueKind::String => (Some(value), None),
        ValueKind::Binary => (None, Some(value)),
    };
    Ok(wire::GetSecretValueResponse {
        arn: Some(secret.arn.clone()),
        name: Some(secret.name.clone()),
        version_id: Some(version.id.clone()),
        secret_string,
        secret_binary,
        version_stages: Some(version.stages.clone()),
        created_date: Some(version.created),
    })
}

pub(crate) async fn put_value(
    app: &App,
    request: wire::PutSecretValueRequest,
    now: f64,
) -> Result<wire::PutSecretValueResponse, SecretsError> {
    let value =
        requested_value(request.secret_string, request.secret_binary)?.ok_or_else(|| {
            SecretsError::InvalidParameter(
                "You must provide either SecretString or SecretBinary.".into(),
            )
        })?;
    let id = version_id(request.client_request_token)?;
    let stages = request.version_stages.unwrap_or_else(|| vec![AWSCURRENT.to_string()]);
    app.change(now, |vault| {
        let secret = find_mut(vault, &request.secret_id, now)?;
        if secret.deleted.is_some() {
            return Err(SecretsError::marked_for_deletion());
        }
        add_version(app, secret, id.clone(), value, stages, now)?;
        let stages = secret.versions.get(&id).map(|v| v.stages.clone());
        Ok(wire::PutSecretValueResponse {
            arn: Some(secret.arn.clone()),
            name: Some(secret.name.clone()),
            version_id: Some(id),
            version_stages: stages,
        })
    })
    .await
}

pub(crate) async fn update_stage(
    app: &App,
    request: wire::UpdateSecretVersionStageRequest,
    now: f64,
) -> Result<wire::UpdateSecretVersionStageResponse, SecretsError> {
    let stage = request.version_stage;
    check_stages(std::slice::from_ref(&stage))?;
    app.change(now, |vault| {
        let secret = find_mut(vault, &request.secret_id, now)?;
        if secret.deleted.is_some() {
            return Err(SecretsError::marked_for_deletion());
        }
        let holder = secret.version_with_stage(&stage).map(|v| v.id.clone());
        for id in [&request.remove_from_version_id, &request.move_to_version_id].into_iter().flatten() {
            if !secret.versions.contains_key(id) {
                return Err(SecretsError::InvalidParameter(format!(
                    "The version {id} does not exist in this secret"
                )));
            }
        }
        if let Some(from) = &request.remove_from_version_id {
            if holder.as_deref() != Some(from) {
                return Err(SecretsError::InvalidParameter(format!(
                    "The staging label {stage} is not attached to version {from}"
                )));
            }
        }
        match (&request.move_to_version_id, &holder) {
            (Some(_), Some(held)) if request.remove_from_version_id.as_ref() != Some(held) => {
                return Err(SecretsError::InvalidParameter(format!(
                    "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {held}, so you must explicitly reference that version in RemoveFromVersionId."
                )));
            }
            (None, Some(_)) if stage == AWSCURRENT => {
                return Err(SecretsError::InvalidParameter(
                    "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed.".into(),
                ));
            }
            _ => {}
        }
        match &request.move_to_version_id {
            Some(to) => {
                let labels = secret.versions.get(to).map_or(0, |v| v.stages.len());
                if labels >= MAX_STAGES_PER_VERSION && holder.as_deref() != Some(to) {
                    return Err(SecretsError::LimitExceeded(format!(
                        "A version can have at most {MAX_STAGES_PER_VERSION} staging labels"
                    )));
                }
                move_stage(secret, &stage, to);
            }
            None => {
                for version in secret.versions.values_mut() {
                    version.stages.retain(|s| *s != stage);
                }
            }
        }
        prune(secret);
        secret.last_changed = now;
        Ok(wire::UpdateSecretVersionStageResponse {
            arn: Some(secret.arn.clone()),
            name: Some(secret.name.clone()),
        })
    })
    .await
}

pub(crate) fn list_ids(
    app: &App,
    request: wire::ListSecretVersionIdsRequest,
    now: f64,
) -> Result<wire::ListSecretVersionIdsResponse, SecretsError> {
    let vault = app.snapshot();
    let secret = find(&vault, &request.secret_id, now)?;
    let include_deprecated = request.include_deprecated.unwrap_or(false);
    let mut versions: Vec<&Version> =
        secret.versions.values().filter(|v| include_deprecated || !v.stages.is_empty()).collect();
    versions.sort_by(|a, b| b.created.total_cmp(&a.created).then(a.id.cmp(&b.id)));
    let entries: Vec<wire::SecretVersionsListEntry> = versions
        .into_iter()
        .map(|v| wire::SecretVersionsListEntry {
            version_id: Some(v.id.clone()),
            version_stages: Some(v.stages.clone()),
            created_date: Some(v.created),
            ..Default::default()
        })
        .collect();
    let (versions, next_token) =
        page(&entries, request.next_token.as_deref(), request.max_results)?;
    Ok(wire::ListSecretVersionIdsResponse {
        versions: Some(versions),
        next_token,
        arn: Some(secret.arn.clone()),
        name: Some(secret.name.clone()),
    })
}

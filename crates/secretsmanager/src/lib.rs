//! AWS Secrets Manager (AWS JSON 1.1, `X-Amz-Target: secretsmanager.<Operation>`, SigV4
//! `secretsmanager`): secrets, their versions and staging labels, deletion with a recovery
//! window, tags. Kept as one document of the region's store (`secretsmanager/secrets`); every
//! value is sealed there (`flotilla_store::sealed`), so the store never holds one in clear.
//! Rotation and custom KMS keys are refused: there is no KMS or Lambda to do them with.

mod error;
pub mod model;
pub mod references;
mod secrets;
pub mod service;
mod versions;
pub mod wire;

use std::sync::Arc;
use std::time::SystemTime;

use flotilla_api::arn::ArnScope;
use flotilla_store::sealed::Sealer;
use flotilla_store::{Document, Store, StoreError};
use serde::Serialize;

pub use error::SecretsError;
use model::{Secret, Vault};

/// SigV4 service name of Secrets Manager.
pub const SIGNING_NAME: &str = "secretsmanager";
/// The `X-Amz-Target` prefix of Secrets Manager's operations.
pub const TARGET_PREFIX: &str = "secretsmanager.";

const KEY: &str = "secretsmanager/secrets";

/// One region's Secrets Manager.
pub struct App {
    pub scope: ArnScope,
    records: Document<Vault>,
    sealer: Arc<Sealer>,
}

impl App {
    pub async fn open(
        scope: ArnScope,
        store: Arc<dyn Store>,
        sealer: Arc<Sealer>,
    ) -> Result<App, StoreError> {
        Ok(App { scope, records: Document::open(store, KEY).await?, sealer })
    }

    /// Applies a change to the secrets (stored before the answer; nothing when refused).
    /// Secrets past their recovery window are dropped by every change.
    async fn change<T>(
        &self,
        now: f64,
        change: impl FnOnce(&mut Vault) -> Result<T, SecretsError>,
    ) -> Result<T, SecretsError> {
        self.records
            .change(|vault| {
                vault.secrets.retain(|_, secret| !secret.purged(now));
                change(vault)
            })
            .await?
    }

    /// The full ARN of the secret `id` names (a name, an ARN, or an ARN without its random
    /// suffix), if it exists: what a policy's `Resource` is matched against.
    pub fn secret_arn(&self, id: &str, now: SystemTime) -> Option<String> {
        let vault = self.snapshot();
        find(&vault, id, flotilla_api::epoch_seconds(now)).ok().map(|s| s.arn.clone())
    }

    /// The tags of the secret `arn` (for `aws:ResourceTag` conditions).
    pub fn secret_tags(&self, arn: &str, now: SystemTime) -> Option<Vec<(String, String)>> {
        let vault = self.snapshot();
        find(&vault, arn, flotilla_api::epoch_seconds(now)).ok().map(|s| s.tags.clone())
    }

    /// The secrets as they stand.
    fn snapshot(&self) -> Arc<Vault> {
        self.records.snapshot()
    }
}

/// The name of the secret `id` names in `vault` (a name, a full ARN, or an ARN without the
/// six random characters), if it exists and is not past its recovery window.
fn find<'v>(vault: &'v Vault, id: &str, now: f64) -> Result<&'v Secret, SecretsError> {
    let found = if id.starts_with("arn:") {
        vault.secrets.values().find(|s| s.arn == id).or_else(|| {
            // A partial ARN: the ARN up to the name, without `-XXXXXX`.
            vault.secrets.values().find(|s| s.arn.len() == id.len() + 7 && s.arn.starts_with(id))
        })
    } else {
        vault.secrets.get(id)
    };
    found.filter(|s| !s.purged(now)).ok_or_else(SecretsError::not_found)
}

/// Like [`find`], for a change.
fn find_mut<'v>(vault: &'v mut Vault, id: &str, now: f64) -> Result<&'v mut Secret, SecretsError> {
    let name = find(vault, id, now)?.name.clone();
    vault.secrets.get_mut(&name).ok_or_else(SecretsError::not_found)
}

/// Runs Secrets Manager operation `operation` on JSON `body`.
pub async fn dispatch(
    app: &App,
    operation: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<Vec<u8>, SecretsError> {
    if let Some(message) =
        flotilla_front::refusal::refusal_in_json(body, wire::refused_paths(operation))
    {
        return Err(SecretsError::InvalidParameter(message));
    }
    let now = flotilla_api::epoch_seconds(now);
    match operation {
        "CreateSecret" => respond(secrets::create(app, decode(body)?, now).await?),
        "DescribeSecret" => respond(secrets::describe(app, decode(body)?, now)?),
        "ListSecrets" => respond(secrets::list(app, decode(body)?, now)?),
        "UpdateSecret" => respond(secrets::update(app, decode(body)?, now).await?),
        "DeleteSecret" => respond(secrets::delete(app, decode(body)?, now).await?),
        "RestoreSecret" => respond(secrets::restore(app, decode(body)?, now).await?),
        "TagResource" => {
            secrets::tag(app, decode(body)?, now).await?;
            Ok(b"{}".to_vec())
        }
        "UntagResource" => {
            secrets::untag(app, decode(body)?, now).await?;
            Ok(b"{}".to_vec())
        }
        "GetSecretValue" => respond(versions::get_value(app, decode(body)?, now)?),
        "PutSecretValue" => respond(versions::put_value(app, decode(body)?, now).await?),
        "UpdateSecretVersionStage" => respond(versions::update_stage(app, decode(body)?, now).await?),
        "ListSecretVersionIds" => respond(versions::list_ids(app, decode(body)?, now)?),
        // Every member of these two is refused by the ledger; a bare request still gets here.
        "RotateSecret" | "CancelRotateSecret" => Err(SecretsError::InvalidRequest(format!(
            "{operation} is not supported yet: rotation needs a rotation function, which this server cannot run"
        ))),
        other => Err(SecretsError::UnknownOperation(format!(
            "The operation {other} is not served here (Secrets Manager here serves secrets, their versions and stages, and tags)"
        ))),
    }
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, SecretsError> {
    serde_json::from_slice(body).map_err(|e| match flotilla_api::missing_member(&e) {
        Some(member) => SecretsError::InvalidParameter(format!("{member} is required")),
        None => SecretsError::Serialization(e.to_string()),
    })
}

fn respond(value: impl Serialize) -> Result<Vec<u8>, SecretsError> {
    serde_json::to_vec(&value)
        .map_err(|e| SecretsError::Internal(format!("cannot encode the answer: {e}")))
}

/// A page of `items` after `token` (an offset this server handed out), at most `max` (1 to
/// 100, default 100).
fn page<T: Clone>(
    items: &[T],
    token: Option<&str>,
    max: Option<i32>,
) -> Result<(Vec<T>, Option<String>), SecretsError> {
    let size = match max {
        None => 100,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(SecretsError::InvalidParameter(format!(
                "MaxResults must be between 1 and 100, not {n}"
            )))
        }
    };
    let start = match token {
        None => 0,
        Some(t) => t
            .strip_prefix("flotilla-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| {
                SecretsError::InvalidNextToken("The NextToken is not one this server gave.".into())
            })?,
    };
    let end = (start + size).min(items.len());
    Ok((items[start..end].to_vec(), (end < items.len()).then(|| format!("flotilla-{end}"))))
}

#[cfg(test)]
mod tests;

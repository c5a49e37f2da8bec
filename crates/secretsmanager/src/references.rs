//! What a task definition's `valueFrom` names in Secrets Manager
//! (`arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf[:json-key[:version-stage[:version-id]]]`),
//! and the value it names, read for ECS when a task starts.

use crate::versions::{open_value, select};
use crate::{find, model::ValueKind, App, SecretsError};

/// A secret reference taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretReference {
    /// The secret's ARN (full, or without the six random characters), without the suffixes.
    pub secret_arn: String,
    /// The region the ARN names.
    pub region: String,
    pub json_key: Option<String>,
    pub version_stage: Option<String>,
    pub version_id: Option<String>,
}

/// The reference `value_from` makes, if it is a Secrets Manager ARN. Empty suffixes are
/// absent (`name::AWSPREVIOUS:` names a stage and no key).
pub fn parse(value_from: &str) -> Option<SecretReference> {
    let parts: Vec<&str> = value_from.splitn(7, ':').collect();
    if parts.len() < 7 || parts[0] != "arn" || parts[2] != "secretsmanager" || parts[5] != "secret"
    {
        return None;
    }
    let mut rest = parts[6].split(':');
    let name = rest.next().filter(|n| !n.is_empty())?;
    let mut next = || rest.next().filter(|s| !s.is_empty()).map(str::to_string);
    let (json_key, version_stage, version_id) = (next(), next(), next());
    if rest.next().is_some() {
        return None;
    }
    Some(SecretReference {
        secret_arn: parts[..6].join(":") + ":" + name,
        region: parts[3].to_string(),
        json_key,
        version_stage,
        version_id,
    })
}

impl App {
    /// The value `reference` names, as ECS injects it: the version's text, or one key of it
    /// when it is a JSON object.
    pub fn value_for_task(
        &self,
        reference: &SecretReference,
        now: std::time::SystemTime,
    ) -> Result<String, SecretsError> {
        let vault = self.snapshot();
        let secret = find(&vault, &reference.secret_arn, flotilla_api::epoch_seconds(now))?;
        if secret.deleted.is_some() {
            return Err(SecretsError::marked_for_deletion());
        }
        let version =
            select(secret, reference.version_id.as_deref(), reference.version_stage.as_deref())?;
        if version.kind == ValueKind::Binary {
            return Err(SecretsError::InvalidRequest(
                "the secret holds a binary value, which cannot be put in an environment variable"
                    .into(),
            ));
        }
        let text = open_value(self, secret, version)?;
        let Some(key) = &reference.json_key else {
            return Ok(text);
        };
        let missing = || {
            SecretsError::InvalidRequest(format!(
                "retrieved secret from Secrets Manager did not contain json key {key}"
            ))
        };
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).map_err(|_| missing())?;
        match object.get(key).ok_or_else(missing)? {
            serde_json::Value::String(s) => Ok(s.clone()),
            other => Ok(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_taken_apart_as_ecs_documents_them() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";
        let plain = parse(arn).expect("an ARN");
        assert_eq!(plain.secret_arn, arn);
        assert_eq!(plain.region, "us-east-1");
        assert_eq!((plain.json_key, plain.version_stage, plain.version_id), (None, None, None));
        let full = parse(&format!("{arn}:password:AWSPREVIOUS:")).expect("suffixes");
        assert_eq!(full.json_key.as_deref(), Some("password"));
        assert_eq!(full.version_stage.as_deref(), Some("AWSPREVIOUS"));
        let by_id = parse(&format!("{arn}:::0123")).expect("an id");
        assert_eq!((by_id.json_key, by_id.version_id.as_deref()), (None, Some("0123")));
        assert_eq!(parse("/my/parameter"), None, "a parameter name is SSM's");
        assert_eq!(parse("arn:aws:ssm:us-east-1:123456789012:parameter/x"), None);
        assert_eq!(parse(&format!("{arn}:a:b:c:d")), None, "too many suffixes");
    }
}

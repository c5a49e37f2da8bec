//! Small shapes shared by many operations: tags, failures, key/value pairs, decoding.

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorCode};

/// Tags per resource, as ECS limits them.
pub const MAX_TAGS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValuePair {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One entry of a `failures` list (DescribeClusters, RunTask, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Checks tag count, key and value lengths and the reserved `aws:` prefix, as ECS does.
pub fn validate_tags(tags: &[Tag]) -> Result<(), ApiError> {
    let mut problems = Vec::new();
    if tags.len() > MAX_TAGS {
        problems.push(format!("too many tags: {} given, at most {MAX_TAGS} allowed", tags.len()));
    }
    for tag in tags {
        match tag.key.as_deref() {
            None | Some("") => problems.push("tag keys must not be empty".to_string()),
            Some(k) if k.chars().count() > 128 => {
                problems.push(format!("tag key '{k}' is longer than 128 characters"))
            }
            Some(k) if k.to_ascii_lowercase().starts_with("aws:") => {
                problems.push(format!("tag key '{k}' uses the reserved prefix 'aws:'"))
            }
            Some(_) => {}
        }
        if tag.value.as_deref().is_some_and(|v| v.chars().count() > 256) {
            problems.push("tag values must be at most 256 characters".to_string());
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::InvalidParameterException, problems.join("; ")))
    }
}

/// Decodes a request body the way an AWS JSON 1.1 service does: malformed JSON and values of the
/// wrong type are `SerializationException`; a missing required member is
/// `InvalidParameterException` naming it; unknown members are ignored.
pub fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // An empty body is an empty structure to AWS (the CLI sends `{}` or nothing at all).
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| match missing_member(&e) {
        Some(member) => ApiError::new(
            ErrorCode::InvalidParameterException,
            format!("missing required member '{member}'"),
        ),
        None => ApiError::new(ErrorCode::SerializationException, e.to_string()),
    })
}

/// The required member a decoding error says is missing, if that is what it says: each
/// service answers a missing member in its own words (serde only says so in its message).
pub fn missing_member(error: &serde_json::Error) -> Option<String> {
    let text = error.to_string();
    let rest = text.strip_prefix("missing field `")?;
    Some(rest.split('`').next().unwrap_or("?").to_string())
}

/// Seconds since the epoch, as ECS timestamps are on the wire (millisecond precision, as ECS
/// returns them).
pub fn epoch_seconds(at: std::time::SystemTime) -> f64 {
    at.duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

//! The secrets of one region as they are stored: metadata in clear, every value sealed.

use std::collections::BTreeMap;

use flotilla_store::sealed::Sealed;
use serde::{Deserialize, Serialize};

/// The label every secret's current version carries.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The label the version that was current before carries.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// Every secret of the region, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vault {
    pub secrets: BTreeMap<String, Secret>,
}

/// One secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    pub arn: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created: f64,
    pub last_changed: f64,
    /// When DeleteSecret was called; the secret answers only Describe and Restore until
    /// `deletion_date`, and is gone after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<f64>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Versions by id, each with its staging labels (none: deprecated).
    #[serde(default)]
    pub versions: BTreeMap<String, Version>,
}

/// One version of a secret's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub id: String,
    pub created: f64,
    #[serde(default)]
    pub stages: Vec<String>,
    pub kind: ValueKind,
    /// The value (text, or the bytes of a binary secret), sealed for this secret and version.
    pub value: Sealed,
}

/// Whether a version holds `SecretString` or `SecretBinary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueKind {
    String,
    Binary,
}

impl Secret {
    /// Whether the secret has passed its recovery window at `now` (it answers as absent).
    pub fn purged(&self, now: f64) -> bool {
        self.deletion_date.is_some_and(|date| date <= now)
    }

    /// The version carrying `stage`.
    pub fn version_with_stage(&self, stage: &str) -> Option<&Version> {
        self.versions.values().find(|v| v.stages.iter().any(|s| s == stage))
    }

    /// Version ids and their labels, as Describe and List show them (deprecated versions
    /// left out).
    pub fn stages_by_version(&self) -> BTreeMap<String, Vec<String>> {
        self.versions
            .values()
            .filter(|v| !v.stages.is_empty())
            .map(|v| (v.id.clone(), v.stages.clone()))
            .collect()
    }
}

/// What a sealed value of `secret_arn`'s version `version_id` is bound to: a sealed value
/// copied to another secret or version does not open.
pub fn seal_context(secret_arn: &str, version_id: &str) -> String {
    format!("secretsmanager:{secret_arn}:{version_id}")
}

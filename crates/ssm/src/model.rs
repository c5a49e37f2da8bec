//! Parameter Store's records: parameters, their versions (SecureString values sealed), labels
//! and tags. Kept as one document of the region's store (`ssm/parameters`).

use std::collections::BTreeMap;

use flotilla_store::sealed::Sealed;
use serde::{Deserialize, Serialize};

/// AWS keeps the 100 most recent versions of a parameter.
pub const MAX_VERSIONS: usize = 100;
/// Labels one version can carry.
pub const MAX_LABELS: usize = 10;
/// Tags one parameter can carry.
pub const MAX_TAGS: usize = 50;

/// Every parameter of a region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParameterStore {
    /// By key (`names::key`): `/a` and `a` are one parameter, as they are in AWS.
    pub parameters: BTreeMap<String, Parameter>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    /// The name as it was created (answers show it so).
    pub name: String,
    /// Oldest first; at most [`MAX_VERSIONS`], the newest last (never empty).
    pub versions: Vec<Version>,
    pub tags: BTreeMap<String, String>,
}

impl Parameter {
    /// The newest version.
    pub fn latest(&self) -> Option<&Version> {
        self.versions.last()
    }

    pub fn version(&self, number: i64) -> Option<&Version> {
        self.versions.iter().find(|v| v.version == number)
    }

    pub fn labelled(&self, label: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.labels.iter().any(|l| l == label))
    }
}

/// The three kinds of parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParameterType {
    String,
    StringList,
    SecureString,
}

impl ParameterType {
    pub fn parse(text: &str) -> Option<ParameterType> {
        match text {
            "String" => Some(ParameterType::String),
            "StringList" => Some(ParameterType::StringList),
            "SecureString" => Some(ParameterType::SecureString),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ParameterType::String => "String",
            ParameterType::StringList => "StringList",
            ParameterType::SecureString => "SecureString",
        }
    }
}

/// A version's value as it is stored: a SecureString's only sealed, bound to its parameter's
/// ARN and version (`names::seal_context`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub enum StoredValue {
    Plain(String),
    Sealed(Sealed),
}

impl std::fmt::Debug for StoredValue {
    /// Never a value, in case a record is ever formatted into a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredValue::Plain(value) => write!(f, "Plain(<{} chars>)", value.chars().count()),
            StoredValue::Sealed(sealed) => write!(f, "Sealed(key {})", sealed.key_id),
        }
    }
}

/// One version of a parameter: everything PutParameter set for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub version: i64,
    pub kind: ParameterType,
    pub value: StoredValue,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    /// `text` (the only data type served).
    pub data_type: String,
    /// Epoch seconds.
    pub modified: f64,
    /// The ARN of the principal that put it.
    pub modified_by: String,
    /// Each label is on at most one version of the parameter.
    pub labels: Vec<String>,
}

//! Why a document is not a policy, and how a JSON value reads in a message.

use serde_json::Value;

/// Why a document is not a policy: `MalformedPolicyDocument`'s message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("Syntax errors in policy: {0}")]
    Syntax(String),
    #[error("Policy document must be version 2012-10-17 or 2008-10-17, not {0}")]
    Version(String),
    #[error("{0}")]
    Invalid(String),
}

/// A JSON value as text, for a message.
pub(crate) fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

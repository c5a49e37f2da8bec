//! A policy document read from its JSON, with what AWS refuses refused by name.

use serde_json::{Map, Value};

use crate::condition::Condition;
use crate::error::{plain, PolicyError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Action`/`Resource`/`Principal` (the listed ones) or `NotAction`/... (all but those).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selector<T> {
    Only(Vec<T>),
    AllBut(Vec<T>),
}

/// One principal of `Principal`: `("*", "*")` is anyone; else its kind (`AWS`, `Service`,
/// `Federated`, `CanonicalUser`) and value (an ARN, an account id, a service name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub(crate) action: Selector<String>,
    /// Absent in trust policies (which name a principal instead).
    pub(crate) resource: Option<Selector<String>>,
    pub(crate) principal: Option<Selector<Principal>>,
    pub(crate) conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// 2012-10-17 (policy variables are replaced) or 2008-10-17 (they are literal text).
    pub version: String,
    pub statements: Vec<Statement>,
}

/// The version whose documents have policy variables.
pub(crate) const VARIABLES_VERSION: &str = "2012-10-17";
const OLD_VERSION: &str = "2008-10-17";

impl Policy {
    /// Reads a policy document (identity, resource or trust policy alike).
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let Value::Object(top) = value else {
            return Err(PolicyError::Syntax("the document is not a JSON object".into()));
        };
        for key in top.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(PolicyError::Syntax(format!("unknown field {key}")));
            }
        }
        let version = match top.get("Version") {
            None => OLD_VERSION.to_string(),
            Some(Value::String(v)) if v == VARIABLES_VERSION || v == OLD_VERSION => v.clone(),
            Some(other) => return Err(PolicyError::Version(plain(other))),
        };
        let statements = match top.get("Statement") {
            Some(Value::Object(one)) => vec![statement(one)?],
            Some(Value::Array(many)) if !many.is_empty() => many
                .iter()
                .map(|s| match s {
                    Value::Object(s) => statement(s),
                    _ => Err(PolicyError::Syntax("a statement is not a JSON object".into())),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(PolicyError::Syntax("Statement is required".into())),
        };
        Ok(Policy { version, statements })
    }

    /// An identity policy (a user's, a group's, a role's permissions): every statement names
    /// its resources and none a principal, as IAM's CreatePolicy requires.
    pub fn check_identity(&self) -> Result<(), PolicyError> {
        for s in &self.statements {
            if s.principal.is_some() {
                return Err(PolicyError::Invalid(
                    "Policy document should not specify a principal.".into(),
                ));
            }
            if s.resource.is_none() {
                return Err(PolicyError::Invalid(
                    "Policy statement must contain resources.".into(),
                ));
            }
        }
        Ok(())
    }

    /// A role's trust policy: every statement names who may assume the role.
    pub fn check_trust(&self) -> Result<(), PolicyError> {
        if self.statements.iter().any(|s| s.principal.is_none()) {
            return Err(PolicyError::Invalid(
                "Has prohibited field Resource or lacks Principal in a trust policy statement."
                    .into(),
            ));
        }
        if self.statements.iter().any(|s| s.resource.is_some()) {
            return Err(PolicyError::Invalid("Has prohibited field Resource".into()));
        }
        Ok(())
    }
}

fn statement(s: &Map<String, Value>) -> Result<Statement, PolicyError> {
    for key in s.keys() {
        let known = [
            "Sid",
            "Effect",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Principal",
            "NotPrincipal",
            "Condition",
        ];
        if !known.contains(&key.as_str()) {
            return Err(PolicyError::Syntax(format!("unknown field {key} in a statement")));
        }
    }
    let effect = match s.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(PolicyError::Invalid(format!(
                "Invalid effect: {} (Allow or Deny)",
                plain(other)
            )))
        }
        None => return Err(PolicyError::Invalid("Missing required field Effect".into())),
    };
    let action = selector(s, "Action", "NotAction")?
        .ok_or_else(|| PolicyError::Invalid("Policy statement must contain actions.".into()))?;
    for pattern in match &action {
        Selector::Only(list) | Selector::AllBut(list) => list,
    } {
        if pattern != "*" && !pattern.contains(':') {
            return Err(PolicyError::Invalid(format!(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. \
                 ({pattern})"
            )));
        }
    }
    let resource = selector(s, "Resource", "NotResource")?;
    let principal = principal_selector(s)?;
    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(block)) => crate::condition::parse_block(block)?,
        Some(_) => return Err(PolicyError::Syntax("Condition is not a JSON object".into())),
    };
    let sid = match s.get("Sid") {
        None => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(_) => return Err(PolicyError::Syntax("Sid is not a string".into())),
    };
    Ok(Statement { sid, effect, action, resource, principal, conditions })
}

/// `positive` or `negative` (one of them at most), as a list of strings.
fn selector(
    s: &Map<String, Value>,
    positive: &str,
    negative: &str,
) -> Result<Option<Selector<String>>, PolicyError> {
    match (s.get(positive), s.get(negative)) {
        (Some(_), Some(_)) => {
            Err(PolicyError::Syntax(format!("a statement has both {positive} and {negative}")))
        }
        (Some(v), None) => Ok(Some(Selector::Only(strings(v, positive)?))),
        (None, Some(v)) => Ok(Some(Selector::AllBut(strings(v, negative)?))),
        (None, None) => Ok(None),
    }
}

fn principal_selector(s: &Map<String, Value>) -> Result<Option<Selector<Principal>>, PolicyError> {
    let (value, negated) = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            return Err(PolicyError::Syntax(
                "a statement has both Principal and NotPrincipal".into(),
            ))
        }
        (Some(v), None) => (v, false),
        (None, Some(v)) => (v, true),
        (None, None) => return Ok(None),
    };
    let principals = match value {
        Value::String(any) if any == "*" => {
            vec![Principal { kind: "*".into(), value: "*".into() }]
        }
        Value::Object(kinds) => {
            let mut all = Vec::new();
            for (kind, values) in kinds {
                if !matches!(kind.as_str(), "AWS" | "Service" | "Federated" | "CanonicalUser") {
                    return Err(PolicyError::Invalid(format!("Invalid principal kind {kind}")));
                }
                for value in strings(values, "Principal")? {
                    all.push(Principal { kind: kind.clone(), value });
                }
            }
            all
        }
        _ => return Err(PolicyError::Syntax("Principal is \"*\" or an object".into())),
    };
    Ok(Some(if negated { Selector::AllBut(principals) } else { Selector::Only(principals) }))
}

/// A string or a non-empty list of strings.
pub(crate) fn strings(value: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(one) => Ok(vec![one.clone()]),
        Value::Array(many) if !many.is_empty() => many
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => {
                    Err(PolicyError::Syntax(format!("{field} holds a value that is not a string")))
                }
            })
            .collect(),
        _ => Err(PolicyError::Syntax(format!("{field} is a string or a list of strings"))),
    }
}

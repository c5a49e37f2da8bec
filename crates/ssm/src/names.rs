//! Parameter names as AWS reads them: validation, the key one parameter is kept under, its ARN,
//! references (`name`, `name:3`, `name:label`, or an ARN of this region), and paths.

use flotilla_api::arn::ArnScope;

use crate::error::SsmError;

/// Levels a hierarchy can have.
const MAX_LEVELS: usize = 15;
/// AWS counts a name's 1011 characters with the ARN before it.
const MAX_ARN_LEN: usize = 1011;

/// What part of a parameter a reference selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Latest,
    Version(i64),
    Label(String),
}

impl Selector {
    /// As answers show it (`:3`, `:prod`); none for the latest version.
    pub fn shown(&self) -> Option<String> {
        match self {
            Selector::Latest => None,
            Selector::Version(n) => Some(format!(":{n}")),
            Selector::Label(label) => Some(format!(":{label}")),
        }
    }
}

/// A parameter a request names, and the version it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The store key (see [`key`]).
    pub key: String,
    pub selector: Selector,
}

/// The key a parameter is kept under: a one-level name is one parameter with or without its
/// leading slash (AWS answers `/a` for `a`), so the slash is dropped there.
pub fn key(name: &str) -> String {
    match name.strip_prefix('/') {
        Some(rest) if !rest.contains('/') => rest.to_string(),
        _ => name.to_string(),
    }
}

/// A key as a path from the root: `/a` for `a`, `/a/b` for `/a/b`.
pub fn full_path(key: &str) -> String {
    if key.starts_with('/') {
        key.to_string()
    } else {
        format!("/{key}")
    }
}

/// The parameter's ARN: `parameter` and the name, with one slash between.
pub fn arn(scope: &ArnScope, key: &str) -> String {
    format!("arn:aws:ssm:{}:{}:parameter{}", scope.region, scope.account_id, full_path(key))
}

/// What a SecureString version's sealed value is bound to, so it opens for no other record.
pub fn seal_context(arn: &str, version: i64) -> String {
    format!("ssm parameter {arn} version {version}")
}

/// The parameter and version `text` names (a name or an ARN of this region, with an optional
/// `:version` or `:label`); `None` when it cannot name one here.
pub fn reference(scope: &ArnScope, text: &str) -> Option<Reference> {
    let text = text.trim();
    let named = match text.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, service, region, account, resource] = parts.as_slice() else {
                return None;
            };
            if *partition != "aws"
                || *service != "ssm"
                || *region != scope.region
                || *account != scope.account_id
            {
                return None;
            }
            // `parameter/a/b` is `/a/b`; `parameter/a` is `a` (the key drops the slash).
            resource.strip_prefix("parameter").filter(|r| r.starts_with('/'))?
        }
        None => text,
    };
    let (name, selector) = match named.split_once(':') {
        None => (named, Selector::Latest),
        Some((name, selector)) => (name, parse_selector(selector)?),
    };
    if name.is_empty() || !name.chars().all(name_char) {
        return None;
    }
    Some(Reference { key: key(name), selector })
}

fn parse_selector(text: &str) -> Option<Selector> {
    if text.is_empty() || text.contains(':') {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok().map(Selector::Version);
    }
    Some(Selector::Label(text.to_string()))
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')
}

const NAME_RULES: &str = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_";

/// Checks a name PutParameter would create; the name with surrounding spaces removed, as AWS
/// removes them.
pub fn checked_name(scope: &ArnScope, name: &str) -> Result<String, SsmError> {
    let name = name.trim();
    if name.is_empty() || !name.chars().all(name_char) {
        return Err(SsmError::Validation(NAME_RULES.into()));
    }
    let first = if let Some(rest) = name.strip_prefix('/') {
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(SsmError::Validation(NAME_RULES.into()));
        }
        if segments.len() > MAX_LEVELS {
            return Err(SsmError::HierarchyLevelLimitExceeded(name.into(), segments.len()));
        }
        segments[0]
    } else if name.contains('/') {
        return Err(SsmError::Validation(format!(
            "Parameter name must be a fully qualified name: {name} is in a hierarchy, so it starts with a slash (/{name})"
        )));
    } else {
        name
    };
    let lower = first.to_ascii_lowercase();
    if lower.starts_with("aws") || lower.starts_with("ssm") {
        return Err(SsmError::Validation(NAME_RULES.into()));
    }
    let arn_len = arn(scope, &key(name)).len();
    if arn_len > MAX_ARN_LEN {
        return Err(SsmError::Validation(format!(
            "The parameter name is too long: with its ARN it has {arn_len} characters, at most {MAX_ARN_LEN}"
        )));
    }
    Ok(name.to_string())
}

/// A path GetParametersByPath or a `Path` filter takes: `/` or `/a/b` (a trailing slash
/// dropped).
pub fn checked_path(path: &str) -> Result<String, SsmError> {
    let path = path.trim();
    let invalid = || {
        SsmError::Validation(format!(
            "The path {path} is not valid: a path begins with a slash (/) and has sub-paths of letters, numbers and the symbols .-_ divided by slashes"
        ))
    };
    let rest = path.strip_prefix('/').ok_or_else(invalid)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok("/".into());
    }
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.iter().any(|s| s.is_empty() || !s.chars().all(name_char)) {
        return Err(invalid());
    }
    if segments.len() > MAX_LEVELS {
        return Err(SsmError::HierarchyLevelLimitExceeded(path.into(), segments.len()));
    }
    Ok(format!("/{rest}"))
}

/// Whether the parameter kept under `key` is under `path` (from [`checked_path`]): directly,
/// or at any depth when `recursive`.
pub fn under(path: &str, key: &str, recursive: bool) -> bool {
    let full = full_path(key);
    let rest = if path == "/" {
        full.strip_prefix('/')
    } else {
        full.strip_prefix(path).and_then(|r| r.strip_prefix('/'))
    };
    match rest {
        Some(rest) if !rest.is_empty() => recursive || !rest.contains('/'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> ArnScope {
        ArnScope::new("eu-west-1", "123456789012")
    }

    #[test]
    fn one_level_names_are_one_parameter_with_or_without_the_slash() {
        assert_eq!(key("/db"), "db");
        assert_eq!(key("db"), "db");
        assert_eq!(key("/app/db"), "/app/db");
        assert_eq!(arn(&scope(), "db"), "arn:aws:ssm:eu-west-1:123456789012:parameter/db");
        assert_eq!(arn(&scope(), "/app/db"), "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db");
    }

    #[test]
    fn references_take_selectors_and_arns_of_this_region_only() {
        let s = scope();
        let r = |text: &str| reference(&s, text);
        assert_eq!(
            r("/app/db"),
            Some(Reference { key: "/app/db".into(), selector: Selector::Latest })
        );
        assert_eq!(r("db:3").map(|r| r.selector), Some(Selector::Version(3)));
        assert_eq!(r("db:prod").map(|r| r.selector), Some(Selector::Label("prod".into())));
        assert_eq!(r("db:1:2"), None);
        assert_eq!(r("db:"), None);
        assert_eq!(
            r("arn:aws:ssm:eu-west-1:123456789012:parameter/app/db:2"),
            Some(Reference { key: "/app/db".into(), selector: Selector::Version(2) })
        );
        assert_eq!(
            r("arn:aws:ssm:eu-west-1:123456789012:parameter/db").map(|r| r.key),
            Some("db".into())
        );
        assert_eq!(r("arn:aws:ssm:us-east-1:123456789012:parameter/db"), None);
        assert_eq!(r("arn:aws:ssm:eu-west-1:999999999999:parameter/db"), None);
        assert_eq!(r("arn:aws:secretsmanager:eu-west-1:123456789012:secret:db"), None);
        assert_eq!(r("has space"), None);
    }

    #[test]
    fn names_follow_aws_rules() {
        let s = scope();
        assert_eq!(checked_name(&s, "  /app/db ").as_deref(), Ok("/app/db"));
        assert!(checked_name(&s, "plain-name_1.x").is_ok());
        for bad in ["a b", "app/db", "/app//db", "/app/db/", "ssm-x", "/AWS/x", "awsome", "a:b", ""]
        {
            assert!(matches!(checked_name(&s, bad), Err(SsmError::Validation(_))), "{bad}");
        }
        let deep = "/l".repeat(16);
        assert!(matches!(checked_name(&s, &deep), Err(SsmError::HierarchyLevelLimitExceeded(..))));
        assert!(checked_name(&s, &"/l".repeat(15)).is_ok());
        assert!(checked_name(&s, &"n".repeat(1000)).is_err(), "the ARN counts");
    }

    #[test]
    fn paths_and_what_is_under_them() {
        assert_eq!(checked_path("/").as_deref(), Ok("/"));
        assert_eq!(checked_path("/app/").as_deref(), Ok("/app"));
        assert!(checked_path("app").is_err());
        assert!(checked_path("/a//b").is_err());
        assert!(under("/", "db", false), "a one-level name is at the root");
        assert!(under("/", "/app/db", true));
        assert!(!under("/", "/app/db", false));
        assert!(under("/app", "/app/db", false));
        assert!(!under("/app", "/app/x/db", false));
        assert!(under("/app", "/app/x/db", true));
        assert!(!under("/app", "/application/db", true));
        assert!(!under("/app", "app", true), "a parameter is not under itself");
    }
}

//! Request members a service refuses by its field ledger (`crates/<crate>/ledger.toml`, compiled
//! into the crate's `wire::REFUSED` by scripts/wire-gen.py): which of them a request sets.
//!
//! A path is the ledger's: members joined by `.`, `[]` for a list's items, `{}` for a map's
//! values, and `=VALUE` for one value of an enum member. A member counts as set when it is
//! present and not `null`, `false`, `""`, `[]` or `{}`: tools send `enableExecuteCommand: false`
//! or an empty list for "none", which asks for nothing this server lacks.

use serde_json::Value;

/// The first of `paths` that `request` sets.
pub fn refused_member(request: &Value, paths: &[&'static str]) -> Option<&'static str> {
    paths.iter().copied().find(|path| sets(request, path))
}

/// The refusal message for a JSON request `body` that sets one of `paths`. A body that is not
/// JSON is not judged here: the service's decoding names that problem.
pub fn refusal_in_json(body: &[u8], paths: &[&'static str]) -> Option<String> {
    if paths.is_empty() {
        return None;
    }
    let request = serde_json::from_slice::<Value>(body).ok()?;
    refused_member(&request, paths).map(not_supported_message)
}

/// The refusal's message, naming the member (and the value, for an enum value).
pub fn not_supported_message(path: &str) -> String {
    match path.split_once('=') {
        Some((member, value)) => {
            format!("The value {value} of parameter {member} is not supported yet by this server.")
        }
        None => format!("The parameter {path} is not supported yet by this server."),
    }
}

/// Whether the structure `value` sets `path` (which starts with a member name).
fn sets(value: &Value, path: &str) -> bool {
    let end = path.find(['.', '[', '{', '=']).unwrap_or(path.len());
    let (name, rest) = path.split_at(end);
    value.get(name).is_some_and(|child| rest_sets(child, rest))
}

fn rest_sets(value: &Value, rest: &str) -> bool {
    if let Some(rest) = rest.strip_prefix("[]") {
        return value.as_array().is_some_and(|items| items.iter().any(|i| rest_sets(i, rest)));
    }
    if let Some(rest) = rest.strip_prefix("{}") {
        return value.as_object().is_some_and(|map| map.values().any(|v| rest_sets(v, rest)));
    }
    if let Some(rest) = rest.strip_prefix('.') {
        return sets(value, rest);
    }
    if let Some(wanted) = rest.strip_prefix('=') {
        return value.as_str() == Some(wanted);
    }
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Number(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_set_members_at_any_depth_and_enum_values() {
        let paths = [
            "enableExecuteCommand",
            "containerDefinitions[].secrets",
            "deploymentConfiguration.strategy=BLUE_GREEN",
            "hooks[].stages[]=PRE_SCALE_UP",
            "options{}.secret",
        ];
        let cases = [
            (json!({"enableExecuteCommand": false}), None),
            (json!({"enableExecuteCommand": true}), Some("enableExecuteCommand")),
            (json!({"containerDefinitions": [{"name": "a"}, {"secrets": []}]}), None),
            (
                json!({"containerDefinitions": [{"name": "a"}, {"secrets": [{"name": "x"}]}]}),
                Some("containerDefinitions[].secrets"),
            ),
            (json!({"deploymentConfiguration": {"strategy": "ROLLING"}}), None),
            (
                json!({"deploymentConfiguration": {"strategy": "BLUE_GREEN"}}),
                Some("deploymentConfiguration.strategy=BLUE_GREEN"),
            ),
            (json!({"hooks": [{"stages": ["RECONCILE_SERVICE"]}]}), None),
            (
                json!({"hooks": [{"stages": ["RECONCILE_SERVICE", "PRE_SCALE_UP"]}]}),
                Some("hooks[].stages[]=PRE_SCALE_UP"),
            ),
            (json!({"options": {"a": {"secret": "s"}}}), Some("options{}.secret")),
            (json!({"options": {"a": {"other": "s"}}}), None),
            (json!("not an object"), None),
        ];
        for (request, expected) in cases {
            assert_eq!(refused_member(&request, &paths), expected, "{request}");
        }
    }

    #[test]
    fn messages_name_the_member_and_the_value() {
        assert_eq!(
            not_supported_message("loadBalancers"),
            "The parameter loadBalancers is not supported yet by this server."
        );
        assert_eq!(
            not_supported_message("propagateTags=SERVICE"),
            "The value SERVICE of parameter propagateTags is not supported yet by this server."
        );
    }
}

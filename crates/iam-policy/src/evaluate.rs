//! Evaluation: which statements apply to a request, and the decision they make together.

use crate::context::Context;
use crate::document::{Effect, Policy, Principal, Selector, Statement, VARIABLES_VERSION};
use crate::matching::{arn_like, glob, substitute};

/// What is asked: `ecs:RunTask` on a task definition's ARN, with the context's keys; for a
/// trust policy, by whom (`principal`).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub principal: Option<&'a Principal>,
    pub context: &'a Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A statement denies it: nothing else can allow it.
    ExplicitDeny,
    /// Nothing allows it.
    ImplicitDeny,
}

/// The decision of `policies` together (all of one principal's, or one resource policy's).
pub fn evaluate(policies: &[&Policy], request: &Request<'_>) -> Decision {
    let mut allowed = false;
    for policy in policies {
        let variables = policy.version == VARIABLES_VERSION;
        for statement in &policy.statements {
            if applies(statement, request, variables) {
                match statement.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

impl Policy {
    /// The statements whose `Action`/`NotAction` take `action`: evaluating `action` against
    /// this policy decides the same as against the whole one (the others never apply to it).
    pub fn for_action(&self, action: &str) -> Policy {
        let takes = |statement: &&Statement| {
            let matches = |pattern: &String| glob(pattern, action, true);
            match &statement.action {
                Selector::Only(list) => list.iter().any(matches),
                Selector::AllBut(list) => !list.iter().any(matches),
            }
        };
        Policy {
            version: self.version.clone(),
            statements: self.statements.iter().filter(takes).cloned().collect(),
        }
    }
}

/// The context keys (lower case) that evaluating `action` against `policies` can read: the
/// condition keys and policy variables of the statements whose `Action`/`NotAction` take it.
/// A caller may build only these into the request's context; the decision is the same.
pub fn keys_read(policies: &[&Policy], action: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut add = |key: String| {
        if !keys.contains(&key) {
            keys.push(key);
        }
    };
    for policy in policies {
        let variables = policy.version == VARIABLES_VERSION;
        for statement in &policy.statements {
            let takes = |pattern: &String| glob(pattern, action, true);
            let applies = match &statement.action {
                Selector::Only(list) => list.iter().any(takes),
                Selector::AllBut(list) => !list.iter().any(takes),
            };
            if !applies {
                continue;
            }
            for condition in &statement.conditions {
                add(condition.key().to_string());
                if variables {
                    condition.values().iter().flat_map(|v| variable_names(v)).for_each(&mut add);
                }
            }
            if let (true, Some(Selector::Only(list) | Selector::AllBut(list))) =
                (variables, &statement.resource)
            {
                list.iter().flat_map(|p| variable_names(p)).for_each(&mut add);
            }
        }
    }
    keys
}

/// The keys the policy variables of `text` name (`${aws:username}`, `${key, 'default'}`), lower
/// case; `${*}`, `${?}` and `${$}` name none.
fn variable_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = after[..end].split(',').next().unwrap_or("").trim();
        if !matches!(name, "*" | "?" | "$" | "") {
            names.push(name.to_ascii_lowercase());
        }
        rest = &after[end + 1..];
    }
    names
}

fn applies(statement: &Statement, request: &Request<'_>, variables: bool) -> bool {
    let action = |pattern: &String| glob(pattern, request.action, true);
    let action_matches = match &statement.action {
        Selector::Only(list) => list.iter().any(action),
        Selector::AllBut(list) => !list.iter().any(action),
    };
    if !action_matches {
        return false;
    }
    // A pattern whose variable has no value: `None`. It matches nothing in `Resource`, and
    // makes a `NotResource` statement not apply (it must never widen one).
    let resource = |pattern: &String| {
        let pattern = match variables {
            true => substitute(pattern, request.context),
            false => Some(pattern.clone()),
        };
        pattern.map(|p| arn_like(&p, request.resource))
    };
    let resource_matches = match &statement.resource {
        None => true,
        Some(Selector::Only(list)) => list.iter().any(|p| resource(p) == Some(true)),
        Some(Selector::AllBut(list)) => list
            .iter()
            .map(resource)
            .collect::<Option<Vec<bool>>>()
            .is_some_and(|m| !m.contains(&true)),
    };
    if !resource_matches {
        return false;
    }
    let principal_matches = match (&statement.principal, request.principal) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(Selector::Only(list)), Some(who)) => list.iter().any(|p| names(p, who)),
        (Some(Selector::AllBut(list)), Some(who)) => !list.iter().any(|p| names(p, who)),
    };
    principal_matches && statement.conditions.iter().all(|c| c.holds(request.context, variables))
}

/// Whether a policy's principal names `who`: `*`, the same kind and value, or (AWS) the
/// account id or root ARN of `who`'s account.
fn names(listed: &Principal, who: &Principal) -> bool {
    if listed.kind == "*" || (listed.kind == "AWS" && listed.value == "*") {
        return true;
    }
    if listed.kind != who.kind {
        return false;
    }
    if listed.value == who.value {
        return true;
    }
    // An account (its id or its root) names every principal of that account.
    let account_of = |arn: &str| arn.split(':').nth(4).map(str::to_string);
    let listed_account = match listed.value.strip_suffix(":root") {
        Some(root) => account_of(&format!("{root}:x")),
        None if listed.value.chars().all(|c| c.is_ascii_digit()) => Some(listed.value.clone()),
        None => None,
    };
    listed.kind == "AWS" && listed_account.is_some() && listed_account == account_of(&who.value)
}

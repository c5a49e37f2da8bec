//! SimulatePrincipalPolicy: what a user's, group's or role's policies (and any given in the
//! request) decide for actions on resources, without doing anything.

use flotilla_iam_policy::{evaluate, Context, Decision, Policy, Request};

use crate::error::IamError;
use crate::managed::document_of;
use crate::model::{Account, Permissions};
use crate::paging::page;
use crate::{wire, App};

fn documents(account: &Account, permissions: &Permissions) -> Vec<String> {
    permissions
        .inline
        .values()
        .cloned()
        .chain(
            permissions.attached.iter().filter_map(|a| document_of(account, a).map(str::to_string)),
        )
        .collect()
}

/// The documents of the principal or group `arn`, and the name `aws:username` takes.
fn source(
    app: &App,
    account: &Account,
    arn: &str,
) -> Result<(Vec<String>, Option<String>), IamError> {
    let invalid = || {
        IamError::InvalidInput(format!(
            "Invalid Entity Arn: {arn} does not clearly define entity type and name."
        ))
    };
    let prefix = format!("arn:aws:iam::{}:", app.account_id);
    let rest = arn.strip_prefix(&prefix).ok_or_else(invalid)?;
    let (kind, path_name) = rest.split_once('/').ok_or_else(invalid)?;
    let name = path_name.rsplit('/').next().unwrap_or(path_name).to_lowercase();
    match kind {
        "user" => {
            let user =
                account.users.get(&name).ok_or_else(|| IamError::no_such("user", path_name))?;
            let mut docs = documents(account, &user.permissions);
            for group in account.groups_of(&name) {
                docs.extend(documents(account, &group.permissions));
            }
            Ok((docs, Some(user.name.clone())))
        }
        "role" => {
            let role =
                account.roles.get(&name).ok_or_else(|| IamError::no_such("role", path_name))?;
            Ok((documents(account, &role.permissions), None))
        }
        "group" => {
            let group =
                account.groups.get(&name).ok_or_else(|| IamError::no_such("group", path_name))?;
            Ok((documents(account, &group.permissions), None))
        }
        _ => Err(invalid()),
    }
}

fn decision_name(decision: Decision) -> &'static str {
    match decision {
        Decision::Allow => "allowed",
        Decision::ExplicitDeny => "explicitDeny",
        Decision::ImplicitDeny => "implicitDeny",
    }
}

pub fn principal(
    app: &App,
    input: wire::SimulatePrincipalPolicyRequest,
) -> Result<wire::SimulatePolicyResponse, IamError> {
    let account = app.account.snapshot();
    let (mut docs, user_name) = source(app, &account, &input.policy_source_arn)?;
    docs.extend(input.policy_input_list.unwrap_or_default());
    let policies: Vec<Policy> = docs
        .iter()
        .map(|d| Policy::parse(d).map_err(|e| IamError::MalformedPolicyDocument(e.to_string())))
        .collect::<Result<_, _>>()?;
    let policies: Vec<&Policy> = policies.iter().collect();
    let mut context = Context::new();
    if let Some(name) = user_name {
        context = context.with("aws:username", name);
    }
    for entry in input.context_entries.unwrap_or_default() {
        if let Some(key) = entry.context_key_name {
            context = context.with_all(&key, entry.context_key_values.unwrap_or_default());
        }
    }
    let resources =
        input.resource_arns.filter(|r| !r.is_empty()).unwrap_or_else(|| vec!["*".into()]);
    let mut results = Vec::new();
    for action in &input.action_names {
        let decisions: Vec<(String, Decision)> = resources
            .iter()
            .map(|resource| {
                let request = Request { action, resource, principal: None, context: &context };
                (resource.clone(), evaluate(&policies, &request))
            })
            .collect();
        let overall = if decisions.iter().any(|(_, d)| *d == Decision::ExplicitDeny) {
            Decision::ExplicitDeny
        } else if decisions.iter().all(|(_, d)| *d == Decision::Allow) {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        };
        let specific = (decisions.len() > 1).then(|| {
            decisions
                .iter()
                .map(|(resource, decision)| wire::ResourceSpecificResult {
                    eval_resource_name: resource.clone(),
                    eval_resource_decision: decision_name(*decision).into(),
                    matched_statements: None,
                    missing_context_values: Some(Vec::new()),
                    eval_decision_details: None,
                    permissions_boundary_decision_detail: None,
                })
                .collect()
        });
        results.push(wire::EvaluationResult {
            eval_action_name: action.clone(),
            eval_resource_name: Some(if decisions.len() == 1 {
                decisions[0].0.clone()
            } else {
                "*".into()
            }),
            eval_decision: decision_name(overall).into(),
            matched_statements: None,
            missing_context_values: Some(Vec::new()),
            organizations_decision_detail: None,
            permissions_boundary_decision_detail: None,
            eval_decision_details: None,
            resource_specific_results: specific,
        });
    }
    let page = page(results, input.marker.as_deref(), input.max_items)?;
    Ok(wire::SimulatePolicyResponse {
        evaluation_results: Some(page.items),
        is_truncated: Some(page.is_truncated),
        marker: page.marker,
    })
}

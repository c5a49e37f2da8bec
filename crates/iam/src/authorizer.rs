//! The door's authorization hook: a request passes only if its principal's identity policies
//! allow its action on every resource it names (an explicit deny always wins), and, where it
//! names a role for a service to act as, allow `iam:PassRole` on that role. The account root
//! may do everything, as in AWS.

use std::sync::Arc;
use std::time::SystemTime;

use flotilla_front::{Action, Authorizer, Caller, Input, WireError};
use flotilla_iam_policy::{evaluate, keys_read, Context, Decision, Policy, Request};
use serde_json::Value;

use crate::actions::{self, member_values, ActionEntry, Place};
use crate::directory::PrincipalEntry;
use crate::App;

/// What the authorizer asks of other services about the resources a request names (wired by
/// the server; a service that does not know a resource answers nothing).
pub trait ResourceFacts: Send + Sync {
    /// The roles (task role, execution role) of ECS task definition `reference` (a family, a
    /// `family:revision` or an ARN; a family is its latest ACTIVE revision) in `region`.
    fn task_definition_roles(&self, region: &str, reference: &str) -> Vec<String>;
    /// The tags of resource `arn`; `None` when the service keeps no tags for it.
    fn tags(&self, arn: &str) -> Option<Vec<(String, String)>>;
    /// The ARN a resource really has, where the request could only name part of it (a secret
    /// by its name: its ARN ends in six random characters); `None` to keep the ARN as built.
    fn canonical_arn(&self, _arn: &str) -> Option<String> {
        None
    }
}

/// Knows no resource: for an authorizer without services (tests).
pub struct NoFacts;

impl ResourceFacts for NoFacts {
    fn task_definition_roles(&self, _region: &str, _reference: &str) -> Vec<String> {
        Vec::new()
    }

    fn tags(&self, _arn: &str) -> Option<Vec<(String, String)>> {
        None
    }
}

/// Evaluates IAM policies on every request.
pub struct PolicyAuthorizer {
    pub iam: Arc<App>,
    pub facts: Arc<dyn ResourceFacts>,
}

/// STS operations any caller may make whatever its policies (as in AWS).
const ALWAYS_ALLOWED: &[(&str, &str)] = &[("sts", "GetCallerIdentity"), ("sts", "GetSessionToken")];

impl Authorizer for PolicyAuthorizer {
    fn authorize(&self, caller: &Caller, action: &Action<'_>) -> Result<(), WireError> {
        // The account root: `arn:aws:iam::<its account>:root` (no allocation on this path).
        let root = caller
            .principal_arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.strip_suffix(":root"))
            .is_some_and(|account| account == caller.account_id);
        if !root && !caller.temporary {
            self.iam.note_use(&caller.access_key_id, action.service, &caller.region, action.now);
        }
        if root || ALWAYS_ALLOWED.contains(&(action.service, action.operation)) {
            return Ok(());
        }
        let directory = self.iam.directory();
        let Some(entry) = actions::entry(action.service, action.operation) else {
            // Every served operation has a row (scripts/iam-actions-gen.py --check): an
            // unknown one is answered as such by its service, unauthorized here.
            return Err(denied(
                caller,
                action.service,
                &format!("{}:{}", action.service, action.operation),
                "*",
                Decision::ImplicitDeny,
            ));
        };
        let Some(principal) = directory.principal(&caller.principal_arn) else {
            return Err(denied(caller, action.service, entry.action, "*", Decision::ImplicitDeny));
        };
        if session_refuses(caller, action) {
            return Err(WireError::access_denied(format!(
                "Cannot call {} with session credentials from GetSessionToken",
                action.operation
            )));
        }
        // The principal's statements that take the action (and, for a passed role,
        // iam:PassRole), remembered per principal and action.
        let for_action = principal.policies_for(entry.action);
        let policies: Vec<&Policy> = for_action.iter().collect();
        let for_pass_role = entry.passes_role.then(|| principal.policies_for("iam:PassRole"));
        let pass_role_policies: Vec<&Policy> =
            for_pass_role.iter().flat_map(|cut| cut.iter()).collect();
        // Only what the policies can read goes into the context, and the body is decoded only
        // when a resource, a key or a passed role needs it: most requests of most principals
        // need neither.
        let mut wanted = keys_read(&policies, entry.action);
        wanted.extend(keys_read(&pass_role_policies, "iam:PassRole"));
        let wanted = Wanted(wanted);
        let reads_request = entry.passes_role
            || entry.resources.iter().any(|r| names_request_members(r.arn))
            || wanted.any(|k| {
                k.starts_with("aws:requesttag/") || k == "aws:tagkeys" || k.starts_with("ecs:")
            });
        let parsed;
        let input = match action.input {
            Input::Json(body) if reads_request => {
                parsed = actions::json_members(body);
                &parsed
            }
            Input::Params(params) => params,
            _ => &Value::Null,
        };
        let place = Place { region: &caller.region, account: &caller.account_id };
        let context = context(caller, principal, entry, action, input, &place, &wanted);
        let resource_tags =
            wanted.any(|k| k.starts_with("aws:resourcetag/") || k.contains(":resourcetag/"));
        for resource in actions::resources(entry, action.service, input, &place) {
            let resource = self.facts.canonical_arn(&resource).unwrap_or(resource);
            // A resource's tags are keys of its own: `aws:ResourceTag/<key>` and the service's
            // `<prefix>:ResourceTag/<key>`.
            let tagged;
            let context = match resource_tags.then(|| self.facts.tags(&resource)).flatten() {
                Some(tags) => {
                    let mut with_tags = context.clone();
                    for (key, value) in tags {
                        with_tags = with_tags
                            .with(&format!("aws:ResourceTag/{key}"), value.clone())
                            .with(&format!("{}:ResourceTag/{key}", action.service), value);
                    }
                    tagged = with_tags;
                    &tagged
                }
                None => &context,
            };
            let request =
                Request { action: entry.action, resource: &resource, principal: None, context };
            match evaluate(&policies, &request) {
                Decision::Allow => {}
                refused => {
                    return Err(denied(caller, action.service, entry.action, &resource, refused))
                }
            }
        }
        if entry.passes_role {
            let mut roles = passed_roles(input);
            // The task definition a task or service runs hands its roles to ECS too.
            if action.service == "ecs" && action.operation != "RegisterTaskDefinition" {
                for reference in member_values(input, "taskDefinition") {
                    let named = self.facts.task_definition_roles(&caller.region, &reference);
                    roles.extend(named.into_iter().map(|role| (role, "ecs-tasks.amazonaws.com")));
                }
            }
            roles.sort();
            roles.dedup();
            for (role, to_service) in roles {
                let context = context.clone().with("iam:PassedToService", to_service);
                let request = Request {
                    action: "iam:PassRole",
                    resource: &role,
                    principal: None,
                    context: &context,
                };
                match evaluate(&pass_role_policies, &request) {
                    Decision::Allow => {}
                    refused => {
                        return Err(denied(caller, action.service, "iam:PassRole", &role, refused))
                    }
                }
            }
        }
        Ok(())
    }
}

/// The (lower-case) context keys the principal's policies can read for this request.
struct Wanted(Vec<String>);

impl Wanted {
    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|k| k.eq_ignore_ascii_case(key))
    }

    fn any(&self, test: impl Fn(&str) -> bool) -> bool {
        self.0.iter().any(|k| test(k))
    }
}

/// Whether an ARN template has a variable a request member fills (not only the partition,
/// region and account).
fn names_request_members(template: &str) -> bool {
    template.split("${").skip(1).any(|v| {
        !v.starts_with("Partition}") && !v.starts_with("Region}") && !v.starts_with("Account}")
    })
}

/// Credentials from GetSessionToken may not call IAM, nor STS beyond AssumeRole and
/// GetCallerIdentity (AWS's rule, without MFA).
fn session_refuses(caller: &Caller, action: &Action<'_>) -> bool {
    let user_session = caller.temporary && caller.principal_arn.contains(":user/");
    user_session
        && (action.service == "iam"
            || (action.service == "sts"
                && !matches!(action.operation, "AssumeRole" | "GetCallerIdentity")))
}

/// AccessDenied as AWS words it (EC2 says `UnauthorizedOperation`).
fn denied(
    caller: &Caller,
    service: &str,
    action: &str,
    resource: &str,
    decision: Decision,
) -> WireError {
    let why = match decision {
        Decision::ExplicitDeny => "with an explicit deny in an identity-based policy".to_string(),
        _ => format!("because no identity-based policy allows the {action} action"),
    };
    let message = format!(
        "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
        caller.principal_arn
    );
    if service == "ec2" {
        return WireError::new(
            "UnauthorizedOperation",
            403,
            format!("You are not authorized to perform this operation. {message}"),
        );
    }
    WireError::access_denied(message)
}

/// Roles a request hands to a service, with the service that will act as them.
fn passed_roles(input: &Value) -> Vec<(String, &'static str)> {
    let mut roles = Vec::new();
    for (member, service) in [
        ("taskRoleArn", "ecs-tasks.amazonaws.com"),
        ("executionRoleArn", "ecs-tasks.amazonaws.com"),
        ("role", "ecs.amazonaws.com"),
    ] {
        roles.extend(member_values(input, member).into_iter().map(|arn| (arn, service)));
        if let Some(overrides) = input.get("overrides") {
            roles.extend(member_values(overrides, member).into_iter().map(|arn| (arn, service)));
        }
    }
    roles
}

/// The request's condition keys that the policies read (`wanted`): the principal's, the
/// request's tags, the time, where it came from, and the service keys the action supports that
/// name a resource (`ecs:cluster`).
fn context(
    caller: &Caller,
    principal: &PrincipalEntry,
    entry: &ActionEntry,
    action: &Action<'_>,
    input: &Value,
    place: &Place<'_>,
    wanted: &Wanted,
) -> Context {
    let assumed = caller.principal_arn.contains(":assumed-role/");
    let mut context = Context::new();
    let mut put = |key: &str, value: &dyn Fn() -> String| {
        if wanted.has(key) {
            context = std::mem::take(&mut context).with(key, value());
        }
    };
    put("aws:PrincipalArn", &|| principal.arn.clone());
    put("aws:PrincipalAccount", &|| caller.account_id.clone());
    put("aws:PrincipalType", &|| if assumed { "AssumedRole" } else { "User" }.to_string());
    put("aws:RequestedRegion", &|| caller.region.clone());
    put("aws:SecureTransport", &|| "false".to_string());
    put("aws:ViaAWSService", &|| "false".to_string());
    put("aws:CurrentTime", &|| iso8601(action.now));
    put("aws:EpochTime", &|| epoch(action.now).to_string());
    if assumed {
        let session = caller.principal_arn.rsplit('/').next().unwrap_or("");
        put("aws:userid", &|| format!("{}:{session}", principal.id));
    } else {
        put("aws:userid", &|| principal.id.clone());
        put("aws:username", &|| principal.name.clone());
    }
    if let Some(ip) = action.source_ip {
        put("aws:SourceIp", &|| ip.to_string());
    }
    for tag in &principal.tags {
        put(&format!("aws:PrincipalTag/{}", tag.key), &|| tag.value.clone());
    }
    if wanted.any(|k| k.starts_with("aws:requesttag/") || k == "aws:tagkeys") {
        let tags = request_tags(input);
        if !tags.is_empty() {
            context = context.with_all("aws:TagKeys", tags.iter().map(|(k, _)| k.clone()));
            for (key, value) in tags {
                context = context.with(&format!("aws:RequestTag/{key}"), value);
            }
        }
    }
    // The ECS keys that name a resource take that resource's ARN.
    const ECS_KEYS: &[(&str, &str)] = &[
        ("ecs:cluster", "arn:${Partition}:ecs:${Region}:${Account}:cluster/${ClusterName}"),
        ("ecs:service", "arn:${Partition}:ecs:${Region}:${Account}:service/${ClusterName}/${ServiceName}"),
        ("ecs:task-definition", "arn:${Partition}:ecs:${Region}:${Account}:task-definition/${TaskDefinitionFamilyName}:${TaskDefinitionRevisionNumber}"),
        ("ecs:container-instances", "arn:${Partition}:ecs:${Region}:${Account}:container-instance/${ClusterName}/${ContainerInstanceId}"),
        ("ecs:capacity-provider", "arn:${Partition}:ecs:${Region}:${Account}:capacity-provider/${CapacityProviderName}"),
    ];
    if action.service == "ecs" {
        for (key, template) in ECS_KEYS {
            let supported = entry.condition_keys.iter().any(|k| k.eq_ignore_ascii_case(key));
            if supported && wanted.has(key) {
                let arns = actions::fill(template, "ecs", input, place);
                if !arns.is_empty() {
                    context = context.with_all(key, arns);
                }
            }
        }
    }
    context
}

/// The tags a request puts on what it creates or tags: ECS's `tags` (`key`/`value`) and the
/// query services' `Tags` (`Key`/`Value`).
fn request_tags(input: &Value) -> Vec<(String, String)> {
    let Some(tags) = input
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("tags")).map(|(_, v)| v))
    else {
        return Vec::new();
    };
    let items: Vec<&Value> = match tags {
        Value::Array(items) => items.iter().collect(),
        // Query lists arrive typed as arrays; a map of members is read the same way.
        Value::Object(members) => members.values().collect(),
        _ => Vec::new(),
    };
    let field = |item: &Value, name: &str| {
        item.as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    };
    items
        .into_iter()
        .filter_map(|item| Some((field(item, "key")?, field(item, "value").unwrap_or_default())))
        .collect()
}

fn epoch(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn iso8601(at: SystemTime) -> String {
    flotilla_front::document::iso8601(epoch(at) as i64)
}

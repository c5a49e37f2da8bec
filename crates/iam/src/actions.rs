//! What a request asks, in IAM's terms: the operation's action, the ARNs of the resources it
//! names and its condition keys. The action, resource types (ARN templates) and keys of every
//! operation come from the generated [`crate::actions_table`]; which request member fills which
//! ARN variable is the hand-written part below (AWS's reference does not say).

use serde_json::Value;

pub use crate::entry::{ActionEntry, ResourceEntry};

/// The row of `operation` of the service signing as `signing_name`.
pub fn entry(signing_name: &str, operation: &str) -> Option<&'static ActionEntry> {
    let table = crate::actions_table::table(signing_name)?;
    table.binary_search_by(|e| e.operation.cmp(operation)).ok().map(|i| &table[i])
}

/// Every string a request member holds: the member itself (its name compared without case),
/// each item of a list, every leaf of a query-protocol list (`member.N`) or an object.
pub fn member_values(input: &Value, member: &str) -> Vec<String> {
    fn leaves(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| leaves(v, out)),
            Value::Object(fields) => fields.values().for_each(|v| leaves(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Value::Object(fields) = input {
        for (name, value) in fields {
            if name.eq_ignore_ascii_case(member) {
                leaves(value, &mut out);
            }
        }
    }
    out
}

/// The members that can fill ARN variable `variable` of `service`'s resources, in order.
fn members_of(service: &str, variable: &str) -> &'static [&'static str] {
    match (service, variable) {
        ("ecs", "ClusterName") => &["cluster", "clusters", "clusterName"],
        ("ecs", "ServiceName") => &["service", "services", "serviceName"],
        ("ecs", "TaskId") => &["task", "tasks"],
        ("ecs", "ContainerInstanceId") => &["containerInstance", "containerInstances"],
        ("ecs", "TaskSetId") => &["taskSet", "taskSets"],
        ("ecs", "TaskDefinitionFamilyName") => &["taskDefinition", "taskDefinitions", "family"],
        ("ecs", "CapacityProviderName") => &["capacityProvider", "capacityProviders", "name"],
        ("elasticloadbalancing", "LoadBalancerName" | "TargetGroupName") => &["Name"],
        ("logs", "LogGroupName") => &["logGroupName", "logGroupIdentifier"],
        ("logs", "LogStreamName") => &["logStreamName"],
        ("servicediscovery", "NamespaceId") => &["NamespaceId", "Id"],
        ("servicediscovery", "ServiceId") => &["ServiceId", "Id"],
        ("ec2", "SecurityGroupId") => &["GroupId", "SecurityGroupId"],
        ("ec2", "VpcId") => &["VpcId"],
        ("ec2", "SubnetId") => &["SubnetId"],
        ("iam", "UserNameWithPath") => &["UserName"],
        ("iam", "RoleNameWithPath") => &["RoleName"],
        ("iam", "GroupNameWithPath") => &["GroupName"],
        ("iam", "PolicyNameWithPath") => &["PolicyName"],
        ("secretsmanager", "SecretId") => &["SecretId"],
        ("ssm", "ParameterNameWithoutLeadingSlash") => &["Name", "Names", "Path", "ResourceId"],
        _ => &[],
    }
}

/// Members whose values are whole ARNs of whatever type the action is checked on.
const ARN_MEMBERS: &[&str] = &[
    "resourceArn",
    "ResourceArns",
    "LoadBalancerArn",
    "LoadBalancerArns",
    "TargetGroupArn",
    "TargetGroupArns",
    "ListenerArn",
    "ListenerArns",
    "RuleArn",
    "RuleArns",
    "CertificateArn",
    "PolicyArn",
    "PolicySourceArn",
    "ResourceARN",
    "RoleArn",
];

/// Every top-level request member a binding here reads (names, ARNs, tags, roles): a JSON
/// body is decoded for these only.
const MEMBERS_READ: &[&str] = &[
    "cluster",
    "clusters",
    "clusterName",
    "service",
    "services",
    "serviceName",
    "task",
    "tasks",
    "containerInstance",
    "containerInstances",
    "taskSet",
    "taskSets",
    "taskDefinition",
    "taskDefinitions",
    "family",
    "capacityProvider",
    "capacityProviders",
    "name",
    "Name",
    "logGroupName",
    "logGroupIdentifier",
    "logStreamName",
    "NamespaceId",
    "ServiceId",
    "Id",
    "GroupId",
    "SecurityGroupId",
    "VpcId",
    "SubnetId",
    "UserName",
    "RoleName",
    "GroupName",
    "PolicyName",
    "SecretId",
    "Names",
    "Path",
    "ResourceId",
    "tags",
    "taskRoleArn",
    "executionRoleArn",
    "role",
    "overrides",
];

/// The members of a JSON body that the bindings read, decoded; the rest (container
/// definitions, log events...) only checked to be JSON, never built. `Null` when the body is
/// not a JSON object (its service refuses it).
pub fn json_members(body: &[u8]) -> Value {
    use serde_json::value::RawValue;
    let Ok(members) = serde_json::from_slice::<std::collections::BTreeMap<String, &RawValue>>(body)
    else {
        return Value::Null;
    };
    let read = |name: &str| {
        MEMBERS_READ.contains(&name) || ARN_MEMBERS.iter().any(|m| m.eq_ignore_ascii_case(name))
    };
    let object = members
        .into_iter()
        .filter(|(name, _)| read(name))
        .filter_map(|(name, raw)| Some((name, serde_json::from_str(raw.get()).ok()?)))
        .collect();
    Value::Object(object)
}

/// Where a request is: the values of `${Partition}`, `${Region}` and `${Account}`.
pub struct Place<'a> {
    pub region: &'a str,
    pub account: &'a str,
}

/// The ARNs `entry` is checked on for this request: those of each resource type the request
/// names (an ARN given whole, or a template filled from its members), or `*` when it names
/// none (List and Describe-all operations, and creations whose id the server assigns).
pub fn resources(
    entry: &ActionEntry,
    service: &str,
    input: &Value,
    place: &Place<'_>,
) -> Vec<String> {
    let whole: Vec<String> = ARN_MEMBERS
        .iter()
        .flat_map(|m| member_values(input, m))
        .chain(id_members(service).iter().flat_map(|m| member_values(input, m)))
        .filter(|v| v.starts_with("arn:"))
        .collect();
    let mut out = Vec::new();
    for resource in entry.resources {
        let prefix = type_prefix(resource.arn);
        let given: Vec<&String> = whole
            .iter()
            .filter(|arn| arn_resource(arn).is_some_and(|r| r.starts_with(prefix)))
            .collect();
        if !given.is_empty() {
            out.extend(given.into_iter().cloned());
            continue;
        }
        out.extend(fill(resource.arn, service, input, place));
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        out.push("*".to_string());
    }
    out
}

/// Members of `service` that hold a resource's name or its ARN (ECS takes either).
fn id_members(service: &str) -> &'static [&'static str] {
    match service {
        "ecs" => &[
            "cluster",
            "clusters",
            "service",
            "services",
            "task",
            "tasks",
            "containerInstance",
            "containerInstances",
            "taskDefinition",
            "taskDefinitions",
            "taskSet",
            "taskSets",
            "capacityProvider",
        ],
        "secretsmanager" => &["SecretId"],
        "ssm" => &["Name", "Names", "ResourceId"],
        _ => &[],
    }
}

/// The resource part of an ARN (after its fifth colon).
fn arn_resource(arn: &str) -> Option<&str> {
    arn.splitn(6, ':').nth(5)
}

/// The fixed start of a template's resource part: `cluster/`, `log-group:`.
fn type_prefix(template: &str) -> &str {
    let resource = arn_resource(template).unwrap_or("");
    resource.split("${").next().unwrap_or("")
}

/// Fills a template's variables from the request; none when a variable has no value (the
/// request does not name a resource of this type). Batch members give one ARN each.
pub(crate) fn fill(template: &str, service: &str, input: &Value, place: &Place<'_>) -> Vec<String> {
    let mut arns = vec![String::new()];
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else { break };
        let variable = &rest[start + 2..start + len];
        let values: Vec<String> = match variable {
            "Partition" => vec!["aws".into()],
            "Region" => vec![place.region.into()],
            "Account" => vec![place.account.into()],
            "TaskDefinitionRevisionNumber" => vec![String::new()],
            other => variable_values(service, other, input),
        };
        let prefix = &rest[..start];
        if variable == "TaskDefinitionRevisionNumber" {
            // The family member carries the revision (`web:3`) or none (`web`): a bare
            // family is checked as `task-definition/web`, its latest revision being the
            // service's to resolve.
            rest = &rest[start + len + 1..];
            continue;
        }
        if values.is_empty() {
            return Vec::new();
        }
        let mut next = Vec::with_capacity(arns.len() * values.len());
        for arn in &arns {
            for value in &values {
                next.push(format!("{arn}{prefix}{value}"));
            }
        }
        arns = next;
        rest = &rest[start + len + 1..];
    }
    arns.into_iter().map(|a| a + rest).collect()
}

/// The values of ARN variable `variable`: from its members, a name kept, an ARN cut to its
/// last part (`arn:...:cluster/prod` gives `prod`; a task definition keeps `family:rev`).
fn variable_values(service: &str, variable: &str, input: &Value) -> Vec<String> {
    let mut values = Vec::new();
    for member in members_of(service, variable) {
        for value in member_values(input, member) {
            let short = match arn_resource(&value) {
                Some(resource) if value.starts_with("arn:") => {
                    resource.rsplit('/').next().unwrap_or(resource).to_string()
                }
                _ if variable == "ParameterNameWithoutLeadingSlash" => parameter_path(&value),
                _ => value,
            };
            values.push(short);
        }
        if !values.is_empty() {
            break;
        }
    }
    if values.is_empty() && service == "ecs" && variable == "ClusterName" {
        // ECS operations on a cluster that name none act on `default`.
        values.push("default".into());
    }
    values
}

/// A parameter's name as its ARN has it: without the leading `/` and without a `:version`
/// or `:label` selector (`/app/db:3` is `app/db`).
fn parameter_path(name: &str) -> String {
    let name = name.split(':').next().unwrap_or(name);
    name.strip_prefix('/').unwrap_or(name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PLACE: Place<'static> = Place { region: "us-east-1", account: "123456789012" };

    fn checked(service: &str, operation: &str, input: Value) -> Vec<String> {
        let entry = entry(service, operation).expect("served operation");
        resources(entry, service, &input, &PLACE)
    }

    #[test]
    fn secrets_and_parameters_are_checked_on_their_arns() {
        assert_eq!(
            checked("secretsmanager", "GetSecretValue", json!({"SecretId": "db"})),
            ["arn:aws:secretsmanager:us-east-1:123456789012:secret:db"],
            "a name gives the ARN without its random suffix (the server completes it)"
        );
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";
        assert_eq!(checked("secretsmanager", "DescribeSecret", json!({"SecretId": arn})), [arn]);
        assert_eq!(
            checked("ssm", "GetParameters", json!({"Names": ["/app/db:2", "plain"]})),
            [
                "arn:aws:ssm:us-east-1:123456789012:parameter/app/db",
                "arn:aws:ssm:us-east-1:123456789012:parameter/plain",
            ]
        );
        assert_eq!(
            checked("ssm", "GetParametersByPath", json!({"Path": "/app"})),
            ["arn:aws:ssm:us-east-1:123456789012:parameter/app"]
        );
    }

    #[test]
    fn ecs_requests_are_checked_on_the_resources_they_name() {
        assert_eq!(
            checked("ecs", "RunTask", json!({"taskDefinition": "web:3", "cluster": "prod"})),
            ["arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"]
        );
        assert_eq!(
            checked("ecs", "RunTask", json!({"taskDefinition": "web"})),
            ["arn:aws:ecs:us-east-1:123456789012:task-definition/web"],
            "a family without revision is checked as the family"
        );
        assert_eq!(
            checked(
                "ecs",
                "DeleteCluster",
                json!({"cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod"})
            ),
            ["arn:aws:ecs:us-east-1:123456789012:cluster/prod"]
        );
        assert_eq!(
            checked("ecs", "DescribeClusters", json!({"clusters": ["a", "b"]})),
            [
                "arn:aws:ecs:us-east-1:123456789012:cluster/a",
                "arn:aws:ecs:us-east-1:123456789012:cluster/b"
            ]
        );
        assert_eq!(
            checked("ecs", "UpdateService", json!({"service": "api"})),
            ["arn:aws:ecs:us-east-1:123456789012:service/default/api"],
            "no cluster means the default cluster"
        );
        assert_eq!(checked("ecs", "ListClusters", json!({})), ["*"]);
    }

    #[test]
    fn query_services_take_whole_arns_and_names() {
        let lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
        assert_eq!(
            checked("elasticloadbalancing", "DeleteLoadBalancer", json!({"LoadBalancerArn": lb})),
            [lb]
        );
        assert_eq!(
            checked(
                "logs",
                "PutLogEvents",
                json!({"logGroupName": "/ecs/web", "logStreamName": "s"})
            ),
            ["arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web:log-stream:s"]
        );
    }
}

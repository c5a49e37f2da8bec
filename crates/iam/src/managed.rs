//! Managed policies: the account's own (with up to five versions, one the default) and the few
//! AWS managed policies this server ships, read-only as in AWS.

use serde_json::{json, Value};

use crate::documents::check_identity_document;
use crate::error::IamError;
use crate::model::{Account, ManagedPolicy, PolicyVersion};
use crate::names::{check_name, check_tags, encoded_document, path_or_root, unique_id};
use crate::paging::page;
use crate::users::{tags_in, tags_out};
use crate::{wire, App};

/// The most versions a managed policy keeps.
const MAX_VERSIONS: usize = 5;

/// An AWS managed policy this server ships: ARN, path, document.
pub struct AwsManaged {
    pub name: &'static str,
    pub path: &'static str,
    pub description: &'static str,
    pub document: &'static str,
}

/// The AWS managed policies users attach most to ECS principals, with AWS's documents.
pub const AWS_MANAGED: &[AwsManaged] = &[
    AwsManaged {
        name: "AdministratorAccess",
        path: "/",
        description: "Provides full access to AWS services and resources.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    },
    AwsManaged {
        name: "IAMReadOnlyAccess",
        path: "/",
        description: "Provides read only access to IAM via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GenerateCredentialReport","iam:GenerateServiceLastAccessedDetails","iam:Get*","iam:List*","iam:SimulateCustomPolicy","iam:SimulatePrincipalPolicy"],"Resource":"*"}]}"#,
    },
    AwsManaged {
        name: "AmazonECSTaskExecutionRolePolicy",
        path: "/service-role/",
        description: "Provides access to other AWS service resources that are required to run Amazon ECS tasks",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#,
    },
];

fn aws_arn(policy: &AwsManaged) -> String {
    format!("arn:aws:iam::aws:policy{}{}", policy.path, policy.name)
}

fn aws_managed(arn: &str) -> Option<&'static AwsManaged> {
    AWS_MANAGED.iter().find(|p| aws_arn(p) == arn)
}

/// The default document of managed policy `arn`, the account's or AWS's.
pub(crate) fn document_of<'a>(account: &'a Account, arn: &str) -> Option<&'a str> {
    match account.policies.get(arn) {
        Some(policy) => policy.default_document(),
        None => aws_managed(arn).map(|p| p.document),
    }
}

pub(crate) fn path_of<'a>(account: &'a Account, arn: &str) -> Option<&'a str> {
    match account.policies.get(arn) {
        Some(policy) => Some(&policy.path),
        None => aws_managed(arn).map(|p| p.path),
    }
}

fn missing(arn: &str) -> IamError {
    IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
}

fn policy_out(account: &Account, policy: &ManagedPolicy, with_tags: bool) -> wire::Policy {
    wire::Policy {
        policy_name: Some(policy.name.clone()),
        policy_id: Some(policy.id.clone()),
        arn: Some(policy.arn.clone()),
        path: Some(policy.path.clone()),
        default_version_id: Some(policy.default_version.clone()),
        attachment_count: Some(account.attachment_count(&policy.arn) as i32),
        permissions_boundary_usage_count: Some(0),
        is_attachable: Some(true),
        description: policy.description.clone(),
        create_date: Some(policy.created),
        update_date: Some(policy.updated),
        tags: (with_tags && !policy.tags.is_empty()).then(|| tags_out(&policy.tags)),
    }
}

fn aws_policy_out(account: &Account, policy: &AwsManaged) -> wire::Policy {
    let arn = aws_arn(policy);
    wire::Policy {
        policy_name: Some(policy.name.into()),
        policy_id: Some(format!(
            "ANPA{}",
            &policy.name.to_uppercase().replace(['_', '-'], "")[..8.min(policy.name.len())]
        )),
        attachment_count: Some(account.attachment_count(&arn) as i32),
        arn: Some(arn),
        path: Some(policy.path.into()),
        default_version_id: Some("v1".into()),
        permissions_boundary_usage_count: Some(0),
        is_attachable: Some(true),
        description: Some(policy.description.into()),
        create_date: Some(0.0),
        update_date: Some(0.0),
        tags: None,
    }
}

pub async fn create(
    app: &App,
    input: wire::CreatePolicyRequest,
    now: f64,
) -> Result<wire::CreatePolicyResponse, IamError> {
    check_name("policyName", &input.policy_name, 128)?;
    let path = path_or_root(input.path)?;
    check_identity_document(&input.policy_document)?;
    if input.policy_document.chars().filter(|c| !c.is_whitespace()).count() > 6144 {
        return Err(IamError::LimitExceeded("Cannot exceed quota for PolicySize: 6144".into()));
    }
    let tags = tags_in(input.tags);
    check_tags(&tags)?;
    let id = unique_id("ANPA")?;
    let arn = app.arn("policy", &path, &input.policy_name);
    let (account, policy) = app
        .change(|account| {
            if account.policies.values().any(|p| p.name.eq_ignore_ascii_case(&input.policy_name)) {
                return Err(IamError::EntityAlreadyExists(format!(
                    "A policy called {} already exists. Duplicate names are not allowed.",
                    input.policy_name
                )));
            }
            let policy = ManagedPolicy {
                arn: arn.clone(),
                name: input.policy_name.clone(),
                id,
                path,
                description: input.description.clone(),
                created: now,
                updated: now,
                default_version: "v1".into(),
                versions: vec![PolicyVersion {
                    id: "v1".into(),
                    document: input.policy_document.clone(),
                    created: now,
                }],
                next_version: 2,
                tags,
            };
            account.policies.insert(arn.clone(), policy.clone());
            Ok((account.clone(), policy))
        })
        .await?;
    Ok(wire::CreatePolicyResponse { policy: Some(policy_out(&account, &policy, true)) })
}

pub fn get(app: &App, input: wire::GetPolicyRequest) -> Result<wire::GetPolicyResponse, IamError> {
    let account = app.account.snapshot();
    let policy = match account.policies.get(&input.policy_arn) {
        Some(policy) => policy_out(&account, policy, true),
        None => aws_policy_out(
            &account,
            aws_managed(&input.policy_arn).ok_or_else(|| missing(&input.policy_arn))?,
        ),
    };
    Ok(wire::GetPolicyResponse { policy: Some(policy) })
}

pub fn list(
    app: &App,
    input: wire::ListPoliciesRequest,
) -> Result<wire::ListPoliciesResponse, IamError> {
    let account = app.account.snapshot();
    let scope = input.scope.as_deref().unwrap_or("All");
    let prefix = input.path_prefix.unwrap_or_else(|| "/".into());
    let only_attached = input.only_attached.unwrap_or(false);
    // No policy here is a permissions boundary (boundaries are refused), so that filter
    // lists none.
    let boundaries_only = input.policy_usage_filter.as_deref() == Some("PermissionsBoundary");
    let mut policies: Vec<wire::Policy> = Vec::new();
    if scope != "Local" {
        policies.extend(AWS_MANAGED.iter().map(|p| aws_policy_out(&account, p)));
    }
    if scope != "AWS" {
        policies.extend(account.policies.values().map(|p| policy_out(&account, p, false)));
    }
    policies.retain(|p| {
        p.path.as_deref().is_some_and(|path| path.starts_with(&prefix))
            && (!only_attached || p.attachment_count.unwrap_or(0) > 0)
            && !boundaries_only
    });
    let page = page(policies, input.marker.as_deref(), input.max_items)?;
    Ok(wire::ListPoliciesResponse {
        policies: Some(page.items),
        is_truncated: Some(page.is_truncated),
        marker: page.marker,
    })
}

/// The account's own policy `arn` to change: AWS's are read-only.
fn own<'a>(account: &'a mut Account, arn: &str) -> Result<&'a mut ManagedPolicy, IamError> {
    if aws_managed(arn).is_some() {
        return Err(IamError::InvalidInput(format!(
            "Policy {arn} is an AWS managed policy and cannot be changed."
        )));
    }
    account.policies.get_mut(arn).ok_or_else(|| missing(arn))
}

pub async fn delete(app: &App, input: wire::DeletePolicyRequest) -> Result<Value, IamError> {
    app.change(|account| {
        let attached = account.attachment_count(&input.policy_arn);
        let policy = own(account, &input.policy_arn)?;
        if attached > 0 {
            return Err(IamError::DeleteConflict("Cannot delete a policy attached to entities.".into()));
        }
        if policy.versions.len() > 1 {
            return Err(IamError::DeleteConflict(
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.".into(),
            ));
        }
        account.policies.remove(&input.policy_arn);
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

fn version_out(
    policy_default: &str,
    version: &PolicyVersion,
    with_document: bool,
) -> wire::PolicyVersion {
    wire::PolicyVersion {
        document: with_document.then(|| encoded_document(&version.document)),
        version_id: Some(version.id.clone()),
        is_default_version: Some(version.id == policy_default),
        create_date: Some(version.created),
    }
}

pub async fn create_version(
    app: &App,
    input: wire::CreatePolicyVersionRequest,
    now: f64,
) -> Result<wire::CreatePolicyVersionResponse, IamError> {
    check_identity_document(&input.policy_document)?;
    let (default, version) = app
        .change(|account| {
            let policy = own(account, &input.policy_arn)?;
            if policy.versions.len() >= MAX_VERSIONS {
                return Err(IamError::LimitExceeded(format!(
                    "A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new version, you must delete an existing version."
                )));
            }
            let version = PolicyVersion {
                id: format!("v{}", policy.next_version),
                document: input.policy_document.clone(),
                created: now,
            };
            policy.next_version += 1;
            policy.versions.push(version.clone());
            if input.set_as_default.unwrap_or(false) {
                policy.default_version = version.id.clone();
                policy.updated = now;
            }
            Ok((policy.default_version.clone(), version))
        })
        .await?;
    Ok(wire::CreatePolicyVersionResponse {
        policy_version: Some(version_out(&default, &version, false)),
    })
}

fn version_missing(arn: &str, id: &str) -> IamError {
    IamError::NoSuchEntity(format!(
        "Policy {arn} version {id} does not exist or is not attachable."
    ))
}

pub fn get_version(
    app: &App,
    input: wire::GetPolicyVersionRequest,
) -> Result<wire::GetPolicyVersionResponse, IamError> {
    let account = app.account.snapshot();
    if let Some(policy) = aws_managed(&input.policy_arn) {
        if input.version_id != "v1" {
            return Err(version_missing(&input.policy_arn, &input.version_id));
        }
        let version =
            PolicyVersion { id: "v1".into(), document: policy.document.into(), created: 0.0 };
        return Ok(wire::GetPolicyVersionResponse {
            policy_version: Some(version_out("v1", &version, true)),
        });
    }
    let policy =
        account.policies.get(&input.policy_arn).ok_or_else(|| missing(&input.policy_arn))?;
    let version = policy
        .versions
        .iter()
        .find(|v| v.id == input.version_id)
        .ok_or_else(|| version_missing(&input.policy_arn, &input.version_id))?;
    Ok(wire::GetPolicyVersionResponse {
        policy_version: Some(version_out(&policy.default_version, version, true)),
    })
}

pub fn list_versions(
    app: &App,
    input: wire::ListPolicyVersionsRequest,
) -> Result<wire::ListPolicyVersionsResponse, IamError> {
    let account = app.account.snapshot();
    let versions: Vec<wire::PolicyVersion> = match account.policies.get(&input.policy_arn) {
        // Newest first, as IAM lists them.
        Some(policy) => policy
            .versions
            .iter()
            .rev()
            .map(|v| version_out(&policy.default_version, v, false))
            .collect(),
        None => {
            aws_managed(&input.policy_arn).ok_or_else(|| missing(&input.policy_arn))?;
            let v1 = PolicyVersion { id: "v1".into(), document: String::new(), created: 0.0 };
            vec![version_out("v1", &v1, false)]
        }
    };
    let page = page(versions, input.marker.as_deref(), input.max_items)?;
    Ok(wire::ListPolicyVersionsResponse {
        versions: Some(page.items),
        is_truncated: Some(page.is_truncated),
        marker: page.marker,
    })
}

pub async fn delete_version(
    app: &App,
    input: wire::DeletePolicyVersionRequest,
) -> Result<Value, IamError> {
    app.change(|account| {
        let policy = own(account, &input.policy_arn)?;
        if policy.default_version == input.version_id {
            return Err(IamError::DeleteConflict(
                "Cannot delete the default version of a policy.".into(),
            ));
        }
        let before = policy.versions.len();
        policy.versions.retain(|v| v.id != input.version_id);
        if policy.versions.len() == before {
            return Err(version_missing(&input.policy_arn, &input.version_id));
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub async fn set_default(
    app: &App,
    input: wire::SetDefaultPolicyVersionRequest,
    now: f64,
) -> Result<Value, IamError> {
    app.change(|account| {
        let policy = own(account, &input.policy_arn)?;
        if !policy.versions.iter().any(|v| v.id == input.version_id) {
            return Err(version_missing(&input.policy_arn, &input.version_id));
        }
        if policy.default_version != input.version_id {
            policy.default_version = input.version_id.clone();
            policy.updated = now;
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

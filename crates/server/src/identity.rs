//! The account's identities, wired: IAM and STS (global, one of each for every region), the
//! key store the door checks signatures with (the root key, IAM users' keys, STS sessions),
//! STS's view of IAM's roles, and what the authorizer learns of ECS's resources (task
//! definitions' roles, tags).

use std::sync::Arc;

use flotilla_front::{Caller, KeyInfo, KeyStore};
use flotilla_iam_policy::{evaluate, Context, Decision, Principal, Request};
use flotilla_sts::{Grant, Roles, StsError};

use crate::regions::Regions;
use crate::AccessKey;

/// Every key the door accepts.
pub struct Keys {
    pub root: AccessKey,
    pub account_id: String,
    pub iam: Arc<flotilla_iam::App>,
    pub sts: Arc<flotilla_sts::App>,
}

impl KeyStore for Keys {
    fn key(&self, access_key_id: &str) -> Option<KeyInfo> {
        if access_key_id == self.root.access_key_id {
            return Some(KeyInfo {
                secret_access_key: self.root.secret_access_key.clone(),
                account_id: self.account_id.clone(),
                principal_arn: format!("arn:aws:iam::{}:root", self.account_id),
                session_token: None,
                expires_at: None,
            });
        }
        if access_key_id.starts_with("ASIA") {
            return self.sts.key(access_key_id);
        }
        let directory = self.iam.directory();
        let key = directory.key(access_key_id)?;
        Some(KeyInfo {
            secret_access_key: key.secret.clone(),
            account_id: self.account_id.clone(),
            principal_arn: key.user_arn.clone(),
            session_token: None,
            expires_at: None,
        })
    }
}

/// IAM's roles as STS asks for them.
pub struct IamRoles {
    pub iam: Arc<flotilla_iam::App>,
}

impl Roles for IamRoles {
    fn assumable(
        &self,
        role_arn: &str,
        caller: &Caller,
        external_id: Option<&str>,
    ) -> Result<Grant, StsError> {
        let directory = self.iam.directory();
        // The trust policy names the caller as the role it acts as (for a session of a
        // role), the user, or the root (account principals match every principal of it).
        let who = match directory.role(&caller.principal_arn) {
            Some(own) if caller.principal_arn.contains(":assumed-role/") => {
                own.principal.arn.clone()
            }
            _ => caller.principal_arn.clone(),
        };
        let mut context = Context::new()
            .with("aws:PrincipalArn", who.clone())
            .with("aws:PrincipalAccount", caller.account_id.clone());
        if let Some(id) = external_id {
            context = context.with("sts:ExternalId", id);
        }
        let principal = Principal { kind: "AWS".into(), value: who };
        trusted(
            &directory,
            role_arn,
            &principal,
            &context,
            &format!("User: {}", caller.principal_arn),
        )
    }

    fn assumable_by_service(&self, role_arn: &str, service: &str) -> Result<Grant, StsError> {
        let principal = Principal { kind: "Service".into(), value: service.into() };
        trusted(&self.iam.directory(), role_arn, &principal, &Context::new(), service)
    }

    fn user_id(&self, principal_arn: &str) -> Option<String> {
        self.iam.directory().user(principal_arn).map(|u| u.id.clone())
    }
}

/// Role `role_arn` if its trust policy lets `principal` assume it (`who` names the principal in
/// the refusal).
fn trusted(
    directory: &flotilla_iam::Directory,
    role_arn: &str,
    principal: &Principal,
    context: &Context,
    who: &str,
) -> Result<Grant, StsError> {
    let refused = || {
        StsError::AccessDenied(format!(
            "{who} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        ))
    };
    let role = directory.role(role_arn).filter(|_| !role_arn.contains(":assumed-role/"));
    let role = role.ok_or_else(refused)?;
    let request = Request {
        action: "sts:AssumeRole",
        resource: &role.principal.arn,
        principal: Some(principal),
        context,
    };
    match evaluate(&[&role.trust], &request) {
        Decision::Allow => Ok(Grant {
            role_arn: role.principal.arn.clone(),
            role_name: role.principal.name.clone(),
            role_id: role.principal.id.clone(),
            max_session_duration: role.max_session_duration,
        }),
        _ => Err(refused()),
    }
}

/// ECS's resources as the authorizer asks about them: read from the state of a region already
/// open (a region never opened has no resources).
pub struct EcsFacts {
    pub regions: Arc<Regions>,
}

impl flotilla_iam::authorizer::ResourceFacts for EcsFacts {
    fn task_definition_roles(&self, region: &str, reference: &str) -> Vec<String> {
        let Some(region) = self.regions.get_open(region) else {
            return Vec::new();
        };
        let state = region.ecs.state.read();
        let stored = if reference.starts_with("arn:") {
            state.task_definition_by_arn(reference)
        } else {
            let (family, revision) = match reference.rsplit_once(':') {
                Some((family, revision)) => (family, revision.parse::<u32>().ok()),
                None => (reference, None),
            };
            let revisions = state.task_definitions.get(family);
            match revision {
                Some(revision) => revisions.and_then(|r| r.get(&revision)),
                None => revisions.and_then(|r| {
                    r.values().rev().find(|d| {
                        d.definition.status == flotilla_api::status::TaskDefinitionStatus::Active
                    })
                }),
            }
        };
        let Some(stored) = stored else { return Vec::new() };
        let definition = &stored.definition;
        [&definition.task_role_arn, &definition.execution_role_arn]
            .into_iter()
            .flatten()
            .filter(|arn| !arn.is_empty())
            .cloned()
            .collect()
    }

    fn canonical_arn(&self, arn: &str) -> Option<String> {
        let region = arn.strip_prefix("arn:aws:secretsmanager:")?.split(':').next()?;
        let region = self.regions.get_open(region)?;
        region.secrets.secret_arn(arn, std::time::SystemTime::now())
    }

    fn tags(&self, arn: &str) -> Option<Vec<(String, String)>> {
        let mut parts = arn.splitn(6, ':');
        let (_, _, service, region, _, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if service == "secretsmanager" {
            let region = self.regions.get_open(region)?;
            return region.secrets.secret_tags(arn, std::time::SystemTime::now());
        }
        if service != "ecs" {
            return None;
        }
        let region = self.regions.get_open(region)?;
        let state = region.ecs.state.read();
        let tags = if let Some(name) = resource.strip_prefix("cluster/") {
            state.clusters.get(name)?.tags.clone().unwrap_or_default()
        } else if resource.starts_with("task-definition/") {
            state.task_definition_by_arn(arn)?.tags.clone()
        } else if let Some(rest) = resource.strip_prefix("service/") {
            let (cluster, name) = rest.split_once('/')?;
            let service = state.services.get(&(cluster.to_string(), name.to_string()))?;
            service.service.tags.clone().unwrap_or_default()
        } else {
            return None;
        };
        Some(tags.into_iter().filter_map(|t| Some((t.key?, t.value.unwrap_or_default()))).collect())
    }
}

/// Tasks' role credentials (ECS's `RoleCredentials`): STS sessions of the role for ECS.
pub struct StsTaskRoles {
    pub sts: Arc<flotilla_sts::App>,
}

impl flotilla_ecs::task_roles::RoleCredentials for StsTaskRoles {
    fn issue<'a>(
        &'a self,
        role_arn: &'a str,
        service: &'a str,
        session: &'a str,
    ) -> flotilla_ecs::BoxFuture<'a, Result<flotilla_api::agent::TaskCredentials, String>> {
        Box::pin(async move {
            let now = std::time::SystemTime::now();
            let (grant, credentials) = self
                .sts
                .assume_for_service(role_arn, service, session, now)
                .await
                .map_err(|e| e.to_string())?;
            Ok(flotilla_api::agent::TaskCredentials {
                role_arn: grant.role_arn,
                access_key_id: credentials.access_key_id,
                secret_access_key: credentials.secret_access_key,
                token: credentials.session_token,
                expiration: flotilla_front::document::iso8601(credentials.expiration as i64),
            })
        })
    }
}

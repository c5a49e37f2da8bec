//! The account's identities, wired: IAM and STS (global, one of each for every region), the
//! key store the door checks signatures with (the root key, IAM users' keys, STS sessions), and
//! STS's view of IAM's roles.

use std::sync::Arc;

use flotilla_front::{Caller, KeyInfo, KeyStore};
use flotilla_iam_policy::{evaluate, Context, Decision, Principal, Request};
use flotilla_sts::{Grant, Roles, StsError};

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
        let refused = || {
            StsError::AccessDenied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.principal_arn
            ))
        };
        let directory = self.iam.directory();
        let role = directory.role(role_arn).filter(|_| !role_arn.contains(":assumed-role/"));
        let role = role.ok_or_else(refused)?;
        // The trust policy names the caller as the role it acts as (for a session of a
        // role), the user, or the root (account principals match every principal of it).
        let who = match directory.role(&caller.principal_arn) {
            Some(own) if caller.principal_arn.contains(":assumed-role/") => {
                own.principal.arn.clone()
            }
            _ => caller.principal_arn.clone(),
        };
        let principal = Principal { kind: "AWS".into(), value: who.clone() };
        let mut context = Context::new()
            .with("aws:PrincipalArn", who)
            .with("aws:PrincipalAccount", caller.account_id.clone());
        if let Some(id) = external_id {
            context = context.with("sts:ExternalId", id);
        }
        let request = Request {
            action: "sts:AssumeRole",
            resource: &role.principal.arn,
            principal: Some(&principal),
            context: &context,
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

    fn user_id(&self, principal_arn: &str) -> Option<String> {
        self.iam.directory().user(principal_arn).map(|u| u.id.clone())
    }
}

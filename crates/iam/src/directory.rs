//! The account compiled for the door: access keys by id, and each principal's policies parsed
//! once, so a request costs lookups and an evaluation, never a parse.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use flotilla_iam_policy::Policy;

use crate::managed::document_of;
use crate::model::{Account, KeyStatus, Permissions, Tag};

/// An access key of a user, as the door checks signatures with it.
#[derive(Clone)]
pub struct KeyEntry {
    pub secret: String,
    pub user_arn: String,
}

/// A principal's identity and its policies together.
#[derive(Debug)]
pub struct PrincipalEntry {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub tags: Vec<Tag>,
    pub policies: Vec<Policy>,
    /// Its policies cut to the statements that take an action, by action: a request matches
    /// the action once per principal, not once per statement (gone with the directory on any
    /// change).
    by_action: RwLock<HashMap<&'static str, Arc<Vec<Policy>>>>,
}

/// The most actions remembered per principal (a bound, not a tuning: there are ~200 served).
const ACTIONS_REMEMBERED: usize = 512;

impl PrincipalEntry {
    fn new(name: String, id: String, arn: String, tags: Vec<Tag>, policies: Vec<Policy>) -> Self {
        PrincipalEntry { name, id, arn, tags, policies, by_action: RwLock::default() }
    }

    /// Its policies as far as `action` is concerned (`Policy::for_action` of each, the empty
    /// ones left out): they decide `action` as all of them do.
    pub fn policies_for(&self, action: &'static str) -> Arc<Vec<Policy>> {
        if let Some(cut) = self.by_action.read().unwrap_or_else(|e| e.into_inner()).get(action) {
            return Arc::clone(cut);
        }
        let cut: Arc<Vec<Policy>> = Arc::new(
            self.policies
                .iter()
                .map(|p| p.for_action(action))
                .filter(|p| !p.statements.is_empty())
                .collect(),
        );
        let mut remembered = self.by_action.write().unwrap_or_else(|e| e.into_inner());
        if remembered.len() >= ACTIONS_REMEMBERED {
            remembered.clear();
        }
        remembered.insert(action, Arc::clone(&cut));
        cut
    }
}

/// A role as STS and the door need it.
#[derive(Debug)]
pub struct RoleEntry {
    pub principal: PrincipalEntry,
    pub trust: Policy,
    pub max_session_duration: i32,
}

/// Everything the door reads of IAM on a request.
#[derive(Default)]
pub struct Directory {
    keys: HashMap<String, KeyEntry>,
    /// Users by ARN.
    users: HashMap<String, Arc<PrincipalEntry>>,
    /// Roles by lower-cased name (assumed-role ARNs name the role, not its path).
    roles: HashMap<String, Arc<RoleEntry>>,
}

fn parsed(documents: impl Iterator<Item = String>) -> Vec<Policy> {
    documents
        .filter_map(|d| match Policy::parse(&d) {
            Ok(policy) => Some(policy),
            Err(error) => {
                // Every document was checked when it was stored: this is a stored document
                // an older version accepted. It allows nothing rather than failing the server.
                tracing::warn!(%error, "a stored policy no longer parses; it is ignored");
                None
            }
        })
        .collect()
}

fn documents<'a>(account: &'a Account, p: &'a Permissions) -> impl Iterator<Item = String> + 'a {
    p.inline
        .values()
        .cloned()
        .chain(p.attached.iter().filter_map(|arn| document_of(account, arn).map(str::to_string)))
}

impl Directory {
    pub fn build(account_id: &str, account: &Account) -> Directory {
        let arn = |kind: &str, path: &str, name: &str| {
            format!("arn:aws:iam::{account_id}:{kind}{path}{name}")
        };
        let mut users = HashMap::new();
        let mut by_key = HashMap::new();
        for (key, user) in &account.users {
            let groups = account.groups_of(key).flat_map(|g| documents(account, &g.permissions));
            let policies = parsed(documents(account, &user.permissions).chain(groups));
            let user_arn = arn("user", &user.path, &user.name);
            by_key.insert(key.clone(), user_arn.clone());
            users.insert(
                user_arn.clone(),
                Arc::new(PrincipalEntry::new(
                    user.name.clone(),
                    user.id.clone(),
                    user_arn,
                    user.tags.clone(),
                    policies,
                )),
            );
        }
        let keys = account
            .access_keys
            .values()
            .filter(|k| k.status == KeyStatus::Active)
            .filter_map(|k| {
                let user_arn = by_key.get(&k.user)?.clone();
                Some((k.id.clone(), KeyEntry { secret: k.secret.clone(), user_arn }))
            })
            .collect();
        let roles = account
            .roles
            .iter()
            .filter_map(|(key, role)| {
                let trust = Policy::parse(&role.trust).ok()?;
                let entry = RoleEntry {
                    principal: PrincipalEntry::new(
                        role.name.clone(),
                        role.id.clone(),
                        arn("role", &role.path, &role.name),
                        role.tags.clone(),
                        parsed(documents(account, &role.permissions)),
                    ),
                    trust,
                    max_session_duration: role.max_session_duration,
                };
                Some((key.clone(), Arc::new(entry)))
            })
            .collect();
        Directory { keys, users, roles }
    }

    /// An active access key of a user.
    pub fn key(&self, access_key_id: &str) -> Option<&KeyEntry> {
        self.keys.get(access_key_id)
    }

    pub fn user(&self, arn: &str) -> Option<&Arc<PrincipalEntry>> {
        self.users.get(arn)
    }

    /// The role named by a role ARN (`arn:aws:iam::<account>:role/path/name`) or an
    /// assumed-role ARN (`arn:aws:sts::<account>:assumed-role/name/session`).
    pub fn role(&self, arn: &str) -> Option<&Arc<RoleEntry>> {
        let name = if let Some((_, rest)) = arn.split_once(":assumed-role/") {
            rest.split('/').next()?
        } else {
            let (_, rest) = arn.split_once(":role/")?;
            rest.rsplit('/').next()?
        };
        let role = self.roles.get(&name.to_lowercase())?;
        // A role ARN must name the role's path too; an assumed-role ARN names only the role.
        (arn.contains(":assumed-role/") || role.principal.arn == arn).then_some(role)
    }

    /// The policies, name, id and tags of the principal behind `principal_arn`: a user, or the
    /// role of an assumed-role session.
    pub fn principal(&self, principal_arn: &str) -> Option<&PrincipalEntry> {
        if principal_arn.contains(":assumed-role/") {
            return self.role(principal_arn).map(|r| &r.principal);
        }
        self.users.get(principal_arn).map(Arc::as_ref)
    }
}

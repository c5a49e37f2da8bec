//! The account's identities as stored: one document (`iam/account`), since they are few, read
//! together by the authorizer and changed rarely. Maps are keyed by the lower-cased name, as
//! IAM names are unique whatever their case.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A tag of a user, role or policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// An access key's state (`Active`, `Inactive`), typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

/// What every principal and group holds: inline policies by name, attached managed policies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Permissions {
    /// Inline policies by name (names are case-sensitive here, as in IAM), documents as given.
    pub inline: BTreeMap<String, String>,
    /// ARNs of attached managed policies, in attachment order.
    pub attached: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: f64,
    pub tags: Vec<Tag>,
    pub permissions: Permissions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: f64,
    /// Members, by their lower-cased user names.
    pub members: BTreeSet<String>,
    pub permissions: Permissions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: f64,
    /// Who may assume the role (a trust policy document, as given).
    pub trust: String,
    pub description: Option<String>,
    /// The longest session AssumeRole may grant, in seconds (3600 to 43200).
    pub max_session_duration: i32,
    pub tags: Vec<Tag>,
    pub permissions: Permissions,
}

/// An access key of a user.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    /// The owner, by lower-cased user name.
    pub user: String,
    pub status: KeyStatus,
    pub created: f64,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// `v1`, `v2`, ...
    pub id: String,
    pub document: String,
    pub created: f64,
}

/// A customer managed policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub arn: String,
    pub name: String,
    pub id: String,
    pub path: String,
    pub description: Option<String>,
    pub created: f64,
    pub updated: f64,
    pub default_version: String,
    /// At most five, oldest first.
    pub versions: Vec<PolicyVersion>,
    /// The number the next version takes (`v<n>`): never reused.
    pub next_version: u32,
    pub tags: Vec<Tag>,
}

impl ManagedPolicy {
    pub fn default_document(&self) -> Option<&str> {
        self.versions.iter().find(|v| v.id == self.default_version).map(|v| v.document.as_str())
    }
}

/// Every identity of the account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    pub roles: BTreeMap<String, Role>,
    /// Customer managed policies by ARN.
    pub policies: BTreeMap<String, ManagedPolicy>,
    /// Access keys by id.
    pub access_keys: BTreeMap<String, AccessKey>,
}

impl Account {
    /// How many principals and groups have `policy_arn` attached.
    pub fn attachment_count(&self, policy_arn: &str) -> usize {
        let attached = |p: &Permissions| p.attached.iter().any(|a| a == policy_arn);
        self.users.values().filter(|u| attached(&u.permissions)).count()
            + self.groups.values().filter(|g| attached(&g.permissions)).count()
            + self.roles.values().filter(|r| attached(&r.permissions)).count()
    }

    /// The groups `user` (lower-cased name) belongs to.
    pub fn groups_of<'a>(&'a self, user: &'a str) -> impl Iterator<Item = &'a Group> + 'a {
        self.groups.values().filter(move |g| g.members.contains(user))
    }
}

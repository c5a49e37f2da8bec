//! IAM (the query protocol, version 2010-05-08, SigV4 `iam`): the account's users, groups,
//! access keys, roles and policies, and what the front door asks of them on every request —
//! who an access key is ([`directory`]) and whether its principal may do what it asks
//! ([`authorizer`], over the operation → action table [`actions`] generated from AWS's Service
//! Authorization Reference). IAM is global: one instance for every region, kept as one document
//! of the store (`iam/account`).

pub mod actions;
mod actions_table;
pub mod authorizer;
pub mod directory;
mod documents;
pub mod entry;
pub mod error;
mod groups;
mod managed;
pub mod model;
pub mod names;
mod paging;
mod policies;
mod roles;
pub mod service;
mod simulate;
mod users;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use flotilla_front::document::Document as Answer;
use flotilla_front::schema::{self, Kind, ParamNames};
use flotilla_store::{Document, Store, StoreError};
use serde::Serialize;

pub use directory::Directory;
pub use error::IamError;

/// SigV4 service name of IAM.
pub const SIGNING_NAME: &str = "iam";
/// The `Version` parameter of IAM's query API.
pub const API_VERSION: &str = "2010-05-08";
/// The XML namespace of IAM's answers.
pub const XML_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

const KEY: &str = "iam/account";

/// When an access key was last used, and for what (kept in memory: a write per request would
/// cost every request a disk sync).
#[derive(Debug, Clone, PartialEq)]
pub struct LastUsed {
    pub at: f64,
    pub service: String,
    pub region: String,
}

/// The account's IAM.
pub struct App {
    pub account_id: String,
    pub account: Document<model::Account>,
    /// The account compiled for the door: rebuilt after every change, read on every request.
    directory: RwLock<Arc<Directory>>,
    last_used: Mutex<HashMap<String, LastUsed>>,
}

impl App {
    pub async fn open(account_id: String, store: Arc<dyn Store>) -> Result<App, StoreError> {
        let account: Document<model::Account> = Document::open(store, KEY).await?;
        let directory = Directory::build(&account_id, &account.snapshot());
        Ok(App {
            account_id,
            account,
            directory: RwLock::new(Arc::new(directory)),
            last_used: Mutex::new(HashMap::new()),
        })
    }

    /// The account as the door reads it.
    pub fn directory(&self) -> Arc<Directory> {
        // A poisoned lock only means a panic elsewhere while swapping an `Arc`: the value
        // inside is whole either way.
        Arc::clone(&self.directory.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Applies `change` to the account; stores it, then rebuilds the directory, so the next
    /// request sees it (a new key signs at once, a detached policy stops allowing at once).
    pub(crate) async fn change<R>(
        &self,
        change: impl FnOnce(&mut model::Account) -> Result<R, IamError>,
    ) -> Result<R, IamError> {
        let answer = self.account.change(change).await??;
        let directory = Arc::new(Directory::build(&self.account_id, &self.account.snapshot()));
        *self.directory.write().unwrap_or_else(|e| e.into_inner()) = directory;
        Ok(answer)
    }

    /// Notes that `access_key_id` signed a request for `service` in `region`.
    pub fn note_use(&self, access_key_id: &str, service: &str, region: &str, at: SystemTime) {
        let at = epoch(at);
        let mut used = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
        match used.get_mut(access_key_id) {
            // Same service and region within the second: nothing new to note.
            Some(last)
                if last.service == service && last.region == region && at - last.at < 1.0 => {}
            _ => {
                used.insert(
                    access_key_id.to_string(),
                    LastUsed { at, service: service.to_string(), region: region.to_string() },
                );
            }
        }
    }

    pub(crate) fn last_used(&self, access_key_id: &str) -> Option<LastUsed> {
        self.last_used.lock().unwrap_or_else(|e| e.into_inner()).get(access_key_id).cloned()
    }

    pub(crate) fn arn(&self, kind: &str, path: &str, name: &str) -> String {
        format!("arn:aws:iam::{}:{kind}{path}{name}", self.account_id)
    }
}

pub(crate) fn epoch(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0).floor()
}

/// Runs `operation` on query parameters: typed to the model's shape, the field ledger's
/// refusals, then the handler; the answer is a document of the operation's output schema.
pub async fn serve(
    app: &App,
    caller: &flotilla_front::Caller,
    operation: &str,
    input: flotilla_front::Input,
    now: SystemTime,
) -> Result<Answer, flotilla_front::WireError> {
    let (kind, output) = wire::operation_schema(operation).ok_or_else(|| {
        flotilla_front::WireError::unknown_operation(format!(
            "The action {operation} is not valid for this web service (IAM here serves users, groups, access keys, roles, inline and managed policies, tags and SimulatePrincipalPolicy)."
        ))
    })?;
    let flotilla_front::Input::Params(params) = input else {
        return Err(flotilla_front::WireError::serialization(
            "IAM takes query parameters (Action, Version, ...)",
        ));
    };
    let input = schema::typed_params(params, kind, ParamNames::Query)?;
    if let Some(path) =
        flotilla_front::refusal::refused_member(&input, wire::refused_paths(operation))
    {
        return Err(
            IamError::NotSupported(flotilla_front::refusal::not_supported_message(path)).into()
        );
    }
    let out = output.unwrap_or(&wire::EMPTY);
    let now = epoch(now);
    Ok(dispatch(app, caller, operation, input, now, out).await?)
}

async fn dispatch(
    app: &App,
    caller: &flotilla_front::Caller,
    operation: &str,
    input: serde_json::Value,
    now: f64,
    out: &'static Kind,
) -> Result<Answer, IamError> {
    match operation {
        "CreateUser" => answer(users::create(app, decode(input)?, now).await?, out),
        "GetUser" => answer(users::get(app, caller, decode(input)?)?, out),
        "ListUsers" => answer(users::list(app, decode(input)?)?, out),
        "DeleteUser" => answer(users::delete(app, decode(input)?).await?, out),
        "TagUser" => answer(users::tag(app, decode(input)?).await?, out),
        "UntagUser" => answer(users::untag(app, decode(input)?).await?, out),
        "ListUserTags" => answer(users::list_tags(app, decode(input)?)?, out),
        "CreateAccessKey" => {
            answer(users::create_key(app, caller, decode(input)?, now).await?, out)
        }
        "ListAccessKeys" => answer(users::list_keys(app, caller, decode(input)?)?, out),
        "UpdateAccessKey" => answer(users::update_key(app, caller, decode(input)?).await?, out),
        "DeleteAccessKey" => answer(users::delete_key(app, caller, decode(input)?).await?, out),
        "GetAccessKeyLastUsed" => answer(users::key_last_used(app, decode(input)?)?, out),
        "CreateGroup" => answer(groups::create(app, decode(input)?, now).await?, out),
        "GetGroup" => answer(groups::get(app, decode(input)?)?, out),
        "ListGroups" => answer(groups::list(app, decode(input)?)?, out),
        "DeleteGroup" => answer(groups::delete(app, decode(input)?).await?, out),
        "AddUserToGroup" => answer(groups::add_user(app, decode(input)?).await?, out),
        "RemoveUserFromGroup" => answer(groups::remove_user(app, decode(input)?).await?, out),
        "ListGroupsForUser" => answer(groups::list_for_user(app, decode(input)?)?, out),
        "CreateRole" => answer(roles::create(app, decode(input)?, now).await?, out),
        "GetRole" => answer(roles::get(app, decode(input)?)?, out),
        "ListRoles" => answer(roles::list(app, decode(input)?)?, out),
        "DeleteRole" => answer(roles::delete(app, decode(input)?).await?, out),
        "UpdateAssumeRolePolicy" => answer(roles::update_trust(app, decode(input)?).await?, out),
        "TagRole" => answer(roles::tag(app, decode(input)?).await?, out),
        "UntagRole" => answer(roles::untag(app, decode(input)?).await?, out),
        "ListRoleTags" => answer(roles::list_tags(app, decode(input)?)?, out),
        "PutUserPolicy" | "PutRolePolicy" | "PutGroupPolicy" => {
            answer(policies::put(app, policies::Holder::of(operation), input).await?, out)
        }
        "GetUserPolicy" | "GetRolePolicy" | "GetGroupPolicy" => {
            answer(policies::get(app, policies::Holder::of(operation), input)?, out)
        }
        "ListUserPolicies" | "ListRolePolicies" | "ListGroupPolicies" => {
            answer(policies::list(app, policies::Holder::of(operation), input)?, out)
        }
        "DeleteUserPolicy" | "DeleteRolePolicy" | "DeleteGroupPolicy" => {
            answer(policies::delete(app, policies::Holder::of(operation), input).await?, out)
        }
        "AttachUserPolicy" | "AttachRolePolicy" | "AttachGroupPolicy" => {
            answer(policies::attach(app, policies::Holder::of(operation), input).await?, out)
        }
        "DetachUserPolicy" | "DetachRolePolicy" | "DetachGroupPolicy" => {
            answer(policies::detach(app, policies::Holder::of(operation), input).await?, out)
        }
        "ListAttachedUserPolicies" | "ListAttachedRolePolicies" | "ListAttachedGroupPolicies" => {
            answer(policies::list_attached(app, policies::Holder::of(operation), input)?, out)
        }
        "CreatePolicy" => answer(managed::create(app, decode(input)?, now).await?, out),
        "GetPolicy" => answer(managed::get(app, decode(input)?)?, out),
        "ListPolicies" => answer(managed::list(app, decode(input)?)?, out),
        "DeletePolicy" => answer(managed::delete(app, decode(input)?).await?, out),
        "CreatePolicyVersion" => {
            answer(managed::create_version(app, decode(input)?, now).await?, out)
        }
        "GetPolicyVersion" => answer(managed::get_version(app, decode(input)?)?, out),
        "ListPolicyVersions" => answer(managed::list_versions(app, decode(input)?)?, out),
        "DeletePolicyVersion" => answer(managed::delete_version(app, decode(input)?).await?, out),
        "SetDefaultPolicyVersion" => {
            answer(managed::set_default(app, decode(input)?, now).await?, out)
        }
        "SimulatePrincipalPolicy" => answer(simulate::principal(app, decode(input)?)?, out),
        other => Err(IamError::NotSupported(format!("The action {other} is not supported yet"))),
    }
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    input: serde_json::Value,
) -> Result<T, IamError> {
    serde_json::from_value(input).map_err(|e| match flotilla_api::missing_member(&e) {
        Some(member) => IamError::Validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(&member)
        )),
        None => IamError::Validation(e.to_string()),
    })
}

pub(crate) fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// An output as the protocol-neutral document the door writes.
fn answer(output: impl Serialize, kind: &Kind) -> Result<Answer, IamError> {
    let value = serde_json::to_value(output)
        .map_err(|e| IamError::Internal(format!("cannot encode the answer: {e}")))?;
    Ok(schema::document(&value, kind))
}

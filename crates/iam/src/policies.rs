//! Policies held by users, roles and groups: inline ones (Put/Get/List/Delete) and attached
//! managed ones (Attach/Detach/ListAttached), one implementation for the three holders.

use serde_json::{json, Value};

use crate::documents::check_identity_document;
use crate::error::IamError;
use crate::model::{Account, Permissions};
use crate::names::{check_name, encoded_document};
use crate::paging::page;
use crate::App;

/// Who holds the policies an operation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    User,
    Role,
    Group,
}

/// The most managed policies one holder may have attached (IAM's default quota).
const ATTACHED_PER_HOLDER: usize = 10;

impl Holder {
    /// The holder of `PutUserPolicy`, `ListAttachedRolePolicies`, ...
    pub fn of(operation: &str) -> Holder {
        if operation.contains("Role") {
            Holder::Role
        } else if operation.contains("Group") {
            Holder::Group
        } else {
            Holder::User
        }
    }

    /// The request member naming the holder.
    fn member(self) -> &'static str {
        match self {
            Holder::User => "UserName",
            Holder::Role => "RoleName",
            Holder::Group => "GroupName",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Holder::User => "user",
            Holder::Role => "role",
            Holder::Group => "group",
        }
    }

    /// IAM's limit on the inline policies of one holder, together (non-whitespace characters).
    fn inline_quota(self) -> usize {
        match self {
            Holder::User => 2048,
            Holder::Role => 10240,
            Holder::Group => 5120,
        }
    }

    fn quota_name(self) -> &'static str {
        match self {
            Holder::User => "PoliciesPerUser",
            Holder::Role => "PoliciesPerRole",
            Holder::Group => "PoliciesPerGroup",
        }
    }

    fn permissions<'a>(
        self,
        account: &'a mut Account,
        name: &str,
    ) -> Result<&'a mut Permissions, IamError> {
        let key = name.to_lowercase();
        let found = match self {
            Holder::User => account.users.get_mut(&key).map(|u| &mut u.permissions),
            Holder::Role => account.roles.get_mut(&key).map(|r| &mut r.permissions),
            Holder::Group => account.groups.get_mut(&key).map(|g| &mut g.permissions),
        };
        found.ok_or_else(|| IamError::no_such(self.kind(), name))
    }

    fn read(self, account: &Account, name: &str) -> Result<(String, Permissions), IamError> {
        let key = name.to_lowercase();
        let found = match self {
            Holder::User => {
                account.users.get(&key).map(|u| (u.name.clone(), u.permissions.clone()))
            }
            Holder::Role => {
                account.roles.get(&key).map(|r| (r.name.clone(), r.permissions.clone()))
            }
            Holder::Group => {
                account.groups.get(&key).map(|g| (g.name.clone(), g.permissions.clone()))
            }
        };
        found.ok_or_else(|| IamError::no_such(self.kind(), name))
    }
}

/// A string member the model requires.
fn required(input: &Value, member: &str) -> Result<String, IamError> {
    input.get(member).and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
        IamError::Validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            crate::lower_first(member)
        ))
    })
}

fn optional(input: &Value, member: &str) -> Option<String> {
    input.get(member).and_then(Value::as_str).map(str::to_string)
}

fn size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

pub async fn put(app: &App, holder: Holder, input: Value) -> Result<Value, IamError> {
    let name = required(&input, holder.member())?;
    let policy_name = required(&input, "PolicyName")?;
    let document = required(&input, "PolicyDocument")?;
    check_name("policyName", &policy_name, 128)?;
    check_identity_document(&document)?;
    app.change(|account| {
        let permissions = holder.permissions(account, &name)?;
        permissions.inline.insert(policy_name.clone(), document.clone());
        let total: usize = permissions.inline.values().map(|d| size(d)).sum();
        if total > holder.inline_quota() {
            return Err(IamError::LimitExceeded(format!(
                "Maximum policy size of {} bytes exceeded for {} {name}",
                holder.inline_quota(),
                holder.kind()
            )));
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub fn get(app: &App, holder: Holder, input: Value) -> Result<Value, IamError> {
    let name = required(&input, holder.member())?;
    let policy_name = required(&input, "PolicyName")?;
    let (display, permissions) = holder.read(&app.account.snapshot(), &name)?;
    let document = permissions.inline.get(&policy_name).ok_or_else(|| {
        IamError::NoSuchEntity(format!(
            "The {} policy with name {policy_name} cannot be found.",
            holder.kind()
        ))
    })?;
    let mut answer = serde_json::Map::new();
    answer.insert(holder.member().into(), display.into());
    answer.insert("PolicyName".into(), policy_name.into());
    answer.insert("PolicyDocument".into(), encoded_document(document).into());
    Ok(Value::Object(answer))
}

pub fn list(app: &App, holder: Holder, input: Value) -> Result<Value, IamError> {
    let name = required(&input, holder.member())?;
    let (_, permissions) = holder.read(&app.account.snapshot(), &name)?;
    let names: Vec<String> = permissions.inline.keys().cloned().collect();
    let max_items = input.get("MaxItems").and_then(Value::as_i64).map(|n| n as i32);
    let page = page(names, optional(&input, "Marker").as_deref(), max_items)?;
    Ok(json!({"PolicyNames": page.items, "IsTruncated": page.is_truncated, "Marker": page.marker}))
}

pub async fn delete(app: &App, holder: Holder, input: Value) -> Result<Value, IamError> {
    let name = required(&input, holder.member())?;
    let policy_name = required(&input, "PolicyName")?;
    app.change(|account| {
        let permissions = holder.permissions(account, &name)?;
        permissions.inline.remove(&policy_name).map(|_| ()).ok_or_else(|| {
            IamError::NoSuchEntity(format!(
                "The {} policy with name {policy_name} cannot be found.",
                holder.kind()
            ))
        })
    })
    .await?;
    Ok(json!({}))
}

pub async fn attach(app: &App, holder: Holder, input: Value) -> Result<Value, IamError> {
    let name = required(&input, holder.member())?;
    let arn = required(&input, "PolicyArn")?;
    app.change(|account| {
        if crate::managed::document_of(account, &arn).is_none() {
            return Err(IamError::NoSuchEntity(format!(
                "Policy {arn} does not exist or is not attachable."
            )));
        }
        let permissions = holder.permissions(account, &name)?;
        if permissions.attached.contains(&arn) {
            return Ok(());
        }
        if permissions.attached.len() >= ATTACHED_PER_HOLDER {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for {}: {ATTACHED_PER_HOLDER}",
                holder.quota_name()
            )));
        }
        permissions.attached.push(arn.clone());
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub async fn detach(app: &App, holder: Holder, input: Value) -> Result<Value, IamError> {
    let name = required(&input, holder.member())?;
    let arn = required(&input, "PolicyArn")?;
    app.change(|account| {
        let permissions = holder.permissions(account, &name)?;
        let before = permissions.attached.len();
        permissions.attached.retain(|a| a != &arn);
        if permissions.attached.len() == before {
            return Err(IamError::NoSuchEntity(format!("Policy {arn} was not found.")));
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub fn list_attached(app: &App, holder: Holder, input: Value) -> Result<Value, IamError> {
    let name = required(&input, holder.member())?;
    let account = app.account.snapshot();
    let (_, permissions) = holder.read(&account, &name)?;
    let prefix = optional(&input, "PathPrefix").unwrap_or_else(|| "/".into());
    let attached: Vec<Value> = permissions
        .attached
        .iter()
        .filter(|arn| {
            crate::managed::path_of(&account, arn).is_some_and(|p| p.starts_with(&prefix))
        })
        .map(|arn| {
            let policy_name = arn.rsplit('/').next().unwrap_or(arn);
            json!({"PolicyName": policy_name, "PolicyArn": arn})
        })
        .collect();
    let max_items = input.get("MaxItems").and_then(Value::as_i64).map(|n| n as i32);
    let page = page(attached, optional(&input, "Marker").as_deref(), max_items)?;
    Ok(json!({
        "AttachedPolicies": page.items,
        "IsTruncated": page.is_truncated,
        "Marker": page.marker,
    }))
}

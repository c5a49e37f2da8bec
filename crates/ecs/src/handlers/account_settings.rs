//! PutAccountSetting, PutAccountSettingDefault, ListAccountSettings, DeleteAccountSetting.

use flotilla_api::account::Setting;
use flotilla_api::common::decode;
use flotilla_api::pagination::paginate;
use flotilla_api::ApiError;

use super::{respond, Ctx};
use crate::state::{account_setting_key, Record};
use crate::wire::{
    self, DeleteAccountSettingRequest, DeleteAccountSettingResponse, ListAccountSettingsRequest,
    ListAccountSettingsResponse, PutAccountSettingDefaultRequest, PutAccountSettingRequest,
    PutAccountSettingResponse, SETTING_NAME_VALUES as SETTING_NAMES,
};

/// A stored setting as the API shows it.
fn shown(setting: Setting) -> wire::Setting {
    wire::Setting {
        name: Some(setting.name),
        value: Some(setting.value),
        principal_arn: Some(setting.principal_arn),
        r#type: Some(setting.setting_type),
    }
}

/// The principal under which account-wide defaults are stored.
const ACCOUNT_DEFAULT: &str = "default";

async fn put_for(
    ctx: &Ctx<'_>,
    principal: String,
    name: String,
    value: String,
) -> Result<Vec<u8>, ApiError> {
    validate_setting(&name, &value)?;
    let shown_principal =
        if principal == ACCOUNT_DEFAULT { ctx.app.root_principal() } else { principal.clone() };
    let setting =
        Setting { name, value, principal_arn: shown_principal, setting_type: "user".into() };
    let stored = setting.clone();
    ctx.app
        .state
        .write(move |staged| {
            staged.put(Record::AccountSetting { principal, setting: stored });
            Ok(())
        })
        .await?;
    // PutAccountSettingDefault's answer has the same shape.
    respond(&PutAccountSettingResponse { setting: Some(shown(setting)) })
}

pub async fn put(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: PutAccountSettingRequest = decode(body)?;
    let principal = req.principal_arn.unwrap_or_else(|| ctx.app.root_principal());
    put_for(ctx, principal, req.name, req.value).await
}

pub async fn put_default(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: PutAccountSettingDefaultRequest = decode(body)?;
    put_for(ctx, ACCOUNT_DEFAULT.into(), req.name, req.value).await
}

pub async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: DeleteAccountSettingRequest = decode(body)?;
    if !SETTING_NAMES.contains(&req.name.as_str()) {
        return Err(ApiError::invalid(format!("unknown account setting name '{}'", req.name)));
    }
    let principal = req.principal_arn.unwrap_or_else(|| ctx.app.root_principal());
    let name = req.name;
    let setting = ctx
        .app
        .state
        .write(move |staged| {
            let key = account_setting_key(&principal, &name);
            match staged.get(&key) {
                Some(Record::AccountSetting { setting, .. }) => {
                    staged.delete(key);
                    Ok(setting)
                }
                _ => Err(ApiError::client(format!(
                    "the setting {name} is not set for principal {principal}"
                ))),
            }
        })
        .await?;
    respond(&DeleteAccountSettingResponse { setting: Some(shown(setting)) })
}

pub fn list(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: ListAccountSettingsRequest = decode(body)?;
    if let Some(name) = &req.name {
        if !SETTING_NAMES.contains(&name.as_str()) {
            return Err(ApiError::invalid(format!("unknown account setting name '{name}'")));
        }
    }
    let principal = req.principal_arn.clone().unwrap_or_else(|| ctx.app.root_principal());
    let root = ctx.app.root_principal();
    let state = ctx.app.state.read();
    let explicit = |who: &str, name: &str| {
        state.account_settings.get(&(who.to_string(), name.to_string())).cloned()
    };
    let mut settings: Vec<Setting> = Vec::new();
    for name in SETTING_NAMES {
        if req.name.as_deref().is_some_and(|n| n != *name) {
            continue;
        }
        let found = explicit(&principal, name).or_else(|| {
            // The account default counts as the root principal's own setting, and as the
            // effective setting of everyone else.
            if req.effective_settings.unwrap_or(false) || principal == root {
                explicit(ACCOUNT_DEFAULT, name)
            } else {
                None
            }
        });
        let setting = match found {
            Some(s) => Some(s),
            None if req.effective_settings.unwrap_or(false) => Some(Setting {
                name: name.to_string(),
                value: default_value(name).to_string(),
                principal_arn: principal.clone(),
                setting_type: "aws_managed".into(),
            }),
            None => None,
        };
        if let Some(s) = setting {
            if req.value.as_deref().is_none_or(|v| v == s.value) {
                settings.push(s);
            }
        }
    }
    drop(state);
    let items = settings.into_iter().map(|s| (s.name.clone(), s));
    let (page, next_token) = paginate(items, req.next_token.as_deref(), req.max_results, 10)?;
    respond(&ListAccountSettingsResponse {
        settings: Some(page.into_iter().map(shown).collect()),
        next_token,
    })
}

/// The value ECS uses for a setting nobody has set.
fn default_value(name: &str) -> &'static str {
    match name {
        "serviceLongArnFormat" | "taskLongArnFormat" | "containerInstanceLongArnFormat" => {
            "enabled"
        }
        "tagResourceAuthorization" => "on",
        "fargateTaskRetirementWaitPeriod" => "7",
        "defaultLogDriverMode" => "blocking",
        _ => "disabled",
    }
}

/// Checks a setting name and value against ECS's rules.
fn validate_setting(name: &str, value: &str) -> Result<(), ApiError> {
    if !SETTING_NAMES.contains(&name) {
        return Err(ApiError::invalid(format!(
            "unknown account setting name '{name}'; valid names: {}",
            SETTING_NAMES.join(", ")
        )));
    }
    let allowed: &[&str] = match name {
        "fargateTaskRetirementWaitPeriod" => &["0", "7", "14"],
        "tagResourceAuthorization" | "guardDutyActivate" | "fargateFIPSMode" => {
            &["on", "off", "enabled", "disabled"]
        }
        "defaultLogDriverMode" => &["blocking", "non-blocking"],
        "containerInsights" => &["enabled", "disabled", "enhanced"],
        _ => &["enabled", "disabled"],
    };
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "invalid value '{value}' for setting {name}; valid values: {}",
            allowed.join(", ")
        )))
    }
}

//! Account settings: the stored setting and ECS's rules for names and values (the requests and
//! answers are generated wire types of `flotilla-ecs`).

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The setting names of ECS's model.
pub const SETTING_NAMES: &[&str] = &[
    "serviceLongArnFormat",
    "taskLongArnFormat",
    "containerInstanceLongArnFormat",
    "awsvpcTrunking",
    "containerInsights",
    "fargateFIPSMode",
    "tagResourceAuthorization",
    "fargateTaskRetirementWaitPeriod",
    "guardDutyActivate",
    "defaultLogDriverMode",
    "fargateEventWindows",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Setting {
    pub name: String,
    pub value: String,
    pub principal_arn: String,
    #[serde(rename = "type")]
    pub setting_type: String,
}

/// The value ECS uses for a setting nobody has set.
pub fn default_value(name: &str) -> &'static str {
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
pub fn validate_setting(name: &str, value: &str) -> Result<(), ApiError> {
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

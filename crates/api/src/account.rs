//! Account settings: the setting as it is stored (the requests, answers and setting names are
//! generated wire types of `flotilla-ecs`, which also holds ECS's rules for values).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Setting {
    pub name: String,
    pub value: String,
    pub principal_arn: String,
    #[serde(rename = "type")]
    pub setting_type: String,
}

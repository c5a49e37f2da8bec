//! Task definitions: what a registration asks for, its validation and the stored form.
//!
//! Code map:
//! - this file: the registration, the stored definition and the task-level shapes (volumes,
//!   constraints, ...);
//! - `container`: `ContainerDefinition` and everything nested in it;
//! - `enums`: the model's enum values that `String` members are checked against;
//! - `units`: task-level cpu/memory strings ("1 vCPU", "2 GB") and Fargate's size pairs;
//! - `validate`: RegisterTaskDefinition's rules, every problem reported at once;
//! - `build`: the definition as DescribeTaskDefinition returns it (defaults ECS fills in).
//!
//! Nothing here does IO or reads a clock: ARNs, revisions and times are arguments.

mod build;
pub mod container;
pub mod enums;
pub mod units;
mod validate;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::common::{KeyValuePair, Tag};
use crate::error::ApiError;
pub use crate::status::TaskDefinitionStatus;

pub use build::{build_task_definition, derive_compatibilities, derive_requires_attributes};
pub use container::*;
pub use units::{fargate_pair_is_valid, parse_task_cpu, parse_task_memory};
pub use validate::{
    validate_delete_task_definitions, validate_describe_task_definition,
    validate_list_task_definition_families, validate_list_task_definitions, validate_register,
    validate_size, MAX_CONTAINERS, MAX_PLACEMENT_CONSTRAINTS, MAX_TASK_DEFINITION_BYTES,
};

// ---------------------------------------------------------------------------------------------
// RegisterTaskDefinition

/// What a RegisterTaskDefinition asks for: the domain form the handler converts the generated
/// request into (`flotilla-ecs`'s `convert_tests` prove it keeps every member of the model).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionRegistration {
    pub family: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    pub container_definitions: Vec<ContainerDefinition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement_constraints: Option<Vec<TaskDefinitionPlacementConstraint>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires_compatibilities: Option<Vec<String>>,
    /// CPU units or vCPUs as a string ("1024", "1 vCPU"); stored as units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// MiB or GB as a string ("2048", "2 GB"); stored as MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_configuration: Option<ProxyConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_accelerators: Option<Vec<InferenceAccelerator>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_fault_injection: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// The stored and returned definition

/// A task definition as DescribeTaskDefinition returns it. The model marks nothing required
/// here; the members Flotilla always fills are plain fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    pub task_definition_arn: String,
    pub container_definitions: Vec<ContainerDefinition>,
    pub family: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Absent when none was registered (ECS does not echo its `bridge` default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    pub revision: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    pub status: TaskDefinitionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires_attributes: Option<Vec<Attribute>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement_constraints: Option<Vec<TaskDefinitionPlacementConstraint>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatibilities: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires_compatibilities: Option<Vec<String>>,
    /// CPU units as a decimal string ("1024"), whatever form was registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// MiB as a decimal string ("2048"), whatever form was registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_accelerators: Option<Vec<InferenceAccelerator>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_configuration: Option<ProxyConfiguration>,
    /// Epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<f64>,
    /// Epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deregistered_at: Option<f64>,
    /// Epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_requested_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_fault_injection: Option<bool>,
}

impl TaskDefinition {
    pub fn is_active(&self) -> bool {
        self.status == TaskDefinitionStatus::Active
    }

    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.container_definitions.iter().find(|c| c.name.as_deref() == Some(name))
    }

    /// Task-level CPU units, when set (the stored form is always a plain integer).
    pub fn cpu_units(&self) -> Option<u32> {
        self.cpu.as_deref().and_then(|c| parse_task_cpu(c).ok())
    }

    /// Task-level memory in MiB, when set.
    pub fn memory_mib(&self) -> Option<u32> {
        self.memory.as_deref().and_then(|m| parse_task_memory(m).ok())
    }

    /// DeregisterTaskDefinition: INACTIVE from `now` on; a second call changes nothing.
    pub fn deregister(&mut self, now: f64) {
        if self.is_active() {
            self.status = TaskDefinitionStatus::Inactive;
            self.deregistered_at = Some(now);
        }
    }

    /// DeleteTaskDefinitions: only INACTIVE revisions can be deleted.
    pub fn request_delete(&mut self, now: f64) -> Result<(), ApiError> {
        if self.is_active() {
            return Err(ApiError::client(
                "The specified task definition is still in ACTIVE status. Please deregister the \
                 target and try again.",
            ));
        }
        if self.status != TaskDefinitionStatus::DeleteInProgress {
            self.status = TaskDefinitionStatus::DeleteInProgress;
            self.delete_requested_at = Some(now);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Task-level shapes

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolumeProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_volume_configuration: Option<DockerVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efs_volume_configuration: Option<EfsVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3files_volume_configuration: Option<S3FilesVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsx_windows_file_server_volume_configuration:
        Option<FsxWindowsFileServerVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configured_at_launch: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostVolumeProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerVolumeConfiguration {
    /// `task` or `shared`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoprovision: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<std::collections::BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EfsVolumeConfiguration {
    pub file_system_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_config: Option<EfsAuthorizationConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EfsAuthorizationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_point_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3FilesVolumeConfiguration {
    pub file_system_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_point_arn: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsxWindowsFileServerVolumeConfiguration {
    pub file_system_id: String,
    pub root_directory: String,
    pub authorization_config: FsxWindowsFileServerAuthorizationConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsxWindowsFileServerAuthorizationConfig {
    pub credentials_parameter: String,
    pub domain: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionPlacementConstraint {
    /// Only `memberOf` in a task definition.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub constraint_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfiguration {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub proxy_type: Option<String>,
    pub container_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<Vec<KeyValuePair>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceAccelerator {
    pub device_name: String,
    pub device_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralStorage {
    #[serde(rename = "sizeInGiB")]
    pub size_in_gib: i32,
}

/// An attribute a container instance must have (`requiresAttributes`), or has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

impl Attribute {
    pub fn named(name: impl Into<String>) -> Self {
        Attribute { name: name.into(), ..Attribute::default() }
    }
}

// ---------------------------------------------------------------------------------------------
// Naming a task definition

/// What a `taskDefinition` parameter names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDefinitionRef {
    /// A bare family: the latest ACTIVE revision (DescribeTaskDefinition, RunTask, ...).
    Family(String),
    /// `family:revision`, or an ARN, which always carries a revision.
    Revision { family: String, revision: u32 },
}

impl TaskDefinitionRef {
    pub fn family(&self) -> &str {
        match self {
            TaskDefinitionRef::Family(f) | TaskDefinitionRef::Revision { family: f, .. } => f,
        }
    }

    pub fn revision(&self) -> Option<u32> {
        match self {
            TaskDefinitionRef::Family(_) => None,
            TaskDefinitionRef::Revision { revision, .. } => Some(*revision),
        }
    }
}

/// Parses `family`, `family:revision` or `arn:...:task-definition/family:revision`. The ARN's
/// region and account are not checked here: the caller knows its own scope.
pub fn parse_task_definition_ref(reference: &str) -> Result<TaskDefinitionRef, ApiError> {
    let invalid = || {
        ApiError::client(format!(
            "invalid task definition '{reference}': expected family, family:revision or a task \
             definition ARN"
        ))
    };
    let (family, revision) = if reference.starts_with("arn:") {
        let (_, resource) = reference.split_once(":task-definition/").ok_or_else(invalid)?;
        let (family, revision) = resource.rsplit_once(':').ok_or_else(invalid)?;
        (family, Some(revision))
    } else {
        match reference.split_once(':') {
            Some((family, revision)) => (family, Some(revision)),
            None => (reference, None),
        }
    };
    if !validate::valid_name(family) {
        return Err(invalid());
    }
    match revision {
        None => Ok(TaskDefinitionRef::Family(family.to_string())),
        Some(r) => match r.parse::<u32>() {
            Ok(revision) if revision > 0 && r.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(TaskDefinitionRef::Revision { family: family.to_string(), revision })
            }
            // ECS's own wording for this case.
            _ => Err(ApiError::client(format!("Invalid revision number. Number: {r}"))),
        },
    }
}

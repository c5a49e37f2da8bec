//! Starting and stopping tasks, shared by RunTask/StartTask/StopTask, the service controller
//! and agent reports: which definition a reference names, what a launch decided, a new task
//! record, and a task marked stopped when no agent will report it.

use flotilla_api::service::PlacementConstraint;
use flotilla_api::task::{Container, Task, TaskOverride, TaskStatus};
use flotilla_api::taskdef::{
    parse_task_definition_ref, TaskDefinition, TaskDefinitionRef, TaskDefinitionStatus,
};
use flotilla_api::ApiError;
use flotilla_scheduler::Strategy;

use crate::state::{InstanceRecord, Reservation, State, TaskRecord};

/// ECS's words when RunTask/StartTask name a task definition that does not exist.
const UNABLE_TO_DESCRIBE: &str = "Unable to describe task definition.";
/// ECS's words when CreateService/UpdateService do.
pub const TASK_DEFINITION_NOT_FOUND: &str = "TaskDefinition not found.";

/// Resolves the task definition a RunTask/StartTask names; it must be ACTIVE.
pub fn resolve_definition(state: &State, reference: &str) -> Result<TaskDefinition, ApiError> {
    resolve_definition_as(state, reference, UNABLE_TO_DESCRIBE)
}

/// Resolves a task definition reference, answering `missing` (a ClientException) when nothing
/// matches; it must be ACTIVE.
pub fn resolve_definition_as(
    state: &State,
    reference: &str,
    missing: &'static str,
) -> Result<TaskDefinition, ApiError> {
    let parsed = parse_task_definition_ref(reference)?;
    let revisions = state.task_definitions.get(parsed.family());
    let found = match parsed {
        TaskDefinitionRef::Family(_) => {
            revisions.and_then(|r| r.values().rev().find(|td| td.definition.is_active()))
        }
        TaskDefinitionRef::Revision { revision, .. } => revisions.and_then(|r| r.get(&revision)),
    };
    match found {
        Some(td) if td.definition.status == TaskDefinitionStatus::Active => {
            Ok(td.definition.clone())
        }
        Some(_) => Err(ApiError::client(format!("TaskDefinition is inactive: {reference}"))),
        None => Err(ApiError::client(missing)),
    }
}

/// Everything a launch decided before the write: ids and times are stamped here.
pub struct Launch {
    pub cluster_ref: Option<String>,
    pub definition_ref: String,
    pub overrides: TaskOverride,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub tags: Vec<flotilla_api::Tag>,
    /// One id per task to start (with ids for up to as many containers).
    pub ids: Vec<(String, Vec<String>)>,
    pub now: f64,
    /// The request's own constraints (the task definition's are added when placing).
    pub constraints: Vec<PlacementConstraint>,
    pub strategies: Vec<Strategy>,
}

impl Launch {
    /// The task group: as given, else `family:<family>`.
    pub fn group_of(&self, definition: &TaskDefinition) -> String {
        self.group.clone().unwrap_or_else(|| format!("family:{}", definition.family))
    }
}

/// A task id with ids for its containers.
pub type TaskIds = (String, Vec<String>);

pub fn new_ids(count: usize, containers: usize) -> Vec<TaskIds> {
    (0..count)
        .map(|_| {
            let task = uuid::Uuid::new_v4().simple().to_string();
            let containers = (0..containers).map(|_| uuid::Uuid::new_v4().to_string()).collect();
            (task, containers)
        })
        .collect()
}

pub fn new_task(
    ctx_scope: &flotilla_api::arn::ArnScope,
    launch: &Launch,
    cluster: &str,
    definition: &TaskDefinition,
    instance: &InstanceRecord,
    ids: &(String, Vec<String>),
    reservation: &Reservation,
) -> TaskRecord {
    let (task_id, container_ids) = ids;
    let task_arn = ctx_scope.task(cluster, task_id);
    let containers = definition
        .container_definitions
        .iter()
        .zip(container_ids)
        .map(|(c, id)| Container {
            container_arn: ctx_scope.container(cluster, task_id, id),
            task_arn: task_arn.clone(),
            name: c.name.clone().unwrap_or_default(),
            image: c.image.clone(),
            last_status: TaskStatus::Pending,
            cpu: c.cpu.map(|v| v.to_string()),
            memory: c.memory.map(|v| v.to_string()),
            memory_reservation: c.memory_reservation.map(|v| v.to_string()),
            ..Container::default()
        })
        .collect();
    let az = instance
        .instance
        .attributes
        .iter()
        .find(|a| a.name == "ecs.availability-zone")
        .and_then(|a| a.value.clone());
    TaskRecord {
        cluster: cluster.to_string(),
        id: task_id.clone(),
        instance_id: Some(instance.id.clone()),
        protected_until: None,
        client_token: None,
        deregistering_until: None,
        reservation: reservation.clone(),
        task: Task {
            task_arn,
            cluster_arn: ctx_scope.cluster(cluster),
            task_definition_arn: definition.task_definition_arn.clone(),
            container_instance_arn: Some(instance.instance.container_instance_arn.clone()),
            overrides: launch.overrides.clone(),
            last_status: TaskStatus::Provisioning,
            desired_status: TaskStatus::Running,
            cpu: launch.overrides.cpu.clone().or_else(|| definition.cpu.clone()),
            memory: launch.overrides.memory.clone().or_else(|| definition.memory.clone()),
            containers,
            started_by: launch.started_by.clone(),
            version: 1,
            created_at: launch.now,
            group: Some(launch.group_of(definition)),
            launch_type: "EC2".into(),
            availability_zone: az,
            connectivity: Some("CONNECTED".into()),
            connectivity_at: Some(launch.now),
            health_status: Some(flotilla_api::status::HealthStatus::Unknown),
            tags: Some(launch.tags.clone()),
            ..Task::default()
        },
    }
}

/// Makes a new task a FARGATE task: it runs on the Fargate capacity (its instance stays in the
/// record, for its agent) but shows no container instance, and runs the platform version.
pub fn run_on_fargate(task: &mut Task) {
    task.launch_type = "FARGATE".into();
    task.platform_version = Some(flotilla_api::agent::FARGATE_PLATFORM_VERSION.into());
    task.container_instance_arn = None;
}

/// The `platformVersion` a launch asked for, as it is kept: Fargate's capacity runs 1.4.0
/// (ECS's LATEST on Linux), so `LATEST` (the default) and `1.4.0` are taken and any other is
/// refused; an EC2 launch takes none, as on ECS.
pub fn checked_platform_version(
    given: Option<String>,
    fargate: bool,
) -> Result<Option<String>, ApiError> {
    let current = flotilla_api::agent::FARGATE_PLATFORM_VERSION;
    match given {
        None if fargate => Ok(Some(LATEST_PLATFORM.into())),
        None => Ok(None),
        Some(_) if !fargate => Err(ApiError::invalid(
            "The platform version must be null when specifying an EC2 launch type.",
        )),
        Some(v) if v == LATEST_PLATFORM || v == current => Ok(Some(v)),
        Some(v) => Err(ApiError::new(
            flotilla_api::ErrorCode::PlatformUnknownException,
            format!(
                "The specified platform version {v} does not exist: this region's Fargate \
                 capacity runs platform version {current} ({LATEST_PLATFORM})."
            ),
        )),
    }
}

/// The platform version a service or task set shows by default.
const LATEST_PLATFORM: &str = "LATEST";

/// Marks a task and its containers STOPPED (used when no agent will report it).
pub fn mark_stopped(task: &mut Task, now: f64) {
    task.last_status = TaskStatus::Stopped;
    task.desired_status = TaskStatus::Stopped;
    task.stopped_at.get_or_insert(now);
    task.execution_stopped_at.get_or_insert(now);
    for container in &mut task.containers {
        if container.last_status != TaskStatus::Stopped {
            container.last_status = TaskStatus::Stopped;
        }
    }
}

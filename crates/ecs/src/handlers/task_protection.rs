//! GetTaskProtection and UpdateTaskProtection: a service task protected from scale-in is kept
//! by the service scheduler (scale-in and deployments pass over it) until the protection is
//! removed or expires; failed health checks still replace it.

use flotilla_api::arn::id_from;
use flotilla_api::common::decode;
use flotilla_api::task::TaskStatus;
use flotilla_api::{ApiError, Failure};

use super::{respond, Ctx};
use crate::convert::failures_to_wire;
use crate::domain::active_cluster;
use crate::state::{Record, TaskRecord};
use crate::wire;

/// At most this many tasks per call (ECS's limit).
const MAX_TASKS: usize = 10;
/// Protection lasts this long unless `expiresInMinutes` says otherwise: 2 hours.
const DEFAULT_MINUTES: i32 = 120;
/// At most 48 hours.
const MAX_MINUTES: i32 = 2880;

fn check_count(tasks: &[String]) -> Result<(), ApiError> {
    if tasks.is_empty() || tasks.len() > MAX_TASKS {
        return Err(ApiError::invalid(format!("tasks must name 1 to {MAX_TASKS} tasks")));
    }
    Ok(())
}

/// A task's protection as ECS answers it, as of `now`.
fn protection(task: &TaskRecord, now: f64) -> wire::ProtectedTask {
    let until = task.protected_until.filter(|until| *until > now);
    wire::ProtectedTask {
        task_arn: Some(task.task.task_arn.clone()),
        protection_enabled: Some(until.is_some()),
        expiration_date: until,
    }
}

/// The task a reference names in `cluster`, if protection can apply to it: a service's task
/// that has not stopped. Otherwise the failure ECS reports.
fn protectable(found: Option<&TaskRecord>, reference: &str) -> Result<TaskRecord, Failure> {
    let failure = |reason: &str, detail: Option<&str>| Failure {
        arn: Some(reference.to_string()),
        reason: Some(reason.to_string()),
        detail: detail.map(str::to_string),
    };
    let Some(task) = found else {
        return Err(failure("MISSING", None));
    };
    if !task.task.group.as_deref().is_some_and(|g| g.starts_with("service:")) {
        return Err(failure(
            "TASK_NOT_VALID",
            Some("Task scale-in protection applies only to tasks of a service."),
        ));
    }
    if task.task.desired_status == TaskStatus::Stopped {
        return Err(failure("TASK_NOT_VALID", Some("The task is stopping or stopped.")));
    }
    Ok(task.clone())
}

pub fn get(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::GetTaskProtectionRequest { cluster, tasks } = decode(body)?;
    let state = ctx.app.state.read();
    let name = flotilla_api::arn::cluster_name_from(&cluster).to_string();
    if !crate::domain::is_active_cluster(&state, &name) {
        return Err(ApiError::cluster_not_found());
    }
    let tasks = tasks.unwrap_or_default();
    check_count(&tasks)?;
    let mut protected = Vec::new();
    let mut failures = Vec::new();
    for reference in &tasks {
        let found = state.tasks.get(&(name.clone(), id_from(reference).to_string()));
        match protectable(found, reference) {
            Ok(task) => protected.push(protection(&task, ctx.now)),
            Err(failure) => failures.push(failure),
        }
    }
    respond(&wire::GetTaskProtectionResponse {
        protected_tasks: Some(protected),
        failures: Some(failures_to_wire(failures)),
    })
}

pub async fn update(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::UpdateTaskProtectionRequest {
        cluster,
        tasks,
        protection_enabled,
        expires_in_minutes,
    } = decode(body)?;
    check_count(&tasks)?;
    let minutes = expires_in_minutes.unwrap_or(DEFAULT_MINUTES);
    if !(1..=MAX_MINUTES).contains(&minutes) {
        return Err(ApiError::invalid(format!(
            "expiresInMinutes must be between 1 and {MAX_MINUTES}, not {minutes}"
        )));
    }
    let now = ctx.now;
    let until = protection_enabled.then_some(now + f64::from(minutes) * 60.0);
    let (protected, failures) = ctx
        .app
        .state
        .write(move |staged| {
            let cluster = active_cluster(staged, Some(&cluster))?;
            let mut protected = Vec::new();
            let mut failures = Vec::new();
            for reference in &tasks {
                // Through the staged view: a change to the task earlier in this commit stays.
                let found = staged.task(&cluster.cluster_name, id_from(reference)).cloned();
                let task = protectable(found.as_ref(), reference);
                match task {
                    Ok(mut task) => {
                        task.protected_until = until;
                        protected.push(protection(&task, now));
                        staged.put(Record::Task(Box::new(task)));
                    }
                    Err(failure) => failures.push(failure),
                }
            }
            Ok((protected, failures))
        })
        .await?;
    respond(&wire::UpdateTaskProtectionResponse {
        protected_tasks: Some(protected),
        failures: Some(failures_to_wire(failures)),
    })
}

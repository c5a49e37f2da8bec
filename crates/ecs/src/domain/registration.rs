//! Agents' registrations and reports, applied by the gateway: who may register as which
//! instance, and how a report of task and container states merges into the stored tasks.

use flotilla_api::agent::{Register, Report, TaskReport, FARGATE_POOL};
use flotilla_api::arn::id_from;
use flotilla_api::instance::ContainerInstance;
use flotilla_api::status::InstanceStatus;
use flotilla_api::task::TaskStatus;
use flotilla_api::ApiError;

use super::active_cluster;
use crate::state::{instance_key, task_key, InstanceRecord, Record};
use crate::App;

/// What admits a registration: the join token (a new instance, or claiming one registered
/// before credentials existed) or an instance's own credential (only that instance).
#[derive(Debug, Clone)]
pub enum Admission {
    /// The hash of the credential to issue.
    Join {
        credential_hash: String,
    },
    Instance {
        cluster: String,
        id: String,
    },
}

/// A registration's outcome.
#[derive(Debug, Clone)]
pub struct Registration {
    pub id: String,
    pub arn: String,
    /// The admission's credential was stored for the instance: the agent must be told it.
    pub issued_credential: bool,
}

/// Registers (or re-registers) the agent's instance. `new_id` is used when the agent has no id
/// yet or its old instance is gone.
pub async fn register(
    app: &App,
    register: Register,
    new_id: String,
    now: f64,
    admission: Admission,
) -> Result<Registration, ApiError> {
    let scope = app.scope.clone();
    app.state
        .write(move |staged| {
            // Fargate capacity belongs to no cluster of the account's.
            let name = if register.cluster == FARGATE_POOL {
                FARGATE_POOL.to_string()
            } else {
                active_cluster(staged, Some(&register.cluster)).map_err(|_| {
                    ApiError::client(format!("cluster '{}' does not exist or is not ACTIVE", register.cluster))
                })?.cluster_name
            };
            let existing = register.container_instance_id.as_deref().and_then(|id| match staged.get(&instance_key(&name, id)) {
                Some(Record::Instance(i)) => Some(*i),
                _ => None,
            });
            let mut issued_credential = false;
            match (&admission, &existing) {
                (Admission::Instance { cluster, id }, _)
                    if *cluster != name || register.container_instance_id.as_deref() != Some(id.as_str()) =>
                {
                    return Err(ApiError::client(format!(
                        "this agent's credential is for container instance {id} of cluster {cluster}; it cannot register as another instance"
                    )))
                }
                (Admission::Instance { id, .. }, None) => {
                    return Err(ApiError::client(format!(
                        "container instance {id} no longer exists; remove the agent's state file to register anew"
                    )))
                }
                (Admission::Join { .. }, Some(i)) if i.credential_hash.is_some() => {
                    return Err(ApiError::client(format!(
                        "container instance {} is registered: only its own agent, with the credential it was issued, can connect as it",
                        i.instance.container_instance_arn
                    )))
                }
                (Admission::Join { .. }, _) => issued_credential = true,
                (Admission::Instance { .. }, Some(_)) => {}
            }
            let mut record = match existing {
                Some(i) if i.instance.status == InstanceStatus::Inactive => {
                    return Err(ApiError::client(format!(
                        "container instance {} was deregistered; remove the agent's state file to register it again",
                        i.instance.container_instance_arn
                    )))
                }
                Some(i) => i,
                None => InstanceRecord {
                    cluster: name.clone(),
                    id: new_id.clone(),
                    instance: ContainerInstance {
                        container_instance_arn: scope.container_instance(&name, &new_id),
                        status: InstanceStatus::Active,
                        registered_at: now,
                        ..ContainerInstance::default()
                    },
                    custom_attributes: Vec::new(),
                    announced_attributes: Vec::new(),
                    credential_hash: None,
                },
            };
            if let Admission::Join { credential_hash } = admission {
                record.credential_hash = Some(credential_hash);
            }
            record.set_announced(register.attributes);
            let instance = &mut record.instance;
            instance.ec2_instance_id = register.host_id;
            instance.advertise_address = register.advertise_address;
            instance.registered_resources = register.registered_resources;
            instance.version_info = register.version_info;
            instance.version += 1;
            let out = Registration {
                id: record.id.clone(),
                arn: instance.container_instance_arn.clone(),
                issued_credential,
            };
            staged.put(Record::Instance(Box::new(record)));
            Ok(out)
        })
        .await
}

/// Whether applying `report` to `task` would leave it as it is (conservative: `false` when in
/// doubt). Mirrors `apply_report`: statuses move forward, facts are filled in once.
pub fn report_changes_nothing(task: &flotilla_api::task::Task, report: &TaskReport) -> bool {
    let moves = |to: &TaskStatus, from: &TaskStatus| to > from;
    let fills = |known: Option<f64>, reported: Option<f64>| known.is_none() && reported.is_some();
    fn news<T: PartialEq>(known: &Option<T>, reported: &Option<T>) -> bool {
        reported.is_some() && reported != known
    }
    if moves(&report.last_status, &task.last_status)
        || (task.last_status == TaskStatus::Stopped && task.desired_status != TaskStatus::Stopped)
        || news(&task.health_status, &report.health_status)
        || fills(task.pull_started_at, report.pull_started_at)
        || fills(task.pull_stopped_at, report.pull_stopped_at)
        || fills(task.started_at, report.started_at)
        || fills(task.stopping_at, report.stopping_at)
        || fills(task.execution_stopped_at, report.execution_stopped_at)
        || fills(task.stopped_at, report.stopped_at)
        || (task.stop_code.is_none() && report.stop_code.is_some())
        || (task.stopped_reason.is_none() && report.stopped_reason.is_some())
        || report.network.as_ref().is_some_and(|n| {
            task.interface.as_ref().is_some_and(|i| {
                i.ipv4_address.as_deref() != Some(n.ipv4_address.as_str())
                    || i.mac_address.as_deref() != Some(n.mac_address.as_str())
            })
        })
    {
        return false;
    }
    report.containers.iter().all(|c| {
        let Some(known) = task.containers.iter().find(|x| x.name == c.name) else {
            return true; // ignored by apply_report too
        };
        !(moves(&c.last_status, &known.last_status)
            || news(&known.runtime_id, &c.runtime_id)
            || (c.exit_code.is_some() && c.exit_code != known.exit_code)
            || news(&known.reason, &c.reason)
            || (!c.network_bindings.is_empty() && c.network_bindings != known.network_bindings)
            || news(&known.health_status, &c.health_status))
    })
}

/// Applies one task's report: statuses only move forward, facts are filled in once.
pub(crate) fn merge_report(task: &mut flotilla_api::task::Task, task_report: TaskReport) {
    if task_report.last_status >= task.last_status {
        task.last_status = task_report.last_status;
    }
    for c in task_report.containers {
        if let Some(container) = task.containers.iter_mut().find(|x| x.name == c.name) {
            if c.last_status >= container.last_status {
                container.last_status = c.last_status;
            }
            container.runtime_id = c.runtime_id.or(container.runtime_id.take());
            container.exit_code = c.exit_code.or(container.exit_code);
            container.reason = c.reason.or(container.reason.take());
            if !c.network_bindings.is_empty() {
                container.network_bindings = c.network_bindings;
            }
            container.health_status = c.health_status.or(container.health_status.take());
        }
    }
    task.health_status = task_report.health_status.or(task.health_status.take());
    task.pull_started_at = task.pull_started_at.or(task_report.pull_started_at);
    task.pull_stopped_at = task.pull_stopped_at.or(task_report.pull_stopped_at);
    task.started_at = task.started_at.or(task_report.started_at);
    task.stopping_at = task.stopping_at.or(task_report.stopping_at);
    task.execution_stopped_at = task.execution_stopped_at.or(task_report.execution_stopped_at);
    task.stopped_at = task.stopped_at.or(task_report.stopped_at);
    if task.stop_code.is_none() {
        task.stop_code = task_report.stop_code;
    }
    if task.stopped_reason.is_none() {
        task.stopped_reason = task_report.stopped_reason;
    }
    // An awsvpc task's address, once its agent has wired the interface (it keeps it).
    if let (Some(interface), Some(wired)) = (task.interface.as_mut(), task_report.network) {
        interface.ipv4_address = Some(wired.ipv4_address);
        interface.mac_address = Some(wired.mac_address);
        interface.gateway = Some(wired.gateway);
    }
    if task.last_status == TaskStatus::Stopped {
        // A stopped task is done: ECS shows it desired STOPPED too.
        task.desired_status = TaskStatus::Stopped;
    }
}

/// Applies an agent's report of its tasks: statuses only move forward in the lifecycle.
pub async fn apply_report(app: &App, instance_id: String, report: Report) -> Result<(), ApiError> {
    let load_balancing = std::sync::Arc::clone(&app.load_balancing);
    app.state
        .write(move |staged| {
            for task_report in report.tasks {
                // The task's cluster is its ARN's (Fargate capacity runs every cluster's tasks);
                // only the reporting instance's own tasks are touched.
                let cluster = cluster_name_from_task_arn(&task_report.task_arn).to_string();
                let id = id_from(&task_report.task_arn).to_string();
                // Most of a report repeats what is known: those tasks are not even copied.
                if staged
                    .task(&cluster, &id)
                    .is_none_or(|t| report_changes_nothing(&t.task, &task_report))
                {
                    continue;
                }
                let Some(Record::Task(mut record)) = staged.get(&task_key(&cluster, &id)) else {
                    continue;
                };
                if record.instance_id.as_deref() != Some(instance_id.as_str()) {
                    continue; // not this agent's task (stale report)
                }
                let before = record.task.clone();
                merge_report(&mut record.task, task_report);
                if record.task.last_status == TaskStatus::Running
                    && before.last_status < TaskStatus::Running
                    && !crate::load_balancing::registered_everywhere(
                        staged.state(),
                        &record,
                        load_balancing.as_ref(),
                    )
                {
                    // Behind load balancers a task is ACTIVATING until its targets are
                    // registered (`load_balancing.rs` registers it, then makes it RUNNING).
                    record.task.last_status = TaskStatus::Activating;
                }
                let task = &mut record.task;
                if *task != before {
                    task.version += 1;
                    staged.put(Record::Task(record));
                }
            }
            Ok(())
        })
        .await
}

/// The cluster of `arn:aws:ecs:<region>:<account>:task/<cluster>/<id>`.
pub fn cluster_name_from_task_arn(arn: &str) -> &str {
    let resource = arn.rsplit_once(":task/").map_or(arn, |(_, r)| r);
    resource.split('/').next().unwrap_or_default()
}

#[cfg(test)]
#[path = "registration_tests.rs"]
mod tests;

//! `POST /v1/agent/drain`: the operator drains one machine (`flotilla drain`), presenting that
//! machine's instance credential. The instance turns DRAINING (no new tasks; its service tasks
//! are replaced elsewhere, as UpdateContainerInstancesState does), and on Fargate capacity its
//! FARGATE_SPOT tasks are interrupted at once: stopped with stopCode `SpotInterruption`, a
//! service task first leaving its load balancers and registry (deregistration delay), then
//! its containers given SIGTERM and their `stopTimeout` (at most 120 s on Fargate) before
//! SIGKILL — AWS's two-minute warning. `ACTIVE` takes the machine back.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flotilla_api::agent::{DrainReply, DrainRequest};
use flotilla_api::status::InstanceStatus;
use flotilla_api::task::TaskStatus;
use flotilla_api::ApiError;

use crate::agent_auth;
use crate::state::{instance_key, Record, Staged, TaskRecord};
use crate::App;

/// FARGATE_SPOT's name, as a strategy names it and a task's `capacityProviderName` shows it.
const SPOT_PROVIDER: &str = "FARGATE_SPOT";
/// ECS's reason for a task stopped by a Spot interruption.
const SPOT_REASON: &str = "Your Spot Task was interrupted.";

pub async fn drain(State(app): State<Arc<App>>, request: Request) -> Response {
    let (cluster, id, asked) =
        match agent_auth::instance_request::<DrainRequest>(&app, request, 4096, "drain").await {
            Ok(accepted) => accepted,
            Err(refused) => return refused,
        };
    let wanted = match asked.status {
        status @ (InstanceStatus::Draining | InstanceStatus::Active) => status,
        status => {
            let message = format!("status must be DRAINING or ACTIVE, not {status}\n");
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    let now = app.clock.epoch_seconds();
    let load_balancing = Arc::clone(&app.load_balancing);
    let outcome = app
        .state
        .write(move |staged| {
            set_status(staged, &cluster, &id, wanted, now, load_balancing.as_ref())
        })
        .await;
    match outcome {
        Ok(reply) => agent_auth::json_reply(&reply),
        Err(error) => (StatusCode::CONFLICT, format!("{}\n", error.message)).into_response(),
    }
}

/// Puts instance `cluster`/`id` in `wanted`; draining interrupts its FARGATE_SPOT tasks.
fn set_status(
    staged: &mut Staged<'_>,
    cluster: &str,
    id: &str,
    wanted: InstanceStatus,
    now: f64,
    load_balancing: &dyn crate::load_balancing::LoadBalancing,
) -> Result<DrainReply, ApiError> {
    let mut record = match staged.get(&instance_key(cluster, id)) {
        Some(Record::Instance(record)) => *record,
        _ => return Err(ApiError::invalid("The container instance no longer exists.")),
    };
    if !matches!(record.instance.status, InstanceStatus::Active | InstanceStatus::Draining) {
        return Err(ApiError::invalid(format!(
            "The container instance is {}: only an ACTIVE or DRAINING one changes.",
            record.instance.status
        )));
    }
    if record.instance.status != wanted {
        record.instance.status = wanted;
        record.instance.version += 1;
        staged.put(Record::Instance(Box::new(record.clone())));
    }
    let live: Vec<TaskRecord> = staged
        .state()
        .tasks_on(id)
        .filter(|t| t.task.last_status != TaskStatus::Stopped)
        .cloned()
        .collect();
    let mut interrupted = 0;
    if wanted == InstanceStatus::Draining {
        for mut task in live.iter().filter(|t| spot_to_interrupt(t)).cloned() {
            task.task.desired_status = TaskStatus::Stopped;
            task.task.stop_code = Some("SpotInterruption".into());
            task.task.stopped_reason = Some(SPOT_REASON.into());
            task.task.stopping_at.get_or_insert(now);
            task.task.version += 1;
            // A service task leaves its load balancers and registry first (the warning is
            // for that), as StopTask's and the scheduler's stops do.
            let service = task.task.group.as_deref().and_then(|g| g.strip_prefix("service:"));
            let service = service
                .and_then(|name| staged.state().services.get(&(task.cluster.clone(), name.into())));
            if let Some(service) = service {
                let hold = crate::deactivation::deregistration_hold(service, &task, load_balancing);
                crate::deactivation::deactivate(&mut task, hold, now);
            }
            staged.put(Record::Task(Box::new(task)));
            interrupted += 1;
        }
    }
    Ok(DrainReply {
        container_instance_arn: record.instance.container_instance_arn.clone(),
        status: wanted,
        running_tasks: live.len(),
        spot_tasks_interrupted: interrupted,
    })
}

/// A FARGATE_SPOT task still meant to run.
fn spot_to_interrupt(task: &TaskRecord) -> bool {
    task.task.capacity_provider_name.as_deref() == Some(SPOT_PROVIDER)
        && task.task.desired_status != TaskStatus::Stopped
}

//! The ECS API: one function per operation, dispatched by operation name.
//!
//! Handlers decode and validate the request, stamp what needs a clock or randomness, then read
//! the state or hand a deterministic change to the writer. They never check permissions
//! (authorization is a layer in front of them).

mod account_settings;
mod attributes;
mod capacity_providers;
mod clusters;
mod instances;
mod services;
mod tags;
mod targets;
mod task_definitions;
mod task_protection;
mod task_sets;
mod tasks;

use std::time::SystemTime;

use flotilla_api::{ApiError, ErrorCode};
use serde::Serialize;

use crate::App;

pub use clusters::ensure_default_cluster;

/// What a handler gets besides its body.
pub struct Ctx<'a> {
    pub app: &'a App,
    /// The request's arrival time, epoch seconds: the only clock a handler reads.
    pub now: f64,
    /// The `Host` the client sent the request to.
    pub host: Option<&'a str>,
}

/// Runs ECS operation `operation` with JSON `body`.
pub async fn dispatch(
    app: &App,
    operation: &str,
    body: &[u8],
    now: SystemTime,
    host: Option<&str>,
) -> Result<Vec<u8>, ApiError> {
    let ctx = Ctx { app, now: flotilla_api::epoch_seconds(now), host };
    refuse_by_ledger(operation, body)?;
    match operation {
        "CreateCluster" => clusters::create(&ctx, body).await,
        "DescribeClusters" => clusters::describe(&ctx, body),
        "ListClusters" => clusters::list(&ctx, body),
        "UpdateCluster" => clusters::update(&ctx, body).await,
        "UpdateClusterSettings" => clusters::update_settings(&ctx, body).await,
        "DeleteCluster" => clusters::delete(&ctx, body).await,
        "PutClusterCapacityProviders" => clusters::put_capacity_providers(&ctx, body).await,
        "CreateCapacityProvider" => capacity_providers::create(&ctx, body).await,
        "DescribeCapacityProviders" => capacity_providers::describe(&ctx, body),
        "UpdateCapacityProvider" => capacity_providers::update(&ctx, body).await,
        "DeleteCapacityProvider" => capacity_providers::delete(&ctx, body).await,
        "RegisterTaskDefinition" => task_definitions::register(&ctx, body).await,
        "DescribeTaskDefinition" => task_definitions::describe(&ctx, body),
        "ListTaskDefinitions" => task_definitions::list(&ctx, body),
        "ListTaskDefinitionFamilies" => task_definitions::list_families(&ctx, body),
        "DeregisterTaskDefinition" => task_definitions::deregister(&ctx, body).await,
        "DeleteTaskDefinitions" => task_definitions::delete(&ctx, body).await,
        "TagResource" => tags::tag(&ctx, body).await,
        "UntagResource" => tags::untag(&ctx, body).await,
        "ListTagsForResource" => tags::list(&ctx, body),
        "CreateService" => services::create(&ctx, body).await,
        "UpdateService" => services::update(&ctx, body).await,
        "DeleteService" => services::delete(&ctx, body).await,
        "DescribeServices" => services::describe(&ctx, body),
        "CreateTaskSet" => task_sets::create(&ctx, body).await,
        "UpdateTaskSet" => task_sets::update(&ctx, body).await,
        "DeleteTaskSet" => task_sets::delete(&ctx, body).await,
        "DescribeTaskSets" => task_sets::describe(&ctx, body),
        "UpdateServicePrimaryTaskSet" => task_sets::update_primary(&ctx, body).await,
        "ListServices" => services::list(&ctx, body),
        "RunTask" => tasks::run(&ctx, body).await,
        "StartTask" => tasks::start(&ctx, body).await,
        "StopTask" => tasks::stop(&ctx, body).await,
        "DescribeTasks" => tasks::describe(&ctx, body),
        "GetTaskProtection" => task_protection::get(&ctx, body),
        "DiscoverPollEndpoint" => instances::discover_poll_endpoint(&ctx, body),
        "ListServicesByNamespace" => services::list_by_namespace(&ctx, body),
        "UpdateTaskProtection" => task_protection::update(&ctx, body).await,
        "ListTasks" => tasks::list(&ctx, body),
        "DescribeContainerInstances" => instances::describe(&ctx, body),
        "ListContainerInstances" => instances::list(&ctx, body),
        "DeregisterContainerInstance" => instances::deregister(&ctx, body).await,
        "UpdateContainerInstancesState" => instances::update_state(&ctx, body).await,
        "PutAttributes" => attributes::put(&ctx, body).await,
        "DeleteAttributes" => attributes::delete(&ctx, body).await,
        "ListAttributes" => attributes::list(&ctx, body),
        "PutAccountSetting" => account_settings::put(&ctx, body).await,
        "PutAccountSettingDefault" => account_settings::put_default(&ctx, body).await,
        "ListAccountSettings" => account_settings::list(&ctx, body),
        "DeleteAccountSetting" => account_settings::delete(&ctx, body).await,
        other => Err(ApiError::new(
            ErrorCode::UnknownOperationException,
            format!("operation {other} is not supported by this server"),
        )),
    }
}

/// Serializes a response body.
fn respond(value: &impl Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::server(format!("cannot encode response: {e}")))
}

/// Refuses a request that sets a member the field ledger (`crates/ecs/ledger.toml`) refuses,
/// naming it, before any handler reads the request: nothing is accepted and ignored.
fn refuse_by_ledger(operation: &str, body: &[u8]) -> Result<(), ApiError> {
    match flotilla_front::refusal::refusal_in_json(body, crate::wire::refused_paths(operation)) {
        Some(message) => Err(ApiError::invalid(message)),
        None => Ok(()),
    }
}

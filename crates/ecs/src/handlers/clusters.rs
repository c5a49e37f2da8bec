//! CreateCluster, DescribeClusters, ListClusters, UpdateCluster, UpdateClusterSettings,
//! DeleteCluster.

use flotilla_api::arn::{cluster_name_from, valid_cluster_name};
use flotilla_api::cluster::{
    merge_settings, validate_cluster_settings, Cluster, ClusterSetting, CreateClusterRequest,
    DeleteClusterRequest, DescribeClustersRequest, ListRequest, UpdateClusterRequest,
    UpdateClusterSettingsRequest, CLUSTER_FIELDS,
};
use flotilla_api::common::{decode, validate_tags};
use flotilla_api::status::{ClusterStatus, InstanceStatus, ServiceStatus};
use flotilla_api::task::TaskStatus;
use flotilla_api::{ApiError, ErrorCode, Failure, KeyValuePair};
use serde_json::json;

use super::{respond, respond_page, Ctx};
use crate::state::{Record, Staged, State};
use crate::App;
use flotilla_api::pagination::paginate;

const DEFAULT_CLUSTER: &str = "default";
/// DescribeClusters takes at most this many clusters per call.
const MAX_DESCRIBE: usize = 100;

/// ECS has a `default` cluster from the start: create it on first start of an empty store.
pub async fn ensure_default_cluster(app: &App) -> Result<(), ApiError> {
    if app.state.read().clusters.contains_key(DEFAULT_CLUSTER) {
        return Ok(());
    }
    let cluster = new_cluster(app, DEFAULT_CLUSTER, CreateClusterRequest::default());
    app.state
        .write(move |staged| {
            // Another creation may have been queued first; keep whichever came first.
            if staged.get(&crate::state::cluster_key(DEFAULT_CLUSTER)).is_none() {
                staged.put(Record::Cluster(cluster));
            }
            Ok(())
        })
        .await
}

fn new_cluster(app: &App, name: &str, req: CreateClusterRequest) -> Cluster {
    let settings = req.settings.unwrap_or_else(|| {
        vec![ClusterSetting {
            name: Some("containerInsights".into()),
            value: Some(default_container_insights(&app.state.read())),
        }]
    });
    Cluster {
        cluster_arn: app.scope.cluster(name),
        cluster_name: name.to_string(),
        configuration: req.configuration,
        status: ClusterStatus::Active,
        tags: Some(req.tags.unwrap_or_default()),
        settings: Some(settings),
        capacity_providers: Some(req.capacity_providers.unwrap_or_default()),
        default_capacity_provider_strategy: Some(
            req.default_capacity_provider_strategy.unwrap_or_default(),
        ),
        service_connect_defaults: req.service_connect_defaults,
        ..Cluster::default()
    }
}

/// The account default for containerInsights, which new clusters inherit.
fn default_container_insights(state: &State) -> String {
    state
        .account_settings
        .get(&("default".to_string(), "containerInsights".to_string()))
        .map_or_else(|| "disabled".to_string(), |s| s.value.clone())
}

/// The cluster a request names (short name or ARN; absent means `default`), if it is ACTIVE.
pub fn active_cluster(staged: &Staged<'_>, reference: Option<&str>) -> Result<Cluster, ApiError> {
    let name = cluster_name_from(reference.unwrap_or(DEFAULT_CLUSTER));
    match staged.get(&crate::state::cluster_key(name)) {
        Some(Record::Cluster(c)) if c.status == ClusterStatus::Active => Ok(c),
        _ => Err(ApiError::cluster_not_found()),
    }
}

pub async fn create(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: CreateClusterRequest = decode(body)?;
    let name = req.cluster_name.clone().unwrap_or_else(|| DEFAULT_CLUSTER.to_string());
    let mut problems = Vec::new();
    if !valid_cluster_name(&name) {
        problems.push(format!(
            "Cluster name '{name}' is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed"
        ));
    }
    if let Err(e) = validate_tags(req.tags.as_deref().unwrap_or_default()) {
        problems.push(e.message);
    }
    if let Err(e) = validate_cluster_settings(req.settings.as_deref().unwrap_or_default()) {
        problems.push(e.message);
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems.join("; ")));
    }
    let fresh = new_cluster(ctx.app, &name, req);
    let cluster = ctx
        .app
        .state
        .write(move |staged| {
            // Idempotent by name: an ACTIVE cluster is returned as it is.
            match staged.get(&crate::state::cluster_key(&fresh.cluster_name)) {
                Some(Record::Cluster(existing)) if existing.status == ClusterStatus::Active => {
                    Ok(existing)
                }
                _ => {
                    staged.put(Record::Cluster(fresh.clone()));
                    Ok(fresh)
                }
            }
        })
        .await?;
    respond(&json!({ "cluster": cluster }))
}

/// Live counts of a cluster: (instances, running tasks, pending tasks).
fn counts(state: &State, name: &str) -> (i32, i32, i32) {
    let instances = state
        .instances
        .range((name.to_string(), String::new())..)
        .take_while(|((c, _), _)| c == name)
        .filter(|(_, i)| i.instance.status != InstanceStatus::Inactive)
        .count() as i32;
    let (mut running, mut pending) = (0, 0);
    for (_, task) in
        state.tasks.range((name.to_string(), String::new())..).take_while(|((c, _), _)| c == name)
    {
        match task.task.last_status {
            TaskStatus::Running => running += 1,
            TaskStatus::Stopped => {}
            _ => pending += 1,
        }
    }
    (instances, running, pending)
}

/// Fills the live counts (instances, tasks) into a stored cluster.
fn with_counts(state: &State, cluster: &Cluster, include: &[String]) -> Cluster {
    let mut out = cluster.clone();
    let (instances, running, pending) = counts(state, &cluster.cluster_name);
    out.registered_container_instances_count = instances;
    out.running_tasks_count = running;
    out.pending_tasks_count = pending;
    out.active_services_count = state
        .services
        .range((cluster.cluster_name.clone(), String::new())..)
        .take_while(|((c, _), _)| *c == cluster.cluster_name)
        .filter(|(_, s)| s.service.status == ServiceStatus::Active)
        .count() as i32;
    let has = |field: &str| include.iter().any(|f| f == field);
    if !has("TAGS") {
        out.tags = None;
    }
    if !has("SETTINGS") {
        out.settings = None;
    }
    if !has("CONFIGURATIONS") {
        out.configuration = None;
    }
    if has("STATISTICS") {
        let stat = |name: &str, value: i32| KeyValuePair {
            name: Some(name.into()),
            value: Some(value.to_string()),
        };
        out.statistics = Some(vec![
            stat("runningEC2TasksCount", running),
            stat("runningFargateTasksCount", 0),
            stat("pendingEC2TasksCount", pending),
            stat("pendingFargateTasksCount", 0),
            stat("activeEC2ServiceCount", out.active_services_count),
            stat("activeFargateServiceCount", 0),
            stat("drainingEC2ServiceCount", 0),
            stat("drainingFargateServiceCount", 0),
        ]);
    }
    out
}

pub fn describe(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: DescribeClustersRequest = decode(body)?;
    let include = req.include.unwrap_or_default();
    if let Some(bad) = include.iter().find(|f| !CLUSTER_FIELDS.contains(&f.as_str())) {
        return Err(ApiError::invalid(format!(
            "invalid include value '{bad}'; valid values: {}",
            CLUSTER_FIELDS.join(", ")
        )));
    }
    let references = req.clusters.unwrap_or_else(|| vec![DEFAULT_CLUSTER.to_string()]);
    if references.len() > MAX_DESCRIBE {
        return Err(ApiError::invalid(format!(
            "at most {MAX_DESCRIBE} clusters can be described at once, {} given",
            references.len()
        )));
    }
    let state = ctx.app.state.read();
    let mut clusters = Vec::new();
    let mut failures = Vec::new();
    for reference in &references {
        let name = cluster_name_from(reference);
        match state.clusters.get(name) {
            Some(cluster) => clusters.push(with_counts(&state, cluster, &include)),
            None => failures.push(Failure {
                arn: Some(ctx.app.scope.cluster(name)),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    respond(&json!({ "clusters": clusters, "failures": failures }))
}

pub fn list(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: ListRequest = decode(body)?;
    let state = ctx.app.state.read();
    let active = state
        .clusters
        .values()
        .filter(|c| c.status == ClusterStatus::Active)
        .map(|c| (c.cluster_name.clone(), c.cluster_arn.clone()));
    let (arns, next) = paginate(active, req.next_token.as_deref(), req.max_results, 100)?;
    respond_page("clusterArns", arns, next)
}

/// Applies `change` to the named ACTIVE cluster and returns it as Describe with all fields would.
async fn change_cluster(
    ctx: &Ctx<'_>,
    reference: &str,
    change: impl FnOnce(&mut Cluster) + Send + 'static,
) -> Result<Vec<u8>, ApiError> {
    let reference = reference.to_string();
    let cluster = ctx
        .app
        .state
        .write(move |staged| {
            let mut cluster = active_cluster(staged, Some(&reference))?;
            change(&mut cluster);
            staged.put(Record::Cluster(cluster.clone()));
            Ok(cluster)
        })
        .await?;
    let all = ["SETTINGS".to_string(), "CONFIGURATIONS".to_string(), "TAGS".to_string()];
    respond(&json!({ "cluster": with_counts(&ctx.app.state.read(), &cluster, &all) }))
}

pub async fn update(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: UpdateClusterRequest = decode(body)?;
    validate_cluster_settings(req.settings.as_deref().unwrap_or_default())?;
    let cluster = req.cluster.clone();
    change_cluster(ctx, &cluster, move |c| {
        if let Some(settings) = &req.settings {
            merge_settings(c.settings.get_or_insert_with(Vec::new), settings);
        }
        if req.configuration.is_some() {
            c.configuration = req.configuration;
        }
        if req.service_connect_defaults.is_some() {
            c.service_connect_defaults = req.service_connect_defaults;
        }
    })
    .await
}

pub async fn update_settings(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: UpdateClusterSettingsRequest = decode(body)?;
    validate_cluster_settings(&req.settings)?;
    change_cluster(ctx, &req.cluster, move |c| {
        merge_settings(c.settings.get_or_insert_with(Vec::new), &req.settings);
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: DeleteClusterRequest = decode(body)?;
    let reference = req.cluster;
    let cluster = ctx
        .app
        .state
        .write(move |staged| {
            let mut cluster = active_cluster(staged, Some(&reference))?;
            refuse_if_in_use(&with_counts(staged.state(), &cluster, &[]))?;
            cluster.status = ClusterStatus::Inactive;
            staged.put(Record::Cluster(cluster.clone()));
            Ok(cluster)
        })
        .await?;
    respond(&json!({ "cluster": with_counts(&ctx.app.state.read(), &cluster, &[]) }))
}

/// ECS refuses to delete a cluster that still has instances, services or tasks.
fn refuse_if_in_use(cluster: &Cluster) -> Result<(), ApiError> {
    if cluster.registered_container_instances_count > 0 {
        return Err(ApiError::new(
            ErrorCode::ClusterContainsContainerInstancesException,
            "The Cluster cannot be deleted while Container Instances are active or draining.",
        ));
    }
    if cluster.active_services_count > 0 {
        return Err(ApiError::new(
            ErrorCode::ClusterContainsServicesException,
            "The Cluster cannot be deleted while Services are active.",
        ));
    }
    if cluster.running_tasks_count + cluster.pending_tasks_count > 0 {
        return Err(ApiError::new(
            ErrorCode::ClusterContainsTasksException,
            "The Cluster cannot be deleted while Tasks are active.",
        ));
    }
    Ok(())
}

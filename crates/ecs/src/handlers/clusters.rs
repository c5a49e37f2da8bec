//! CreateCluster, DescribeClusters, ListClusters, UpdateCluster, UpdateClusterSettings,
//! PutClusterCapacityProviders, DeleteCluster.

use flotilla_api::arn::{cluster_name_from, valid_cluster_name};
use flotilla_api::cluster::{
    merge_settings, validate_cluster_settings, CapacityProviderStrategyItem, Cluster,
    ClusterSetting, CLUSTER_FIELDS,
};
use flotilla_api::common::{decode, validate_tags, Tag};
use flotilla_api::pagination::paginate;
use flotilla_api::status::{ClusterStatus, InstanceStatus, ServiceStatus};
use flotilla_api::task::TaskStatus;
use flotilla_api::{ApiError, ErrorCode, Failure, KeyValuePair};
use serde_json::Value;

use super::{respond, Ctx};
use crate::convert::{
    failures_to_wire, into_domain, into_wire, pairs_to_wire, tags_from_wire, tags_if_any,
};
pub use crate::domain::active_cluster;
use crate::domain::capacity::check_cluster_providers;
use crate::domain::DEFAULT_CLUSTER;
use crate::state::{Record, State};
use crate::wire;
use crate::App;

/// DescribeClusters takes at most this many clusters per call.
const MAX_DESCRIBE: usize = 100;

/// ECS has a `default` cluster from the start: create it on first start of an empty store.
pub async fn ensure_default_cluster(app: &App) -> Result<(), ApiError> {
    if app.state.read().clusters.contains_key(DEFAULT_CLUSTER) {
        return Ok(());
    }
    let cluster = new_cluster(app, NewCluster::named(DEFAULT_CLUSTER));
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

/// What CreateCluster asks for, checked.
struct NewCluster {
    name: String,
    tags: Vec<Tag>,
    /// None: the account's default containerInsights.
    settings: Option<Vec<ClusterSetting>>,
    configuration: Option<Value>,
    capacity_providers: Vec<String>,
    default_capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    service_connect_defaults: Option<Value>,
}

impl NewCluster {
    fn named(name: &str) -> Self {
        NewCluster {
            name: name.to_string(),
            tags: Vec::new(),
            settings: None,
            configuration: None,
            capacity_providers: Vec::new(),
            default_capacity_provider_strategy: Vec::new(),
            service_connect_defaults: None,
        }
    }

    /// Every member of the request, each either kept or refused; every problem at once.
    fn parse(req: wire::CreateClusterRequest) -> Result<Self, ApiError> {
        let wire::CreateClusterRequest {
            cluster_name,
            tags,
            settings,
            configuration,
            capacity_providers,
            default_capacity_provider_strategy,
            service_connect_defaults,
        } = req;
        let name = cluster_name.unwrap_or_else(|| DEFAULT_CLUSTER.to_string());
        let tags = tags_from_wire(tags);
        let settings = settings.map(settings_from_wire);
        let mut problems = Vec::new();
        if !valid_cluster_name(&name) {
            problems.push(format!(
                "Cluster name '{name}' is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed"
            ));
        }
        if let Err(e) = validate_tags(&tags) {
            problems.push(e.message);
        }
        if let Err(e) = validate_cluster_settings(settings.as_deref().unwrap_or_default()) {
            problems.push(e.message);
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems.join("; ")));
        }
        Ok(NewCluster {
            name,
            tags,
            settings,
            configuration: configuration.map(|c| into_domain("configuration", &c)).transpose()?,
            capacity_providers: capacity_providers.unwrap_or_default(),
            default_capacity_provider_strategy: default_capacity_provider_strategy
                .map(|s| into_domain("defaultCapacityProviderStrategy", &s))
                .transpose()?
                .unwrap_or_default(),
            service_connect_defaults: service_connect_defaults
                .map(|d| into_domain("serviceConnectDefaults", &d))
                .transpose()?,
        })
    }
}

fn new_cluster(app: &App, new: NewCluster) -> Cluster {
    let settings = new.settings.unwrap_or_else(|| {
        vec![ClusterSetting {
            name: Some("containerInsights".into()),
            value: Some(default_container_insights(&app.state.read())),
        }]
    });
    Cluster {
        cluster_arn: app.scope.cluster(&new.name),
        cluster_name: new.name,
        configuration: new.configuration,
        status: ClusterStatus::Active,
        tags: Some(new.tags),
        settings: Some(settings),
        capacity_providers: Some(new.capacity_providers),
        default_capacity_provider_strategy: Some(new.default_capacity_provider_strategy),
        service_connect_defaults: new.service_connect_defaults,
        ..Cluster::default()
    }
}

fn settings_from_wire(settings: Vec<wire::ClusterSetting>) -> Vec<ClusterSetting> {
    settings.into_iter().map(|s| ClusterSetting { name: s.name, value: s.value }).collect()
}

/// A cluster (counts filled in) as the API answers it.
fn answered(cluster: &Cluster) -> Result<wire::Cluster, ApiError> {
    Ok(wire::Cluster {
        cluster_arn: Some(cluster.cluster_arn.clone()),
        cluster_name: Some(cluster.cluster_name.clone()),
        configuration: cluster.configuration.as_ref().map(into_wire).transpose()?,
        status: Some(cluster.status.to_string()),
        registered_container_instances_count: Some(cluster.registered_container_instances_count),
        running_tasks_count: Some(cluster.running_tasks_count),
        pending_tasks_count: Some(cluster.pending_tasks_count),
        active_services_count: Some(cluster.active_services_count),
        statistics: cluster.statistics.as_deref().map(pairs_to_wire),
        tags: tags_if_any(cluster.tags.as_deref()),
        settings: cluster.settings.as_ref().map(|settings| {
            settings
                .iter()
                .map(|s| wire::ClusterSetting { name: s.name.clone(), value: s.value.clone() })
                .collect()
        }),
        capacity_providers: cluster.capacity_providers.clone(),
        default_capacity_provider_strategy: cluster
            .default_capacity_provider_strategy
            .as_ref()
            .map(into_wire)
            .transpose()?,
        attachments: None,
        attachments_status: None,
        service_connect_defaults: cluster
            .service_connect_defaults
            .as_ref()
            .map(into_wire)
            .transpose()?,
    })
}

/// The account default for containerInsights, which new clusters inherit.
fn default_container_insights(state: &State) -> String {
    state
        .account_settings
        .get(&("default".to_string(), "containerInsights".to_string()))
        .map_or_else(|| "disabled".to_string(), |s| s.value.clone())
}

pub async fn create(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let new = NewCluster::parse(decode(body)?)?;
    let fresh = new_cluster(ctx.app, new);
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
                    check_cluster_providers(
                        staged,
                        &fresh.cluster_name,
                        fresh.capacity_providers.as_deref().unwrap_or_default(),
                        fresh.default_capacity_provider_strategy.as_deref().unwrap_or_default(),
                    )?;
                    staged.put(Record::Cluster(fresh.clone()));
                    Ok(fresh)
                }
            }
        })
        .await?;
    respond(&wire::CreateClusterResponse { cluster: Some(answered(&cluster)?) })
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
    let wire::DescribeClustersRequest { clusters: references, include } = decode(body)?;
    let include = include.unwrap_or_default();
    if let Some(bad) = include.iter().find(|f| !CLUSTER_FIELDS.contains(&f.as_str())) {
        return Err(ApiError::invalid(format!(
            "invalid include value '{bad}'; valid values: {}",
            CLUSTER_FIELDS.join(", ")
        )));
    }
    let references = references.unwrap_or_else(|| vec![DEFAULT_CLUSTER.to_string()]);
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
            Some(cluster) => clusters.push(answered(&with_counts(&state, cluster, &include))?),
            None => failures.push(Failure {
                arn: Some(ctx.app.scope.cluster(name)),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    respond(&wire::DescribeClustersResponse {
        clusters: Some(clusters),
        failures: Some(failures_to_wire(failures)),
    })
}

pub fn list(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::ListClustersRequest { next_token, max_results } = decode(body)?;
    let state = ctx.app.state.read();
    let active = state
        .clusters
        .values()
        .filter(|c| c.status == ClusterStatus::Active)
        .map(|c| (c.cluster_name.clone(), c.cluster_arn.clone()));
    let (arns, next) = paginate(active, next_token.as_deref(), max_results, 100)?;
    respond(&wire::ListClustersResponse { cluster_arns: Some(arns), next_token: next })
}

/// One change UpdateCluster or UpdateClusterSettings makes to a cluster: the closed set.
enum ClusterChange {
    /// Merged by name into the current settings.
    Settings(Vec<ClusterSetting>),
    Configuration(Value),
    ServiceConnectDefaults(Value),
}

impl ClusterChange {
    fn apply(self, cluster: &mut Cluster) {
        match self {
            ClusterChange::Settings(settings) => {
                merge_settings(cluster.settings.get_or_insert_with(Vec::new), &settings)
            }
            ClusterChange::Configuration(c) => cluster.configuration = Some(c),
            ClusterChange::ServiceConnectDefaults(d) => cluster.service_connect_defaults = Some(d),
        }
    }
}

/// Applies `changes` to the named ACTIVE cluster and answers it as Describe with all fields.
async fn change_cluster(
    ctx: &Ctx<'_>,
    reference: String,
    changes: Vec<ClusterChange>,
) -> Result<wire::Cluster, ApiError> {
    let cluster = ctx
        .app
        .state
        .write(move |staged| {
            let mut cluster = active_cluster(staged, Some(&reference))?;
            for change in changes {
                change.apply(&mut cluster);
            }
            staged.put(Record::Cluster(cluster.clone()));
            Ok(cluster)
        })
        .await?;
    let all = ["SETTINGS".to_string(), "CONFIGURATIONS".to_string(), "TAGS".to_string()];
    answered(&with_counts(&ctx.app.state.read(), &cluster, &all))
}

fn settings_change(settings: Vec<wire::ClusterSetting>) -> Result<ClusterChange, ApiError> {
    let settings = settings_from_wire(settings);
    validate_cluster_settings(&settings)?;
    Ok(ClusterChange::Settings(settings))
}

pub async fn update(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::UpdateClusterRequest { cluster, settings, configuration, service_connect_defaults } =
        decode(body)?;
    let mut changes = Vec::new();
    if let Some(settings) = settings {
        changes.push(settings_change(settings)?);
    }
    if let Some(configuration) = configuration {
        changes.push(ClusterChange::Configuration(into_domain("configuration", &configuration)?));
    }
    if let Some(defaults) = service_connect_defaults {
        changes.push(ClusterChange::ServiceConnectDefaults(into_domain(
            "serviceConnectDefaults",
            &defaults,
        )?));
    }
    let cluster = change_cluster(ctx, cluster, changes).await?;
    respond(&wire::UpdateClusterResponse { cluster: Some(cluster) })
}

pub async fn put_capacity_providers(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::PutClusterCapacityProvidersRequest {
        cluster,
        capacity_providers,
        default_capacity_provider_strategy,
    } = decode(body)?;
    let providers: Vec<String> =
        capacity_providers.iter().map(|p| flotilla_api::arn::id_from(p).to_string()).collect();
    let strategy: Vec<CapacityProviderStrategyItem> =
        into_domain("defaultCapacityProviderStrategy", &default_capacity_provider_strategy)?;
    let cluster = ctx
        .app
        .state
        .write(move |staged| {
            let mut cluster = active_cluster(staged, Some(&cluster))?;
            check_cluster_providers(staged, &cluster.cluster_name, &providers, &strategy)?;
            cluster.capacity_providers = Some(providers);
            cluster.default_capacity_provider_strategy = Some(strategy);
            staged.put(Record::Cluster(cluster.clone()));
            Ok(cluster)
        })
        .await?;
    let all = ["SETTINGS".to_string(), "CONFIGURATIONS".to_string(), "TAGS".to_string()];
    let cluster = answered(&with_counts(&ctx.app.state.read(), &cluster, &all))?;
    respond(&wire::PutClusterCapacityProvidersResponse { cluster: Some(cluster) })
}

pub async fn update_settings(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::UpdateClusterSettingsRequest { cluster, settings } = decode(body)?;
    let cluster = change_cluster(ctx, cluster, vec![settings_change(settings)?]).await?;
    respond(&wire::UpdateClusterSettingsResponse { cluster: Some(cluster) })
}

pub async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DeleteClusterRequest { cluster: reference } = decode(body)?;
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
    let cluster = answered(&with_counts(&ctx.app.state.read(), &cluster, &[]))?;
    respond(&wire::DeleteClusterResponse { cluster: Some(cluster) })
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

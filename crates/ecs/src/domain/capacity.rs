//! Capacity providers as launches and clusters use them: which providers a cluster may name,
//! which strategy a launch follows, and the placement constraint that keeps a task on its
//! provider's agents.

pub use flotilla_api::capacity::is_fargate_strategy;
use flotilla_api::capacity::{
    validate_strategy, CapacityProvider, FARGATE_PROVIDERS, GROUP_ATTRIBUTE,
};
use flotilla_api::cluster::{CapacityProviderStrategyItem, Cluster};
use flotilla_api::status::{CapacityProviderStatus, ClusterStatus, ServiceStatus};
use flotilla_api::task::TaskStatus;
use flotilla_api::{ApiError, ErrorCode};
use flotilla_scheduler::query::{Expr, Operator, Subject};
use flotilla_scheduler::Constraint;

use crate::state::{Record, Staged, State};

/// The clusters as a change sees them: the committed ones, with what this commit staged.
pub fn clusters_seen(staged: &Staged<'_>) -> Vec<Cluster> {
    let pending = staged.pending("ecs/clusters/");
    let mut clusters: Vec<Cluster> = staged
        .state()
        .clusters
        .values()
        .filter(|c| !pending.contains_key(crate::state::cluster_key(&c.cluster_name).as_str()))
        .cloned()
        .collect();
    clusters.extend(pending.values().filter_map(|record| match record {
        Some(Record::Cluster(c)) => Some(c.clone()),
        _ => None,
    }));
    clusters
}

/// The capacity providers as a change sees them: the committed ones, with what this commit
/// staged.
pub fn providers_seen(staged: &Staged<'_>) -> Vec<CapacityProvider> {
    let pending = staged.pending("ecs/capacity-providers/");
    let mut providers: Vec<CapacityProvider> = staged
        .state()
        .capacity_providers
        .values()
        .filter(|p| !pending.contains_key(crate::state::capacity_provider_key(&p.name).as_str()))
        .cloned()
        .collect();
    providers.extend(pending.values().filter_map(|record| match record {
        Some(Record::CapacityProvider(p)) => Some((**p).clone()),
        _ => None,
    }));
    providers
}

/// Whether provider `name` is ACTIVE as a change sees it.
fn provider_active(staged: &Staged<'_>, name: &str) -> bool {
    matches!(
        staged.get(&crate::state::capacity_provider_key(name)),
        Some(Record::CapacityProvider(p)) if p.status == CapacityProviderStatus::Active
    )
}

/// Checks what PutClusterCapacityProviders (or CreateCluster) asks of cluster `cluster`:
/// every provider exists and is ACTIVE and no other cluster has it (FARGATE's are everyone's),
/// the default strategy is well formed and names only those providers, and no provider in use
/// by the cluster's services or tasks is taken away.
/// Read through the staged view, so a change earlier in the same commit counts.
pub fn check_cluster_providers(
    staged: &Staged<'_>,
    cluster: &str,
    providers: &[String],
    strategy: &[CapacityProviderStrategyItem],
) -> Result<(), ApiError> {
    let state = staged.state();
    let clusters = clusters_seen(staged);
    for name in providers {
        if FARGATE_PROVIDERS.contains(&name.as_str()) {
            continue;
        }
        if !provider_active(staged, name) {
            return Err(ApiError::invalid(format!(
                "The specified capacity provider '{name}' does not exist."
            )));
        }
        let elsewhere = clusters.iter().find(|c| {
            c.cluster_name != cluster
                && c.status == ClusterStatus::Active
                && c.capacity_providers.iter().flatten().any(|p| p == name)
        });
        if let Some(other) = elsewhere {
            return Err(ApiError::invalid(format!(
                "The capacity provider '{name}' is already associated with cluster {}: an Auto \
                 Scaling group capacity provider belongs to one cluster.",
                other.cluster_name
            )));
        }
    }
    validate_strategy(strategy)?;
    if strategy.iter().any(|item| !providers.contains(&item.capacity_provider)) {
        return Err(ApiError::invalid(
            "The specified capacity provider strategy cannot contain a capacity provider that is \
             not associated with the cluster. Associate the capacity provider with the cluster \
             or specify a valid capacity provider and try again.",
        ));
    }
    let in_use = |name: &str| {
        let services = state
            .services
            .range((cluster.to_string(), String::new())..)
            .take_while(|((c, _), _)| c == cluster)
            .any(|(_, s)| {
                let sets = s.service.task_sets.iter();
                let in_sets = sets
                    .filter_map(|set| set.capacity_provider_strategy.as_ref())
                    .flatten()
                    .any(|i| i.capacity_provider == name);
                s.service.status == ServiceStatus::Active
                    && (in_sets
                        || s.service
                            .capacity_provider_strategy
                            .iter()
                            .any(|i| i.capacity_provider == name))
            });
        let tasks = state
            .tasks
            .range((cluster.to_string(), String::new())..)
            .take_while(|((c, _), _)| c == cluster)
            .any(|(_, t)| {
                t.task.last_status != TaskStatus::Stopped
                    && t.task.capacity_provider_name.as_deref() == Some(name)
            });
        services || tasks
    };
    let current = state.clusters.get(cluster).and_then(|c| c.capacity_providers.clone());
    for removed in current.iter().flatten().filter(|p| !providers.contains(p)) {
        if in_use(removed) {
            return Err(ApiError::new(
                ErrorCode::ResourceInUseException,
                format!(
                    "The specified capacity provider {removed} is in use and cannot be removed."
                ),
            ));
        }
    }
    Ok(())
}

/// The strategy a launch follows: its own (checked against the cluster's providers), else the
/// cluster's default when the launch names no launch type, else none (the EC2 launch type).
pub fn launch_strategy(
    cluster: &Cluster,
    requested: &[CapacityProviderStrategyItem],
    launch_type_given: bool,
) -> Result<Vec<CapacityProviderStrategyItem>, ApiError> {
    if !requested.is_empty() {
        if launch_type_given {
            return Err(ApiError::invalid(
                "Specifying both a launch type and capacity provider strategy is not supported. \
                 Remove one and try again.",
            ));
        }
        validate_strategy(requested)?;
        let associated = cluster.capacity_providers.as_deref().unwrap_or_default();
        if let Some(item) = requested.iter().find(|i| !associated.contains(&i.capacity_provider)) {
            return Err(ApiError::invalid(format!(
                "The specified capacity provider strategy cannot contain a capacity provider \
                 that is not associated with the cluster. Associate the capacity provider with \
                 the cluster or specify a valid capacity provider and try again. ({} is not.)",
                item.capacity_provider
            )));
        }
        refuse_mix(requested)?;
        return Ok(requested.to_vec());
    }
    if launch_type_given {
        return Ok(Vec::new());
    }
    let default = cluster.default_capacity_provider_strategy.clone().unwrap_or_default();
    refuse_mix(&default)?;
    Ok(default)
}

/// A strategy is all Fargate or all auto scaling groups, as on ECS.
fn refuse_mix(strategy: &[CapacityProviderStrategyItem]) -> Result<(), ApiError> {
    let fargate = strategy
        .iter()
        .filter(|i| FARGATE_PROVIDERS.contains(&i.capacity_provider.as_str()))
        .count();
    if fargate > 0 && fargate < strategy.len() {
        return Err(ApiError::invalid(
            "The specified capacity provider strategy cannot contain a mix of capacity \
             providers using Auto Scaling groups and Fargate providers. Specify one or the \
             other and try again.",
        ));
    }
    Ok(())
}

/// ECS places Fargate tasks itself: a launch on Fargate capacity takes no placement
/// constraints or strategies.
pub fn refuse_placement_on_fargate(
    fargate: bool,
    constraints_given: bool,
    strategies_given: bool,
) -> Result<(), ApiError> {
    if fargate && (constraints_given || strategies_given) {
        return Err(ApiError::invalid(
            "Task placement constraints and strategies are not supported with the FARGATE \
             launch type.",
        ));
    }
    Ok(())
}

/// The placement constraint that keeps a task on `provider`'s agents: those announcing its
/// group (or its name) as their `flotilla.auto-scaling-group` attribute.
pub fn provider_constraint(provider: &CapacityProvider) -> Constraint {
    let mut names = vec![provider.name.clone()];
    if let Some(group) = provider.group().filter(|g| *g != provider.name) {
        names.push(group.to_string());
    }
    Constraint::MemberOf(Expr::Clause(
        Subject::Attribute(GROUP_ATTRIBUTE.to_string()),
        Operator::In(names),
    ))
}

/// The provider an instance belongs to: the ACTIVE one whose group (or name) its agent
/// announced.
pub fn provider_of_group<'s>(
    state: &'s State,
    group: Option<&str>,
) -> Option<&'s CapacityProvider> {
    let group = group?;
    state
        .capacity_providers
        .values()
        .find(|p| p.status == CapacityProviderStatus::Active && p.has_member(group))
}

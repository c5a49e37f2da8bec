//! CreateCapacityProvider, DescribeCapacityProviders, UpdateCapacityProvider,
//! DeleteCapacityProvider. A self-managed provider is a named group of agents; FARGATE and
//! FARGATE_SPOT always exist (launching on them is refused until task networking).

use flotilla_api::arn::id_from;
use flotilla_api::capacity::{
    validate_name, AutoScalingGroupProvider, CapacityProvider, FARGATE_PROVIDERS,
};
use flotilla_api::common::{decode, validate_tags};
use flotilla_api::pagination::paginate;
use flotilla_api::status::{CapacityProviderStatus, ClusterStatus};
use flotilla_api::{ApiError, Failure};

use super::{respond, Ctx};
use crate::convert::{failures_to_wire, into_domain, into_wire, tags_from_wire};
use crate::domain::capacity::{clusters_seen, providers_seen};
use crate::state::{capacity_provider_key, Record, Staged, State};
use crate::wire;
use crate::App;

/// DescribeCapacityProviders answers at most this many per page (ECS's limit).
const MAX_PAGE: i32 = 10;

/// A provider as the API shows it: tags only when asked for.
fn shown(provider: &CapacityProvider, with_tags: bool) -> Result<wire::CapacityProvider, ApiError> {
    let mut provider = provider.clone();
    if !with_tags || provider.tags.as_ref().is_some_and(Vec::is_empty) {
        provider.tags = None;
    }
    into_wire(&provider)
}

/// FARGATE and FARGATE_SPOT as the account has them.
fn fargate(app: &App, name: &str) -> CapacityProvider {
    CapacityProvider::fargate(app.scope.capacity_provider(name), name)
}

/// The provider a name or ARN names, FARGATE and FARGATE_SPOT included.
fn find(app: &App, state: &State, reference: &str) -> Option<CapacityProvider> {
    let name = id_from(reference);
    if FARGATE_PROVIDERS.contains(&name) {
        return Some(fargate(app, name));
    }
    state.capacity_providers.get(name).cloned()
}

pub async fn create(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::CreateCapacityProviderRequest {
        name,
        // Refused by the ledger: providers of one cluster are Managed Instances'.
        cluster: _,
        auto_scaling_group_provider,
        managed_instances_provider: _,
        tags,
    } = decode(body)?;
    validate_name(&name)?;
    let Some(group) = auto_scaling_group_provider else {
        return Err(ApiError::invalid(
            "autoScalingGroupProvider is required: its autoScalingGroupArn names the group of \
             agents (flotilla agent --capacity-provider GROUP) the capacity provider stands for.",
        ));
    };
    let group: AutoScalingGroupProvider = into_domain("autoScalingGroupProvider", &group)?;
    if group.auto_scaling_group_arn.trim().is_empty() {
        return Err(ApiError::invalid("autoScalingGroupProvider.autoScalingGroupArn is empty."));
    }
    let tags = tags_from_wire(tags);
    validate_tags(&tags)?;
    let provider = CapacityProvider {
        capacity_provider_arn: ctx.app.scope.capacity_provider(&name),
        name,
        status: CapacityProviderStatus::Active,
        auto_scaling_group_provider: Some(group),
        update_status: None,
        update_status_reason: None,
        tags: Some(tags),
        provider_type: Some("EC2_AUTOSCALING".into()),
    };
    let created = ctx
        .app
        .state
        .write(move |staged| {
            let seen = providers_seen(staged);
            // Through the staged view: a creation earlier in this commit counts.
            let existing = staged.get(&capacity_provider_key(&provider.name));
            if matches!(existing, Some(Record::CapacityProvider(p)) if is_active(&p)) {
                return Err(ApiError::client(
                    "The specified capacity provider already exists. To change the configuration \
                     of an existing capacity provider, update the capacity provider.",
                ));
            }
            let arn =
                provider.auto_scaling_group_provider.as_ref().map(|g| &g.auto_scaling_group_arn);
            let taken = seen.iter().any(|other| {
                is_active(other)
                    && other.auto_scaling_group_provider.as_ref().map(|g| &g.auto_scaling_group_arn)
                        == arn
            });
            if taken {
                return Err(ApiError::client(
                    "The specified Auto Scaling group ARN is already being used by another \
                     capacity provider.",
                ));
            }
            // Agents join by group or by provider name: each must name one provider only.
            let group = provider.group().unwrap_or_default();
            let clash = seen.iter().find(|other| {
                is_active(other)
                    && other.name != provider.name
                    && (other.has_member(&provider.name) || other.has_member(group))
            });
            if let Some(other) = clash {
                return Err(ApiError::client(format!(
                    "The group {group} or the name {} is already the group or the name of the \
                     capacity provider {}: agents joining it would belong to both.",
                    provider.name, other.name
                )));
            }
            staged.put(Record::CapacityProvider(Box::new(provider.clone())));
            Ok(provider)
        })
        .await?;
    respond(&wire::CreateCapacityProviderResponse {
        capacity_provider: Some(shown(&created, true)?),
    })
}

/// The account's own ACTIVE provider `name`, to be `done` (updated, deleted): FARGATE's are
/// AWS's, and a missing one is refused in ECS's words.
fn own_provider(staged: &Staged<'_>, name: &str, done: &str) -> Result<CapacityProvider, ApiError> {
    match staged.get(&capacity_provider_key(name)) {
        Some(Record::CapacityProvider(p)) if is_active(&p) => Ok(*p),
        _ if FARGATE_PROVIDERS.contains(&name) => Err(ApiError::client(format!(
            "The capacity provider {name} is managed by AWS and cannot be {done}."
        ))),
        _ => Err(ApiError::client("The specified capacity provider does not exist.")),
    }
}

fn is_active(provider: &CapacityProvider) -> bool {
    provider.status == CapacityProviderStatus::Active
}

pub fn describe(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DescribeCapacityProvidersRequest {
        capacity_providers,
        cluster: _,
        include,
        max_results,
        next_token,
    } = decode(body)?;
    let include = include.unwrap_or_default();
    if let Some(other) = include.iter().find(|field| *field != "TAGS") {
        return Err(ApiError::invalid(format!("include '{other}' is not one of TAGS")));
    }
    let with_tags = !include.is_empty();
    if let Some(n) = max_results.filter(|n| !(1..=MAX_PAGE).contains(n)) {
        return Err(ApiError::invalid(format!(
            "maxResults ({n}) must be between 1 and {MAX_PAGE}"
        )));
    }
    let state = ctx.app.state.read();
    let (providers, failures, next) = match capacity_providers.filter(|names| !names.is_empty()) {
        Some(names) => {
            let mut found = Vec::new();
            let mut failures = Vec::new();
            for reference in names {
                match find(ctx.app, &state, &reference) {
                    Some(provider) => found.push(provider),
                    None => failures.push(Failure {
                        arn: Some(reference),
                        reason: Some("MISSING".into()),
                        detail: None,
                    }),
                }
            }
            (found, failures, None)
        }
        None => {
            // Pages continue after a name: every provider in name order.
            let mut all: Vec<(String, CapacityProvider)> = FARGATE_PROVIDERS
                .iter()
                .map(|name| fargate(ctx.app, name))
                .chain(state.capacity_providers.values().cloned())
                .map(|p| (p.name.clone(), p))
                .collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            let (page, next) =
                paginate(all.into_iter(), next_token.as_deref(), max_results, MAX_PAGE)?;
            (page, Vec::new(), next)
        }
    };
    let shown: Vec<wire::CapacityProvider> =
        providers.iter().map(|p| shown(p, with_tags)).collect::<Result<_, _>>()?;
    respond(&wire::DescribeCapacityProvidersResponse {
        capacity_providers: Some(shown),
        failures: Some(failures_to_wire(failures)),
        next_token: next,
    })
}

pub async fn update(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::UpdateCapacityProviderRequest {
        name,
        cluster: _,
        auto_scaling_group_provider,
        managed_instances_provider: _,
    } = decode(body)?;
    let change = auto_scaling_group_provider.ok_or_else(|| {
        ApiError::invalid("autoScalingGroupProvider is required: it holds what changes.")
    })?;
    let wire::AutoScalingGroupProviderUpdate {
        managed_scaling,
        managed_termination_protection,
        managed_draining,
    } = change;
    let managed_scaling = managed_scaling.map(|m| into_domain("managedScaling", &m)).transpose()?;
    let name = id_from(&name).to_string();
    let updated = ctx
        .app
        .state
        .write(move |staged| {
            let mut provider = own_provider(staged, &name, "updated")?;
            if let Some(group) = provider.auto_scaling_group_provider.as_mut() {
                if managed_scaling.is_some() {
                    group.managed_scaling = managed_scaling;
                }
                if managed_termination_protection.is_some() {
                    group.managed_termination_protection = managed_termination_protection;
                }
                if managed_draining.is_some() {
                    group.managed_draining = managed_draining;
                }
            }
            provider.update_status = Some("UPDATE_COMPLETE".into());
            staged.put(Record::CapacityProvider(Box::new(provider.clone())));
            Ok(provider)
        })
        .await?;
    respond(&wire::UpdateCapacityProviderResponse {
        capacity_provider: Some(shown(&updated, true)?),
    })
}

pub async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DeleteCapacityProviderRequest { capacity_provider, cluster: _ } = decode(body)?;
    let name = id_from(&capacity_provider).to_string();
    let deleted = ctx
        .app
        .state
        .write(move |staged| {
            let mut provider = own_provider(staged, &name, "deleted")?;
            let clusters = clusters_seen(staged);
            let user = clusters.iter().find(|c| {
                c.status == ClusterStatus::Active
                    && c.capacity_providers.iter().flatten().any(|p| *p == name)
            });
            if let Some(cluster) = user {
                return Err(ApiError::client(format!(
                    "The capacity provider cannot be deleted because it is associated with \
                     cluster: {}. Remove the capacity provider from the cluster and try again.",
                    cluster.cluster_name
                )));
            }
            provider.status = CapacityProviderStatus::Inactive;
            provider.update_status = Some("DELETE_COMPLETE".into());
            staged.put(Record::CapacityProvider(Box::new(provider.clone())));
            Ok(provider)
        })
        .await?;
    respond(&wire::DeleteCapacityProviderResponse {
        capacity_provider: Some(shown(&deleted, true)?),
    })
}

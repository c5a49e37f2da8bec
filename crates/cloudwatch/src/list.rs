//! ListMetrics: the series kept, filtered by namespace, name and dimensions, 500 a page.

use flotilla_api::datapoint::SeriesKey;
use flotilla_api::ApiError;

use super::{check_offset, parse_token, Ctx};
use crate::checks::{check_list_request, ECS_NAMESPACE};
use crate::wire::{Dimension, ListMetricsInput, ListMetricsOutput, Metric};

const PAGE: usize = 500;
const TOKEN_PREFIX: &str = "flotilla-metrics-";
/// `RecentlyActive: PT3H`.
const RECENT_SECS: f64 = 3.0 * 3600.0;

pub fn list(ctx: &Ctx<'_>, request: &ListMetricsInput) -> Result<ListMetricsOutput, ApiError> {
    check_list_request(request)?;
    let skip = parse_token(request.next_token.as_deref(), TOKEN_PREFIX)?;
    let namespace_ok = request.namespace.as_deref().is_none_or(|n| n == ECS_NAMESPACE);
    let recent_since = request.recently_active.is_some().then_some(ctx.now - RECENT_SECS);
    let keys: Vec<SeriesKey> = if namespace_ok {
        ctx.app
            .metrics
            .keys()
            .into_iter()
            .filter(|(key, newest)| {
                matches(request, key) && recent_since.is_none_or(|since| *newest as f64 >= since)
            })
            .map(|(key, _)| key)
            .collect()
    } else {
        Vec::new()
    };
    check_offset(skip, keys.len())?;
    let next = skip.saturating_add(PAGE);
    Ok(ListMetricsOutput {
        metrics: Some(keys.iter().skip(skip).take(PAGE).map(metric).collect()),
        next_token: (keys.len() > next).then(|| format!("{TOKEN_PREFIX}{next}")),
        owning_accounts: None,
    })
}

fn matches(request: &ListMetricsInput, key: &SeriesKey) -> bool {
    let filters = request.dimensions.as_deref().unwrap_or_default();
    request.metric_name.as_deref().is_none_or(|name| name == key.metric_name)
        && filters.iter().all(|filter| {
            key.dimensions.iter().any(|(name, value)| {
                *name == filter.name && filter.value.as_deref().is_none_or(|v| v == value)
            })
        })
}

fn metric(key: &SeriesKey) -> Metric {
    Metric {
        namespace: Some(ECS_NAMESPACE.into()),
        metric_name: Some(key.metric_name.clone()),
        dimensions: Some(
            key.dimensions
                .iter()
                .map(|(name, value)| Dimension { name: name.clone(), value: value.clone() })
                .collect(),
        ),
    }
}

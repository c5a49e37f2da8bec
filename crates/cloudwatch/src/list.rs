//! ListMetrics: the series kept, filtered by namespace, name and dimensions, 500 a page.

use flotilla_api::cloudwatch::{check_list_request, ListMetricsRequest, ECS_NAMESPACE};
use flotilla_api::ApiError;

use super::Reply;
use super::{check_offset, parse_token, Ctx};
use crate::series::SeriesKey;

const PAGE: usize = 500;
const TOKEN_PREFIX: &str = "flotilla-metrics-";
/// `RecentlyActive: PT3H`.
const RECENT_SECS: f64 = 3.0 * 3600.0;

pub fn list(ctx: &Ctx<'_>, request: &ListMetricsRequest) -> Result<Reply, ApiError> {
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
    let page: Vec<Reply> = keys.iter().skip(skip).take(PAGE).map(metric).collect();
    let mut members = vec![("Metrics", Reply::List(page))];
    let next = skip.saturating_add(PAGE);
    if keys.len() > next {
        members.push(("NextToken", Reply::Str(format!("{TOKEN_PREFIX}{next}"))));
    }
    Ok(Reply::Struct(members))
}

fn matches(request: &ListMetricsRequest, key: &SeriesKey) -> bool {
    request.metric_name.as_deref().is_none_or(|name| name == key.metric_name)
        && request.dimensions.iter().all(|filter| {
            key.dimensions.iter().any(|(name, value)| {
                *name == filter.name && filter.value.as_deref().is_none_or(|v| v == value)
            })
        })
}

fn metric(key: &SeriesKey) -> Reply {
    Reply::Struct(vec![
        ("Namespace", Reply::Str(ECS_NAMESPACE.into())),
        ("MetricName", Reply::Str(key.metric_name.clone())),
        (
            "Dimensions",
            Reply::List(
                key.dimensions
                    .iter()
                    .map(|(name, value)| {
                        Reply::Struct(vec![
                            ("Name", Reply::Str(name.clone())),
                            ("Value", Reply::Str(value.clone())),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

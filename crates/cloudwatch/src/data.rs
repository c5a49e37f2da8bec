//! GetMetricData for MetricStat queries: each returned query's values, newest first unless
//! `ScanBy` says otherwise, paginated by `MaxDatapoints` across queries.

use flotilla_api::datapoint::{SeriesKey, Statistic};
use flotilla_api::{ApiError, ErrorCode};

use super::{check_offset, parse_token, Ctx, UNIT};
use crate::checks::{check_data_request, DEFAULT_MAX_DATAPOINTS, ECS_NAMESPACE};
use crate::wire::{GetMetricDataInput, GetMetricDataOutput, MetricDataResult, MetricStat};

const TOKEN_PREFIX: &str = "flotilla-datapoints-";

pub fn get(ctx: &Ctx<'_>, request: &GetMetricDataInput) -> Result<GetMetricDataOutput, ApiError> {
    let statistics = check_data_request(request)?;
    let skip = parse_token(request.next_token.as_deref(), TOKEN_PREFIX)?;
    let page = usize::try_from(request.max_datapoints.map_or(DEFAULT_MAX_DATAPOINTS, i64::from))
        .unwrap_or(usize::MAX)
        .max(1);
    let ascending = request.scan_by.as_deref() == Some("TimestampAscending");

    let mut results = Vec::new();
    let mut offset = 0usize; // datapoints of the queries before this one
    let mut taken = 0usize;
    for (query, statistic) in request.metric_data_queries.iter().zip(statistics) {
        if query.return_data == Some(false) {
            continue;
        }
        let Some(stat) = &query.metric_stat else { continue };
        let points = values(ctx, request, stat, statistic, ascending);
        let (from, to) = window(offset, points.len(), skip, page - taken);
        offset += points.len();
        // Every query shows on the first page; later pages show those with datapoints on them.
        let shown = skip == 0 || to > from;
        if !shown {
            continue;
        }
        taken += to - from;
        let label = query
            .label
            .clone()
            .or_else(|| stat.metric.metric_name.clone())
            .unwrap_or_else(|| query.id.clone());
        let slice = &points[from..to];
        results.push(MetricDataResult {
            id: Some(query.id.clone()),
            label: Some(label),
            timestamps: Some(slice.iter().map(|(t, _)| *t as f64).collect()),
            values: Some(slice.iter().map(|(_, v)| *v).collect()),
            status_code: Some(if to < points.len() { "PartialData" } else { "Complete" }.into()),
            messages: Some(Vec::new()),
        });
    }
    check_offset(skip, offset)?;
    let next = skip.saturating_add(taken);
    Ok(GetMetricDataOutput {
        metric_data_results: Some(results),
        next_token: (offset > next).then(|| format!("{TOKEN_PREFIX}{next}")),
        messages: Some(Vec::new()),
    })
}

/// GetMetricData models no validation errors (only InvalidNextToken): CloudWatch answers its
/// bad inputs with the generic `ValidationError`.
pub fn as_validation(error: ApiError) -> ApiError {
    match error.code {
        ErrorCode::InvalidParameterValueException
        | ErrorCode::MissingRequiredParameterException
        | ErrorCode::InvalidParameterCombinationException => {
            ApiError::new(ErrorCode::ValidationException, error.message)
        }
        _ => error,
    }
}

/// Which of a query's `len` datapoints (starting at global `offset`) fall on the page that
/// starts at global `skip` and has `room` places left: a range of the query's own indexes.
fn window(offset: usize, len: usize, skip: usize, room: usize) -> (usize, usize) {
    let from = skip.saturating_sub(offset).min(len);
    let to = from.saturating_add(room).min(len);
    (from, to)
}

fn values(
    ctx: &Ctx<'_>,
    request: &GetMetricDataInput,
    stat: &MetricStat,
    statistic: Statistic,
    ascending: bool,
) -> Vec<(i64, f64)> {
    let metric = &stat.metric;
    if metric.namespace.as_deref() != Some(ECS_NAMESPACE)
        || stat.unit.as_deref().is_some_and(|u| u != UNIT)
    {
        return Vec::new();
    }
    let dimensions = metric.dimensions.as_deref().unwrap_or_default();
    let key = SeriesKey::new(
        metric.metric_name.as_deref().unwrap_or_default(),
        dimensions.iter().map(|d| (d.name.as_str(), d.value.as_str())),
    );
    let mut points: Vec<(i64, f64)> = ctx
        .app
        .metrics
        .query(&key, request.start_time, request.end_time, stat.period.into())
        .into_iter()
        .map(|(at, set)| (at, set.value(statistic)))
        .collect();
    if !ascending {
        points.reverse();
    }
    points
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn pages_cut_across_queries() {
        // Queries of 3 and 4 datapoints, pages of 5: [q1 0..3, q2 0..2], then [q2 2..4].
        assert_eq!(window(0, 3, 0, 5), (0, 3));
        assert_eq!(window(3, 4, 0, 2), (0, 2));
        assert_eq!(window(0, 3, 5, 5), (3, 3));
        assert_eq!(window(3, 4, 5, 5), (2, 4));
        // A client's offset and page size, however large, stay within the query.
        assert_eq!(window(0, 3, usize::MAX, usize::MAX), (3, 3));
        assert_eq!(window(0, 3, 1, usize::MAX), (1, 3));
    }
}

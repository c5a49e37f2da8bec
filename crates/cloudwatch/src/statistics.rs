//! GetMetricStatistics: one metric's statistics per period.

use flotilla_api::datapoint::{SeriesKey, StatSet, Statistic};
use flotilla_api::ApiError;

use super::{Ctx, UNIT};
use crate::checks::{check_statistics_request, ECS_NAMESPACE};
use crate::wire::{Datapoint, GetMetricStatisticsInput, GetMetricStatisticsOutput};

pub fn get(
    ctx: &Ctx<'_>,
    request: &GetMetricStatisticsInput,
) -> Result<GetMetricStatisticsOutput, ApiError> {
    let statistics = check_statistics_request(request)?;
    let dimensions = request.dimensions.as_deref().unwrap_or_default();
    let key = SeriesKey::new(
        &request.metric_name,
        dimensions.iter().map(|d| (d.name.as_str(), d.value.as_str())),
    );
    let kept =
        request.namespace == ECS_NAMESPACE && request.unit.as_deref().is_none_or(|u| u == UNIT);
    let points = if kept {
        ctx.app.metrics.query(&key, request.start_time, request.end_time, request.period.into())
    } else {
        Vec::new()
    };
    Ok(GetMetricStatisticsOutput {
        label: Some(request.metric_name.clone()),
        datapoints: Some(points.iter().map(|(at, set)| datapoint(*at, set, &statistics)).collect()),
    })
}

fn datapoint(at: i64, set: &StatSet, statistics: &[Statistic]) -> Datapoint {
    let value = |statistic| statistics.contains(&statistic).then(|| set.value(statistic));
    Datapoint {
        timestamp: Some(at as f64),
        sample_count: value(Statistic::SampleCount),
        average: value(Statistic::Average),
        sum: value(Statistic::Sum),
        minimum: value(Statistic::Minimum),
        maximum: value(Statistic::Maximum),
        unit: Some(UNIT.into()),
        extended_statistics: None,
    }
}

//! GetMetricStatistics: one metric's statistics per period.

use flotilla_api::cloudwatch::{
    check_statistics_request, GetMetricStatisticsRequest, Statistic, ECS_NAMESPACE,
};
use flotilla_api::ApiError;

use super::Reply;
use super::{Ctx, UNIT};
use crate::series::{SeriesKey, StatSet};

/// The order of a datapoint's members in the model.
const DATAPOINT_ORDER: [Statistic; 5] = [
    Statistic::SampleCount,
    Statistic::Average,
    Statistic::Sum,
    Statistic::Minimum,
    Statistic::Maximum,
];

pub fn get(ctx: &Ctx<'_>, request: &GetMetricStatisticsRequest) -> Result<Reply, ApiError> {
    let statistics = check_statistics_request(request)?;
    let key = SeriesKey::new(
        &request.metric_name,
        request.dimensions.iter().map(|d| (d.name.as_str(), d.value.as_str())),
    );
    let kept =
        request.namespace == ECS_NAMESPACE && request.unit.as_deref().is_none_or(|u| u == UNIT);
    let points = if kept {
        ctx.app.metrics.query(&key, request.start_time, request.end_time, request.period)
    } else {
        Vec::new()
    };
    Ok(Reply::Struct(vec![
        ("Label", Reply::Str(request.metric_name.clone())),
        (
            "Datapoints",
            Reply::List(points.iter().map(|(at, set)| datapoint(*at, set, &statistics)).collect()),
        ),
    ]))
}

fn datapoint(at: i64, set: &StatSet, statistics: &[Statistic]) -> Reply {
    let mut members = vec![("Timestamp", Reply::Time(at))];
    for statistic in DATAPOINT_ORDER {
        if statistics.contains(&statistic) {
            members.push((statistic.as_str(), Reply::Num(set.value(statistic))));
        }
    }
    members.push(("Unit", Reply::Str(UNIT.into())));
    Reply::Struct(members)
}

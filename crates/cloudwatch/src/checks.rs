//! The checks CloudWatch makes before it reads anything, on the generated wire types: periods,
//! time ranges, dimensions, statistics, query ids, the 1,440-datapoint limit. Pure: timestamps
//! arrive as epoch seconds (the door and `input.rs` convert ISO 8601 ones).

use flotilla_api::datapoint::Statistic;
use flotilla_api::{ApiError, ErrorCode};

use crate::wire::{GetMetricDataInput, GetMetricStatisticsInput, ListMetricsInput};

/// The one namespace Flotilla publishes.
pub const ECS_NAMESPACE: &str = "AWS/ECS";
/// Datapoints one GetMetricStatistics may ask for.
pub const MAX_STATISTICS_DATAPOINTS: i64 = 1440;
/// Queries one GetMetricData may carry.
pub const MAX_DATA_QUERIES: usize = 500;
/// GetMetricData's default (and largest) page, in datapoints.
pub const DEFAULT_MAX_DATAPOINTS: i64 = 100_800;
/// Dimensions a metric may have.
pub const MAX_DIMENSIONS: usize = 30;
/// The timestamps a request may name, epoch seconds: 1970-01-01T00:00:00Z to
/// 9999-12-31T23:59:59Z (what ISO 8601 can write). The bound keeps every later computation on
/// them (minutes, periods, datapoint counts) far from overflowing.
pub const MIN_TIMESTAMP_SECS: f64 = 0.0;
pub const MAX_TIMESTAMP_SECS: f64 = 253_402_300_799.0;

/// `InvalidParameterValue`.
pub fn invalid_value(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterValueException, message)
}

/// A request member this server does not honour (cross-account observability, label time
/// zones): refused rather than ignored.
pub fn not_supported(member: &str) -> ApiError {
    invalid_value(format!("The parameter {member} is not supported yet by this server."))
}

/// `InvalidParameterCombination`.
pub fn invalid_combination(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterCombinationException, message)
}

/// `MissingParameter`.
pub fn missing(member: &str) -> ApiError {
    ApiError::new(
        ErrorCode::MissingRequiredParameterException,
        format!("The parameter {member} is required."),
    )
}

/// A period of regular resolution: a positive multiple of 60 seconds.
pub fn check_period(period: i64) -> Result<(), ApiError> {
    if period <= 0 || period % 60 != 0 {
        return Err(invalid_value(format!(
            "The parameter Period must be a multiple of 60 (metrics here have one-minute resolution), not {period}."
        )));
    }
    Ok(())
}

/// StartTime before EndTime, both between [`MIN_TIMESTAMP_SECS`] and [`MAX_TIMESTAMP_SECS`].
pub fn check_range(start: f64, end: f64) -> Result<(), ApiError> {
    for (member, at) in [("StartTime", start), ("EndTime", end)] {
        // Written so that NaN fails too.
        if !(MIN_TIMESTAMP_SECS..=MAX_TIMESTAMP_SECS).contains(&at) {
            return Err(invalid_value(format!(
                "The parameter {member} must be a timestamp between 1970-01-01T00:00:00Z and \
                 9999-12-31T23:59:59Z."
            )));
        }
    }
    if start >= end {
        return Err(invalid_value(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    Ok(())
}

pub fn check_dimensions<'a>(
    dimensions: impl ExactSizeIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<(), ApiError> {
    if dimensions.len() > MAX_DIMENSIONS {
        return Err(invalid_value(format!(
            "The collection Dimensions must not have more than {MAX_DIMENSIONS} members."
        )));
    }
    for (name, value) in dimensions {
        if name.trim().is_empty() || name.len() > 255 {
            return Err(invalid_value("A dimension name must have 1 to 255 characters."));
        }
        if value.is_some_and(|v| v.trim().is_empty() || v.len() > 1024) {
            return Err(invalid_value("A dimension value must have 1 to 1024 characters."));
        }
    }
    Ok(())
}

/// Checks a GetMetricStatistics request and returns its statistics.
pub fn check_statistics_request(
    request: &GetMetricStatisticsInput,
) -> Result<Vec<Statistic>, ApiError> {
    if request.namespace.is_empty() {
        return Err(missing("Namespace"));
    }
    if request.metric_name.is_empty() {
        return Err(missing("MetricName"));
    }
    let dimensions = request.dimensions.as_deref().unwrap_or_default();
    check_dimensions(dimensions.iter().map(|d| (d.name.as_str(), Some(d.value.as_str()))))?;
    check_period(request.period.into())?;
    check_range(request.start_time, request.end_time)?;
    let named = request.statistics.as_deref().unwrap_or_default();
    let extended = request.extended_statistics.as_deref().unwrap_or_default();
    match (named.is_empty(), extended.is_empty()) {
        (true, true) => {
            return Err(missing("Statistics or ExtendedStatistics"));
        }
        (false, false) => {
            return Err(invalid_combination(
                "The parameters Statistics and ExtendedStatistics are mutually exclusive.",
            ));
        }
        (true, false) => {
            return Err(invalid_value(
                "ExtendedStatistics (percentiles) are not supported by this server: metrics are kept as statistic sets.",
            ));
        }
        (false, true) => {}
    }
    let start = (request.start_time / 60.0).floor() * 60.0;
    let datapoints = ((request.end_time - start) / f64::from(request.period)).ceil() as i64;
    if datapoints > MAX_STATISTICS_DATAPOINTS {
        return Err(invalid_combination(format!(
            "You have requested up to {datapoints} datapoints, which exceeds the limit of {MAX_STATISTICS_DATAPOINTS}. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
        )));
    }
    let mut statistics = Vec::new();
    for name in named {
        let statistic = Statistic::parse(name)?;
        if !statistics.contains(&statistic) {
            statistics.push(statistic);
        }
    }
    Ok(statistics)
}

/// A metric query's id: a lowercase letter, then letters, digits and underscores.
pub fn check_query_id(id: &str) -> Result<(), ApiError> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok || id.len() > 255 || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid_value(format!(
            "The value '{id}' for parameter MetricDataQueries.member.Id is invalid: it must start with a lowercase letter and contain only letters, numbers and underscores."
        )));
    }
    Ok(())
}

/// Checks a GetMetricData request (not its token) and returns each query's statistic.
pub fn check_data_request(request: &GetMetricDataInput) -> Result<Vec<Statistic>, ApiError> {
    if request.label_options.is_some() {
        return Err(not_supported("LabelOptions"));
    }
    if request.metric_data_queries.iter().any(|q| q.account_id.is_some()) {
        return Err(not_supported("MetricDataQueries.member.AccountId"));
    }
    if request.metric_data_queries.is_empty() {
        return Err(missing("MetricDataQueries"));
    }
    if request.metric_data_queries.len() > MAX_DATA_QUERIES {
        return Err(invalid_value(format!(
            "The collection MetricDataQueries must not have more than {MAX_DATA_QUERIES} members."
        )));
    }
    check_range(request.start_time, request.end_time)?;
    if let Some(scan_by) = request.scan_by.as_deref() {
        if scan_by != "TimestampDescending" && scan_by != "TimestampAscending" {
            return Err(invalid_value(format!(
                "The parameter ScanBy must be TimestampDescending or TimestampAscending, not '{scan_by}'."
            )));
        }
    }
    if request.max_datapoints.is_some_and(|n| n <= 0) {
        return Err(invalid_value("The parameter MaxDatapoints must be positive."));
    }
    let mut statistics = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for query in &request.metric_data_queries {
        check_query_id(&query.id)?;
        if !ids.insert(query.id.as_str()) {
            return Err(invalid_value(format!(
                "The value '{}' for parameter MetricDataQueries.member.Id is used more than once.",
                query.id
            )));
        }
        let stat = match (&query.metric_stat, &query.expression) {
            (Some(_), Some(_)) => {
                return Err(invalid_combination(format!(
                    "Query '{}' has both MetricStat and Expression; give exactly one.",
                    query.id
                )))
            }
            (None, None) => {
                return Err(missing(&format!(
                    "MetricStat or Expression (query '{}')",
                    query.id
                )))
            }
            (None, Some(_)) => {
                return Err(invalid_value(format!(
                    "Query '{}': metric math expressions and Metrics Insights queries are not supported by this server; use MetricStat.",
                    query.id
                )))
            }
            (Some(stat), None) => stat,
        };
        check_period(stat.period.into())?;
        let dimensions = stat.metric.dimensions.as_deref().unwrap_or_default();
        check_dimensions(dimensions.iter().map(|d| (d.name.as_str(), Some(d.value.as_str()))))?;
        if stat.metric.metric_name.as_deref().is_none_or(str::is_empty) {
            return Err(missing("MetricStat.Metric.MetricName"));
        }
        if stat.metric.namespace.as_deref().is_none_or(str::is_empty) {
            return Err(missing("MetricStat.Metric.Namespace"));
        }
        statistics.push(Statistic::parse(&stat.stat)?);
    }
    Ok(statistics)
}

/// Checks a ListMetrics request.
pub fn check_list_request(request: &ListMetricsInput) -> Result<(), ApiError> {
    if request.include_linked_accounts == Some(true) {
        return Err(not_supported("IncludeLinkedAccounts"));
    }
    if request.owning_account.is_some() {
        return Err(not_supported("OwningAccount"));
    }
    let dimensions = request.dimensions.as_deref().unwrap_or_default();
    check_dimensions(dimensions.iter().map(|d| (d.name.as_str(), d.value.as_deref())))?;
    if let Some(recent) = request.recently_active.as_deref() {
        if recent != "PT3H" {
            return Err(invalid_value(format!(
                "The parameter RecentlyActive must be PT3H, not '{recent}'."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Dimension, MetricDataQuery};

    fn statistics_request(period: i32, start: f64, end: f64) -> GetMetricStatisticsInput {
        GetMetricStatisticsInput {
            namespace: ECS_NAMESPACE.into(),
            metric_name: "CPUUtilization".into(),
            dimensions: Some(vec![Dimension {
                name: "ClusterName".into(),
                value: "default".into(),
            }]),
            start_time: start,
            end_time: end,
            period,
            statistics: Some(vec!["Average".into(), "Maximum".into(), "Average".into()]),
            ..GetMetricStatisticsInput::default()
        }
    }

    #[test]
    fn periods_are_multiples_of_a_minute() {
        assert!(check_period(60).is_ok());
        assert!(check_period(300).is_ok());
        for bad in [0, -60, 1, 30, 90] {
            let error = check_period(bad).expect_err("an error");
            assert_eq!(error.code, ErrorCode::InvalidParameterValueException);
        }
    }

    #[test]
    fn statistics_are_deduplicated_and_checked() {
        let stats = check_statistics_request(&statistics_request(60, 0.0, 3600.0)).expect("ok");
        assert_eq!(stats, vec![Statistic::Average, Statistic::Maximum]);
        let mut bad = statistics_request(60, 0.0, 3600.0);
        bad.statistics = Some(vec!["Median".into()]);
        assert_eq!(
            check_statistics_request(&bad).expect_err("an error").code,
            ErrorCode::InvalidParameterValueException
        );
        bad.statistics = Some(vec![]);
        assert_eq!(
            check_statistics_request(&bad).expect_err("an error").code,
            ErrorCode::MissingRequiredParameterException
        );
        bad.extended_statistics = Some(vec!["p99".into()]);
        bad.statistics = Some(vec!["Average".into()]);
        assert_eq!(
            check_statistics_request(&bad).expect_err("an error").code,
            ErrorCode::InvalidParameterCombinationException
        );
    }

    #[test]
    fn too_many_datapoints_and_reversed_ranges_are_refused() {
        let error = check_statistics_request(&statistics_request(60, 0.0, 1441.0 * 60.0));
        assert_eq!(
            error.expect_err("an error").code,
            ErrorCode::InvalidParameterCombinationException
        );
        assert!(check_statistics_request(&statistics_request(60, 0.0, 1440.0 * 60.0)).is_ok());
        let error = check_statistics_request(&statistics_request(60, 100.0, 100.0));
        assert_eq!(error.expect_err("an error").code, ErrorCode::InvalidParameterValueException);
    }

    #[test]
    fn timestamps_outside_what_iso_8601_writes_are_refused() {
        for (start, end) in [
            (1e19, 2e19),
            (-1e19, 60.0),
            (-1.0, 60.0),
            (0.0, MAX_TIMESTAMP_SECS + 1.0),
            (f64::NAN, 60.0),
            (0.0, f64::INFINITY),
        ] {
            let error = check_range(start, end).expect_err("an error");
            assert_eq!(error.code, ErrorCode::InvalidParameterValueException, "{start} {end}");
        }
        assert!(check_range(MIN_TIMESTAMP_SECS, MAX_TIMESTAMP_SECS).is_ok());
        // A huge period over the widest range still counts its datapoints without overflow.
        let wide = statistics_request(i32::MAX - i32::MAX % 60, 0.0, MAX_TIMESTAMP_SECS);
        assert!(check_statistics_request(&wide).is_ok());
    }

    #[test]
    fn query_ids_follow_cloudwatch_rules() {
        assert!(check_query_id("cpu_1").is_ok());
        for bad in ["", "Cpu", "1cpu", "cpu-1", "cpu 1"] {
            assert!(check_query_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn members_not_honoured_are_refused() {
        let query = MetricDataQuery {
            id: "m1".into(),
            account_id: Some("111122223333".into()),
            ..MetricDataQuery::default()
        };
        let request = GetMetricDataInput {
            metric_data_queries: vec![query],
            start_time: 0.0,
            end_time: 60.0,
            ..GetMetricDataInput::default()
        };
        let error = check_data_request(&request).expect_err("refused");
        assert!(error.message.contains("AccountId"), "{}", error.message);
        let list = ListMetricsInput { owning_account: Some("1".into()), ..Default::default() };
        assert!(check_list_request(&list).expect_err("refused").message.contains("OwningAccount"));
        let list = ListMetricsInput { include_linked_accounts: Some(true), ..Default::default() };
        assert_eq!(
            check_list_request(&list).expect_err("refused").code,
            ErrorCode::InvalidParameterValueException
        );
    }

    #[test]
    fn expressions_are_refused_with_a_reason() {
        let request = GetMetricDataInput {
            metric_data_queries: vec![MetricDataQuery {
                id: "e1".into(),
                expression: Some("SUM(METRICS())".into()),
                ..MetricDataQuery::default()
            }],
            start_time: 0.0,
            end_time: 60.0,
            ..GetMetricDataInput::default()
        };
        let error = check_data_request(&request).expect_err("an error");
        assert!(error.message.contains("not supported"), "{}", error.message);
    }
}

//! The CloudWatch handlers on clients' numbers: tokens and timestamps far out of range are
//! answered with errors, never overflow or page forever.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flotilla_api::ErrorCode;
use serde_json::{json, Value};

use crate::series::{SeriesKey, StatSet};
use crate::App;

const NOW: f64 = 1_700_000_000.0;

async fn app(dir: &tempfile::TempDir) -> Arc<App> {
    let _ = dir;
    Arc::new(App::default())
}

fn call(app: &App, operation: &str, body: Value) -> Result<Value, flotilla_api::ApiError> {
    let body = serde_json::to_vec(&body).expect("json");
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(NOW);
    let input = flotilla_front::Input::Json(body.into());
    Ok(super::serve(app, operation, input, now)?.to_json())
}

/// `n` series of one datapoint each, at NOW.
fn record_series(app: &App, n: usize) {
    for i in 0..n {
        let service = format!("svc-{i:04}");
        let key = SeriesKey::new(
            "CPUUtilization",
            [("ClusterName", "default"), ("ServiceName", service.as_str())],
        );
        app.metrics.record(NOW, vec![(key, StatSet::one(i as f64))]);
    }
}

#[tokio::test]
async fn list_metrics_tokens_past_the_end_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir).await;
    record_series(&app, 1001);
    let mut seen = 0;
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"Namespace": "AWS/ECS"});
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let page = call(&app, "ListMetrics", body).expect("a page");
        seen += page["Metrics"].as_array().expect("metrics").len();
        pages += 1;
        match page["NextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!((seen, pages), (1001, 3));
    for bad in ["flotilla-metrics-18446744073709551615", "flotilla-metrics-1002", "x"] {
        let error = call(&app, "ListMetrics", json!({"NextToken": bad})).expect_err(bad);
        assert_eq!(error.code, ErrorCode::InvalidNextToken, "{bad}");
    }
    let end = call(&app, "ListMetrics", json!({"NextToken": "flotilla-metrics-1001"})).expect("ok");
    assert_eq!(end["Metrics"], json!([]));
    assert!(end.get("NextToken").is_none());
}

#[tokio::test]
async fn get_metric_data_tokens_past_the_end_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir).await;
    record_series(&app, 1);
    let request = |token: &str| {
        json!({
            "StartTime": NOW - 600.0, "EndTime": NOW + 60.0, "NextToken": token,
            "MetricDataQueries": [{"Id": "m", "MetricStat": {"Period": 60, "Stat": "Average",
                "Metric": {"Namespace": "AWS/ECS", "MetricName": "CPUUtilization",
                    "Dimensions": [{"Name": "ClusterName", "Value": "default"},
                                   {"Name": "ServiceName", "Value": "svc-0000"}]}}}]
        })
    };
    for bad in ["flotilla-datapoints-18446744073709551615", "flotilla-datapoints-2"] {
        let error = call(&app, "GetMetricData", request(bad)).expect_err(bad);
        assert_eq!(error.code, ErrorCode::InvalidNextToken, "{bad}");
    }
    let page = call(&app, "GetMetricData", request("flotilla-datapoints-0")).expect("ok");
    assert_eq!(page["MetricDataResults"][0]["Values"], json!([0.0]));
}

#[tokio::test]
async fn timestamps_far_out_of_range_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir).await;
    record_series(&app, 1);
    for (start, end) in [(1e19, 2e19), (-1e19, NOW), (NOW, 1e19)] {
        let error = call(
            &app,
            "GetMetricStatistics",
            json!({"Namespace": "AWS/ECS", "MetricName": "CPUUtilization", "StartTime": start,
                   "EndTime": end, "Period": 60, "Statistics": ["Average"]}),
        )
        .expect_err("out of range");
        assert_eq!(error.code, ErrorCode::InvalidParameterValueException);
        let error = call(
            &app,
            "GetMetricData",
            json!({"StartTime": start, "EndTime": end, "MetricDataQueries": [{"Id": "m",
                "MetricStat": {"Period": 60, "Stat": "Average", "Metric": {
                    "Namespace": "AWS/ECS", "MetricName": "CPUUtilization"}}}]}),
        )
        .expect_err("out of range");
        assert_eq!(error.code, ErrorCode::ValidationException);
    }
}

/// ListMetrics' namespace, dimension and recency filters narrow what is listed; a unit other
/// than the series' (Percent) selects no data in GetMetricStatistics and GetMetricData; ScanBy
/// orders GetMetricData's values.
#[tokio::test]
async fn selectors_narrow_metrics_and_units_and_order_select_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir).await;
    let key = |metric: &str, service: &str| {
        SeriesKey::new(metric, [("ClusterName", "default"), ("ServiceName", service)])
    };
    for at in [NOW - 120.0, NOW - 60.0] {
        app.metrics.record(at, vec![(key("CPUUtilization", "a"), StatSet::one(at - NOW))]);
        app.metrics.record(at, vec![(key("CPUUtilization", "b"), StatSet::one(1.0))]);
    }
    // Older than RecentlyActive's three hours.
    app.metrics
        .record(NOW - 5.0 * 3600.0, vec![(key("MemoryUtilization", "old"), StatSet::one(1.0))]);
    let listed = |body: Value| {
        let page = call(&app, "ListMetrics", body).expect("list");
        let mut names: Vec<String> = page["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| {
                let service = m["Dimensions"]
                    .as_array()
                    .and_then(|d| d.iter().find(|d| d["Name"] == "ServiceName"))
                    .map_or(String::new(), |d| d["Value"].as_str().unwrap_or_default().into());
                format!("{}/{service}", m["MetricName"].as_str().unwrap_or_default())
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(listed(json!({"Namespace": "AWS/ECS"})).len(), 3);
    assert!(listed(json!({"Namespace": "Custom/App"})).is_empty());
    assert_eq!(
        listed(json!({"Dimensions": [{"Name": "ServiceName", "Value": "a"}]})),
        ["CPUUtilization/a"]
    );
    assert_eq!(listed(json!({"Dimensions": [{"Name": "ServiceName"}]})).len(), 3);
    assert_eq!(listed(json!({"RecentlyActive": "PT3H"})), ["CPUUtilization/a", "CPUUtilization/b"]);

    let statistics = |unit: &str| {
        let out = call(
            &app,
            "GetMetricStatistics",
            json!({"Namespace": "AWS/ECS", "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "ClusterName", "Value": "default"},
                               {"Name": "ServiceName", "Value": "a"}],
                "StartTime": NOW - 600.0, "EndTime": NOW, "Period": 60,
                "Statistics": ["Average"], "Unit": unit}),
        )
        .expect("statistics");
        out["Datapoints"].as_array().map_or(0, Vec::len)
    };
    let data = |unit: &str, scan: &str| {
        let out = call(
            &app,
            "GetMetricData",
            json!({"StartTime": NOW - 600.0, "EndTime": NOW, "ScanBy": scan,
                "MetricDataQueries": [{"Id": "m", "MetricStat": {"Period": 60, "Stat": "Average",
                    "Unit": unit, "Metric": {"Namespace": "AWS/ECS", "MetricName": "CPUUtilization",
                        "Dimensions": [{"Name": "ClusterName", "Value": "default"},
                                       {"Name": "ServiceName", "Value": "a"}]}}}]}),
        )
        .expect("data");
        out["MetricDataResults"][0]["Values"].clone()
    };
    assert_eq!(statistics("Percent"), 2);
    assert_eq!(data("Percent", "TimestampAscending"), json!([-120.0, -60.0]));
    assert_eq!(data("Percent", "TimestampDescending"), json!([-60.0, -120.0]));
    for unit in crate::wire::STANDARD_UNIT_VALUES.iter().filter(|u| **u != "Percent") {
        assert_eq!(statistics(unit), 0, "GetMetricStatistics with unit {unit}");
        assert_eq!(data(unit, "TimestampAscending"), json!([]), "GetMetricData with unit {unit}");
    }
}

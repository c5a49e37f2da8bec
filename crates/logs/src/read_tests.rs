//! Tests of FilterLogEvents' and GetLogEvents' bounds: FilterLogEvents' time range is inclusive
//! at both ends (whichever streams it opens), times are never negative, patterns at most 1,024
//! characters, and a stream named twice is searched once.

use flotilla_api::ErrorCode;
use serde_json::{json, Value};

use super::store_tests::{app, call, messages, ok, NOW};

/// A group `g` with stream `a` holding events at NOW + 100..=NOW + 110 and `b` at
/// NOW + 200..=NOW + 210, one per millisecond, named `<stream><offset>`.
async fn two_streams(dir: &tempfile::TempDir) -> std::sync::Arc<crate::App> {
    let app = app(dir).await;
    ok(&app, "CreateLogGroup", json!({"logGroupName": "g"})).await;
    for (stream, base) in [("a", 100), ("b", 200)] {
        ok(&app, "CreateLogStream", json!({"logGroupName": "g", "logStreamName": stream})).await;
        let events: Vec<Value> = (0..=10)
            .map(|i| json!({"timestamp": NOW + base + i, "message": format!("{stream}{}", base + i)}))
            .collect();
        ok(
            &app,
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": stream, "logEvents": events}),
        )
        .await;
    }
    app
}

async fn filter(app: &crate::App, body: Value) -> Vec<String> {
    let mut body = body;
    body["logGroupName"] = json!("g");
    messages(&ok(app, "FilterLogEvents", body).await)
}

#[tokio::test]
async fn filter_log_events_end_time_is_inclusive_across_stream_bounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = two_streams(&dir).await;
    // Each stream's first and last events sit on a bound.
    let both = filter(&app, json!({"startTime": NOW + 110, "endTime": NOW + 200})).await;
    assert_eq!(both, ["a110", "b200"]);
    let one = filter(&app, json!({"startTime": NOW + 105, "endTime": NOW + 105})).await;
    assert_eq!(one, ["a105"], "startTime == endTime: the events at that millisecond");
    assert!(filter(&app, json!({"startTime": NOW + 111, "endTime": NOW + 199})).await.is_empty());
    assert!(filter(&app, json!({"endTime": NOW + 99})).await.is_empty());
    assert_eq!(filter(&app, json!({"startTime": NOW + 210})).await, ["b210"]);
    let all = filter(&app, json!({"filterPattern": "  "})).await;
    assert_eq!(all.len(), 22, "an empty pattern matches every event");
    // GetLogEvents keeps its exclusive end.
    let get = ok(
        &app,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "a", "startFromHead": true,
               "startTime": NOW + 109, "endTime": NOW + 110}),
    )
    .await;
    assert_eq!(messages(&get), ["a109"]);
}

#[tokio::test]
async fn paging_a_filter_keeps_the_inclusive_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = two_streams(&dir).await;
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"logGroupName": "g", "startTime": NOW + 108, "endTime": NOW + 202,
                              "limit": 2});
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let page = ok(&app, "FilterLogEvents", body).await;
        seen.extend(messages(&page));
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["a108", "a109", "a110", "b200", "b201", "b202"]);
}

#[tokio::test]
async fn negative_times_long_patterns_and_repeated_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = two_streams(&dir).await;
    for (operation, member) in [
        ("GetLogEvents", "startTime"),
        ("GetLogEvents", "endTime"),
        ("FilterLogEvents", "startTime"),
        ("FilterLogEvents", "endTime"),
    ] {
        let mut body = json!({"logGroupName": "g", "logStreamName": "a"});
        if operation == "FilterLogEvents" {
            body = json!({"logGroupName": "g"});
        }
        body[member] = json!(-1);
        let error = call(&app, operation, body).await.expect_err("negative time");
        assert_eq!(error.code, ErrorCode::InvalidParameterException, "{operation} {member}");
        assert!(error.message.contains(member), "{}", error.message);
    }
    let long = "x".repeat(1025);
    let error = call(&app, "FilterLogEvents", json!({"logGroupName": "g", "filterPattern": long}))
        .await
        .expect_err("too long");
    assert_eq!(error.code, ErrorCode::InvalidParameterException);
    assert!(error.message.contains("filterPattern"), "{}", error.message);
    let longest = format!("a1{}", " ".repeat(1022));
    assert_eq!(filter(&app, json!({"filterPattern": longest})).await.len(), 11);
    let twice = filter(&app, json!({"logStreamNames": ["b", "b"], "endTime": NOW + 201})).await;
    assert_eq!(twice, ["b200", "b201"], "a stream named twice is searched once");
}

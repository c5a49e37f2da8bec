//! Tests of what happens around deletions and retention: a deleted and recreated group or
//! stream never shows (or loses) the old one's events, tokens name their stream, and expiry
//! decides from the retention and stream it finds when it deletes.

use flotilla_api::ErrorCode;
use serde_json::json;

use super::position::Position;
use super::store::LogStore;
use super::store_tests::{app, append, call, events, messages, ok, store_with_stream, DAY, NOW};
use super::writer::Creation;

/// Every event stored under stream id `id`, visible or not.
fn raw_events(store: &LogStore, id: u64) -> usize {
    let reader = store.reader().expect("reader");
    reader
        .events(id, Position::START, Position::END, false, 100_000, usize::MAX)
        .expect("events")
        .len()
}

fn stream_id(store: &LogStore, group: &str, stream: &str) -> u64 {
    store.reader().expect("reader").stream(group, stream).expect("read").expect("stream").id
}

#[tokio::test]
async fn recreated_groups_and_streams_start_empty_and_the_purge_empties_the_old_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir).await;
    let put = |stream: &str, message: &str| {
        json!({"logGroupName": "g", "logStreamName": stream,
               "logEvents": [{"timestamp": NOW, "message": message}]})
    };
    ok(&app, "CreateLogGroup", json!({"logGroupName": "g"})).await;
    for stream in ["s", "t"] {
        ok(&app, "CreateLogStream", json!({"logGroupName": "g", "logStreamName": stream})).await;
        ok(&app, "PutLogEvents", put(stream, "old")).await;
    }
    let old_s = stream_id(&app.logs, "g", "s");
    let old_t = stream_id(&app.logs, "g", "t");

    // The stream, then the whole group, deleted and created again under the same names.
    ok(&app, "DeleteLogStream", json!({"logGroupName": "g", "logStreamName": "s"})).await;
    ok(&app, "CreateLogStream", json!({"logGroupName": "g", "logStreamName": "s"})).await;
    ok(&app, "PutLogEvents", put("s", "new")).await;
    ok(&app, "DeleteLogGroup", json!({"logGroupName": "g"})).await;
    ok(&app, "CreateLogGroup", json!({"logGroupName": "g"})).await;
    ok(&app, "CreateLogStream", json!({"logGroupName": "g", "logStreamName": "t"})).await;
    ok(&app, "PutLogEvents", put("t", "newer")).await;

    let get = |stream: &str| json!({"logGroupName": "g", "logStreamName": stream});
    assert_eq!(messages(&ok(&app, "GetLogEvents", get("t")).await), ["newer"]);
    let error = call(&app, "GetLogEvents", get("s")).await.expect_err("s went with its group");
    assert_eq!(error.code, ErrorCode::ResourceNotFoundException);
    let all = ok(&app, "FilterLogEvents", json!({"logGroupName": "g"})).await;
    assert_eq!(messages(&all), ["newer"]);
    let groups = ok(&app, "DescribeLogGroups", json!({"logGroupNamePrefix": "g"})).await;
    assert_eq!(groups["logGroups"][0]["storedBytes"], json!(5), "only the new group's bytes");

    // Still stored, out of reach, until the sweep purges them.
    assert_eq!(raw_events(&app.logs, old_s), 1);
    assert_eq!(raw_events(&app.logs, old_t), 1);
    let deleted = super::retention::sweep(&app.logs, NOW).await.expect("sweep");
    assert_eq!(deleted, 3, "old s, the recreated s, old t");
    assert_eq!(raw_events(&app.logs, old_s), 0);
    assert_eq!(raw_events(&app.logs, old_t), 0);
    assert_eq!(app.logs.reader().expect("reader").purges_pending().expect("purges"), 0);
    assert_eq!(messages(&ok(&app, "GetLogEvents", get("t")).await), ["newer"]);
}

#[tokio::test]
async fn get_log_events_tokens_are_good_only_for_their_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir).await;
    ok(&app, "CreateLogGroup", json!({"logGroupName": "g"})).await;
    for stream in ["a", "b"] {
        ok(&app, "CreateLogStream", json!({"logGroupName": "g", "logStreamName": stream})).await;
        let events: Vec<_> = (0..5)
            .map(|i| json!({"timestamp": NOW + i, "message": format!("{stream}{i}")}))
            .collect();
        ok(
            &app,
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": stream, "logEvents": events}),
        )
        .await;
    }
    let page = |stream: &str, token: &str| json!({"logGroupName": "g", "logStreamName": stream, "limit": 2, "nextToken": token});
    let first = ok(
        &app,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "a", "startFromHead": true, "limit": 2}),
    )
    .await;
    assert_eq!(messages(&first), ["a0", "a1"]);
    let forward = first["nextForwardToken"].as_str().expect("token").to_string();
    let backward = first["nextBackwardToken"].as_str().expect("token").to_string();
    assert!(forward.starts_with("f/") && backward.starts_with("b/"));
    assert_eq!(messages(&ok(&app, "GetLogEvents", page("a", &forward)).await), ["a2", "a3"]);
    for token in [&forward, &backward] {
        let error = call(&app, "GetLogEvents", page("b", token)).await.expect_err("a's token");
        assert_eq!(error.code, ErrorCode::InvalidParameterException);
        assert_eq!(error.message, "The specified nextToken is invalid.");
    }
    // Held across a delete and re-create of the stream: another stream now.
    ok(&app, "DeleteLogStream", json!({"logGroupName": "g", "logStreamName": "a"})).await;
    ok(&app, "CreateLogStream", json!({"logGroupName": "g", "logStreamName": "a"})).await;
    let error = call(&app, "GetLogEvents", page("a", &forward)).await.expect_err("stale token");
    assert_eq!(error.code, ErrorCode::InvalidParameterException);
    // An empty stream hands back tokens of its own, and at its end the same token again.
    let empty = ok(&app, "GetLogEvents", json!({"logGroupName": "g", "logStreamName": "a"})).await;
    let token = empty["nextForwardToken"].as_str().expect("token").to_string();
    let again = ok(&app, "GetLogEvents", page("a", &token)).await;
    assert_eq!(again["nextForwardToken"].as_str(), Some(token.as_str()));
}

#[tokio::test]
async fn expiry_decides_from_the_retention_and_stream_it_finds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_stream(&dir).await;
    let old = [NOW - 40 * DAY, NOW - 20 * DAY, NOW - 2 * DAY, NOW];
    store
        .append(vec![append("g", "s", events(old, "e"), Creation::Nothing)])
        .await
        .expect("append");
    let id = stream_id(&store, "g", "s");
    // A sweep planned under 1 day of retention, carried out after it was removed...
    store.set_retention("g".into(), None).await.expect("retention");
    assert_eq!(
        store.expire("g".into(), "s".into(), id, NOW, 100).await.expect("expire"),
        (0, false)
    );
    // ... or lengthened to 30 days: only what 30 days do not keep goes.
    store.set_retention("g".into(), Some(30)).await.expect("retention");
    assert_eq!(
        store.expire("g".into(), "s".into(), id, NOW, 100).await.expect("expire"),
        (1, false)
    );
    assert_eq!(raw_events(&store, id), 3);

    // The stream deleted and created again (with old events of its own) since it was planned.
    store.delete_stream("g".into(), "s".into()).await.expect("delete");
    store
        .append(vec![append("g", "s", events([NOW - 50 * DAY, NOW], "n"), Creation::Stream)])
        .await
        .expect("append");
    let new_id = stream_id(&store, "g", "s");
    assert_ne!(new_id, id);
    assert_eq!(
        store.expire("g".into(), "s".into(), id, NOW, 100).await.expect("expire"),
        (0, false)
    );
    assert_eq!(raw_events(&store, new_id), 2, "the new stream is not expired by an old plan");
    // The next sweep plans with the new id: the purge takes the old stream's 3, expiry 1.
    assert_eq!(super::retention::sweep(&store, NOW).await.expect("sweep"), 4);
    assert_eq!(raw_events(&store, new_id), 1);
    let meta = store.reader().expect("reader").stream("g", "s").expect("read").expect("stream");
    assert_eq!(meta.first_event_timestamp, Some(NOW));
    assert_eq!(
        store.reader().expect("reader").group("g").expect("read").expect("group").stored_bytes,
        3
    );
    // A group that is gone expires nothing.
    assert_eq!(
        store.expire("nope".into(), "s".into(), id, NOW, 100).await.expect("expire"),
        (0, false)
    );
}

//! Tests of the log database and the operations over it: roundtrips, token paging both ways,
//! filtering across streams, retention, agent batches, reopening, and ingest throughput.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flotilla_api::agent::{LogBatch, LogLine, LogStreamBatch};
use flotilla_api::logs::InputLogEvent;
use flotilla_api::ErrorCode;
use serde_json::{json, Value};

use super::store::{GroupMeta, LogStore, LogsError};
use super::writer::{Append, Creation};
use crate::App;

pub(super) const NOW: i64 = 1_700_000_000_000;
pub(super) const DAY: i64 = 24 * 3600 * 1000;

pub(super) fn events(timestamps: impl IntoIterator<Item = i64>, tag: &str) -> Vec<InputLogEvent> {
    timestamps
        .into_iter()
        .enumerate()
        .map(|(i, t)| InputLogEvent { timestamp: t, message: format!("{tag} {i}") })
        .collect()
}

pub(super) fn append(
    group: &str,
    stream: &str,
    events: Vec<InputLogEvent>,
    create: Creation,
) -> Append {
    Append {
        group: group.into(),
        stream: stream.into(),
        accepted: 0..events.len(),
        events,
        ingestion_time: NOW,
        create,
    }
}

pub(super) async fn store_with_stream(dir: &tempfile::TempDir) -> LogStore {
    let store = LogStore::open(&dir.path().join("logs.redb")).expect("open");
    store
        .create_group("g".into(), GroupMeta { creation_time: NOW, ..GroupMeta::default() })
        .await
        .expect("group");
    store.create_stream("g".into(), "s".into(), NOW).await.expect("stream");
    store
}

#[tokio::test]
async fn events_roundtrip_in_time_order_and_metadata_follows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_stream(&dir).await;
    // Two batches, the second earlier in time: reads still come in timestamp order.
    let results = store
        .append(vec![append("g", "s", events([NOW, NOW, NOW + 5], "late"), Creation::Nothing)])
        .await
        .expect("append");
    assert_eq!(results[0].as_ref().map(|a| a.stored).ok(), Some(3));
    store
        .append(vec![append("g", "s", events([NOW - 5], "early"), Creation::Nothing)])
        .await
        .expect("append");
    let reader = store.reader().expect("reader");
    let meta = reader.stream("g", "s").expect("read").expect("stream");
    assert_eq!(meta.first_event_timestamp, Some(NOW - 5));
    assert_eq!(meta.last_event_timestamp, Some(NOW + 5));
    assert_eq!(meta.last_ingestion_time, Some(NOW));
    let read = all_events(&reader, meta.id);
    let messages: Vec<&str> = read.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["early 0", "late 0", "late 1", "late 2"]);
    let group = reader.group("g").expect("read").expect("group");
    assert_eq!(group.stored_bytes, messages.iter().map(|m| m.len() as i64).sum::<i64>());
}

#[tokio::test]
async fn refusals_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_stream(&dir).await;
    let again = store.create_group("g".into(), GroupMeta::default()).await;
    assert!(matches!(again, Err(LogsError::GroupExists)));
    let again = store.create_stream("g".into(), "s".into(), NOW).await;
    assert!(matches!(again, Err(LogsError::StreamExists)));
    let missing = store.create_stream("nope".into(), "s".into(), NOW).await;
    assert!(matches!(missing, Err(LogsError::GroupNotFound)));
    let results = store
        .append(vec![
            append("g", "missing", events([NOW], "x"), Creation::Nothing),
            append("nope", "s", events([NOW], "x"), Creation::Stream),
            append("g", "s", events([NOW], "kept"), Creation::Nothing),
        ])
        .await
        .expect("append");
    assert!(matches!(results[0], Err(LogsError::StreamNotFound)));
    assert!(matches!(results[1], Err(LogsError::GroupNotFound)));
    assert!(results[2].is_ok());
    let reader = store.reader().expect("reader");
    assert!(reader.stream("g", "missing").expect("read").is_none());
    assert!(reader.group("nope").expect("read").is_none());
}

#[tokio::test]
async fn deleting_a_group_hides_its_events_at_once_and_the_purge_deletes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_stream(&dir).await;
    store
        .append(vec![append("g", "s", events([NOW; 10], "x"), Creation::Nothing)])
        .await
        .expect("append");
    let id = store.reader().expect("reader").stream("g", "s").expect("read").expect("stream").id;
    store.delete_group("g".into()).await.expect("delete");
    let left = |store: &LogStore| {
        let reader = store.reader().expect("reader");
        let all = all_events(&reader, id);
        (all.len(), reader.purges_pending().expect("purges"))
    };
    let reader = store.reader().expect("reader");
    assert!(reader.group("g").expect("read").is_none());
    assert!(reader.stream("g", "s").expect("read").is_none());
    assert_eq!(left(&store), (10, 1), "the events wait for the purge, out of every stream's reach");
    assert!(matches!(store.delete_group("g".into()).await, Err(LogsError::GroupNotFound)));
    // Bounded chunks: 4 + 4 + 2, then the stream leaves the purge list.
    assert_eq!(store.purge(4).await.expect("purge"), (4, true));
    assert_eq!(left(&store), (6, 1));
    assert_eq!(super::retention::purge(&store).await.expect("purge"), 6);
    assert_eq!(left(&store), (0, 0));
    assert_eq!(store.purge(4).await.expect("purge"), (0, false));
}

#[tokio::test]
async fn retention_deletes_only_events_older_than_the_group_keeps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_stream(&dir).await;
    store.create_group("forever".into(), GroupMeta::default()).await.expect("group");
    store
        .append(vec![
            append(
                "g",
                "s",
                events([NOW - 10 * DAY, NOW - 8 * DAY, NOW - 2 * DAY, NOW], "e"),
                Creation::Nothing,
            ),
            append("forever", "s", events([NOW - 100 * DAY], "old"), Creation::Stream),
        ])
        .await
        .expect("append");
    store.set_retention("g".into(), Some(7)).await.expect("retention");
    let deleted = super::retention::sweep(&store, NOW).await.expect("sweep");
    assert_eq!(deleted, 2);
    let reader = store.reader().expect("reader");
    let meta = reader.stream("g", "s").expect("read").expect("stream");
    assert_eq!(meta.first_event_timestamp, Some(NOW - 2 * DAY));
    assert_eq!(meta.last_event_timestamp, Some(NOW));
    let kept = all_events(&reader, meta.id);
    assert_eq!(kept.iter().map(|e| e.position.timestamp).collect::<Vec<_>>(), [NOW - 2 * DAY, NOW]);
    assert_eq!(reader.group("g").expect("read").expect("group").stored_bytes, 6);
    let other = reader.stream("forever", "s").expect("read").expect("stream");
    assert_eq!(other.first_event_timestamp, Some(NOW - 100 * DAY), "no retention, nothing deleted");
    assert_eq!(super::retention::sweep(&store, NOW).await.expect("sweep"), 0);
}

#[tokio::test]
async fn reopening_the_database_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = store_with_stream(&dir).await;
        store.set_retention("g".into(), Some(30)).await.expect("retention");
        store
            .append(vec![append("g", "s", events([NOW, NOW + 1], "m"), Creation::Nothing)])
            .await
            .expect("append");
    }
    let store = LogStore::open(&dir.path().join("logs.redb")).expect("reopen");
    let reader = store.reader().expect("reader");
    assert_eq!(reader.group("g").expect("read").expect("group").retention_in_days, Some(30));
    let meta = reader.stream("g", "s").expect("read").expect("stream");
    let read = all_events(&reader, meta.id);
    assert_eq!(read.len(), 2);
    // Stream ids keep counting after a reopen: a new stream never shares an old one's events.
    store.create_stream("g".into(), "t".into(), NOW).await.expect("stream");
    let fresh = store.reader().expect("reader").stream("g", "t").expect("read").expect("stream");
    assert!(fresh.id > meta.id);
}

#[tokio::test]
async fn agent_batches_create_streams_and_groups_only_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LogStore::open(&dir.path().join("logs.redb")).expect("open");
    let line = |message: &str| LogLine { timestamp: NOW, message: message.into() };
    let batch = LogBatch {
        streams: vec![
            LogStreamBatch {
                task_arn: None,
                group: "/ecs/web".into(),
                stream: "ecs/web/1".into(),
                create_group: true,
                events: vec![line("a"), line(""), line(&"x".repeat(300_000))],
            },
            LogStreamBatch {
                task_arn: None,
                group: "/ecs/missing".into(),
                stream: "ecs/web/1".into(),
                create_group: false,
                events: vec![line("b")],
            },
            LogStreamBatch {
                task_arn: None,
                group: "bad:name".into(),
                stream: "s".into(),
                create_group: true,
                events: vec![line("c")],
            },
        ],
    };
    let reply = super::agent_batches::store(&store, batch, NOW).await.expect("stored");
    assert_eq!(reply.accepted, 2, "the empty line is dropped");
    let reasons: Vec<(&str, &str)> =
        reply.rejected.iter().map(|r| (r.group.as_str(), r.reason.as_str())).collect();
    assert_eq!(reasons.len(), 2);
    assert!(reasons.contains(&("/ecs/missing", "The specified log group does not exist.")));
    assert!(reasons.iter().any(|(g, _)| *g == "bad:name"));
    let reader = store.reader().expect("reader");
    let meta = reader.stream("/ecs/web", "ecs/web/1").expect("read").expect("created");
    let read = all_events(&reader, meta.id);
    assert_eq!(read[1].message.len(), flotilla_api::logs::MAX_AGENT_MESSAGE_BYTES, "truncated");
    assert!(reader.group("/ecs/missing").expect("read").is_none());
}

// -- the operations, through the dispatcher ---------------------------------------------------

pub(super) async fn app(dir: &tempfile::TempDir) -> Arc<App> {
    std::sync::Arc::new(
        App::open(
            &dir.path().join("logs.redb"),
            flotilla_api::arn::ArnScope::new("us-east-1", "000000000000"),
            std::sync::Arc::new(flotilla_api::clock::SystemClock),
        )
        .expect("open the log database"),
    )
}

/// Every event of stream `id`, oldest first.
fn all_events(reader: &super::store::Reader, id: u64) -> Vec<super::store::StoredEvent> {
    reader
        .events(
            id,
            super::position::Position::START,
            super::position::Position::END,
            false,
            100,
            usize::MAX,
        )
        .expect("events")
}

pub(super) fn at(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64)
}

pub(super) async fn call(
    app: &App,
    operation: &str,
    body: Value,
) -> Result<Value, flotilla_api::ApiError> {
    let body = serde_json::to_vec(&body).expect("json");
    let out = super::dispatch(app, operation, &body, at(NOW)).await?;
    Ok(serde_json::from_slice(&out).expect("response json"))
}

pub(super) async fn ok(app: &App, operation: &str, body: Value) -> Value {
    call(app, operation, body).await.unwrap_or_else(|e| panic!("{operation}: {e}"))
}

/// A group `g` with stream `s` holding `n` events, 3 per millisecond from NOW - n.
async fn app_with_events(dir: &tempfile::TempDir, n: i64) -> Arc<App> {
    let app = app(dir).await;
    ok(&app, "CreateLogGroup", json!({"logGroupName": "g"})).await;
    ok(&app, "CreateLogStream", json!({"logGroupName": "g", "logStreamName": "s"})).await;
    let events: Vec<Value> = (0..n)
        .map(|i| json!({"timestamp": NOW - n + i / 3, "message": format!("event {i}")}))
        .collect();
    ok(
        &app,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": events}),
    )
    .await;
    app
}

pub(super) fn messages(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["message"].as_str().expect("message").to_string())
        .collect()
}

#[tokio::test]
async fn get_log_events_pages_forward_until_the_token_repeats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app_with_events(&dir, 95).await;
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut calls = 0;
    loop {
        let mut body =
            json!({"logGroupName": "g", "logStreamName": "s", "startFromHead": true, "limit": 10});
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let page = ok(&app, "GetLogEvents", body).await;
        seen.extend(messages(&page));
        let next = page["nextForwardToken"].as_str().expect("token").to_string();
        assert!(next.starts_with("f/"));
        assert!(page["nextBackwardToken"].as_str().expect("token").starts_with("b/"));
        calls += 1;
        if token.as_deref() == Some(next.as_str()) {
            break;
        }
        token = Some(next);
    }
    assert_eq!(seen, (0..95).map(|i| format!("event {i}")).collect::<Vec<_>>());
    assert_eq!(calls, 11, "10 pages, then one empty page that hands the token back");
}

#[tokio::test]
async fn get_log_events_reads_the_newest_first_then_backwards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app_with_events(&dir, 25).await;
    let page =
        ok(&app, "GetLogEvents", json!({"logGroupName": "g", "logStreamName": "s", "limit": 10}))
            .await;
    assert_eq!(messages(&page), (15..25).map(|i| format!("event {i}")).collect::<Vec<_>>());
    let mut older = Vec::new();
    let mut token = page["nextBackwardToken"].as_str().expect("token").to_string();
    loop {
        let page = ok(
            &app,
            "GetLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s", "limit": 10, "nextToken": token}),
        )
        .await;
        let next = page["nextBackwardToken"].as_str().expect("token").to_string();
        let mut chunk = messages(&page);
        chunk.extend(older);
        older = chunk;
        if next == token {
            break;
        }
        token = next;
    }
    assert_eq!(older, (0..15).map(|i| format!("event {i}")).collect::<Vec<_>>());
    // Tailing: the forward token of the newest page sees events written after it.
    let tail = page["nextForwardToken"].as_str().expect("token").to_string();
    ok(&app, "PutLogEvents", json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": NOW, "message": "new"}]})).await;
    let page = ok(
        &app,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "nextToken": tail}),
    )
    .await;
    assert_eq!(messages(&page), ["new"]);
}

#[tokio::test]
async fn get_log_events_time_range_is_start_inclusive_end_exclusive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app_with_events(&dir, 30).await; // event i at NOW - 30 + i/3
    let page = ok(
        &app,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "startFromHead": true,
               "startTime": NOW - 28, "endTime": NOW - 26}),
    )
    .await;
    assert_eq!(messages(&page), (6..12).map(|i| format!("event {i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn put_log_events_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app_with_events(&dir, 1).await;
    let put =
        |events: Value| json!({"logGroupName": "g", "logStreamName": "s", "logEvents": events});
    let error = call(
        &app,
        "PutLogEvents",
        put(json!([{"timestamp": NOW, "message": "b"}, {"timestamp": NOW - 1, "message": "a"}])),
    )
    .await
    .expect_err("out of order");
    assert_eq!(error.code, ErrorCode::InvalidParameterException);
    assert_eq!(
        error.message,
        "Log events in a single PutLogEvents request must be in chronological order."
    );
    let reply = ok(
        &app,
        "PutLogEvents",
        put(json!([
            {"timestamp": NOW - 15 * DAY, "message": "old"},
            {"timestamp": NOW, "message": "fine"},
            {"timestamp": NOW + 3 * 3600 * 1000, "message": "future"}
        ])),
    )
    .await;
    assert_eq!(
        reply["rejectedLogEventsInfo"],
        json!({"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 2})
    );
    assert!(reply["nextSequenceToken"].is_string());
    let page = ok(&app, "GetLogEvents", json!({"logGroupName": "g", "logStreamName": "s"})).await;
    assert_eq!(messages(&page), ["event 0", "fine"]);
    let missing = call(&app, "PutLogEvents", json!({"logGroupName": "g", "logStreamName": "nope", "logEvents": [{"timestamp": NOW, "message": "x"}]}))
        .await
        .expect_err("no stream");
    assert_eq!(missing.code, ErrorCode::ResourceNotFoundException);
}

#[tokio::test]
async fn filter_log_events_merges_streams_and_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir).await;
    ok(&app, "CreateLogGroup", json!({"logGroupName": "g"})).await;
    for (stream, offset) in [("a", 0), ("b", 1)] {
        ok(&app, "CreateLogStream", json!({"logGroupName": "g", "logStreamName": stream})).await;
        let events: Vec<Value> = (0..50)
            .map(|i| {
                let level = if i % 5 == 0 { "ERROR disk full" } else { "INFO ok" };
                json!({"timestamp": NOW - 1000 + 2 * i + offset, "message": format!("{level} {stream}{i}")})
            })
            .collect();
        ok(
            &app,
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": stream, "logEvents": events}),
        )
        .await;
    }
    let filter = |pattern: &str, token: Option<&str>| {
        let mut body = json!({"logGroupName": "g", "filterPattern": pattern, "limit": 7});
        if let Some(t) = token {
            body["nextToken"] = json!(t);
        }
        body
    };
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = ok(&app, "FilterLogEvents", filter("ERROR", token.as_deref())).await;
        for event in page["events"].as_array().expect("events") {
            found.push((
                event["timestamp"].as_i64().expect("ts"),
                event["logStreamName"].as_str().expect("name").to_string(),
            ));
            assert!(event["eventId"].is_string());
        }
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(found.len(), 20);
    let mut sorted = found.clone();
    sorted.sort();
    assert_eq!(found, sorted, "merged in timestamp order");
    assert_eq!(found.iter().filter(|(_, s)| s == "a").count(), 10);

    let phrase = ok(
        &app,
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "\"disk full\" -a0 -b0"}),
    )
    .await;
    assert_eq!(phrase["events"].as_array().expect("events").len(), 18);
    let one = ok(&app, "FilterLogEvents", json!({"logGroupName": "g", "logStreamNames": ["b"], "filterPattern": "?b1 ?b2", "endTime": NOW - 1000 + 6})).await;
    assert_eq!(messages(&one), ["INFO ok b1", "INFO ok b2"]);
    let error = call(
        &app,
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "{ $.level = 1 }"}),
    )
    .await
    .expect_err("json patterns");
    assert_eq!(error.code, ErrorCode::InvalidParameterException);
}

#[tokio::test]
async fn describe_operations_page_and_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir).await;
    for name in ["/app/a", "/app/b", "/app/c", "/other"] {
        ok(&app, "CreateLogGroup", json!({"logGroupName": name})).await;
    }
    let first =
        ok(&app, "DescribeLogGroups", json!({"logGroupNamePrefix": "/app/", "limit": 2})).await;
    let token = first["nextToken"].as_str().expect("more").to_string();
    let second = ok(
        &app,
        "DescribeLogGroups",
        json!({"logGroupNamePrefix": "/app/", "limit": 2, "nextToken": token}),
    )
    .await;
    assert!(second.get("nextToken").is_none());
    let names = |v: &Value, field: &str, member: &str| -> Vec<String> {
        v[field]
            .as_array()
            .expect("list")
            .iter()
            .map(|g| g[member].as_str().expect("name").to_string())
            .collect()
    };
    assert_eq!(names(&first, "logGroups", "logGroupName"), ["/app/a", "/app/b"]);
    assert_eq!(names(&second, "logGroups", "logGroupName"), ["/app/c"]);
    assert_eq!(
        first["logGroups"][0]["arn"],
        "arn:aws:logs:us-east-1:000000000000:log-group:/app/a:*"
    );

    for (stream, t) in [("x", NOW - 5), ("y", NOW - 9), ("z", NOW - 1)] {
        ok(&app, "CreateLogStream", json!({"logGroupName": "/other", "logStreamName": stream}))
            .await;
        ok(&app, "PutLogEvents", json!({"logGroupName": "/other", "logStreamName": stream, "logEvents": [{"timestamp": t, "message": "m"}]})).await;
    }
    let by_time = ok(&app, "DescribeLogStreams", json!({"logGroupName": "/other", "orderBy": "LastEventTime", "descending": true, "limit": 2})).await;
    assert_eq!(names(&by_time, "logStreams", "logStreamName"), ["z", "x"]);
    let rest = ok(&app, "DescribeLogStreams", json!({"logGroupName": "/other", "orderBy": "LastEventTime", "descending": true, "limit": 2, "nextToken": by_time["nextToken"]})).await;
    assert_eq!(names(&rest, "logStreams", "logStreamName"), ["y"]);
    assert!(rest.get("nextToken").is_none());
    let descending = ok(&app, "DescribeLogStreams", json!({"logGroupIdentifier": "arn:aws:logs:us-east-1:000000000000:log-group:/other:*", "descending": true})).await;
    assert_eq!(names(&descending, "logStreams", "logStreamName"), ["z", "y", "x"]);
    let error = call(
        &app,
        "DescribeLogStreams",
        json!({"logGroupName": "/other", "orderBy": "LastEventTime", "logStreamNamePrefix": "x"}),
    )
    .await
    .expect_err("prefix with time order");
    assert_eq!(error.code, ErrorCode::InvalidParameterException);
}

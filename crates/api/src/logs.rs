//! CloudWatch Logs rules (its wire types are generated into `flotilla-logs`): the event to store
//! and what CloudWatch checks before it stores anything — names, retention values, limits, and
//! which events of a PutLogEvents batch are accepted. Pure: the caller passes the clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::arn::ArnScope;
use crate::error::{ApiError, ErrorCode};

/// The values PutRetentionPolicy accepts, in days.
pub const RETENTION_DAYS: &[i32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
/// Events per PutLogEvents batch.
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// Size of a PutLogEvents batch: message bytes (UTF-8) plus [`EVENT_OVERHEAD_BYTES`] per event.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// What CloudWatch adds to each message when it sizes batches and pages.
pub const EVENT_OVERHEAD_BYTES: usize = 26;
/// The largest message the awslogs driver sends in one event (256 KiB with the overhead):
/// longer lines are split by the agent and truncated by the server.
pub const MAX_AGENT_MESSAGE_BYTES: usize = 262_144 - EVENT_OVERHEAD_BYTES;
/// Events older than this (ms) are refused by PutLogEvents.
pub const MAX_EVENT_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
/// Events further in the future than this (ms) are refused by PutLogEvents.
pub const MAX_EVENT_FUTURE_MS: i64 = 2 * 3600 * 1000;
/// The accepted events of one PutLogEvents batch may span at most this (ms).
pub const MAX_BATCH_SPAN_MS: i64 = 24 * 3600 * 1000;
/// Describe* pages.
pub const MAX_DESCRIBE_LIMIT: i32 = 50;
/// GetLogEvents and FilterLogEvents pages, in events.
pub const MAX_EVENTS_LIMIT: i32 = 10_000;
/// GetLogEvents and FilterLogEvents pages, in bytes (sized as batches are).
pub const MAX_PAGE_BYTES: usize = 1_048_576;
/// The longest FilterLogEvents `filterPattern`, in characters (the model's `FilterPattern`).
pub const MAX_FILTER_PATTERN_CHARS: usize = 1024;

pub const ORDER_BY_NAME: &str = "LogStreamName";
pub const ORDER_BY_LAST_EVENT_TIME: &str = "LastEventTime";

/// An event to store: what PutLogEvents and agents' batches carry, judged by [`judge_batch`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputLogEvent {
    pub timestamp: i64,
    pub message: String,
}

/// Which events of a batch [`judge_batch`] refused, as PutLogEvents reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedLogEventsInfo {
    /// The first event that is too new (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub too_new_log_event_start_index: Option<i32>,
    /// The end of the events that are too old (exclusive: the count of them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub too_old_log_event_end_index: Option<i32>,
    /// The end of the events older than the group's retention (exclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_log_event_end_index: Option<i32>,
}

pub fn group_arn(scope: &ArnScope, group: &str) -> String {
    format!("arn:aws:logs:{}:{}:log-group:{group}", scope.region, scope.account_id)
}

/// `arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}`.
pub fn stream_arn(scope: &ArnScope, group: &str, stream: &str) -> String {
    format!("{}:log-stream:{stream}", group_arn(scope, group))
}

/// Tags of CreateLogGroup: at most 50, keys of 1–128 and values of at most 256 characters,
/// no `aws:` keys.
pub fn validate_group_tags(tags: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if tags.is_empty() || tags.len() > 50 {
        return Err(violation(
            &format!("{} tags", tags.len()),
            "tags",
            "Member must have length less than or equal to 50 and greater than or equal to 1",
        ));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(violation(
                key,
                "tags.key",
                "Member must have length less than or equal to 128 and greater than or equal to 1",
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::invalid(format!(
                "Tag key '{key}' uses the reserved prefix 'aws:'"
            )));
        }
        if value.chars().count() > 256 {
            return Err(violation(
                value,
                "tags.value",
                "Member must have length less than or equal to 256",
            ));
        }
    }
    Ok(())
}

/// CloudWatch's phrasing of a constraint violation.
fn violation(value: &str, member: &str, constraint: &str) -> ApiError {
    ApiError::invalid(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: \
         {constraint}"
    ))
}

/// 1–512 characters of `[.\-_/#A-Za-z0-9]`.
pub fn validate_group_name(name: &str, member: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 512 {
        return Err(violation(
            name,
            member,
            "Member must have length less than or equal to 512 and greater than or equal to 1",
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#');
    if !name.chars().all(allowed) {
        return Err(violation(
            name,
            member,
            "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        ));
    }
    Ok(())
}

/// 1–512 characters, none of them `:` or `*`.
pub fn validate_stream_name(name: &str, member: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > 512 {
        return Err(violation(
            name,
            member,
            "Member must have length less than or equal to 512 and greater than or equal to 1",
        ));
    }
    if name.contains([':', '*']) {
        return Err(violation(
            name,
            member,
            "Member must satisfy regular expression pattern: [^:*]*",
        ));
    }
    Ok(())
}

pub fn validate_retention(days: i32) -> Result<(), ApiError> {
    if RETENTION_DAYS.contains(&days) {
        return Ok(());
    }
    let allowed: Vec<String> = RETENTION_DAYS.iter().map(i32::to_string).collect();
    Err(violation(
        &days.to_string(),
        "retentionInDays",
        &format!("Member must satisfy enum value set: [{}]", allowed.join(", ")),
    ))
}

/// A request's `startTime` or `endTime`: the model's `Timestamp`, epoch milliseconds from 0.
pub fn validate_time(time: Option<i64>, member: &str) -> Result<(), ApiError> {
    match time {
        Some(t) if t < 0 => Err(violation(
            &t.to_string(),
            member,
            "Member must have value greater than or equal to 0",
        )),
        _ => Ok(()),
    }
}

/// FilterLogEvents' `filterPattern`: at most [`MAX_FILTER_PATTERN_CHARS`] characters, which
/// also bounds the work of matching it against every event looked at.
pub fn validate_filter_pattern(pattern: &str) -> Result<(), ApiError> {
    if pattern.chars().count() > MAX_FILTER_PATTERN_CHARS {
        let shown: String = pattern.chars().take(64).collect();
        return Err(violation(
            &format!("{shown}…"),
            "filterPattern",
            &format!("Member must have length less than or equal to {MAX_FILTER_PATTERN_CHARS}"),
        ));
    }
    Ok(())
}

/// `limit` within 1..=`max`, or `default` when absent.
pub fn page_limit(limit: Option<i32>, max: i32, default: i32) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(violation(
            &n.to_string(),
            "limit",
            &format!(
                "Member must have value less than or equal to {max} and greater than or equal to 1"
            ),
        )),
    }
}

/// The log group a request names: `logGroupName` or `logGroupIdentifier` (a name or an ARN,
/// with or without `:*`), exactly one of them.
pub fn group_from(name: Option<&str>, identifier: Option<&str>) -> Result<String, ApiError> {
    let name = match (name, identifier) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "LogGroupName and LogGroupIdentifier are mutually exclusive: give one of them",
            ))
        }
        (None, None) => {
            return Err(ApiError::invalid("Either LogGroupName or LogGroupIdentifier is required"))
        }
        (Some(name), None) => name,
        (None, Some(identifier)) => group_name_of(identifier),
    };
    validate_group_name(name, "logGroupName")?;
    Ok(name.to_string())
}

/// The group name in a log group identifier: `arn:aws:logs:<region>:<account>:log-group:<name>`
/// (optionally ending in `:*`), or the name itself.
pub fn group_name_of(identifier: &str) -> &str {
    if !identifier.starts_with("arn:") {
        return identifier;
    }
    let rest = identifier.split_once(":log-group:").map_or(identifier, |(_, rest)| rest);
    rest.strip_suffix(":*").unwrap_or(rest)
}

/// What CloudWatch does with the events of one PutLogEvents batch: which to store, which to
/// report as rejected. Errors (the whole batch refused) come out as `Err`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchVerdict {
    /// Events `accepted.start..accepted.end` are stored.
    pub accepted: std::ops::Range<usize>,
    pub rejected: Option<RejectedLogEventsInfo>,
}

/// Checks a PutLogEvents batch at `now_ms` for a group keeping events `retention_days`.
pub fn judge_batch(
    events: &[InputLogEvent],
    now_ms: i64,
    retention_days: Option<i32>,
) -> Result<BatchVerdict, ApiError> {
    if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
        return Err(violation(
            &format!("{} events", events.len()),
            "logEvents",
            &format!("Member must have length less than or equal to {MAX_BATCH_EVENTS} and greater than or equal to 1"),
        ));
    }
    let mut bytes = 0usize;
    for (i, event) in events.iter().enumerate() {
        if event.message.is_empty() {
            return Err(violation(
                "",
                &format!("logEvents.{}.member.message", i + 1),
                "Member must have length greater than or equal to 1",
            ));
        }
        if event.timestamp < 0 {
            return Err(violation(
                &event.timestamp.to_string(),
                &format!("logEvents.{}.member.timestamp", i + 1),
                "Member must have value greater than or equal to 0",
            ));
        }
        bytes += event.message.len() + EVENT_OVERHEAD_BYTES;
    }
    if bytes > MAX_BATCH_BYTES {
        return Err(ApiError::invalid(format!(
            "Upload too large: {bytes} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )));
    }
    if events.windows(2).any(|w| w[1].timestamp < w[0].timestamp) {
        return Err(ApiError::invalid(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    let too_old_before = now_ms.saturating_sub(MAX_EVENT_AGE_MS);
    let expired_before =
        retention_days.map(|days| now_ms.saturating_sub(i64::from(days) * 24 * 3600 * 1000));
    let too_new_after = now_ms.saturating_add(MAX_EVENT_FUTURE_MS);
    // Sorted by time: the refused events are a prefix (too old, expired) and a suffix (too new).
    let too_old = events.partition_point(|e| e.timestamp < too_old_before);
    let expired = expired_before.map_or(0, |t| events.partition_point(|e| e.timestamp < t));
    let too_new = events.partition_point(|e| e.timestamp <= too_new_after);
    let start = too_old.max(expired);
    let end = too_new.max(start);
    if end > start && events[end - 1].timestamp - events[start].timestamp > MAX_BATCH_SPAN_MS {
        return Err(ApiError::invalid(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }
    let index = |i: usize| i32::try_from(i).unwrap_or(i32::MAX);
    let rejected = RejectedLogEventsInfo {
        too_new_log_event_start_index: (too_new < events.len()).then(|| index(too_new)),
        too_old_log_event_end_index: (too_old > 0).then(|| index(too_old)),
        expired_log_event_end_index: (expired > too_old).then(|| index(expired)),
    };
    let rejected = (rejected != RejectedLogEventsInfo::default()).then_some(rejected);
    Ok(BatchVerdict { accepted: start..end, rejected })
}

/// Cuts `message` to at most `max` bytes at a character boundary.
pub fn truncate_message(message: &mut String, max: usize) {
    if message.len() <= max {
        return;
    }
    let mut cut = max;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    message.truncate(cut);
}

/// CloudWatch Logs' answer for a missing log group, with its usual message.
pub fn group_not_found() -> ApiError {
    ApiError::new(ErrorCode::ResourceNotFoundException, "The specified log group does not exist.")
}

/// CloudWatch Logs' answer for a missing log stream, with its usual message.
pub fn stream_not_found() -> ApiError {
    ApiError::new(ErrorCode::ResourceNotFoundException, "The specified log stream does not exist.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn events(timestamps: &[i64]) -> Vec<InputLogEvent> {
        timestamps.iter().map(|&t| InputLogEvent { timestamp: t, message: "m".into() }).collect()
    }

    #[test]
    fn names() {
        assert!(validate_group_name("/ecs/web-app_1.#x", "logGroupName").is_ok());
        assert!(validate_group_name("", "logGroupName").is_err());
        assert!(validate_group_name("a:b", "logGroupName").is_err());
        assert!(validate_group_name(&"a".repeat(513), "logGroupName").is_err());
        assert!(validate_stream_name("ecs/web/0123 x", "logStreamName").is_ok());
        assert!(validate_stream_name("a*", "logStreamName").is_err());
        assert!(validate_stream_name("a:b", "logStreamName").is_err());
    }

    #[test]
    fn arns() {
        let scope = ArnScope::new("eu-west-1", "123456789012");
        assert_eq!(group_arn(&scope, "/a"), "arn:aws:logs:eu-west-1:123456789012:log-group:/a");
        assert_eq!(
            stream_arn(&scope, "/a", "s/1"),
            "arn:aws:logs:eu-west-1:123456789012:log-group:/a:log-stream:s/1"
        );
        assert_eq!(group_name_of(&group_arn(&scope, "/a")), "/a");
    }

    #[test]
    fn tags() {
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert!(validate_group_tags(&tags(&[("team", "web")])).is_ok());
        assert!(validate_group_tags(&tags(&[])).is_err());
        assert!(validate_group_tags(&tags(&[("aws:x", "y")])).is_err());
        assert!(validate_group_tags(&tags(&[("", "y")])).is_err());
    }

    #[test]
    fn retention_values_are_cloudwatchs() {
        assert!(validate_retention(14).is_ok());
        assert!(validate_retention(3653).is_ok());
        let error = validate_retention(2).expect_err("2 days is not a CloudWatch value");
        assert_eq!(error.code, ErrorCode::InvalidParameterException);
    }

    #[test]
    fn group_identifiers() {
        assert_eq!(group_name_of("arn:aws:logs:us-east-1:000000000000:log-group:/a/b:*"), "/a/b");
        assert_eq!(group_name_of("arn:aws:logs:us-east-1:000000000000:log-group:/a/b"), "/a/b");
        assert_eq!(group_name_of("/a/b"), "/a/b");
        assert!(group_from(Some("a"), Some("a")).is_err());
        assert!(group_from(None, None).is_err());
        assert_eq!(group_from(None, Some("x")).ok().as_deref(), Some("x"));
    }

    #[test]
    fn batches_in_order_are_accepted() {
        let verdict = judge_batch(&events(&[NOW - 5, NOW, NOW]), NOW, None).expect("ok");
        assert_eq!(verdict.accepted, 0..3);
        assert_eq!(verdict.rejected, None);
    }

    #[test]
    fn out_of_order_batches_are_refused() {
        let error = judge_batch(&events(&[NOW, NOW - 1]), NOW, None).expect_err("refused");
        assert!(error.message.contains("chronological order"));
    }

    #[test]
    fn old_and_future_events_are_rejected_not_stored() {
        let old = NOW - MAX_EVENT_AGE_MS - 1;
        let future = NOW + MAX_EVENT_FUTURE_MS + 1;
        let verdict = judge_batch(&events(&[old, old, NOW, future]), NOW, None).expect("ok");
        assert_eq!(verdict.accepted, 2..3);
        let rejected = verdict.rejected.expect("rejections");
        assert_eq!(rejected.too_old_log_event_end_index, Some(2));
        assert_eq!(rejected.too_new_log_event_start_index, Some(3));
        assert_eq!(rejected.expired_log_event_end_index, None);
    }

    #[test]
    fn events_older_than_retention_are_expired() {
        let day = 24 * 3600 * 1000;
        let verdict = judge_batch(&events(&[NOW - 2 * day, NOW]), NOW, Some(1)).expect("ok");
        assert_eq!(verdict.accepted, 1..2);
        assert_eq!(verdict.rejected.and_then(|r| r.expired_log_event_end_index), Some(1));
    }

    #[test]
    fn limits() {
        assert!(judge_batch(&[], NOW, None).is_err());
        assert!(judge_batch(&events(&vec![NOW; MAX_BATCH_EVENTS + 1]), NOW, None).is_err());
        let big = vec![InputLogEvent { timestamp: NOW, message: "x".repeat(MAX_BATCH_BYTES) }];
        assert!(judge_batch(&big, NOW, None).is_err());
        let span = events(&[NOW - MAX_BATCH_SPAN_MS - 1, NOW]);
        assert!(judge_batch(&span, NOW, None).is_err());
        let empty = vec![InputLogEvent { timestamp: NOW, message: String::new() }];
        assert!(judge_batch(&empty, NOW, None).is_err());
    }

    #[test]
    fn times_and_filter_patterns() {
        assert!(validate_time(None, "startTime").is_ok());
        assert!(validate_time(Some(0), "startTime").is_ok());
        assert!(validate_time(Some(i64::MAX), "endTime").is_ok());
        let error = validate_time(Some(-1), "startTime").expect_err("negative");
        assert_eq!(error.code, ErrorCode::InvalidParameterException);
        assert!(error.message.contains("'startTime'"), "{}", error.message);
        assert!(validate_filter_pattern(&"é".repeat(MAX_FILTER_PATTERN_CHARS)).is_ok());
        let error = validate_filter_pattern(&"a".repeat(MAX_FILTER_PATTERN_CHARS + 1))
            .expect_err("too long");
        assert_eq!(error.code, ErrorCode::InvalidParameterException);
        assert!(error.message.contains("less than or equal to 1024"), "{}", error.message);
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        let mut text = "aé".to_string(); // 'é' is two bytes
        truncate_message(&mut text, 2);
        assert_eq!(text, "a");
        let mut short = "abc".to_string();
        truncate_message(&mut short, 10);
        assert_eq!(short, "abc");
    }
}

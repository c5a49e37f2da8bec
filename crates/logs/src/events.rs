//! PutLogEvents, GetLogEvents, FilterLogEvents.

use std::collections::HashMap;

use flotilla_api::common::decode;
use flotilla_api::logs::{
    group_from, judge_batch, page_limit, validate_filter_pattern, validate_group_name,
    validate_stream_name, validate_time, InputLogEvent, EVENT_OVERHEAD_BYTES, MAX_EVENTS_LIMIT,
    MAX_PAGE_BYTES,
};
use flotilla_api::ApiError;

use super::filter::FilterPattern;
use super::position::{Direction, EventsToken, MergePosition, Position};
use super::store::{Flow, LogsError};
use super::writer::{Append, Creation};
use super::{respond, Ctx};
use crate::wire::{
    FilterLogEventsRequest, FilterLogEventsResponse, FilteredLogEvent, GetLogEventsRequest,
    GetLogEventsResponse, OutputLogEvent, PutLogEventsRequest, PutLogEventsResponse,
    RejectedLogEventsInfo,
};

/// FilterLogEvents looks at no more events than this per call; past it, the page ends (maybe
/// empty) with a token to go on, as CloudWatch's pages do, so one call never runs unbounded.
const FILTER_SCAN_BUDGET: usize = 1_000_000;
/// Streams one FilterLogEvents call may name.
const MAX_FILTER_STREAM_NAMES: usize = 100;

pub async fn put(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: PutLogEventsRequest = decode(body)?;
    validate_group_name(&req.log_group_name, "logGroupName")?;
    validate_stream_name(&req.log_stream_name, "logStreamName")?;
    let group = req.log_group_name.clone();
    let meta = ctx.app.logs.read(move |reader| reader.group(&group)).await?;
    let meta = meta.ok_or(LogsError::GroupNotFound)?;
    let events: Vec<InputLogEvent> = req
        .log_events
        .into_iter()
        .map(|e| InputLogEvent { timestamp: e.timestamp, message: e.message })
        .collect();
    let verdict = judge_batch(&events, ctx.now_ms, meta.retention_in_days)?;
    let append = Append {
        group: req.log_group_name,
        stream: req.log_stream_name,
        events,
        accepted: verdict.accepted,
        ingestion_time: ctx.now_ms,
        create: Creation::Nothing,
    };
    let appended = ctx
        .app
        .logs
        .append(vec![append])
        .await?
        .pop()
        .ok_or_else(|| LogsError::Storage("the writer answered no append".into()))??;
    respond(&PutLogEventsResponse {
        next_sequence_token: Some(appended.sequence_token),
        rejected_log_events_info: verdict.rejected.map(|r| RejectedLogEventsInfo {
            too_new_log_event_start_index: r.too_new_log_event_start_index,
            too_old_log_event_end_index: r.too_old_log_event_end_index,
            expired_log_event_end_index: r.expired_log_event_end_index,
        }),
        rejected_entity_info: None,
    })
}

pub async fn get(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: GetLogEventsRequest = decode(body)?;
    let group = group_from(req.log_group_name.as_deref(), req.log_group_identifier.as_deref())?;
    validate_stream_name(&req.log_stream_name, "logStreamName")?;
    validate_time(req.start_time, "startTime")?;
    validate_time(req.end_time, "endTime")?;
    let limit = page_limit(req.limit, MAX_EVENTS_LIMIT, MAX_EVENTS_LIMIT)?;
    let token = req.next_token.as_deref().map(EventsToken::decode).transpose()?;
    // startTime is inclusive, endTime exclusive.
    let after = Position::before(req.start_time.unwrap_or(i64::MIN));
    let before = req.end_time.map_or(Position::END, Position::before);
    let from_end = match token {
        Some(t) => t.direction == Direction::Backward,
        None => !req.start_from_head.unwrap_or(false),
    };
    let stream = req.log_stream_name;
    let (id, events) = ctx
        .app
        .logs
        .read(move |reader| -> Result<_, ApiError> {
            reader.group(&group)?.ok_or(LogsError::GroupNotFound)?;
            let meta = reader.stream(&group, &stream)?.ok_or(LogsError::StreamNotFound)?;
            let token = token.map(|t| t.of_stream(meta.id)).transpose()?;
            let (after, before) = match token {
                Some(t) if t.direction == Direction::Forward => (after.max(t.position), before),
                Some(t) => (after, before.min(t.position)),
                None => (after, before),
            };
            Ok((meta.id, reader.events(meta.id, after, before, from_end, limit, MAX_PAGE_BYTES)?))
        })
        .await?;
    // At the end of the stream the token passed in comes back unchanged: that is how SDK and
    // CLI loops know to stop.
    let (next_forward_token, next_backward_token) = match (events.first(), events.last()) {
        (Some(first), Some(last)) => (
            EventsToken::forward(id, last.position).encode(),
            EventsToken::backward(id, first.position).encode(),
        ),
        _ => match (token, req.next_token) {
            (Some(t), Some(passed)) if t.direction == Direction::Forward => {
                (passed, EventsToken::backward(id, t.position).encode())
            }
            (Some(t), Some(passed)) => (EventsToken::forward(id, t.position).encode(), passed),
            _ => (
                EventsToken::forward(id, after).encode(),
                EventsToken::backward(id, after).encode(),
            ),
        },
    };
    let events = events
        .into_iter()
        .map(|e| OutputLogEvent {
            timestamp: Some(e.position.timestamp),
            message: Some(e.message),
            ingestion_time: Some(e.ingestion_time),
        })
        .collect();
    respond(&GetLogEventsResponse {
        events: Some(events),
        next_forward_token: Some(next_forward_token),
        next_backward_token: Some(next_backward_token),
    })
}

pub async fn filter(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: FilterLogEventsRequest = decode(body)?;
    // `interleaved` is ignored by CloudWatch itself since 2019 (results are always interleaved).
    let group = group_from(req.log_group_name.as_deref(), req.log_group_identifier.as_deref())?;
    if req.log_stream_names.is_some() && req.log_stream_name_prefix.is_some() {
        return Err(ApiError::invalid(
            "logStreamNames and logStreamNamePrefix are mutually exclusive: give one of them",
        ));
    }
    if let Some(names) = &req.log_stream_names {
        if names.is_empty() || names.len() > MAX_FILTER_STREAM_NAMES {
            return Err(ApiError::invalid(format!(
                "logStreamNames must name between 1 and {MAX_FILTER_STREAM_NAMES} streams"
            )));
        }
        for name in names {
            validate_stream_name(name, "logStreamNames")?;
        }
    }
    if let Some(prefix) = &req.log_stream_name_prefix {
        validate_stream_name(prefix, "logStreamNamePrefix")?;
    }
    validate_time(req.start_time, "startTime")?;
    validate_time(req.end_time, "endTime")?;
    let limit = page_limit(req.limit, MAX_EVENTS_LIMIT, MAX_EVENTS_LIMIT)?;
    let pattern = req.filter_pattern.as_deref().unwrap_or("");
    validate_filter_pattern(pattern)?;
    let pattern = FilterPattern::parse(pattern).map_err(|e| ApiError::invalid(e.to_string()))?;
    let match_all = pattern.matches_everything();
    let resume = req.next_token.as_deref().map(MergePosition::decode).transpose()?;
    // Both inclusive: FilterLogEvents returns events at endTime (only GetLogEvents' endTime is
    // exclusive).
    let start = req.start_time.unwrap_or(i64::MIN);
    let end = req.end_time.unwrap_or(i64::MAX);
    let (events, next_token) = ctx
        .app
        .logs
        .read(move |reader| -> Result<_, ApiError> {
            reader.group(&group)?.ok_or(LogsError::GroupNotFound)?;
            let streams = match &req.log_stream_names {
                Some(names) => {
                    let mut found = Vec::with_capacity(names.len());
                    for name in names {
                        if let Some(meta) = reader.stream(&group, name)? {
                            found.push((name.clone(), meta));
                        }
                    }
                    found
                }
                None => {
                    reader.streams(&group, req.log_stream_name_prefix.as_deref().unwrap_or(""))?
                }
            };
            let mut names = HashMap::with_capacity(streams.len());
            let mut metas = Vec::with_capacity(streams.len());
            for (name, meta) in streams {
                // A stream named twice is searched once.
                let id = meta.id;
                if names.insert(id, name).is_none() {
                    metas.push(meta);
                }
            }
            let mut events = Vec::new();
            let mut bytes = 0usize;
            let mut scanned = 0usize;
            let mut last = None;
            let complete =
                reader.merged_events(&metas, start, end, resume, |position, ingestion, raw| {
                    if scanned == FILTER_SCAN_BUDGET || events.len() == limit {
                        return Flow::Stop;
                    }
                    let message = String::from_utf8_lossy(raw);
                    if match_all || pattern.matches(&message) {
                        let size = message.len() + EVENT_OVERHEAD_BYTES;
                        if bytes + size > MAX_PAGE_BYTES && !events.is_empty() {
                            return Flow::Stop;
                        }
                        bytes += size;
                        events.push(FilteredLogEvent {
                            log_stream_name: Some(
                                names.get(&position.stream).cloned().unwrap_or_default(),
                            ),
                            timestamp: Some(position.timestamp),
                            message: Some(message.into_owned()),
                            ingestion_time: Some(ingestion),
                            event_id: Some(position.event_id()),
                        });
                    }
                    scanned += 1;
                    last = Some(position);
                    Flow::Continue
                })?;
            let next_token =
                if complete { None } else { last.or(resume).map(MergePosition::encode) };
            Ok((events, next_token))
        })
        .await?;
    respond(&FilterLogEventsResponse {
        events: Some(events),
        searched_log_streams: Some(Vec::new()),
        next_token,
    })
}

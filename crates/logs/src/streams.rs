//! CreateLogStream, DeleteLogStream, DescribeLogStreams.

use flotilla_api::common::decode;
use flotilla_api::logs::{
    group_from, page_limit, stream_arn, validate_group_name, validate_stream_name,
    MAX_DESCRIBE_LIMIT, ORDER_BY_LAST_EVENT_TIME, ORDER_BY_NAME,
};
use flotilla_api::pagination::{decode_token, encode_token};
use flotilla_api::ApiError;

use super::store::{Flow, LogsError, StreamMeta};
use super::{respond, respond_empty, Ctx};
use crate::wire::{
    CreateLogStreamRequest, DeleteLogStreamRequest, DescribeLogStreamsRequest,
    DescribeLogStreamsResponse, LogStream,
};

pub async fn create(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: CreateLogStreamRequest = decode(body)?;
    validate_group_name(&req.log_group_name, "logGroupName")?;
    validate_stream_name(&req.log_stream_name, "logStreamName")?;
    ctx.app.logs.create_stream(req.log_group_name, req.log_stream_name, ctx.now_ms).await?;
    respond_empty()
}

pub async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: DeleteLogStreamRequest = decode(body)?;
    validate_group_name(&req.log_group_name, "logGroupName")?;
    validate_stream_name(&req.log_stream_name, "logStreamName")?;
    ctx.app.logs.delete_stream(req.log_group_name, req.log_stream_name).await?;
    respond_empty()
}

pub async fn describe(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: DescribeLogStreamsRequest = decode(body)?;
    let group = group_from(req.log_group_name.as_deref(), req.log_group_identifier.as_deref())?;
    let limit = page_limit(req.limit, MAX_DESCRIBE_LIMIT, MAX_DESCRIBE_LIMIT)?;
    let by_time = match req.order_by.as_deref().unwrap_or(ORDER_BY_NAME) {
        ORDER_BY_NAME => false,
        ORDER_BY_LAST_EVENT_TIME => true,
        other => {
            return Err(ApiError::invalid(format!(
                "1 validation error detected: Value '{other}' at 'orderBy' failed to satisfy \
                 constraint: Member must satisfy enum value set: [{ORDER_BY_LAST_EVENT_TIME}, \
                 {ORDER_BY_NAME}]"
            )))
        }
    };
    let prefix = req.log_stream_name_prefix.unwrap_or_default();
    if !prefix.is_empty() {
        validate_stream_name(&prefix, "logStreamNamePrefix")?;
        if by_time {
            return Err(ApiError::invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
    }
    let descending = req.descending.unwrap_or(false);
    let after = decode_token(req.next_token.as_deref())?;
    let read_group = group.clone();
    let (page, next) = ctx
        .app
        .logs
        .read(move |reader| -> Result<_, ApiError> {
            reader.group(&read_group)?.ok_or(LogsError::GroupNotFound)?;
            if by_time {
                let streams = reader.streams(&read_group, "")?;
                Ok(by_last_event_time(streams, after.as_deref(), descending, limit))
            } else {
                let mut page = Vec::new();
                let mut more = false;
                reader.streams_by_name(
                    &read_group,
                    &prefix,
                    after.as_deref(),
                    descending,
                    |name, meta| {
                        if page.len() == limit {
                            more = true;
                            return Flow::Stop;
                        }
                        page.push((name.to_string(), meta));
                        Flow::Continue
                    },
                )?;
                let next =
                    if more { page.last().map(|(name, _)| encode_token(name)) } else { None };
                Ok((page, next))
            }
        })
        .await?;
    let log_streams = page
        .into_iter()
        .map(|(name, meta)| LogStream {
            arn: Some(stream_arn(&ctx.app.scope, &group, &name)),
            creation_time: Some(meta.creation_time),
            first_event_timestamp: meta.first_event_timestamp,
            last_event_timestamp: meta.last_event_timestamp,
            last_ingestion_time: meta.last_ingestion_time,
            upload_sequence_token: Some(meta.sequence_token()),
            // Always 0, as CloudWatch reports for streams since 2019 (groups keep a real count).
            stored_bytes: Some(0),
            log_stream_name: Some(name),
        })
        .collect();
    respond(&DescribeLogStreamsResponse { log_streams: Some(log_streams), next_token: next })
}

/// Where a stream sorts by last event time: streams without events first (last descending).
fn time_key(name: &str, meta: &StreamMeta) -> String {
    format!(
        "{:020}/{name}",
        super::position::sortable(meta.last_event_timestamp.unwrap_or(i64::MIN))
    )
}

/// Streams of one page, and the token of the next page.
type Page = (Vec<(String, StreamMeta)>, Option<String>);

/// One page of `streams` ordered by last event time (then name), after the token's key.
fn by_last_event_time(
    streams: Vec<(String, StreamMeta)>,
    after: Option<&str>,
    descending: bool,
    limit: usize,
) -> Page {
    let mut keyed: Vec<(String, (String, StreamMeta))> =
        streams.into_iter().map(|(name, meta)| (time_key(&name, &meta), (name, meta))).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    if descending {
        keyed.reverse();
    }
    let mut rest = keyed
        .into_iter()
        .filter(|(key, _)| {
            after.is_none_or(|a| if descending { key.as_str() < a } else { key.as_str() > a })
        })
        .peekable();
    let mut page = Vec::new();
    let mut last_key = None;
    while page.len() < limit {
        let Some((key, stream)) = rest.next() else { break };
        page.push(stream);
        last_key = Some(key);
    }
    let next = if rest.peek().is_some() { last_key.map(|k| encode_token(&k)) } else { None };
    (page, next)
}

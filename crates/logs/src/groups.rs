//! CreateLogGroup, DeleteLogGroup, DescribeLogGroups, PutRetentionPolicy, DeleteRetentionPolicy.

use std::collections::BTreeSet;
use std::ops::Bound;

use flotilla_api::common::decode;
use flotilla_api::logs::{
    group_arn, group_name_of, page_limit, validate_group_name, validate_group_tags,
    validate_retention, MAX_DESCRIBE_LIMIT,
};
use flotilla_api::pagination::{decode_token, encode_token};
use flotilla_api::ApiError;

use super::store::{Flow, GroupMeta};
use super::{respond, respond_empty, Ctx};
use crate::wire::{
    CreateLogGroupRequest, DeleteLogGroupRequest, DeleteRetentionPolicyRequest,
    DescribeLogGroupsRequest, DescribeLogGroupsResponse, LogGroup, PutRetentionPolicyRequest,
};

const GROUP_CLASSES: &[&str] = &["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"];

pub async fn create(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: CreateLogGroupRequest = decode(body)?;
    validate_group_name(&req.log_group_name, "logGroupName")?;
    if let Some(tags) = &req.tags {
        validate_group_tags(tags)?;
    }
    if let Some(class) = req.log_group_class.as_deref() {
        if !GROUP_CLASSES.contains(&class) {
            return Err(ApiError::invalid(format!(
                "1 validation error detected: Value '{class}' at 'logGroupClass' failed to satisfy \
                 constraint: Member must satisfy enum value set: [{}]",
                GROUP_CLASSES.join(", ")
            )));
        }
    }
    let meta = GroupMeta {
        creation_time: ctx.now_ms,
        tags: req.tags.unwrap_or_default(),
        kms_key_id: req.kms_key_id,
        log_group_class: req.log_group_class,
        ..GroupMeta::default()
    };
    ctx.app.logs.create_group(req.log_group_name, meta).await?;
    respond_empty()
}

pub async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: DeleteLogGroupRequest = decode(body)?;
    validate_group_name(&req.log_group_name, "logGroupName")?;
    ctx.app.logs.delete_group(req.log_group_name).await?;
    respond_empty()
}

pub async fn put_retention(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: PutRetentionPolicyRequest = decode(body)?;
    validate_group_name(&req.log_group_name, "logGroupName")?;
    validate_retention(req.retention_in_days)?;
    ctx.app.logs.set_retention(req.log_group_name, Some(req.retention_in_days)).await?;
    respond_empty()
}

pub async fn delete_retention(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: DeleteRetentionPolicyRequest = decode(body)?;
    validate_group_name(&req.log_group_name, "logGroupName")?;
    ctx.app.logs.set_retention(req.log_group_name, None).await?;
    respond_empty()
}

/// Which groups a DescribeLogGroups request wants, besides its page.
struct Wanted {
    prefix: String,
    pattern: Option<String>,
    names: Option<BTreeSet<String>>,
    class: Option<String>,
}

impl Wanted {
    fn admits(&self, name: &str, meta: &GroupMeta) -> bool {
        self.pattern.as_deref().is_none_or(|p| name.contains(p))
            && self.names.as_ref().is_none_or(|names| names.contains(name))
            && self
                .class
                .as_deref()
                .is_none_or(|c| meta.log_group_class.as_deref().unwrap_or("STANDARD") == c)
    }
}

pub async fn describe(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: DescribeLogGroupsRequest = decode(body)?;
    let limit = page_limit(req.limit, MAX_DESCRIBE_LIMIT, MAX_DESCRIBE_LIMIT)?;
    if req.log_group_name_prefix.is_some() && req.log_group_name_pattern.is_some() {
        return Err(ApiError::invalid(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        ));
    }
    if let Some(prefix) = req.log_group_name_prefix.as_deref() {
        validate_group_name(prefix, "logGroupNamePrefix")?;
    }
    let names = req
        .log_group_identifiers
        .map(|ids| ids.iter().map(|id| group_name_of(id).to_string()).collect::<BTreeSet<_>>());
    let after = decode_token(req.next_token.as_deref())?;
    let short = req.log_group_name_pattern.is_some();
    let wanted = Wanted {
        prefix: req.log_group_name_prefix.unwrap_or_default(),
        pattern: req.log_group_name_pattern.filter(|p| !p.is_empty()),
        names,
        class: req.log_group_class,
    };
    let (page, more) = ctx
        .app
        .logs
        .read(move |reader| -> Result<_, ApiError> {
            let start = match after.as_deref() {
                Some(a) if a >= wanted.prefix.as_str() => Bound::Excluded(a),
                _ => Bound::Included(wanted.prefix.as_str()),
            };
            let mut page = Vec::new();
            let mut more = false;
            reader.groups_from(
                start,
                |name| name.starts_with(wanted.prefix.as_str()),
                |name, meta| {
                    if !wanted.admits(name, &meta) {
                        return Flow::Continue;
                    }
                    if page.len() == limit {
                        more = true;
                        return Flow::Stop;
                    }
                    page.push((name.to_string(), meta));
                    Flow::Continue
                },
            )?;
            Ok((page, more))
        })
        .await?;
    let next_token = if more { page.last().map(|(name, _)| encode_token(name)) } else { None };
    let log_groups =
        page.into_iter().map(|(name, meta)| log_group(ctx, name, meta, short)).collect();
    respond(&DescribeLogGroupsResponse { log_groups: Some(log_groups), next_token })
}

/// A group as DescribeLogGroups shows it; `short` (a name pattern was given) shows only its
/// name, ARN and creation time, as CloudWatch does.
fn log_group(ctx: &Ctx<'_>, name: String, meta: GroupMeta, short: bool) -> LogGroup {
    let arn = group_arn(&ctx.app.scope, &name);
    if short {
        return LogGroup {
            arn: Some(format!("{arn}:*")),
            creation_time: Some(meta.creation_time),
            log_group_name: Some(name),
            ..LogGroup::default()
        };
    }
    LogGroup {
        arn: Some(format!("{arn}:*")),
        log_group_arn: Some(arn),
        creation_time: Some(meta.creation_time),
        retention_in_days: meta.retention_in_days,
        metric_filter_count: Some(0),
        stored_bytes: Some(meta.stored_bytes),
        kms_key_id: meta.kms_key_id,
        log_group_class: Some(meta.log_group_class.unwrap_or_else(|| "STANDARD".into())),
        log_group_name: Some(name),
        ..LogGroup::default()
    }
}

//! Reading request bodies within a limit: refused from the declared length when it is too
//! large, and never read past the limit otherwise.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};

use crate::error::WireError;

/// Bodies up to this size are read once every body-free check has passed.
pub const COMMON_BODY_LIMIT: usize = 1024 * 1024;

/// The body's declared length (`Content-Length`), if any.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// Reads the body, refusing (without reading it whole) anything over `limit` bytes.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, WireError> {
    if declared_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(WireError::too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(WireError::too_large(limit))
        }
        Err(error) => {
            Err(WireError::serialization(format!("cannot read the request body: {error}")))
        }
    }
}

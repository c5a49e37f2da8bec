//! AWS JSON 1.0 and 1.1: answers as the body given, errors as `{"__type", "message"}` with
//! `x-amzn-errortype`, and `x-amzn-query-error` for `awsQueryCompatible` models.

use axum::http::HeaderValue;
use axum::response::Response;

use super::{response, JsonVersion};
use crate::error::WireError;

pub fn success(version: JsonVersion, body: Vec<u8>) -> Response {
    response(200, version.content_type(), body)
}

pub fn failure(version: JsonVersion, error: &WireError, query_compatible: bool) -> Response {
    let body = serde_json::json!({ "__type": error.code, "message": error.message });
    let mut r = response(error.status, version.content_type(), body.to_string());
    let headers = r.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&error.code) {
        headers.insert("x-amzn-errortype", value);
    }
    if query_compatible {
        headers.insert("x-amzn-query-error", query_error_header(error));
    }
    r
}

/// `<query code>;<fault>`, the header SDKs of `awsQueryCompatible` models map errors by.
pub fn query_error_header(error: &WireError) -> HeaderValue {
    HeaderValue::from_str(&format!("{};{}", error.query_code(), error.fault.as_str()))
        .unwrap_or_else(|_| HeaderValue::from_static("InternalFailure;Receiver"))
}

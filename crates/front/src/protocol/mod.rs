//! The AWS protocols spoken at the door: how a request is recognised and decoded, and how an
//! answer or an error is written so that botocore and the SDKs parse it.

pub mod cbor;
pub mod json;
pub mod query;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

/// The wire protocol of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS JSON 1.0 or 1.1: `POST /`, `X-Amz-Target: <prefix>.<Operation>`.
    Json(JsonVersion),
    /// The query protocol: `Action` and `Version` in a form body or the query string, XML answers.
    Query,
    /// botocore's `ec2` protocol: query input, EC2's own XML answers and errors.
    Ec2,
    /// Smithy RPC v2 CBOR: `POST /service/<Service>/operation/<Operation>`.
    RpcV2Cbor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonVersion {
    V1_0,
    V1_1,
}

impl JsonVersion {
    pub fn content_type(self) -> &'static str {
        match self {
            JsonVersion::V1_0 => "application/x-amz-json-1.0",
            JsonVersion::V1_1 => "application/x-amz-json-1.1",
        }
    }
}

/// A response with `status`, `content_type` and `body`.
pub(crate) fn response(status: u16, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

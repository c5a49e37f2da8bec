//! The HTTP front. Routes: `GET /healthz`; `POST /` for AWS JSON 1.1 requests (ECS and
//! CloudWatch Logs), told apart by the `X-Amz-Target` prefix, authenticated with SigV4, then
//! handed to the service's dispatcher; the agent routes, authenticated with the agent token:
//! `GET /v1/agent/connect` (the agent's WebSocket, `gateway.rs`) and `POST /v1/agent/logs`
//! (container output, `logs/ingest.rs`).

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use flotilla_api::{ApiError, ErrorCode};
use http_body_util::{BodyExt, Limited};

use crate::sigv4::{self, SignedRequest};
use crate::{ecs, logs, App, MAX_BODY_BYTES};

const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// A JSON-protocol service served on this endpoint: its target prefix, SigV4 service name and
/// largest request body.
struct JsonService {
    target_prefix: &'static str,
    signing_name: &'static str,
    max_body_bytes: usize,
    kind: ServiceKind,
}

#[derive(Clone, Copy)]
enum ServiceKind {
    Ecs,
    Logs,
}

/// The dispatch table. Later services (Application Auto Scaling, ...) are rows.
const SERVICES: &[JsonService] = &[
    JsonService {
        target_prefix: "AmazonEC2ContainerServiceV20141113.",
        signing_name: "ecs",
        max_body_bytes: MAX_BODY_BYTES,
        kind: ServiceKind::Ecs,
    },
    JsonService {
        target_prefix: "Logs_20140328.",
        signing_name: "logs",
        // A full PutLogEvents batch is 1 MiB of messages; JSON escaping can make its body
        // several times larger.
        max_body_bytes: 8 * 1024 * 1024,
        kind: ServiceKind::Logs,
    },
];

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(flotilla_api::agent::CONNECT_PATH, get(crate::gateway::connect))
        .route(flotilla_api::agent::LOGS_PATH, post(logs::ingest::receive))
        .fallback(handle)
        .with_state(app)
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let result = handle_api(&app, request).await;
    let mut response = match result {
        Ok(body) => {
            let mut r = Response::new(Body::from(body));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
            r
        }
        Err(error) => error_response(&error),
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

fn error_response(error: &ApiError) -> Response {
    if matches!(error.code, ErrorCode::ServerException | ErrorCode::ServiceUnavailableException) {
        tracing::error!(message = %error.message, "request failed with a server error");
    }
    let status =
        StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, error.to_body()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    headers.insert("x-amzn-errortype", HeaderValue::from_static(error.code.as_str()));
    response
}

async fn handle_api(app: &App, request: Request) -> Result<Vec<u8>, ApiError> {
    let (parts, body) = request.into_parts();
    if parts.method != axum::http::Method::POST || parts.uri.path() != "/" {
        return Err(ApiError::new(
            ErrorCode::UnknownOperationException,
            format!(
                "no operation at {} {}: AWS JSON requests are POST /",
                parts.method,
                parts.uri.path()
            ),
        ));
    }
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(service) = SERVICES.iter().find(|s| target.starts_with(s.target_prefix)) else {
        return Err(ApiError::new(
            ErrorCode::UnknownOperationException,
            format!("unknown X-Amz-Target '{target}'"),
        ));
    };
    let operation = &target[service.target_prefix.len()..];
    let body = read_body(&parts.headers, body, service.max_body_bytes).await?;

    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())
        })
        .collect();
    let signed = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    let now = SystemTime::now();
    let caller = sigv4::verify(&signed, &app.scope.region, service.signing_name, now, |id| {
        app.credentials.secret_for(id)
    })?;
    tracing::debug!(operation, access_key_id = %caller.access_key_id, "request");

    match service.kind {
        ServiceKind::Ecs => ecs::dispatch(app, operation, &body, now).await,
        ServiceKind::Logs => logs::dispatch(app, operation, &body, now).await,
    }
}

/// Reads the body, refusing (without reading it whole) anything over `limit` bytes.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::RequestEntityTooLargeException,
            format!("request body is larger than the {limit}-byte limit"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(error) => Err(ApiError::new(
            ErrorCode::SerializationException,
            format!("cannot read the request body: {error}"),
        )),
    }
}

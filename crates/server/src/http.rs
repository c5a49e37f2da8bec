//! The HTTP front. Routes: `GET /healthz`; `GET /metrics` (Prometheus text, no auth); `POST /`
//! for AWS JSON requests (ECS and CloudWatch Logs in JSON 1.1, CloudWatch metrics in JSON 1.0),
//! told apart by the `X-Amz-Target` prefix, authenticated with SigV4, then handed to the
//! service's dispatcher — or, with a form body and no target, CloudWatch's query protocol, and
//! at `POST /service/GraniteServiceVersion20100801/operation/<Op>` its Smithy RPC v2 CBOR
//! (`metrics/cloudwatch/protocol.rs`). Every answer is counted in the API request metrics. The
//! agent routes, authenticated with the agent token:
//! `GET /v1/agent/connect` (the agent's WebSocket, `gateway.rs`) and `POST /v1/agent/logs`
//! (container output, `logs/ingest.rs`).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use flotilla_api::{ApiError, ErrorCode};
use http_body_util::{BodyExt, Limited};

use crate::metrics::cloudwatch;
use crate::metrics::Call;
use crate::sigv4::{self, SignedRequest};
use crate::{ecs, logs, App, MAX_BODY_BYTES};

const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// A JSON-protocol service served on this endpoint: its target prefix, SigV4 service name,
/// largest request body and content type (its AWS JSON version).
struct JsonService {
    target_prefix: &'static str,
    signing_name: &'static str,
    max_body_bytes: usize,
    content_type: &'static str,
    kind: ServiceKind,
}

#[derive(Clone, Copy)]
enum ServiceKind {
    Ecs,
    Logs,
    /// CloudWatch metrics: AWS JSON 1.0, errors also carry their query-protocol code
    /// (`x-amzn-query-error`, the model is `awsQueryCompatible`).
    Metrics,
}

/// The dispatch table. Later services (Application Auto Scaling, ...) are rows.
const SERVICES: &[JsonService] = &[
    JsonService {
        target_prefix: "AmazonEC2ContainerServiceV20141113.",
        signing_name: "ecs",
        max_body_bytes: MAX_BODY_BYTES,
        content_type: JSON_CONTENT_TYPE,
        kind: ServiceKind::Ecs,
    },
    JsonService {
        target_prefix: "Logs_20140328.",
        signing_name: "logs",
        // A full PutLogEvents batch is 1 MiB of messages; JSON escaping can make its body
        // several times larger.
        max_body_bytes: 8 * 1024 * 1024,
        content_type: JSON_CONTENT_TYPE,
        kind: ServiceKind::Logs,
    },
    JsonService {
        target_prefix: "GraniteServiceVersion20100801.",
        signing_name: cloudwatch::protocol::SIGNING_NAME,
        max_body_bytes: MAX_BODY_BYTES,
        content_type: "application/x-amz-json-1.0",
        kind: ServiceKind::Metrics,
    },
];

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(crate::metrics::scrape))
        .route(flotilla_api::agent::CONNECT_PATH, get(crate::gateway::connect))
        .route(flotilla_api::agent::LOGS_PATH, post(logs::ingest::receive))
        .route(flotilla_api::agent::LOG_GROUPS_PATH, post(logs::ingest::missing_groups))
        .fallback(handle)
        .with_state(app)
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut call = Call::default();
    let mut response = if cloudwatch::protocol::is_query(&request) {
        cloudwatch::protocol::serve_query(&app, request, &request_id, &mut call).await
    } else if cloudwatch::protocol::is_cbor(&request) {
        cloudwatch::protocol::serve_cbor(&app, request, &mut call).await
    } else {
        let result = handle_api(&app, request, &mut call).await;
        let service = SERVICES.iter().find(|s| s.signing_name == call.service);
        match result {
            Ok(body) => {
                let content_type = service.map_or(JSON_CONTENT_TYPE, |s| s.content_type);
                let mut r = Response::new(Body::from(body));
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                r
            }
            Err(error) => error_response(&error, service),
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    app.metrics.requests.observe(&call, response.status().as_u16(), started.elapsed());
    response
}

fn error_response(error: &ApiError, service: Option<&JsonService>) -> Response {
    if matches!(error.code, ErrorCode::ServerException | ErrorCode::ServiceUnavailableException) {
        tracing::error!(message = %error.message, "request failed with a server error");
    }
    let status =
        StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, error.to_body()).into_response();
    let headers = response.headers_mut();
    let content_type = service.map_or(JSON_CONTENT_TYPE, |s| s.content_type);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-amzn-errortype", HeaderValue::from_static(error.code.as_str()));
    if service.is_some_and(|s| matches!(s.kind, ServiceKind::Metrics)) {
        headers.insert("x-amzn-query-error", cloudwatch::protocol::query_error_header(error.code));
    }
    response
}

async fn handle_api(app: &App, request: Request, call: &mut Call) -> Result<Vec<u8>, ApiError> {
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
    call.service = service.signing_name;
    call.operation = operation.to_string();
    let limit = body_allowance(app, &parts.headers, service)?;
    let body = read_body(&parts.headers, body, limit).await?;
    let now = SystemTime::now();
    authenticate(app, &parts, &body, service.signing_name, now)?;
    tracing::debug!(operation, "request");

    let result = match service.kind {
        ServiceKind::Ecs => ecs::dispatch(app, operation, &body, now).await,
        ServiceKind::Logs => logs::dispatch(app, operation, &body, now).await,
        ServiceKind::Metrics => cloudwatch::dispatch_json(app, operation, &body, now),
    };
    call.recognized = !matches!(&result, Err(e) if e.code == ErrorCode::UnknownOperationException);
    result
}

/// How much body to read before the signature can be checked. A service's allowance past the
/// common 1 MiB (CloudWatch Logs' 8 MiB) is only for requests whose SigV4 `Authorization` names
/// this server's access key; others are read up to 1 MiB (then refused by the signature
/// check), and one without any `Authorization` is refused unread, as the check would.
fn body_allowance(
    app: &App,
    headers: &HeaderMap,
    service: &JsonService,
) -> Result<usize, ApiError> {
    if service.max_body_bytes <= MAX_BODY_BYTES {
        return Ok(service.max_body_bytes);
    }
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::new(
            ErrorCode::MissingAuthenticationTokenException,
            "Missing Authentication Token",
        ));
    };
    let known_key = authorization
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("AWS4-HMAC-SHA256"))
        .and_then(|v| v.split(',').find_map(|part| part.trim().strip_prefix("Credential=")))
        .and_then(|credential| credential.split('/').next())
        .is_some_and(|key| app.credentials.secret_for(key).is_some());
    Ok(if known_key { service.max_body_bytes } else { MAX_BODY_BYTES })
}

/// Verifies the request's SigV4 signature for service `signing_name`.
pub(crate) fn authenticate(
    app: &App,
    parts: &Parts,
    body: &[u8],
    signing_name: &str,
    now: SystemTime,
) -> Result<(), ApiError> {
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
        body,
    };
    let caller = sigv4::verify(&signed, &app.scope.region, signing_name, now, |id| {
        app.credentials.secret_for(id)
    })?;
    tracing::debug!(signing_name, access_key_id = %caller.access_key_id, "authenticated");
    Ok(())
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

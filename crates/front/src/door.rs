//! The request pipeline every AWS API call goes through: recognise the protocol and service
//! from the head, authenticate (all body-free checks before a byte of the body is read),
//! read the body within the service's limit, verify the signature, ask the authorizer, call
//! the service, write its answer or error in the request's protocol, count the request.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method};
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::authorize::{Action, Authorizer};
use crate::body::{declared_length, read_limited};
use crate::caller::KeyStore;
use crate::error::WireError;
use crate::protocol::{cbor, json, query, JsonVersion, Protocol};
use crate::regions::ServedRegions;
use crate::service::{Input, Registered, Registry, Reply, ServiceRequest};
use crate::sigv4::{self, Expected, Presented, RequestHead};

/// The size up to which bodies are read once every body-free check has passed (kept in
/// `body.rs`, which the service table reads too).
pub use crate::body::COMMON_BODY_LIMIT;
/// What all bodies past [`COMMON_BODY_LIMIT`] may hold at once while their signature cannot be
/// checked yet (the signature covers the body): a known key id cannot make the server buffer
/// more than this in unverified bodies.
pub const LARGE_BODY_BUDGET: usize = 64 * 1024 * 1024;
const BUDGET_UNIT: usize = 1024;
/// A request's body must arrive whole within this long of its head (a trickled body cannot hold
/// a connection, nor a share of the large-body budget).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a request past [`COMMON_BODY_LIMIT`] waits for room in the large-body budget.
const BUDGET_WAIT: Duration = Duration::from_secs(10);
/// Where Smithy RPC v2 requests go: `/service/<Service>/operation/<Operation>`.
const CBOR_PREFIX: &str = "/service/";

/// What the door learned about a request, for the request metrics.
#[derive(Debug, Default, Clone)]
pub struct Call {
    /// The service's signing name; empty when no service was found.
    pub service: &'static str,
    /// The operation as the client named it.
    pub operation: String,
    /// The service answered something other than "unknown operation".
    pub recognized: bool,
}

/// Told of every answered API request.
pub trait Observer: Send + Sync {
    fn observe(&self, call: &Call, status: u16, elapsed: Duration);
}

/// The door: the registry of services, the key store, the authorizer and the observer.
pub struct FrontDoor {
    regions: ServedRegions,
    registry: Registry,
    keys: Arc<dyn KeyStore>,
    authorizer: Arc<dyn Authorizer>,
    observer: Arc<dyn Observer>,
    large_bodies: Semaphore,
}

/// Where a request goes, decided from its head.
struct Route<'r> {
    protocol: Protocol,
    service: Option<&'r Registered>,
    /// Known from the head for JSON (`X-Amz-Target`) and CBOR (the path); from the parameters
    /// for query requests.
    operation: Option<String>,
}

impl FrontDoor {
    pub fn new(
        regions: ServedRegions,
        registry: Registry,
        keys: Arc<dyn KeyStore>,
        authorizer: Arc<dyn Authorizer>,
        observer: Arc<dyn Observer>,
    ) -> FrontDoor {
        let permits = u32::try_from(LARGE_BODY_BUDGET / BUDGET_UNIT).unwrap_or(u32::MAX);
        FrontDoor {
            regions,
            registry,
            keys,
            authorizer,
            observer,
            large_bodies: Semaphore::new(permits as usize),
        }
    }

    /// Serves one AWS API request.
    pub async fn handle(&self, request: Request) -> Response {
        let started = Instant::now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let (parts, body) = request.into_parts();
        let route = self.route(&parts);
        let mut call = Call {
            service: route.service.map_or("", |r| r.spec.signing_name),
            operation: route.operation.clone().unwrap_or_default(),
            recognized: false,
        };
        let result = self.serve(&route, parts, body, &request_id, &mut call).await;
        let operation = call.operation.as_str();
        let mut response = match result {
            Ok(reply) => render(&route, operation, reply, &request_id),
            Err(error) => {
                if error.status >= 500 {
                    tracing::error!(%error, operation, "request failed with a server error");
                }
                render_error(&route, &error, &request_id)
            }
        };
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-amzn-requestid", value);
        }
        self.observer.observe(&call, response.status().as_u16(), started.elapsed());
        response
    }

    fn route(&self, parts: &Parts) -> Route<'_> {
        let headers = &parts.headers;
        let path = parts.uri.path();
        let query = parts.uri.query().unwrap_or("");
        let post_root = parts.method == Method::POST && path == "/";
        if let (true, Some(target)) = (post_root, headers.get("x-amz-target")) {
            let target = target.to_str().unwrap_or("");
            return match self.registry.by_target(target) {
                Some((service, operation)) => Route {
                    protocol: Protocol::Json(service.spec.json.map_or(JsonVersion::V1_1, |j| j.1)),
                    service: Some(service),
                    operation: Some(operation.to_string()),
                },
                None => Route {
                    protocol: Protocol::Json(JsonVersion::V1_1),
                    service: None,
                    operation: Some(target.to_string()),
                },
            };
        }
        if parts.method == Method::POST {
            if let Some(rest) = path.strip_prefix(CBOR_PREFIX) {
                let (name, operation) = rest.split_once("/operation/").unwrap_or((rest, ""));
                return Route {
                    protocol: Protocol::RpcV2Cbor,
                    service: self.registry.by_cbor_name(name),
                    operation: Some(operation.to_string()),
                };
            }
        }
        let form_body = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let action_in_query = query.split('&').any(|p| p.starts_with("Action="));
        if path == "/" && ((parts.method == Method::POST && form_body) || action_in_query) {
            // A query request names its service only in its parameters' Version (body or query
            // string) and in its credential scope: the scope picks the service, the Version is
            // checked once the body is verified.
            let scoped = signature_scope(parts);
            let service = scoped.as_deref().and_then(|s| self.registry.by_signing_name(s));
            let protocol = match service.and_then(|s| s.spec.query) {
                Some(q) if q.ec2 => Protocol::Ec2,
                _ => Protocol::Query,
            };
            return Route {
                protocol,
                service: service.filter(|s| s.spec.query.is_some()),
                operation: None,
            };
        }
        Route { protocol: Protocol::Json(JsonVersion::V1_1), service: None, operation: None }
    }

    async fn serve(
        &self,
        route: &Route<'_>,
        parts: Parts,
        body: Body,
        request_id: &str,
        call: &mut Call,
    ) -> Result<Reply, WireError> {
        let Some(registered) = route.service else {
            return Err(self.no_service(route, &parts));
        };
        let spec = &registered.spec;
        let now = SystemTime::now();
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(n, v)| {
                (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())
            })
            .collect();
        let head = RequestHead {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &headers,
        };
        let presented = Presented::parse(&head)?.ok_or_else(WireError::missing_token)?;
        let expected = Expected { regions: &self.regions, service: spec.signing_name };
        let pending = sigv4::check(presented, &head, expected, now, self.keys.as_ref())?;
        let (caller, body, _budget) = match pending.declared_payload_hash().map(str::to_string) {
            Some(hash) => {
                let caller = pending.finish(&hash)?;
                let body = read_in_time(&parts, body, spec.max_body_bytes).await?;
                sigv4::body_matches(&hash, &body)?;
                (caller, body, None)
            }
            None => {
                let (body, budget) =
                    self.read_unverified(&parts, body, spec.max_body_bytes).await?;
                (pending.finish(&sigv4::payload_hash(&body))?, body, budget)
            }
        };
        tracing::debug!(service = spec.signing_name, access_key_id = %caller.access_key_id, "authenticated");

        let (operation, input) = match route.protocol {
            Protocol::Json(_) => (route.operation.clone().unwrap_or_default(), Input::Json(body)),
            // Decoded by the service once it knows the operation (an unknown operation is
            // answered as such whatever its body).
            Protocol::RpcV2Cbor => (route.operation.clone().unwrap_or_default(), Input::Cbor(body)),
            Protocol::Query | Protocol::Ec2 => {
                let params = query::parse(&[&body, head.query.as_bytes()])?;
                let action = params.action.ok_or_else(|| WireError::missing_parameter("Action"))?;
                call.operation.clone_from(&action);
                let wanted = spec.query.map_or("", |q| q.version);
                if params.version.as_deref() != Some(wanted) {
                    return Err(WireError::unknown_operation(format!(
                        "no query-protocol API of Version '{}' signs as '{}' here ({} is {wanted})",
                        params.version.unwrap_or_default(),
                        spec.signing_name,
                        spec.signing_name
                    )));
                }
                (action, Input::Params(params.input))
            }
        };
        let source_ip = parts.extensions.get::<crate::listener::PeerAddr>().map(|p| p.0.ip());
        let action = Action {
            service: spec.signing_name,
            operation: &operation,
            input: &input,
            source_ip,
            now,
        };
        self.authorizer.authorize(&caller, &action)?;
        let host = parts.headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok());
        let request =
            ServiceRequest { caller: &caller, operation: &operation, input, now, request_id, host };
        let result = registered.service.call(request).await;
        call.recognized = !matches!(&result, Err(e) if e.is_unknown_operation());
        result
    }

    /// Reads a body whose signature can only be checked once it is read: up to
    /// [`COMMON_BODY_LIMIT`] freely, past it within the shared [`LARGE_BODY_BUDGET`].
    async fn read_unverified(
        &self,
        parts: &Parts,
        body: Body,
        limit: usize,
    ) -> Result<(Bytes, Option<SemaphorePermit<'_>>), WireError> {
        let size = declared_length(&parts.headers).map_or(limit, |n| n.min(limit as u64) as usize);
        let budget = if size > COMMON_BODY_LIMIT {
            let units = u32::try_from(size.div_ceil(BUDGET_UNIT)).unwrap_or(u32::MAX);
            let permit = tokio::time::timeout(BUDGET_WAIT, self.large_bodies.acquire_many(units))
                .await
                .map_err(|_| {
                    WireError::new(
                        "ThrottlingException",
                        400,
                        "Too many large requests are being received at once; retry shortly.",
                    )
                    .with_query_code("Throttling")
                })?
                .map_err(|_| WireError::internal("the large-body budget is closed"))?;
            Some(permit)
        } else {
            None
        };
        let body = read_in_time(parts, body, limit).await?;
        Ok((body, budget))
    }

    fn no_service(&self, route: &Route<'_>, parts: &Parts) -> WireError {
        match route.protocol {
            Protocol::Json(_) if parts.headers.contains_key("x-amz-target") => {
                WireError::unknown_operation(format!(
                    "unknown X-Amz-Target '{}'",
                    route.operation.as_deref().unwrap_or("")
                ))
            }
            Protocol::RpcV2Cbor => WireError::unknown_operation(format!(
                "no Smithy RPC v2 service at {}",
                parts.uri.path()
            )),
            Protocol::Query | Protocol::Ec2 => match signature_scope(parts) {
                None => WireError::missing_token(),
                Some(scope) => WireError::unknown_operation(format!(
                    "no query-protocol API signs as '{scope}' here"
                )),
            },
            Protocol::Json(_) => WireError::unknown_operation(format!(
                "no operation at {} {}: AWS JSON requests are POST /",
                parts.method,
                parts.uri.path()
            )),
        }
    }
}

/// The body within `limit` bytes and [`BODY_TIMEOUT`].
async fn read_in_time(parts: &Parts, body: Body, limit: usize) -> Result<Bytes, WireError> {
    tokio::time::timeout(BODY_TIMEOUT, read_limited(&parts.headers, body, limit)).await.map_err(
        |_| {
            WireError::new(
                "RequestTimeoutException",
                408,
                format!(
                    "The request body did not arrive within {} seconds.",
                    BODY_TIMEOUT.as_secs()
                ),
            )
            .with_query_code("RequestTimeout")
        },
    )?
}

/// The service named by the request's credential scope (`Authorization` or
/// `X-Amz-Credential`), read without verifying anything.
fn signature_scope(parts: &Parts) -> Option<String> {
    let credential = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|p| p.trim().split_once("Credential=").map(|(_, c)| c.to_string()))
        })
        .or_else(|| {
            parts.uri.query().unwrap_or("").split('&').find_map(|p| {
                p.strip_prefix("X-Amz-Credential=")
                    .map(|c| c.replace("%2F", "/").replace("%2f", "/"))
            })
        })?;
    credential.split('/').nth(3).map(str::to_string)
}

fn render(route: &Route<'_>, operation: &str, reply: Reply, request_id: &str) -> Response {
    let spec = route.service.map(|r| &r.spec);
    match (route.protocol, reply) {
        (Protocol::Json(version), Reply::Json(bytes)) => json::success(version, bytes),
        (Protocol::Json(version), Reply::Document(d)) => {
            json::success(version, d.to_json().to_string().into_bytes())
        }
        (Protocol::RpcV2Cbor, Reply::Document(d)) => cbor::success(&d),
        (Protocol::Query, Reply::Document(d)) => {
            let ns = spec.and_then(|s| s.query).map_or("", |q| q.xml_namespace);
            query::success(operation, ns, &d, request_id)
        }
        (Protocol::Ec2, Reply::Document(d)) => {
            let ns = spec.and_then(|s| s.query).map_or("", |q| q.xml_namespace);
            query::ec2_success(operation, ns, &d, request_id)
        }
        (_, Reply::Json(_)) => render_error(
            route,
            &WireError::internal("the service answered in JSON a request of another protocol"),
            request_id,
        ),
    }
}

fn render_error(route: &Route<'_>, error: &WireError, request_id: &str) -> Response {
    let spec = route.service.map(|r| &r.spec);
    let query_compatible = spec.is_some_and(|s| s.query_compatible);
    match route.protocol {
        Protocol::Json(version) => json::failure(version, error, query_compatible),
        Protocol::RpcV2Cbor => {
            let ns = spec.and_then(|s| s.cbor).map_or("smithy.framework", |c| c.shape_namespace);
            cbor::failure(error, ns, query_compatible)
        }
        Protocol::Query => {
            let ns = spec.and_then(|s| s.query).map_or("", |q| q.xml_namespace);
            query::failure(error, ns, request_id)
        }
        Protocol::Ec2 => query::ec2_failure(error, request_id),
    }
}

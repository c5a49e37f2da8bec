//! Who is at the agent door. A new agent presents the join token and may only register a new
//! container instance; registration issues the instance its own credential, which every later
//! connection, log batch and log-group query of that agent presents instead. The server keeps
//! only the credential's SHA-256; an instance can never be claimed with the join token.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use flotilla_api::agent::parse_instance_credential;
use flotilla_api::status::InstanceStatus;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::App;

/// A verified agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentIdentity {
    /// Holds the join token: may register a new instance.
    Joining,
    /// Holds the credential of this instance.
    Instance { cluster: String, id: String },
}

/// The agent presenting `headers`' bearer, if it is one.
pub fn identify(app: &App, headers: &HeaderMap) -> Option<AgentIdentity> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    if let Some((cluster, id, secret)) = parse_instance_credential(bearer) {
        let state = app.state.read();
        let record = state.instance(cluster, id)?;
        // A deregistered instance's agent is done: its credential opens nothing any more.
        if record.instance.status == InstanceStatus::Inactive {
            return None;
        }
        let stored = record.credential_hash.as_deref()?;
        let presented = credential_hash(secret);
        return bool::from(presented.as_bytes().ct_eq(stored.as_bytes()))
            .then(|| AgentIdentity::Instance { cluster: cluster.to_string(), id: id.to_string() });
    }
    let joins = app.join_token.as_deref().is_some_and(|token| {
        !bearer.is_empty() && bool::from(bearer.as_bytes().ct_eq(token.as_bytes()))
    });
    joins.then_some(AgentIdentity::Joining)
}

/// The hash the server keeps of an instance credential's secret.
pub fn credential_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new instance secret: 256 random bits in hex.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The answer to an agent request without a valid join token or instance credential.
pub fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        "invalid agent credential: a new agent joins with the server's <data-dir>/agent-token; a joined agent uses the credential in its state file\n",
    )
        .into_response()
}

/// The answer to an agent request that needs an instance credential but came with the join
/// token.
pub fn instance_credential_required() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this route takes an instance credential (issued at registration), not the join token\n",
    )
        .into_response()
}

/// An instance's JSON request (log batches, log-group queries, a drain): its instance
/// credential checked first, then at most `limit` bytes read and decoded. Refusals are
/// plain-text answers (401, 403, 413, 400) the caller prints. Ok: the instance's cluster and
/// id, and the request.
pub(crate) async fn instance_request<T: serde::de::DeserializeOwned>(
    app: &App,
    request: axum::extract::Request,
    limit: usize,
    what: &str,
) -> Result<(String, String, T), Response> {
    let (parts, body) = request.into_parts();
    let (cluster, id) = match identify(app, &parts.headers) {
        Some(AgentIdentity::Instance { cluster, id }) => (cluster, id),
        Some(AgentIdentity::Joining) => return Err(instance_credential_required()),
        None => {
            tracing::warn!("agent {what} refused: wrong or missing agent credential");
            return Err(unauthorized());
        }
    };
    let body =
        flotilla_front::body::read_limited(&parts.headers, body, limit).await.map_err(|error| {
            let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, format!("{}\n", error.message)).into_response()
        })?;
    let decoded = serde_json::from_slice(&body).map_err(|error| {
        (StatusCode::BAD_REQUEST, format!("malformed {what}: {error}\n")).into_response()
    })?;
    Ok((cluster, id, decoded))
}

/// A JSON answer to an agent.
pub(crate) fn json_reply(reply: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(reply) {
        Ok(json) => {
            let mut response = Response::new(axum::body::Body::from(json));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response(),
    }
}

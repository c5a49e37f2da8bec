//! ECS's container credentials endpoint: `GET http://169.254.170.2/v2/credentials/...` answers
//! the role credentials of the task whose containers were told
//! `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, in the shape the AWS SDKs read.
//!
//! The address is put on a device of its own (`flcreds0`, a dummy or an empty bridge), the one
//! address outside loopback the agent configures: containers reach it through their default
//! route to this host, with no NAT rule. Several agents (of one server or of several) may share a machine, so
//! each serves its own tasks on a port of its own on that address (kept in its state file, so
//! running containers' URIs survive a restart), and the relative URI names that port:
//! `/v2/credentials/<port>/<id>`. Port 80 is held by whichever agent binds it first, and only
//! forwards each request to the port its path names; the others keep trying to bind it, so one
//! takes over when the holder stops. The last agent to stop removes the device.
//!
//! The id is the server's (`flotilla_ecs::task_roles`): the server resolves it
//! (`POST /v1/agent/task-credentials`) and credentials are kept in memory only, until a quarter
//! of an hour before they expire.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use flotilla_api::agent::{
    ServerAddress, TaskCredentials, TaskCredentialsRequest, TASK_CREDENTIALS_PATH,
};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::watch;

use crate::credential::AgentCredential;
use crate::logs::ship::{exchange, http_client, HttpClient};

/// Where containers find the endpoint (ECS's address).
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);
/// ECS's port, forwarded by one agent of the machine to the others.
pub const PORT: u16 = 80;
/// The dummy device that holds the address.
const DEVICE: &str = "flcreds0";
/// How often an agent that does not hold port 80 tries to (a bind is one system call): the
/// machine's containers wait no longer than this for another agent to take over.
const RETRY: Duration = Duration::from_millis(250);
/// Credentials this close to expiring are fetched again.
const REFRESH_BEFORE: u64 = 15 * 60;
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum CredentialsEndpointError {
    #[error("cannot put {ADDRESS} on {DEVICE}: {0}")]
    Device(String),
    #[error("cannot listen on {ADDRESS}:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
}

/// The endpoint of this agent: its port, and the way to stop it.
pub struct CredentialsEndpoint {
    pub port: u16,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    resolver: Arc<Resolver>,
}

struct Resolver {
    url: String,
    credential: Arc<AgentCredential>,
    client: HttpClient,
    port: u16,
    /// id -> credentials and their expiry (epoch seconds).
    cache: Mutex<HashMap<String, (TaskCredentials, u64)>>,
    /// This agent's tasks, once its engine runs: an id of none of its running tasks gets
    /// nothing, even while its credentials are cached (a stopped task's id is dead at once).
    tasks: std::sync::OnceLock<crate::engine::Engine>,
}

impl CredentialsEndpoint {
    /// Puts the address up and listens on `port` (the one saved, or any free one), then tries
    /// for port 80 in the background.
    pub async fn start(
        server: &ServerAddress,
        credential: Arc<AgentCredential>,
        port: Option<u16>,
    ) -> Result<CredentialsEndpoint, CredentialsEndpointError> {
        let wanted = port.unwrap_or(0);
        let mut attempts = 0;
        let listener = loop {
            device_up().await.map_err(CredentialsEndpointError::Device)?;
            match TcpListener::bind(SocketAddrV4::new(ADDRESS, wanted)).await {
                Ok(listener) => break listener,
                // The device went between the two steps (the last agent of the machine was
                // stopping): make it again.
                Err(source)
                    if source.kind() == std::io::ErrorKind::AddrNotAvailable && attempts < 5 =>
                {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // The saved port taken by something else: running tasks' URIs name it.
                Err(source) => return Err(CredentialsEndpointError::Bind { port: wanted, source }),
            }
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(wanted);
        let resolver = Arc::new(Resolver {
            url: server.route(TASK_CREDENTIALS_PATH),
            credential,
            client: http_client(),
            port,
            cache: Mutex::new(HashMap::new()),
            tasks: std::sync::OnceLock::new(),
        });
        let (stop, stopping) = watch::channel(false);
        let own = Router::new()
            .route("/v2/credentials/{port}/{*id}", get(credentials))
            .with_state(Arc::clone(&resolver));
        let mut until = stopping.clone();
        let serve_own = tokio::spawn(async move {
            let shutdown = async move {
                let _ = until.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, own).with_graceful_shutdown(shutdown).await {
                tracing::warn!(%error, "the container credentials endpoint stopped");
            }
        });
        let forward = tokio::spawn(hold_port_80(stopping));
        tracing::info!(%ADDRESS, port, "container credentials endpoint listening");
        Ok(CredentialsEndpoint { port, stop, tasks: vec![serve_own, forward], resolver })
    }

    /// Serves only the tasks of `engine` that have not stopped (set once, when the engine
    /// runs; it needs this endpoint's port first).
    pub fn follow(&self, engine: crate::engine::Engine) {
        let _ = self.resolver.tasks.set(engine);
    }

    /// The relative URI a task's containers are told.
    pub fn relative_uri(&self, credentials_id: &str) -> String {
        format!("/v2/credentials/{}/{credentials_id}", self.port)
    }

    /// Stops serving; removes the device when no agent listens on the address any more.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
        if !others_listen() {
            if let Err(error) = ip(&["link", "del", DEVICE]).await {
                tracing::warn!(%error, "cannot remove {DEVICE}");
            }
        }
    }
}

/// Makes the device and puts the address on it (each step tolerates it being done already:
/// another agent of the machine may have).
async fn device_up() -> Result<(), String> {
    // A dummy device where the kernel has them; an empty bridge (always built into Docker's
    // hosts) holds an address just as well.
    if ip(&["link", "add", DEVICE, "type", "dummy"]).await.is_err() {
        let _ = ip(&["link", "add", DEVICE, "type", "bridge"]).await;
    }
    let _ = ip(&["addr", "add", &format!("{ADDRESS}/32"), "dev", DEVICE]).await;
    ip(&["link", "set", DEVICE, "up"]).await
}

async fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip").args(args).output().await.map_err(|e| format!("ip: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// Whether a socket still listens on the address (another agent's).
fn others_listen() -> bool {
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|table| listens_on_address(&table))
}

/// Whether `/proc/net/tcp`'s `table` has a socket listening on the address: it writes
/// addresses as little-endian hex, LISTEN as state `0A`.
fn listens_on_address(table: &str) -> bool {
    let hex = format!("{:08X}", u32::from_le_bytes(ADDRESS.octets()));
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 3 && fields[1].starts_with(&hex) && fields[3] == "0A"
    })
}

/// Holds port 80 whenever it can, forwarding each request to the agent port its path names.
async fn hold_port_80(mut stopping: watch::Receiver<bool>) {
    let client = http_client();
    loop {
        if *stopping.borrow() {
            return;
        }
        let mut bound = TcpListener::bind(SocketAddr::from((ADDRESS, PORT))).await;
        if matches!(&bound, Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable) {
            // The device went with an agent that believed it was the last: put it back.
            let _ = device_up().await;
            bound = TcpListener::bind(SocketAddr::from((ADDRESS, PORT))).await;
        }
        if let Ok(listener) = bound {
            tracing::info!("forwarding {ADDRESS}:{PORT} to the agents of this machine");
            let router = Router::new()
                .route("/v2/credentials/{port}/{*id}", get(forward))
                .with_state(client.clone());
            let mut until = stopping.clone();
            let shutdown = async move {
                let _ = until.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await
            {
                tracing::warn!(%error, "the credentials forwarder stopped");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// A JSON answer.
fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// ECS agent's error shape.
fn refused(status: StatusCode, code: &str, message: &str) -> Response {
    json(status, &serde_json::json!({"code": code, "message": message}))
}

fn not_found() -> Response {
    refused(
        StatusCode::BAD_REQUEST,
        "InvalidIdInRequest",
        "CredentialsV2Request: Credentials not found",
    )
}

async fn forward(
    State(client): State<HttpClient>,
    Path((port, id)): Path<(u16, String)>,
) -> Response {
    if port == PORT {
        return not_found();
    }
    let url = format!("http://{ADDRESS}:{port}/v2/credentials/{port}/{id}");
    let Ok(request) = hyper::Request::get(&url).body(Full::new(Bytes::new())) else {
        return not_found();
    };
    let answer = async {
        let response = client.request(request).await.ok()?;
        let status = response.status();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, body))
    };
    match tokio::time::timeout(ASK_TIMEOUT, answer).await {
        Ok(Some((status, body))) => {
            let mut response = Response::new(axum::body::Body::from(body));
            *response.status_mut() = status;
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            );
            response
        }
        // No agent on that port (any more): the id is unknown here.
        _ => not_found(),
    }
}

fn epoch_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

async fn credentials(
    State(resolver): State<Arc<Resolver>>,
    Path((port, id)): Path<(u16, String)>,
) -> Response {
    if port != resolver.port {
        return not_found();
    }
    if let Some(engine) = resolver.tasks.get() {
        if !engine.runs_task_with_credentials(&id) {
            resolver.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return not_found();
        }
    }
    let now = epoch_now();
    let cached = resolver.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned();
    if let Some((credentials, expires)) = cached {
        if expires > now + REFRESH_BEFORE {
            return json(StatusCode::OK, &credentials);
        }
    }
    let Some(token) = resolver.credential.instance() else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "AgentNotRegistered",
            "the agent has not joined yet",
        );
    };
    let Ok(body) = serde_json::to_vec(&TaskCredentialsRequest { credentials_id: id.clone() })
    else {
        return refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "cannot encode the request",
        );
    };
    match exchange(&resolver.client, &resolver.url, &token, body, ASK_TIMEOUT).await {
        Ok((200, answer)) => match serde_json::from_slice::<TaskCredentials>(&answer) {
            Ok(credentials) => {
                let rfc3339 = time::format_description::well_known::Rfc3339;
                let expires = time::OffsetDateTime::parse(&credentials.expiration, &rfc3339)
                    .map_or(now, |at| at.unix_timestamp().max(0) as u64);
                let mut cache = resolver.cache.lock().unwrap_or_else(|e| e.into_inner());
                cache.retain(|_, (_, at)| *at > now);
                cache.insert(id, (credentials.clone(), expires));
                json(StatusCode::OK, &credentials)
            }
            Err(error) => {
                refused(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &error.to_string())
            }
        },
        Ok((404, _)) => not_found(),
        Ok((status, answer)) => {
            let text = String::from_utf8_lossy(&answer).trim().to_string();
            tracing::warn!(status, %text, "the server refused task credentials");
            refused(StatusCode::INTERNAL_SERVER_ERROR, "CredentialsError", &text)
        }
        Err(error) => refused(StatusCode::SERVICE_UNAVAILABLE, "ServerUnreachable", &error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_on_the_address_is_seen_in_proc_net_tcp() {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
        // 169.254.170.2:80 listening, as the kernel writes it.
        let listening = "   0: 02AAFEA9:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n";
        // The same address in an established connection, and loopback listening.
        let other = "   1: 02AAFEA9:0050 0200A8C0:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n\
                        2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0\n";
        assert!(listens_on_address(&format!("{header}{listening}{other}")));
        assert!(!listens_on_address(&format!("{header}{other}")));
    }
}

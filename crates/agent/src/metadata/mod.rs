//! The task metadata endpoint v4, served by the agent: each container is given
//! `ECS_CONTAINER_METADATA_URI_V4=http://<bridge gateway>:<port>/v4/<token>` and can GET
//! `${URI}` (itself), `${URI}/task`, `${URI}/stats`, `${URI}/task/stats` in ECS's shapes.
//!
//! A container reads only its own task: the token is a random secret only that container is
//! told, and a request from a bridge-mode container's address must come from the task the
//! token belongs to (host-mode containers share the host's address, so the token alone
//! guards them).

pub mod shapes;

use flotilla_api::task::TaskStatus;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::engine::{Engine, TaskRun};
use crate::runtime::{ContainerDetails, Runtime};
use shapes::{
    ContainerLimits, ContainerMetadata, HealthMetadata, InterfaceMetadata, NetworkMetadata,
    PortMetadata, TaskLimits, TaskMetadata,
};

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("the task metadata endpoint cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

/// The listening endpoint, not serving yet.
pub struct Endpoint {
    listener: TcpListener,
    /// `http://<address>:<port>`: what containers are told, before `/v4/<token>`.
    pub base_url: String,
    host: IpAddr,
}

/// Listens on the Docker bridge's gateway address (reachable from bridge- and host-mode
/// containers, not from other machines), on `port`, or on any free port if that one is taken.
/// Without a bridge network, on loopback (host-mode containers only).
pub async fn bind(runtime: &dyn Runtime, port: u16) -> Result<Endpoint, MetadataError> {
    let host = match runtime.bridge_gateway().await {
        Ok(Some(gateway)) => gateway,
        Ok(None) => IpAddr::from([127, 0, 0, 1]),
        Err(error) => {
            tracing::warn!(%error, "cannot find the Docker bridge; task metadata on loopback only");
            IpAddr::from([127, 0, 0, 1])
        }
    };
    let listener = match TcpListener::bind(SocketAddr::new(host, port)).await {
        Ok(listener) => listener,
        Err(error) if port != 0 => {
            tracing::warn!(%error, port, "task metadata port taken; using any free port");
            TcpListener::bind(SocketAddr::new(host, 0))
                .await
                .map_err(|source| MetadataError::Bind { addr: format!("{host}:0"), source })?
        }
        Err(source) => return Err(MetadataError::Bind { addr: format!("{host}:{port}"), source }),
    };
    let bound = listener
        .local_addr()
        .map_err(|source| MetadataError::Bind { addr: format!("{host}:{port}"), source })?;
    Ok(Endpoint { listener, base_url: format!("http://{bound}"), host })
}

impl Endpoint {
    /// Where the endpoint listens.
    pub fn address(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }
}

struct Metadata {
    runtime: Arc<dyn Runtime>,
    engine: Engine,
    availability_zone: Option<String>,
    host: IpAddr,
}

/// Serves the endpoint until the runtime shuts down.
pub fn serve(
    endpoint: Endpoint,
    runtime: Arc<dyn Runtime>,
    engine: Engine,
    availability_zone: Option<String>,
) {
    let state = Arc::new(Metadata { runtime, engine, availability_zone, host: endpoint.host });
    let router = Router::new()
        .route("/v4/{token}", get(container))
        .route("/v4/{token}/task", get(task))
        .route("/v4/{token}/taskWithTags", get(task))
        .route("/v4/{token}/stats", get(container_stats))
        .route("/v4/{token}/task/stats", get(task_stats))
        .with_state(state);
    tracing::info!(url = %endpoint.base_url, "task metadata endpoint ready");
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(error) = axum::serve(endpoint.listener, service).await {
            tracing::error!(%error, "the task metadata endpoint stopped");
        }
    });
}

type Peer = ConnectInfo<SocketAddr>;

/// A JSON answer (axum's `Json` needs a feature the server does not use).
fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [("content-type", "application/json")], bytes).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

/// What a request is about: the token's task and container, and what Docker says of the
/// task's containers.
struct Resolved {
    run: TaskRun,
    name: String,
    details: BTreeMap<String, ContainerDetails>,
}

/// The task and container a token belongs to, if the caller may see them.
async fn resolve(meta: &Metadata, token: &str, peer: SocketAddr) -> Result<Resolved, Response> {
    let found = meta.engine.runs().into_values().find_map(|run| {
        let name = run
            .containers
            .iter()
            .find(|(_, c)| c.metadata_token.as_deref() == Some(token))
            .map(|(name, _)| name.clone())?;
        Some((run, name))
    });
    let Some((run, name)) = found else {
        return Err(refuse(StatusCode::NOT_FOUND, "no container has this metadata URI"));
    };
    let details = details_of(meta, &run).await;
    let from_host = peer.ip() == meta.host || peer.ip().is_loopback();
    let peer_ip = peer.ip().to_string();
    let own_interface = run.pause.as_ref().and_then(|p| p.attachment.as_ref());
    let from_task = details.values().flat_map(|d| &d.networks).any(|n| n.ipv4_address == peer_ip)
        || own_interface.is_some_and(|a| a.ipv4_address == peer_ip);
    if !from_host && !from_task {
        tracing::warn!(peer = %peer.ip(), task = %run.spec.task_arn, "metadata request from another task refused");
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "a container may read only its own task's metadata",
        ));
    }
    Ok(Resolved { run, name, details })
}

async fn details_of(meta: &Metadata, run: &TaskRun) -> BTreeMap<String, ContainerDetails> {
    let mut out = BTreeMap::new();
    for (name, container) in &run.containers {
        if let Some(id) = &container.docker_id {
            if let Ok(Some(details)) = meta.runtime.details(id).await {
                out.insert(name.clone(), details);
            }
        }
    }
    out
}

async fn container(
    State(meta): State<Arc<Metadata>>,
    Path(token): Path<String>,
    ConnectInfo(peer): Peer,
) -> Response {
    let Resolved { run, name, details } = match resolve(&meta, &token, peer).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    match container_metadata(&run, &name, details.get(&name)) {
        Some(body) => json(StatusCode::OK, &body),
        None => refuse(StatusCode::NOT_FOUND, "the container is gone"),
    }
}

async fn task(
    State(meta): State<Arc<Metadata>>,
    Path(token): Path<String>,
    ConnectInfo(peer): Peer,
) -> Response {
    let Resolved { run, details, .. } = match resolve(&meta, &token, peer).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    json(StatusCode::OK, &task_metadata(&run, &details, meta.availability_zone.clone()))
}

async fn container_stats(
    State(meta): State<Arc<Metadata>>,
    Path(token): Path<String>,
    ConnectInfo(peer): Peer,
) -> Response {
    let Resolved { run, name, .. } = match resolve(&meta, &token, peer).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let Some(id) = run.containers.get(&name).and_then(|c| c.docker_id.clone()) else {
        return refuse(StatusCode::NOT_FOUND, "the container has not been created");
    };
    match meta.runtime.stats(&id).await {
        Ok(Some(stats)) => json(StatusCode::OK, &stats),
        Ok(None) => refuse(StatusCode::NOT_FOUND, "the container is gone"),
        Err(error) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

async fn task_stats(
    State(meta): State<Arc<Metadata>>,
    Path(token): Path<String>,
    ConnectInfo(peer): Peer,
) -> Response {
    let Resolved { run, .. } = match resolve(&meta, &token, peer).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let ids: Vec<String> = run.containers.values().filter_map(|c| c.docker_id.clone()).collect();
    let samples = futures_util::future::join_all(ids.iter().map(|id| meta.runtime.stats(id))).await;
    let mut out = serde_json::Map::new();
    for (id, sample) in ids.into_iter().zip(samples) {
        // ECS answers null for a container it has no stats of (not running).
        out.insert(id, sample.ok().flatten().unwrap_or(serde_json::Value::Null));
    }
    json(StatusCode::OK, &serde_json::Value::Object(out))
}

/// One container's metadata; `None` before the container exists.
pub fn container_metadata(
    run: &TaskRun,
    name: &str,
    details: Option<&ContainerDetails>,
) -> Option<ContainerMetadata> {
    let container = run.containers.get(name)?;
    let docker_id = container.docker_id.clone()?;
    let definition = run.spec.containers.iter().find(|c| c.name.as_deref() == Some(name));
    let network_mode = if run.spec.network_mode.is_empty() {
        "bridge".to_string()
    } else {
        run.spec.network_mode.clone()
    };
    let wired = run.pause.as_ref().and_then(|p| p.attachment.as_ref());
    let networks = match (wired, details) {
        (Some(wired), _) => vec![NetworkMetadata {
            network_mode: "awsvpc".to_string(),
            ipv4_addresses: vec![wired.ipv4_address.clone()],
            interface: Some(InterfaceMetadata {
                attachment_index: 0,
                mac_address: wired.mac_address.clone(),
                ipv4_subnet_cidr_block: run
                    .spec
                    .network
                    .as_ref()
                    .map(|n| n.subnet_cidr.clone())
                    .unwrap_or_default(),
                private_dns_name: flotilla_api::task::private_dns_name(
                    &wired.ipv4_address,
                    &run.spec.task_arn,
                ),
                subnet_gateway_ipv4_address: format!("{}/{}", wired.gateway, wired.prefix_len),
            }),
        }],
        (None, Some(d)) if !d.networks.is_empty() => d
            .networks
            .iter()
            .map(|n| NetworkMetadata {
                network_mode: if n.name == "bridge" || n.name == "host" {
                    network_mode.clone()
                } else {
                    n.name.clone()
                },
                ipv4_addresses: if n.ipv4_address.is_empty() {
                    Vec::new()
                } else {
                    vec![n.ipv4_address.clone()]
                },
                interface: None,
            })
            .collect(),
        _ => vec![NetworkMetadata { network_mode, ipv4_addresses: Vec::new(), interface: None }],
    };
    Some(ContainerMetadata {
        docker_id,
        name: name.to_string(),
        docker_name: container.docker_name.clone(),
        image: definition.and_then(|d| d.image.clone()).unwrap_or_default(),
        image_id: details.and_then(|d| d.image_id.clone()),
        labels: details.map(|d| d.labels.clone()).unwrap_or_default(),
        desired_status: run.spec.desired_status.to_string(),
        // The container asking is running even if the worker has not seen it start yet.
        known_status: if container.last_status == TaskStatus::Pending
            && details.is_some_and(|d| d.started_at.is_some())
        {
            TaskStatus::Running.to_string()
        } else {
            container.last_status.to_string()
        },
        exit_code: container.exit_code,
        limits: ContainerLimits {
            cpu: definition.and_then(|d| d.cpu).and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
            memory: definition.and_then(|d| d.memory).and_then(|m| u32::try_from(m).ok()),
        },
        created_at: details.and_then(|d| d.created_at).and_then(shapes::rfc3339),
        started_at: details.and_then(|d| d.started_at).and_then(shapes::rfc3339),
        kind: "NORMAL".to_string(),
        health: container.health_status.map(|status| HealthMetadata { status: status.to_string() }),
        log_driver: definition
            .and_then(|d| d.log_configuration.as_ref())
            .map(|l| l.log_driver.clone()),
        log_options: definition
            .and_then(|d| d.log_configuration.as_ref())
            .and_then(|l| l.options.clone()),
        networks,
        ports: container
            .network_bindings
            .iter()
            .filter_map(|b| {
                Some(PortMetadata {
                    container_port: b.container_port?,
                    protocol: b.protocol.clone().unwrap_or_else(|| "tcp".into()),
                    host_port: b.host_port,
                    host_ip: b.bind_ip.clone(),
                })
            })
            .collect(),
    })
}

/// The task's metadata with each of its containers that exists.
pub fn task_metadata(
    run: &TaskRun,
    details: &BTreeMap<String, ContainerDetails>,
    availability_zone: Option<String>,
) -> TaskMetadata {
    let spec = &run.spec;
    let cpu = spec.cpu.as_deref().and_then(|c| flotilla_api::taskdef::parse_task_cpu(c).ok());
    let memory =
        spec.memory.as_deref().and_then(|m| flotilla_api::taskdef::parse_task_memory(m).ok());
    TaskMetadata {
        cluster: spec.cluster.clone(),
        task_arn: spec.task_arn.clone(),
        family: spec.family.clone(),
        revision: spec.revision.to_string(),
        desired_status: spec.desired_status.to_string(),
        known_status: run.last_status.to_string(),
        containers: run
            .containers
            .keys()
            .filter_map(|name| container_metadata(run, name, details.get(name)))
            .collect(),
        limits: (cpu.is_some() || memory.is_some())
            .then(|| TaskLimits { cpu: cpu.map(|units| f64::from(units) / 1024.0), memory }),
        pull_started_at: run.pull_started_at.and_then(shapes::rfc3339),
        pull_stopped_at: run.pull_stopped_at.and_then(shapes::rfc3339),
        execution_stopped_at: run.stopped_at.and_then(shapes::rfc3339),
        availability_zone,
        launch_type: spec.launch_type.clone().unwrap_or_else(|| "EC2".to_string()),
    }
}

//! The Flotilla node agent: joins a cluster over one outbound connection, runs the tasks the
//! server assigns as Docker containers, and reports what actually runs.

pub mod cgroup;
pub mod connection;
pub mod credential;
pub mod demo_image;
pub mod drain;
pub mod engine;
pub mod execution_resources;
pub mod local_state;
pub mod logs;
pub mod metadata;
pub mod network;
pub mod registration;
pub mod role_credentials;
pub mod runtime;
pub mod sim;
pub mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use engine::{Engine, EngineConfig};
pub use flotilla_api::agent::ServerAddress;
use local_state::LocalStateFile;
use registration::Announce;
use runtime::Runtime;

/// ECS's agent serves task metadata on this port (behind 169.254.170.2).
pub const DEFAULT_METADATA_PORT: u16 = 51679;

/// Everything `flotilla agent` is told.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The server and the region the agent joins.
    pub server: ServerAddress,
    /// Admits a new instance; not needed once the state file holds the instance credential.
    pub join_token: Option<String>,
    pub data_dir: PathBuf,
    pub announce: Announce,
    pub cleanup_wait: Duration,
    /// Bound of the on-disk buffer of container logs waiting to be shipped.
    pub log_buffer_bytes: u64,
    /// Port of the task metadata endpoint on the Docker bridge's gateway (0: any free port).
    pub metadata_port: u16,
    /// Who answers the DNS queries of the host's bridge-mode containers.
    pub dns: DnsMode,
    /// Where the CNI plugins are (`None`: no awsvpc tasks on this agent).
    pub cni_plugin_dir: Option<PathBuf>,
}

/// Who answers the DNS queries of the host's bridge-mode containers (`flotilla agent --dns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsMode {
    /// This agent, on the bridge network's gateway, port 53: the region's names, and other
    /// names forwarded to `upstreams` (empty: the host's resolvers, from resolv.conf).
    Serve { upstreams: Vec<std::net::SocketAddr> },
    /// Another agent of the same region on this host serves the gateway's port 53 (several
    /// agents on one machine, as `flotilla dev` runs them): containers ask it.
    Share,
    /// Nobody: containers use the host's resolvers (through Docker), and the region's names
    /// do not resolve in them.
    Off,
}

/// Containers reach a DNS server on this port only (Docker's `Dns` takes addresses).
const DNS_PORT: u16 = 53;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    #[error(transparent)]
    LocalState(#[from] local_state::LocalStateError),
    #[error(transparent)]
    Connection(#[from] connection::ConnectionError),
    #[error(transparent)]
    Logs(#[from] logs::LogsError),
    #[error(transparent)]
    Metadata(#[from] metadata::MetadataError),
    #[error("{0}; pass --dns off to leave tasks with the host's resolvers")]
    Dns(String),
}

/// Starts the DNS server on the bridge network's gateway, port 53: the resolver of the host's
/// bridge-mode containers.
async fn serve_dns(
    runtime: &dyn Runtime,
    upstreams: &[std::net::SocketAddr],
) -> Result<flotilla_dns::DnsServer, AgentError> {
    let gateway = bridge_gateway(runtime).await?;
    let upstreams = if upstreams.is_empty() {
        flotilla_dns::upstreams::host_resolvers()
    } else {
        upstreams.to_vec()
    };
    if upstreams.is_empty() {
        tracing::warn!("no upstream resolver: tasks resolve only the region's names");
    }
    let server = flotilla_dns::DnsServer::bind((gateway, DNS_PORT).into(), upstreams)
        .await
        .map_err(|e| AgentError::Dns(e.to_string()))?;
    tracing::info!(address = %server.address(), "serving DNS to the host's tasks");
    Ok(server)
}

async fn bridge_gateway(runtime: &dyn Runtime) -> Result<std::net::IpAddr, AgentError> {
    runtime
        .bridge_gateway()
        .await?
        .ok_or_else(|| AgentError::Dns("the bridge network has no gateway to serve DNS on".into()))
}

/// Runs the agent until `shutdown` resolves or the server refuses it for good. Running tasks
/// are left running on shutdown: a restarted agent adopts them.
pub async fn run(
    mut config: AgentConfig,
    runtime: Arc<dyn Runtime>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), AgentError> {
    let file = LocalStateFile::new(&config.data_dir);
    let mut local = file.load()?;
    let credential = Arc::new(credential::AgentCredential::new(
        config.join_token.clone(),
        local.instance_credential.clone(),
    ));
    let host = runtime.info().await?;
    let metadata_endpoint = metadata::bind(runtime.as_ref(), config.metadata_port).await?;
    let (dns, resolver) = match &config.dns {
        DnsMode::Serve { upstreams } => {
            let server = serve_dns(runtime.as_ref(), upstreams).await?;
            let address = server.address().ip();
            (Some(server), Some(address))
        }
        DnsMode::Share => (None, Some(bridge_gateway(runtime.as_ref()).await?)),
        DnsMode::Off => (None, None),
    };
    let networking = config.cni_plugin_dir.as_ref().map(|dir| {
        let cni = network::CniNetwork::new(dir, &config.data_dir.join("network"));
        // Tasks reach the agent's DNS server and metadata endpoint whatever their groups say.
        let v4 = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V4(ip) => Some(ip),
            std::net::IpAddr::V6(_) => None,
        };
        let exempt = network::firewall::Exemptions {
            credentials: Some(role_credentials::ADDRESS),
            resolver: resolver.and_then(v4),
            metadata: metadata_endpoint.address().and_then(|a| match a {
                std::net::SocketAddr::V4(a) => Some(a),
                std::net::SocketAddr::V6(_) => None,
            }),
        };
        let firewalls = network::firewall::Firewalls::start(exempt);
        let nat = network::nat::Nat::new(local.host_id.clone());
        let routes =
            network::routes::RouteFollower::start(registration::server_address(&config.server.url));
        Arc::new(engine::awsvpc::TaskNetworking::new(
            cni,
            firewalls,
            nat,
            routes,
            demo_image::DEMO_IMAGE,
        ))
    });
    config.announce.task_networking = networking.is_some();
    // The spare pause container goes when the agent stops (tasks stay, for the next agent).
    let spare = networking.as_ref().map(|n| (Arc::clone(&n.spare), Arc::clone(&runtime)));
    // The container credentials endpoint, on the port running tasks were told (if any).
    let credentials_endpoint = match role_credentials::CredentialsEndpoint::start(
        &config.server,
        Arc::clone(&credential),
        local.credentials_port,
    )
    .await
    {
        Ok(endpoint) => {
            local.credentials_port = Some(endpoint.port);
            Some(endpoint)
        }
        Err(error) => {
            tracing::warn!(%error, "no container credentials endpoint: tasks with a role get no credentials");
            None
        }
    };
    let engine = Engine::start(
        Arc::clone(&runtime),
        EngineConfig {
            agent_id: local.host_id.clone(),
            allow_privileged: config.announce.allow_privileged,
            cleanup_wait: config.cleanup_wait,
            metadata_url: Some(metadata_endpoint.base_url.clone()),
            resolver,
            log_groups: Some(Arc::new(logs::groups::GroupCheck::new(
                &config.server,
                Arc::clone(&credential),
            ))),
            networking,
            credentials_port: credentials_endpoint.as_ref().map(|e| e.port),
            clock: Arc::new(flotilla_api::clock::SystemClock),
            cgroups: Arc::new(cgroup::HostCgroups),
            execution_resources: Some(Arc::new(execution_resources::ResourceFetch::new(
                &config.server,
                Arc::clone(&credential),
            ))),
        },
        std::mem::take(&mut local.tasks),
    );
    local.tasks = engine.runs();
    file.save(&local)?;
    if let Some(endpoint) = &credentials_endpoint {
        endpoint.follow(engine.clone());
    }
    let availability_zone = config
        .announce
        .attributes
        .iter()
        .find(|(name, _)| name == "ecs.availability-zone")
        .map(|(_, zone)| zone.clone());
    metadata::serve(metadata_endpoint, Arc::clone(&runtime), engine.clone(), availability_zone);
    logs::spawn(
        Arc::clone(&runtime),
        engine.clone(),
        logs::LogsConfig {
            dir: config.data_dir.join("log-buffer"),
            server: config.server.clone(),
            credential: Arc::clone(&credential),
            buffer_bytes: config.log_buffer_bytes,
        },
    )?;
    let local = Arc::new(std::sync::Mutex::new(local));

    // Persist the task runs whenever they change, so a kill -9 loses nothing that matters.
    let mut saver_reports = engine.report_channel();
    let saver_engine = engine.clone();
    let saver_local = Arc::clone(&local);
    let saver_dir = config.data_dir.clone();
    tokio::spawn(async move {
        while saver_reports.changed().await.is_ok() {
            let snapshot = {
                let mut local = saver_local.lock().unwrap_or_else(|e| e.into_inner());
                local.tasks = saver_engine.runs();
                local.clone()
            };
            // fsync off the async threads: it can take milliseconds.
            let file = LocalStateFile::new(&saver_dir);
            match tokio::task::spawn_blocking(move || file.save(&snapshot)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "cannot save the agent state file"),
                Err(error) => tracing::error!(%error, "the state file writer failed"),
            }
        }
    });

    let mut samples = stats::spawn(Arc::clone(&runtime), engine.clone());
    let connect = async {
        let mut reports = engine.report_channel();
        let mut attempt = 0;
        loop {
            let register = {
                let local = local.lock().unwrap_or_else(|e| e.into_inner());
                registration::register_message(
                    &config.announce,
                    &host,
                    &local.host_id,
                    local.container_instance_id.clone(),
                )
            };
            let mut on_registered = |r: &connection::Registered| {
                let snapshot = {
                    let mut local = local.lock().unwrap_or_else(|e| e.into_inner());
                    local.container_instance_id = Some(r.container_instance_id.clone());
                    local.container_instance_arn = Some(r.container_instance_arn.clone());
                    if let Some(issued) = &r.instance_credential {
                        local.instance_credential = Some(issued.clone());
                    }
                    local.clone()
                };
                if let Err(error) = file.save(&snapshot) {
                    tracing::error!(%error, "cannot save the agent state file");
                }
            };
            match connection::serve_once(
                &config.server,
                &credential,
                register,
                &engine,
                &mut reports,
                &mut samples,
                &mut connection::Hooks { on_registered: &mut on_registered, dns: dns.as_ref() },
            )
            .await
            {
                Ok(()) => return Ok(()),
                Err(connection::ConnectionError::Fatal(message)) => {
                    return Err(AgentError::Connection(connection::ConnectionError::Fatal(message)))
                }
                Err(connection::ConnectionError::Transient(message)) => {
                    tracing::warn!(%message, "connection to the server lost; reconnecting");
                    tokio::time::sleep(connection::backoff(attempt)).await;
                    attempt = attempt.saturating_add(1);
                    if attempt > 4 {
                        attempt = 4;
                    }
                }
            }
        }
    };
    let ended = tokio::select! {
        result = connect => result,
        _ = shutdown => {
            tracing::info!("agent shutting down; tasks keep running");
            Ok(())
        }
    };
    // Stopped or refused for good, the agent leaves no spare behind, and no endpoint.
    if let Some((spare, runtime)) = spare {
        spare.discard(runtime.as_ref()).await;
    }
    if let Some(endpoint) = credentials_endpoint {
        endpoint.stop().await;
    }
    ended
}

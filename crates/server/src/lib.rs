//! The Flotilla control plane: the routes and the front door's wiring (`flotilla-front`), the
//! ECS, CloudWatch Logs and CloudWatch metrics handlers, and the state, log database and metrics they read and write.

mod agent_auth;
mod agents;
mod controller;
pub mod credentials;
mod ecs;
mod front;
mod gateway;
mod housekeeping;
mod http;
pub mod logs;
pub mod metrics;
mod pagination;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use flotilla_api::arn::ArnScope;
use flotilla_store::{EmbeddedStore, Store, StoreError};
use tokio::net::TcpListener;

pub use credentials::AccessKey;

/// The default API port (documented in README.md).
pub const DEFAULT_PORT: u16 = 8720;
/// The default account id: a fixed, obviously local 12-digit id.
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";
pub const DEFAULT_REGION: &str = "us-east-1";
/// Request bodies larger than this are refused (413) before they are read whole.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// An agent silent for longer than this is lost: its service tasks are replaced elsewhere. With
/// the controller's reaction (a pass within 0.5 s, a container start), a service is whole again
/// within 10 s of losing an agent.
pub const DEFAULT_AGENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);

/// Limits ECS applies per account; ECS's defaults unless configured.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    pub services_per_cluster: usize,
    pub tasks_per_service: i32,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas { services_per_cluster: 5000, tasks_per_service: 5000 }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
    /// Replaces the stored root key (from FLOTILLA_ROOT_ACCESS_KEY_ID / _SECRET_ACCESS_KEY).
    pub preset_root_key: Option<AccessKey>,
    /// How long an agent may be silent before its instance counts as lost.
    pub agent_timeout: std::time::Duration,
    pub quotas: Quotas,
    /// Connection cap and timeouts of the HTTP listener.
    pub listener: flotilla_front::ListenerConfig,
    /// Whether this start keeps, rotates or revokes the agents' join token.
    pub join_token: credentials::JoinTokenChange,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot prepare data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    #[error("cannot open the log database: {0}")]
    Logs(#[from] logs::LogsError),
    #[error("http server: {0}")]
    Http(std::io::Error),
}

/// What every request handler can reach.
pub struct App {
    pub scope: ArnScope,
    pub state: state::StateHandle,
    pub credentials: credentials::Credentials,
    /// Agents connected right now.
    pub agents: agents::AgentRegistry,
    pub agent_timeout: std::time::Duration,
    pub quotas: Quotas,
    pub listener: flotilla_front::ListenerConfig,
    /// CloudWatch Logs' groups, streams and events (`<data-dir>/logs.redb`).
    pub logs: logs::LogStore,
    /// Task usage, the `AWS/ECS` series and API traffic (memory only).
    pub metrics: metrics::Metrics,
}

impl App {
    /// The principal the root key stands for (used as `registeredBy`, settings' principal).
    pub fn root_principal(&self) -> String {
        format!("arn:aws:iam::{}:root", self.scope.account_id)
    }
}

/// Seconds since the epoch, as ECS timestamps are on the wire.
pub fn epoch_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| {
        // Millisecond precision, as ECS returns.
        (d.as_millis() as f64) / 1000.0
    })
}

/// Opens the data directory and store, prepares credentials and state: everything before serving.
pub async fn prepare(config: &Config) -> Result<Arc<App>, ServerError> {
    if config.account_id.len() != 12 || !config.account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ServerError::Config(format!(
            "--account-id must be 12 digits, not '{}'",
            config.account_id
        )));
    }
    if config.region.is_empty()
        || !config.region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ServerError::Config(format!(
            "--region must look like an AWS region (us-east-1), not '{}'",
            config.region
        )));
    }
    let dir_err =
        |source| ServerError::DataDir { path: config.data_dir.display().to_string(), source };
    std::fs::create_dir_all(&config.data_dir).map_err(dir_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(dir_err)?;
    }
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&config.data_dir.join("flotilla.redb"))?);
    let credentials = credentials::init(
        store.as_ref(),
        &config.data_dir,
        &config.region,
        config.preset_root_key.clone(),
        config.join_token,
    )
    .await?;
    let state = state::StateHandle::load(Arc::clone(&store)).await?;
    let logs = logs::LogStore::open(&config.data_dir.join("logs.redb"))?;
    let app = Arc::new(App {
        scope: ArnScope::new(config.region.clone(), config.account_id.clone()),
        state,
        credentials,
        agents: agents::AgentRegistry::default(),
        agent_timeout: config.agent_timeout,
        quotas: config.quotas,
        listener: config.listener,
        logs,
        metrics: metrics::Metrics::default(),
    });
    ecs::ensure_default_cluster(&app).await.map_err(|e| {
        ServerError::Store(StoreError::Database(format!("cannot create the default cluster: {e}")))
    })?;
    Ok(app)
}

/// A prepared server (store, credentials, state) in `dir`, with the default settings: for the
/// handlers' unit tests.
#[cfg(test)]
pub(crate) async fn test_app(dir: &tempfile::TempDir) -> Arc<App> {
    let config = Config {
        data_dir: dir.path().join("data"),
        region: DEFAULT_REGION.into(),
        account_id: DEFAULT_ACCOUNT_ID.into(),
        preset_root_key: None,
        agent_timeout: DEFAULT_AGENT_TIMEOUT,
        quotas: Quotas::default(),
        listener: flotilla_front::ListenerConfig::default(),
        join_token: credentials::JoinTokenChange::Keep,
    };
    prepare(&config).await.expect("prepare")
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let upkeep = housekeeping::spawn(Arc::clone(&app));
    let services = controller::spawn(Arc::clone(&app), app.agent_timeout);
    let retention = logs::retention::spawn(Arc::clone(&app));
    let measuring = metrics::spawn(Arc::clone(&app));
    let config = app.listener;
    let router = http::router(app);
    let served =
        flotilla_front::serve(listener, router, config, shutdown).await.map_err(ServerError::Http);
    upkeep.abort();
    services.abort();
    retention.abort();
    measuring.abort();
    served
}

/// `prepare` then `serve`: the whole server.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let app = prepare(&config).await?;
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, data_dir = %config.data_dir.display(), region = %config.region, "flotilla server ready");
    serve(app, listener, shutdown).await
}

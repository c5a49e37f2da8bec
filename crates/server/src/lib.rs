//! The composition root: configuration, the data directory, the credentials, each region's
//! services (ECS, CloudWatch Logs, CloudWatch metrics: `regions.rs`) opened and wired to each
//! other through the traits their consumers own (`wiring.rs`), the front door's service table
//! (`front.rs`), the routes (`http.rs`), and `run(listener, shutdown)`.

pub mod credentials;
mod dns_feed;
mod execution_role;
mod firewall_feed;
mod front;
mod http;
mod identity;
pub mod regions;
mod remote_lb;
mod wiring;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use flotilla_store::{EmbeddedStore, Store, StoreError};
use tokio::net::TcpListener;

pub use credentials::AccessKey;
pub use flotilla_ecs::{Quotas, DEFAULT_AGENT_TIMEOUT};

/// The default API port (documented in README.md).
pub const DEFAULT_PORT: u16 = 8720;
/// The default account id: a fixed, obviously local 12-digit id.
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";
pub const DEFAULT_REGION: &str = "us-east-1";
pub use flotilla_ec2::network::DEFAULT_VPC_CIDR;
pub use flotilla_elbv2::addresses::{AddressRange, DEFAULT_RANGE as DEFAULT_LB_ADDRESSES};
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
    /// CIDR of each region's default VPC (fixed on the region's first start).
    pub vpc_cidr: String,
    /// Where load balancers listen, an address each.
    pub lb_addresses: AddressRange,
    /// Listeners run by `flotilla lb` processes (on the machines that own `lb_addresses`)
    /// instead of in this server.
    pub remote_load_balancers: bool,
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
    Logs(#[from] flotilla_logs::LogsError),
    #[error(transparent)]
    Ecs(#[from] flotilla_ecs::EcsError),
    #[error("region '{0}' is not served")]
    RegionNotServed(String),
    #[error(transparent)]
    Ec2(#[from] flotilla_ec2::network::NetworkError),
    #[error(transparent)]
    Elbv2(#[from] flotilla_elbv2::records::RecordsError),
    #[error("the secrets key: {0}")]
    SecretsKey(#[from] flotilla_store::sealed::SealError),
    #[error("http server: {0}")]
    Http(std::io::Error),
}

/// The server's services and what the door and the routes need of it.
pub struct App {
    /// Each region's ECS, Logs and metrics.
    pub regions: Arc<regions::Regions>,
    pub account_id: String,
    pub credentials: credentials::Credentials,
    /// API requests answered, for `GET /metrics`.
    pub requests: Arc<flotilla_front::RequestMetrics>,
    pub listener: flotilla_front::ListenerConfig,
    /// The account's IAM and STS: global, one for every region.
    pub iam: Arc<flotilla_iam::App>,
    pub sts: Arc<flotilla_sts::App>,
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
    let iam =
        Arc::new(flotilla_iam::App::open(config.account_id.clone(), Arc::clone(&store)).await?);
    let roles = Arc::new(identity::IamRoles { iam: Arc::clone(&iam) });
    let sts = Arc::new(
        flotilla_sts::App::open(config.account_id.clone(), Arc::clone(&store), roles.clone())
            .await?,
    );
    let task_roles: Arc<dyn flotilla_ecs::task_roles::RoleCredentials> =
        Arc::new(identity::StsTaskRoles { sts: Arc::clone(&sts) });
    // The key every secret is sealed under, kept beside the store and never in it.
    let sealer = Arc::new(flotilla_store::sealed::Sealer::open_or_create(
        &config.data_dir.join("secrets.key"),
    )?);
    let settings = regions::RegionSettings {
        data_dir: config.data_dir.clone(),
        account_id: config.account_id.clone(),
        agent_timeout: config.agent_timeout,
        vpc_cidr: config.vpc_cidr.clone(),
        lb_addresses: Arc::new(flotilla_elbv2::addresses::AddressPool::new(config.lb_addresses)),
        remote_load_balancers: config.remote_load_balancers,
        quotas: config.quotas,
        join_token: credentials.join_token.clone(),
        task_roles: Some(regions::TaskRoleSettings {
            key: credentials.task_credentials_key.clone(),
            issuer: task_roles,
            iam: Arc::clone(&iam),
            roles,
        }),
        sealer,
    };
    let regions = Arc::new(regions::Regions::open(settings, store, &config.region).await?);
    Ok(Arc::new(App {
        regions,
        account_id: config.account_id.clone(),
        credentials,
        requests: Arc::default(),
        listener: config.listener,
        iam,
        sts,
    }))
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    app.regions.start_background();
    let config = app.listener;
    let regions = Arc::clone(&app.regions);
    let router = http::router(app);
    let served =
        flotilla_front::serve(listener, router, config, shutdown).await.map_err(ServerError::Http);
    regions.stop_background().await;
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

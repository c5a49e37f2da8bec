//! A remote data plane (`flotilla lb --server URL`): one region's load balancer listeners run
//! on this machine (whose addresses the server's `--lb-addresses` names), from the records the
//! server pushes over one WebSocket, with this machine's health board sent back. The protocol
//! is `flotilla_elbv2::remote`. When the server is out of reach the listeners go on serving
//! with the last records, and the connection is retried. This machine routes the region's task
//! slices as the server does (`flotilla_hostnet::follow`), and tells the server its addresses,
//! so awsvpc tasks' security groups let its connections in as the load balancers'.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flotilla_api::arn::ArnScope;
use flotilla_elbv2::remote::{Board, RemoteCertificate, Snapshot, CONNECT_PATH};
use flotilla_elbv2::{App, BoxFuture, InstanceInfo, TlsCertificate, VpcView};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// How often the health board is compared with what the server last got.
const REPORT_EVERY: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often this machine's addresses are looked at again.
const ADDRESSES_EVERY: Duration = Duration::from_secs(30);

/// What `flotilla lb` is told.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// The server's URL (`http://host:8720`).
    pub server: String,
    /// The region whose load balancers to run (`None`: the server's default).
    pub region: Option<String>,
    /// The server's `<data-dir>/lb-token`.
    pub token: String,
    /// Where the last records are kept between connections.
    pub data_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot keep the records in {path}: {message}")]
    Store { path: String, message: String },
    #[error("{0}")]
    Refused(String),
}

/// What the server pushed besides the records: instance addresses and certificates.
#[derive(Default)]
struct Pushed {
    instances: RwLock<BTreeMap<String, IpAddr>>,
    certificates: RwLock<BTreeMap<String, RemoteCertificate>>,
}

impl flotilla_elbv2::Instances for Pushed {
    fn instance(&self, instance_id: &str) -> Option<InstanceInfo> {
        let instances = self.instances.read().unwrap_or_else(|e| e.into_inner());
        Some(InstanceInfo { address: Some(*instances.get(instance_id)?) })
    }
}

impl flotilla_elbv2::Certificates for Pushed {
    fn certificate(&self, arn: &str) -> Option<TlsCertificate> {
        let certificates = self.certificates.read().unwrap_or_else(|e| e.into_inner());
        let pushed = certificates.get(arn)?;
        Some(TlsCertificate {
            chain: pushed.chain.clone(),
            private_key: pushed.private_key.clone(),
            version: pushed.version,
        })
    }
}

/// A remote data plane serves no API: it has no VPC of its own to check names against.
struct NoVpcs;

impl flotilla_elbv2::Vpcs for NoVpcs {
    fn view(&self) -> BoxFuture<'_, Result<VpcView, String>> {
        Box::pin(async { Err("a remote data plane serves no API".to_string()) })
    }
}

/// Runs the listeners until `shutdown` resolves or the server refuses the token.
pub async fn run(
    config: RemoteConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), RemoteError> {
    let path = config.data_dir.join("lb-records.redb");
    let store_error =
        |message: String| RemoteError::Store { path: path.display().to_string(), message };
    std::fs::create_dir_all(&config.data_dir).map_err(|e| store_error(e.to_string()))?;
    let store =
        flotilla_store::EmbeddedStore::open(&path).map_err(|e| store_error(e.to_string()))?;
    let pushed = Arc::new(Pushed::default());
    let region = config.region.clone().unwrap_or_else(|| "remote".into());
    let addresses =
        flotilla_elbv2::addresses::DEFAULT_RANGE.parse().map_err(|e: String| store_error(e))?;
    let app = Arc::new(
        App::open(
            ArnScope::new(region, "000000000000"),
            Arc::new(store),
            Arc::new(flotilla_elbv2::addresses::AddressPool::new(addresses)),
            Arc::new(NoVpcs),
            Arc::clone(&pushed) as Arc<dyn flotilla_elbv2::Instances>,
            Arc::clone(&pushed) as Arc<dyn flotilla_elbv2::Certificates>,
        )
        .await
        .map_err(|e| store_error(e.to_string()))?,
    );
    let plane = crate::spawn(Arc::clone(&app));
    let (routes, route_table) = tokio::sync::watch::channel(Arc::default());
    let routes_ledger = config.data_dir.join("task-routes.json");
    let router = flotilla_hostnet::follow::follow(route_table, routes_ledger.clone());
    let keep_connected = async {
        let mut attempt = 0u32;
        loop {
            match converse(&config, &app, &pushed, &routes).await {
                Err(Failure::Fatal(message)) => return Err(RemoteError::Refused(message)),
                Err(Failure::Transient(message)) => {
                    tracing::warn!(%message, "connection to the server lost; reconnecting");
                }
                Ok(()) => tracing::warn!("the server closed the connection; reconnecting"),
            }
            let backoff = Duration::from_millis(500u64 << attempt.min(4)).min(MAX_BACKOFF);
            tokio::time::sleep(backoff).await;
            attempt = attempt.saturating_add(1);
        }
    };
    let result = tokio::select! {
        result = keep_connected => result,
        () = shutdown => Ok(()),
    };
    plane.abort();
    // The follower is gone before its routes are removed: none can be added after.
    router.abort();
    let _ = router.await;
    flotilla_hostnet::follow::remove_recorded(&routes_ledger).await;
    result
}

enum Failure {
    Fatal(String),
    Transient(String),
}

/// One connection: snapshots in, the board out, until it drops.
async fn converse(
    config: &RemoteConfig,
    app: &App,
    pushed: &Pushed,
    routes: &tokio::sync::watch::Sender<Arc<flotilla_api::routes::RouteTable>>,
) -> Result<(), Failure> {
    let base = config.server.trim_end_matches('/');
    let url = match (base.strip_prefix("http://"), base.strip_prefix("https://")) {
        (Some(rest), _) => format!("ws://{rest}{CONNECT_PATH}"),
        (_, Some(_)) => {
            return Err(Failure::Fatal(
                "--server https:// is not supported yet: give the server's http:// URL on a trusted network (the connection carries the lb token and the listeners' private keys)".into(),
            ))
        }
        _ => return Err(Failure::Fatal(format!("--server must be an http:// URL, not '{base}'"))),
    };
    let url = match &config.region {
        Some(region) => format!("{url}?region={region}"),
        None => url,
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Failure::Fatal(format!("invalid server URL {url}: {e}")))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", config.token))
        .map_err(|_| Failure::Fatal("the lb token has characters a header cannot carry".into()))?;
    request.headers_mut().insert("authorization", bearer);
    let (mut socket, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(connected) => connected,
        Err(tokio_tungstenite::tungstenite::Error::Http(response))
            if response.status() == 401 || response.status() == 400 =>
        {
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            return Err(Failure::Fatal(format!(
                "the server refused the data plane ({}): {}",
                response.status(),
                body.trim()
            )));
        }
        Err(error) => return Err(Failure::Transient(format!("cannot connect to {url}: {error}"))),
    };
    tracing::info!(%url, "connected to the server");
    let mut report = tokio::time::interval(REPORT_EVERY);
    let mut sent: Option<Board> = None;
    let mut addresses = flotilla_hostnet::own_addresses().await;
    let mut looked = tokio::time::Instant::now();
    loop {
        tokio::select! {
            message = socket.next() => {
                let Some(message) = message else { return Ok(()) };
                let message = message.map_err(|e| Failure::Transient(e.to_string()))?;
                let Message::Text(text) = message else { continue };
                match serde_json::from_str::<Snapshot>(text.as_str()) {
                    Ok(snapshot) => {
                        routes.send_if_modified(|current| {
                            let changed = **current != snapshot.routes;
                            if changed {
                                *current = Arc::new(snapshot.routes.clone());
                            }
                            changed
                        });
                        apply(app, pushed, snapshot).await
                    }
                    Err(error) => tracing::warn!(%error, "the server sent what is no snapshot"),
                }
            }
            _ = report.tick() => {
                if looked.elapsed() >= ADDRESSES_EVERY {
                    addresses = flotilla_hostnet::own_addresses().await;
                    looked = tokio::time::Instant::now();
                }
                let (targets, balancers) = app.health.export();
                let board = Board { targets, balancers, addresses: addresses.clone() };
                if sent.as_ref() != Some(&board) {
                    let text = serde_json::to_string(&board).map_err(|e| Failure::Fatal(e.to_string()))?;
                    socket.send(Message::Text(text.into())).await.map_err(|e| Failure::Transient(e.to_string()))?;
                    sent = Some(board);
                }
            }
        }
    }
}

/// Takes a snapshot: addresses and certificates first, so the records never name what the
/// data plane cannot find.
async fn apply(app: &App, pushed: &Pushed, snapshot: Snapshot) {
    *pushed.instances.write().unwrap_or_else(|e| e.into_inner()) = snapshot.instances;
    *pushed.certificates.write().unwrap_or_else(|e| e.into_inner()) = snapshot.certificates;
    let records = snapshot.records;
    if let Err(error) = app
        .records
        .change(move |state| {
            *state = records;
            Ok(())
        })
        .await
    {
        tracing::error!(%error, "cannot keep the pushed records");
    }
}

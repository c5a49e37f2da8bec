//! Remote data planes (`flotilla lb --server URL`, with `flotilla server --load-balancers
//! remote`): `GET /v1/lb/connect?region=R` with the lb token (`<data-dir>/lb-token`) as bearer,
//! upgraded to a WebSocket. The region's ELBv2 records, the addresses of its instance targets
//! and the certificates of its HTTPS listeners go down whenever they change; the data plane's
//! health board comes up and becomes the region's (DescribeTargetHealth, load balancer state).
//! The region's routes to task slices go down too, and the data plane's addresses come up into
//! the tasks' security groups (`firewall_feed.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use flotilla_elbv2::health::Serving;
use flotilla_elbv2::model::TargetType;
use flotilla_elbv2::remote::{Board, RemoteCertificate, Snapshot};

use crate::regions::Region;
use crate::App;

/// How often the snapshot is rebuilt to catch changes outside ELBv2's records (an instance's
/// address, a re-imported certificate).
const RECHECK: Duration = Duration::from_millis(500);

/// Numbers the connections, so each one's addresses go when it does.
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// The WebSocket of a remote data plane of the region the request names.
pub async fn connect(
    State(app): State<Arc<App>>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !presents_lb_token(&app, &headers) {
        return (StatusCode::UNAUTHORIZED, "wrong or missing lb token\n").into_response();
    }
    let name = crate::regions::region_parameter(uri.query())
        .unwrap_or(app.regions.default_region())
        .to_string();
    if !app.regions.served().serves(&name) {
        let message = format!("region '{name}' is not served by this server\n");
        return (StatusCode::BAD_REQUEST, message).into_response();
    }
    let region = match app.regions.get(&name).await {
        Ok(region) => region,
        Err(error) => {
            tracing::error!(%error, region = %name, "cannot open a region for a data plane");
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot open the region\n").into_response();
        }
    };
    upgrade.on_upgrade(move |socket| async move {
        tracing::info!(region = %region.name, "remote data plane connected");
        region.data_planes.fetch_add(1, Ordering::SeqCst);
        let connection = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = serve(Arc::clone(&region), socket, connection).await {
            tracing::info!(%error, "remote data plane disconnected");
        }
        region.data_plane_addresses.send_if_modified(|all| all.remove(&connection).is_some());
        if region.data_planes.fetch_sub(1, Ordering::SeqCst) > 1 {
            return; // another one is connected and keeps the board
        }
        // What the last one said no longer holds: no verdicts, every load balancer impaired.
        let balancers = region
            .elbv2
            .records
            .snapshot()
            .load_balancers
            .keys()
            .map(|arn| (arn.clone(), Serving::Impaired("no data plane is connected".into())))
            .collect();
        region.elbv2.health.replace(Vec::new(), balancers);
    })
}

/// Whether the bearer token is the lb token (compared in constant time).
fn presents_lb_token(app: &App, headers: &HeaderMap) -> bool {
    use subtle::ConstantTimeEq;
    let token = app.credentials.lb_token.as_str();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    !token.is_empty() && presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(token.as_bytes())))
}

/// What the data plane needs of the region now.
fn snapshot(region: &Region) -> Snapshot {
    let records = (*region.elbv2.records.snapshot()).clone();
    let mut instances = BTreeMap::new();
    for group in records.target_groups.values().filter(|g| g.target_type == TargetType::Instance) {
        for target in &group.targets {
            if let Some(address) =
                region.elbv2.instances.instance(&target.id).and_then(|i| i.address)
            {
                instances.insert(target.id.clone(), address);
            }
        }
    }
    let mut certificates = BTreeMap::new();
    for tls in records.listeners.values().filter_map(|l| l.tls.as_ref()) {
        if let Some(certificate) = region.elbv2.certificates.certificate(&tls.certificate_arn) {
            certificates.insert(
                tls.certificate_arn.clone(),
                RemoteCertificate {
                    chain: certificate.chain,
                    private_key: certificate.private_key,
                    version: certificate.version,
                },
            );
        }
    }
    let routes = (**region.routes.borrow()).clone();
    Snapshot { records, instances, certificates, routes }
}

async fn serve(region: Arc<Region>, mut socket: WebSocket, connection: u64) -> Result<(), String> {
    let mut changes = region.elbv2.records.subscribe();
    let mut routes = region.routes.subscribe();
    let mut recheck = tokio::time::interval(RECHECK);
    let mut sent: Option<Snapshot> = None;
    loop {
        let now = snapshot(&region);
        if sent.as_ref() != Some(&now) {
            let text = serde_json::to_string(&now).map_err(|e| e.to_string())?;
            socket.send(Message::Text(text.into())).await.map_err(|e| e.to_string())?;
            sent = Some(now);
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return Ok(()) },
            changed = routes.changed() => if changed.is_err() { return Ok(()) },
            _ = recheck.tick() => {}
            message = socket.recv() => {
                let Some(message) = message else { return Ok(()) };
                match message.map_err(|e| e.to_string())? {
                    Message::Text(text) => match serde_json::from_str::<Board>(text.as_str()) {
                        Ok(board) => {
                            region.data_plane_addresses.send_if_modified(|all| {
                                let before = all.insert(connection, board.addresses.clone());
                                before.as_ref() != Some(&board.addresses)
                            });
                            region.elbv2.health.replace(board.targets, board.balancers);
                        }
                        Err(error) => tracing::warn!(%error, "a data plane sent what is no board"),
                    },
                    Message::Close(_) => return Ok(()),
                    _ => {}
                }
            }
        }
    }
}

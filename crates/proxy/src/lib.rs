//! The load balancers' data plane: for every listener of a region's ELBv2, on the load
//! balancer's own address, an HTTP proxy (hyper on tokio: HTTP/1.1, HTTP/2 from clients over
//! TLS, upgrades) or, for a network load balancer, a TCP pass-through (`tcp.rs`). It follows ELBv2's records as they
//! change: listeners are bound and unbound, health checks started and stopped (`checks.rs`).
//! A request meets a rule (`route.rs`), whose action answers it (fixed-response, redirect) or
//! forwards it to a target group chosen by weight, to a healthy target (all of them when none
//! is healthy: ELB fails open), never to a draining one, over a keep-alive pool that skips a
//! target refusing connections (`upstream.rs`).

mod checks;
mod forward;
pub mod remote;
pub mod route;
mod sticky;
mod tcp;
mod tls;
mod upstream;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use flotilla_elbv2::health::Serving;
use flotilla_elbv2::model::{Protocol, State, TargetType};
use flotilla_elbv2::App;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How often the data plane looks again without a change of records (a listener that could
/// not bind is retried; drained targets leave).
const RECHECK: Duration = Duration::from_secs(2);

/// What every listener's connections share.
struct Plane {
    app: Arc<App>,
    pool: upstream::Pool,
    /// Round-robin position, shared by every target group.
    next: AtomicUsize,
    /// The address of every instance some target group names, looked up once per change of
    /// records (and every RECHECK) instead of once per request.
    instances: RwLock<Arc<HashMap<String, IpAddr>>>,
    /// HTTPS listeners' TLS, looked up per connection.
    tls: tls::Acceptors,
    /// The secret of stickiness cookies (`sticky.rs`), drawn at start.
    cookie_key: sticky::CookieKey,
}

impl Plane {
    /// Where a target of a group is reached: an instance at its agent's address, an IP as
    /// itself.
    fn target_address(&self, is_ip: bool, id: &str, port: u16) -> Option<SocketAddr> {
        let ip = if is_ip {
            id.parse().ok()?
        } else {
            *self.instances.read().unwrap_or_else(|e| e.into_inner()).get(id)?
        };
        Some(SocketAddr::new(ip, port))
    }

    /// Looks up the instances the records' instance targets name.
    fn resolve_instances(&self, state: &State) {
        let resolved: HashMap<String, IpAddr> = state
            .target_groups
            .values()
            .filter(|g| g.target_type == TargetType::Instance)
            .flat_map(|g| g.targets.iter())
            .filter_map(|t| Some((t.id.clone(), self.app.instances.instance(&t.id)?.address?)))
            .collect();
        *self.instances.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(resolved);
    }
}

/// Runs the data plane of `app`'s load balancers until aborted.
pub fn spawn(app: Arc<App>) -> JoinHandle<()> {
    tokio::spawn(run(app))
}

/// A listening socket: (address, port, listener ARN).
type Binding = (Ipv4Addr, u16, String);

/// A listener's accept loop, stopped when dropped (so aborting the data plane stops them all).
struct Accepting(JoinHandle<()>);

impl Drop for Accepting {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run(app: Arc<App>) {
    let plane = Arc::new(Plane {
        app,
        pool: upstream::Pool::default(),
        next: AtomicUsize::new(0),
        instances: RwLock::default(),
        tls: tls::Acceptors::default(),
        cookie_key: cookie_key(),
    });
    let mut updates = plane.app.records.subscribe();
    let mut bound: HashMap<Binding, Accepting> = HashMap::new();
    let mut failed: HashMap<String, String> = HashMap::new();
    let mut checks = checks::Checks::default();
    let mut recheck = tokio::time::interval(RECHECK);
    loop {
        let state = plane.app.records.snapshot();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        plane.resolve_instances(&state);
        bind_listeners(&plane, &state, &mut bound, &mut failed).await;
        checks.reconcile(&plane.app, &state, now);
        tokio::select! {
            changed = updates.changed() => if changed.is_err() { break },
            _ = recheck.tick() => {}
        }
    }
    bound.clear();
}

/// Binds the listeners the records have and unbinds the others; reports each load balancer
/// active, or impaired naming a listener that could not bind.
async fn bind_listeners(
    plane: &Arc<Plane>,
    state: &State,
    bound: &mut HashMap<Binding, Accepting>,
    failed: &mut HashMap<String, String>,
) {
    let mut wanted: Vec<(Binding, String, Protocol)> = Vec::new();
    for listener in state.listeners.values() {
        if let Some(lb) = state.load_balancers.get(&listener.load_balancer_arn) {
            let binding = (lb.address, listener.port, listener.arn.clone());
            wanted.push((binding, lb.arn.clone(), listener.protocol));
        }
    }
    bound.retain(|binding, _| wanted.iter().any(|(w, _, _)| w == binding));
    *failed = plane.tls.refresh(&plane.app, state);
    for (binding, lb_arn, protocol) in wanted {
        if bound.contains_key(&binding) {
            continue;
        }
        let (address, port, listener_arn) = binding.clone();
        match TcpListener::bind((address, port)).await {
            Ok(socket) => {
                tracing::info!(%address, port, listener = %listener_arn, "listener bound");
                let plane = Arc::clone(plane);
                let task = match protocol {
                    Protocol::Http => tokio::spawn(accept_loop(plane, socket, listener_arn, port)),
                    Protocol::Tcp => tokio::spawn(tcp::accept_loop(plane, socket, listener_arn)),
                };
                bound.insert(binding, Accepting(task));
            }
            Err(error) => {
                tracing::warn!(%error, %address, port, "cannot bind a listener");
                failed.insert(
                    lb_arn,
                    format!("the listener on {address}:{port} cannot listen: {error}"),
                );
            }
        }
    }
    for lb in state.load_balancers.keys() {
        let serving = match failed.get(lb) {
            Some(why) => Serving::Impaired(why.clone()),
            None => Serving::Active,
        };
        plane.app.health.set_serving(lb, serving);
    }
    plane.app.health.retain_balancers(|arn| state.load_balancers.contains_key(arn));
}

async fn accept_loop(plane: Arc<Plane>, socket: TcpListener, listener_arn: String, port: u16) {
    let listener_arn: Arc<str> = listener_arn.into();
    loop {
        let (stream, peer) = match socket.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors and the like: wait rather than spin.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let tls = plane.tls.get(&listener_arn);
        let wants_tls = plane
            .app
            .records
            .snapshot()
            .listeners
            .get(&*listener_arn)
            .is_some_and(|l| l.tls.is_some());
        if wants_tls && tls.is_none() {
            // An HTTPS listener whose certificate is not here (yet): never plain HTTP instead.
            continue;
        }
        let plane = Arc::clone(&plane);
        let listener_arn = Arc::clone(&listener_arn);
        tokio::spawn(async move {
            let https = tls.is_some();
            let service = hyper::service::service_fn(move |request| {
                let listener = Arc::clone(&listener_arn);
                forward::handle(Arc::clone(&plane), listener, port, https, peer, request)
            });
            let served = match tls {
                None => serve(TokioIo::new(stream), service).await,
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(stream)) if stream.get_ref().1.alpn_protocol() == Some(b"h2") => {
                            serve_http2(TokioIo::new(stream), service).await
                        }
                        Ok(Ok(stream)) => serve(TokioIo::new(stream), service).await,
                        Ok(Err(error)) => {
                            tracing::debug!(%error, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
            };
            if let Err(error) = served {
                tracing::debug!(%error, "client connection ended");
            }
        });
    }
}

/// How long a client may take over its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One client connection, HTTP/1.1 with keep-alive (and upgrades: WebSocket).
async fn serve<I, S>(io: I, service: S) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .with_upgrades()
        .await
}

/// One client connection that chose HTTP/2 (ALPN `h2` on an HTTPS listener); its requests go
/// to targets over HTTP/1.1, as ALB's default target protocol version does.
async fn serve_http2<I, S>(io: I, service: S) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
        .serve_connection(io, service)
        .await
}

/// A random cookie key (from the OS; should the OS refuse, a weaker one, which only makes
/// cookies guessable among the candidates, never wrong).
fn cookie_key() -> sticky::CookieKey {
    let mut key = [0u8; 32];
    if getrandom::getrandom(&mut key).is_err() {
        for byte in key.iter_mut() {
            *byte = fastrand::u8(..);
        }
    }
    key
}

/// The address of `peer` as X-Forwarded-For names it.
fn client_address(peer: SocketAddr) -> std::net::IpAddr {
    match peer.ip() {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(Into::into).unwrap_or(peer.ip()),
        v4 => v4,
    }
}

//! `flotilla demo serve`: the demo HTTP server. `GET /` says who and where it is (hostname, pid,
//! uptime, ECS/AWS environment, task metadata), `GET /healthz` can be told to start failing,
//! `GET /burn?ms=N` uses CPU, `GET /ws` is a WebSocket that answers each text message with
//! `<hostname>: <message>`; one line per request goes to stdout for log tests.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::{http_get, ServeArgs};

/// `/burn` never burns longer than this, so a request cannot wedge a CPU for good.
const MAX_BURN: Duration = Duration::from_secs(10);
const DEFAULT_BURN: Duration = Duration::from_secs(1);
/// The metadata endpoint is local; a slow one must not make `GET /` slow.
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);

/// SIGTERM and SIGINT. Registered before anything else so that a signal arriving during start-up
/// is seen rather than killing the process (as PID 1 in a container it would be dropped instead).
pub(crate) struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    pub(crate) fn new() -> anyhow::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        })
    }

    /// The name of the next signal received.
    pub(crate) async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

#[derive(Clone)]
pub(crate) struct Demo {
    started: Instant,
    /// From `--fail-health-after`: `/healthz` answers 503 from `started + this` on.
    fail_health_after: Option<Duration>,
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut signals = Signals::new()?;
    let started = Instant::now();
    let listener = TcpListener::bind(("0.0.0.0", args.port))
        .await
        .with_context(|| format!("cannot listen on port {}", args.port))?;
    println!("listening on {}", listener.local_addr().context("local address")?);
    if let Some(after) = args.crash_after {
        let code = args.exit_code;
        tokio::spawn(async move {
            tokio::time::sleep_until((started + after).into()).await;
            println!("crashing with exit code {code} (--crash-after)");
            std::process::exit(code);
        });
    }
    let stop = async move {
        loop {
            let name = signals.next().await;
            if args.ignore_sigterm {
                println!("received {name}, ignoring it (--ignore-sigterm)");
            } else {
                println!("received {name}, exiting");
                return;
            }
        }
    };
    serve(listener, Demo { started, fail_health_after: args.fail_health_after }, stop).await
}

/// Serves until `shutdown` resolves; then returns at once, dropping open connections, so that a
/// stop is prompt even while a `/burn` is running.
pub(crate) async fn serve(
    listener: TcpListener,
    demo: Demo,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/burn", get(burn))
        .route("/ws", get(websocket))
        // Any other path is a 404 that still says who answered and what reached it, so a load
        // balancer's path rules can be followed.
        .fallback(get(not_found))
        .layer(middleware::from_fn(log))
        .with_state(demo);
    tokio::select! {
        result = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).into_future() => result.context("server failed"),
        () = shutdown => Ok(()),
    }
}

async fn log(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let start = Instant::now();
    let response = next.run(request).await;
    println!("{method} {uri} {} {}ms", response.status().as_u16(), start.elapsed().as_millis());
    response
}

/// A WebSocket echo that names who answers (through a load balancer, the container).
async fn websocket(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|mut socket: WebSocket| async move {
        let host = hostname();
        while let Some(Ok(message)) = socket.recv().await {
            let answer = match message {
                Message::Text(text) => Message::Text(format!("{host}: {}", text.as_str()).into()),
                Message::Close(_) => break,
                _ => continue,
            };
            if socket.send(answer).await.is_err() {
                break;
            }
        }
    })
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], format!("{value}\n")).into_response()
}

async fn index(
    State(demo): State<Demo>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    uri: Uri,
) -> Response {
    let mut body = serde_json::json!({
        "hostname": hostname(),
        "request": request_seen(&headers, &uri, peer),
        "pid": std::process::id(),
        "uptime_seconds": demo.started.elapsed().as_secs_f64(),
        "env": environment(std::env::vars()),
    });
    if let Ok(base) = std::env::var("ECS_CONTAINER_METADATA_URI_V4") {
        let url = format!("{}/task", base.trim_end_matches('/'));
        let fetched = tokio::task::spawn_blocking(move || task_metadata(&url)).await;
        let (key, value) = match fetched {
            Ok(Ok(metadata)) => ("task_metadata", metadata),
            Ok(Err(error)) => ("task_metadata_error", format!("{error:#}").into()),
            Err(error) => ("task_metadata_error", error.to_string().into()),
        };
        body[key] = value;
    }
    json(StatusCode::OK, &body)
}

async fn not_found(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    uri: Uri,
) -> Response {
    json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({
            "hostname": hostname(),
            "request": request_seen(&headers, &uri, peer),
        }),
    )
}

/// What reached this server, and from which address, so a load balancer's rewriting (and a
/// NAT) shows.
fn request_seen(headers: &axum::http::HeaderMap, uri: &Uri, peer: SocketAddr) -> serde_json::Value {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    serde_json::json!({
        "peer": peer.ip().to_string(),
        "path": uri.path(),
        "host": header("host"),
        "x_forwarded_for": header("x-forwarded-for"),
        "x_forwarded_proto": header("x-forwarded-proto"),
        "x_forwarded_port": header("x-forwarded-port"),
    })
}

fn task_metadata(url: &str) -> anyhow::Result<serde_json::Value> {
    let response = http_get::get(url, METADATA_TIMEOUT).with_context(|| format!("GET {url}"))?;
    anyhow::ensure!((200..300).contains(&response.status), "GET {url}: status {}", response.status);
    serde_json::from_slice(&response.body).with_context(|| format!("GET {url}: not JSON"))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// The `ECS_*` and `AWS_*` variables; values of ones that look like secrets are hidden, since
/// this answers anyone who can reach the port.
fn environment(vars: impl Iterator<Item = (String, String)>) -> BTreeMap<String, String> {
    vars.filter(|(name, _)| name.starts_with("ECS_") || name.starts_with("AWS_"))
        .map(|(name, value)| {
            let secret =
                ["SECRET", "TOKEN", "PASSWORD", "SESSION"].iter().any(|s| name.contains(s));
            let value = if secret { "(hidden)".to_string() } else { value };
            (name, value)
        })
        .collect()
}

async fn healthz(State(demo): State<Demo>) -> Response {
    match demo.fail_health_after {
        Some(after) if demo.started.elapsed() >= after => {
            (StatusCode::SERVICE_UNAVAILABLE, "failing (--fail-health-after)\n").into_response()
        }
        _ => (StatusCode::OK, "ok\n").into_response(),
    }
}

/// `ms` from the query string: the default when absent, `None` when not a number.
fn burn_duration(query: Option<&str>) -> Option<Duration> {
    let ms = query.unwrap_or_default().split('&').find_map(|pair| pair.strip_prefix("ms="));
    match ms {
        None => Some(DEFAULT_BURN),
        Some(ms) => ms.parse().ok().map(|ms| Duration::from_millis(ms).min(MAX_BURN)),
    }
}

async fn burn(uri: Uri) -> Response {
    let Some(duration) = burn_duration(uri.query()) else {
        let error = serde_json::json!({"error": "ms must be a whole number of milliseconds"});
        return json(StatusCode::BAD_REQUEST, &error);
    };
    // On the blocking pool, so `/healthz` keeps answering while this burns.
    let burned = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < duration {
            for i in 0..10_000u64 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
        }
        start.elapsed()
    })
    .await;
    match burned {
        Ok(elapsed) => json(StatusCode::OK, &serde_json::json!({"burned_ms": elapsed.as_millis()})),
        Err(error) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({"error": error.to_string()}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_query() {
        assert_eq!(burn_duration(None), Some(DEFAULT_BURN));
        assert_eq!(burn_duration(Some("ms=250")), Some(Duration::from_millis(250)));
        assert_eq!(burn_duration(Some("x=1&ms=5")), Some(Duration::from_millis(5)));
        assert_eq!(burn_duration(Some("ms=99999999")), Some(MAX_BURN));
        assert_eq!(burn_duration(Some("ms=-1")), None);
        assert_eq!(burn_duration(Some("ms=")), None);
    }

    #[test]
    fn environment_keeps_ecs_and_aws_and_hides_secrets() {
        let vars = [
            ("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/x"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_SECRET_ACCESS_KEY", "shh"),
            ("PATH", "/bin"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let env = environment(vars.into_iter());
        assert_eq!(env.len(), 3);
        assert_eq!(env["AWS_REGION"], "us-east-1");
        assert_eq!(env["AWS_SECRET_ACCESS_KEY"], "(hidden)");
    }

    async fn fetch(port: u16, path: &str) -> http_get::Response {
        let url = format!("http://127.0.0.1:{port}{path}");
        tokio::task::spawn_blocking(move || http_get::get(&url, Duration::from_secs(5)))
            .await
            .expect("join")
            .expect("get")
    }

    #[tokio::test]
    async fn endpoints_answer_and_health_turns_bad() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let demo =
            Demo { started: Instant::now(), fail_health_after: Some(Duration::from_millis(300)) };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, demo, async move {
            let _ = stopped.await;
        }));

        assert_eq!(fetch(port, "/healthz").await.status, 200);
        let index = fetch(port, "/").await;
        assert_eq!(index.status, 200);
        let body: serde_json::Value = serde_json::from_slice(&index.body).expect("json");
        assert_eq!(body["pid"], std::process::id());
        assert!(body["env"].is_object());
        let burn = fetch(port, "/burn?ms=20").await;
        assert_eq!(burn.status, 200);
        assert_eq!(fetch(port, "/burn?ms=lots").await.status, 400);
        // Any other path is a 404 naming who answered and what reached it.
        let other = fetch(port, "/api/users?x=1").await;
        assert_eq!(other.status, 404);
        let body: serde_json::Value = serde_json::from_slice(&other.body).expect("json");
        assert_eq!(body["request"]["path"], "/api/users");
        assert_eq!(body["request"]["peer"], "127.0.0.1", "who connected");

        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(fetch(port, "/healthz").await.status, 503);

        stop.send(()).expect("server still running");
        server.await.expect("join").expect("serve");
    }
}

//! The HTTP listener in front of everything: accepts connections up to a cap (a clear 503 past
//! it), gives each request's head a deadline, closes idle keep-alive connections, and raises
//! the process's open-file limit. Connections that upgrade (agents' WebSockets) leave the cap
//! and the timers once upgraded: they belong to their handler from then on.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tower_service::Service as _;

/// A request's head must arrive whole within this long of its first byte (or of the
/// connection's opening).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A keep-alive connection with no request for this long is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections served at once (upgraded WebSockets not counted).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// How long shutdown waits for open connections to finish their requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// File descriptors kept for everything but client connections (stores, logs, Docker, agents).
const RESERVED_FILES: u64 = 512;
/// The largest request head (and read buffer) a connection holds.
const MAX_HEAD_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct ListenerConfig {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// Raises the soft open-file limit to the hard limit; returns the limit now in force.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    mut config: ListenerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    match raise_open_file_limit() {
        Ok(files) => {
            let room = usize::try_from(files.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
            if config.max_connections > room {
                tracing::warn!(
                    files,
                    max_connections = room,
                    "the open-file limit lowers the connection cap"
                );
                config.max_connections = room.max(1);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
    let active = Arc::new(AtomicUsize::new(0));
    let live = Arc::new(Live::default());
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or a connection reset before accept: wait a
                    // little rather than spin.
                    tracing::debug!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if active.load(Ordering::Acquire) >= config.max_connections {
            tokio::spawn(refuse(stream, config.max_connections));
            continue;
        }
        let _ = stream.set_nodelay(true);
        let slot = Slot::take(&active);
        let guard = live.enter();
        let router = router.clone();
        let stopping = stopping.clone();
        tokio::spawn(async move {
            serve_connection(stream, router, config, stopping).await;
            drop(slot);
            drop(guard);
        });
    }
    // No new connections while the open ones finish: the kernel refuses them from here on.
    drop(listener);
    let _ = stop.send(true);
    if tokio::time::timeout(DRAIN_TIMEOUT, live.wait_empty()).await.is_err() {
        tracing::warn!("connections still open after the shutdown drain; closing them");
    }
    Ok(())
}

const REFUSAL_BODY: &str = "too many connections: this server serves at most {max} at once (flotilla server --max-connections); try again shortly\n";

async fn refuse(mut stream: TcpStream, max: usize) {
    let body = REFUSAL_BODY.replace("{max}", &max.to_string());
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// The address a request's connection comes from, put in every request's extensions
/// (`aws:SourceIp`).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    config: ListenerConfig,
    mut stopping: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let peer = stream.peer_addr().ok().map(PeerAddr);
    let io = TokioIo::new(Watched { inner: stream, activity: Arc::clone(&activity) });
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            activity.request_started();
            if let Some(peer) = peer {
                request.extensions_mut().insert(peer);
            }
            let mut router = router.clone();
            let activity = Arc::clone(&activity);
            async move {
                let response = match router.call(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                let (parts, body) = response.into_parts();
                Ok::<_, Infallible>(hyper::Response::from_parts(parts, Tracked { body, activity }))
            }
        })
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        // The head deadline is ours (it starts at a request's first byte, not when the
        // connection goes idle, so idle keep-alive connections get the longer idle timeout).
        .header_read_timeout(None)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(connection);
    let tick = (config.header_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(tick);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            _ = ticker.tick() => match activity.verdict(&config) {
                Verdict::Keep => {}
                Verdict::HeadTooSlow => {
                    tracing::debug!("closing a connection whose request head did not arrive in time");
                    return;
                }
                Verdict::Stalled => {
                    tracing::debug!("closing a connection whose request or answer stopped moving");
                    return;
                }
                Verdict::Idle if !closing => {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
                Verdict::Idle => {}
            },
            changed = stopping.changed(), if !closing => {
                if changed.is_err() || *stopping.borrow() {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// One place in the connection cap, given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Slot {
        active.fetch_add(1, Ordering::AcqRel);
        Slot(Arc::clone(active))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Connections being served, so shutdown can wait for them.
#[derive(Default)]
struct Live {
    count: AtomicUsize,
    emptied: Notify,
}

struct LiveGuard(Arc<Live>);

impl Live {
    fn enter(self: &Arc<Self>) -> LiveGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        LiveGuard(Arc::clone(self))
    }

    async fn wait_empty(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            emptied.await;
        }
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.emptied.notify_waiters();
        }
    }
}

const NONE: u64 = u64::MAX;

/// What a connection is doing, for its timers: milliseconds since it opened.
struct Activity {
    opened: Instant,
    /// Last byte read or written, or response finished.
    last_io: AtomicU64,
    /// When the current request's head started arriving; `NONE` between requests.
    head_started: AtomicU64,
    /// Requests handed to the router whose response body is not finished.
    busy: AtomicUsize,
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    HeadTooSlow,
    Idle,
    /// A request in progress whose connection moved no byte either way for the idle timeout
    /// (a trickled body, a client that stopped reading).
    Stalled,
}

impl Activity {
    fn new() -> Activity {
        // A new connection's first head is due within the header timeout, as any other.
        Activity {
            opened: Instant::now(),
            last_io: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Release);
        if self.busy.load(Ordering::Acquire) == 0 {
            let _ =
                self.head_started.compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    fn request_started(&self) {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(NONE, Ordering::Release);
    }

    fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Release);
    }

    fn response_finished(&self) {
        self.last_io.store(self.now(), Ordering::Release);
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }

    fn verdict(&self, config: &ListenerConfig) -> Verdict {
        let now = self.now();
        let since = |at: u64| Duration::from_millis(now.saturating_sub(at));
        if self.busy.load(Ordering::Acquire) > 0 {
            return if since(self.last_io.load(Ordering::Acquire)) > config.idle_timeout {
                Verdict::Stalled
            } else {
                Verdict::Keep
            };
        }
        match self.head_started.load(Ordering::Acquire) {
            NONE if since(self.last_io.load(Ordering::Acquire)) > config.idle_timeout => {
                Verdict::Idle
            }
            NONE => Verdict::Keep,
            started if since(started) > config.header_timeout => Verdict::HeadTooSlow,
            _ => Verdict::Keep,
        }
    }
}

/// The socket, telling the connection's [`Activity`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A response body that tells the connection's [`Activity`] when it is done (dropped).
struct Tracked {
    body: Body,
    activity: Arc<Activity>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.activity.response_finished();
    }
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ListenerConfig {
        ListenerConfig {
            max_connections: 1,
            header_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(300),
        }
    }

    #[test]
    fn a_silent_new_connection_has_the_head_deadline() {
        let activity = Activity::new();
        assert_eq!(activity.verdict(&config()), Verdict::Keep);
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(activity.verdict(&config()), Verdict::HeadTooSlow);
    }

    #[test]
    fn a_request_that_stops_moving_is_stalled() {
        let activity = Activity::new();
        activity.request_started();
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(activity.verdict(&config()), Verdict::Keep, "within the idle timeout");
        activity.wrote();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(activity.verdict(&config()), Verdict::Keep, "bytes moved 200 ms ago");
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(activity.verdict(&config()), Verdict::Stalled);
    }

    #[test]
    fn between_requests_only_the_idle_timeout_applies_until_bytes_arrive() {
        let activity = Activity::new();
        activity.request_started();
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(activity.verdict(&config()), Verdict::Keep, "a busy request is not a slow head");
        activity.response_finished();
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(activity.verdict(&config()), Verdict::Keep, "idle, within the idle timeout");
        activity.read();
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(activity.verdict(&config()), Verdict::HeadTooSlow, "a head started and stalled");
        activity.request_started();
        activity.response_finished();
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(activity.verdict(&config()), Verdict::Idle);
    }
}

//! Connections to targets: a keep-alive pool per target address (HTTP/1.1), and a request sent
//! to the first of a list of targets that accepts a connection — a target that refuses is
//! skipped before the request's body is touched, so the request goes to the next one whole.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long a connection to a target may take (ELB's is 10 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept per target.
const MAX_IDLE: usize = 256;

/// Why a request reached no target.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no target accepted a connection")]
    NoConnection,
    #[error("the target failed: {0}")]
    Target(#[from] hyper::Error),
}

/// Keep-alive connections by target address.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<SendRequest<Incoming>>>>,
}

/// A new connection to `addr`, its driver spawned (with upgrades: a WebSocket switches
/// protocols on it).
async fn connect(addr: SocketAddr) -> std::io::Result<SendRequest<Incoming>> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, %addr, "target connection ended");
        }
    });
    Ok(sender)
}

/// Sends an upgrade request (WebSocket) to the first of `targets` that takes a connection, on
/// a connection of its own: an upgraded connection never goes back to a pool.
pub async fn send_upgrade(
    targets: &[SocketAddr],
    request: Request<Incoming>,
) -> Result<(SocketAddr, Response<Incoming>), UpstreamError> {
    for addr in targets {
        match connect(*addr).await {
            Ok(mut sender) => return Ok((*addr, sender.send_request(request).await?)),
            Err(error) => tracing::debug!(%error, %addr, "target refused; trying the next"),
        }
    }
    Err(UpstreamError::NoConnection)
}

impl Pool {
    /// A ready connection to `addr`: an idle one, else a new one.
    async fn connection(&self, addr: SocketAddr) -> std::io::Result<SendRequest<Incoming>> {
        if let Some(sender) = self.take_idle(addr) {
            return Ok(sender);
        }
        connect(addr).await
    }

    fn take_idle(&self, addr: SocketAddr) -> Option<SendRequest<Incoming>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(&addr)?;
        // Closed ones are dropped; busy ones (a response body still streaming) stay.
        list.retain(|s| !s.is_closed());
        let ready = list.iter().position(|s| s.is_ready())?;
        Some(list.swap_remove(ready))
    }

    fn give_back(&self, addr: SocketAddr, sender: SendRequest<Incoming>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(addr).or_default();
        if list.len() < MAX_IDLE {
            list.push(sender);
        }
    }

    /// Sends `request` to the first of `targets` that takes it; its answer. A pooled
    /// connection the target closed meanwhile gives the request back unsent, and it goes on a
    /// fresh one.
    pub async fn send(
        &self,
        targets: &[SocketAddr],
        mut request: Request<Incoming>,
    ) -> Result<(SocketAddr, Response<Incoming>), UpstreamError> {
        for addr in targets {
            // A stale pooled connection, then a fresh one.
            for _ in 0..2 {
                let mut sender = match self.connection(*addr).await {
                    Ok(sender) => sender,
                    Err(error) => {
                        tracing::debug!(%error, %addr, "target refused; trying the next");
                        break;
                    }
                };
                match sender.try_send_request(request).await {
                    Ok(response) => {
                        self.give_back(*addr, sender);
                        return Ok((*addr, response));
                    }
                    Err(mut failed) => match failed.take_message() {
                        Some(unsent) => request = unsent,
                        None => return Err(UpstreamError::Target(failed.into_error())),
                    },
                }
            }
        }
        Err(UpstreamError::NoConnection)
    }
}

//! A network load balancer's TCP listener: each connection is passed through, byte for byte,
//! to a target of the listener's target group — a healthy one, round-robin (all that are not
//! draining when none is healthy), the next one when a target refuses — and closed after
//! ELB's idle timeout of 350 s without a byte either way.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flotilla_elbv2::model::ActionKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::Plane;

/// A connection with no byte either way this long is closed (`tcp.idle_timeout.seconds`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(350);
/// How long a target may take to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn accept_loop(plane: Arc<Plane>, socket: TcpListener, listener_arn: String) {
    let listener_arn: Arc<str> = listener_arn.into();
    loop {
        let (stream, peer) = match socket.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(pass(Arc::clone(&plane), stream, peer, Arc::clone(&listener_arn)));
    }
}

/// One client connection: to a target, then relayed until either side closes.
async fn pass(plane: Arc<Plane>, client: TcpStream, peer: SocketAddr, listener_arn: Arc<str>) {
    let targets = {
        let state = plane.app.records.snapshot();
        let group = state
            .listeners
            .get(&*listener_arn)
            .and_then(|l| state.rules.get(&l.default_rule_arn))
            .and_then(|r| r.actions.last())
            .and_then(|a| match &a.kind {
                ActionKind::Forward { groups, .. } => groups.first().map(|(arn, _)| arn.clone()),
                _ => None,
            });
        let turn = plane.next.fetch_add(1, Ordering::Relaxed);
        match group {
            Some(arn) => crate::forward::candidates(&plane, &state, &arn, turn),
            None => Vec::new(),
        }
    };
    for target in targets {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
            Ok(Ok(upstream)) => {
                let _ = upstream.set_nodelay(true);
                if let Err(error) = relay(client, upstream, IDLE_TIMEOUT).await {
                    tracing::debug!(%error, %peer, %target, "connection ended");
                }
                return;
            }
            Ok(Err(error)) => tracing::debug!(%error, %target, "target refused; trying the next"),
            Err(_) => tracing::debug!(%target, "target did not accept in time; trying the next"),
        }
    }
    // No target: the client's connection is closed (an NLB resets it).
    tracing::debug!(%peer, listener = %listener_arn, "no target for a connection");
}

/// Copies both ways, each direction on its own (a blocked write one way never stops the other),
/// until both are done (each half closed in turn), or nothing moved for `idle`.
async fn relay(client: TcpStream, target: TcpStream, idle: Duration) -> std::io::Result<()> {
    let (client_read, client_write) = client.into_split();
    let (target_read, target_write) = target.into_split();
    let started = tokio::time::Instant::now();
    // Milliseconds since `started` of the last byte either way.
    let last = Arc::new(AtomicU64::new(0));
    let mut up = tokio::spawn(copy_half(client_read, target_write, Arc::clone(&last), started));
    let mut down = tokio::spawn(copy_half(target_read, client_write, Arc::clone(&last), started));
    let mut tick = tokio::time::interval(idle.min(Duration::from_secs(5)) / 2);
    let (mut up_done, mut down_done) = (false, false);
    while !(up_done && down_done) {
        tokio::select! {
            result = &mut up, if !up_done => {
                up_done = true;
                if let Err(error) = result.map_err(std::io::Error::other).and_then(|r| r) {
                    down.abort();
                    return Err(error);
                }
            }
            result = &mut down, if !down_done => {
                down_done = true;
                if let Err(error) = result.map_err(std::io::Error::other).and_then(|r| r) {
                    up.abort();
                    return Err(error);
                }
            }
            _ = tick.tick() => {
                let moved = Duration::from_millis(last.load(Ordering::Relaxed));
                if started.elapsed().saturating_sub(moved) >= idle {
                    // The copies hold the sockets: stopping them closes the connection.
                    up.abort();
                    down.abort();
                    return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "idle timeout"));
                }
            }
        }
    }
    Ok(())
}

/// One direction: reads until the end, writes all, then closes the writing half.
async fn copy_half(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    last: Arc<AtomicU64>,
    started: tokio::time::Instant,
) -> std::io::Result<()> {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buffer).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        to.write_all(&buffer[..n]).await?;
        last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("addr");
        let (connected, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        (connected.expect("connect"), accepted.expect("accept").0)
    }

    #[tokio::test]
    async fn relays_both_ways_half_closes_and_idles_out() {
        // client <-> [relay: near, far] <-> target
        let (mut client, near) = pair().await;
        let (far, mut target) = pair().await;
        let relayed = tokio::spawn(relay(near, far, Duration::from_millis(300)));
        client.write_all(b"ping").await.expect("write");
        let mut buffer = [0u8; 4];
        target.read_exact(&mut buffer).await.expect("read");
        assert_eq!(&buffer, b"ping");
        target.write_all(b"pong").await.expect("write");
        client.read_exact(&mut buffer).await.expect("read");
        assert_eq!(&buffer, b"pong");
        // The client is done sending: the target sees the end and may still answer.
        client.shutdown().await.expect("shutdown");
        assert_eq!(target.read(&mut buffer).await.expect("eof"), 0);
        target.write_all(b"late").await.expect("write");
        client.read_exact(&mut buffer).await.expect("read");
        assert_eq!(&buffer, b"late");
        // Then nothing moves: the idle timeout ends the relay.
        let ended = tokio::time::timeout(Duration::from_secs(5), relayed).await.expect("ended");
        let error = ended.expect("joined").expect_err("idle");
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    }
}

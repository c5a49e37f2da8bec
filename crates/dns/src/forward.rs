//! Forwarding: a name that is not the region's goes to the host's resolvers, over UDP (or TCP
//! when the client asked over TCP), one upstream after the other until one answers.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long one upstream has to answer before the next is tried.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest DNS message over UDP with EDNS (and over TCP, its length prefix).
const MAX_MESSAGE: usize = 65_535;

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("no upstream resolver is configured")]
    NoUpstream,
    #[error("cannot encode the query: {0}")]
    Encode(String),
    #[error("no upstream resolver answered: {0}")]
    Unanswered(String),
}

/// Sends `query` to the first of `upstreams` that answers and returns its answer.
pub async fn forward(
    query: &Message,
    upstreams: &[SocketAddr],
    over_tcp: bool,
) -> Result<Message, ForwardError> {
    if upstreams.is_empty() {
        return Err(ForwardError::NoUpstream);
    }
    let bytes = query.to_vec().map_err(|e| ForwardError::Encode(e.to_string()))?;
    let mut failures = Vec::new();
    for upstream in upstreams {
        let attempt = async {
            if over_tcp {
                ask_tcp(&bytes, *upstream).await
            } else {
                ask_udp(&bytes, *upstream).await
            }
        };
        match tokio::time::timeout(UPSTREAM_TIMEOUT, attempt).await {
            Ok(Ok(reply)) => match Message::from_vec(&reply) {
                Ok(answer) if answer.metadata.id == query.metadata.id => return Ok(answer),
                Ok(_) => failures.push(format!("{upstream}: answer to another query")),
                Err(e) => failures.push(format!("{upstream}: {e}")),
            },
            Ok(Err(e)) => failures.push(format!("{upstream}: {e}")),
            Err(_) => failures.push(format!("{upstream}: timed out")),
        }
    }
    Err(ForwardError::Unanswered(failures.join("; ")))
}

async fn ask_udp(query: &[u8], upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr =
        if upstream.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(query).await?;
    let mut buffer = vec![0; MAX_MESSAGE];
    // A connected socket only receives from the upstream; a stray reply with another id is
    // skipped by the caller's id check.
    let read = socket.recv(&mut buffer).await?;
    buffer.truncate(read);
    Ok(buffer)
}

async fn ask_tcp(query: &[u8], upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    let length = u16::try_from(query.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "query too long"))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let length = stream.read_u16().await?;
    let mut reply = vec![0; usize::from(length)];
    stream.read_exact(&mut reply).await?;
    Ok(reply)
}

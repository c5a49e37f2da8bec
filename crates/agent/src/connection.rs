//! The agent's one outbound connection: register, then apply desired states and send reports
//! and heartbeats; reconnect with backoff when the connection drops.

use std::time::Duration;

use flotilla_api::agent::{
    AgentMessage, Register, Report, ServerAddress, ServerMessage, StatsReport, CONNECT_PATH,
    HEARTBEAT_INTERVAL,
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::credential::AgentCredential;
use crate::engine::Engine;

const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The server refused the token or the registration: retrying cannot help.
    #[error("{0}")]
    Fatal(String),
    /// Anything else: the connection is retried.
    #[error("{0}")]
    Transient(String),
}

/// What a successful registration told the agent.
pub struct Registered {
    pub container_instance_id: String,
    pub container_instance_arn: String,
    /// Issued to a new instance: presented on every later connection.
    pub instance_credential: Option<String>,
}

/// What a connection hands to the rest of the agent.
pub struct Hooks<'a> {
    /// Called once the server accepted the registration (to persist the instance id).
    pub on_registered: &'a mut (dyn FnMut(&Registered) + Send),
    /// The agent's DNS server, fed with the region's DNS table.
    pub dns: Option<&'a flotilla_dns::DnsServer>,
}

/// Connects, registers and serves one connection until it drops.
pub async fn serve_once(
    server: &ServerAddress,
    credential: &AgentCredential,
    register: Register,
    engine: &Engine,
    reports: &mut watch::Receiver<Report>,
    samples: &mut watch::Receiver<StatsReport>,
    hooks: &mut Hooks<'_>,
) -> Result<(), ConnectionError> {
    let bearer = credential.bearer().ok_or_else(|| {
        ConnectionError::Fatal(
            "no join token and no instance credential: pass the server's <data-dir>/agent-token with --token-file".into(),
        )
    })?;
    let mut socket = connect(server, &bearer).await?;

    let registered = register_on(&mut socket, register).await?;
    if let Some(issued) = &registered.instance_credential {
        credential.set_instance(issued.clone());
    }
    (hooks.on_registered)(&registered);
    let send = encode;
    tracing::info!(arn = %registered.container_instance_arn, "registered with the server");

    // The server gets the full actual state right away, then on every change.
    let report = reports.borrow_and_update().clone();
    let text =
        send(&AgentMessage::Report(report)).map_err(|e| ConnectionError::Fatal(e.to_string()))?;
    socket.send(text).await.map_err(|e| ConnectionError::Transient(e.to_string()))?;
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    loop {
        tokio::select! {
            message = socket.next() => {
                let Some(message) = message else { return Err(ConnectionError::Transient("server closed the connection".into())) };
                let message = message.map_err(|e| ConnectionError::Transient(e.to_string()))?;
                match parse(&message) {
                    Some(ServerMessage::Desired(desired)) => engine.apply(desired).await,
                    Some(ServerMessage::Dns(table)) => {
                        if let Some(dns) = hooks.dns {
                            dns.set_table(&table);
                        }
                    }
                    Some(ServerMessage::Firewall(table)) => engine.set_firewall(table),
                    Some(ServerMessage::Routes(table)) => engine.set_routes(table),
                    Some(ServerMessage::Refused { message }) => return Err(ConnectionError::Fatal(message)),
                    Some(ServerMessage::Registered { .. }) | None => {}
                }
            }
            changed = reports.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let report = reports.borrow_and_update().clone();
                let text = send(&AgentMessage::Report(report)).map_err(|e| ConnectionError::Fatal(e.to_string()))?;
                socket.send(text).await.map_err(|e| ConnectionError::Transient(e.to_string()))?;
            }
            changed = samples.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let sample = samples.borrow_and_update().clone();
                let text = send(&AgentMessage::Stats(sample)).map_err(|e| ConnectionError::Fatal(e.to_string()))?;
                socket.send(text).await.map_err(|e| ConnectionError::Transient(e.to_string()))?;
            }
            _ = heartbeat.tick() => {
                let text = send(&AgentMessage::Heartbeat).map_err(|e| ConnectionError::Fatal(e.to_string()))?;
                socket.send(text).await.map_err(|e| ConnectionError::Transient(e.to_string()))?;
            }
        }
    }
}

/// An agent message as a WebSocket text frame.
pub fn encode(message: &AgentMessage) -> Result<Message, serde_json::Error> {
    serde_json::to_string(message).map(|t| Message::Text(t.into()))
}

/// Sends Register and waits for the server's answer.
pub async fn register_on(
    socket: &mut Socket,
    register: Register,
) -> Result<Registered, ConnectionError> {
    let text = encode(&AgentMessage::Register(register))
        .map_err(|e| ConnectionError::Fatal(e.to_string()))?;
    socket.send(text).await.map_err(|e| ConnectionError::Transient(e.to_string()))?;

    let registered = loop {
        let Some(message) = socket.next().await else {
            return Err(ConnectionError::Transient(
                "server closed the connection during registration".into(),
            ));
        };
        let message = message.map_err(|e| ConnectionError::Transient(e.to_string()))?;
        match parse(&message) {
            Some(ServerMessage::Registered {
                container_instance_arn,
                container_instance_id,
                instance_credential,
            }) => {
                break Registered {
                    container_instance_id,
                    container_instance_arn,
                    instance_credential,
                };
            }
            Some(ServerMessage::Refused { message }) => {
                return Err(ConnectionError::Fatal(format!("registration refused: {message}")))
            }
            Some(
                ServerMessage::Desired(_)
                | ServerMessage::Dns(_)
                | ServerMessage::Firewall(_)
                | ServerMessage::Routes(_),
            )
            | None => {}
        }
    };
    Ok(registered)
}

/// The agent's WebSocket, open and authenticated (not registered yet).
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the connection with `token` (the join token or an instance credential); a refused
/// token is fatal.
pub async fn connect(server: &ServerAddress, token: &str) -> Result<Socket, ConnectionError> {
    let url = websocket_url(server)?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ConnectionError::Fatal(format!("invalid server URL {}: {e}", server.url)))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        ConnectionError::Fatal("the agent token contains characters a header cannot carry".into())
    })?;
    request.headers_mut().insert("authorization", bearer);
    // Small buffers (tungstenite's defaults are 128 KiB each): thousands of hollow agents
    // share one process; bigger messages grow the buffer as needed.
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024).write_buffer_size(0);
    let (socket, _) = match tokio_tungstenite::connect_async_with_config(request, Some(config), true).await {
        Ok(ok) => ok,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) if response.status() == 401 => {
            return Err(ConnectionError::Fatal(
                "the server refused the agent token (401): a new agent joins with the server's <data-dir>/agent-token (--token-file); a joined one presents the credential in its state file".into(),
            ))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) if response.status() == 400 => {
            // A request the server will never take (a region it does not serve): retrying is futile.
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            return Err(ConnectionError::Fatal(format!("the server refused the agent: {}", body.trim())));
        }
        Err(e) => return Err(ConnectionError::Transient(format!("cannot connect to {url}: {e}"))),
    };

    Ok(socket)
}

pub fn parse(message: &Message) -> Option<ServerMessage> {
    match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).ok(),
        Message::Binary(bytes) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
}

fn websocket_url(server: &ServerAddress) -> Result<String, ConnectionError> {
    let route = server.route(CONNECT_PATH);
    if let Some(rest) = route.strip_prefix("http://") {
        Ok(format!("ws://{rest}"))
    } else if let Some(rest) = route.strip_prefix("https://") {
        Ok(format!("wss://{rest}"))
    } else if route.starts_with("ws://") || route.starts_with("wss://") {
        Ok(route)
    } else {
        Err(ConnectionError::Fatal(format!(
            "--server must be an http:// URL, not '{}'",
            server.url
        )))
    }
}

/// Backoff between reconnection attempts: 0.5 s doubling up to `MAX_BACKOFF`.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(4))).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_backoff() {
        let server =
            |url: &str, region: Option<&str>| ServerAddress::new(url, region.map(str::to_string));
        assert_eq!(
            websocket_url(&server("http://127.0.0.1:8720/", None)).expect("url"),
            "ws://127.0.0.1:8720/v1/agent/connect"
        );
        assert_eq!(
            websocket_url(&server("https://h:1", Some("eu-west-1"))).expect("url"),
            "wss://h:1/v1/agent/connect?region=eu-west-1"
        );
        assert!(websocket_url(&server("127.0.0.1:8720", None)).is_err());
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(10), MAX_BACKOFF);
    }
}

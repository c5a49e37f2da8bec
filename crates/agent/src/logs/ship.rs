//! Ships the buffer to the server, oldest batch first, one request at a time: `POST
//! /v1/agent/logs` with the agent token. A batch leaves the buffer only when the server answered
//! that it is durable; an unreachable server is retried with backoff, so an outage costs only
//! buffer space.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flotilla_api::agent::{LogBatchReply, LOGS_PATH};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::buffer::Buffer;

const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A request that has not been answered by then is retried (the server dedupes nothing, but a
/// stuck request would stall every container's logs).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

#[derive(Debug, thiserror::Error)]
enum ShipError {
    /// Worth retrying: the server is down, restarting or overloaded.
    #[error("{0}")]
    Transient(String),
    /// The server will never take this batch (it is malformed): retrying would block the rest.
    #[error("{0}")]
    Refused(String),
}

/// Ships until the task is dropped.
pub async fn run(buffer: Arc<Buffer>, server_url: String, token: String) {
    let url = format!("{}{LOGS_PATH}", server_url.trim_end_matches('/'));
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let mut failures = 0u32;
    loop {
        let added = buffer.added.notified();
        let oldest = {
            let buffer = Arc::clone(&buffer);
            tokio::task::spawn_blocking(move || buffer.oldest()).await
        };
        let (seq, body) = match oldest {
            Ok(Ok(Some(batch))) => batch,
            Ok(Ok(None)) => {
                added.await;
                continue;
            }
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot read the log buffer");
                tokio::time::sleep(MAX_BACKOFF).await;
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "the log buffer reader failed");
                continue;
            }
        };
        match post(&client, &url, &token, body).await {
            Ok(reply) => {
                failures = 0;
                for rejected in reply.rejected {
                    tracing::warn!(group = %rejected.group, stream = %rejected.stream,
                        reason = %rejected.reason, "the server refused a log stream; its lines are dropped");
                }
            }
            Err(ShipError::Refused(message)) => {
                tracing::error!(%message, "the server refused a log batch; it is dropped");
            }
            Err(ShipError::Transient(message)) => {
                if failures == 0 {
                    tracing::warn!(%message, "cannot ship logs; they stay buffered");
                }
                failures = failures.saturating_add(1);
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        }
        if let Err(error) = buffer.remove(seq) {
            tracing::error!(%error, "cannot remove a shipped log batch");
        }
    }
}

/// 0.1 s doubling up to 5 s: a restarted server gets its backlog quickly.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << failures.min(6))).min(MAX_BACKOFF)
}

async fn post(
    client: &HttpClient,
    url: &str,
    token: &str,
    body: Vec<u8>,
) -> Result<LogBatchReply, ShipError> {
    let request = hyper::Request::post(url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| ShipError::Refused(format!("cannot build the request to {url}: {e}")))?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| ShipError::Transient(format!("cannot reach {url}: {e}")))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ShipError::Transient(format!("reading the answer of {url}: {e}")))?
            .to_bytes();
        Ok::<_, ShipError>((status, body))
    };
    let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| ShipError::Transient(format!("{url} did not answer in time")))??;
    let text = || String::from_utf8_lossy(&body).trim().to_string();
    match status.as_u16() {
        200 => serde_json::from_slice(&body)
            .map_err(|e| ShipError::Transient(format!("unreadable answer from {url}: {e}"))),
        // A server that does not know the route (older than its agents) may learn it later.
        400 if text().contains("UnknownOperationException") => {
            Err(ShipError::Transient(format!("{status}: {}", text())))
        }
        400 | 413 => Err(ShipError::Refused(format!("{status}: {}", text()))),
        // 401 (a token replaced), 5xx, a proxy's 502: wait and retry.
        _ => Err(ShipError::Transient(format!("{status}: {}", text()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}

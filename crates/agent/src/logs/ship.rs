//! Ships the buffer to the server, oldest batch first, one request at a time: `POST
//! /v1/agent/logs` with the agent token. A batch leaves the buffer only when the server answered
//! that it is durable; an unreachable server is retried with backoff, so an outage costs only
//! buffer space.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flotilla_api::agent::{LogBatch, LogBatchReply, ServerAddress, LOGS_PATH};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::buffer::Buffer;
use crate::credential::AgentCredential;

const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A request that has not been answered by then is retried (the server dedupes nothing, but a
/// stuck request would stall every container's logs).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) type HttpClient =
    Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

#[derive(Debug, thiserror::Error)]
enum ShipError {
    /// Worth retrying: the server is down, restarting or overloaded.
    #[error("{0}")]
    Transient(String),
    /// The server will never take this batch (it is malformed): retrying would block the rest.
    #[error("{0}")]
    Refused(String),
    /// Over the server's size limit (413): sent again in halves.
    #[error("{0}")]
    TooLarge(String),
}

/// Ships until the task is dropped.
pub async fn run(buffer: Arc<Buffer>, server: ServerAddress, credential: Arc<AgentCredential>) {
    let url = server.route(LOGS_PATH);
    let client = http_client();
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
                // The batch was set aside; go on with the next.
                tracing::error!(%error, "cannot read a log batch; it is skipped");
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "the log buffer reader failed");
                continue;
            }
        };
        // Batches exist only for tasks, which come after registration; until the credential is
        // known (a restart's first connection), wait.
        let Some(token) = credential.instance() else {
            tokio::time::sleep(backoff(failures)).await;
            failures = failures.saturating_add(1);
            continue;
        };
        let shipped = match post(&client, &url, &token, body.clone()).await {
            Err(ShipError::TooLarge(_)) => post_in_parts(&client, &url, &token, &body).await,
            other => other,
        };
        match shipped {
            Ok(reply) => {
                failures = 0;
                for rejected in reply.rejected {
                    tracing::warn!(group = %rejected.group, stream = %rejected.stream,
                        reason = %rejected.reason, "the server refused a log stream; its lines are dropped");
                }
            }
            Err(ShipError::Refused(message) | ShipError::TooLarge(message)) => {
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
        let remover = Arc::clone(&buffer);
        match tokio::task::spawn_blocking(move || remover.remove(seq)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "cannot remove a shipped log batch"),
            Err(error) => tracing::error!(%error, "the log buffer remover failed"),
        }
    }
}

/// Sends a batch the server found too large as smaller ones, in order: halves, halved again
/// while still too large. A single event too large for the server is dropped.
async fn post_in_parts(
    client: &HttpClient,
    url: &str,
    token: &str,
    body: &[u8],
) -> Result<LogBatchReply, ShipError> {
    let batch: LogBatch = serde_json::from_slice(body)
        .map_err(|e| ShipError::Refused(format!("unreadable log batch: {e}")))?;
    let mut total = LogBatchReply::default();
    // A stack with the next part on top.
    let mut parts = vec![batch];
    while let Some(part) = parts.pop() {
        let encoded = serde_json::to_vec(&part)
            .map_err(|e| ShipError::Refused(format!("cannot encode a log batch: {e}")))?;
        match post(client, url, token, encoded).await {
            Ok(reply) => {
                total.accepted += reply.accepted;
                total.rejected.extend(reply.rejected);
            }
            Err(ShipError::TooLarge(message)) => match halves(part) {
                Some((first, second)) => {
                    parts.push(second);
                    parts.push(first);
                }
                None => {
                    tracing::error!(%message, "a log event too large for the server is dropped")
                }
            },
            Err(other) => return Err(other),
        }
    }
    Ok(total)
}

/// A batch split into two with about half the events each (streams kept in order); `None` for
/// a single event.
fn halves(batch: LogBatch) -> Option<(LogBatch, LogBatch)> {
    let total: usize = batch.streams.iter().map(|s| s.events.len()).sum();
    if total < 2 {
        return None;
    }
    let mut left = total / 2;
    let (mut first, mut second) = (LogBatch::default(), LogBatch::default());
    for mut stream in batch.streams {
        if left == 0 {
            second.streams.push(stream);
        } else if stream.events.len() <= left {
            left -= stream.events.len();
            first.streams.push(stream);
        } else {
            let rest = stream.events.split_off(left);
            left = 0;
            let mut tail = stream.clone();
            tail.events = rest;
            first.streams.push(stream);
            second.streams.push(tail);
        }
    }
    Some((first, second))
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
    let (status, body) =
        exchange(client, url, token, body, REQUEST_TIMEOUT).await.map_err(ShipError::Transient)?;
    let text = || String::from_utf8_lossy(&body).trim().to_string();
    match status {
        200 => serde_json::from_slice(&body)
            .map_err(|e| ShipError::Transient(format!("unreadable answer from {url}: {e}"))),
        // A server that does not know the route (older than its agents) may learn it later.
        400 if text().contains("UnknownOperationException") => {
            Err(ShipError::Transient(format!("{status}: {}", text())))
        }
        413 => Err(ShipError::TooLarge(format!("{status}: {}", text()))),
        400 => Err(ShipError::Refused(format!("{status}: {}", text()))),
        // 401 (a token replaced), 5xx, a proxy's 502: wait and retry.
        _ => Err(ShipError::Transient(format!("{status}: {}", text()))),
    }
}

/// One `POST` of JSON `body` to the server with the instance credential: the status and the body of the
/// answer, or why there was none.
pub(crate) async fn exchange(
    client: &HttpClient,
    url: &str,
    token: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    let request = hyper::Request::post(url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("cannot build the request to {url}: {e}"))?;
    let answer = async {
        let response =
            client.request(request).await.map_err(|e| format!("cannot reach {url}: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {url}: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, body))
    };
    tokio::time::timeout(timeout, answer)
        .await
        .map_err(|_| format!("{url} did not answer in time"))?
}

/// A client for the agent's requests to its server (plain HTTP, kept-alive connections).
pub(crate) fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_split_events_evenly_and_keep_their_order() {
        use flotilla_api::agent::{LogLine, LogStreamBatch};
        let stream = |name: &str, range: std::ops::Range<i64>| LogStreamBatch {
            group: "g".into(),
            stream: name.into(),
            create_group: false,
            task_arn: None,
            events: range.map(|t| LogLine { timestamp: t, message: t.to_string() }).collect(),
        };
        let batch = LogBatch { streams: vec![stream("a", 0..3), stream("b", 3..8)] };
        let (first, second) = halves(batch).expect("two halves");
        let events = |b: &LogBatch| -> Vec<(String, i64)> {
            b.streams
                .iter()
                .flat_map(|s| s.events.iter().map(|e| (s.stream.clone(), e.timestamp)))
                .collect()
        };
        assert_eq!(
            events(&first),
            [("a".into(), 0), ("a".into(), 1), ("a".into(), 2), ("b".into(), 3)]
        );
        assert_eq!(events(&second).len(), 4);
        assert_eq!(events(&second)[0], ("b".into(), 4));
        assert!(halves(LogBatch { streams: vec![stream("a", 0..1)] }).is_none());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}

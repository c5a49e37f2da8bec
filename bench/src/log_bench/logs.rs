//! Reading a log stream back through CloudWatch Logs' GetLogEvents, as a user's tail would:
//! from the head, then following `nextForwardToken` (the token passed in comes back unchanged
//! at the end of the stream), on one keep-alive connection signed for service `logs`.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::client::{Connection, Signer, LOGS};
use crate::docker::epoch_now;
use crate::lines::LineCheck;

/// A request that takes longer than this fails the benchmark.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// GetLogEvents' largest page (a page also ends at 1 MB).
const PAGE_LIMIT: u32 = 10_000;

/// One stream being read, and what has arrived of it so far.
pub struct StreamReader {
    connection: Connection,
    signer: Signer,
    group: String,
    stream: String,
    /// Where the next page starts; `None` until the stream exists.
    token: Option<String>,
    pub check: LineCheck,
    /// Docker's timestamp of the first expected line and of the last one seen (epoch seconds).
    pub first_line_at: Option<f64>,
    pub last_line_at: Option<f64>,
    /// When the page holding the last line had arrived (epoch seconds).
    pub last_readable_at: Option<f64>,
    /// GetLogEvents calls made.
    pub calls: u64,
}

impl StreamReader {
    pub async fn open(
        port: u16,
        signer: &Signer,
        group: &str,
        stream: &str,
        check: LineCheck,
    ) -> Result<StreamReader> {
        Ok(StreamReader {
            connection: Connection::open(port).await?,
            signer: signer.clone(),
            group: group.to_string(),
            stream: stream.to_string(),
            token: None,
            check,
            first_line_at: None,
            last_line_at: None,
            last_readable_at: None,
            calls: 0,
        })
    }

    /// Reads every page there is now (until the forward token comes back unchanged), feeding
    /// the lines to the check. A stream that does not exist yet has nothing to read.
    pub async fn catch_up(&mut self) -> Result<()> {
        loop {
            let mut body = json!({
                "logGroupName": self.group,
                "logStreamName": self.stream,
                "startFromHead": true,
                "limit": PAGE_LIMIT,
            });
            if let Some(token) = &self.token {
                body["nextToken"] = json!(token);
            }
            let Some(page) = self.get_log_events(&body).await? else { return Ok(()) };
            let arrived = epoch_now();
            for event in page["events"].as_array().into_iter().flatten() {
                let message = event["message"].as_str().unwrap_or_default();
                let Some(n) = self.check.push(message) else { continue };
                let timestamp = event["timestamp"].as_f64().unwrap_or(0.0) / 1000.0;
                if n == 1 {
                    self.first_line_at = Some(timestamp);
                }
                if self.check.reached_last() && self.last_readable_at.is_none() {
                    self.last_line_at = Some(timestamp);
                    self.last_readable_at = Some(arrived);
                }
            }
            let next = page["nextForwardToken"]
                .as_str()
                .context("GetLogEvents answered without nextForwardToken")?
                .to_string();
            if self.token.as_deref() == Some(next.as_str()) {
                return Ok(());
            }
            self.token = Some(next);
        }
    }

    /// One GetLogEvents call; `None` while the group or stream does not exist.
    async fn get_log_events(&mut self, body: &Value) -> Result<Option<Value>> {
        self.calls += 1;
        let bytes = serde_json::to_vec(body)?;
        let sent = self.connection.call_service(&self.signer, LOGS, "GetLogEvents", bytes);
        let (status, answer) = match tokio::time::timeout(REQUEST_TIMEOUT, sent).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                self.connection.reset().await?;
                return Err(error.context("GetLogEvents failed"));
            }
            Err(_) => {
                self.connection.reset().await?;
                bail!("GetLogEvents took longer than {} s", REQUEST_TIMEOUT.as_secs());
            }
        };
        if !status.is_success() {
            let text = String::from_utf8_lossy(&answer);
            if text.contains("ResourceNotFoundException") {
                return Ok(None);
            }
            bail!("GetLogEvents: HTTP {status}: {text}");
        }
        serde_json::from_slice(&answer).map(Some).context("GetLogEvents: invalid JSON answer")
    }
}

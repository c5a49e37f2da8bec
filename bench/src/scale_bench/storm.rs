//! Phase "storm": closed-loop clients, each on its own keep-alive connection, calling RunTask
//! (count 10, group "storm", default strategy) for a fixed time; every call is timed from
//! signing to the last byte of the answer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::client::{Connection, Signer};

/// A call taking longer than this counts as an HTTP error (and its connection is replaced).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The task group of the storm's tasks.
pub const GROUP: &str = "storm";

pub struct Storm<'a> {
    pub port: u16,
    pub signer: &'a Signer,
    pub cluster: &'a str,
    pub task_definition: &'a str,
    pub clients: usize,
    pub count: u32,
    pub duration: Duration,
}

#[derive(Debug, Default)]
pub struct StormResult {
    pub elapsed: Duration,
    /// Latency of every call that got an HTTP answer, ms.
    pub latencies_ms: Vec<f64>,
    /// Tasks in the answers' `tasks`.
    pub tasks_started: u64,
    /// Entries of the answers' `failures`, by reason.
    pub failures: BTreeMap<String, u64>,
    /// Non-2xx answers, transport errors and timeouts; the first one's text.
    pub http_errors: u64,
    pub first_error: Option<String>,
    pub reconnects: u64,
}

impl StormResult {
    pub fn calls(&self) -> usize {
        self.latencies_ms.len()
    }

    pub fn failure_count(&self) -> u64 {
        self.failures.values().sum()
    }

    fn merge(&mut self, other: StormResult) {
        self.latencies_ms.extend(other.latencies_ms);
        self.tasks_started += other.tasks_started;
        for (reason, n) in other.failures {
            *self.failures.entry(reason).or_default() += n;
        }
        self.http_errors += other.http_errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.reconnects += other.reconnects;
    }
}

pub async fn run(storm: &Storm<'_>) -> Result<StormResult> {
    let start = Instant::now();
    let deadline = start + storm.duration;
    let clients = (0..storm.clients).map(|_| client(storm, deadline));
    let mut total = StormResult::default();
    for result in join_all(clients).await {
        total.merge(result?);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

async fn client(storm: &Storm<'_>, deadline: Instant) -> Result<StormResult> {
    let mut connection = Connection::open(storm.port).await?;
    let mut out = StormResult::default();
    let body = serde_json::to_vec(&json!({
        "cluster": storm.cluster,
        "taskDefinition": storm.task_definition,
        "count": storm.count,
        "group": GROUP,
        "startedBy": "scale-bench"
    }))?;
    while Instant::now() < deadline {
        let sent = Instant::now();
        let answer = tokio::time::timeout(
            CALL_TIMEOUT,
            connection.call(storm.signer, "RunTask", body.clone()),
        )
        .await;
        let latency = sent.elapsed();
        let error = match answer {
            Ok(Ok((status, bytes))) => {
                out.latencies_ms.push(latency.as_secs_f64() * 1000.0);
                if status.is_success() {
                    count_answer(&mut out, &bytes);
                    None
                } else {
                    Some(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)))
                }
            }
            Ok(Err(error)) => {
                connection.reset().await?;
                Some(format!("{error:#}"))
            }
            Err(_) => {
                connection.reset().await?;
                Some(format!("no answer within {} s", CALL_TIMEOUT.as_secs()))
            }
        };
        if let Some(error) = error {
            out.http_errors += 1;
            out.first_error.get_or_insert(error);
        }
    }
    out.reconnects = connection.reconnects;
    Ok(out)
}

/// Counts the started tasks and the failures (by reason) of a RunTask answer.
fn count_answer(out: &mut StormResult, bytes: &[u8]) {
    let Ok(answer) = serde_json::from_slice::<Value>(bytes) else {
        out.http_errors += 1;
        out.first_error.get_or_insert_with(|| "RunTask answered invalid JSON".into());
        return;
    };
    out.tasks_started += answer["tasks"].as_array().map_or(0, |t| t.len() as u64);
    for failure in answer["failures"].as_array().into_iter().flatten() {
        let reason = failure["reason"].as_str().unwrap_or("(no reason)").to_string();
        *out.failures.entry(reason).or_default() += 1;
    }
}

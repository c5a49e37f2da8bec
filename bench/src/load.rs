//! The workloads, the seed data, and the closed-loop load runner: N clients, each on its own
//! keep-alive connection, sending one request after another until the time or count runs out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::client::{Connection, Signer};
use crate::servers::Server;

/// Task-definition families seeded into each server, two revisions each.
pub const SEED_FAMILIES: usize = 50;
const SEED_REVISIONS: usize = 2;
/// A request that takes longer than this counts as an error (and its connection is replaced).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// DescribeTaskDefinition of a random seeded family (its latest ACTIVE revision).
    Describe,
    /// ListTaskDefinitions with maxResults 100.
    List,
    /// RegisterTaskDefinition: a new revision of the client's own family (a durable write).
    Register,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Workload::Describe, Workload::List, Workload::Register];

    pub fn operation(self) -> &'static str {
        match self {
            Workload::Describe => "DescribeTaskDefinition",
            Workload::List => "ListTaskDefinitions",
            Workload::Register => "RegisterTaskDefinition",
        }
    }

    fn body(self, rng: &mut Rng, client: usize) -> Vec<u8> {
        match self {
            Workload::Describe => {
                let family = seed_family(rng.below(SEED_FAMILIES));
                json!({ "taskDefinition": family }).to_string().into_bytes()
            }
            Workload::List => br#"{"maxResults":100}"#.to_vec(),
            Workload::Register => task_definition(&format!("bench-write-{client:03}")).into_bytes(),
        }
    }
}

fn seed_family(i: usize) -> String {
    format!("bench-{i:02}")
}

/// A typical small web-service task definition: two containers, ports, environment, logs.
pub fn task_definition(family: &str) -> String {
    let value: Value = json!({
        "family": family,
        "networkMode": "bridge",
        "containerDefinitions": [
            {
                "name": "web",
                "image": "public.ecr.aws/nginx/nginx:1.27",
                "cpu": 256,
                "memory": 512,
                "essential": true,
                "portMappings": [{ "containerPort": 80, "hostPort": 0, "protocol": "tcp" }],
                "environment": [
                    { "name": "MODE", "value": "production" },
                    { "name": "UPSTREAM", "value": "http://localhost:9000" }
                ],
                "logConfiguration": {
                    "logDriver": "json-file",
                    "options": { "max-size": "10m", "max-file": "3" }
                },
                "dependsOn": [{ "containerName": "app", "condition": "START" }],
                "links": ["app"]
            },
            {
                "name": "app",
                "image": "registry.example.com/shop/app:2.3.1",
                "cpu": 512,
                "memoryReservation": 768,
                "essential": true,
                "command": ["./serve", "--port", "9000"],
                "healthCheck": {
                    "command": ["CMD-SHELL", "curl -f http://localhost:9000/health || exit 1"],
                    "interval": 30, "timeout": 5, "retries": 3
                }
            }
        ],
        "tags": [{ "key": "team", "value": "shop" }]
    });
    value.to_string()
}

/// Registers the seed data (the same on every server) over one connection.
pub async fn seed(server: &Server) -> Result<()> {
    let mut connection = Connection::open(server.port).await?;
    for revision in 0..SEED_REVISIONS {
        for i in 0..SEED_FAMILIES {
            let body = task_definition(&seed_family(i)).into_bytes();
            let (status, answer) =
                connection.call(&server.signer, "RegisterTaskDefinition", body).await?;
            if !status.is_success() {
                bail!(
                    "{}: seeding {} revision {} failed: HTTP {status} {}",
                    server.name,
                    seed_family(i),
                    revision + 1,
                    String::from_utf8_lossy(&answer)
                );
            }
        }
    }
    Ok(())
}

/// What one workload run against one server measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// 2xx answers.
    pub ok: u64,
    /// Non-2xx answers, transport failures and timeouts.
    pub errors: u64,
    pub elapsed: Duration,
    /// Latencies of all answered requests, sorted.
    pub latencies: Vec<Duration>,
    /// The first error seen, to show why.
    pub first_error: Option<String>,
    /// Connections opened again after the server closed them.
    pub reconnects: u64,
}

impl Outcome {
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// This outcome and `other` together, as one run (for runs taken in turns).
    pub fn merge(mut self, other: Outcome) -> Outcome {
        self.ok += other.ok;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.latencies.sort_unstable();
        self.first_error = self.first_error.or(other.first_error);
        self.reconnects += other.reconnects;
        self
    }

    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        Some(self.latencies[rank.clamp(1, self.latencies.len()) - 1])
    }
}

/// Runs `clients` closed-loop clients against `server` for `duration`, `max_requests` at most.
pub async fn run(
    server: &Server,
    workload: Workload,
    clients: usize,
    duration: Duration,
    max_requests: u64,
) -> Result<Outcome> {
    // Connect everyone first, so that connection setup is not measured.
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(Connection::open(server.port).await?);
    }
    let budget = Arc::new(AtomicU64::new(max_requests));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients);
    for (client, connection) in connections.into_iter().enumerate() {
        let signer = server.signer.clone();
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            client_loop(connection, signer, workload, client, deadline, budget).await
        }));
    }
    let mut outcome = Outcome::default();
    for task in tasks {
        let part = task.await?;
        outcome.ok += part.ok;
        outcome.errors += part.errors;
        outcome.latencies.extend(part.latencies);
        outcome.reconnects += part.reconnects;
        if outcome.first_error.is_none() {
            outcome.first_error = part.first_error;
        }
    }
    outcome.elapsed = start.elapsed();
    outcome.latencies.sort_unstable();
    Ok(outcome)
}

async fn client_loop(
    mut connection: Connection,
    signer: Signer,
    workload: Workload,
    client: usize,
    deadline: Instant,
    budget: Arc<AtomicU64>,
) -> Outcome {
    let mut rng = Rng::new(client as u64 + 1);
    let mut outcome = Outcome { latencies: Vec::with_capacity(64 * 1024), ..Outcome::default() };
    let note = |outcome: &mut Outcome, error: String| {
        outcome.errors += 1;
        outcome.first_error.get_or_insert(error);
    };
    while Instant::now() < deadline
        && budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
    {
        let body = workload.body(&mut rng, client);
        // Timed from here: signing, and reconnecting when the server closed the connection, are
        // part of what a client waits for.
        let sent = Instant::now();
        let call = connection.call(&signer, workload.operation(), body);
        match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
            Ok(Ok((status, answer))) => {
                outcome.latencies.push(sent.elapsed());
                if status.is_success() {
                    outcome.ok += 1;
                } else {
                    let shown = &answer[..answer.len().min(300)];
                    note(
                        &mut outcome,
                        format!("HTTP {status}: {}", String::from_utf8_lossy(shown)),
                    );
                }
            }
            Ok(Err(error)) => {
                note(&mut outcome, format!("transport: {error:#}"));
                reset(&mut connection).await;
            }
            Err(_) => {
                note(&mut outcome, format!("no answer within {REQUEST_TIMEOUT:?}"));
                reset(&mut connection).await;
            }
        }
    }
    outcome.reconnects = connection.reconnects;
    outcome
}

/// After a failed request: a new connection, or a pause when even that fails.
async fn reset(connection: &mut Connection) {
    if connection.reset().await.is_err() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// xorshift64*: enough randomness to pick a family, without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

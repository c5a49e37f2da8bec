//! Health checks: for every target of a target group that a load balancer uses (registered,
//! not draining, checks enabled), an HTTP GET of the group's path on its health-check port
//! every interval, judged by the matcher; `healthy_threshold` passes in a row make it healthy,
//! `unhealthy_threshold` failures in a row unhealthy. Verdicts go on the health board.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flotilla_elbv2::health::{Failure, TargetKey, Verdict};
use flotilla_elbv2::model::{HealthCheck, Protocol, State, TargetType};
use flotilla_elbv2::App;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// What a target's check loop runs with; a change restarts the loop.
#[derive(Clone, PartialEq)]
struct Probe {
    check: HealthCheck,
    is_ip: bool,
}

/// The running checks, each with the settings it was started with.
#[derive(Default)]
pub struct Checks {
    running: HashMap<TargetKey, (Probe, JoinHandle<()>)>,
}

impl Checks {
    /// Starts checks of new targets, stops those of targets gone, restarts those whose group's
    /// settings changed.
    pub fn reconcile(&mut self, app: &Arc<App>, state: &State, now: f64) {
        let mut wanted: HashMap<TargetKey, Probe> = HashMap::new();
        for group in state.target_groups.values() {
            if !group.health_check.enabled || state.load_balancers_of(&group.arn).is_empty() {
                continue;
            }
            for target in group.live_targets(now).filter(|t| t.draining_since.is_none()) {
                let key = (group.arn.clone(), target.id.clone(), target.port);
                let is_ip = group.target_type == TargetType::Ip;
                wanted.insert(key, Probe { check: group.health_check.clone(), is_ip });
            }
        }
        self.running.retain(|key, (probe, task)| {
            let keep = wanted.get(key) == Some(probe);
            if !keep {
                task.abort();
            }
            keep
        });
        for (key, probe) in wanted {
            if self.running.contains_key(&key) {
                continue;
            }
            let task = tokio::spawn(check_loop(Arc::clone(app), key.clone(), probe.clone()));
            self.running.insert(key, (probe, task));
        }
        app.health.retain_targets(|key| self.running.contains_key(key));
    }
}

impl Drop for Checks {
    fn drop(&mut self) {
        for (_, task) in self.running.values() {
            task.abort();
        }
    }
}

/// Where a target is checked: an instance at its agent's address (asked each time: a check is
/// seconds apart), an IP as itself.
fn check_address(app: &App, is_ip: bool, id: &str, port: u16) -> Option<SocketAddr> {
    let ip = if is_ip { id.parse().ok()? } else { app.instances.instance(id)?.address? };
    Some(SocketAddr::new(ip, port))
}

async fn check_loop(app: Arc<App>, key: TargetKey, probe: Probe) {
    let Probe { check, is_ip } = probe;
    let (mut passes, mut failures) = (0u32, 0u32);
    let mut verdict = Verdict::Initial;
    app.health.set_verdict(key.clone(), verdict);
    let mut tick = tokio::time::interval(Duration::from_secs(u64::from(check.interval_seconds)));
    loop {
        tick.tick().await;
        let port = check.port.unwrap_or(key.2);
        let outcome = match check_address(&app, is_ip, &key.1, port) {
            Some(addr) => check_once(addr, &check).await,
            None => Err(Failure::Timeout),
        };
        match outcome {
            Ok(()) => {
                passes += 1;
                failures = 0;
                if passes >= check.healthy_threshold {
                    verdict = Verdict::Healthy;
                }
            }
            Err(failure) => {
                failures += 1;
                passes = 0;
                if failures >= check.unhealthy_threshold {
                    verdict = Verdict::Unhealthy(failure);
                }
            }
        }
        app.health.set_verdict(key.clone(), verdict);
    }
}

/// One health check within the timeout: HTTP, a GET of the path answered with a code of the
/// matcher; TCP, a connection accepted.
async fn check_once(addr: SocketAddr, check: &HealthCheck) -> Result<(), Failure> {
    let timeout = Duration::from_secs(u64::from(check.timeout_seconds));
    let attempt = async {
        let stream = TcpStream::connect(addr).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => Failure::Failed,
            _ => Failure::Timeout,
        })?;
        if check.protocol == Protocol::Tcp {
            return Ok(());
        }
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|_| Failure::Failed)?;
        let connection = tokio::spawn(connection);
        let request = hyper::Request::get(check.path.as_str())
            .header(hyper::header::HOST, addr.to_string())
            .header(hyper::header::USER_AGENT, "ELB-HealthChecker/2.0")
            .header(hyper::header::CONNECTION, "close")
            .body(Empty::new())
            .map_err(|_| Failure::Failed)?;
        let response = sender.send_request(request).await.map_err(|_| Failure::Failed)?;
        connection.abort();
        let status = response.status().as_u16();
        if check.matches(status) {
            Ok(())
        } else {
            Err(Failure::ResponseCodeMismatch(status))
        }
    };
    tokio::time::timeout(timeout, attempt).await.unwrap_or(Err(Failure::Timeout))
}

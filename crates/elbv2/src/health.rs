//! What the data plane sees, for the API to tell: each target's health-check verdicts and
//! whether each load balancer's listeners are up. The proxy writes; DescribeTargetHealth and
//! DescribeLoadBalancers read.

use std::collections::HashMap;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

/// A target as health checks know it: (target group ARN, target id, port).
pub type TargetKey = (String, String, u16);

/// What health checks have concluded about a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Not yet enough passed checks (ELB's `initial`, `Elb.InitialHealthChecking`).
    Initial,
    Healthy,
    /// Failed `unhealthy_threshold` checks in a row, for the reason given.
    Unhealthy(Failure),
}

/// Why a target is unhealthy, as ELB's reason codes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Failure {
    /// It answered with a code the matcher does not take.
    ResponseCodeMismatch(u16),
    /// No answer within the timeout, or no connection (`Target.Timeout`).
    Timeout,
    /// The connection was refused or broken (`Target.FailedHealthChecks`).
    Failed,
}

impl Verdict {
    /// ELB's (state, reason, description).
    pub fn describe(self) -> (&'static str, Option<&'static str>, Option<String>) {
        match self {
            Verdict::Initial => (
                "initial",
                Some("Elb.InitialHealthChecking"),
                Some("Initial health checks in progress".into()),
            ),
            Verdict::Healthy => ("healthy", None, None),
            Verdict::Unhealthy(Failure::ResponseCodeMismatch(code)) => (
                "unhealthy",
                Some("Target.ResponseCodeMismatch"),
                Some(format!("Health checks failed with these codes: [{code}]")),
            ),
            Verdict::Unhealthy(Failure::Timeout) => {
                ("unhealthy", Some("Target.Timeout"), Some("Request timed out".into()))
            }
            Verdict::Unhealthy(Failure::Failed) => (
                "unhealthy",
                Some("Target.FailedHealthChecks"),
                Some("Health checks failed".into()),
            ),
        }
    }
}

/// Every target's verdict, as a remote data plane reports it.
pub type Verdicts = Vec<(TargetKey, Verdict)>;
/// Every load balancer's data plane state, as a remote data plane reports it.
pub type Servings = Vec<(String, Serving)>;

/// A load balancer's data plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Serving {
    /// Every listener listens.
    Active,
    /// A listener could not listen (why).
    Impaired(String),
}

/// The board the proxy writes.
#[derive(Debug, Default)]
pub struct HealthBoard {
    targets: RwLock<HashMap<TargetKey, Verdict>>,
    balancers: RwLock<HashMap<String, Serving>>,
}

impl HealthBoard {
    pub fn verdict(&self, key: &TargetKey) -> Option<Verdict> {
        read(&self.targets).get(key).copied()
    }

    pub fn set_verdict(&self, key: TargetKey, verdict: Verdict) {
        write(&self.targets).insert(key, verdict);
    }

    /// Keeps only the verdicts of targets still checked.
    pub fn retain_targets(&self, keep: impl Fn(&TargetKey) -> bool) {
        write(&self.targets).retain(|k, _| keep(k));
    }

    pub fn serving(&self, lb_arn: &str) -> Option<Serving> {
        read(&self.balancers).get(lb_arn).cloned()
    }

    pub fn set_serving(&self, lb_arn: &str, serving: Serving) {
        write(&self.balancers).insert(lb_arn.to_string(), serving);
    }

    pub fn retain_balancers(&self, keep: impl Fn(&str) -> bool) {
        write(&self.balancers).retain(|k, _| keep(k));
    }

    /// The whole board, sorted (what a remote data plane reports).
    pub fn export(&self) -> (Verdicts, Servings) {
        let mut targets: Vec<_> =
            read(&self.targets).iter().map(|(k, v)| (k.clone(), *v)).collect();
        targets.sort_by(|a, b| a.0.cmp(&b.0));
        let mut balancers: Vec<_> =
            read(&self.balancers).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        balancers.sort_by(|a, b| a.0.cmp(&b.0));
        (targets, balancers)
    }

    /// Replaces the whole board (with what a remote data plane reported).
    pub fn replace(&self, targets: Verdicts, balancers: Servings) {
        *write(&self.targets) = targets.into_iter().collect();
        *write(&self.balancers) = balancers.into_iter().collect();
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

//! Services behind load balancers: what ECS needs of ELBv2 ([`LoadBalancing`], a trait ECS owns
//! and the server wires to ELBv2), the targets a service task stands for (its instance and the
//! host port of the container port each `loadBalancers` entry names), and the step (run every 250 ms by `crate::spawn`) that keeps
//! target groups registered with exactly the running tasks — a task is registered once RUNNING
//! and deregistered when it stops, before its containers get SIGTERM (the controller holds that
//! back for the target groups' deregistration delay: `TaskRecord::deregistering_until`).

use flotilla_api::service::ServiceLoadBalancer;
use flotilla_api::status::TaskStatus;

use crate::state::{State, TaskRecord};
use crate::{App, BoxFuture};

/// A target group as ECS checks a service's `loadBalancers` against it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroupInfo {
    /// `instance` or `ip`.
    pub target_type: String,
    /// Whether a listener or rule of a load balancer forwards to it.
    pub has_load_balancer: bool,
    /// Seconds a deregistered target drains.
    pub deregistration_delay: f64,
}

/// What a load balancer's health checks say of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetHealth {
    Healthy,
    Unhealthy,
    /// Not judged yet (initial checks, or not registered yet).
    Pending,
}

/// A target: (target group ARN, instance id, port).
pub type Target = (String, String, u16);

/// What ECS needs of ELBv2.
pub trait LoadBalancing: Send + Sync {
    fn target_group(&self, arn: &str) -> Option<TargetGroupInfo>;
    /// Registers `register` (if not registered) and deregisters `deregister` (if registered
    /// and not already draining) in one change.
    fn sync(
        &self,
        register: Vec<Target>,
        deregister: Vec<Target>,
    ) -> BoxFuture<'_, Result<(), String>>;
    /// Which of `targets` are registered and serving now (a draining one is not).
    fn registered(&self, targets: &[Target]) -> Vec<bool>;
    fn health(&self, target: &Target) -> TargetHealth;
}

/// No load balancers (a region whose ELBv2 is not wired, and tests).
pub struct NoLoadBalancing;

impl LoadBalancing for NoLoadBalancing {
    fn target_group(&self, _arn: &str) -> Option<TargetGroupInfo> {
        None
    }

    fn sync(&self, _: Vec<Target>, _: Vec<Target>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn registered(&self, targets: &[Target]) -> Vec<bool> {
        vec![false; targets.len()]
    }

    fn health(&self, _: &Target) -> TargetHealth {
        TargetHealth::Pending
    }
}

/// The targets `task` stands for in its service's target groups: its instance's machine id and
/// the host port bound to each entry's container port (none until the agent reports them).
pub fn task_targets(
    state: &State,
    task: &TaskRecord,
    entries: &[ServiceLoadBalancer],
) -> Vec<Target> {
    let Some(instance) = task
        .instance_id
        .as_deref()
        .and_then(|id| state.instances.get(&(task.cluster.clone(), id.to_string())))
    else {
        return Vec::new();
    };
    let host = &instance.instance.ec2_instance_id;
    entries
        .iter()
        .filter_map(|entry| {
            let container = task.task.containers.iter().find(|c| c.name == entry.container_name)?;
            let port = container.network_bindings.iter().find_map(|b| {
                let matches = b.container_port == Some(entry.container_port)
                    && b.protocol.as_deref().unwrap_or("tcp") == "tcp";
                matches.then_some(b.host_port).flatten()
            })?;
            Some((entry.target_group_arn.clone(), host.clone(), u16::try_from(port).ok()?))
        })
        .collect()
}

/// Whether a service task should be a target now: running, not stopping.
fn should_serve(task: &TaskRecord) -> bool {
    task.task.last_status == TaskStatus::Running
        && task.task.desired_status == TaskStatus::Running
        && task.deregistering_until.is_none()
}

/// The registrations the tasks want: (register, deregister).
fn plan(app: &App) -> (Vec<Target>, Vec<Target>) {
    let state = app.state.read();
    let (mut register, mut deregister) = (Vec::new(), Vec::new());
    for service in state.services.values().filter(|s| s.behind_load_balancers()) {
        for task in crate::registrations::service_tasks(&state, service) {
            let targets = task_targets(&state, task, service.load_balancers_of(task));
            if should_serve(task) {
                register.extend(targets);
            } else {
                // Stopping, stopped or crashed: whatever it was registered as goes.
                deregister.extend(targets);
            }
        }
    }
    drop(state);
    // A host port a stopped task had may belong to a running one now: that one stays.
    deregister.retain(|t| !register.contains(t));
    // Only what differs from ELBv2's records goes to it.
    let registered = app.load_balancing.registered(&register);
    let register = crate::registrations::where_flag(register, registered, false);
    let registered = app.load_balancing.registered(&deregister);
    (register, crate::registrations::where_flag(deregister, registered, true))
}

/// Brings target groups in step with the services' running tasks (one pass).
pub(crate) async fn step(app: &App) {
    let (register, deregister) = plan(app);
    if register.is_empty() && deregister.is_empty() {
        return;
    }
    if let Err(error) = app.load_balancing.sync(register, deregister).await {
        tracing::warn!(%error, "cannot update the target groups of services");
    }
}

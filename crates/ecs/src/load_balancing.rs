//! Services behind load balancers: what ECS needs of ELBv2 ([`LoadBalancing`], a trait ECS owns
//! and the server wires to ELBv2), the targets a service task stands for (its instance and the
//! host port of the container port each `loadBalancers` entry names), and the step (run every 250 ms by `crate::spawn`) that keeps
//! target groups registered with exactly the running tasks — a task is registered once RUNNING
//! and deregistered when it stops, before its containers get SIGTERM (the controller holds that
//! back for the target groups' deregistration delay: `TaskRecord::deregistering_until`).

use flotilla_api::service::ServiceLoadBalancer;
use flotilla_api::status::TaskStatus;

use crate::state::{task_key, Record, State, TaskRecord};
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

/// A target: (target group ARN, instance id or (ip targets) address, port).
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

/// The targets `task` stands for in its service's target groups: an awsvpc task's own address
/// and each entry's container port (`ip` target groups, once the agent has wired it); else its
/// instance's machine id and the host port bound to each entry's container port (none until
/// the agent reports them).
pub fn task_targets(
    state: &State,
    task: &TaskRecord,
    entries: &[ServiceLoadBalancer],
) -> Vec<Target> {
    if let Some(interface) = &task.task.interface {
        let Some(address) = &interface.ipv4_address else { return Vec::new() };
        return entries
            .iter()
            .filter_map(|entry| {
                let container =
                    task.task.containers.iter().find(|c| c.name == entry.container_name)?;
                container.runtime_id.as_ref()?;
                let port = u16::try_from(entry.container_port).ok()?;
                Some((entry.target_group_arn.clone(), address.clone(), port))
            })
            .collect();
    }
    let Some(instance) = state.instance_of(task) else {
        return Vec::new();
    };
    let host = &instance.instance.ec2_instance_id;
    // In host mode a container listens on the host's own port: Docker reports no binding.
    let host_mode = state
        .task_definition_by_arn(&task.task.task_definition_arn)
        .is_some_and(|d| d.definition.network_mode.as_deref() == Some("host"));
    entries
        .iter()
        .filter_map(|entry| {
            let container = task.task.containers.iter().find(|c| c.name == entry.container_name)?;
            let bound = container.network_bindings.iter().find_map(|b| {
                let matches = b.container_port == Some(entry.container_port)
                    && b.protocol.as_deref().unwrap_or("tcp") == "tcp";
                matches.then_some(b.host_port).flatten()
            });
            let port = match bound {
                Some(port) => port,
                None if host_mode && container.runtime_id.is_some() => entry.container_port,
                None => return None,
            };
            Some((entry.target_group_arn.clone(), host.clone(), u16::try_from(port).ok()?))
        })
        .collect()
}

/// Whether a service task should be a target now: activating or running, not stopping.
fn should_serve(task: &TaskRecord) -> bool {
    matches!(task.task.last_status, TaskStatus::Activating | TaskStatus::Running)
        && task.task.desired_status == TaskStatus::Running
        && task.deregistering_until.is_none()
}

/// The service whose task `task` is, if it is a service's.
fn service_of<'s>(state: &'s State, task: &TaskRecord) -> Option<&'s crate::state::ServiceRecord> {
    let name = task.task.group.as_deref()?.strip_prefix("service:")?;
    state.services.get(&(task.cluster.clone(), name.to_string()))
}

/// Whether `task` is a target of every target group its service's entries name (true for a
/// task behind no load balancer; a target group that is gone asks nothing).
pub(crate) fn registered_everywhere(
    state: &State,
    task: &TaskRecord,
    load_balancing: &dyn LoadBalancing,
) -> bool {
    let Some(service) = service_of(state, task) else { return true };
    let entries: Vec<ServiceLoadBalancer> = service
        .load_balancers_of(task)
        .iter()
        .filter(|e| load_balancing.target_group(&e.target_group_arn).is_some())
        .cloned()
        .collect();
    if entries.is_empty() {
        return true;
    }
    let targets = task_targets(state, task, &entries);
    targets.len() == entries.len() && load_balancing.registered(&targets).iter().all(|r| *r)
}

/// ACTIVATING tasks whose targets are all registered become RUNNING.
async fn finish_activations(app: &App) {
    let ready: Vec<(String, String)> = {
        let state = app.state.read();
        state
            .services
            .values()
            .filter(|s| s.behind_load_balancers())
            .flat_map(|s| crate::registrations::service_tasks(&state, s))
            .filter(|t| t.task.last_status == TaskStatus::Activating)
            .filter(|t| registered_everywhere(&state, t, app.load_balancing.as_ref()))
            .map(|t| (t.cluster.clone(), t.id.clone()))
            .collect()
    };
    if ready.is_empty() {
        return;
    }
    let written = app
        .state
        .write(move |staged| {
            for (cluster, id) in ready {
                let Some(Record::Task(mut record)) = staged.get(&task_key(&cluster, &id)) else {
                    continue;
                };
                if record.task.last_status == TaskStatus::Activating {
                    record.task.last_status = TaskStatus::Running;
                    record.task.version += 1;
                    staged.put(Record::Task(record));
                }
            }
            Ok::<(), flotilla_api::ApiError>(())
        })
        .await;
    if let Err(error) = written {
        tracing::warn!(%error, "cannot make activated tasks RUNNING");
    }
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

/// Brings target groups in step with the services' running tasks (one pass), then makes the
/// tasks whose registration is done RUNNING.
pub(crate) async fn step(app: &App) {
    let (register, deregister) = plan(app);
    if !register.is_empty() || !deregister.is_empty() {
        if let Err(error) = app.load_balancing.sync(register, deregister).await {
            tracing::warn!(%error, "cannot update the target groups of services");
        }
    }
    finish_activations(app).await;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use flotilla_api::instance::ContainerInstance;
    use flotilla_api::service::Service;
    use flotilla_api::task::{Container, NetworkBinding, Task};

    use super::*;
    use crate::state::{InstanceRecord, Reservation, ServiceRecord};

    /// ELBv2 as a set of registered targets.
    #[derive(Default)]
    struct Registered(Mutex<Vec<Target>>);

    impl LoadBalancing for Registered {
        fn target_group(&self, arn: &str) -> Option<TargetGroupInfo> {
            (arn != "gone").then(|| TargetGroupInfo {
                target_type: "instance".into(),
                has_load_balancer: true,
                deregistration_delay: 0.0,
            })
        }
        fn sync(&self, _: Vec<Target>, _: Vec<Target>) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
        fn registered(&self, targets: &[Target]) -> Vec<bool> {
            let known = self.0.lock().expect("lock");
            targets.iter().map(|t| known.contains(t)).collect()
        }
        fn health(&self, _: &Target) -> TargetHealth {
            TargetHealth::Pending
        }
    }

    fn state(groups: &[&str], bound: bool) -> State {
        let mut state = State::default();
        state.insert_for_test(Record::Instance(Box::new(InstanceRecord {
            cluster: "c".into(),
            id: "ci".into(),
            instance: ContainerInstance {
                ec2_instance_id: "i-1".into(),
                ..ContainerInstance::default()
            },
            custom_attributes: Vec::new(),
            announced_attributes: Vec::new(),
            credential_hash: None,
        })));
        let load_balancers = groups
            .iter()
            .map(|g| ServiceLoadBalancer {
                target_group_arn: g.to_string(),
                container_name: "web".into(),
                container_port: 8080,
            })
            .collect();
        state.insert_for_test(Record::Service(Box::new(ServiceRecord {
            cluster: "c".into(),
            name: "web".into(),
            service: Service { service_name: "web".into(), load_balancers, ..Service::default() },
            last_completed_task_definition: None,
            throttled_until: None,
            steady_since: None,
            client_token: None,
            task_set_tokens: Default::default(),
            deployment_targets: Default::default(),
        })));
        let bindings = if bound {
            vec![NetworkBinding {
                container_port: Some(8080),
                host_port: Some(32768),
                ..NetworkBinding::default()
            }]
        } else {
            Vec::new()
        };
        state.insert_for_test(Record::Task(Box::new(TaskRecord {
            cluster: "c".into(),
            id: "t1".into(),
            instance_id: Some("ci".into()),
            reservation: Reservation::default(),
            protected_until: None,
            client_token: None,
            deregistering_until: None,
            task: Task {
                last_status: TaskStatus::Activating,
                group: Some("service:web".into()),
                containers: vec![Container {
                    name: "web".into(),
                    network_bindings: bindings,
                    ..Container::default()
                }],
                ..Task::default()
            },
        })));
        state
    }

    fn task(state: &State) -> &TaskRecord {
        state.tasks.values().next().expect("the task")
    }

    #[test]
    fn a_task_is_activated_once_every_target_group_has_it() {
        let elb = Registered::default();
        let state = state(&["tg-a", "tg-b"], true);
        assert!(!registered_everywhere(&state, task(&state), &elb), "nothing registered yet");
        elb.0.lock().expect("lock").push(("tg-a".into(), "i-1".into(), 32768));
        assert!(!registered_everywhere(&state, task(&state), &elb), "one group of two");
        elb.0.lock().expect("lock").push(("tg-b".into(), "i-1".into(), 32768));
        assert!(registered_everywhere(&state, task(&state), &elb));
    }

    #[test]
    fn nothing_to_register_activates_at_once_and_unbound_ports_wait() {
        let elb = Registered::default();
        let gone = state(&["gone"], true);
        assert!(registered_everywhere(&gone, task(&gone), &elb), "a deleted group asks nothing");
        let none = state(&[], true);
        assert!(registered_everywhere(&none, task(&none), &elb), "no load balancer");
        let unbound = state(&["tg-a"], false);
        assert!(!registered_everywhere(&unbound, task(&unbound), &elb), "no host port yet");
    }
}

//! The service controller: keeps every service's tasks what its deployments want. Each pass
//! reads the state inside one write (so its placements and stops are consistent with everything
//! committed before), asks the pure scheduler what to start and stop, and records deployments'
//! progress and ECS's service events.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::agent::FARGATE_POOL;
use flotilla_api::capacity::share_out;
use flotilla_api::cluster::CapacityProviderStrategyItem;
use flotilla_api::service::{AwsVpcConfig, Deployment, ServiceEvent};
use flotilla_api::status::{
    DeploymentControllerType, DeploymentStatus, HealthStatus, InstanceStatus, RolloutState,
    ServiceStatus, StabilityStatus, TaskSetStatus,
};
use flotilla_api::task::TaskOverride;
use flotilla_api::task::TaskStatus;
use flotilla_scheduler::placement::check;
use flotilla_scheduler::service::{
    failure_threshold, reconcile_replica, ReplicaInput, ServiceTask, StopWhy,
};
use flotilla_scheduler::{place, reserve, Reason, Request, Strategy};

use crate::deactivation::{deactivate, deregistration_hold};
use crate::domain::capacity::provider_constraint;
use crate::domain::deployments::service_deployment;
use crate::domain::launch::reservation;
use crate::domain::placement;
use crate::domain::tasks::{new_ids, new_task, run_on_fargate, Launch, TaskIds};
use crate::load_balancing::{task_targets, LoadBalancing, TargetHealth};
use crate::state::{Record, ServiceRecord, Staged, State, TaskRecord};
use crate::{vpc, App};

/// How often the controller looks at every service even when nothing changed.
const PASS_EVERY: Duration = Duration::from_millis(500);
/// Passes follow changes at most this often (a burst of commits makes one pass, not many).
const MIN_PASS_GAP: Duration = Duration::from_millis(100);
/// Events kept per service, as the console shows them.
const MAX_EVENTS: usize = 100;
/// "has reached a steady state" is repeated at most this often while it stays steady.
const STEADY_EVENT_EVERY: f64 = 6.0 * 3600.0;
/// A task without health checks counts as healthy once it has been RUNNING this long (ECS
/// waits 40 s; a short wait is enough to tell a crash loop from a running task).
const STABLE_AFTER_SECONDS: f64 = 3.0;
/// The longest the service throttle holds starts back, as ECS's.
const MAX_THROTTLE_SECONDS: f64 = 900.0;
/// Event ids prepared per pass (outside the writer).
const IDS_PER_PASS: usize = 64;
/// A pass starts at most this many tasks per service, so one big service does not hold the
/// writer long; the next pass (at most 100 ms later) goes on.
const MAX_STARTS_PER_PASS: usize = 1000;

/// A steady service nothing happened to is still reconciled this often, as a safety net (its
/// plan depends only on what the skip compares, and the periodic steady event); at most one
/// such recheck per pass, so big services do not all stall the writer at once.
const RECHECK_STEADY_EVERY: f64 = 30.0;

/// What a service looked like after its last reconcile, to skip it while nothing changes.
struct Seen {
    record: ServiceRecord,
    /// `State::group_change_of` for its tasks and its cluster's instances.
    changes: (u64, u64),
    lost_generation: u64,
    at: f64,
}

type SeenServices = Arc<std::sync::Mutex<std::collections::HashMap<(String, String), Seen>>>;

pub fn spawn(app: Arc<App>, agent_timeout: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut changes = app.state.subscribe();
        let mut controller = Controller::new(agent_timeout);
        loop {
            let started = std::time::Instant::now();
            controller.pass(&app).await;
            // Wake on the next change or the next tick. A change right after a quiet spell is
            // acted on at once; one soon after the last pass waits out the gap (leading-edge
            // debounce), so bursts of commits make one pass.
            tokio::select! {
                _ = changes.changed() => tokio::time::sleep(MIN_PASS_GAP.saturating_sub(started.elapsed())).await,
                _ = tokio::time::sleep(PASS_EVERY) => {}
            }
        }
    })
}

/// The service controller between passes: what it remembers of services and lost agents.
pub struct Controller {
    agent_timeout: Duration,
    seen: SeenServices,
    last_lost: HashSet<String>,
    lost_generation: u64,
}

impl Controller {
    pub fn new(agent_timeout: Duration) -> Controller {
        Controller {
            agent_timeout,
            seen: Arc::default(),
            last_lost: HashSet::new(),
            lost_generation: 0,
        }
    }

    /// One pass over every service, committed as one write: the time is the app's clock's,
    /// the randomness a seed drawn before the write.
    pub async fn pass(&mut self, app: &App) {
        let now = app.clock.epoch_seconds();
        let lost = app.agents.lost(&app.state.read(), self.agent_timeout);
        if lost != self.last_lost {
            self.lost_generation += 1;
            self.last_lost.clone_from(&lost);
        }
        let lost_generation = self.lost_generation;
        let seen = Arc::clone(&self.seen);
        let connected = app.agents.connected_ids();
        let event_ids: Vec<String> =
            (0..IDS_PER_PASS).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        let scope = app.scope.clone();
        let load_balancing = Arc::clone(&app.load_balancing);
        let networks = service_networks(app).await;
        let seed = placement::seed();
        // Settled: the pass reads services, tasks and instances from committed state and
        // writes whole records back; nothing may be staged or committing under it.
        let result = app
            .state
            .write_settled(move |staged| {
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                let mut pass = Pass {
                    staged,
                    now,
                    lost,
                    lost_generation,
                    connected,
                    event_ids,
                    scope,
                    seen: &mut seen,
                    load_balancing,
                    networks,
                    seeds: Seeds(std::cell::Cell::new(seed)),
                };
                pass.run();
                Ok(())
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "service controller pass failed");
        }
    }
}

/// What a pass does for one service: tasks to start (DAEMON: on which instance), tasks to stop
/// and why, whether it is steady, and (DAEMON) how many instances it should cover.
type PassPlan = (Vec<Option<String>>, Vec<(String, StopWhy)>, bool, usize);

struct Pass<'a, 'b> {
    staged: &'a mut Staged<'b>,
    now: f64,
    lost: HashSet<String>,
    lost_generation: u64,
    seen: &'a mut std::collections::HashMap<(String, String), Seen>,
    connected: Arc<HashSet<String>>,
    event_ids: Vec<String>,
    scope: flotilla_api::arn::ArnScope,
    /// Target groups' delays and health, for services with `loadBalancers`.
    load_balancing: Arc<dyn LoadBalancing>,
    /// The subnets (and their hosts' slices) of awsvpc services' configurations, readied
    /// before the pass (it cannot wait on the VPC).
    networks: ServiceNetworks,
    /// Randomness of placements and scale-in ties, drawn before the pass so the pass itself
    /// is deterministic: each use takes the next value of this sequence.
    seeds: Seeds,
}

/// A sequence of seeds from one drawn outside the deterministic apply (SplitMix64: each value
/// well mixed, the same sequence for the same start).
struct Seeds(std::cell::Cell<u64>);

impl Seeds {
    fn next(&self) -> u64 {
        let state = self.0.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.0.set(state);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Where the tasks of `deployment` (a deployment or a task set of `service`) run: the
/// service's cluster's instances, or the Fargate capacity (by launch type or strategy).
fn hosts_of<'s>(service: &'s ServiceRecord, deployment: &str) -> &'s str {
    let fargate = match service.service.deployments.iter().find(|d| d.id == deployment) {
        Some(d) => d.runs_on_fargate(),
        None => service
            .service
            .task_sets
            .iter()
            .find(|set| set.id == deployment)
            .is_some_and(|set| set.runs_on_fargate()),
    };
    if fargate {
        FARGATE_POOL
    } else {
        &service.cluster
    }
}

/// (hosts' cluster, configuration) -> the configuration readied for those hosts.
type ServiceNetworks = HashMap<(String, AwsVpcConfig), Result<Arc<vpc::Prepared>, String>>;

/// Readies the network configuration of every deployment and task set of the region's active
/// services (nothing is read when no service has one).
async fn service_networks(app: &App) -> ServiceNetworks {
    let wanted: HashSet<(String, AwsVpcConfig)> = {
        let state = app.state.read();
        state
            .services
            .values()
            .filter(|s| s.service.status != ServiceStatus::Inactive)
            .flat_map(|s| {
                let deployments = s.service.deployments.iter().filter_map(|d| {
                    d.network_configuration.clone().map(|c| (hosts_of(s, &d.id).to_string(), c))
                });
                let sets = s.service.task_sets.iter().filter_map(|t| {
                    t.network_configuration.clone().map(|c| (hosts_of(s, &t.id).to_string(), c))
                });
                deployments.chain(sets)
            })
            .collect()
    };
    let mut networks = HashMap::new();
    if wanted.is_empty() {
        return networks;
    }
    let view = match app.vpc.view().await {
        Ok(view) => view,
        Err(error) => {
            for key in wanted {
                networks.insert(key, Err(error.clone()));
            }
            return networks;
        }
    };
    for (cluster, config) in wanted {
        let ready = vpc::ready(app, &cluster, config.clone(), &view).await.map(Arc::new);
        networks.insert((cluster, config), ready);
    }
    networks
}

impl<'b> Pass<'_, 'b> {
    fn run(&mut self) {
        self.stop_tasks_on_lost_instances();
        self.end_deregistrations();
        let services: Vec<ServiceRecord> = self
            .staged
            .state()
            .services
            .values()
            .filter(|s| s.service.status != ServiceStatus::Inactive)
            .cloned()
            .collect();
        let mut rechecked = false;
        for before in services {
            let key = (before.cluster.clone(), before.name.clone());
            let changes = self
                .staged
                .state()
                .group_change_of(&before.cluster, &format!("service:{}", before.name));
            // A steady REPLICA service whose record, tasks, instances and lost agents are as
            // they were after its last reconcile has nothing to do. (DAEMON membership can
            // hang on other groups' tasks and on connectivity: those are always reconciled.)
            // Load balancers' health checks change nothing stored: services behind them are
            // always reconciled too.
            let unchanged = self.seen.get(&key).filter(|s| {
                before.service.scheduling_strategy != "DAEMON"
                    && !before.behind_load_balancers()
                    && s.record == before
                    && s.changes == changes
                    && s.lost_generation == self.lost_generation
                    && before.steady_since.is_some()
            });
            if let Some(seen) = unchanged {
                let due = self.now - seen.at >= RECHECK_STEADY_EVERY
                    || before.steady_since.is_some_and(|t| self.now - t >= STEADY_EVENT_EVERY);
                if !due || rechecked {
                    continue;
                }
                rechecked = true;
            }
            let mut service = before.clone();
            self.reconcile(&mut service);
            // Counts are not stored: zero them so a pass writes only real changes.
            service.service.running_count = 0;
            service.service.pending_count = 0;
            // Tasks this pass writes change the group's number when they commit, so the next
            // pass looks again.
            let seen = Seen {
                record: service.clone(),
                changes,
                lost_generation: self.lost_generation,
                at: self.now,
            };
            self.seen.insert(key, seen);
            if service != before {
                self.staged.put(Record::Service(Box::new(service)));
            }
        }
    }

    /// Tasks whose load balancers' deregistration delay is over: their agents are now told to
    /// stop them (SIGTERM), requests in flight having had the delay to finish.
    fn end_deregistrations(&mut self) {
        let now = self.now;
        let done: Vec<TaskRecord> = self
            .staged
            .state()
            .tasks
            .values()
            .filter(|t| t.deregistering_until.is_some_and(|until| until <= now))
            .cloned()
            .collect();
        for mut task in done {
            task.deregistering_until = None;
            task.task.version += 1;
            self.staged.put(Record::Task(Box::new(task)));
        }
    }

    /// Service tasks on instances whose agent has been silent too long are replaced: they are
    /// marked to stop (their agent stops them if it ever comes back) and stop counting.
    fn stop_tasks_on_lost_instances(&mut self) {
        if self.lost.is_empty() {
            return;
        }
        let doomed: Vec<TaskRecord> = self
            .staged
            .state()
            .tasks
            .values()
            .filter(|t| {
                t.task.desired_status == TaskStatus::Running
                    && t.task.last_status != TaskStatus::Stopped
            })
            .filter(|t| t.task.group.as_deref().is_some_and(|g| g.starts_with("service:")))
            .filter(|t| t.instance_id.as_ref().is_some_and(|i| self.lost.contains(i)))
            .cloned()
            .collect();
        for mut task in doomed {
            task.task.desired_status = TaskStatus::Stopped;
            keep_first_cause(
                &mut task,
                "Task stopped because its container instance stopped responding".into(),
            );
            task.task.stopping_at.get_or_insert(self.now);
            task.task.connectivity = Some("DISCONNECTED".into());
            task.task.version += 1;
            self.staged.put(Record::Task(Box::new(task)));
        }
    }

    fn event(&mut self, service: &mut ServiceRecord, message: String) {
        let id = self.event_ids.pop().unwrap_or_else(|| format!("{}", self.now));
        let events = &mut service.service.events;
        events.insert(0, ServiceEvent { id, created_at: self.now, message });
        events.truncate(MAX_EVENTS);
    }

    /// Adds an event unless it is the latest one already: said once per change of situation,
    /// not every pass.
    fn event_once(&mut self, service: &mut ServiceRecord, message: String) {
        if service.service.events.first().map(|e| &e.message) != Some(&message) {
            self.event(service, message);
        }
    }

    /// The service's tasks that are not STOPPED (and, separately, all of them).
    fn tasks_of(&self, service: &ServiceRecord) -> Vec<Cow<'b, TaskRecord>> {
        let state: &'b State = self.staged.state();
        let group = format!("service:{}", service.name);
        // Committed tasks are borrowed; only ones this commit already rewrote are copied.
        let rewritten: std::collections::HashMap<&str, Option<&Record>> = self
            .staged
            .pending(&crate::state::task_prefix(&service.cluster))
            .into_iter()
            .map(|(key, record)| (key.rsplit('/').next().unwrap_or_default(), record))
            .collect();
        state
            .tasks_of_group(&service.cluster, &group)
            .filter_map(|task| match rewritten.get(task.id.as_str()) {
                None => Some(Cow::Borrowed(task)),
                Some(Some(Record::Task(t))) => Some(Cow::Owned((**t).clone())),
                Some(_) => None,
            })
            .collect()
    }

    /// (healthy, unhealthy) as the deployment logic counts them: with health checks, HEALTHY
    /// (UNHEALTHY past the grace period means replace it); without, RUNNING for a few seconds.
    fn healthy(
        &self,
        service: &ServiceRecord,
        task: &TaskRecord,
        has_checks: bool,
    ) -> (bool, bool) {
        if task.task.last_status != TaskStatus::Running {
            return (false, false);
        }
        let running_for = task.task.started_at.map_or(0.0, |s| self.now - s);
        let grace = f64::from(service.service.health_check_grace_period_seconds.unwrap_or(0));
        if !service.load_balancers_of(task).is_empty() {
            // Behind load balancers a task is healthy when their checks pass too (and its
            // containers' own, if it has them); failing either, past the grace period, it goes.
            let container = match (has_checks, task.task.health_status) {
                (false, _) | (true, Some(HealthStatus::Healthy)) => TargetHealth::Healthy,
                (true, Some(HealthStatus::Unhealthy)) => TargetHealth::Unhealthy,
                (true, _) => TargetHealth::Pending,
            };
            let balancers = self.balancer_health(service, task);
            let healthy = container == TargetHealth::Healthy && balancers == TargetHealth::Healthy;
            let failing =
                container == TargetHealth::Unhealthy || balancers == TargetHealth::Unhealthy;
            return (healthy, failing && running_for >= grace);
        }
        if has_checks {
            match task.task.health_status {
                Some(HealthStatus::Healthy) => (true, false),
                Some(HealthStatus::Unhealthy) => (false, running_for >= grace),
                _ => (false, false),
            }
        } else {
            (running_for >= STABLE_AFTER_SECONDS, false)
        }
    }

    /// What the load balancers say of a task's targets: healthy when every target group's
    /// checks pass, unhealthy when one's fail, else pending (not registered or judged yet).
    fn balancer_health(&self, service: &ServiceRecord, task: &TaskRecord) -> TargetHealth {
        let entries = service.load_balancers_of(task);
        let targets = task_targets(self.staged.state(), task, entries);
        if targets.len() < entries.len() {
            return TargetHealth::Pending;
        }
        let verdicts: Vec<TargetHealth> =
            targets.iter().map(|t| self.load_balancing.health(t)).collect();
        if verdicts.contains(&TargetHealth::Unhealthy) {
            TargetHealth::Unhealthy
        } else if verdicts.iter().all(|v| *v == TargetHealth::Healthy) {
            TargetHealth::Healthy
        } else {
            TargetHealth::Pending
        }
    }

    /// The target group whose checks a task fails, if any (for its stop reason).
    fn failed_target_group(&self, service: &ServiceRecord, task: &TaskRecord) -> Option<String> {
        let targets = task_targets(self.staged.state(), task, service.load_balancers_of(task));
        targets
            .into_iter()
            .find(|t| self.load_balancing.health(t) == TargetHealth::Unhealthy)
            .map(|(arn, _, _)| arn)
    }

    /// When the primary deployment holds more tasks than desired, which of them to stop first
    /// (ECS: by the service's strategies, e.g. binpack stops where most is left).
    fn scale_in_ranks<'t>(
        &self,
        service: &ServiceRecord,
        live: &[&'t TaskRecord],
        primary: &str,
    ) -> std::collections::HashMap<&'t str, u32> {
        let primary_tasks: Vec<&TaskRecord> = live
            .iter()
            .copied()
            .filter(|t| {
                t.task.started_by.as_deref() == Some(primary)
                    && t.task.desired_status == TaskStatus::Running
            })
            .collect();
        let excess =
            primary_tasks.len().saturating_sub(service.service.desired_count.max(0) as usize);
        if excess == 0 {
            return Default::default();
        }
        let strategies =
            placement::strategies(&service.service.placement_strategy, Strategy::service_default)
                .unwrap_or_else(|_| Strategy::service_default());
        let snapshot = placement::snapshot(
            self.staged,
            hosts_of(service, primary),
            &self.connected,
            &self.lost,
        );
        let demands: Vec<_> = primary_tasks.iter().map(|t| t.reservation.demand()).collect();
        let placed: Vec<(&TaskRecord, usize, usize)> = primary_tasks
            .iter()
            .enumerate()
            .filter_map(|(n, t)| {
                let at = t.instance_id.as_deref().and_then(|i| snapshot.position(i))?;
                Some((*t, at, n))
            })
            .collect();
        let tasks: Vec<(usize, &flotilla_scheduler::Demand)> =
            placed.iter().map(|(_, at, n)| (*at, &demands[*n])).collect();
        let group = format!("service:{}", service.name);
        let ranks = flotilla_scheduler::placement::scale_in_order(
            &snapshot.cluster,
            &tasks,
            &group,
            &strategies,
            excess,
            self.seeds.next(),
        );
        placed.iter().zip(ranks).map(|((t, _, _), rank)| (t.id.as_str(), rank)).collect()
    }

    fn has_health_checks(&self, task: &TaskRecord) -> bool {
        self.staged.state().task_definition_by_arn(&task.task.task_definition_arn).is_some_and(
            |td| {
                td.definition
                    .container_definitions
                    .iter()
                    .any(|c| c.essential.unwrap_or(true) && c.health_check.is_some())
            },
        )
    }

    fn reconcile(&mut self, service: &mut ServiceRecord) {
        if service.service.deployment_controller == DeploymentControllerType::External {
            return self.reconcile_external(service);
        }
        let owned = self.tasks_of(service);
        let tasks: Vec<&TaskRecord> = owned.iter().map(AsRef::as_ref).collect();
        let Some(primary_id) = service.service.deployments.first().map(|d| d.id.clone()) else {
            return;
        };
        self.count_failures(service, &tasks);
        self.circuit_breaker(service);
        let primary_id = service.service.deployments.first().map_or(primary_id, |d| d.id.clone());

        if service.service.status == ServiceStatus::Draining {
            service.service.desired_count = 0;
        }
        let daemon = service.service.scheduling_strategy == "DAEMON";
        let live: Vec<&TaskRecord> =
            tasks.iter().copied().filter(|t| t.task.last_status != TaskStatus::Stopped).collect();
        let primary_failed = service
            .service
            .deployments
            .first()
            .is_some_and(|d| d.rollout_state == RolloutState::Failed);
        let throttled = service.throttled_until.is_some_and(|t| self.now < t);
        let may_start =
            service.service.status == ServiceStatus::Active && !primary_failed && !throttled;

        let (mut to_start, to_stop, steady, daemon_size): PassPlan = if daemon {
            match self.plan_daemon(service, &live, &primary_id, may_start) {
                Ok(plan) => plan,
                Err(error) => {
                    let message = format!(
                        "(service {}) is unable to place its tasks: its placement constraints cannot be evaluated: {error}",
                        service.name
                    );
                    self.event_once(service, message);
                    (Vec::new(), Vec::new(), false, 0)
                }
            }
        } else {
            // Tasks on DRAINING instances are replaced within the bounds like those of an
            // old deployment: planned under a deployment id of their own. (The Fargate
            // capacity's instances drain too, by the operator's `flotilla drain`.)
            let instances = &self.staged.state().instances;
            let draining: HashSet<&str> = [service.cluster.as_str(), FARGATE_POOL]
                .into_iter()
                .flat_map(|hosts| {
                    instances
                        .range((hosts.to_string(), String::new())..)
                        .take_while(move |((c, _), _)| c == hosts)
                })
                .filter(|(_, i)| i.instance.status == InstanceStatus::Draining)
                .map(|((_, id), _)| id.as_str())
                .collect();
            // Per task definition, not per task: a service has one or two at a time.
            let mut checks: std::collections::HashMap<&str, bool> = Default::default();
            for t in &live {
                let arn = t.task.task_definition_arn.as_str();
                if !checks.contains_key(arn) {
                    checks.insert(arn, self.has_health_checks(t));
                }
            }
            let ranks = self.scale_in_ranks(service, &live, &primary_id);
            let input = ReplicaInput {
                desired: service.service.desired_count.max(0) as u32,
                minimum_healthy_percent: service
                    .service
                    .deployment_configuration
                    .minimum_healthy_percent
                    .unwrap_or(100)
                    .max(0) as u32,
                maximum_percent: service
                    .service
                    .deployment_configuration
                    .maximum_percent
                    .unwrap_or(200)
                    .max(0) as u32,
                primary: primary_id.clone(),
                may_start,
                tasks: live
                    .iter()
                    .map(|t| {
                        let has_checks =
                            checks.get(t.task.task_definition_arn.as_str()) == Some(&true);
                        let (healthy, unhealthy) = self.healthy(service, t, has_checks);
                        ServiceTask {
                            id: t.id.clone(),
                            deployment: match &t.instance_id {
                                Some(i) if draining.contains(i.as_str()) => {
                                    format!("draining:{i}")
                                }
                                _ => t.task.started_by.clone().unwrap_or_default(),
                            },
                            stopping: t.task.desired_status == TaskStatus::Stopped,
                            running: t.task.last_status == TaskStatus::Running,
                            healthy,
                            unhealthy,
                            scale_in_rank: ranks.get(t.id.as_str()).copied().unwrap_or(u32::MAX),
                            protected: t.protected_until.is_some_and(|until| until > self.now),
                        }
                    })
                    .collect(),
            };
            let plan = reconcile_replica(&input);
            (vec![None; plan.start as usize], plan.stop, plan.steady, 0)
        };

        self.stop_tasks(service, &tasks, &to_stop, &primary_id);

        // Starts, for the primary deployment.
        if !to_start.is_empty() {
            to_start.truncate(MAX_STARTS_PER_PASS);
            let definition = service.service.deployments.first().map(|d| d.task_definition.clone());
            let providers = service.service.capacity_provider_strategy.clone();
            if let Some(definition) = definition {
                self.start_tasks(service, &primary_id, to_start, &definition, &providers);
            }
        }

        // Deployments' progress.
        let now = self.now;
        let remaining: HashSet<String> = tasks
            .iter()
            .filter(|t| t.task.last_status != TaskStatus::Stopped)
            .filter_map(|t| t.task.started_by.clone())
            .collect();
        let deployments = &mut service.service.deployments;
        if let Some(primary) = deployments.first_mut() {
            primary.desired_count = service.service.desired_count;
            if steady && primary.rollout_state == RolloutState::InProgress {
                primary.rollout_state = RolloutState::Completed;
                primary.rollout_state_reason = format!("ECS deployment {} completed.", primary.id);
                primary.updated_at = now;
                service.last_completed_task_definition = Some(primary.task_definition.clone());
            }
        }
        // Older deployments disappear once their tasks are gone.
        let mut first = true;
        deployments.retain(|d| std::mem::replace(&mut first, false) || remaining.contains(&d.id));
        // Their load balancers and registries go with them.
        let live: Vec<String> = deployments.iter().map(|d| d.id.clone()).collect();
        service.deployment_targets.retain(|id, _| live.contains(id));
        let completed_now = steady && service.steady_since.is_none();
        if steady {
            let repeat = service.steady_since.is_some_and(|s| now - s >= STEADY_EVENT_EVERY);
            if completed_now || repeat {
                service.steady_since = Some(now);
                let message = format!("(service {}) has reached a steady state.", service.name);
                self.event(service, message);
            }
        } else {
            service.steady_since = None;
        }
        if service.service.status == ServiceStatus::Draining
            && tasks.iter().all(|t| t.task.last_status == TaskStatus::Stopped)
        {
            service.service.status = ServiceStatus::Inactive;
        }
        if daemon {
            // One per reachable instance that meets the constraints.
            service.service.desired_count = daemon_size as i32;
            if let Some(primary) = service.service.deployments.first_mut() {
                primary.desired_count = service.service.desired_count;
            }
        }
    }

    /// Marks `to_stop` (of `tasks`) to stop, saying why, and writes the service's event.
    fn stop_tasks(
        &mut self,
        service: &mut ServiceRecord,
        tasks: &[&TaskRecord],
        to_stop: &[(String, StopWhy)],
        deployment: &str,
    ) {
        if to_stop.is_empty() {
            return;
        }
        let mut stopped_ids = Vec::new();
        for (id, why) in to_stop {
            let Some(mut task) = tasks.iter().find(|t| &t.id == id).map(|t| (*t).clone()) else {
                continue;
            };
            let delay = deregistration_hold(service, &task, self.load_balancing.as_ref());
            task.task.desired_status = TaskStatus::Stopped;
            let reason = match why {
                StopWhy::Unhealthy => match self.failed_target_group(service, &task) {
                    Some(arn) => format!("Task failed ELB health checks in (target-group {arn})"),
                    None => "Task failed container health checks".to_string(),
                },
                StopWhy::Scheduler => {
                    format!("Scaling activity initiated by (deployment {deployment})")
                }
            };
            keep_first_cause(&mut task, reason);
            // A running task behind load balancers leaves them first (DEACTIVATING): its
            // agent keeps it running through the deregistration delay, then stops it.
            deactivate(&mut task, delay, self.now);
            task.task.stopping_at.get_or_insert(self.now);
            task.task.version += 1;
            stopped_ids.push(task.id.clone());
            self.staged.put(Record::Task(Box::new(task)));
        }
        let message = format!(
            "(service {}) has stopped {} running tasks: {}.",
            service.name,
            stopped_ids.len(),
            task_list(&stopped_ids)
        );
        self.event(service, message);
    }

    /// A service of the EXTERNAL deployment controller: each task set runs its share of the
    /// desired count (`scale` percent, rounded up) from its own task definition, started and
    /// stopped at once (the outside tool paces the rollout by scaling task sets); a DRAINING
    /// set runs none and goes once its tasks are gone.
    fn reconcile_external(&mut self, service: &mut ServiceRecord) {
        if service.service.status == ServiceStatus::Draining {
            service.service.desired_count = 0;
        }
        let owned = self.tasks_of(service);
        let tasks: Vec<&TaskRecord> = owned.iter().map(AsRef::as_ref).collect();
        let live: Vec<&TaskRecord> =
            tasks.iter().copied().filter(|t| t.task.last_status != TaskStatus::Stopped).collect();
        let may_start = service.service.status == ServiceStatus::Active;
        let mut sets = std::mem::take(&mut service.service.task_sets);
        let mut stops = Vec::new();
        let mut starts = Vec::new();
        for set in &mut sets {
            let draining = set.status == TaskSetStatus::Draining;
            let desired = set.computed_desired(service.service.desired_count, draining);
            set.computed_desired_count = desired;
            let mine: Vec<&TaskRecord> = live
                .iter()
                .copied()
                .filter(|t| t.task.started_by.as_deref() == Some(set.id.as_str()))
                .collect();
            let has_checks = mine.first().is_some_and(|t| self.has_health_checks(t));
            let input = ReplicaInput {
                desired: desired.max(0) as u32,
                minimum_healthy_percent: 0,
                maximum_percent: 100,
                primary: set.id.clone(),
                may_start: may_start && !draining,
                tasks: mine
                    .iter()
                    .map(|t| {
                        let (healthy, unhealthy) = self.healthy(service, t, has_checks);
                        ServiceTask {
                            id: t.id.clone(),
                            deployment: set.id.clone(),
                            stopping: t.task.desired_status == TaskStatus::Stopped,
                            running: t.task.last_status == TaskStatus::Running,
                            healthy,
                            unhealthy,
                            scale_in_rank: 0,
                            protected: t.protected_until.is_some_and(|until| until > self.now),
                        }
                    })
                    .collect(),
            };
            let plan = reconcile_replica(&input);
            set.running_count =
                mine.iter().filter(|t| t.task.last_status == TaskStatus::Running).count() as i32;
            set.pending_count = mine.len() as i32 - set.running_count;
            let stability = if plan.steady {
                StabilityStatus::SteadyState
            } else {
                StabilityStatus::Stabilizing
            };
            if stability != set.stability_status {
                set.stability_status = stability;
                set.stability_status_at = self.now;
            }
            stops.push((plan.stop, set.id.clone()));
            if plan.start > 0 {
                let providers = set.capacity_provider_strategy.clone().unwrap_or_default();
                starts.push((set.id.clone(), set.task_definition.clone(), providers, plan.start));
            }
        }
        // A DRAINING set goes once it runs nothing.
        sets.retain(|set| {
            set.status != TaskSetStatus::Draining
                || live.iter().any(|t| t.task.started_by.as_deref() == Some(set.id.as_str()))
        });
        service.service.task_sets = sets;
        for (to_stop, set) in stops {
            self.stop_tasks(service, &tasks, &to_stop, &set);
        }
        for (set, definition, providers, count) in starts {
            let count = (count as usize).min(MAX_STARTS_PER_PASS);
            self.start_tasks(service, &set, vec![None; count], &definition, &providers);
        }
        if service.service.status == ServiceStatus::Draining
            && tasks.iter().all(|t| t.task.last_status == TaskStatus::Stopped)
        {
            service.service.status = ServiceStatus::Inactive;
            service.service.task_sets.clear();
        }
    }

    /// DAEMON: one task of the primary deployment on every ACTIVE, reachable instance that
    /// meets its constraints (`flotilla_scheduler::daemon`). Returns one start entry per
    /// instance that needs a task (with its id). A constraint that cannot be evaluated is an
    /// error: the service then starts and stops nothing, and says why in an event.
    fn plan_daemon(
        &self,
        service: &ServiceRecord,
        live: &[&TaskRecord],
        primary: &str,
        may_start: bool,
    ) -> Result<PassPlan, String> {
        let snapshot =
            placement::snapshot(self.staged, &service.cluster, &self.connected, &HashSet::new());
        let definition = service
            .service
            .deployments
            .first()
            .and_then(|d| self.staged.state().task_definition_by_arn(&d.task_definition));
        let constraints = placement::constraints(
            &service.service.placement_constraints,
            definition.map(|d| &d.definition),
        )
        .map_err(|e| e.message)?;
        let ids: Vec<&str> = (0..snapshot.cluster.len()).map(|i| snapshot.id(i)).collect();
        let tasks = live
            .iter()
            .map(|t| flotilla_scheduler::daemon::DaemonTask {
                id: t.id.clone(),
                instance: t.instance_id.clone(),
                primary: t.task.started_by.as_deref() == Some(primary),
                desired_running: t.task.desired_status == TaskStatus::Running,
                running: t.task.last_status == TaskStatus::Running,
            })
            .collect();
        let plan = flotilla_scheduler::daemon::reconcile_daemon(
            &flotilla_scheduler::daemon::DaemonInput {
                cluster: &snapshot.cluster,
                ids: &ids,
                constraints: &constraints,
                own_group: &format!("service:{}", service.name),
                lost: &self.lost,
                may_start,
                tasks,
            },
        );
        let starts = plan.start_on.into_iter().map(Some).collect();
        Ok((starts, plan.stop, plan.steady, plan.size))
    }

    /// Starts tasks of `deployment` (a deployment or a task set) from `task_definition`, shared
    /// by `providers` when there is a capacity provider strategy.
    fn start_tasks(
        &mut self,
        service: &mut ServiceRecord,
        deployment: &str,
        targets: Vec<Option<String>>,
        task_definition: &str,
        providers: &[CapacityProviderStrategyItem],
    ) {
        let task_definition = task_definition.to_string();
        let definition = match resolve_definition_any(self.staged, &task_definition) {
            Some(d) => d,
            None => return,
        };
        // An awsvpc deployment's tasks go only where a slice of its subnets is, each with an
        // interface of its own.
        let network = match self.network_of(service, deployment, &definition) {
            Ok(network) => network,
            Err(reason) => {
                let message = format!(
                    "(service {}) was unable to place a task because its network configuration \
                     is not ready: {reason}",
                    service.name
                );
                self.event_once(service, message);
                return;
            }
        };
        let overrides = TaskOverride::default();
        let reservation = reservation(&definition, &overrides);
        let demand = reservation.demand();
        let group = format!("service:{}", service.name);
        // Stored constraints and strategies were checked when the service was created or
        // updated; one that no longer parses (a newer rule) places nothing rather than anywhere.
        let constraints =
            match placement::constraints(&service.service.placement_constraints, Some(&definition))
            {
                Ok(c) => c,
                Err(error) => {
                    let message = format!("(service {}) {}", service.name, error.message);
                    self.event_once(service, message);
                    return;
                }
            };
        let mut constraints = constraints;
        constraints.extend(network.as_ref().map(|n| n.constraint()));
        let strategies =
            placement::strategies(&service.service.placement_strategy, Strategy::service_default)
                .unwrap_or_else(|_| Strategy::service_default());
        // With capacity providers, what each already runs (of this deployment or task set), so
        // new tasks keep the shares.
        let live = self.tasks_of(service);
        let already: Vec<usize> = providers
            .iter()
            .map(|item| {
                live.iter()
                    .filter(|t| {
                        t.task.desired_status != TaskStatus::Stopped
                            && t.task.started_by.as_deref() == Some(deployment)
                            && t.task.capacity_provider_name.as_deref()
                                == Some(item.capacity_provider.as_str())
                    })
                    .count()
            })
            .collect();
        drop(live);
        // FARGATE deployments run on the Fargate capacity.
        let hosts = hosts_of(service, deployment).to_string();
        let fargate = hosts == FARGATE_POOL;
        let mut snapshot = placement::snapshot(self.staged, &hosts, &self.connected, &self.lost);
        let launch_ids = new_ids(targets.len(), definition.container_definitions.len());
        let tags = service_task_tags(self.staged, service, &definition.task_definition_arn);
        let launch = Launch {
            cluster_ref: Some(service.cluster.clone()),
            definition_ref: task_definition.clone(),
            overrides,
            group: Some(format!("service:{}", service.name)),
            started_by: Some(deployment.to_string()),
            tags,
            ids: launch_ids.clone(),
            now: self.now,
            constraints: Vec::new(),
            strategies: Vec::new(),
        };
        let request = Request {
            demand: &demand,
            group: &group,
            constraints: &constraints,
            strategies: &strategies,
            count: 0,
            seed: self.seeds.next(),
        };
        // DAEMON names its instances; REPLICA lets the engine choose for all at once.
        let (targeted, free): (Vec<_>, Vec<_>) =
            targets.iter().zip(&launch_ids).partition(|(target, _)| target.is_some());
        let mut chosen: Vec<(Result<usize, Reason>, &TaskIds, Option<String>)> = Vec::new();
        for (target, ids) in targeted {
            let Some(i) = target.as_deref().and_then(|id| snapshot.position(id)) else {
                continue;
            };
            let outcome = check(&snapshot.cluster, i, &request).map(|()| {
                reserve(snapshot.cluster.view_mut(i), &demand, &group);
                i
            });
            chosen.push((outcome, ids, None));
        }
        if !free.is_empty() && snapshot.cluster.is_empty() {
            self.event_once(
                service,
                format!("(service {}) was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster.", service.name),
            );
            return;
        }
        let free: Vec<&TaskIds> = free.into_iter().map(|(_, ids)| ids).collect();
        if providers.is_empty() {
            let placed = place(&mut snapshot.cluster, &Request { count: free.len(), ..request });
            chosen.extend(placed.into_iter().zip(free).map(|(outcome, ids)| (outcome, ids, None)));
        } else {
            // Each provider's share (base, then weight), placed on its own agents.
            for (n, ids) in share_out(providers, &already, &free) {
                let item = &providers[n];
                // FARGATE and FARGATE_SPOT share the Fargate capacity: no lane of agents.
                if fargate {
                    let request = Request { count: ids.len(), ..request };
                    let placed = place(&mut snapshot.cluster, &request);
                    let name = Some(item.capacity_provider.clone());
                    chosen.extend(
                        placed.into_iter().zip(ids).map(|(o, ids)| (o, *ids, name.clone())),
                    );
                    continue;
                }
                let active =
                    self.staged.state().capacity_providers.get(&item.capacity_provider).filter(
                        |p| p.status == flotilla_api::status::CapacityProviderStatus::Active,
                    );
                let Some(provider) = active else {
                    let message = format!(
                        "(service {}) was unable to place a task because its capacity provider {} is not active.",
                        service.name, item.capacity_provider
                    );
                    self.event_once(service, message);
                    continue;
                };
                let mut lane = constraints.clone();
                lane.push(provider_constraint(provider));
                let request = Request { count: ids.len(), constraints: &lane, ..request };
                let placed = place(&mut snapshot.cluster, &request);
                let name = Some(provider.name.clone());
                chosen.extend(placed.into_iter().zip(ids).map(|(o, ids)| (o, *ids, name.clone())));
            }
        }
        let mut started = Vec::new();
        let mut failure: Option<&'static str> = None;
        for (outcome, ids, provider) in chosen {
            match outcome {
                Ok(i) => {
                    let Some(instance) = placement::record_of(self.staged, &hosts, snapshot.id(i))
                    else {
                        continue; // cannot happen: views follow the records
                    };
                    let mut record = new_task(
                        &self.scope,
                        &launch,
                        &service.cluster,
                        &definition,
                        &instance,
                        ids,
                        &reservation,
                    );
                    record.task.capacity_provider_name = provider;
                    if fargate {
                        run_on_fargate(&mut record.task);
                    }
                    record.task.interface = network
                        .as_ref()
                        .and_then(|n| n.interface_for(&instance.instance.ec2_instance_id));
                    started.push(record.id.clone());
                    self.staged.put(Record::Task(Box::new(record)));
                }
                Err(reason) => failure = failure.or(Some(reason.as_str())),
            }
        }
        if !started.is_empty() {
            let message = format!(
                "(service {}) has started {} tasks: {}.",
                service.name,
                started.len(),
                task_list(&started)
            );
            self.event(service, message);
        }
        if let Some(reason) = failure {
            let message = format!(
                "(service {}) was unable to place a task because no container instance met all of its requirements. Reason: {reason}",
                service.name
            );
            self.event_once(service, message);
        }
    }

    /// The readied network of `deployment` (a deployment or a task set of `service`): `None`
    /// for a definition that needs none; an error when an awsvpc one cannot be placed now.
    fn network_of(
        &self,
        service: &ServiceRecord,
        deployment: &str,
        definition: &flotilla_api::taskdef::TaskDefinition,
    ) -> Result<Option<Arc<vpc::Prepared>>, String> {
        let deployments = service
            .service
            .deployments
            .iter()
            .filter(|d| d.id == deployment)
            .map(|d| d.network_configuration.as_ref());
        let sets = service
            .service
            .task_sets
            .iter()
            .filter(|t| t.id == deployment)
            .map(|t| t.network_configuration.as_ref());
        let config = deployments.chain(sets).next().flatten();
        let awsvpc = definition.network_mode.as_deref() == Some("awsvpc");
        match (awsvpc, config) {
            (false, _) => Ok(None),
            (true, None) => Err("the task definition uses awsvpc, the deployment has no \
                                 networkConfiguration"
                .to_string()),
            (true, Some(config)) => {
                match self
                    .networks
                    .get(&(hosts_of(service, deployment).to_string(), config.clone()))
                {
                    Some(Ok(prepared)) => Ok(Some(Arc::clone(prepared))),
                    Some(Err(error)) => Err(error.clone()),
                    None => Err("its subnets are being readied".to_string()),
                }
            }
        }
    }

    /// Failed tasks of the primary deployment: stopped before running, or by essential exits
    /// and failed health checks while the deployment is in progress.
    fn count_failures(&mut self, service: &mut ServiceRecord, tasks: &[&TaskRecord]) {
        let Some(primary) = service.service.deployments.first() else { return };
        if primary.rollout_state != RolloutState::InProgress {
            return;
        }
        let failed = tasks
            .iter()
            .filter(|t| {
                t.task.started_by.as_deref() == Some(primary.id.as_str())
                    && t.task.last_status == TaskStatus::Stopped
            })
            .filter(|t| {
                matches!(
                    t.task.stop_code.as_deref(),
                    Some("TaskFailedToStart") | Some("EssentialContainerExited")
                ) || t.task.stopped_reason.as_deref().is_some_and(|r| {
                    r == "Task failed container health checks"
                        || r.starts_with("Task failed ELB health checks")
                })
            })
            .count() as i32;
        let previous = primary.failed_tasks;
        if failed > previous {
            // Back off after repeated failures (ECS's service throttle), up to 15 minutes.
            if failed >= 3 {
                // 2^failures seconds (8 s after three), at most ECS's 15 minutes.
                let backoff = 2f64.powi(failed.min(10)).min(MAX_THROTTLE_SECONDS);
                service.throttled_until = Some(self.now + backoff);
                let message = format!(
                    "(service {}) is unable to consistently start tasks successfully.",
                    service.name
                );
                if service.service.events.first().map(|e| &e.message) != Some(&message) {
                    self.event(service, message);
                }
            }
            if let Some(primary) = service.service.deployments.first_mut() {
                primary.failed_tasks = failed;
                primary.updated_at = self.now;
            }
        }
    }

    fn circuit_breaker(&mut self, service: &mut ServiceRecord) {
        let breaker = service
            .service
            .deployment_configuration
            .deployment_circuit_breaker
            .clone()
            .unwrap_or_default();
        if !breaker.enable {
            return;
        }
        let desired = service.service.desired_count.max(0) as u32;
        let Some(primary) = service.service.deployments.first_mut() else { return };
        if primary.rollout_state != RolloutState::InProgress
            || (primary.failed_tasks.max(0) as u32) < failure_threshold(desired)
        {
            return;
        }
        primary.rollout_state = RolloutState::Failed;
        primary.rollout_state_reason =
            "ECS deployment circuit breaker: tasks failed to start.".into();
        primary.updated_at = self.now;
        let failed_id = primary.id.clone();
        let message = format!(
            "(service {}) (deployment {failed_id}) deployment failed: tasks failed to start.",
            service.name
        );
        self.event(service, message);
        if !breaker.rollback {
            return;
        }
        let Some(target) = service.last_completed_task_definition.clone() else { return };
        let id = crate::domain::deployments::new_deployment_id();
        for d in &mut service.service.deployments {
            d.status = DeploymentStatus::Active;
        }
        // The rollback runs where and how the last completed deployment ran: its own settings
        // when it is still there, else the service's.
        let fresh = service_deployment(&service.service, id.clone(), &target, self.now);
        let completed =
            service.service.deployments.iter().skip(1).find(|d| d.task_definition == target);
        let mut rollback = match completed {
            Some(d) => Deployment {
                network_configuration: d.network_configuration.clone(),
                launch_type: d.launch_type.clone(),
                capacity_provider_strategy: d.capacity_provider_strategy.clone(),
                platform_version: d.platform_version.clone(),
                ..fresh
            },
            None => fresh,
        };
        rollback.rollout_state_reason =
            format!("ECS deployment circuit breaker: rolling back to deploymentId {failed_id}.");
        service.service.deployments.insert(0, rollback);
        service.service.task_definition = target;
        service.throttled_until = None;
        let message = format!(
            "(service {}) rolling back to the last completed deployment ({id}).",
            service.name
        );
        self.event(service, message);
    }
}

/// A task definition by ARN whatever its status (a service keeps running a deregistered one).
fn resolve_definition_any(
    staged: &Staged<'_>,
    arn: &str,
) -> Option<flotilla_api::taskdef::TaskDefinition> {
    staged.state().task_definition_by_arn(arn).map(|td| td.definition.clone())
}

/// `(task a) (task b) ...` for an event, naming at most ten tasks so big batches keep events
/// readable (and the service record small).
fn task_list(ids: &[String]) -> String {
    const NAMED: usize = 10;
    let mut list: Vec<String> = ids.iter().take(NAMED).map(|id| format!("(task {id})")).collect();
    if ids.len() > NAMED {
        list.push(format!("and {} more", ids.len() - NAMED));
    }
    list.join(" ")
}

/// The tags a service's new task gets: propagated from the service or its task definition, and
/// ECS's managed tags when the service asks for them.
fn service_task_tags(
    staged: &Staged<'_>,
    service: &ServiceRecord,
    definition_arn: &str,
) -> Vec<flotilla_api::Tag> {
    use flotilla_api::service::{task_tags, PropagateTags};
    let propagated = match service.service.propagate_tags {
        PropagateTags::None => Vec::new(),
        PropagateTags::Service => service.service.tags.clone().unwrap_or_default(),
        PropagateTags::TaskDefinition => staged
            .state()
            .task_definition_by_arn(definition_arn)
            .map(|d| d.tags.clone())
            .unwrap_or_default(),
    };
    let managed = [
        ("aws:ecs:clusterName", service.cluster.as_str()),
        ("aws:ecs:serviceName", service.name.as_str()),
    ];
    let managed: &[(&str, &str)] =
        if service.service.enable_ecs_managed_tags { &managed } else { &[] };
    task_tags(&[], &propagated, managed)
}

/// The scheduler's cause for stopping `task`, unless it already has one: its agent reports an
/// essential container's exit with the same report that shows the container stopped, and that
/// first cause is the task's (ECS shows `EssentialContainerExited` for a killed container, never
/// the scheduler's stop of the unhealthy task the exit left behind).
fn keep_first_cause(task: &mut TaskRecord, reason: String) {
    if task.task.stop_code.is_none() {
        task.task.stop_code = Some("ServiceSchedulerInitiated".into());
        task.task.stopped_reason = Some(reason);
    }
}

#[cfg(test)]
mod tests {
    use flotilla_api::agent::TaskReport;
    use flotilla_api::task::Task;

    use super::*;

    /// Issue 16's stop-code race, the server's half, in the order it happened: the agent's
    /// report shows the killed essential container and its cause, then the scheduler stops the
    /// task it sees unhealthy, then the agent reports the task stopped. The first cause stays.
    #[test]
    fn an_essential_exit_reported_first_stays_the_tasks_stop_code() {
        let mut task = TaskRecord {
            cluster: "c".into(),
            id: "t".into(),
            instance_id: Some("i".into()),
            reservation: Default::default(),
            task: Task {
                last_status: TaskStatus::Running,
                desired_status: TaskStatus::Running,
                ..Task::default()
            },
            protected_until: None,
            client_token: None,
            deregistering_until: None,
        };
        let exited = TaskReport {
            last_status: TaskStatus::Running,
            stop_code: Some("EssentialContainerExited".into()),
            stopped_reason: Some("Essential container in task exited".into()),
            ..TaskReport::default()
        };
        crate::domain::registration::merge_report(&mut task.task, exited.clone());
        keep_first_cause(&mut task, "Task failed container health checks".into());
        let stopped = TaskReport { last_status: TaskStatus::Stopped, ..exited };
        crate::domain::registration::merge_report(&mut task.task, stopped);
        assert_eq!(task.task.stop_code.as_deref(), Some("EssentialContainerExited"));
        assert_eq!(task.task.stopped_reason.as_deref(), Some("Essential container in task exited"));

        // Without a cause of its own, the task takes the scheduler's.
        let mut scaled = task.clone();
        scaled.task.stop_code = None;
        scaled.task.stopped_reason = None;
        keep_first_cause(&mut scaled, "Scaling activity initiated by (deployment d)".into());
        assert_eq!(scaled.task.stop_code.as_deref(), Some("ServiceSchedulerInitiated"));
    }
}

#[cfg(test)]
#[path = "controller_tests.rs"]
mod controller_tests;

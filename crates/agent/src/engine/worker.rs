//! One task's worker: PROVISIONING → PENDING (images, containers) → ACTIVATING → RUNNING, then
//! watching its containers until an essential one exits or the task is to stop, then
//! DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::agent::{ExecutionResources, TaskSpec};
use flotilla_api::status::HealthStatus;
use flotilla_api::task::TaskStatus;
use flotilla_api::taskdef::ContainerDefinition;
use tokio::sync::{mpsc, watch, Notify};

use super::{lock, ContainerRun, EngineConfig, SharedRuns, TaskRun};
use crate::runtime::{
    ContainerPlan, ContainerStatus, Health, RunState, Runtime, RuntimeError, LABEL_AGENT,
    LABEL_CLUSTER, LABEL_CONTAINER_NAME, LABEL_FAMILY, LABEL_REVISION, LABEL_TASK_ARN,
};

/// How often a worker looks at its containers even without an event.
const RESYNC: Duration = Duration::from_secs(2);
/// ECS's default time between SIGTERM and SIGKILL.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct WorkerHandle {
    desired: watch::Sender<TaskSpec>,
    poke: super::Poke,
}

impl WorkerHandle {
    pub fn update(&self, spec: TaskSpec) {
        self.desired.send_if_modified(|current| {
            if *current == spec {
                false
            } else {
                *current = spec;
                true
            }
        });
    }

    pub fn poke(&self) {
        let _ = self.poke.try_send(());
    }
}

pub fn spawn(
    runtime: Arc<dyn Runtime>,
    config: EngineConfig,
    run: TaskRun,
    runs: SharedRuns,
    changed: Arc<Notify>,
) -> WorkerHandle {
    let (desired, desired_rx) = watch::channel(run.spec.clone());
    let (poke, pokes) = mpsc::channel(16);
    let worker = Worker {
        runtime,
        config,
        run,
        runs,
        changed,
        desired: desired_rx,
        pokes,
        cgroup_parent: None,
    };
    tokio::spawn(worker.run());
    WorkerHandle { desired, poke }
}

struct Worker {
    runtime: Arc<dyn Runtime>,
    config: EngineConfig,
    run: TaskRun,
    runs: SharedRuns,
    changed: Arc<Notify>,
    desired: watch::Receiver<TaskSpec>,
    pokes: mpsc::Receiver<()>,
    /// The task's cgroup, when it has task-level limits and the machine allows one.
    cgroup_parent: Option<String>,
}

/// Why a task ends.
struct StopCause {
    code: Option<String>,
    reason: String,
}

impl Worker {
    /// Publishes the run to the engine (reports, state file).
    fn publish(&self) {
        lock(&self.runs).insert(self.run.spec.task_arn.clone(), self.run.clone());
        self.changed.notify_one();
    }

    fn set_status(&mut self, status: TaskStatus) {
        if self.run.last_status != status {
            tracing::debug!(task = %self.run.spec.task_arn, %status, "task status");
            self.run.last_status = status;
            self.publish();
        }
    }

    fn stop_wanted(&self) -> Option<StopCause> {
        let spec = self.desired.borrow();
        (spec.desired_status == TaskStatus::Stopped).then(|| StopCause {
            code: spec.stop_code.clone().or_else(|| Some("UserInitiated".into())),
            reason: spec.stopped_reason.clone().unwrap_or_else(|| "Task stopped by user".into()),
        })
    }

    /// Waits for an event, a desired-state change or the resync tick.
    async fn wait(&mut self) {
        tokio::select! {
            _ = self.pokes.recv() => {}
            _ = self.desired.changed() => {}
            _ = tokio::time::sleep(RESYNC) => {}
        }
    }

    async fn run(mut self) {
        let cause = match self.run.last_status {
            TaskStatus::Provisioning | TaskStatus::Pending => self.start().await,
            // Adopted after an agent restart: the containers are already there; an awsvpc
            // task's firewall is followed again (its rules are there, but must keep up with the
            // region's groups).
            _ => {
                self.guard_adopted().await;
                None
            }
        };
        let cause = match cause {
            Some(cause) => cause,
            None => self.watch_running().await,
        };
        self.stop(cause).await;
    }

    /// An adopted awsvpc task's namespace under its groups' rules again.
    async fn guard_adopted(&mut self) {
        let (Some(pause), Some(networking)) =
            (self.run.pause.clone(), self.config.networking.clone())
        else {
            return;
        };
        if pause.attachment.is_none() {
            return;
        }
        if let Err(error) =
            super::awsvpc::guard(self.runtime.as_ref(), &networking, &self.run.spec, &pause).await
        {
            tracing::error!(%error, task = %self.run.spec.task_arn, "cannot follow the adopted task's security groups");
        }
    }

    fn definition(&self, name: &str) -> Option<ContainerDefinition> {
        self.run.spec.containers.iter().find(|c| c.name.as_deref() == Some(name)).cloned()
    }

    fn plan(&self, name: &str, definition: ContainerDefinition) -> ContainerPlan {
        let spec = &self.run.spec;
        let mut labels: BTreeMap<String, String> =
            definition.docker_labels.clone().unwrap_or_default();
        labels.insert(LABEL_TASK_ARN.into(), spec.task_arn.clone());
        labels.insert(LABEL_CONTAINER_NAME.into(), name.to_string());
        labels.insert(LABEL_CLUSTER.into(), spec.cluster.clone());
        labels.insert(LABEL_FAMILY.into(), spec.family.clone());
        labels.insert(LABEL_REVISION.into(), spec.revision.to_string());
        labels.insert(LABEL_AGENT.into(), self.config.agent_id.clone());
        // An awsvpc task's containers join its pause container's namespace.
        let network_mode = match self.run.pause.as_ref().and_then(|p| p.docker_id.as_ref()) {
            Some(pause) => format!("container:{pause}"),
            None => spec.network_mode.clone(),
        };
        ContainerPlan {
            docker_name: self
                .run
                .containers
                .get(name)
                .map(|c| c.docker_name.clone())
                .unwrap_or_default(),
            definition,
            labels,
            network_mode,
            task_volumes: spec.volumes.clone(),
            task_memory_mib: spec
                .memory
                .as_deref()
                .and_then(|m| flotilla_api::taskdef::parse_task_memory(m).ok()),
            task_cpu_units: spec
                .cpu
                .as_deref()
                .and_then(|c| flotilla_api::taskdef::parse_task_cpu(c).ok()),
            sibling_names: self
                .run
                .containers
                .iter()
                .map(|(n, c)| (n.clone(), c.docker_name.clone()))
                .collect(),
            resolvers: self.config.resolver.into_iter().collect(),
            extra_env: self.metadata_env(name),
            // Filled at creation only (`start`): a plan made for anything else carries none.
            secret_env: Vec::new(),
            secret_log_options: Vec::new(),
            allow_privileged: self.config.allow_privileged,
            cgroup_parent: self.cgroup_parent.clone(),
        }
    }

    /// `ECS_CONTAINER_METADATA_URI_V4` (and the v3 name, which ECS also sets) for a container,
    /// and `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` when its task has a role.
    fn metadata_env(&self, name: &str) -> Vec<(String, String)> {
        let token = self.run.containers.get(name).and_then(|c| c.metadata_token.as_deref());
        let mut env = match (&self.config.metadata_url, token) {
            (Some(base), Some(token)) => {
                let uri = format!("{base}/v4/{token}");
                vec![
                    ("ECS_CONTAINER_METADATA_URI_V4".to_string(), uri.clone()),
                    ("ECS_CONTAINER_METADATA_URI".to_string(), uri),
                ]
            }
            _ => Vec::new(),
        };
        if let (Some(port), Some(id)) =
            (self.config.credentials_port, &self.run.spec.credentials_id)
        {
            env.push((
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI".to_string(),
                format!("/v2/credentials/{port}/{id}"),
            ));
        }
        env
    }

    /// PENDING: images, containers, then starts in dependency order. Returns a stop cause if
    /// the task cannot (or should no longer) run.
    async fn start(&mut self) -> Option<StopCause> {
        if let Some(cause) = self.stop_wanted() {
            return Some(cause);
        }
        self.set_status(TaskStatus::Pending);

        // Images: use what is present, pull what is not.
        let images: Vec<String> =
            self.run.spec.containers.iter().filter_map(|c| c.image.clone()).collect();
        for image in images {
            if let Ok(true) = self.runtime.image_present(&image).await {
                continue;
            }
            let at = self.config.clock.epoch_seconds();
            self.run.pull_started_at.get_or_insert(at);
            self.publish();
            if let Err(error) = self.runtime.pull_image(&image).await {
                let reason = match error {
                    RuntimeError::ImagePull(_) => error.to_string(),
                    other => format!("CannotPullContainerError: {other}"),
                };
                return Some(self.fail_to_start(&image, reason));
            }
        }
        if self.run.pull_started_at.is_some() {
            self.run.pull_stopped_at = Some(self.config.clock.epoch_seconds());
        }
        if let Some(cause) = self.check_log_groups().await {
            return Some(cause);
        }
        // Read now, held only for the creations below.
        let secrets = match self.execution_resources().await {
            Ok(secrets) => secrets,
            Err(cause) => return Some(cause),
        };
        self.make_task_cgroup();
        // awsvpc: the pause container first (the task's containers join its namespace).
        if let Some(cause) = self.create_pause().await {
            return Some(cause);
        }

        // Create every container (idempotent by name) while the pause container starts and its
        // namespace is wired (they start only once its firewall is in place), and remember
        // each id at once.
        let names: Vec<String> = self.run.containers.keys().cloned().collect();
        let plans: Vec<(String, ContainerPlan)> = names
            .iter()
            .filter(|name| self.run.containers[*name].docker_id.is_none())
            .filter_map(|name| {
                let mut plan = self.plan(name, self.definition(name)?);
                if let Some(values) = secrets.containers.get(name) {
                    plan.secret_env = values.environment.clone();
                    plan.secret_log_options = values.log_options.clone();
                }
                Some((name.clone(), plan))
            })
            .collect();
        drop(secrets);
        let runtime = Arc::clone(&self.runtime);
        let creating = async move {
            let mut created = Vec::new();
            for (name, plan) in plans {
                let result = runtime.create(&plan).await;
                let failed = result.is_err();
                created.push((name, result));
                if failed {
                    break;
                }
            }
            created
        };
        let (network, created) = tokio::join!(self.provision_network(), creating);
        let mut failure = None;
        for (name, result) in created {
            match result {
                Ok(id) => {
                    if let Some(c) = self.run.containers.get_mut(&name) {
                        c.docker_id = Some(id);
                    }
                }
                Err(error) => {
                    failure = Some((name, format!("CannotCreateContainerError: {error}")))
                }
            }
        }
        self.publish();
        if let Some(cause) = network {
            return Some(cause);
        }
        if let Some((name, reason)) = failure {
            self.mark_container_failed(&name, &reason);
            return Some(StopCause { code: Some("TaskFailedToStart".into()), reason });
        }

        // Start containers as their dependencies allow.
        loop {
            if let Some(cause) = self.stop_wanted() {
                return Some(cause);
            }
            self.refresh().await;
            if let Some(cause) = self.essential_exit() {
                return Some(cause);
            }
            let mut waiting = false;
            for name in &names {
                if self.run.containers[name].started {
                    continue;
                }
                match self.dependencies_met(name) {
                    Dependency::Met => {
                        let id = self.run.containers[name].docker_id.clone().unwrap_or_default();
                        if let Err(error) = self.runtime.start(&id).await {
                            let reason = format!("CannotStartContainerError: {error}");
                            self.mark_container_failed(name, &reason);
                            return Some(StopCause {
                                code: Some("TaskFailedToStart".into()),
                                reason,
                            });
                        }
                        if let Some(c) = self.run.containers.get_mut(name) {
                            c.started = true;
                        }
                        self.publish();
                    }
                    Dependency::Waiting => waiting = true,
                    Dependency::Never(why) => {
                        let reason =
                            format!("dependency of container '{name}' can never be met: {why}");
                        return Some(StopCause { code: Some("TaskFailedToStart".into()), reason });
                    }
                }
            }
            if !waiting {
                break;
            }
            self.wait().await;
        }
        self.refresh().await;
        self.set_status(TaskStatus::Activating);
        self.run.started_at = Some(self.config.clock.epoch_seconds());
        self.set_status(TaskStatus::Running);
        None
    }

    /// An awsvpc task's pause container, created (see `awsvpc::create_pause`).
    async fn create_pause(&mut self) -> Option<StopCause> {
        let mut pause = self.run.pause.clone()?;
        // Without task networking, `provision_network` says why the task cannot run.
        let networking = self.config.networking.clone()?;
        if pause.docker_id.is_some() {
            return None;
        }
        let outcome = super::awsvpc::create_pause(
            &self.runtime,
            &networking,
            &self.config,
            &self.run.spec,
            &mut pause,
            self.cgroup_parent.clone(),
        )
        .await;
        self.run.pause = Some(pause);
        self.publish();
        outcome.err().map(|error| self.network_failed(&error))
    }

    /// The task cannot run: its network could not be made.
    fn network_failed(&mut self, error: &str) -> StopCause {
        let reason = format!("ResourceInitializationError: {error}");
        let names: Vec<String> = self.run.containers.keys().cloned().collect();
        for name in names {
            self.mark_container_failed(&name, &reason);
        }
        StopCause { code: Some("TaskFailedToStart".into()), reason }
    }

    /// As on ECS, a container whose `awslogs` group does not exist (and may not be created with
    /// `awslogs-create-group`) cannot start: the task fails with Docker's logging-driver error.
    async fn check_log_groups(&mut self) -> Option<StopCause> {
        let check = self.config.log_groups.clone()?;
        let wanted: Vec<(String, String)> = self
            .run
            .spec
            .containers
            .iter()
            .filter_map(|c| {
                let log = c.log_configuration.as_ref().filter(|l| l.log_driver == "awslogs")?;
                let options = log.options.as_ref()?;
                if options.get("awslogs-create-group").is_some_and(|v| v == "true") {
                    return None;
                }
                Some((c.name.clone()?, options.get("awslogs-group")?.clone()))
            })
            .collect();
        if wanted.is_empty() {
            return None;
        }
        let mut groups: Vec<String> = wanted.iter().map(|(_, g)| g.clone()).collect();
        groups.sort();
        groups.dedup();
        let missing = check.missing(groups).await?;
        let reason = "CannotStartContainerError: Error response from daemon: failed to initialize \
                      logging driver: failed to create Cloudwatch log stream: \
                      ResourceNotFoundException: The specified log group does not exist.";
        let failed: Vec<&String> =
            wanted.iter().filter(|(_, g)| missing.contains(g)).map(|(name, _)| name).collect();
        if failed.is_empty() {
            return None;
        }
        for name in failed {
            self.mark_container_failed(name, reason);
        }
        Some(StopCause { code: Some("TaskFailedToStart".into()), reason: reason.to_string() })
    }

    /// What the containers still to be created start with, as the task's execution role may
    /// have it (asked of the server): the values of their `secrets` and `secretOptions`, and
    /// for `awslogs` containers of a task with an execution role the role's leave to write
    /// their streams. A task that cannot have them fails to start with ECS's reason.
    async fn execution_resources(&mut self) -> Result<ExecutionResources, StopCause> {
        let execution_role = self.run.spec.execution_role;
        let needs = |c: &ContainerDefinition| {
            let log = c.log_configuration.as_ref();
            let log_secrets = log.and_then(|l| l.secret_options.as_ref());
            c.secrets.iter().chain(log_secrets).any(|s| !s.is_empty())
                || (execution_role && log.is_some_and(|l| l.log_driver == "awslogs"))
        };
        let pending = self.run.spec.containers.iter().filter(|c| {
            let name = c.name.as_deref().unwrap_or_default();
            self.run.containers.get(name).is_some_and(|run| run.docker_id.is_none())
        });
        let wanted: Vec<String> =
            pending.filter(|c| needs(c)).filter_map(|c| c.name.clone()).collect();
        if wanted.is_empty() {
            return Ok(ExecutionResources::default());
        }
        let answer = match self.config.execution_resources.clone() {
            Some(fetch) => fetch.fetch(&self.run.spec.task_arn).await,
            None => Err("ResourceInitializationError: unable to pull secrets or registry auth: \
                         this agent reads no secrets"
                .to_string()),
        };
        answer.map_err(|reason| {
            for name in &wanted {
                self.mark_container_failed(name, &reason);
            }
            StopCause { code: Some("TaskFailedToStart".into()), reason }
        })
    }

    /// An awsvpc task's pause container and interface (see `super::awsvpc`), before any of
    /// its containers exists.
    async fn provision_network(&mut self) -> Option<StopCause> {
        let mut pause = self.run.pause.clone()?;
        let outcome = match self.config.networking.clone() {
            None => Err("network mode awsvpc needs the CNI plugins on this agent's host \
                         (apt-get install containernetworking-plugins)"
                .to_string()),
            Some(networking) => {
                let runtime = Arc::clone(&self.runtime);
                let config = self.config.clone();
                let spec = self.run.spec.clone();
                let cgroup = self.cgroup_parent.clone();
                let record = |p: &super::awsvpc::PauseRun| {
                    self.run.pause = Some(p.clone());
                    self.publish();
                };
                super::awsvpc::provision(
                    runtime.as_ref(),
                    &networking,
                    &config,
                    &spec,
                    &mut pause,
                    cgroup,
                    record,
                )
                .await
            }
        };
        self.run.pause = Some(pause);
        self.publish();
        outcome.err().map(|error| self.network_failed(&error))
    }

    /// The task's cgroup for task-level cpu/memory (see `crate::cgroup`).
    fn make_task_cgroup(&mut self) {
        let spec = &self.run.spec;
        let cpu = spec.cpu.as_deref().and_then(|c| flotilla_api::taskdef::parse_task_cpu(c).ok());
        let memory =
            spec.memory.as_deref().and_then(|m| flotilla_api::taskdef::parse_task_memory(m).ok());
        if cpu.is_none() && memory.is_none() {
            return;
        }
        match self.config.cgroups.create(spec.task_id(), cpu, memory) {
            Ok(parent) => self.cgroup_parent = parent,
            Err(error) => {
                tracing::warn!(%error, "cannot make the task cgroup; task limits apply per container")
            }
        }
    }

    fn fail_to_start(&mut self, image: &str, reason: String) -> StopCause {
        let names: Vec<String> = self
            .run
            .spec
            .containers
            .iter()
            .filter(|c| c.image.as_deref() == Some(image))
            .filter_map(|c| c.name.clone())
            .collect();
        for name in names {
            self.mark_container_failed(&name, &reason);
        }
        StopCause { code: Some("TaskFailedToStart".into()), reason }
    }

    fn mark_container_failed(&mut self, name: &str, reason: &str) {
        if let Some(c) = self.run.containers.get_mut(name) {
            c.last_status = TaskStatus::Stopped;
            c.reason = Some(reason.to_string());
        }
        self.publish();
    }

    fn dependencies_met(&self, name: &str) -> Dependency {
        let Some(definition) = self.definition(name) else { return Dependency::Met };
        for dependency in definition.depends_on.iter().flatten() {
            let target = &dependency.container_name;
            let Some(other) = self.run.containers.get(target) else { continue };
            let exited = other.started && other.last_status == TaskStatus::Stopped;
            match dependency.condition.as_str() {
                "START" if !other.started => return Dependency::Waiting,
                "COMPLETE" if !exited => return Dependency::Waiting,
                "SUCCESS" => {
                    if !exited {
                        return Dependency::Waiting;
                    }
                    if other.exit_code != Some(0) {
                        return Dependency::Never(format!(
                            "'{target}' exited with code {:?}, SUCCESS needs 0",
                            other.exit_code
                        ));
                    }
                }
                "HEALTHY" => match other.health_status {
                    Some(HealthStatus::Healthy) => {}
                    Some(HealthStatus::Unhealthy) => {
                        return Dependency::Never(format!("'{target}' is UNHEALTHY"))
                    }
                    _ if exited => {
                        return Dependency::Never(format!(
                            "'{target}' exited before it was HEALTHY"
                        ))
                    }
                    _ => return Dependency::Waiting,
                },
                _ => {}
            }
        }
        Dependency::Met
    }

    /// Inspects every container and updates statuses, exit codes, bindings and health.
    async fn refresh(&mut self) {
        let names: Vec<String> = self.run.containers.keys().cloned().collect();
        let mut changed = false;
        for name in names {
            let Some(id) = self.run.containers[&name].docker_id.clone() else { continue };
            let status = self.runtime.inspect(&id).await;
            let Some(container) = self.run.containers.get_mut(&name) else { continue };
            let before = container.clone();
            match status {
                Ok(Some(status)) => apply_status(container, &status),
                Ok(None) => {
                    // Gone (removed from outside while we were not looking): it is stopped.
                    if container.last_status != TaskStatus::Stopped {
                        container.last_status = TaskStatus::Stopped;
                        container.reason.get_or_insert_with(|| "container no longer exists".into());
                    }
                    container.started = true;
                }
                Err(error) => {
                    tracing::warn!(%error, container = %container.docker_name, "cannot inspect")
                }
            }
            changed |= *container != before;
        }
        let health = self.task_health();
        if health != self.run.health_status {
            self.run.health_status = health;
            changed = true;
        }
        // The report that first shows an essential container stopped says why the task
        // stops: the server must never see the exit (or the unhealthy task it leaves) without
        // its cause, or it stops the task for a reason of its own first.
        if self.run.stop_code.is_none() {
            if let Some(cause) = self.essential_exit() {
                self.run.stop_code = cause.code;
                self.run.stopped_reason = Some(cause.reason);
                changed = true;
            }
        }
        if changed {
            self.publish();
        }
    }

    /// ECS's task health: UNHEALTHY if an essential container with a health check is
    /// unhealthy, HEALTHY if all of them are healthy, else UNKNOWN.
    fn task_health(&self) -> Option<HealthStatus> {
        let checked: Vec<&ContainerRun> = self
            .run
            .spec
            .containers
            .iter()
            .filter(|c| c.essential.unwrap_or(true) && c.health_check.is_some())
            .filter_map(|c| self.run.containers.get(c.name.as_deref().unwrap_or("")))
            .collect();
        if checked.iter().any(|c| c.health_status == Some(HealthStatus::Unhealthy)) {
            Some(HealthStatus::Unhealthy)
        } else if !checked.is_empty()
            && checked.iter().all(|c| c.health_status == Some(HealthStatus::Healthy))
        {
            Some(HealthStatus::Healthy)
        } else {
            Some(HealthStatus::Unknown)
        }
    }

    fn essential_exit(&self) -> Option<StopCause> {
        for definition in &self.run.spec.containers {
            let name = definition.name.as_deref().unwrap_or("");
            let Some(c) = self.run.containers.get(name) else { continue };
            if definition.essential.unwrap_or(true)
                && c.started
                && c.last_status == TaskStatus::Stopped
            {
                return Some(StopCause {
                    code: Some("EssentialContainerExited".into()),
                    reason: "Essential container in task exited".into(),
                });
            }
        }
        None
    }

    /// RUNNING: watch until an essential container exits or the task is to stop.
    async fn watch_running(&mut self) -> StopCause {
        loop {
            self.refresh().await;
            if let Some(cause) = self.essential_exit() {
                return cause;
            }
            if let Some(cause) = self.stop_wanted() {
                return cause;
            }
            self.wait().await;
        }
    }

    /// DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED.
    async fn stop(&mut self, cause: StopCause) {
        if self.run.stop_code.is_none() {
            self.run.stop_code = cause.code;
        }
        if self.run.stopped_reason.is_none() {
            self.run.stopped_reason = Some(cause.reason);
        }
        self.set_status(TaskStatus::Deactivating);
        let at = self.config.clock.epoch_seconds();
        self.run.stopping_at.get_or_insert(at);
        self.set_status(TaskStatus::Stopping);
        let mut stops = Vec::new();
        for (name, container) in &self.run.containers {
            let Some(id) = container.docker_id.clone() else { continue };
            if container.last_status == TaskStatus::Stopped && container.started {
                continue;
            }
            let timeout = self
                .definition(name)
                .and_then(|d| d.stop_timeout)
                .map_or(DEFAULT_STOP_TIMEOUT, |s| Duration::from_secs(s.max(0) as u64));
            let runtime = Arc::clone(&self.runtime);
            stops.push(tokio::spawn(async move {
                if let Err(error) = runtime.stop(&id, timeout).await {
                    tracing::warn!(%error, "cannot stop container");
                }
            }));
        }
        for stop in stops {
            let _ = stop.await;
        }
        self.refresh().await;
        for container in self.run.containers.values_mut() {
            if container.last_status != TaskStatus::Stopped {
                container.last_status = TaskStatus::Stopped;
            }
        }
        self.set_status(TaskStatus::Deprovisioning);
        if let (Some(mut pause), Some(networking)) =
            (self.run.pause.clone(), self.config.networking.clone())
        {
            super::awsvpc::deprovision(
                self.runtime.as_ref(),
                &networking,
                &self.run.spec,
                &mut pause,
            )
            .await;
            self.run.pause = Some(pause);
            self.publish();
        }
        self.config.cgroups.remove(self.run.spec.task_id());
        self.run.stopped_at = Some(self.config.clock.epoch_seconds());
        self.set_status(TaskStatus::Stopped);
    }
}

enum Dependency {
    Met,
    Waiting,
    Never(String),
}

fn apply_status(container: &mut ContainerRun, status: &ContainerStatus) {
    container.docker_id = Some(status.id.clone());
    match status.state {
        RunState::Created => {}
        RunState::Running => {
            container.started = true;
            container.last_status = TaskStatus::Running;
        }
        RunState::Exited => {
            container.started = true;
            container.last_status = TaskStatus::Stopped;
            container.exit_code = status.exit_code.or(container.exit_code);
            if let Some(error) = &status.error {
                container.reason.get_or_insert_with(|| error.clone());
            }
        }
    }
    if !status.network_bindings.is_empty() {
        container.network_bindings = status.network_bindings.clone();
    }
    container.health_status = status.health.map(|h| match h {
        Health::Starting => HealthStatus::Unknown,
        Health::Healthy => HealthStatus::Healthy,
        Health::Unhealthy => HealthStatus::Unhealthy,
    });
}

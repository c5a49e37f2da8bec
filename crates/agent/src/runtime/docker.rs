//! The Docker implementation of `Runtime`: the Docker Engine API through bollard.
//!
//! Code map:
//! - this file: connecting, the `Runtime` operations, the event follower, error mapping;
//! - `translate`: `ContainerPlan` → Docker's create body (pure, unit-tested);
//! - `status`: Docker's inspect/info answers → `ContainerStatus`/`HostInfo` pieces (pure).

mod status;
mod translate;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::models::{MountPointTypeEnum, VolumeCreateOptions};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, InspectContainerOptions,
    InspectNetworkOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions,
    RemoveVolumeOptions, StartContainerOptions, StatsOptions, StopContainerOptions,
};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::StreamExt;
use tokio::sync::{mpsc, OnceCell};

use super::{
    BoxFuture, ContainerDetails, ContainerPlan, ContainerStatus, HostInfo, LogRecord, LogStream,
    Runtime, RuntimeError, LABEL_TASK_ARN,
};
use translate::NamedVolume;

/// Seconds bollard waits for a response's headers (its default); `stop` waits longer.
/// Docker's default bridge network: where bridge-mode tasks go unless `--bridge-network` says.
pub const DEFAULT_BRIDGE_NETWORK: &str = "bridge";
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// A pull that has not finished by then fails: the engine converges and retries later.
const PULL_TIMEOUT: Duration = Duration::from_secs(60);
/// Head room over the stop timeout for Docker to kill and reap the container.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// Events buffered for the engine; beyond this they are dropped (the engine resyncs).
const EVENTS_CAPACITY: usize = 1024;
const EVENTS_MIN_BACKOFF: Duration = Duration::from_millis(250);
const EVENTS_MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Container events that can change what `inspect` says.
const WATCHED_EVENTS: [&str; 5] = ["start", "die", "health_status", "oom", "destroy"];
/// Inspects in flight at once when listing.
const LIST_CONCURRENCY: usize = 8;

/// A `Runtime` on a Docker Engine (API 1.41 / Docker 20.10 or newer).
#[derive(Clone)]
pub struct DockerRuntime {
    docker: Docker,
    /// Bollard speaks a newer API than older engines accept (20.10 refuses clients above
    /// 1.41), so the first request negotiates the version down. Every clone of a bollard client
    /// shares its version, so once is enough, and the event follower shares this cell.
    negotiated: Arc<OnceCell<()>>,
    /// The Docker network of bridge-mode tasks (`flotilla agent --bridge-network`).
    bridge_network: String,
}

impl std::fmt::Debug for DockerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRuntime").field("docker", &self.docker).finish_non_exhaustive()
    }
}

impl DockerRuntime {
    /// Connects to `docker_host` (`unix:///path`, `tcp://host:port` or `http://host:port`), or
    /// with `None` to the local engine (`DOCKER_HOST`, else `/var/run/docker.sock`). Nothing is
    /// sent until the first operation.
    pub fn connect(docker_host: Option<&str>) -> Result<Self, RuntimeError> {
        // Bollard's local defaults read DOCKER_HOST only when it is a unix:// address; a tcp://
        // one is honoured here, as the docker CLI does.
        let from_env = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let docker = match docker_host.or(from_env.as_deref()) {
            None => Docker::connect_with_local_defaults(),
            Some(host) if host.starts_with("unix://") || host.starts_with('/') => {
                Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
            }
            Some(host) if host.starts_with("tcp://") || host.starts_with("http://") => {
                Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
            }
            Some(host) => {
                return Err(RuntimeError::Docker(format!(
                    "unsupported docker host {host}: expected unix://, tcp:// or http://"
                )))
            }
        }
        .map_err(|e| RuntimeError::Docker(e.to_string()))?;
        Ok(Self::from_client(docker))
    }

    /// Wraps a client made elsewhere.
    pub fn from_client(docker: Docker) -> Self {
        Self {
            docker,
            negotiated: Arc::new(OnceCell::new()),
            bridge_network: DEFAULT_BRIDGE_NETWORK.to_string(),
        }
    }

    /// Puts bridge-mode tasks on `network` (a Docker bridge network) instead of Docker's
    /// default `bridge`: the agent's servers for tasks listen on its gateway.
    pub fn with_bridge_network(mut self, network: &str) -> Self {
        self.bridge_network = network.to_string();
        self
    }

    /// The bollard client, its API version negotiated with the engine, for what the trait does
    /// not cover (building the demo image).
    pub async fn client(&self) -> Result<&Docker, RuntimeError> {
        self.docker().await
    }

    async fn docker(&self) -> Result<&Docker, RuntimeError> {
        negotiate(&self.docker, &self.negotiated).await?;
        Ok(&self.docker)
    }

    async fn host_info(&self) -> Result<HostInfo, RuntimeError> {
        let docker = self.docker().await?;
        let info = docker.info().await.map_err(docker_error)?;
        let version = docker.version().await.map_err(docker_error)?;
        Ok(HostInfo {
            cpus: info.ncpu.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
            memory_bytes: info.mem_total.and_then(|m| u64::try_from(m).ok()).unwrap_or(0),
            docker_version: info.server_version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            os_type: info.os_type.unwrap_or_default(),
            architecture: status::normalize_architecture(&info.architecture.unwrap_or_default()),
            hostname: info.name.unwrap_or_default(),
        })
    }

    async fn has_image(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.docker().await?.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if status_code(&e) == Some(404) => Ok(false),
            Err(e) => Err(docker_error(e)),
        }
    }

    async fn pull(&self, image: &str) -> Result<(), RuntimeError> {
        let docker = self.docker().await?;
        let (repository, tag) = translate::image_reference(image);
        let options = CreateImageOptions {
            from_image: Some(repository),
            tag: Some(tag),
            ..Default::default()
        };
        let pull = async {
            let mut progress = docker.create_image(Some(options), None, None);
            while let Some(item) = progress.next().await {
                item.map_err(pull_error)?;
            }
            Ok(())
        };
        match tokio::time::timeout(PULL_TIMEOUT, pull).await {
            Ok(result) => result,
            Err(_) => Err(RuntimeError::ImagePull(format!(
                "timed out after {}s pulling {image}",
                PULL_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn create_container(&self, plan: &ContainerPlan) -> Result<String, RuntimeError> {
        let mut config = translate::container_config(plan)?;
        if let Some(host) = config.host_config.as_mut() {
            if host.network_mode.as_deref() == Some(DEFAULT_BRIDGE_NETWORK) {
                host.network_mode = Some(self.bridge_network.clone());
            }
        }
        let volumes = translate::named_volumes(plan)?;
        let docker = self.docker().await?;
        for volume in &volumes {
            ensure_volume(docker, volume).await?;
        }
        let options =
            CreateContainerOptions { name: Some(plan.docker_name.clone()), ..Default::default() };
        match docker.create_container(Some(options), config).await {
            Ok(created) => Ok(created.id),
            // A retried create: the container exists under its name already.
            Err(e) if status_code(&e) == Some(409) => {
                let existing = docker
                    .inspect_container(&plan.docker_name, None::<InspectContainerOptions>)
                    .await
                    .map_err(|e| container_error(&plan.docker_name, e))?;
                existing.id.ok_or_else(|| {
                    RuntimeError::Docker(format!("container {} has no id", plan.docker_name))
                })
            }
            // A 404 here is the image ("No such image: ..."), not a container.
            Err(BollardError::DockerResponseServerError { status_code: 404, message }) => {
                Err(RuntimeError::Docker(message))
            }
            Err(e) => Err(docker_error(e)),
        }
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        // Starting a running container answers 304, which bollard counts as success.
        self.docker()
            .await?
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| container_error(id, e))
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        // Docker takes whole seconds; round up so a short timeout still gives some grace.
        let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        let options =
            StopContainerOptions { t: Some(i32::try_from(secs).unwrap_or(i32::MAX)), signal: None };
        // Docker answers once the container is gone, up to `timeout` later: the request must
        // outlive the client's default deadline when `timeout` is long.
        let docker = self
            .docker()
            .await?
            .clone()
            .with_timeout(Duration::from_secs(secs).saturating_add(STOP_GRACE));
        // A container that is not running answers 304, which bollard counts as success.
        docker.stop_container(id, Some(options)).await.map_err(|e| container_error(id, e))
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        let docker = self.docker().await?;
        let inspected = match docker.inspect_container(id, None::<InspectContainerOptions>).await {
            Ok(inspected) => inspected,
            Err(e) if status_code(&e) == Some(404) => return Ok(()),
            Err(e) => return Err(container_error(id, e)),
        };
        // Named volumes it mounts; the task-scoped ones go with the task's last container.
        let volumes: Vec<String> = inspected
            .mounts
            .iter()
            .flatten()
            .filter(|m| m.typ == Some(MountPointTypeEnum::VOLUME))
            .filter_map(|m| m.name.clone())
            .collect();
        let options = RemoveContainerOptions { force: true, v: true, link: false };
        match docker.remove_container(id, Some(options)).await {
            Ok(()) => {}
            // Gone already, or being removed by someone else.
            Err(e) if matches!(status_code(&e), Some(404 | 409)) => {}
            Err(e) => return Err(container_error(id, e)),
        }
        for volume in volumes {
            remove_task_volume(docker, &volume).await;
        }
        Ok(())
    }

    async fn inspect_status(&self, id: &str) -> Result<Option<ContainerStatus>, RuntimeError> {
        match self.docker().await?.inspect_container(id, None::<InspectContainerOptions>).await {
            Ok(inspected) => Ok(Some(status::container_status(inspected))),
            Err(e) if status_code(&e) == Some(404) => Ok(None),
            Err(e) => Err(container_error(id, e)),
        }
    }

    async fn managed(&self) -> Result<Vec<ContainerStatus>, RuntimeError> {
        self.labelled(LABEL_TASK_ARN).await
    }

    async fn renamed(&self, id: &str, name: &str) -> Result<(), RuntimeError> {
        let options = bollard::query_parameters::RenameContainerOptions { name: name.to_string() };
        self.docker().await?.rename_container(id, options).await.map_err(|e| container_error(id, e))
    }

    async fn labelled(&self, label: &str) -> Result<Vec<ContainerStatus>, RuntimeError> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let options =
            ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let containers =
            self.docker().await?.list_containers(Some(options)).await.map_err(docker_error)?;
        let inspects: Vec<_> = containers
            .into_iter()
            .filter_map(|c| c.id)
            .map(|id| async move { self.inspect_status(&id).await })
            .collect();
        let statuses: Vec<Result<Option<ContainerStatus>, RuntimeError>> =
            futures_util::stream::iter(inspects).buffered(LIST_CONCURRENCY).collect().await;
        let mut out = Vec::with_capacity(statuses.len());
        for status in statuses {
            // `None`: removed between the listing and the inspect.
            if let Some(status) = status? {
                out.push(status);
            }
        }
        Ok(out)
    }

    fn logs_from(&self, id: &str, since_ns: i64) -> LogStream {
        let runtime = self.clone();
        let id = id.to_string();
        let since = i32::try_from(since_ns.div_euclid(1_000_000_000)).unwrap_or(0);
        let options = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            timestamps: true,
            since,
            ..Default::default()
        };
        let frames = futures_util::stream::once(async move {
            let docker = runtime.docker().await?.clone();
            Ok::<_, RuntimeError>(docker.logs(&id, Some(options)).map(move |frame| match frame {
                Ok(output) => Ok(output),
                Err(e) => Err(container_error(&id, e)),
            }))
        });
        let frames = frames
            .map(|opened| match opened {
                Ok(stream) => stream.left_stream(),
                Err(e) => futures_util::stream::once(async move { Err(e) }).right_stream(),
            })
            .flatten();
        // Docker sends one frame per line, each starting with its timestamp; a TTY container's
        // frames can hold several lines, so frames are split on newlines either way.
        frames
            .flat_map(|frame| {
                let records: Vec<Result<LogRecord, RuntimeError>> = match frame {
                    Ok(
                        LogOutput::StdOut { message }
                        | LogOutput::StdErr { message }
                        | LogOutput::Console { message },
                    ) => status::log_records(&message).into_iter().map(Ok).collect(),
                    Ok(LogOutput::StdIn { .. }) => Vec::new(),
                    Err(e) => vec![Err(e)],
                };
                futures_util::stream::iter(records)
            })
            .boxed()
    }

    async fn one_stats(&self, id: &str) -> Result<Option<serde_json::Value>, RuntimeError> {
        let options = StatsOptions { stream: false, one_shot: false };
        let docker = self.docker().await?;
        let mut stream = docker.stats(id, Some(options));
        match stream.next().await {
            None => Ok(None),
            Some(Ok(stats)) => serde_json::to_value(stats)
                .map(Some)
                .map_err(|e| RuntimeError::Docker(format!("stats of {id}: {e}"))),
            Some(Err(e)) if status_code(&e) == Some(404) => Ok(None),
            Some(Err(e)) => Err(container_error(id, e)),
        }
    }

    async fn container_details(&self, id: &str) -> Result<Option<ContainerDetails>, RuntimeError> {
        match self.docker().await?.inspect_container(id, None::<InspectContainerOptions>).await {
            Ok(inspected) => Ok(Some(status::container_details(inspected))),
            Err(e) if status_code(&e) == Some(404) => Ok(None),
            Err(e) => Err(container_error(id, e)),
        }
    }

    async fn gateway(&self) -> Result<Option<std::net::IpAddr>, RuntimeError> {
        let docker = self.docker().await?;
        let network =
            match docker.inspect_network(&self.bridge_network, None::<InspectNetworkOptions>).await
            {
                Ok(network) => network,
                Err(e) if status_code(&e) == Some(404) => return Ok(None),
                Err(e) => return Err(docker_error(e)),
            };
        // Docker leaves `Gateway` out when it is the default: the subnet's first address.
        Ok(network.ipam.and_then(|ipam| ipam.config).into_iter().flatten().find_map(|config| {
            match config.gateway.filter(|g| !g.is_empty()) {
                Some(gateway) => gateway.parse::<std::net::IpAddr>().ok(),
                None => status::first_address(config.subnet.as_deref()?),
            }
        }))
    }

    fn follow_events(&self) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel(EVENTS_CAPACITY);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(follow_events(self.docker.clone(), self.negotiated.clone(), tx));
            }
            // Dropping `tx` closes the channel: the engine sees no events and relies on resyncs.
            Err(_) => tracing::error!("docker events need a tokio runtime; none is running"),
        }
        rx
    }
}

impl Runtime for DockerRuntime {
    fn build_own_image<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let binary = std::env::current_exe()
                .map_err(|e| RuntimeError::Docker(format!("cannot find this binary: {e}")))?;
            crate::demo_image::ensure_demo_image(self.docker().await?, &binary, tag)
                .await
                .map(|_| ())
                .map_err(|e| RuntimeError::Docker(e.to_string()))
        })
    }

    fn info(&self) -> BoxFuture<'_, Result<HostInfo, RuntimeError>> {
        Box::pin(self.host_info())
    }

    fn image_present<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool, RuntimeError>> {
        Box::pin(self.has_image(image))
    }

    fn pull_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(self.pull(image))
    }

    fn create<'a>(
        &'a self,
        plan: &'a ContainerPlan,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        Box::pin(self.create_container(plan))
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(self.start_container(id))
    }

    fn stop<'a>(
        &'a self,
        id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(self.stop_container(id, timeout))
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(self.remove_container(id))
    }

    fn inspect<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ContainerStatus>, RuntimeError>> {
        Box::pin(self.inspect_status(id))
    }

    fn list_managed(&self) -> BoxFuture<'_, Result<Vec<ContainerStatus>, RuntimeError>> {
        Box::pin(self.managed())
    }

    fn list_labelled<'a>(
        &'a self,
        label: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContainerStatus>, RuntimeError>> {
        Box::pin(self.labelled(label))
    }

    fn rename<'a>(&'a self, id: &'a str, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(self.renamed(id, name))
    }

    /// Spawns the follower on the current tokio runtime; it ends when the receiver is dropped.
    fn events(&self) -> mpsc::Receiver<String> {
        self.follow_events()
    }

    fn follow_logs(&self, id: &str, since_ns: i64) -> LogStream {
        self.logs_from(id, since_ns)
    }

    fn stats<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, RuntimeError>> {
        Box::pin(self.one_stats(id))
    }

    fn details<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ContainerDetails>, RuntimeError>> {
        Box::pin(self.container_details(id))
    }

    fn bridge_gateway(&self) -> BoxFuture<'_, Result<Option<std::net::IpAddr>, RuntimeError>> {
        Box::pin(self.gateway())
    }
}

async fn negotiate(docker: &Docker, negotiated: &OnceCell<()>) -> Result<(), RuntimeError> {
    negotiated
        .get_or_try_init(|| async {
            // The negotiated version lands in the version shared by every clone of `docker`.
            docker
                .clone()
                .negotiate_version()
                .await
                .map(|_| ())
                .map_err(|e| RuntimeError::Docker(format!("cannot reach the docker engine: {e}")))
        })
        .await
        .map(|_| ())
}

/// Makes sure a named volume exists before a container mounts it. Docker would create a missing
/// one on use, but without the driver, options and labels asked for.
async fn ensure_volume(docker: &Docker, volume: &NamedVolume) -> Result<(), RuntimeError> {
    match docker.inspect_volume(&volume.name).await {
        Ok(_) => return Ok(()),
        Err(e) if status_code(&e) == Some(404) => {}
        Err(e) => return Err(docker_error(e)),
    }
    if volume.must_exist {
        return Err(RuntimeError::InvalidSpec(format!(
            "volume {} does not exist and autoprovision is not set",
            volume.name
        )));
    }
    let options = VolumeCreateOptions {
        name: Some(volume.name.clone()),
        driver: volume.driver.clone(),
        driver_opts: Some(volume.driver_opts.clone().into_iter().collect()),
        labels: Some(volume.labels.clone().into_iter().collect()),
        cluster_volume_spec: None,
    };
    // Creating a volume that exists (a concurrent create) returns it: no conflict to handle.
    docker.create_volume(options).await.map(|_| ()).map_err(docker_error)
}

/// Removes `name` if it is a task-scoped volume no container uses any more. Best effort: a
/// volume still in use (409) belongs to a container of the task that is still there, and its
/// removal will try again.
async fn remove_task_volume(docker: &Docker, name: &str) {
    let task_scoped = match docker.inspect_volume(name).await {
        Ok(volume) => volume.labels.contains_key(LABEL_TASK_ARN),
        Err(_) => false,
    };
    if !task_scoped {
        return;
    }
    match docker.remove_volume(name, None::<RemoveVolumeOptions>).await {
        Ok(()) => {}
        Err(e) if matches!(status_code(&e), Some(404 | 409)) => {}
        Err(e) => tracing::warn!(volume = name, error = %e, "could not remove task volume"),
    }
}

/// Follows Docker's event stream for managed containers and forwards the ids of those whose
/// state changed, until `tx`'s receiver is dropped. Reconnects after errors, asking for the
/// events since the last one seen so that few are lost (a repeated id is harmless).
async fn follow_events(docker: Docker, negotiated: Arc<OnceCell<()>>, tx: mpsc::Sender<String>) {
    let mut since: Option<i64> = None;
    let mut backoff = EVENTS_MIN_BACKOFF;
    loop {
        if let Err(e) = negotiate(&docker, &negotiated).await {
            tracing::warn!(error = %e, "docker events: engine unreachable");
        } else {
            let filters = HashMap::from([
                ("type".to_string(), vec!["container".to_string()]),
                ("label".to_string(), vec![LABEL_TASK_ARN.to_string()]),
                ("event".to_string(), WATCHED_EVENTS.iter().map(|e| (*e).to_string()).collect()),
            ]);
            let options = EventsOptions {
                since: since.map(|s| s.to_string()),
                until: None,
                filters: Some(filters),
            };
            let mut stream = docker.events(Some(options));
            loop {
                tokio::select! {
                    () = tx.closed() => return,
                    item = stream.next() => match item {
                        Some(Ok(event)) => {
                            backoff = EVENTS_MIN_BACKOFF;
                            since = event.time.or(since);
                            let Some(id) = event.actor.and_then(|a| a.id) else { continue };
                            match tx.try_send(id) {
                                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                                Err(mpsc::error::TrySendError::Closed(_)) => return,
                            }
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "docker events: stream failed; reconnecting");
                            break;
                        }
                        None => break,
                    },
                }
            }
        }
        tokio::select! {
            () = tx.closed() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(EVENTS_MAX_BACKOFF);
    }
}

fn status_code(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Docker's message for a failed request (bollard's text when Docker said nothing).
fn docker_error(e: BollardError) -> RuntimeError {
    match e {
        BollardError::DockerResponseServerError { status_code: 404, message } => {
            RuntimeError::NotFound(message)
        }
        BollardError::DockerResponseServerError { message, .. } => RuntimeError::Docker(message),
        other => RuntimeError::Docker(other.to_string()),
    }
}

/// Like `docker_error`, naming the container `id` when it does not exist.
fn container_error(id: &str, e: BollardError) -> RuntimeError {
    match status_code(&e) {
        Some(404) => RuntimeError::NotFound(id.to_string()),
        _ => docker_error(e),
    }
}

fn pull_error(e: BollardError) -> RuntimeError {
    match e {
        BollardError::DockerResponseServerError { message, .. } => RuntimeError::ImagePull(message),
        BollardError::DockerStreamError { error } => RuntimeError::ImagePull(error),
        other => RuntimeError::ImagePull(other.to_string()),
    }
}

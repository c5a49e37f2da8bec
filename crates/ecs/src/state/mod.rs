//! The in-memory state: every record of the store, decoded and indexed, updated only by applying
//! committed writes (so readers never see a write that is not durable yet).

mod records;
pub mod views;
mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use flotilla_api::account::Setting;
use flotilla_api::capacity::CapacityProvider;
use flotilla_api::cluster::Cluster;
use flotilla_api::status::InstanceStatus;
use flotilla_api::ApiError;
use flotilla_store::{Revision, Store, StoreError};

pub use records::{
    account_setting_key, capacity_provider_key, cluster_key, family_key, instance_key, service_key,
    task_definition_key, task_key, task_prefix, DeploymentTargets, Family, InstanceRecord, Record,
    Reservation, ServiceRecord, StoredTaskDefinition, TaskRecord,
};
pub use writer::Staged;

/// Everything the ECS API serves, as of one store revision.
#[derive(Debug, Default)]
pub struct State {
    pub clusters: BTreeMap<String, Cluster>,
    /// family -> revision -> definition.
    pub task_definitions: BTreeMap<String, BTreeMap<u32, StoredTaskDefinition>>,
    pub families: BTreeMap<String, Family>,
    /// (principal, setting name) -> setting; principal `default` holds account defaults.
    pub account_settings: BTreeMap<(String, String), Setting>,
    /// (cluster, instance id) -> container instance.
    pub instances: BTreeMap<(String, String), InstanceRecord>,
    /// (cluster, task id) -> task.
    pub tasks: BTreeMap<(String, String), TaskRecord>,
    /// instance id -> ids of the tasks placed on it (any status).
    pub tasks_by_instance: BTreeMap<String, BTreeSet<(String, String)>>,
    /// (cluster, service name) -> service.
    pub services: BTreeMap<(String, String), ServiceRecord>,
    /// (cluster, RunTask clientToken) -> the ids of the tasks that call started.
    pub tasks_by_token: std::collections::HashMap<(String, String), BTreeSet<String>>,
    /// name -> capacity provider (FARGATE and FARGATE_SPOT are not stored: they always exist).
    pub capacity_providers: BTreeMap<String, CapacityProvider>,
    pub revision: Revision,
    /// instance id -> a number that changes whenever a task placed on it changes, so agent
    /// connections rebuild desired states only for the instances a commit touched.
    task_changes: std::collections::HashMap<String, u64>,
    /// The same per (cluster, task group), and per cluster for its instances: the service
    /// controller skips services nothing happened to.
    group_changes: std::collections::HashMap<(String, String), u64>,
    instance_changes: std::collections::HashMap<String, u64>,
    change_seq: u64,
    /// Instances touched by the records applied since the writer last looked.
    touched: Vec<String>,
    /// (cluster, task group) -> ids of the group's tasks (any status): a service's tasks
    /// without walking the cluster.
    tasks_by_group: std::collections::HashMap<(String, String), BTreeSet<(String, String)>>,
    /// cluster -> placement's views of its instances, updated as records apply.
    pub placement: BTreeMap<String, views::ClusterViews>,
}

impl State {
    /// Applies one committed record (or its deletion) by key.
    fn apply(&mut self, key: &str, record: Option<Record>) {
        match record {
            Some(record) => self.insert(record),
            None => self.remove(key),
        }
    }

    fn insert(&mut self, record: Record) {
        match record {
            Record::Cluster(c) => {
                self.clusters.insert(c.cluster_name.clone(), c);
            }
            Record::TaskDefinition(td) => {
                let family = td.definition.family.clone();
                self.task_definitions
                    .entry(family)
                    .or_default()
                    .insert(td.definition.revision as u32, *td);
            }
            Record::Family(f) => {
                self.families.insert(f.name.clone(), f);
            }
            Record::AccountSetting { principal, setting } => {
                self.account_settings.insert((principal, setting.name.clone()), setting);
            }
            Record::Instance(i) => {
                let cluster = self.placement.entry(i.cluster.clone()).or_default();
                if i.instance.status == InstanceStatus::Inactive {
                    cluster.remove(&i.id);
                } else {
                    let tasks = self
                        .tasks_by_instance
                        .get(&i.id)
                        .into_iter()
                        .flatten()
                        .filter_map(|key| self.tasks.get(key));
                    cluster.upsert(views::instance_view(&i, &Default::default(), tasks));
                }
                self.change_seq += 1;
                self.instance_changes.insert(i.cluster.clone(), self.change_seq);
                self.instances.insert((i.cluster.clone(), i.id.clone()), *i);
            }
            Record::Task(t) => {
                let key = (t.cluster.clone(), t.id.clone());
                // A task holds its reservation on its instance's views: its cluster's, or (a
                // FARGATE task) the Fargate capacity's.
                for views_of in [t.cluster.as_str(), flotilla_api::agent::FARGATE_POOL] {
                    if let Some(cluster) = self.placement.get_mut(views_of) {
                        if let Some(old) = self.tasks.get(&key) {
                            cluster.account(old, false);
                        }
                        cluster.account(&t, true);
                    }
                }
                if let Some(group) = &t.task.group {
                    self.change_seq += 1;
                    self.group_changes.insert((t.cluster.clone(), group.clone()), self.change_seq);
                    self.tasks_by_group
                        .entry((t.cluster.clone(), group.clone()))
                        .or_default()
                        .insert(key.clone());
                }
                // A task that names another instance than before leaves the old one's index.
                let moved_from = self
                    .tasks
                    .get(&key)
                    .and_then(|old| old.instance_id.clone())
                    .filter(|old| t.instance_id.as_ref() != Some(old));
                if let Some(old) = moved_from {
                    if let Some(set) = self.tasks_by_instance.get_mut(&old) {
                        set.remove(&key);
                        if set.is_empty() {
                            self.tasks_by_instance.remove(&old);
                        }
                    }
                }
                if let Some(instance) = &t.instance_id {
                    self.tasks_by_instance.entry(instance.clone()).or_default().insert(key.clone());
                    self.touch(instance);
                }
                if let Some(token) = &t.client_token {
                    let token_key = (t.cluster.clone(), token.clone());
                    self.tasks_by_token.entry(token_key).or_default().insert(t.id.clone());
                }
                self.tasks.insert(key, *t);
            }
            Record::Service(svc) => {
                self.services.insert((svc.cluster.clone(), svc.name.clone()), *svc);
            }
            Record::CapacityProvider(provider) => {
                self.capacity_providers.insert(provider.name.clone(), *provider);
            }
        }
    }

    fn remove(&mut self, key: &str) {
        match records::parse_key(key) {
            Some(records::Key::Cluster(name)) => {
                self.clusters.remove(name);
                self.placement.remove(name);
            }
            Some(records::Key::TaskDefinition(family, revision)) => {
                if let Some(revisions) = self.task_definitions.get_mut(family) {
                    revisions.remove(&revision);
                    if revisions.is_empty() {
                        self.task_definitions.remove(family);
                    }
                }
            }
            Some(records::Key::CapacityProvider(name)) => {
                self.capacity_providers.remove(name);
            }
            Some(records::Key::Family(name)) => {
                self.families.remove(name);
            }
            Some(records::Key::AccountSetting(principal, name)) => {
                self.account_settings.remove(&(principal.to_string(), name.to_string()));
            }
            Some(records::Key::Instance(cluster, id)) => {
                self.instances.remove(&(cluster.to_string(), id.to_string()));
                self.change_seq += 1;
                self.instance_changes.insert(cluster.to_string(), self.change_seq);
                if let Some(views) = self.placement.get_mut(cluster) {
                    views.remove(id);
                }
            }
            Some(records::Key::Service(cluster, name)) => {
                self.services.remove(&(cluster.to_string(), name.to_string()));
            }
            Some(records::Key::Task(cluster, id)) => {
                let key = (cluster.to_string(), id.to_string());
                if let Some(task) = self.tasks.remove(&key) {
                    for views_of in [cluster, flotilla_api::agent::FARGATE_POOL] {
                        if let Some(views) = self.placement.get_mut(views_of) {
                            views.account(&task, false);
                        }
                    }
                    if let Some(token) = &task.client_token {
                        let token_key = (task.cluster.clone(), token.clone());
                        if let Some(ids) = self.tasks_by_token.get_mut(&token_key) {
                            ids.remove(&task.id);
                            if ids.is_empty() {
                                self.tasks_by_token.remove(&token_key);
                            }
                        }
                    }
                    if let Some(group) = &task.task.group {
                        let group_key = (task.cluster.clone(), group.clone());
                        self.change_seq += 1;
                        self.group_changes.insert(group_key.clone(), self.change_seq);
                        if let Some(ids) = self.tasks_by_group.get_mut(&group_key) {
                            ids.remove(&key);
                            if ids.is_empty() {
                                self.tasks_by_group.remove(&group_key);
                            }
                        }
                    }
                    if let Some(instance) = task.instance_id {
                        self.touch(&instance);
                        if let Some(set) = self.tasks_by_instance.get_mut(&instance) {
                            set.remove(&key);
                            if set.is_empty() {
                                self.tasks_by_instance.remove(&instance);
                            }
                        }
                    }
                }
            }
            None => tracing::warn!(key, "ignoring deletion of an unknown key"),
        }
    }

    /// Applies a record as a committed write would (tests elsewhere build states with it).
    #[cfg(test)]
    pub(crate) fn insert_for_test(&mut self, record: Record) {
        self.insert(record);
    }

    fn touch(&mut self, instance_id: &str) {
        self.touched.push(instance_id.to_string());
        self.change_seq += 1;
        match self.task_changes.get_mut(instance_id) {
            Some(seq) => *seq = self.change_seq,
            None => {
                self.task_changes.insert(instance_id.to_string(), self.change_seq);
            }
        }
    }

    /// The tasks of a group (`service:web`, `family:batch`, ...) in a cluster, any status.
    pub fn tasks_of_group(&self, cluster: &str, group: &str) -> impl Iterator<Item = &TaskRecord> {
        self.tasks_by_group
            .get(&(cluster.to_string(), group.to_string()))
            .into_iter()
            .flatten()
            .filter_map(|key| self.tasks.get(key))
    }

    /// Changes whenever a task of the group, or an instance of the cluster, changes.
    pub fn group_change_of(&self, cluster: &str, group: &str) -> (u64, u64) {
        let group =
            self.group_changes.get(&(cluster.to_string(), group.to_string())).copied().unwrap_or(0);
        (group, self.instance_change_of(cluster))
    }

    /// Changes whenever an instance of the cluster is registered, changed or removed (so the
    /// positions of its placement views may have moved).
    pub fn instance_change_of(&self, cluster: &str) -> u64 {
        self.instance_changes.get(cluster).copied().unwrap_or(0)
    }

    /// Changes whenever a task placed on the instance changes (0: none ever did).
    pub fn task_change_of(&self, instance_id: &str) -> u64 {
        self.task_changes.get(instance_id).copied().unwrap_or(0)
    }

    /// Looks a record up by its store key (the writer's view of committed state).
    fn get(&self, key: &str) -> Option<Record> {
        match records::parse_key(key)? {
            records::Key::Cluster(name) => self.clusters.get(name).cloned().map(Record::Cluster),
            records::Key::TaskDefinition(family, revision) => self
                .task_definitions
                .get(family)?
                .get(&revision)
                .map(|td| Record::TaskDefinition(Box::new(td.clone()))),
            records::Key::Family(name) => self.families.get(name).cloned().map(Record::Family),
            records::Key::CapacityProvider(name) => self
                .capacity_providers
                .get(name)
                .map(|p| Record::CapacityProvider(Box::new(p.clone()))),
            records::Key::AccountSetting(principal, name) => {
                self.account_settings.get(&(principal.to_string(), name.to_string())).map(|s| {
                    Record::AccountSetting { principal: principal.to_string(), setting: s.clone() }
                })
            }
            records::Key::Instance(cluster, id) => self
                .instances
                .get(&(cluster.to_string(), id.to_string()))
                .map(|i| Record::Instance(Box::new(i.clone()))),
            records::Key::Service(cluster, name) => self
                .services
                .get(&(cluster.to_string(), name.to_string()))
                .map(|svc| Record::Service(Box::new(svc.clone()))),
            records::Key::Task(cluster, id) => self
                .tasks
                .get(&(cluster.to_string(), id.to_string()))
                .map(|t| Record::Task(Box::new(t.clone()))),
        }
    }

    /// A task definition by its ARN (`...:task-definition/<family>:<revision>`), any status.
    pub fn task_definition_by_arn(&self, arn: &str) -> Option<&StoredTaskDefinition> {
        let (family, revision) = arn.rsplit_once(":task-definition/")?.1.rsplit_once(':')?;
        self.task_definitions.get(family)?.get(&revision.parse().ok()?)
    }

    /// A task by its ARN (`...:task/<cluster>/<id>`), any status.
    pub fn task_by_arn(&self, arn: &str) -> Option<&TaskRecord> {
        let (cluster, id) = arn.rsplit_once(":task/")?.1.split_once('/')?;
        self.tasks.get(&(cluster.to_string(), id.to_string()))
    }

    /// A container instance by cluster name and id, any status.
    pub fn instance(&self, cluster: &str, id: &str) -> Option<&InstanceRecord> {
        self.instances.get(&(cluster.to_string(), id.to_string()))
    }

    /// The instance a task runs on: one of its cluster's, or (FARGATE) of the Fargate capacity.
    pub fn instance_of(&self, task: &TaskRecord) -> Option<&InstanceRecord> {
        let id = task.instance_id.as_deref()?;
        self.instance(&task.cluster, id)
            .or_else(|| self.instance(flotilla_api::agent::FARGATE_POOL, id))
    }

    /// The tasks placed on an instance, committed state only.
    pub fn tasks_on(&self, instance_id: &str) -> impl Iterator<Item = &TaskRecord> {
        self.tasks_by_instance
            .get(instance_id)
            .into_iter()
            .flatten()
            .filter_map(|key| self.tasks.get(key))
    }
}

/// Per-instance wake-ups: an agent connection waits on its instance's `Notify`, woken only by
/// commits that touched a task placed on it, so thousands of idle connections cost nothing per
/// commit.
#[derive(Default)]
pub struct InstanceWakers {
    wakers:
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<tokio::sync::Notify>>>,
}

impl InstanceWakers {
    /// The instance's waker (one per live connection; dropped with it).
    pub fn register(&self, instance_id: &str) -> Arc<tokio::sync::Notify> {
        let notify = Arc::new(tokio::sync::Notify::new());
        self.lock().insert(instance_id.to_string(), Arc::downgrade(&notify));
        notify
    }

    fn wake<'i>(&self, instance_ids: impl Iterator<Item = &'i String>) {
        let mut wakers = self.lock();
        for id in instance_ids {
            match wakers.get(id).map(std::sync::Weak::upgrade) {
                // A permit is kept if the connection is busy, so no wake-up is lost.
                Some(Some(notify)) => notify.notify_one(),
                Some(None) => {
                    wakers.remove(id);
                }
                None => {}
            }
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<String, std::sync::Weak<tokio::sync::Notify>>,
    > {
        self.wakers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The state plus the single writer that changes it.
#[derive(Clone)]
pub struct StateHandle {
    state: Arc<RwLock<State>>,
    writer: writer::WriterHandle,
    /// The revision of the last applied commit; watchers (the controller) wake on changes.
    changes: tokio::sync::watch::Receiver<Revision>,
    pub wakers: Arc<InstanceWakers>,
}

impl StateHandle {
    /// Loads every record from the store and starts the writer.
    pub async fn load(store: Arc<dyn Store>) -> Result<Self, StoreError> {
        let mut state = State::default();
        let (kvs, revision) = store.range(records::ECS_PREFIX).await?;
        for kv in kvs {
            let record = Record::decode(&kv.key, &kv.value)?;
            state.insert(record);
        }
        state.revision = revision;
        state.touched.clear();
        let (notify, changes) = tokio::sync::watch::channel(revision);
        let state = Arc::new(RwLock::new(state));
        let wakers = Arc::new(InstanceWakers::default());
        let writer =
            writer::WriterHandle::start(Arc::clone(&state), store, notify, Arc::clone(&wakers));
        Ok(StateHandle { state, writer, changes, wakers })
    }

    /// A consistent read view. Hold it briefly: the writer waits for readers to apply commits.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        // A poisoned lock means a panic while applying a commit; the data is still the last
        // consistent state, so reading it is safe.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes whenever a commit has been applied.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Revision> {
        self.changes.clone()
    }

    /// Runs `change` against the committed state plus writes queued before it, commits what it
    /// stages durably, and only then returns its result. `change` must be deterministic: ids and
    /// timestamps are decided before it runs.
    pub async fn write<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Staged<'_>) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.writer.write(change).await
    }

    /// A change that reads committed state wholesale and writes back what it read (the
    /// service controller's pass): run on settled state, nothing staged or committing.
    pub async fn write_settled<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Staged<'_>) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.writer.write_settled(change).await
    }
}

//! What the store holds: one JSON record per key, and the key layout.

use flotilla_api::account::Setting;
use flotilla_api::capacity::CapacityProvider;
use flotilla_api::cluster::Cluster;
use flotilla_api::instance::ContainerInstance;
use flotilla_api::service::{Service, ServiceLoadBalancer, ServiceRegistryEntry};
use flotilla_api::task::Task;
use flotilla_api::taskdef::{Attribute, TaskDefinition};
use flotilla_api::Tag;
use flotilla_store::StoreError;
use serde::{Deserialize, Serialize};

/// Every ECS record lives under this prefix; other subsystems (auth) have their own.
pub const ECS_PREFIX: &str = "ecs/";

/// A task definition revision and the tags attached to it (ECS returns tags beside it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTaskDefinition {
    pub definition: TaskDefinition,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// Per-family bookkeeping: revisions keep counting up even after old ones are deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Family {
    pub name: String,
    pub last_revision: u32,
}

/// A registered container instance. Live fields (remaining resources, task counts,
/// `agentConnected`) are computed when it is described, not stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub cluster: String,
    pub id: String,
    /// As described; `attributes` holds the agent's attributes merged with `custom_attributes`.
    pub instance: ContainerInstance,
    /// Attributes set with PutAttributes: kept when the agent registers again.
    #[serde(default)]
    pub custom_attributes: Vec<Attribute>,
    /// The attributes the agent announced when it last registered.
    #[serde(default)]
    pub announced_attributes: Vec<Attribute>,
    /// SHA-256 (hex) of the credential issued to the instance's agent; `None` only for
    /// instances registered before credentials existed (their agent claims one once).
    #[serde(default)]
    pub credential_hash: Option<String>,
}

impl InstanceRecord {
    /// Records what the agent announced and shows it merged with the custom attributes.
    pub fn set_announced(&mut self, announced: Vec<Attribute>) {
        self.announced_attributes = announced;
        self.merge_attributes();
    }

    /// `instance.attributes`: the agent's, overlaid by the custom ones (which win).
    pub fn merge_attributes(&mut self) {
        let mut merged = self.announced_attributes.clone();
        for custom in &self.custom_attributes {
            merged.retain(|a| a.name != custom.name);
            merged.push(Attribute {
                name: custom.name.clone(),
                value: custom.value.clone(),
                ..Default::default()
            });
        }
        self.instance.attributes = merged;
    }
}

/// A task: the ECS shape plus where it runs and what it holds there.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    pub cluster: String,
    pub id: String,
    /// The container instance id it was placed on.
    pub instance_id: Option<String>,
    #[serde(default)]
    pub reservation: Reservation,
    pub task: Task,
    /// Scale-in protected until this time (epoch seconds): UpdateTaskProtection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_until: Option<f64>,
    /// The `clientToken` of the RunTask that started it: a retry gets the same tasks back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// A service task leaving its load balancers (DEACTIVATING): its agent keeps it running
    /// until this time (epoch seconds), the target groups' deregistration delay, so requests in
    /// flight finish before SIGTERM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistering_until: Option<f64>,
}

impl TaskRecord {
    /// The status the agent is told to keep the task in: RUNNING while it drains from its
    /// load balancers, else the desired status.
    pub fn agent_desired_status(&self) -> flotilla_api::status::TaskStatus {
        if self.deregistering_until.is_some() {
            flotilla_api::status::TaskStatus::Running
        } else {
            self.task.desired_status
        }
    }
}

/// What a task holds on its instance while it is not stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub cpu: i64,
    pub memory: i64,
    pub tcp_ports: Vec<u16>,
    pub udp_ports: Vec<u16>,
}

impl Reservation {
    pub fn demand(&self) -> flotilla_scheduler::Demand {
        flotilla_scheduler::Demand {
            cpu: self.cpu,
            memory: self.memory,
            tcp_ports: self.tcp_ports.clone(),
            udp_ports: self.udp_ports.clone(),
        }
    }
}

/// A service, with the scheduler's bookkeeping beside the ECS shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub cluster: String,
    pub name: String,
    pub service: Service,
    /// The task definition of the last deployment that completed: the rollback target.
    #[serde(default)]
    pub last_completed_task_definition: Option<String>,
    /// No task starts before this time (the service throttle after repeated failures).
    #[serde(default)]
    pub throttled_until: Option<f64>,
    /// When the last "steady state" event was written.
    #[serde(default)]
    pub steady_since: Option<f64>,
    /// The `clientToken` of the CreateService that made it: a retry with the same token gets
    /// the service back instead of an error.
    #[serde(default)]
    pub client_token: Option<String>,
    /// CreateTaskSet's client tokens and the task set each made.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub task_set_tokens: std::collections::BTreeMap<String, String>,
    /// The load balancers and registries of deployments an UpdateService left behind (by
    /// deployment id): their tasks stay where they were registered until replaced, as on ECS.
    /// The primary deployment's are the service's own.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub deployment_targets: std::collections::BTreeMap<String, DeploymentTargets>,
}

/// Where the tasks of one deployment register.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentTargets {
    pub load_balancers: Vec<ServiceLoadBalancer>,
    pub service_registries: Vec<ServiceRegistryEntry>,
}

impl ServiceRecord {
    /// The task set that started `task`, if a task set did (EXTERNAL services).
    fn task_set_of(&self, task: &TaskRecord) -> Option<&flotilla_api::service::TaskSet> {
        let started_by = task.task.started_by.as_deref()?;
        self.service.task_sets.iter().find(|s| s.id == started_by)
    }

    /// The load balancers `task` registers with: its task set's, or its deployment's.
    pub fn load_balancers_of(&self, task: &TaskRecord) -> &[ServiceLoadBalancer] {
        if let Some(set) = self.task_set_of(task) {
            return &set.load_balancers;
        }
        match task.task.started_by.as_deref().and_then(|d| self.deployment_targets.get(d)) {
            Some(targets) => &targets.load_balancers,
            None => &self.service.load_balancers,
        }
    }

    /// The service registries `task` registers in: its task set's, or its deployment's.
    pub fn registries_of(&self, task: &TaskRecord) -> &[ServiceRegistryEntry] {
        if let Some(set) = self.task_set_of(task) {
            return &set.service_registries;
        }
        match task.task.started_by.as_deref().and_then(|d| self.deployment_targets.get(d)) {
            Some(targets) => &targets.service_registries,
            None => &self.service.service_registries,
        }
    }

    /// Whether any of its tasks registers with a load balancer.
    pub fn behind_load_balancers(&self) -> bool {
        !self.service.load_balancers.is_empty()
            || self.deployment_targets.values().any(|t| !t.load_balancers.is_empty())
            || self.service.task_sets.iter().any(|s| !s.load_balancers.is_empty())
    }

    /// Whether any of its tasks registers in a service registry.
    pub fn has_registries(&self) -> bool {
        !self.service.service_registries.is_empty()
            || self.deployment_targets.values().any(|t| !t.service_registries.is_empty())
            || self.service.task_sets.iter().any(|s| !s.service_registries.is_empty())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "record")]
pub enum Record {
    Cluster(Cluster),
    TaskDefinition(Box<StoredTaskDefinition>),
    Family(Family),
    AccountSetting { principal: String, setting: Setting },
    Instance(Box<InstanceRecord>),
    Task(Box<TaskRecord>),
    Service(Box<ServiceRecord>),
    CapacityProvider(Box<CapacityProvider>),
}

/// A parsed store key.
pub enum Key<'a> {
    Cluster(&'a str),
    TaskDefinition(&'a str, u32),
    Family(&'a str),
    AccountSetting(&'a str, &'a str),
    Instance(&'a str, &'a str),
    Task(&'a str, &'a str),
    Service(&'a str, &'a str),
    CapacityProvider(&'a str),
}

pub fn cluster_key(name: &str) -> String {
    format!("{ECS_PREFIX}clusters/{name}")
}

pub fn task_definition_key(family: &str, revision: u32) -> String {
    // Zero-padded so the store's key order is revision order.
    format!("{ECS_PREFIX}taskdefs/{family}/{revision:010}")
}

pub fn capacity_provider_key(name: &str) -> String {
    format!("{ECS_PREFIX}capacity-providers/{name}")
}

pub fn family_key(name: &str) -> String {
    format!("{ECS_PREFIX}families/{name}")
}

pub fn account_setting_key(principal: &str, name: &str) -> String {
    // Setting names never contain '/', principals (ARNs) may: put the name first.
    format!("{ECS_PREFIX}settings/{name}/{principal}")
}

pub fn instance_key(cluster: &str, id: &str) -> String {
    format!("{ECS_PREFIX}instances/{cluster}/{id}")
}

pub fn task_key(cluster: &str, id: &str) -> String {
    format!("{ECS_PREFIX}tasks/{cluster}/{id}")
}

pub fn service_key(cluster: &str, name: &str) -> String {
    format!("{ECS_PREFIX}services/{cluster}/{name}")
}

/// The common prefix of every task key of `cluster`.
pub fn task_prefix(cluster: &str) -> String {
    format!("{ECS_PREFIX}tasks/{cluster}/")
}

pub fn parse_key(key: &str) -> Option<Key<'_>> {
    let rest = key.strip_prefix(ECS_PREFIX)?;
    let (kind, rest) = rest.split_once('/')?;
    match kind {
        "clusters" => Some(Key::Cluster(rest)),
        "taskdefs" => {
            let (family, revision) = rest.rsplit_once('/')?;
            Some(Key::TaskDefinition(family, revision.parse().ok()?))
        }
        "families" => Some(Key::Family(rest)),
        "capacity-providers" => Some(Key::CapacityProvider(rest)),
        "settings" => {
            let (name, principal) = rest.split_once('/')?;
            Some(Key::AccountSetting(principal, name))
        }
        "instances" => {
            let (cluster, id) = rest.split_once('/')?;
            Some(Key::Instance(cluster, id))
        }
        "tasks" => {
            let (cluster, id) = rest.split_once('/')?;
            Some(Key::Task(cluster, id))
        }
        "services" => {
            let (cluster, name) = rest.split_once('/')?;
            Some(Key::Service(cluster, name))
        }
        _ => None,
    }
}

impl Record {
    pub fn key(&self) -> String {
        match self {
            Record::Cluster(c) => cluster_key(&c.cluster_name),
            Record::TaskDefinition(td) => {
                task_definition_key(&td.definition.family, td.definition.revision as u32)
            }
            Record::Family(f) => family_key(&f.name),
            Record::AccountSetting { principal, setting } => {
                account_setting_key(principal, &setting.name)
            }
            Record::Instance(i) => instance_key(&i.cluster, &i.id),
            Record::Task(t) => task_key(&t.cluster, &t.id),
            Record::Service(s) => service_key(&s.cluster, &s.name),
            Record::CapacityProvider(p) => capacity_provider_key(&p.name),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serializing these plain data types cannot fail (no maps with non-string keys).
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(key: &str, bytes: &[u8]) -> Result<Record, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| {
            tracing::error!(key, error = %e, "cannot decode stored record");
            StoreError::Corrupt(key.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        assert!(matches!(parse_key(&cluster_key("web")), Some(Key::Cluster("web"))));
        assert!(matches!(
            parse_key(&task_definition_key("fam-1", 12)),
            Some(Key::TaskDefinition("fam-1", 12))
        ));
        let key = account_setting_key("arn:aws:iam::123456789012:user/x", "taskLongArnFormat");
        assert!(matches!(
            parse_key(&key),
            Some(Key::AccountSetting("arn:aws:iam::123456789012:user/x", "taskLongArnFormat"))
        ));
        assert!(parse_key("ecs/unknown/x").is_none());
        assert!(matches!(
            parse_key(&capacity_provider_key("spot")),
            Some(Key::CapacityProvider("spot"))
        ));
    }
}

//! The region's network as EC2 describes it: a default VPC (its CIDR configurable; the
//! default, 10.0.0.0/16, stays clear of Docker's address pools), a default subnet per
//! availability zone of the region's agents (the next free slice of the VPC, four bits
//! smaller, kept once given), the VPC's default security group, and the subnets and security
//! groups users create. Kept in the region's store (`ec2/network`), so ids and slices survive
//! restarts. What these records will enforce comes with task networking; until then they are
//! names ELBv2 and Cloud Map can point at.

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_store::{Op, Store, StoreError, Txn};
use serde::{Deserialize, Serialize};

/// The default VPC's CIDR unless the server is told otherwise.
pub const DEFAULT_VPC_CIDR: &str = "10.0.0.0/16";

const KEY: &str = "ec2/network";

pub use flotilla_api::cidr::Cidr;

/// A default subnet: its zone's slice of the VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub cidr: String,
}

/// A tag of an EC2 resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A subnet a user created (CreateSubnet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedSubnet {
    pub zone: String,
    pub cidr: String,
    pub tags: Vec<Tag>,
}

/// A security group a user created (CreateSecurityGroup): it lets nothing in and everything
/// out until rules are added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub description: String,
    pub tags: Vec<Tag>,
}

/// One rule of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub egress: bool,
    /// `-1` (all), `tcp`, `udp`, `icmp` or a protocol number.
    pub protocol: String,
    pub from: i32,
    pub to: i32,
    /// The source (ingress) or destination (egress): a CIDR or a group id.
    pub cidr: Option<String>,
    pub group: Option<String>,
    pub description: Option<String>,
}

impl Rule {
    pub(crate) fn same(&self, other: &Rule) -> bool {
        (self.egress, &self.protocol, self.from, self.to, &self.cidr, &self.group)
            == (other.egress, &other.protocol, other.from, other.to, &other.cidr, &other.group)
    }
}

/// What the store keeps of the region's network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub vpc_id: String,
    pub cidr: String,
    pub cidr_association_id: String,
    pub group_id: String,
    /// zone name -> its default subnet.
    pub subnets: BTreeMap<String, Subnet>,
    /// subnet id -> a subnet a user created.
    #[serde(default)]
    pub created_subnets: BTreeMap<String, CreatedSubnet>,
    /// group id -> a security group a user created.
    #[serde(default)]
    pub groups: BTreeMap<String, Group>,
    /// group id -> its rules, once they have changed (before, `rules::initial_rules`).
    #[serde(default)]
    pub rules: BTreeMap<String, Vec<Rule>>,
    /// resource id -> the tags of the VPC, the default subnets and the default group (created
    /// subnets and groups keep theirs).
    #[serde(default)]
    pub tags: BTreeMap<String, Vec<Tag>>,
    /// subnet id -> host id -> the index of the host's slice of it (`slices.rs`).
    #[serde(default)]
    pub host_slices: BTreeMap<String, BTreeMap<String, u32>>,
}

/// A subnet, default or created, as other services see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetRef<'n> {
    pub id: &'n str,
    pub zone: &'n str,
    pub cidr: &'n str,
}

impl Network {
    /// Every subnet, the zones' default ones first, then those users created.
    pub fn all_subnets(&self) -> impl Iterator<Item = SubnetRef<'_>> {
        let defaults =
            self.subnets.iter().map(|(zone, s)| SubnetRef { id: &s.id, zone, cidr: &s.cidr });
        let created = self.created_subnets.iter().map(|(id, s)| SubnetRef {
            id,
            zone: &s.zone,
            cidr: &s.cidr,
        });
        defaults.chain(created)
    }

    /// The subnet with this id, default or created.
    pub fn subnet(&self, id: &str) -> Option<SubnetRef<'_>> {
        self.all_subnets().find(|s| s.id == id)
    }

    /// Every security group's id, the default group first.
    pub fn group_ids(&self) -> Vec<String> {
        std::iter::once(self.group_id.clone()).chain(self.groups.keys().cloned()).collect()
    }

    /// Every subnet's CIDR (default and created), for overlap checks.
    pub fn subnet_cidrs(&self) -> Vec<Cidr> {
        self.all_subnets().filter_map(|s| Cidr::parse(s.cidr).ok()).collect()
    }
}

/// A fresh id of EC2's form: `prefix-` and 17 hex digits.
pub(crate) fn new_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &hex[..17])
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored default network is unreadable: {0}")]
    Corrupt(String),
    #[error("--vpc-cidr: {0}")]
    Cidr(String),
}

/// The default network: loaded from the store, created on the first start.
pub struct Networks {
    store: Arc<dyn Store>,
    current: tokio::sync::Mutex<Network>,
    /// The network as last stored, for those who follow its changes (the agents' firewalls).
    published: tokio::sync::watch::Sender<Arc<Network>>,
}

impl Networks {
    pub async fn open(store: Arc<dyn Store>, vpc_cidr: &str) -> Result<Networks, NetworkError> {
        let (kvs, _) = store.range(KEY).await?;
        let network = match kvs.into_iter().find(|kv| kv.key == KEY) {
            Some(kv) => serde_json::from_slice(&kv.value)
                .map_err(|e| NetworkError::Corrupt(e.to_string()))?,
            None => {
                let cidr = Cidr::parse(vpc_cidr).map_err(NetworkError::Cidr)?;
                if cidr.prefix > 24 {
                    return Err(NetworkError::Cidr(format!("{cidr} leaves no room for subnets")));
                }
                let network = Network {
                    vpc_id: new_id("vpc"),
                    cidr: cidr.to_string(),
                    cidr_association_id: new_id("vpc-cidr-assoc"),
                    group_id: new_id("sg"),
                    subnets: BTreeMap::new(),
                    created_subnets: BTreeMap::new(),
                    groups: BTreeMap::new(),
                    rules: BTreeMap::new(),
                    tags: BTreeMap::new(),
                    host_slices: BTreeMap::new(),
                };
                save(store.as_ref(), &network).await?;
                network
            }
        };
        let (published, _) = tokio::sync::watch::channel(Arc::new(network.clone()));
        Ok(Networks { store, current: tokio::sync::Mutex::new(network), published })
    }

    /// The network as stored now, and again after every change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Arc<Network>> {
        self.published.subscribe()
    }

    /// Makes `next` the network (stored already).
    fn publish(&self, current: &mut Network, next: Network) {
        self.published.send_replace(Arc::new(next.clone()));
        *current = next;
    }

    /// The network with a default subnet for every zone of `zones` (new ones get the next free
    /// slice, kept from then on; zones past the VPC's sixteen slices get none).
    pub async fn with_zones(&self, zones: &[String]) -> Result<Network, NetworkError> {
        let mut network = self.current.lock().await;
        let missing: Vec<&String> =
            zones.iter().filter(|z| !network.subnets.contains_key(*z)).collect();
        if missing.is_empty() {
            return Ok(network.clone());
        }
        let vpc = Cidr::parse(&network.cidr).map_err(NetworkError::Corrupt)?;
        let mut next = network.clone();
        for zone in missing {
            // Apart from every subnet, the ones users created included.
            let taken = next.subnet_cidrs();
            let free = (0..16)
                .filter_map(|i| vpc.slice(4, i))
                .find(|slice| !taken.iter().any(|t| t.overlaps(*slice)));
            if let Some(slice) = free {
                next.subnets
                    .insert(zone.clone(), Subnet { id: new_id("subnet"), cidr: slice.to_string() });
            }
        }
        save(self.store.as_ref(), &next).await?;
        self.publish(&mut network, next.clone());
        Ok(next)
    }
}

impl Networks {
    /// Applies `change` to the network (with every zone's default subnet) and stores the
    /// result before answering; nothing is stored when `change` refuses.
    pub async fn change<T>(
        &self,
        zones: &[String],
        change: impl FnOnce(&mut Network) -> Result<T, flotilla_api::ApiError>,
    ) -> Result<T, flotilla_api::ApiError> {
        let internal = |e: NetworkError| {
            flotilla_api::ApiError::new(
                flotilla_api::ErrorCode::InternalServiceFault,
                format!("the network: {e}"),
            )
        };
        self.with_zones(zones).await.map_err(internal)?;
        let mut network = self.current.lock().await;
        let mut next = network.clone();
        let answer = change(&mut next)?;
        save(self.store.as_ref(), &next).await.map_err(|e| internal(e.into()))?;
        self.publish(&mut network, next);
        Ok(answer)
    }
}

async fn save(store: &dyn Store, network: &Network) -> Result<(), StoreError> {
    let value = serde_json::to_vec(network).unwrap_or_default();
    store
        .commit(Txn { compares: Vec::new(), ops: vec![Op::Put { key: KEY.into(), value }] })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_slice() {
        let vpc = Cidr::parse("10.0.0.0/16").expect("cidr");
        assert_eq!(vpc.slice(4, 0).map(|c| c.to_string()).as_deref(), Some("10.0.0.0/20"));
        assert_eq!(vpc.slice(4, 1).map(|c| c.to_string()).as_deref(), Some("10.0.16.0/20"));
        assert_eq!(vpc.slice(4, 15).map(|c| c.to_string()).as_deref(), Some("10.0.240.0/20"));
        assert_eq!(vpc.slice(4, 16), None);
        assert_eq!(Cidr::parse("10.0.16.0/20").expect("cidr").usable(), 4091);
        for bad in ["10.0.0.1/16", "10.0.0.0", "10.0.0.0/33", "x/8"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_network_and_its_slices_outlive_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(
            flotilla_store::EmbeddedStore::open(&dir.path().join("s.redb")).expect("open"),
        );
        let zones = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let first = Networks::open(Arc::clone(&store), "10.9.0.0/16").await.expect("open");
        let a = first.with_zones(&zones(&["zone-b"])).await.expect("zones");
        assert_eq!(a.subnets["zone-b"].cidr, "10.9.0.0/20");
        let b = first.with_zones(&zones(&["zone-a", "zone-b"])).await.expect("zones");
        assert_eq!(b.subnets["zone-a"].cidr, "10.9.16.0/20", "a new zone takes the next slice");
        assert_eq!(b.subnets["zone-b"], a.subnets["zone-b"], "an old zone keeps its own");
        drop(first);
        // Another --vpc-cidr later changes nothing already made.
        let again = Networks::open(store, "10.50.0.0/16").await.expect("reopen");
        let c = again.with_zones(&zones(&["zone-a", "zone-b"])).await.expect("zones");
        assert_eq!(c, b);
    }
}

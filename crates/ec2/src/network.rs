//! The region's network as EC2 describes it: a default VPC (its CIDR configurable; the
//! default, 10.0.0.0/16, stays clear of Docker's address pools), a default subnet per
//! availability zone of the region's agents (the next free slice of the VPC, four bits
//! smaller, kept once given), the VPC's default security group, and the subnets and security
//! groups users create. Kept in the region's store (`ec2/network`), so ids and slices survive
//! restarts. What these records will enforce comes with task networking; until then they are
//! names ELBv2 and Cloud Map can point at.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use flotilla_store::{Op, Store, StoreError, Txn};
use serde::{Deserialize, Serialize};

/// The default VPC's CIDR unless the server is told otherwise.
pub const DEFAULT_VPC_CIDR: &str = "10.0.0.0/16";

const KEY: &str = "ec2/network";

/// A block of IPv4 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub prefix: u8,
}

impl Cidr {
    /// `a.b.c.d/n`, the base aligned to its prefix.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) =
            text.split_once('/').ok_or_else(|| format!("'{text}' is not a CIDR block"))?;
        let address: Ipv4Addr =
            address.parse().map_err(|_| format!("'{text}' is not a CIDR block"))?;
        let prefix: u8 = prefix.parse().map_err(|_| format!("'{text}' is not a CIDR block"))?;
        if prefix > 32 {
            return Err(format!("'{text}' is not a CIDR block"));
        }
        let base = u32::from(address);
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        if base & !mask != 0 {
            return Err(format!("'{text}' has host bits set"));
        }
        Ok(Cidr { base, prefix })
    }

    /// Slice `index` of this block, `bits` longer.
    pub fn slice(self, bits: u8, index: u32) -> Option<Cidr> {
        let prefix = self.prefix.checked_add(bits).filter(|p| *p <= 28)?;
        (index < (1 << bits)).then(|| Cidr { base: self.base + (index << (32 - prefix)), prefix })
    }

    /// Addresses EC2 leaves free in a subnet of this size (five are reserved).
    pub fn usable(self) -> i32 {
        (1i64 << (32 - u32::from(self.prefix))).saturating_sub(5).clamp(0, i64::from(i32::MAX))
            as i32
    }
}

impl Cidr {
    /// Whether two blocks share an address.
    pub fn overlaps(self, other: Cidr) -> bool {
        let end = |c: Cidr| u64::from(c.base) + (1u64 << (32 - u32::from(c.prefix))) - 1;
        u64::from(self.base) <= end(other) && u64::from(other.base) <= end(self)
    }

    /// Whether `inner` lies wholly within this block.
    pub fn contains(self, inner: Cidr) -> bool {
        inner.prefix >= self.prefix && self.overlaps(inner)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

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

impl Network {
    /// Every subnet's CIDR (default and created), for overlap checks.
    pub fn subnet_cidrs(&self) -> Vec<Cidr> {
        let defaults = self.subnets.values().map(|s| s.cidr.as_str());
        let created = self.created_subnets.values().map(|s| s.cidr.as_str());
        defaults.chain(created).filter_map(|c| Cidr::parse(c).ok()).collect()
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
        Ok(Networks { store, current: tokio::sync::Mutex::new(network) })
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
        *network = next.clone();
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
        *network = next;
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

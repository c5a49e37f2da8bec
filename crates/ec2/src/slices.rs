//! Each host's slice of a subnet: awsvpc tasks take their addresses from the slice of the host
//! they run on, so hosts hand out addresses without asking each other, and a host's slice is
//! one route away for the others. A subnet is cut into up to sixteen slices (four bits longer,
//! at most /28), given to hosts in order on first use and kept in the region's network record.

use std::collections::BTreeMap;

use flotilla_api::{ApiError, ErrorCode};

use crate::network::{Cidr, Network};
use crate::App;

/// How many bits longer than its subnet a host's slice is.
fn slice_bits(subnet: Cidr) -> u8 {
    4.min(28u8.saturating_sub(subnet.prefix))
}

/// A subnet's block, default or created.
fn subnet_cidr(network: &Network, subnet_id: &str) -> Option<Cidr> {
    Cidr::parse(network.subnet(subnet_id)?.cidr).ok()
}

fn slice_text(network: &Network, subnet_id: &str, index: u32) -> Option<String> {
    let cidr = subnet_cidr(network, subnet_id)?;
    cidr.slice(slice_bits(cidr), index).map(|c| c.to_string())
}

/// Every slice given: (host id, the slice's CIDR block).
pub fn all_slices(network: &Network) -> Vec<(String, String)> {
    network
        .host_slices
        .iter()
        .flat_map(|(subnet, hosts)| {
            hosts.iter().filter_map(move |(host, index)| {
                Some((host.clone(), slice_text(network, subnet, *index)?))
            })
        })
        .collect()
}

/// The slices of (subnet, host) `pairs`, giving hosts that have none the next free one; a
/// pair whose subnet has no slice left is not in the answer (that host cannot take the task).
pub async fn host_slices(
    app: &App,
    pairs: Vec<(String, String)>,
) -> Result<BTreeMap<(String, String), String>, ApiError> {
    let given = |network: &Network| -> BTreeMap<(String, String), String> {
        pairs
            .iter()
            .filter_map(|(subnet, host)| {
                let index = *network.host_slices.get(subnet)?.get(host)?;
                Some(((subnet.clone(), host.clone()), slice_text(network, subnet, index)?))
            })
            .collect()
    };
    let network = app
        .network()
        .await
        .map_err(|e| ApiError::new(ErrorCode::InternalServiceFault, format!("the network: {e}")))?;
    // Most calls find every slice given already: nothing is written. Nor is anything when no
    // missing pair's subnet has a slice left (controllers ask again and again).
    let slices = given(&network);
    if slices.len() == pairs.len() {
        return Ok(slices);
    }
    let room = |subnet: &String| {
        let Some(cidr) = subnet_cidr(&network, subnet) else { return true };
        let taken = network.host_slices.get(subnet).map_or(0, BTreeMap::len);
        taken < (1usize << slice_bits(cidr))
    };
    let missing = pairs.iter().filter(|(s, h)| !slices.contains_key(&(s.clone(), h.clone())));
    if !missing.clone().any(|(subnet, _)| room(subnet)) {
        return Ok(slices);
    }
    app.networks
        .change(&app.zones.zones(), |network| {
            for (subnet, host) in &pairs {
                let cidr = subnet_cidr(network, subnet).ok_or_else(|| {
                    ApiError::invalid(format!("The subnet ID '{subnet}' does not exist"))
                })?;
                let taken = network.host_slices.entry(subnet.clone()).or_default();
                if taken.contains_key(host) {
                    continue;
                }
                let count = 1u32 << slice_bits(cidr);
                match (0..count).find(|i| !taken.values().any(|t| t == i)) {
                    Some(index) => {
                        taken.insert(host.clone(), index);
                    }
                    None => tracing::warn!(
                        %subnet, %host,
                        "every slice of the subnet is another host's: this host runs no task in it"
                    ),
                }
            }
            Ok(given(network))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_four_bits_longer_and_at_most_28() {
        assert_eq!(slice_bits(Cidr::parse("10.0.0.0/20").expect("cidr")), 4);
        assert_eq!(slice_bits(Cidr::parse("10.0.0.0/26").expect("cidr")), 2);
        assert_eq!(slice_bits(Cidr::parse("10.0.0.0/28").expect("cidr")), 0);
        let subnet = Cidr::parse("10.0.16.0/20").expect("cidr");
        assert_eq!(subnet.slice(slice_bits(subnet), 3).expect("slice").to_string(), "10.0.19.0/24");
    }

    struct OneZone;

    impl crate::ZoneSource for OneZone {
        fn zones(&self) -> Vec<String> {
            vec!["zone-a".into()]
        }
    }

    #[tokio::test]
    async fn a_full_subnet_gives_no_slice_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: std::sync::Arc<dyn flotilla_store::Store> = std::sync::Arc::new(
            flotilla_store::EmbeddedStore::open(&dir.path().join("s.redb")).expect("open"),
        );
        let scope =
            flotilla_api::arn::ArnScope::new("us-east-1".to_string(), "123456789012".to_string());
        let app = App::open(
            scope,
            std::sync::Arc::new(OneZone),
            std::sync::Arc::new(crate::interfaces::NoInterfaces),
            store,
            "10.9.0.0/16",
        )
        .await
        .expect("open");
        let subnet = app.network().await.expect("network").subnets["zone-a"].id.clone();
        let hosts: Vec<(String, String)> =
            (0..16).map(|i| (subnet.clone(), format!("host-{i}"))).collect();
        let given = host_slices(&app, hosts).await.expect("slices");
        assert_eq!(given.len(), 16, "a /20 has sixteen /24 slices");
        let mut changes = app.networks.subscribe();
        changes.borrow_and_update();
        let more = host_slices(&app, vec![(subnet.clone(), "host-16".into())]).await;
        assert!(more.expect("answered").is_empty(), "no slice left for a seventeenth host");
        assert!(!changes.has_changed().expect("open"), "asking for none left writes nothing");
    }
}

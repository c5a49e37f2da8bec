//! The region's DNS table for the agents: Cloud Map's private DNS namespaces and the load
//! balancers' names, rebuilt whenever either changes and handed to ECS's agent gateway (which
//! pushes it to every agent's DNS server).

use std::sync::Arc;

use flotilla_api::dns::DnsTable;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The table of one region's records.
pub fn table(
    discovery: &flotilla_servicediscovery::model::Discovery,
    balancers: &flotilla_elbv2::model::State,
    region: &str,
) -> DnsTable {
    let (mut zones, mut record_sets) = flotilla_servicediscovery::dns::records(discovery);
    zones.push(flotilla_elbv2::dns_zone(region));
    record_sets.extend(flotilla_elbv2::dns_record_sets(balancers));
    DnsTable { zones, record_sets }
}

/// Keeps `feed` equal to the table of the region's records, until aborted.
pub fn spawn(
    cloud_map: Arc<flotilla_servicediscovery::App>,
    elbv2: Arc<flotilla_elbv2::App>,
    feed: Arc<watch::Sender<Arc<DnsTable>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut discovery = cloud_map.records.subscribe();
        let mut balancers = elbv2.records.subscribe();
        let region = cloud_map.scope.region.clone();
        loop {
            let fresh = {
                let discovery = Arc::clone(&discovery.borrow_and_update());
                let balancers = Arc::clone(&balancers.borrow_and_update());
                table(&discovery, &balancers, &region)
            };
            // Most changes (a target's health, a tag) leave the table as it was: agents hear
            // only of real changes.
            feed.send_if_modified(|current| {
                let changed = **current != fresh;
                if changed {
                    *current = Arc::new(fresh);
                }
                changed
            });
            tokio::select! {
                changed = discovery.changed() => if changed.is_err() { return },
                changed = balancers.changed() => if changed.is_err() { return },
            }
        }
    })
}

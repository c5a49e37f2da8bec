//! The region's task networking for the agents: the security groups (EC2's rules, the addresses
//! of the awsvpc tasks in each group — ECS's tasks — the load balancers' groups, ELBv2's, and
//! the addresses their traffic comes from: this server's, or its remote data planes') and the
//! routes to tasks (every host's slices of the subnets, EC2's, and where each host is,
//! ECS's instances), rebuilt when any of them changes and handed to ECS's agent gateway, which
//! pushes them to every agent (each enforces the groups in its awsvpc tasks' namespaces and
//! routes the other hosts' slices); the server routes them too (`regions.rs`), and so do
//! remote data planes (`remote_lb.rs`).

use std::collections::BTreeSet;

use std::sync::Arc;
use std::time::Duration;

use flotilla_api::firewall::FirewallTable;
use flotilla_api::routes::{HostRoute, RouteTable};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Changes closer together than this are sent as one (ECS commits many times a second; agents
/// need the result within seconds, not every step).
const COALESCE: Duration = Duration::from_millis(200);

/// How often the server looks at its own addresses again.
const ADDRESSES_EVERY: Duration = Duration::from_secs(30);

/// The table of one region.
pub fn table(
    network: &flotilla_ec2::network::Network,
    state: &flotilla_ecs::state::State,
    balancers: &flotilla_elbv2::model::State,
) -> FirewallTable {
    let mut table = FirewallTable {
        groups: flotilla_ec2::enforced::group_rules(network),
        ..Default::default()
    };
    for (address, groups) in flotilla_ecs::vpc::task_addresses(state) {
        for group in groups {
            table.members.entry(group).or_default().insert(address);
        }
    }
    table.load_balancer_groups = balancers
        .load_balancers
        .values()
        .flat_map(|lb| lb.security_groups.iter().cloned())
        .collect();
    table
}

/// The routes of one region: each given slice through its host's address (hosts without a
/// known address have none).
pub fn routes(
    network: &flotilla_ec2::network::Network,
    state: &flotilla_ecs::state::State,
) -> RouteTable {
    let hosts = flotilla_ecs::vpc::host_addresses(state);
    let mut routes: Vec<HostRoute> = flotilla_ec2::slices::all_slices(network)
        .into_iter()
        .filter_map(|(host, cidr)| Some(HostRoute { cidr, via: *hosts.get(&host)? }))
        .collect();
    routes.sort();
    routes.dedup_by(|a, b| a.cidr == b.cidr);
    RouteTable { routes, ..RouteTable::default() }
}

/// Publishes `fresh` on `feed` when it differs from what is there.
fn publish<T: PartialEq>(feed: &watch::Sender<Arc<T>>, fresh: T) {
    feed.send_if_modified(|current| {
        let changed = **current != fresh;
        if changed {
            *current = Arc::new(fresh);
        }
        changed
    });
}

/// The addresses of each connected remote data plane, by connection number.
pub type RemoteAddresses =
    std::collections::BTreeMap<u64, std::collections::BTreeSet<std::net::Ipv4Addr>>;

/// What a region's tables are made of.
pub struct Sources {
    pub ec2: Arc<flotilla_ec2::App>,
    pub ecs: Arc<flotilla_ecs::App>,
    pub elbv2: Arc<flotilla_elbv2::App>,
    /// The addresses of the remote data planes (`flotilla lb`) connected now.
    pub remote_data_planes: watch::Receiver<RemoteAddresses>,
    /// Whether this server runs the region's listeners itself (its own addresses are then a
    /// data plane's).
    pub own_data_plane: bool,
}

/// Keeps `feed` equal to the region's security groups and `route_feed` to its routes, until
/// aborted.
pub fn spawn(
    sources: Sources,
    feed: Arc<watch::Sender<Arc<FirewallTable>>>,
    route_feed: Arc<watch::Sender<Arc<RouteTable>>>,
) -> JoinHandle<()> {
    let Sources { ec2, ecs, elbv2, mut remote_data_planes, own_data_plane } = sources;
    tokio::spawn(async move {
        let mut network = ec2.networks.subscribe();
        let mut commits = ecs.state.subscribe();
        let mut balancers = elbv2.records.subscribe();
        let mut addresses = BTreeSet::new();
        let mut looked: Option<std::time::Instant> = None;
        loop {
            if own_data_plane && looked.is_none_or(|at| at.elapsed() >= ADDRESSES_EVERY) {
                addresses = flotilla_hostnet::own_addresses().await;
                looked = Some(std::time::Instant::now());
            }
            let (mut fresh, mut fresh_routes) = {
                let network = Arc::clone(&network.borrow_and_update());
                let balancers = Arc::clone(&balancers.borrow_and_update());
                commits.borrow_and_update();
                let state = ecs.state.read();
                (table(&network, &state, &balancers), routes(&network, &state))
            };
            let remote: BTreeSet<std::net::Ipv4Addr> =
                remote_data_planes.borrow_and_update().values().flatten().copied().collect();
            // A server whose load balancers carry no group gives no address.
            if !fresh.load_balancer_groups.is_empty() {
                fresh.data_plane_addresses.clone_from(&addresses);
                fresh.data_plane_addresses.extend(remote.iter().copied());
            }
            // Hosts keep their end of the overlay for remote data planes beyond a router.
            fresh_routes.data_planes = remote;
            // Most commits (a report, a heartbeat) change no group's members and no route:
            // agents hear only of real changes.
            publish(&feed, fresh);
            publish(&route_feed, fresh_routes);
            tokio::select! {
                changed = network.changed() => if changed.is_err() { return },
                changed = commits.changed() => if changed.is_err() { return },
                changed = balancers.changed() => if changed.is_err() { return },
                changed = remote_data_planes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(ADDRESSES_EVERY) => {}
            }
            tokio::time::sleep(COALESCE).await;
        }
    })
}

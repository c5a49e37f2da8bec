//! The region's security groups for the agents: EC2's rules, the addresses of the awsvpc tasks
//! in each group (ECS's tasks) and the load balancers' groups (ELBv2's), rebuilt when any of
//! them changes and handed to ECS's agent gateway, which pushes the table to every agent (each
//! enforces it in its awsvpc tasks' namespaces).

use std::sync::Arc;
use std::time::Duration;

use flotilla_api::firewall::FirewallTable;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Changes closer together than this are sent as one (ECS commits many times a second; agents
/// need the result within seconds, not every step).
const COALESCE: Duration = Duration::from_millis(200);

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

/// Keeps `feed` equal to the region's table, until aborted.
pub fn spawn(
    ec2: Arc<flotilla_ec2::App>,
    ecs: Arc<flotilla_ecs::App>,
    elbv2: Arc<flotilla_elbv2::App>,
    feed: Arc<watch::Sender<Arc<FirewallTable>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut network = ec2.networks.subscribe();
        let mut commits = ecs.state.subscribe();
        let mut balancers = elbv2.records.subscribe();
        loop {
            let fresh = {
                let network = Arc::clone(&network.borrow_and_update());
                let balancers = Arc::clone(&balancers.borrow_and_update());
                commits.borrow_and_update();
                let state = ecs.state.read();
                table(&network, &state, &balancers)
            };
            // Most commits (a report, a heartbeat) change no group's members: agents hear
            // only of real changes.
            feed.send_if_modified(|current| {
                let changed = **current != fresh;
                if changed {
                    *current = Arc::new(fresh);
                }
                changed
            });
            tokio::select! {
                changed = network.changed() => if changed.is_err() { return },
                changed = commits.changed() => if changed.is_err() { return },
                changed = balancers.changed() => if changed.is_err() { return },
            }
            tokio::time::sleep(COALESCE).await;
        }
    })
}

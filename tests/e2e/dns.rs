//! DNS for tasks: an agent serving DNS on its bridge network's gateway, asked from inside a
//! task's container (busybox nslookup and wget) for Cloud Map names, a load balancer's name and
//! a name forwarded to the agent's upstream.

use std::process::Command;

use flotilla_api::dns::{DnsTable, RecordData, RecordSet, Routing};

use crate::conformance::run_model_check;
use crate::fleet::Fleet;

/// A Docker bridge network of the test's own (only one agent of a machine can serve DNS on a
/// bridge's gateway), removed when dropped.
pub(crate) struct BridgeNetwork {
    pub(crate) name: String,
    pub(crate) gateway: String,
}

impl BridgeNetwork {
    pub(crate) fn create(prefix: &str) -> BridgeNetwork {
        let name = format!("{prefix}-{}", std::process::id());
        let created = Command::new("docker").args(["network", "create", &name]).output();
        let created = created.expect("run docker network create");
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        let mut network = BridgeNetwork { name, gateway: String::new() };
        let inspected = Command::new("docker")
            .args(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", &network.name])
            .output()
            .expect("run docker network inspect");
        let gateway = String::from_utf8_lossy(&inspected.stdout).trim().to_string();
        assert!(
            gateway.parse::<std::net::Ipv4Addr>().is_ok(),
            "the network's gateway: {gateway:?}"
        );
        network.gateway = gateway;
        network
    }
}

impl Drop for BridgeNetwork {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["network", "rm", &self.name]).output();
    }
}

/// Cloud Map's SRV and A records, a load balancer's name and a forwarded name, looked up from
/// inside a task; records follow tasks as they start and stop (out of DNS before SIGTERM).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_resolve_names_from_inside_their_containers() {
    crate::support::ensure_demo_image();
    let network = BridgeNetwork::create("flotilla-e2e-dns");
    // The agent's upstream: a DNS server of the test's, on loopback, with one name.
    let upstream = flotilla_dns::DnsServer::bind(([127, 0, 0, 1], 0).into(), Vec::new())
        .await
        .expect("upstream");
    upstream.set_table(&DnsTable {
        zones: vec!["upstream.test".into()],
        record_sets: vec![RecordSet {
            name: "www.upstream.test".into(),
            ttl: 30,
            routing: Routing::Multivalue,
            data: RecordData::A(vec![[192, 0, 2, 80].into()]),
        }],
    });
    let upstream_address = upstream.address().to_string();
    let fleet = Fleet::with_agents(&[&[
        "--bridge-network",
        &network.name,
        "--dns",
        "serve",
        "--dns-upstream",
        &upstream_address,
        // Tasks reach each other's host ports at the gateway: the host's address on their bridge.
        "--advertise-address",
        &network.gateway,
    ]])
    .await;
    fleet.wait_for_instances(1).await;
    let args = [
        "--cluster",
        &fleet.cluster,
        "--upstream-name",
        "www.upstream.test",
        "--upstream-address",
        "192.0.2.80",
    ];
    run_model_check("dns_lookups.py", &fleet.server, &args);
    drop(fleet); // its containers leave the network before the network goes
}

//! Load balancers: the ELBv2 API through botocore, and real HTTP through the proxy to demo
//! tasks run by a real agent (instance targets at their host ports): rules routing requests,
//! health checks deciding which targets get traffic.

use aws_sdk_ecs::types::PortMapping;

use crate::conformance::run_model_check;
use crate::fleet::{demo, Fleet};
use crate::support::{Flotilla, HollowAgents};

/// The ELBv2 API as botocore calls it, with instance targets of hollow agents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elbv2_answers_botocore() {
    let f = Flotilla::start();
    let _agents = HollowAgents::start(&f, "default", 1);
    let arns = crate::support::registered_instances(&f.ecs(), "default", 1).await;
    let described = f
        .ecs()
        .describe_container_instances()
        .cluster("default")
        .set_container_instances(Some(arns))
        .send()
        .await
        .expect("describe instances");
    let instance = described.container_instances()[0].ec2_instance_id().expect("id").to_string();
    run_model_check("check_elbv2_model.py", &f, &["--instance", &instance]);
}

/// Starts `count` demo servers of `family` (each on a host port of its own) and answers the
/// instance they run on and their host ports.
async fn demo_tasks(fleet: &Fleet, family: &str, command: &[&str], count: usize) -> Vec<u16> {
    let port = PortMapping::builder().container_port(8080).host_port(0).build();
    let web = demo("web", command).port_mappings(port).build();
    let definition = fleet.register(family, vec![web]).await;
    let mut ports = Vec::new();
    for _ in 0..count {
        let task = fleet.run(&definition).await;
        let running = fleet.wait_status(&task, "RUNNING").await;
        let port = running
            .containers()
            .first()
            .and_then(|c| c.network_bindings().first())
            .and_then(|b| b.host_port())
            .expect("a host port");
        ports.push(port as u16);
    }
    ports
}

async fn instance_id(fleet: &Fleet) -> String {
    let arns = fleet.wait_for_instances(1).await;
    let described = fleet
        .ecs
        .describe_container_instances()
        .cluster(&fleet.cluster)
        .set_container_instances(Some(arns))
        .send()
        .await
        .expect("describe instances");
    described.container_instances()[0].ec2_instance_id().expect("id").to_string()
}

fn ports_arg(ports: &[u16]) -> String {
    ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
}

/// Path, host, header, query and method rules; weighted forwarding; fixed responses and
/// redirects; X-Forwarded-* as the targets see them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_route_requests() {
    let fleet = Fleet::start().await;
    let instance = instance_id(&fleet).await;
    let web = demo_tasks(&fleet, "lb-web", &["serve"], 2).await;
    let api = demo_tasks(&fleet, "lb-api", &["serve"], 1).await;
    let (web, api) = (ports_arg(&web), ports_arg(&api));
    let args = ["--scenario", "rules", "--instance", &instance, "--web", &web, "--api", &api];
    run_model_check("lb_traffic.py", &fleet.server, &args);
}

/// Only healthy targets get traffic; a target failing its checks shows ELB's reason; when none
/// is healthy, all get traffic (ELB fails open); a deregistered target drains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_gate_traffic() {
    let fleet = Fleet::start().await;
    let instance = instance_id(&fleet).await;
    let healthy = demo_tasks(&fleet, "lb-ok", &["serve"], 1).await;
    let failing = demo_tasks(&fleet, "lb-sick", &["serve", "--fail-health-after", "0"], 1).await;
    let (healthy, failing) = (ports_arg(&healthy), ports_arg(&failing));
    let args =
        ["--scenario", "health", "--instance", &instance, "--web", &healthy, "--api", &failing];
    run_model_check("lb_traffic.py", &fleet.server, &args);
}

/// A service with `loadBalancers`: ECS's checks of the entries, tasks registered once running
/// (the deployment completes when the load balancer finds them healthy), and a rolling
/// deployment under steady load with no failed request — old tasks drain (DEACTIVATING) for the
/// deregistration delay before SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_register_their_tasks() {
    let fleet = Fleet::start().await;
    crate::support::ensure_demo_image();
    let instance = instance_id(&fleet).await;
    let args = ["--scenario", "service", "--instance", &instance, "--cluster", &fleet.cluster];
    run_model_check("lb_traffic.py", &fleet.server, &args);
}

/// A network load balancer: a TCP listener passing connections through to the healthy
/// targets of a TCP group (TCP health checks), ELB's protocol checks, draining.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_load_balancers_pass_tcp() {
    let fleet = Fleet::start().await;
    let instance = instance_id(&fleet).await;
    let web = ports_arg(&demo_tasks(&fleet, "nlb-web", &["serve"], 2).await);
    let args = ["--scenario", "network", "--instance", &instance, "--web", &web];
    run_model_check("lb_traffic.py", &fleet.server, &args);
}

/// An EXTERNAL service's task set with `loadBalancers` and `serviceRegistries`: its task in the
/// target group and in Cloud Map, both left when the task set is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_sets_register_their_tasks() {
    let fleet = Fleet::start().await;
    crate::support::ensure_demo_image();
    let instance = instance_id(&fleet).await;
    let args = ["--scenario", "taskset", "--instance", &instance, "--cluster", &fleet.cluster];
    run_model_check("lb_traffic.py", &fleet.server, &args);
}

/// A `flotilla lb` process of its own.
struct LbProcess(std::process::Child);

impl Drop for LbProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Listeners run by `flotilla lb` for a server started with `--load-balancers remote`: the
/// whole rules scenario (rules, health, WebSocket, stickiness) through the remote data plane,
/// whose health board becomes the server's; a wrong token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_data_planes_run_the_listeners() {
    let fleet = Fleet::with_server_flags(&["--load-balancers", "remote"], &[&[]]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = dir.path().join("wrong-token");
    std::fs::write(&wrong, "not-the-token\n").expect("write");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["lb", "--server", &fleet.server.endpoint(), "--token-file"])
        .arg(&wrong)
        .arg("--data-dir")
        .arg(dir.path().join("refused"))
        .output()
        .expect("run flotilla lb");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("refused"), "{said}");
    let log = std::fs::File::create(dir.path().join("lb.log")).expect("log");
    let _lb = LbProcess(
        std::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
            .args(["lb", "--server", &fleet.server.endpoint(), "--token-file"])
            .arg(fleet.server.data_dir.join("lb-token"))
            .arg("--data-dir")
            .arg(dir.path().join("lb"))
            .stdin(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn flotilla lb"),
    );
    let instance = instance_id(&fleet).await;
    let web = ports_arg(&demo_tasks(&fleet, "remote-web", &["serve"], 2).await);
    let api = ports_arg(&demo_tasks(&fleet, "remote-api", &["serve"], 1).await);
    // A change reaches the remote data plane over its connection: moments, not at once.
    let args = [
        "--scenario",
        "rules",
        "--instance",
        &instance,
        "--web",
        &web,
        "--api",
        &api,
        "--settle",
        "0.5",
    ];
    run_model_check("lb_traffic.py", &fleet.server, &args);
}

/// ACM through botocore: imports (and re-imports) of certificates made with openssl,
/// descriptions, listings, tags, and deletion refused while an HTTPS listener uses one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acm_answers_botocore() {
    let f = Flotilla::start();
    // An agent's zone gives the region a subnet for the load balancer.
    let _agents = HollowAgents::start(&f, "default", 1);
    crate::support::registered_instances(&f.ecs(), "default", 1).await;
    run_model_check("check_acm_model.py", &f, &[]);
}

/// HTTPS with an imported certificate: TLS at the load balancer, X-Forwarded-Proto https,
/// HTTP redirected to HTTPS, the security policy's TLS versions, a re-import served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_an_imported_certificate() {
    let fleet = Fleet::start().await;
    let instance = instance_id(&fleet).await;
    let web = ports_arg(&demo_tasks(&fleet, "lb-tls", &["serve"], 1).await);
    let args = ["--scenario", "https", "--instance", &instance, "--web", &web];
    run_model_check("lb_traffic.py", &fleet.server, &args);
}

/// Cloud Map through botocore: namespaces, services, instances, DiscoverInstances with and
/// without the `data-` host prefix, custom health, operations and tags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_map_answers_botocore() {
    let f = Flotilla::start();
    run_model_check("check_servicediscovery_model.py", &f, &[]);
}

/// Cloud Map through the AWS CLI, as a user types it (shorthand arguments, the `data-` host
/// prefix turned off with `AWS_DISABLE_HOST_PREFIX_INJECTION`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_map_through_the_aws_cli() {
    let f = Flotilla::start();
    run_model_check("cli_servicediscovery.py", &f, &[]);
}

/// A service with `serviceRegistries`: ECS's checks of the entry, running tasks discoverable in
/// Cloud Map at their instance's address and host port, a stopping task deregistered before
/// it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_register_in_cloud_map() {
    let fleet = Fleet::start().await;
    crate::support::ensure_demo_image();
    let instance = instance_id(&fleet).await;
    let args = ["--scenario", "registry", "--instance", &instance, "--cluster", &fleet.cluster];
    run_model_check("lb_traffic.py", &fleet.server, &args);
}

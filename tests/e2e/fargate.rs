//! The FARGATE launch type on operator-run capacity: an agent started with `--fargate` (in no
//! cluster) runs a cluster's FARGATE tasks and services; `tests/conformance/fargate.py`
//! (botocore) checks ECS's refusals, what ECS shows of FARGATE tasks, and `assignPublicIp`
//! ENABLED as the host's NAT against a server outside the VPC. Nothing of the NAT is left once
//! the tasks stop.

use std::process::Command;

use crate::conformance::run_model_check;
use crate::fleet::Fleet;
use crate::support::SubnetBridgesGone;

/// A demo server outside the VPC (a plain container on Docker's bridge), removed when dropped.
struct Outside(String);

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

fn output(command: &mut Command) -> String {
    let out = command.output().expect("run a command");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fargate_tasks_run_on_operator_capacity() {
    crate::support::ensure_demo_image();
    let cidr = format!("10.{}.0.0/16", 100 + (std::process::id() + 75) % 100);
    let mut fleet = Fleet::with_server_flags(&["--vpc-cidr", &cidr], &[]).await;
    fleet.add_agent(&["--fargate"]);
    let name = format!("flotilla-e2e-outside-{}", std::process::id());
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    output(Command::new("docker").args([
        "run",
        "-d",
        "--name",
        &name,
        "flotilla/demo:latest",
        "serve",
        "--port",
        "8080",
    ]));
    let outside = Outside(name);
    let address = output(Command::new("docker").args([
        "inspect",
        "-f",
        "{{.NetworkSettings.IPAddress}}",
        &outside.0,
    ]));
    let gateway = output(Command::new("docker").args([
        "inspect",
        "-f",
        "{{.NetworkSettings.Gateway}}",
        &outside.0,
    ]));
    let subnet = crate::awsvpc::first_subnet(&fleet.server);
    let _bridge = SubnetBridgesGone(subnet);
    run_model_check(
        "fargate.py",
        &fleet.server,
        &["--cluster", &fleet.cluster, "--outside", &address, "--outside-gateway", &gateway],
    );
    // The tasks stopped: no NAT rule of theirs (sparing this test's VPC) is left.
    let nat = output(Command::new("iptables").args(["-t", "nat", "-S"]));
    assert!(!nat.contains(&format!("! -d {cidr}")), "a NAT rule is left:\n{nat}");
}

/// Two machines of Fargate capacity: services and task sets on FARGATE and FARGATE_SPOT,
/// platformVersion and runtimePlatform, and the operator draining one machine
/// (`tests/conformance/fargate_capacity.py`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fargate_capacity_drains_spot_tasks_first() {
    crate::support::ensure_demo_image();
    let cidr = format!("10.{}.0.0/16", 100 + (std::process::id() + 76) % 100);
    let mut fleet = Fleet::with_server_flags(&["--vpc-cidr", &cidr], &[]).await;
    // Two machines of one zone (on this one): each holds a slice of the zone's subnet, with a
    // bridge of its own.
    let first = fleet.add_agent(&["--fargate"]);
    let second = fleet.add_agent(&["--fargate"]);
    let dirs: Vec<String> =
        [first, second].iter().map(|&n| fleet.agents[n].data_dir.display().to_string()).collect();
    let _bridges = SubnetBridgesGone(crate::awsvpc::first_subnet(&fleet.server));
    run_model_check(
        "fargate_capacity.py",
        &fleet.server,
        &[
            "--cluster",
            &fleet.cluster,
            "--flotilla",
            env!("CARGO_BIN_EXE_flotilla"),
            "--capacity-dir",
            &dirs[0],
            "--capacity-dir",
            &dirs[1],
        ],
    );
}

//! The FARGATE launch type on operator-run capacity: an agent started with `--fargate` (in no
//! cluster) runs a cluster's FARGATE tasks and services; `tests/conformance/fargate.py`
//! (botocore) checks ECS's refusals, what ECS shows of FARGATE tasks, and `assignPublicIp`
//! ENABLED as the host's NAT against a server outside the VPC. Nothing of the NAT is left once
//! the tasks stop.

use std::process::Command;

use crate::conformance::run_model_check;
use crate::fleet::Fleet;

/// A demo server outside the VPC (a plain container on Docker's bridge), removed when dropped.
struct Outside(String);

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

/// Removes the subnet's bridge when the test ends.
struct BridgeCleanup(String);

impl Drop for BridgeCleanup {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
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
    let _bridge = BridgeCleanup(format!("fl{}", &subnet["subnet-".len()..][5..]));
    run_model_check(
        "fargate.py",
        &fleet.server,
        &["--cluster", &fleet.cluster, "--outside", &address, "--outside-gateway", &gateway],
    );
    // The tasks stopped: no NAT rule of theirs (sparing this test's VPC) is left.
    let nat = output(Command::new("iptables").args(["-t", "nat", "-S"]));
    assert!(!nat.contains(&format!("! -d {cidr}")), "a NAT rule is left:\n{nat}");
}

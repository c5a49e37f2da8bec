//! Runs the botocore model conformance checks against a live server, in its region and in
//! others: every response body must match botocore's ECS model
//! (`tests/conformance/check_ecs_model.py`) and CloudWatch Logs model (`check_logs_model.py`),
//! and every operation the server does not implement must answer UnknownOperationException.
//! `deploy_like_a_tool.py` runs a deployment tool's calls and botocore's waiters unchanged.

use std::path::PathBuf;
use std::process::Command;

use crate::fleet::Fleet;
use crate::support::{Flotilla, REGION};

/// Runs `tests/conformance/<script>` against server `f` in the server's region.
pub fn run_model_check(script: &str, f: &Flotilla, extra: &[&str]) {
    run_model_check_in(script, f, REGION, extra)
}

/// Runs `tests/conformance/<script>` against server `f` (endpoint, credentials and `region`,
/// then `extra` arguments) and fails the test with its report unless it exits 0. Fails (never
/// skips) when Python or botocore is missing: the checks are part of the suite.
pub fn run_model_check_in(script: &str, f: &Flotilla, region: &str, extra: &[&str]) {
    require_botocore();
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance").join(script);
    let output = Command::new("python3")
        .arg(&path)
        .arg("--endpoint")
        .arg(f.endpoint())
        .arg("--credentials")
        .arg(f.data_dir.join("credentials"))
        .arg("--region")
        .arg(region)
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("run python3 {script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        eprintln!("{stderr}");
    }
    assert!(
        output.status.success(),
        "{script} found violations ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

fn require_botocore() {
    match Command::new("python3").args(["-c", "import botocore"]).output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "python3 cannot import botocore, which the model conformance tests need: run \
             `pip install botocore` (python3 said: {})",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(error) => panic!(
            "cannot run python3 ({error}), which the model conformance tests need: install \
             Python 3, then run `pip install botocore`"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_conform_to_the_botocore_ecs_model() {
    // A cluster with one real agent, so task and container instance operations can succeed.
    let fleet = Fleet::start().await;
    run_model_check("check_ecs_model.py", &fleet.server, &["--agent-cluster", &fleet.cluster]);
}

/// The same answers in a region other than the server's, with an agent joined there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_conform_to_the_botocore_ecs_model_in_another_region() {
    let fleet = Fleet::in_region("eu-west-1").await;
    let extra = ["--agent-cluster", fleet.cluster.as_str()];
    run_model_check_in("check_ecs_model.py", &fleet.server, "eu-west-1", &extra);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_conform_to_the_botocore_logs_model() {
    // CloudWatch Logs needs no agent; each region starts empty.
    let f = Flotilla::start();
    for region in [REGION, "ap-southeast-2"] {
        run_model_check_in("check_logs_model.py", &f, region, &[]);
    }
}

/// A deployment tool's calls (register, create, services-stable, deploy, scale, a one-off task
/// and tasks-stopped, a crashing revision rolled back, services-inactive) with botocore and its
/// waiters, unchanged, in a region other than the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_tool_runs_unchanged_in_any_region() {
    let fleet = Fleet::in_region("us-east-2").await;
    let extra = ["--cluster", fleet.cluster.as_str()];
    run_model_check_in("deploy_like_a_tool.py", &fleet.server, "us-east-2", &extra);
}

/// EC2 through botocore's `ec2` protocol client: a region's availability zones are those its
/// agents announce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_answers_botocore_with_the_regions_zones() {
    let f = Flotilla::start();
    let _agents = crate::support::HollowAgents::start_with(&f, "default", 3, &["--zones", "2"]);
    crate::support::registered_instances(&f.ecs(), "default", 3).await;
    run_model_check("check_ec2_model.py", &f, &["--zones", "zone-a,zone-b"]);

    // A parameter EC2 does not have (here miscased) is refused by name, not ignored.
    let (id, secret) = f.root_key();
    let form = b"Action=DescribeVpcs&Version=2016-11-15&dryRun=true";
    let content_type = ("content-type", "application/x-www-form-urlencoded; charset=utf-8");
    let request = crate::support::SignedRaw::for_service("ec2", &[content_type], form).sign(
        &id,
        &secret,
        REGION,
        std::time::SystemTime::now(),
    );
    let (status, body) = crate::support::raw_http(f.port, &request.to_bytes()).expect("http");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>UnknownParameter</Code>") && body.contains("dryRun"), "{body}");
}

//! Runs the botocore model conformance checks against a live server: every response body must
//! match botocore's ECS model (`tests/conformance/check_ecs_model.py`) and CloudWatch Logs model
//! (`check_logs_model.py`), and every operation the server does not implement must answer
//! UnknownOperationException.

use std::path::PathBuf;
use std::process::Command;

use crate::fleet::Fleet;
use crate::support::{Flotilla, REGION};

/// Fails (never skips) when Python or botocore is missing: the check is part of the suite.
fn require_botocore() {
    match Command::new("python3").args(["-c", "import botocore"]).output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "python3 cannot import botocore, which the ECS model conformance test needs: run \
             `pip install botocore` (python3 said: {})",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(error) => panic!(
            "cannot run python3 ({error}), which the ECS model conformance test needs: install \
             Python 3, then run `pip install botocore`"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_conform_to_the_botocore_ecs_model() {
    require_botocore();
    // A cluster with one real agent, so task and container instance operations can succeed.
    let fleet = Fleet::start().await;
    let f = &fleet.server;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/conformance/check_ecs_model.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg("--endpoint")
        .arg(f.endpoint())
        .arg("--credentials")
        .arg(f.data_dir.join("credentials"))
        .arg("--region")
        .arg(REGION)
        .arg("--agent-cluster")
        .arg(&fleet.cluster)
        .output()
        .expect("run python3 check_ecs_model.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        eprintln!("{stderr}");
    }
    assert!(
        output.status.success(),
        "the ECS model conformance check failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_conform_to_the_botocore_logs_model() {
    require_botocore();
    // CloudWatch Logs needs no agent.
    let f = Flotilla::start();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/conformance/check_logs_model.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg("--endpoint")
        .arg(f.endpoint())
        .arg("--credentials")
        .arg(f.data_dir.join("credentials"))
        .arg("--region")
        .arg(REGION)
        .output()
        .expect("run python3 check_logs_model.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        eprintln!("{stderr}");
    }
    assert!(
        output.status.success(),
        "the Logs model conformance check failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

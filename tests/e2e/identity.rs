//! IAM, STS and the policies that decide every request: botocore's own clients create users,
//! keys, groups, roles and policies, assume roles, and call ECS, Logs, IAM and STS with users'
//! and sessions' keys, allowed and denied as the policies say (`tests/conformance/iam_api.py`).

use crate::conformance::run_model_check;
use crate::support::Flotilla;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_and_sts_answer_as_aws_and_policies_decide_every_request() {
    run_model_check("iam_api.py", &Flotilla::start(), &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_keys_policies_and_sessions_outlive_a_restart() {
    let mut f = Flotilla::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("kept.json");
    let state = state.to_str().expect("utf-8 path");
    run_model_check("iam_api.py", &f, &["--only", "persist_before", "--state", state]);
    f.kill9_and_restart();
    run_model_check("iam_api.py", &f, &["--only", "persist_after", "--state", state]);
}

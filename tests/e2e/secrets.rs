//! Secrets Manager and Parameter Store through botocore's own clients
//! (`tests/conformance/secrets_api.py`, `tests/conformance/ssm_api.py`), and what a restart
//! keeps of them.

use crate::conformance::run_model_check;
use crate::support::Flotilla;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_answers_as_aws() {
    run_model_check("secrets_api.py", &Flotilla::start(), &[]);
}

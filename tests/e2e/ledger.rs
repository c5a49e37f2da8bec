//! The field ledgers hold on the wire: every member a ledger (`crates/*/ledger.toml`)
//! refuses is sent by botocore in a request of its operation and refused by name
//! (`tests/conformance/check_ledger.py`); scripts/ledger.py checks that the ledger lists every
//! member of the model.

use crate::conformance::run_model_check;
use crate::support::Flotilla;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_a_ledger_refuses_is_refused_by_name() {
    run_model_check("check_ledger.py", &Flotilla::start(), &[]);
}

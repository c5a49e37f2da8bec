//! The ECS domain operations that more than the API uses: the service controller and the agent
//! gateway call these, never the handlers. Handlers parse requests and answer them; what they
//! share with the controller and the gateway lives here.

pub mod capacity;
pub mod deployments;
pub mod launch;
pub mod placement;
pub mod registration;
pub mod tasks;

use flotilla_api::arn::cluster_name_from;
use flotilla_api::cluster::Cluster;
use flotilla_api::status::ClusterStatus;
use flotilla_api::ApiError;

use crate::state::{Record, Staged, State};

/// The cluster a request names when it names none.
pub const DEFAULT_CLUSTER: &str = "default";

/// Whether `name` is an ACTIVE cluster: reads of a missing or deleted cluster answer
/// ClusterNotFoundException before anything else, as ECS's do.
pub fn is_active_cluster(state: &State, name: &str) -> bool {
    state.clusters.get(name).is_some_and(|c| c.status == ClusterStatus::Active)
}

/// The cluster a request names (short name or ARN; absent means `default`), if it is ACTIVE.
pub fn active_cluster(staged: &Staged<'_>, reference: Option<&str>) -> Result<Cluster, ApiError> {
    let name = cluster_name_from(reference.unwrap_or(DEFAULT_CLUSTER));
    match staged.get(&crate::state::cluster_key(name)) {
        Some(Record::Cluster(c)) if c.status == ClusterStatus::Active => Ok(c),
        _ => Err(ApiError::cluster_not_found()),
    }
}

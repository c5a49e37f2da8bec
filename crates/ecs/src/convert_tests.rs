//! Every record that crosses the edge through serde keeps every member of the model: a value
//! with all of them (`schema::exemplar`) goes from the generated type to the domain type and
//! back unchanged.

use std::fmt::Debug;

use flotilla_front::schema::{exemplar, Kind};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{into_domain, into_wire};
use crate::wire;

/// Structures nest at most this deep in the shapes checked here.
const DEPTH: usize = 8;

fn crosses<W, D>(kind: &Kind)
where
    W: Serialize + DeserializeOwned + Debug,
    D: Serialize + DeserializeOwned,
{
    let full = exemplar(kind, DEPTH);
    let generated: W = serde_json::from_value(full.clone()).expect("the exemplar fits its type");
    let domain: D = into_domain("exemplar", &generated).expect("the domain type takes it");
    let back: W = into_wire(&domain).expect("and gives it back");
    assert_eq!(
        serde_json::to_value(&back).expect("serializes"),
        full,
        "{} lost or changed members on the way through {}",
        std::any::type_name::<W>(),
        std::any::type_name::<D>()
    );
}

#[test]
fn cluster_members_cross_whole() {
    crosses::<wire::ClusterConfiguration, Value>(&wire::CLUSTER_CONFIGURATION_SCHEMA);
    crosses::<wire::ClusterServiceConnectDefaults, Value>(
        &wire::CLUSTER_SERVICE_CONNECT_DEFAULTS_SCHEMA,
    );
    crosses::<
        wire::CapacityProviderStrategyItem,
        flotilla_api::cluster::CapacityProviderStrategyItem,
    >(&wire::CAPACITY_PROVIDER_STRATEGY_ITEM_SCHEMA);
}

#[test]
fn task_definitions_cross_whole() {
    crosses::<wire::RegisterTaskDefinitionRequest, flotilla_api::taskdef::TaskDefinitionRegistration>(
        &wire::REGISTER_TASK_DEFINITION_REQUEST_SCHEMA,
    );
    crosses::<wire::TaskDefinition, flotilla_api::taskdef::TaskDefinition>(
        &wire::TASK_DEFINITION_SCHEMA,
    );
}

//! What a remote data plane (`flotilla lb --server URL`) and the server say to each other over
//! one WebSocket (`GET /v1/lb/connect?region=R`, the server's `<data-dir>/lb-token` as bearer):
//! the server sends the region's load balancer records with what the proxy needs of other
//! services (instance addresses, certificates) whenever they change; the data plane sends its
//! health board (target verdicts, listeners bound) whenever it changes. Both are whole states:
//! a reconnect simply converges. For awsvpc tasks the server also sends the routes to every
//! host's slices, and the data plane says which addresses its traffic comes from (the tasks'
//! security groups count them as the load balancers' groups).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use flotilla_api::routes::RouteTable;

use serde::{Deserialize, Serialize};

use crate::health::{Servings, Verdicts};
use crate::model::State;

pub const CONNECT_PATH: &str = "/v1/lb/connect";

/// Server → data plane.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub records: State,
    /// Instance targets' addresses, by instance id (ECS's agents' advertised addresses).
    pub instances: BTreeMap<String, IpAddr>,
    /// The certificates HTTPS listeners present, by ACM ARN (the private key included: the
    /// connection must be trusted, as the lb token is).
    pub certificates: BTreeMap<String, RemoteCertificate>,
    /// The routes to every host's slices of the region's subnets (ip targets on other hosts).
    #[serde(default)]
    pub routes: RouteTable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteCertificate {
    pub chain: String,
    pub private_key: String,
    pub version: f64,
}

/// Data plane → server: its whole health board.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Board {
    pub targets: Verdicts,
    pub balancers: Servings,
    /// The data plane's own IPv4 addresses (loopback left out): where its connections to
    /// targets come from.
    #[serde(default)]
    pub addresses: BTreeSet<Ipv4Addr>,
}

//! The AWS front door: every AWS API on the endpoint comes in here. It speaks the protocols
//! (AWS JSON 1.0/1.1, query, EC2, Smithy RPC v2 CBOR), verifies SigV4 (header and presigned,
//! session tokens), builds the typed [`Caller`], runs the one authorization hook, and hands the
//! decoded request to the service registered for it. It knows no service: services register a
//! [`ServiceSpec`] and a [`Service`]; adding one changes no code here.

pub mod authorize;
pub mod body;
pub mod caller;
pub mod document;
pub mod door;
pub mod error;
pub mod exposition;
pub mod listener;
pub mod metrics;
pub mod partition;
pub mod protocol;
pub mod refusal;
pub mod regions;
pub mod schema;
pub mod service;
pub mod sigv4;

pub use authorize::{Action, AllowAll, Authorizer};
pub use caller::{Caller, KeyInfo, KeyStore};
pub use document::{Document, Name};
pub use door::{Call, FrontDoor, Observer};
pub use error::{Fault, WireError};
pub use listener::{serve, ListenerConfig};
pub use metrics::RequestMetrics;
pub use protocol::{JsonVersion, Protocol};
pub use regions::ServedRegions;
pub use service::{
    CborSpec, Input, QuerySpec, Registry, Reply, Service, ServiceFuture, ServiceRequest,
    ServiceSpec,
};

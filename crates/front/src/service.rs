//! What a service behind the door implements, what it is given and what it answers, and the
//! table it registers in: adding a service is one `register` call, no door code.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::Value;

use crate::caller::Caller;
use crate::document::Document;
use crate::error::WireError;
use crate::protocol::JsonVersion;

/// One request, authenticated and authorized, for a service.
pub struct ServiceRequest<'a> {
    pub caller: &'a Caller,
    pub operation: &'a str,
    pub input: Input,
    /// The request's arrival: the only clock a handler reads.
    pub now: SystemTime,
    pub request_id: &'a str,
    /// Where the client sent it (its `Host` header): the endpoint it knows this server by.
    pub host: Option<&'a str>,
}

/// A request's input as its protocol carried it.
#[derive(Debug, Clone)]
pub enum Input {
    /// An AWS JSON body (possibly empty).
    Json(Bytes),
    /// Query or EC2 parameters: objects and arrays whose leaves are strings, for the service
    /// to type from its model.
    Params(Value),
    /// A Smithy RPC v2 CBOR body, for the service to decode (`protocol::cbor::decode`) once
    /// it has checked the operation.
    Cbor(Bytes),
}

impl Input {
    /// The body of an AWS JSON request: what the door hands a JSON-only service.
    pub fn into_json(self) -> Result<Bytes, WireError> {
        match self {
            Input::Json(body) => Ok(body),
            _ => {
                Err(WireError::internal("a JSON-only service was handed another protocol's input"))
            }
        }
    }
}

/// A service's answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// AWS JSON, already encoded (JSON-only services).
    Json(Vec<u8>),
    /// A protocol-neutral tree the door writes in the request's protocol.
    Document(Document),
}

pub type ServiceFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, WireError>> + Send + 'a>>;

/// An AWS API served at the door.
pub trait Service: Send + Sync + 'static {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a>;
}

/// How a service is reached: its SigV4 signing name and the protocols it speaks.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The SigV4 service name (`ecs`, `logs`, `monitoring`); also its label in request metrics.
    pub signing_name: &'static str,
    /// AWS JSON: the `X-Amz-Target` prefix, dot included, and the JSON version.
    pub json: Option<(&'static str, JsonVersion)>,
    /// The query or EC2 protocol.
    pub query: Option<QuerySpec>,
    /// Smithy RPC v2 CBOR.
    pub cbor: Option<CborSpec>,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// The model is `awsQueryCompatible`: JSON and CBOR errors also carry the query code.
    pub query_compatible: bool,
}

impl ServiceSpec {
    /// A service of AWS JSON 1.1 only, told apart by its `X-Amz-Target` prefix (ECS, Logs,
    /// ACM, Cloud Map, Secrets Manager, SSM), with the common body limit.
    pub fn json_1_1(signing_name: &'static str, target_prefix: &'static str) -> ServiceSpec {
        ServiceSpec {
            signing_name,
            json: Some((target_prefix, JsonVersion::V1_1)),
            query: None,
            cbor: None,
            max_body_bytes: crate::body::COMMON_BODY_LIMIT,
            query_compatible: false,
        }
    }

    /// A service of the query protocol only (IAM, STS, ELBv2), with the common body limit.
    pub fn query(
        signing_name: &'static str,
        version: &'static str,
        xml_namespace: &'static str,
    ) -> ServiceSpec {
        ServiceSpec {
            signing_name,
            json: None,
            query: Some(QuerySpec { version, xml_namespace, ec2: false }),
            cbor: None,
            max_body_bytes: crate::body::COMMON_BODY_LIMIT,
            query_compatible: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct QuerySpec {
    /// The `Version` parameter that names this API.
    pub version: &'static str,
    /// The XML namespace of its answers.
    pub xml_namespace: &'static str,
    /// botocore's `ec2` protocol rather than `query`.
    pub ec2: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct CborSpec {
    /// The service shape in `/service/<name>/operation/<Operation>`.
    pub service_name: &'static str,
    /// The namespace of error shape ids (`com.amazonaws.cloudwatch`).
    pub shape_namespace: &'static str,
}

pub(crate) struct Registered {
    pub spec: ServiceSpec,
    pub service: Arc<dyn Service>,
}

/// The services of the door.
#[derive(Default)]
pub struct Registry {
    services: Vec<Registered>,
}

#[derive(Debug, thiserror::Error)]
#[error("service '{0}' clashes with another registered service ({1})")]
pub struct RegistryError(pub &'static str, pub &'static str);

impl Registry {
    /// Adds a service; its signing name, target prefix, query version and CBOR name must be
    /// unique.
    pub fn register(
        &mut self,
        spec: ServiceSpec,
        service: Arc<dyn Service>,
    ) -> Result<(), RegistryError> {
        for other in &self.services {
            let o = &other.spec;
            let clash = if o.signing_name == spec.signing_name {
                Some("signing name")
            } else if o.json.zip(spec.json).is_some_and(|(a, b)| a.0 == b.0) {
                Some("X-Amz-Target prefix")
            } else if o.query.zip(spec.query).is_some_and(|(a, b)| a.version == b.version) {
                Some("query Version")
            } else if o.cbor.zip(spec.cbor).is_some_and(|(a, b)| a.service_name == b.service_name) {
                Some("CBOR service name")
            } else {
                None
            };
            if let Some(what) = clash {
                return Err(RegistryError(spec.signing_name, what));
            }
        }
        self.services.push(Registered { spec, service });
        Ok(())
    }

    /// The JSON service whose target prefix starts `target`, and the operation after it.
    pub(crate) fn by_target<'t>(&self, target: &'t str) -> Option<(&Registered, &'t str)> {
        self.services.iter().find_map(|r| {
            let (prefix, _) = r.spec.json?;
            target.strip_prefix(prefix).map(|operation| (r, operation))
        })
    }

    pub(crate) fn by_signing_name(&self, name: &str) -> Option<&Registered> {
        self.services.iter().find(|r| r.spec.signing_name == name)
    }

    pub(crate) fn by_cbor_name(&self, name: &str) -> Option<&Registered> {
        self.services.iter().find(|r| r.spec.cbor.is_some_and(|c| c.service_name == name))
    }
}

//! The server's side of the front door: the root key as the key store, the API request
//! metrics as the observer, and ECS, CloudWatch Logs and CloudWatch metrics registered as
//! services — each a row here, none of them known to the door.

use std::sync::Arc;
use std::time::Duration;

use flotilla_api::ApiError;
use flotilla_front::{
    AllowAll, Call, CborSpec, FrontDoor, Input, JsonVersion, KeyInfo, KeyStore, Observer,
    QuerySpec, Registry, Reply, Service, ServiceFuture, ServiceRequest, ServiceSpec, WireError,
};

use crate::metrics::cloudwatch;
use crate::{ecs, logs, App, MAX_BODY_BYTES};

/// An ECS-crate error as the door writes it.
pub fn wire(error: ApiError) -> WireError {
    WireError::new(error.code.as_str(), error.code.http_status(), error.message)
        .with_query_code(error.code.query_code())
}

/// The door with every service of this server registered.
pub fn door(app: &Arc<App>) -> FrontDoor {
    let mut registry = Registry::default();
    let services: [(ServiceSpec, Arc<dyn Service>); 3] = [
        (
            ServiceSpec {
                signing_name: "ecs",
                json: Some(("AmazonEC2ContainerServiceV20141113.", JsonVersion::V1_1)),
                query: None,
                cbor: None,
                max_body_bytes: MAX_BODY_BYTES,
                query_compatible: false,
            },
            Arc::new(Ecs(Arc::clone(app))),
        ),
        (
            ServiceSpec {
                signing_name: "logs",
                json: Some(("Logs_20140328.", JsonVersion::V1_1)),
                query: None,
                cbor: None,
                // A full PutLogEvents batch is 1 MiB of messages; JSON escaping can make its
                // body several times larger.
                max_body_bytes: 8 * 1024 * 1024,
                query_compatible: false,
            },
            Arc::new(Logs(Arc::clone(app))),
        ),
        (
            ServiceSpec {
                signing_name: cloudwatch::SIGNING_NAME,
                json: Some(("GraniteServiceVersion20100801.", JsonVersion::V1_0)),
                query: Some(QuerySpec {
                    version: cloudwatch::API_VERSION,
                    xml_namespace: cloudwatch::XML_NAMESPACE,
                    ec2: false,
                }),
                cbor: Some(CborSpec {
                    service_name: "GraniteServiceVersion20100801",
                    shape_namespace: "com.amazonaws.cloudwatch",
                }),
                max_body_bytes: MAX_BODY_BYTES,
                // SDKs map CloudWatch's JSON and CBOR errors by their query codes.
                query_compatible: true,
            },
            Arc::new(CloudWatch(Arc::clone(app))),
        ),
    ];
    for (spec, service) in services {
        if let Err(error) = registry.register(spec, service) {
            // The table above is static: a clash is a programming error caught by every test.
            unreachable!("{error}");
        }
    }
    FrontDoor::new(
        app.scope.region.clone(),
        registry,
        Arc::new(RootKey {
            key: app.credentials.root.clone(),
            account_id: app.scope.account_id.clone(),
        }),
        Arc::new(AllowAll),
        Arc::new(RequestCounter(Arc::clone(app))),
    )
}

/// The root key: the only key until IAM users and STS sessions come.
struct RootKey {
    key: crate::AccessKey,
    account_id: String,
}

impl KeyStore for RootKey {
    fn key(&self, access_key_id: &str) -> Option<KeyInfo> {
        (access_key_id == self.key.access_key_id).then(|| KeyInfo {
            secret_access_key: self.key.secret_access_key.clone(),
            account_id: self.account_id.clone(),
            principal_arn: format!("arn:aws:iam::{}:root", self.account_id),
            session_token: None,
        })
    }
}

struct RequestCounter(Arc<App>);

impl Observer for RequestCounter {
    fn observe(&self, call: &Call, status: u16, elapsed: Duration) {
        self.0.metrics.requests.observe(call, status, elapsed);
    }
}

/// A JSON-only service's body (the door hands JSON services nothing else).
fn json_body(input: Input) -> Result<bytes::Bytes, WireError> {
    match input {
        Input::Json(body) => Ok(body),
        _ => Err(WireError::internal("a JSON-only service was handed another protocol's input")),
    }
}

struct Ecs(Arc<App>);

impl Service for Ecs {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a> {
        Box::pin(async move {
            let body = json_body(request.input)?;
            ecs::dispatch(&self.0, request.operation, &body, request.now)
                .await
                .map(Reply::Json)
                .map_err(wire)
        })
    }
}

struct Logs(Arc<App>);

impl Service for Logs {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a> {
        Box::pin(async move {
            let body = json_body(request.input)?;
            logs::dispatch(&self.0, request.operation, &body, request.now)
                .await
                .map(Reply::Json)
                .map_err(wire)
        })
    }
}

struct CloudWatch(Arc<App>);

impl Service for CloudWatch {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a> {
        Box::pin(async move {
            cloudwatch::serve(&self.0, request.operation, request.input, request.now)
                .map(Reply::Document)
                .map_err(wire)
        })
    }
}

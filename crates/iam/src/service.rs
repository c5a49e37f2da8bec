//! IAM at the front door: its row of the service table (the query protocol, version
//! 2010-05-08, SigV4 `iam`) and the `Service` that runs an operation.

use std::sync::Arc;

use flotilla_front::{QuerySpec, Reply, Service, ServiceFuture, ServiceRequest, ServiceSpec};

use crate::{App, API_VERSION, SIGNING_NAME, XML_NAMESPACE};

/// How IAM is reached.
pub fn spec() -> ServiceSpec {
    ServiceSpec {
        signing_name: SIGNING_NAME,
        json: None,
        query: Some(QuerySpec { version: API_VERSION, xml_namespace: XML_NAMESPACE, ec2: false }),
        cbor: None,
        max_body_bytes: flotilla_front::door::COMMON_BODY_LIMIT,
        query_compatible: false,
    }
}

/// The IAM service over its [`App`] (global: every region's requests come here).
pub struct IamService(pub Arc<App>);

impl Service for IamService {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a> {
        Box::pin(async move {
            crate::serve(&self.0, request.caller, request.operation, request.input, request.now)
                .await
                .map(Reply::Document)
        })
    }
}

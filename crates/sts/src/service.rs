//! STS at the front door: its row of the service table (the query protocol, version
//! 2011-06-15, SigV4 `sts`) and the `Service` that runs an operation.

use std::sync::Arc;

use flotilla_front::{Reply, Service, ServiceFuture, ServiceRequest, ServiceSpec};

use crate::{App, API_VERSION, SIGNING_NAME, XML_NAMESPACE};

/// How STS is reached.
pub fn spec() -> ServiceSpec {
    ServiceSpec::query(SIGNING_NAME, API_VERSION, XML_NAMESPACE)
}

/// The STS service over its [`App`] (global, like IAM).
pub struct StsService(pub Arc<App>);

impl Service for StsService {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a> {
        Box::pin(async move {
            crate::serve(&self.0, request.caller, request.operation, request.input, request.now)
                .await
                .map(Reply::Document)
        })
    }
}

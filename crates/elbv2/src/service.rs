//! ELBv2 at the front door: its row of the service table (the query protocol, version
//! 2015-12-01, SigV4 `elasticloadbalancing`) and the `Service` that runs an operation.

use std::sync::Arc;

use flotilla_front::{Reply, Service, ServiceFuture, ServiceRequest, ServiceSpec};

use crate::{App, API_VERSION, SIGNING_NAME, XML_NAMESPACE};

/// How ELBv2 is reached.
pub fn spec() -> ServiceSpec {
    ServiceSpec::query(SIGNING_NAME, API_VERSION, XML_NAMESPACE)
}

/// The ELBv2 service over its [`App`].
pub struct Elbv2Service(pub Arc<App>);

impl Service for Elbv2Service {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a> {
        Box::pin(async move {
            crate::serve(&self.0, request.operation, request.input, request.now)
                .await
                .map(Reply::Document)
                .map_err(|e| e.into_parts().into())
        })
    }
}

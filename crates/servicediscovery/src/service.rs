//! Cloud Map at the front door: its row of the service table (AWS JSON 1.1,
//! `X-Amz-Target: Route53AutoNaming_v20170314.<Operation>`, SigV4 `servicediscovery`) and the
//! `Service` that runs an operation. DiscoverInstances arrives at a `data-` host as botocore
//! sends it; the door does not route by host, so it is served like the rest.

use std::sync::Arc;

use flotilla_front::{Reply, Service, ServiceFuture, ServiceRequest, ServiceSpec};

use crate::{App, SIGNING_NAME, TARGET_PREFIX};

/// How Cloud Map is reached.
pub fn spec() -> ServiceSpec {
    ServiceSpec::json_1_1(SIGNING_NAME, TARGET_PREFIX)
}

/// The Cloud Map service over its [`App`].
pub struct CloudMapService(pub Arc<App>);

impl Service for CloudMapService {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a> {
        Box::pin(async move {
            let body = request.input.into_json()?;
            crate::dispatch(&self.0, request.operation, &body, request.now)
                .await
                .map(Reply::Json)
                .map_err(|e| e.into_parts().into())
        })
    }
}

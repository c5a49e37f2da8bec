//! ACM at the front door: its row of the service table (AWS JSON 1.1,
//! `X-Amz-Target: CertificateManager.<Operation>`, SigV4 `acm`) and the `Service` that runs an
//! operation.

use std::sync::Arc;

use flotilla_front::{Reply, Service, ServiceFuture, ServiceRequest, ServiceSpec};

use crate::{App, SIGNING_NAME, TARGET_PREFIX};

/// How ACM is reached.
pub fn spec() -> ServiceSpec {
    ServiceSpec::json_1_1(SIGNING_NAME, TARGET_PREFIX)
}

/// The ACM service over its [`App`].
pub struct AcmService(pub Arc<App>);

impl Service for AcmService {
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

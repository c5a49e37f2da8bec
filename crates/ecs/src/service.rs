//! ECS at the front door: its row of the service table (AWS JSON 1.1,
//! `X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Operation>`, SigV4 `ecs`) and the
//! `Service` that runs an operation.

use std::sync::Arc;

use flotilla_front::{Reply, Service, ServiceFuture, ServiceRequest, ServiceSpec};

use crate::{App, MAX_BODY_BYTES};

pub fn spec() -> ServiceSpec {
    ServiceSpec {
        max_body_bytes: MAX_BODY_BYTES,
        ..ServiceSpec::json_1_1("ecs", "AmazonEC2ContainerServiceV20141113.")
    }
}

/// The ECS service over its [`App`].
pub struct EcsService(pub Arc<App>);

impl Service for EcsService {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a> {
        Box::pin(async move {
            let body = request.input.into_json()?;
            crate::handlers::dispatch(&self.0, request.operation, &body, request.now, request.host)
                .await
                .map(Reply::Json)
                .map_err(|e| e.into_parts().into())
        })
    }
}

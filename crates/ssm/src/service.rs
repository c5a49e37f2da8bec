//! Parameter Store at the front door: its row of the service table (AWS JSON 1.1,
//! `X-Amz-Target: AmazonSSM.<Operation>`, SigV4 `ssm`) and the `Service` that runs an operation
//! for its caller.

use std::sync::Arc;

use flotilla_front::{Reply, Service, ServiceFuture, ServiceRequest, ServiceSpec};

use crate::{App, SIGNING_NAME, TARGET_PREFIX};

/// How Parameter Store is reached.
pub fn spec() -> ServiceSpec {
    ServiceSpec::json_1_1(SIGNING_NAME, TARGET_PREFIX)
}

/// The Parameter Store service over its [`App`].
pub struct SsmService(pub Arc<App>);

impl Service for SsmService {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a> {
        Box::pin(async move {
            let body = request.input.into_json()?;
            crate::dispatch(
                &self.0,
                request.operation,
                &body,
                request.now,
                &request.caller.principal_arn,
            )
            .await
            .map(Reply::Json)
            .map_err(Into::into)
        })
    }
}

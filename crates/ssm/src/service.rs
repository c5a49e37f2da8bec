//! Parameter Store at the front door: its row of the service table (AWS JSON 1.1,
//! `X-Amz-Target: AmazonSSM.<Operation>`, SigV4 `ssm`) and the `Service` that runs an operation
//! for its caller.

use std::sync::Arc;

use flotilla_front::{JsonVersion, Reply, Service, ServiceFuture, ServiceRequest, ServiceSpec};

use crate::{App, SIGNING_NAME, TARGET_PREFIX};

/// How Parameter Store is reached.
pub fn spec() -> ServiceSpec {
    ServiceSpec {
        signing_name: SIGNING_NAME,
        json: Some((TARGET_PREFIX, JsonVersion::V1_1)),
        query: None,
        cbor: None,
        max_body_bytes: flotilla_front::door::COMMON_BODY_LIMIT,
        query_compatible: false,
    }
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

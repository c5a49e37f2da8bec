//! Secrets Manager at the front door: its row of the service table (AWS JSON 1.1,
//! `X-Amz-Target: secretsmanager.<Operation>`, SigV4 `secretsmanager`) and the `Service` that
//! runs an operation.

use std::sync::Arc;

use flotilla_front::{Reply, Service, ServiceFuture, ServiceRequest, ServiceSpec};

use crate::{App, SIGNING_NAME, TARGET_PREFIX};

/// How Secrets Manager is reached.
pub fn spec() -> ServiceSpec {
    ServiceSpec::json_1_1(SIGNING_NAME, TARGET_PREFIX)
}

/// The Secrets Manager service over its [`App`].
pub struct SecretsManagerService(pub Arc<App>);

impl Service for SecretsManagerService {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a> {
        Box::pin(async move {
            let body = request.input.into_json()?;
            crate::dispatch(&self.0, request.operation, &body, request.now)
                .await
                .map(Reply::Json)
                .map_err(Into::into)
        })
    }
}

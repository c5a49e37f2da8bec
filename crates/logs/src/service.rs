//! CloudWatch Logs at the front door: its row of the service table and the `Service` that runs
//! an operation.

use std::sync::Arc;

use flotilla_front::{Reply, Service, ServiceFuture, ServiceRequest, ServiceSpec};

use crate::App;

/// How Logs is reached: AWS JSON 1.1, `X-Amz-Target: Logs_20140328.<Operation>`, SigV4 `logs`.
pub fn spec() -> ServiceSpec {
    ServiceSpec {
        // A full PutLogEvents batch is 1 MiB of messages; JSON escaping can make its body
        // several times larger.
        max_body_bytes: 8 * 1024 * 1024,
        ..ServiceSpec::json_1_1("logs", "Logs_20140328.")
    }
}

/// The Logs service over its [`App`].
pub struct LogsService(pub Arc<App>);

impl Service for LogsService {
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

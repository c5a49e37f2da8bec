//! CloudWatch metrics at the front door: its row of the service table (AWS JSON 1.0, the query
//! protocol and Smithy RPC v2 CBOR) and the `Service` that runs an operation.

use std::sync::Arc;

use flotilla_front::{
    CborSpec, JsonVersion, QuerySpec, Reply, Service, ServiceFuture, ServiceRequest, ServiceSpec,
};

use crate::{App, API_VERSION, SIGNING_NAME, XML_NAMESPACE};

/// How CloudWatch is reached.
pub fn spec() -> ServiceSpec {
    ServiceSpec {
        signing_name: SIGNING_NAME,
        json: Some(("GraniteServiceVersion20100801.", JsonVersion::V1_0)),
        query: Some(QuerySpec { version: API_VERSION, xml_namespace: XML_NAMESPACE, ec2: false }),
        cbor: Some(CborSpec {
            service_name: "GraniteServiceVersion20100801",
            shape_namespace: "com.amazonaws.cloudwatch",
        }),
        max_body_bytes: flotilla_front::door::COMMON_BODY_LIMIT,
        // The model is `awsQueryCompatible`: SDKs map its JSON and CBOR errors by query codes.
        query_compatible: true,
    }
}

/// The CloudWatch service over its [`App`].
pub struct CloudWatchService(pub Arc<App>);

impl Service for CloudWatchService {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a> {
        Box::pin(async move {
            crate::serve(&self.0, request.operation, request.input, request.now)
                .map(Reply::Document)
                .map_err(|e| e.into_parts().into())
        })
    }
}

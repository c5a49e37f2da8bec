//! A small signed AWS JSON client for the human commands (`flotilla logs`): SigV4 with the
//! `aws-sigv4` crate, HTTP/1 with hyper. The AWS SDKs stay test-only (they would double the
//! binary's build time).

use std::time::SystemTime;

use anyhow::Context;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// An AWS error answer: its `__type` and message.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    pub code: String,
    pub message: String,
}

pub struct AwsClient {
    endpoint: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// A JSON service: its target prefix, SigV4 name and JSON version.
#[derive(Clone, Copy)]
pub struct Service {
    pub target_prefix: &'static str,
    pub signing_name: &'static str,
}

pub const ECS: Service =
    Service { target_prefix: "AmazonEC2ContainerServiceV20141113", signing_name: "ecs" };
pub const LOGS: Service = Service { target_prefix: "Logs_20140328", signing_name: "logs" };

impl AwsClient {
    /// A client of `endpoint` signing for `region` with `keys` (access key id, secret).
    pub fn new(endpoint: &str, region: &str, keys: (String, String)) -> AwsClient {
        let (access_key_id, secret_access_key) = keys;
        AwsClient {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region: region.to_string(),
            access_key_id,
            secret_access_key,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Calls `service`'s `operation` with a JSON body; AWS errors come back as `AwsError`.
    pub async fn call(
        &self,
        service: Service,
        operation: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let body = serde_json::to_vec(body)?;
        let target = format!("{}.{operation}", service.target_prefix);
        let url = format!("{}/", self.endpoint);
        let host = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_string();
        let mut headers = vec![
            ("host".to_string(), host),
            ("content-type".to_string(), "application/x-amz-json-1.1".to_string()),
            ("x-amz-target".to_string(), target),
        ];
        let identity =
            Credentials::new(&self.access_key_id, &self.secret_access_key, None, None, "flotilla")
                .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service.signing_name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .context("signing parameters")?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&body),
        )
        .context("cannot sign the request")?;
        let (instructions, _) =
            sign(signable, &params).context("cannot sign the request")?.into_parts();
        for (name, value) in instructions.headers() {
            headers.push((name.to_string(), value.to_string()));
        }
        let mut request = hyper::Request::post(&url);
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request.body(Full::new(Bytes::from(body)))?;
        let response = self
            .http
            .request(request)
            .await
            .with_context(|| format!("cannot reach {}", self.endpoint))?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let code = value["__type"].as_str().unwrap_or("UnknownError");
        let code = code.rsplit('#').next().unwrap_or(code).to_string();
        let message = value["message"].as_str().unwrap_or_default().to_string();
        Err(AwsError { code, message }.into())
    }
}

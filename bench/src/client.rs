//! A SigV4-signing client for AWS JSON services on Flotilla (ECS; CloudWatch Logs for
//! log-bench) and for IAM's query API (api-bench's IAM user), over one keep-alive HTTP/1.1
//! connection (hyper's low-level API).

use std::time::SystemTime;

use anyhow::{anyhow, Context, Result};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{handshake, SendRequest};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// A service on the endpoint: its `X-Amz-Target` prefix (AWS JSON 1.1; empty for the query
/// protocol, whose form body names the action) and SigV4 signing name.
#[derive(Clone, Copy)]
pub struct Service {
    target_prefix: &'static str,
    signing_name: &'static str,
}

pub const ECS: Service =
    Service { target_prefix: "AmazonEC2ContainerServiceV20141113.", signing_name: "ecs" };
#[allow(dead_code)] // only log-bench reads logs
pub const LOGS: Service = Service { target_prefix: "Logs_20140328.", signing_name: "logs" };
#[allow(dead_code)] // only api-bench creates IAM users
pub const IAM: Service = Service { target_prefix: "", signing_name: "iam" };

/// Who signs, for where: an access key pair and the server's region.
#[derive(Clone)]
pub struct Signer {
    credentials: Credentials,
    region: String,
}

impl Signer {
    pub fn new(access_key_id: &str, secret_access_key: &str, region: &str) -> Signer {
        Signer {
            credentials: Credentials::new(access_key_id, secret_access_key, None, None, "bench"),
            region: region.to_string(),
        }
    }

    /// A signed `POST /` for `service`'s operation `operation`, signed now, as an SDK would
    /// send it.
    pub fn request(
        &self,
        service: Service,
        port: u16,
        operation: &str,
        body: Vec<u8>,
    ) -> Result<Request<Full<Bytes>>> {
        let host = format!("127.0.0.1:{port}");
        let target = format!("{}{operation}", service.target_prefix);
        let headers: Vec<(&str, &str)> = if service.target_prefix.is_empty() {
            vec![("host", host.as_str()), ("content-type", "application/x-www-form-urlencoded")]
        } else {
            vec![
                ("host", host.as_str()),
                ("content-type", CONTENT_TYPE),
                ("x-amz-target", target.as_str()),
            ]
        };
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service.signing_name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let url = format!("http://{host}/");
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )?;
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        let mut builder = Request::post("/");
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        for (name, value) in instructions.headers() {
            builder = builder.header(name, value);
        }
        Ok(builder.body(Full::new(Bytes::from(body)))?)
    }
}

/// A keep-alive connection to a server on 127.0.0.1, opened again whenever the server closes
/// it (moto answers every request with `Connection: close`).
pub struct Connection {
    port: u16,
    sender: SendRequest<Full<Bytes>>,
    /// Connections opened after the first one.
    pub reconnects: u64,
}

async fn connect(port: u16) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("connect to 127.0.0.1:{port}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the server closes the connection or the sender is dropped.
        let _ = connection.await;
    });
    Ok(sender)
}

impl Connection {
    pub async fn open(port: u16) -> Result<Connection> {
        Ok(Connection { port, sender: connect(port).await?, reconnects: 0 })
    }

    /// Waits until the connection can take a request, reconnecting if the server closed it
    /// (nothing was sent on it yet, so this is safe).
    async fn ready(&mut self) -> Result<()> {
        if self.sender.ready().await.is_err() {
            self.sender = connect(self.port).await?;
            self.reconnects += 1;
            self.sender.ready().await?;
        }
        Ok(())
    }

    /// Replaces the connection after a failed request.
    pub async fn reset(&mut self) -> Result<()> {
        self.sender = connect(self.port).await?;
        self.reconnects += 1;
        Ok(())
    }

    /// Sends ECS operation `operation` with JSON `body`, signed by `signer`.
    pub async fn call(
        &mut self,
        signer: &Signer,
        operation: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes)> {
        self.call_service(signer, ECS, operation, body).await
    }

    /// Sends `service`'s operation `operation` with JSON `body`, signed by `signer`.
    pub async fn call_service(
        &mut self,
        signer: &Signer,
        service: Service,
        operation: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes)> {
        let request = signer.request(service, self.port, operation, body)?;
        self.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// `GET path`, for health checks.
    pub async fn get(&mut self, path: &str) -> Result<StatusCode> {
        let request = Request::get(path)
            .header("host", format!("127.0.0.1:{}", self.port))
            .body(Full::new(Bytes::new()))?;
        self.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await.map_err(|e| anyhow!(e))?;
        Ok(status)
    }
}

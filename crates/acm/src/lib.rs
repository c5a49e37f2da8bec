//! AWS Certificate Manager (AWS JSON 1.1, `X-Amz-Target: CertificateManager.<Operation>`,
//! SigV4 `acm`): imported certificates — what load balancers' HTTPS listeners present.
//! ImportCertificate (and re-import), Describe, List, Get, Delete (not while a listener uses
//! one: [`CertificateUsers`], wired to ELBv2) and tags. Kept as one document of the region's
//! store (`acm/certificates`); the private keys live there as the rest of the region's state
//! does, in the server's data directory (mode 0700), until secrets are encrypted at rest.

mod handlers;
pub mod parse;
pub mod service;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use flotilla_api::arn::ArnScope;
use flotilla_api::{ApiError, ErrorCode};
use flotilla_store::{Document, Store, StoreError};
use serde::{Deserialize, Serialize};

/// SigV4 service name of ACM.
pub const SIGNING_NAME: &str = "acm";
/// The `X-Amz-Target` prefix of ACM's operations.
pub const TARGET_PREFIX: &str = "CertificateManager.";

const KEY: &str = "acm/certificates";

/// A tag of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: Option<String>,
}

/// An imported certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub arn: String,
    /// PEM, as imported.
    pub certificate: String,
    pub chain: Option<String>,
    pub private_key: String,
    pub imported_at: f64,
    pub created_at: f64,
    pub detail: parse::Detail,
    pub tags: Vec<Tag>,
}

/// Every certificate of a region, by ARN.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Certificates {
    pub by_arn: BTreeMap<String, Certificate>,
}

/// Who uses a certificate (ELBv2's listeners, wired in by the server): a certificate in use
/// cannot be deleted.
pub trait CertificateUsers: Send + Sync {
    fn users(&self, certificate_arn: &str) -> Vec<String>;
}

/// A certificate as a TLS server presents it.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    /// The certificate and its chain, PEM.
    pub chain: String,
    pub private_key: String,
    /// Changes when the certificate is re-imported.
    pub imported_at: f64,
}

/// One region's ACM.
pub struct App {
    pub scope: ArnScope,
    pub certificates: Document<Certificates>,
    pub users: Arc<dyn CertificateUsers>,
}

impl App {
    pub async fn open(
        scope: ArnScope,
        store: Arc<dyn Store>,
        users: Arc<dyn CertificateUsers>,
    ) -> Result<App, StoreError> {
        Ok(App { scope, certificates: Document::open(store, KEY).await?, users })
    }

    /// The certificate `arn` as a TLS server presents it, if it exists.
    pub fn served(&self, arn: &str) -> Option<Served> {
        let all = self.certificates.snapshot();
        let cert = all.by_arn.get(arn)?;
        let mut chain = cert.certificate.trim_end().to_string();
        if let Some(more) = &cert.chain {
            chain.push('\n');
            chain.push_str(more.trim_end());
        }
        chain.push('\n');
        Some(Served { chain, private_key: cert.private_key.clone(), imported_at: cert.imported_at })
    }
}

/// Runs ACM operation `operation` on JSON `body`.
pub async fn dispatch(
    app: &App,
    operation: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<Vec<u8>, ApiError> {
    if let Some(message) =
        flotilla_front::refusal::refusal_in_json(body, wire::refused_paths(operation))
    {
        return Err(ApiError::new(ErrorCode::ValidationException, message));
    }
    let now = flotilla_api::epoch_seconds(now);
    match operation {
        "ImportCertificate" => respond(handlers::import(app, decode(body)?, now).await?),
        "DescribeCertificate" => respond(handlers::describe(app, decode(body)?, now)?),
        "ListCertificates" => respond(handlers::list(app, decode(body)?, now)?),
        "GetCertificate" => respond(handlers::get(app, decode(body)?)?),
        "DeleteCertificate" => respond(handlers::delete(app, decode(body)?).await?),
        "AddTagsToCertificate" => respond(handlers::add_tags(app, decode(body)?).await?),
        "RemoveTagsFromCertificate" => respond(handlers::remove_tags(app, decode(body)?).await?),
        "ListTagsForCertificate" => respond(handlers::list_tags(app, decode(body)?)?),
        other => Err(ApiError::new(
            ErrorCode::UnknownOperationException,
            format!("The operation {other} is not served here (ACM here imports certificates for load balancers)"),
        )),
    }
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| match flotilla_api::missing_member(&e) {
        Some(member) => ApiError::new(
            ErrorCode::ValidationException,
            format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"),
        ),
        None => ApiError::new(ErrorCode::SerializationException, e.to_string()),
    })
}

fn respond(value: impl Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(&value).map_err(|e| {
        ApiError::new(ErrorCode::InternalServiceFault, format!("cannot encode the answer: {e}"))
    })
}

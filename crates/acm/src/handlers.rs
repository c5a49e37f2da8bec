//! ACM's operations over the region's certificates.

use base64::Engine;
use flotilla_api::{ApiError, ErrorCode};

use crate::{parse, wire, App, Certificate, Tag};

/// ACM's limit of tags per certificate.
const MAX_TAGS: usize = 50;
/// ListCertificates' key types when `Includes.keyTypes` is not given (ACM's default filter).
const DEFAULT_KEY_TYPES: [&str; 2] = ["RSA_1024", "RSA_2048"];

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterException, message)
}

fn not_found(arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFoundException,
        format!("Could not find certificate {arn}."),
    )
}

/// A blob of the request: base64 (as AWS JSON carries blobs) of PEM text.
fn blob(name: &str, value: &str) -> Result<Vec<u8>, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| invalid(format!("{name} must be base64 (of PEM text)")))
}

/// Checks `arn` is a certificate ARN of this region and account.
fn check_arn(app: &App, arn: &str) -> Result<(), ApiError> {
    let prefix = format!("arn:aws:acm:{}:{}:certificate/", app.scope.region, app.scope.account_id);
    match arn.strip_prefix(&prefix) {
        Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') => {
            Ok(())
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidArnException,
            format!("The certificate ARN {arn} is not valid for this region and account."),
        )),
    }
}

fn checked_tags(tags: Vec<wire::Tag>) -> Result<Vec<Tag>, ApiError> {
    tags.into_iter()
        .map(|t| {
            if t.key.is_empty() || t.key.chars().count() > 128 || t.key.starts_with("aws:") {
                return Err(ApiError::new(
                    ErrorCode::InvalidTagException,
                    format!("The tag key '{}' is not valid.", t.key),
                ));
            }
            if t.value.as_ref().is_some_and(|v| v.chars().count() > 256) {
                return Err(ApiError::new(
                    ErrorCode::InvalidTagException,
                    format!("The value of tag '{}' is longer than 256 characters.", t.key),
                ));
            }
            Ok(Tag { key: t.key, value: t.value })
        })
        .collect()
}

fn put_tags(held: &mut Vec<Tag>, tags: Vec<Tag>) -> Result<(), ApiError> {
    for tag in tags {
        match held.iter_mut().find(|t| t.key == tag.key) {
            Some(existing) => existing.value = tag.value,
            None => held.push(tag),
        }
    }
    if held.len() > MAX_TAGS {
        return Err(ApiError::new(
            ErrorCode::TooManyTagsException,
            format!("A certificate can have at most {MAX_TAGS} tags."),
        ));
    }
    Ok(())
}

fn store_error(e: flotilla_store::StoreError) -> ApiError {
    ApiError::new(ErrorCode::InternalServiceFault, format!("the store: {e}"))
}

pub async fn import(
    app: &App,
    input: wire::ImportCertificateRequest,
    now: f64,
) -> Result<wire::ImportCertificateResponse, ApiError> {
    let certificate = blob("Certificate", &input.certificate)?;
    let private_key = blob("PrivateKey", &input.private_key)?;
    let chain =
        input.certificate_chain.as_deref().map(|c| blob("CertificateChain", c)).transpose()?;
    let detail =
        parse::check(&certificate, &private_key, chain.as_deref(), now).map_err(|e| match e {
            parse::ImportError::Expired => {
                ApiError::new(ErrorCode::ValidationException, e.to_string())
            }
            other => invalid(other.to_string()),
        })?;
    let text = |bytes: Vec<u8>, name: &str| {
        String::from_utf8(bytes).map_err(|_| invalid(format!("{name} must be PEM text")))
    };
    let certificate = text(certificate, "Certificate")?;
    let private_key = text(private_key, "PrivateKey")?;
    let chain = chain.map(|c| text(c, "CertificateChain")).transpose()?;
    let tags = checked_tags(input.tags.unwrap_or_default())?;
    if let Some(arn) = &input.certificate_arn {
        check_arn(app, arn)?;
        if !tags.is_empty() {
            return Err(invalid("Tags cannot be given when a certificate is re-imported."));
        }
    }
    let arn = input.certificate_arn.clone().unwrap_or_else(|| {
        format!(
            "arn:aws:acm:{}:{}:certificate/{}",
            app.scope.region,
            app.scope.account_id,
            uuid::Uuid::new_v4()
        )
    });
    let reimport = input.certificate_arn.is_some();
    app.certificates
        .change(|all| {
            let created_at = match all.by_arn.get(&arn) {
                Some(existing) => existing.created_at,
                None if reimport => return Err(not_found(&arn)),
                None => now,
            };
            let mut held = all.by_arn.get(&arn).map(|c| c.tags.clone()).unwrap_or_default();
            put_tags(&mut held, tags)?;
            all.by_arn.insert(
                arn.clone(),
                Certificate {
                    arn: arn.clone(),
                    certificate,
                    chain,
                    private_key,
                    imported_at: now,
                    created_at,
                    detail,
                    tags: held,
                },
            );
            Ok(())
        })
        .await
        .map_err(store_error)??;
    Ok(wire::ImportCertificateResponse { certificate_arn: Some(arn) })
}

/// `EXPIRED` once past its end, else `ISSUED` (an imported certificate needs no validation).
fn status(cert: &Certificate, now: f64) -> &'static str {
    if cert.detail.not_after < now {
        "EXPIRED"
    } else {
        "ISSUED"
    }
}

pub fn describe(
    app: &App,
    input: wire::DescribeCertificateRequest,
    now: f64,
) -> Result<wire::DescribeCertificateResponse, ApiError> {
    check_arn(app, &input.certificate_arn)?;
    let all = app.certificates.snapshot();
    let cert =
        all.by_arn.get(&input.certificate_arn).ok_or_else(|| not_found(&input.certificate_arn))?;
    let d = &cert.detail;
    Ok(wire::DescribeCertificateResponse {
        certificate: Some(wire::CertificateDetail {
            certificate_arn: Some(cert.arn.clone()),
            domain_name: Some(d.domain_name.clone()),
            subject_alternative_names: Some(d.subject_alternative_names.clone()),
            serial: Some(d.serial.clone()),
            subject: Some(d.subject.clone()),
            issuer: Some(d.issuer.clone()),
            created_at: Some(cert.created_at),
            imported_at: Some(cert.imported_at),
            status: Some(status(cert, now).into()),
            not_before: Some(d.not_before),
            not_after: Some(d.not_after),
            key_algorithm: Some(d.key_algorithm.clone()),
            signature_algorithm: Some(d.signature_algorithm.clone()),
            in_use_by: Some(app.users.users(&cert.arn)),
            r#type: Some("IMPORTED".into()),
            renewal_eligibility: Some("INELIGIBLE".into()),
            ..Default::default()
        }),
    })
}

pub fn list(
    app: &App,
    input: wire::ListCertificatesRequest,
    now: f64,
) -> Result<wire::ListCertificatesResponse, ApiError> {
    let size = match input.max_items {
        None => 1000,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::new(
                ErrorCode::ValidationException,
                format!("MaxItems must be between 1 and 1000, not {n}"),
            ))
        }
    };
    let key_types: Vec<String> = input
        .includes
        .and_then(|f| f.key_types)
        .unwrap_or_else(|| DEFAULT_KEY_TYPES.iter().map(|s| s.to_string()).collect());
    let statuses = input.certificate_statuses.unwrap_or_default();
    let all = app.certificates.snapshot();
    let mut certs: Vec<&Certificate> = all
        .by_arn
        .values()
        .filter(|c| key_types.contains(&c.detail.key_algorithm))
        .filter(|c| statuses.is_empty() || statuses.iter().any(|s| s == status(c, now)))
        .collect();
    // Oldest first unless told otherwise (CREATED_AT is the only sort ACM has).
    certs.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then(a.arn.cmp(&b.arn)));
    if input.sort_order.as_deref() == Some("DESCENDING") {
        certs.reverse();
    }
    let start = match input.next_token.as_deref() {
        None => 0,
        Some(token) => token
            .strip_prefix("flotilla-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= certs.len())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidParameterException,
                    "The NextToken is not one this server gave.",
                )
            })?,
    };
    let end = (start + size).min(certs.len());
    let summaries = certs[start..end]
        .iter()
        .map(|c| wire::CertificateSummary {
            certificate_arn: Some(c.arn.clone()),
            domain_name: Some(c.detail.domain_name.clone()),
            subject_alternative_name_summaries: Some(c.detail.subject_alternative_names.clone()),
            has_additional_subject_alternative_names: Some(false),
            status: Some(status(c, now).into()),
            r#type: Some("IMPORTED".into()),
            key_algorithm: Some(c.detail.key_algorithm.clone()),
            in_use: Some(!app.users.users(&c.arn).is_empty()),
            renewal_eligibility: Some("INELIGIBLE".into()),
            not_before: Some(c.detail.not_before),
            not_after: Some(c.detail.not_after),
            created_at: Some(c.created_at),
            imported_at: Some(c.imported_at),
            ..Default::default()
        })
        .collect();
    Ok(wire::ListCertificatesResponse {
        certificate_summary_list: Some(summaries),
        next_token: (end < certs.len()).then(|| format!("flotilla-{end}")),
    })
}

pub fn get(
    app: &App,
    input: wire::GetCertificateRequest,
) -> Result<wire::GetCertificateResponse, ApiError> {
    check_arn(app, &input.certificate_arn)?;
    let all = app.certificates.snapshot();
    let cert =
        all.by_arn.get(&input.certificate_arn).ok_or_else(|| not_found(&input.certificate_arn))?;
    Ok(wire::GetCertificateResponse {
        certificate: Some(cert.certificate.clone()),
        certificate_chain: cert.chain.clone(),
    })
}

pub async fn delete(
    app: &App,
    input: wire::DeleteCertificateRequest,
) -> Result<serde_json::Value, ApiError> {
    check_arn(app, &input.certificate_arn)?;
    let arn = input.certificate_arn;
    app.certificates
        .change(|all| {
            if !all.by_arn.contains_key(&arn) {
                return Err(not_found(&arn));
            }
            let users = app.users.users(&arn);
            if !users.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::ResourceInUseException,
                    format!("Certificate {arn} in use by {}", users.join(", ")),
                ));
            }
            all.by_arn.remove(&arn);
            Ok(())
        })
        .await
        .map_err(store_error)??;
    Ok(serde_json::json!({}))
}

pub async fn add_tags(
    app: &App,
    input: wire::AddTagsToCertificateRequest,
) -> Result<serde_json::Value, ApiError> {
    check_arn(app, &input.certificate_arn)?;
    let tags = checked_tags(input.tags)?;
    let arn = input.certificate_arn;
    app.certificates
        .change(|all| {
            let cert = all.by_arn.get_mut(&arn).ok_or_else(|| not_found(&arn))?;
            put_tags(&mut cert.tags, tags)
        })
        .await
        .map_err(store_error)??;
    Ok(serde_json::json!({}))
}

pub async fn remove_tags(
    app: &App,
    input: wire::RemoveTagsFromCertificateRequest,
) -> Result<serde_json::Value, ApiError> {
    check_arn(app, &input.certificate_arn)?;
    let arn = input.certificate_arn;
    app.certificates
        .change(|all| {
            let cert = all.by_arn.get_mut(&arn).ok_or_else(|| not_found(&arn))?;
            // A tag named with a value goes only when the value matches too.
            cert.tags.retain(|held| {
                !input
                    .tags
                    .iter()
                    .any(|t| t.key == held.key && (t.value.is_none() || t.value == held.value))
            });
            Ok(())
        })
        .await
        .map_err(store_error)??;
    Ok(serde_json::json!({}))
}

pub fn list_tags(
    app: &App,
    input: wire::ListTagsForCertificateRequest,
) -> Result<wire::ListTagsForCertificateResponse, ApiError> {
    check_arn(app, &input.certificate_arn)?;
    let all = app.certificates.snapshot();
    let cert =
        all.by_arn.get(&input.certificate_arn).ok_or_else(|| not_found(&input.certificate_arn))?;
    Ok(wire::ListTagsForCertificateResponse {
        tags: Some(
            cert.tags
                .iter()
                .map(|t| wire::Tag { key: t.key.clone(), value: t.value.clone() })
                .collect(),
        ),
    })
}

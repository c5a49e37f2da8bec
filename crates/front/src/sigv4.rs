//! SigV4 verification of incoming requests, signed in the `Authorization` header or presigned in
//! the query string (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
//! `X-Amz-SignedHeaders`, `X-Amz-Signature`), with session tokens (`X-Amz-Security-Token`).
//!
//! Verification is split in two so that no body is read for a request that can be refused
//! without it: [`check`] does everything the head allows (the form of the signature, the date,
//! the scope, which headers must be signed, the key and its session token) and returns a
//! [`Pending`] signature; [`Pending::finish`] takes the payload's hash and compares the HMAC.
//! The signing key and HMAC come from the `aws-sigv4` crate; comparisons are constant-time.

mod canonical;

use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::caller::{Caller, KeyStore};
use crate::error::WireError;
use crate::regions::ServedRegions;
use canonical::{canonical_path, canonical_query, canonical_value};

/// How far a request's `X-Amz-Date` may be from the server's clock, as AWS allows.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// The longest a presigned request may stay valid (`X-Amz-Expires`), as AWS allows: 7 days.
pub const MAX_PRESIGNED_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Headers that must be among the signed headers whenever the request carries them: a
/// signature must cover which operation it is for, when it was made, with which session and
/// over which payload (else a captured request can be re-targeted or replayed differently).
const MUST_SIGN_WHEN_PRESENT: &[&str] =
    &["x-amz-target", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"];

/// A request's head: what a signature covers besides the body.
pub struct RequestHead<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string (without `?`).
    pub query: &'a str,
    /// Header names lower-case; repeated headers appear repeatedly.
    pub headers: &'a [(String, String)],
}

impl RequestHead<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// How a request carries its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Header,
    /// Presigned: valid for `expires` after its `X-Amz-Date`.
    Query {
        expires: Duration,
    },
}

/// A signature as the request presents it, parsed but not verified.
#[derive(Debug, Clone)]
pub struct Presented {
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    scope_date: String,
    pub region: String,
    /// The service the credential scope names (its signing name).
    pub service: String,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    signed_at: SystemTime,
    session_token: Option<String>,
    pub carrier: Carrier,
}

/// The `Name=value` parameters of a query string, percent-decoded.
fn query_params(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (canonical::percent_decode(k), canonical::percent_decode(v))
    })
}

fn parse_amz_date(value: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(value, &format).ok().map(|t| t.assume_utc())
}

/// Splits `AKID/20240101/us-east-1/ecs/aws4_request`.
fn parse_credential(credential: &str) -> Result<[String; 4], WireError> {
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(WireError::incomplete_signature(format!(
            "Credential should be scoped to a valid region, not '{credential}'"
        )));
    };
    if terminator != "aws4_request" {
        return Err(WireError::invalid_signature(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'"
        )));
    }
    Ok([access_key_id, date, region, service].map(str::to_string))
}

impl Presented {
    /// Reads the request's signature; `Ok(None)` when it carries none at all.
    pub fn parse(head: &RequestHead<'_>) -> Result<Option<Presented>, WireError> {
        let authorization = head.header("authorization");
        let presigned = query_params(head.query).any(|(k, _)| k == "X-Amz-Algorithm");
        match (authorization, presigned) {
            (None, false) => Ok(None),
            (Some(_), true) => Err(WireError::incomplete_signature(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified",
            )),
            (Some(value), false) => Self::from_header(head, value).map(Some),
            (None, true) => Self::from_query(head).map(Some),
        }
    }

    fn from_header(head: &RequestHead<'_>, value: &str) -> Result<Presented, WireError> {
        let incomplete = |what: &str| {
            WireError::incomplete_signature(format!(
                "Authorization header requires '{what}' parameter. Authorization={value}"
            ))
        };
        let rest = value.strip_prefix(ALGORITHM).ok_or_else(|| {
            WireError::incomplete_signature(format!(
                "unsupported signing algorithm: only {ALGORITHM} is accepted"
            ))
        })?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed_headers = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let credential = credential.ok_or_else(|| incomplete("Credential"))?;
        let signed_headers = signed_headers.ok_or_else(|| incomplete("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| incomplete("Signature"))?;
        let amz_date = head.header("x-amz-date").ok_or_else(|| {
            WireError::incomplete_signature("the request must carry an X-Amz-Date header")
        })?;
        Self::build(
            credential,
            signed_headers,
            signature,
            amz_date,
            head.header("x-amz-security-token"),
            Carrier::Header,
        )
    }

    fn from_query(head: &RequestHead<'_>) -> Result<Presented, WireError> {
        let params: Vec<(String, String)> = query_params(head.query).collect();
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let required = |name: &str| {
            param(name).ok_or_else(|| {
                WireError::incomplete_signature(format!(
                    "a presigned request requires the query parameter {name}"
                ))
            })
        };
        if required("X-Amz-Algorithm")? != ALGORITHM {
            return Err(WireError::incomplete_signature(format!(
                "unsupported signing algorithm: only {ALGORITHM} is accepted"
            )));
        }
        let expires = required("X-Amz-Expires")?;
        let expires = expires
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
            .filter(|d| !d.is_zero() && *d <= MAX_PRESIGNED_EXPIRY)
            .ok_or_else(|| {
                WireError::incomplete_signature(format!(
                    "X-Amz-Expires must be a number of seconds from 1 to {}, not '{expires}'",
                    MAX_PRESIGNED_EXPIRY.as_secs()
                ))
            })?;
        Self::build(
            required("X-Amz-Credential")?,
            required("X-Amz-SignedHeaders")?,
            required("X-Amz-Signature")?,
            required("X-Amz-Date")?,
            param("X-Amz-Security-Token"),
            Carrier::Query { expires },
        )
    }

    fn build(
        credential: &str,
        signed_headers: &str,
        signature: &str,
        amz_date: &str,
        session_token: Option<&str>,
        carrier: Carrier,
    ) -> Result<Presented, WireError> {
        let [access_key_id, scope_date, region, service] = parse_credential(credential)?;
        let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
            WireError::incomplete_signature(format!(
                "X-Amz-Date '{amz_date}' is not in the form YYYYMMDDTHHMMSSZ"
            ))
        })?;
        Ok(Presented {
            access_key_id,
            scope_date,
            region,
            service,
            signed_headers: signed_headers.split(';').map(str::to_string).collect(),
            signature: signature.to_string(),
            amz_date: amz_date.to_string(),
            signed_at: signed_at.into(),
            session_token: session_token.map(str::to_string),
            carrier,
        })
    }
}

/// What the server expects of a signature: a region it serves and the service's signing name.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub regions: &'a ServedRegions,
    pub service: &'a str,
}

/// A signature whose every check but the HMAC passed.
pub struct Pending {
    /// The canonical request up to (and with) its signed-headers line and a newline.
    canonical_without_payload: String,
    /// Derived from the secret: never shown (see `Debug`).
    signing_key: Vec<u8>,
    scope: String,
    amz_date: String,
    signature: String,
    declared_payload_hash: Option<String>,
    caller: Caller,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("caller", &self.caller).finish_non_exhaustive()
    }
}

/// Every check a signature can pass before the body is read: its date (15 minutes of skew; a
/// presigned one until it expires), its scope (region, service, date), the headers it must
/// cover, the payload form, the access key and its session token.
pub fn check(
    presented: Presented,
    head: &RequestHead<'_>,
    expected: Expected<'_>,
    now: SystemTime,
    keys: &dyn KeyStore,
) -> Result<Pending, WireError> {
    let p = presented;
    if !p.amz_date.starts_with(&p.scope_date) || p.scope_date.len() != 8 {
        return Err(WireError::invalid_signature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            p.scope_date,
            &p.amz_date[..8.min(p.amz_date.len())]
        )));
    }
    check_time(&p, now)?;
    if !expected.regions.serves(&p.region) {
        // AWS's words for a region its endpoint does not serve.
        return Err(WireError::invalid_signature(
            "Credential should be scoped to a valid region.".to_string(),
        ));
    }
    if p.service != expected.service {
        return Err(WireError::invalid_signature(format!(
            "Credential should be scoped to correct service: '{}', not '{}'",
            expected.service, p.service
        )));
    }
    check_signed_headers(&p, head)?;
    let declared_payload_hash = declared_payload_hash(head)?;

    let key = keys.key(&p.access_key_id).ok_or_else(WireError::unrecognized_client)?;
    let token_matches = match (&key.session_token, &p.session_token) {
        (None, None) => true,
        (Some(expected), Some(presented)) => {
            bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
        }
        _ => false,
    };
    if !token_matches {
        return Err(WireError::unrecognized_client());
    }
    if key.expires_at.is_some_and(|expires| expires <= now) {
        return Err(WireError::expired_token());
    }

    let mut canonical = String::with_capacity(512);
    canonical.push_str(head.method);
    canonical.push('\n');
    canonical.push_str(&canonical_path(head.path));
    canonical.push('\n');
    let skip_signature = matches!(p.carrier, Carrier::Query { .. });
    canonical.push_str(&canonical_query(head.query, skip_signature));
    canonical.push('\n');
    for name in &p.signed_headers {
        let values: Vec<String> = head
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| canonical_value(v))
            .collect();
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(&values.join(","));
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&p.signed_headers.join(";"));
    canonical.push('\n');

    let signing_key = aws_sigv4::sign::v4::generate_signing_key(
        &key.secret_access_key,
        p.signed_at,
        &p.region,
        &p.service,
    )
    .as_ref()
    .to_vec();
    Ok(Pending {
        canonical_without_payload: canonical,
        signing_key,
        scope: format!("{}/{}/{}/aws4_request", p.scope_date, p.region, p.service),
        amz_date: p.amz_date,
        signature: p.signature,
        declared_payload_hash,
        caller: Caller {
            access_key_id: p.access_key_id,
            account_id: key.account_id,
            principal_arn: key.principal_arn,
            region: p.region,
            temporary: key.session_token.is_some(),
        },
    })
}

fn check_time(p: &Presented, now: SystemTime) -> Result<(), WireError> {
    let skew = |a: SystemTime, b: SystemTime| a.duration_since(b).unwrap_or_default();
    match p.carrier {
        Carrier::Header => {
            let off = skew(now, p.signed_at).max(skew(p.signed_at, now));
            if off > MAX_CLOCK_SKEW {
                return Err(WireError::invalid_signature(format!(
                    "Signature expired: {} is more than 15 minutes away from the server's time",
                    p.amz_date
                )));
            }
        }
        Carrier::Query { expires } => {
            if skew(p.signed_at, now) > MAX_CLOCK_SKEW {
                return Err(WireError::invalid_signature(format!(
                    "Signature not yet current: {} is more than 15 minutes ahead of the server's time",
                    p.amz_date
                )));
            }
            if skew(now, p.signed_at) > expires {
                return Err(WireError::invalid_signature(format!(
                    "Signature expired: the request presigned at {} expired after {} seconds",
                    p.amz_date,
                    expires.as_secs()
                )));
            }
        }
    }
    Ok(())
}

/// `host`, and every header of [`MUST_SIGN_WHEN_PRESENT`] the request carries, must be signed.
fn check_signed_headers(p: &Presented, head: &RequestHead<'_>) -> Result<(), WireError> {
    let signed = |name: &str| p.signed_headers.iter().any(|h| h == name);
    if !signed("host") {
        return Err(WireError::incomplete_signature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    for name in MUST_SIGN_WHEN_PRESENT {
        if head.header(name).is_some() && !signed(name) {
            return Err(WireError::incomplete_signature(format!(
                "'{name}' is present in the request and must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
    }
    Ok(())
}

/// The payload hash a signed `x-amz-content-sha256` declares. `UNSIGNED-PAYLOAD` and streaming
/// payloads are refused: every API served here signs its whole body.
fn declared_payload_hash(head: &RequestHead<'_>) -> Result<Option<String>, WireError> {
    let Some(value) = head.header("x-amz-content-sha256") else { return Ok(None) };
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Some(value.to_ascii_lowercase()));
    }
    Err(WireError::invalid_signature(format!(
        "x-amz-content-sha256 '{value}' is not accepted: this API requires the SHA-256 of the whole payload to be signed"
    )))
}

impl Pending {
    /// The payload hash the client signed in `x-amz-content-sha256`, if any: with it the
    /// signature can be verified before the body is read (then the body checked against it).
    pub fn declared_payload_hash(&self) -> Option<&str> {
        self.declared_payload_hash.as_deref()
    }

    /// Compares the signature over `payload_hash` (the hex SHA-256 of the body).
    pub fn finish(self, payload_hash: &str) -> Result<Caller, WireError> {
        let mut canonical = self.canonical_without_payload;
        canonical.push_str(payload_hash);
        let string_to_sign = format!(
            "{ALGORITHM}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let expected =
            aws_sigv4::sign::v4::calculate_signature(&self.signing_key, string_to_sign.as_bytes());
        if expected.as_bytes().ct_eq(self.signature.as_bytes()).into() {
            Ok(self.caller)
        } else {
            Err(WireError::invalid_signature(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ))
        }
    }
}

/// The hex SHA-256 of a body, as a signature's payload hash.
pub fn payload_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Checks a body against the hash its signature declared (constant-time).
pub fn body_matches(declared: &str, body: &[u8]) -> Result<(), WireError> {
    if payload_hash(body).as_bytes().ct_eq(declared.as_bytes()).into() {
        Ok(())
    } else {
        Err(WireError::invalid_signature(
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ))
    }
}

#[cfg(test)]
mod tests;

//! SigV4 verification of incoming requests (header-based `Authorization`).
//!
//! The canonical request is rebuilt from what the client says it signed (`SignedHeaders`); the
//! signing key and HMAC come from the `aws-sigv4` crate, the comparison is constant-time.

use std::time::{Duration, SystemTime};

use flotilla_api::{ApiError, ErrorCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// How far a request's `X-Amz-Date` may be from the server's clock, as AWS allows.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The parts of a request that a signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// Header names lower-case; repeated headers appear repeatedly.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Who signed a request, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
}

/// Parsed `Authorization` header.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn err(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, ApiError> {
    let incomplete = |what: &str| {
        err(
            ErrorCode::IncompleteSignatureException,
            format!("Authorization header requires '{what}' parameter. Authorization={value}"),
        )
    };
    let rest = value.strip_prefix(ALGORITHM).ok_or_else(|| {
        err(
            ErrorCode::IncompleteSignatureException,
            format!("unsupported signing algorithm: only {ALGORITHM} is accepted"),
        )
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
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(err(
            ErrorCode::IncompleteSignatureException,
            format!("Credential should be scoped to a valid region, not '{credential}'"),
        ));
    };
    if terminator != "aws4_request" {
        return Err(err(
            ErrorCode::InvalidSignatureException,
            format!("Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'"),
        ));
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed_headers.split(';').collect(),
        signature,
    })
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn parse_amz_date(value: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(value, &format).ok().map(|t| t.assume_utc())
}

/// Collapses runs of spaces and trims, as SigV4's canonical header values require.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// URI-encodes one path segment or query component the SigV4 way (RFC 3986 unreserved kept).
fn uri_encode(input: &str, out: &mut String) {
    for byte in input.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let (mut ek, mut ev) = (String::new(), String::new());
            uri_encode(&percent_decode(k), &mut ek);
            uri_encode(&percent_decode(v), &mut ev);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn canonical_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(&percent_decode(segment), &mut out);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Verifies the request's signature for `service` in `region`, looking the secret up with
/// `secret_for` (which answers `None` for an unknown access key).
pub fn verify(
    request: &SignedRequest<'_>,
    region: &str,
    service: &str,
    now: SystemTime,
    secret_for: impl FnOnce(&str) -> Option<String>,
) -> Result<Caller, ApiError> {
    let Some(authorization) = header(request.headers, "authorization") else {
        return Err(err(
            ErrorCode::MissingAuthenticationTokenException,
            "Missing Authentication Token",
        ));
    };
    let auth = parse_authorization(authorization)?;

    let amz_date = header(request.headers, "x-amz-date").ok_or_else(|| {
        err(ErrorCode::IncompleteSignatureException, "the request must carry an X-Amz-Date header")
    })?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        err(
            ErrorCode::IncompleteSignatureException,
            format!("X-Amz-Date '{amz_date}' is not in the form YYYYMMDDTHHMMSSZ"),
        )
    })?;
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(err(
            ErrorCode::InvalidSignatureException,
            format!("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'", auth.date, &amz_date[..8.min(amz_date.len())]),
        ));
    }
    let signed_at_system: SystemTime = signed_at.into();
    let skew = match now.duration_since(signed_at_system) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > MAX_CLOCK_SKEW {
        return Err(err(
            ErrorCode::InvalidSignatureException,
            format!(
                "Signature expired: {amz_date} is more than 15 minutes away from the server's time"
            ),
        ));
    }
    if auth.region != region {
        return Err(err(
            ErrorCode::InvalidSignatureException,
            format!("Credential should be scoped to a valid region, not '{}'; this server's region is '{region}'", auth.region),
        ));
    }
    if auth.service != service {
        return Err(err(
            ErrorCode::InvalidSignatureException,
            format!(
                "Credential should be scoped to correct service: '{service}', not '{}'",
                auth.service
            ),
        ));
    }
    if !auth.signed_headers.contains(&"host") {
        return Err(err(ErrorCode::InvalidSignatureException, "the host header must be signed"));
    }

    let Some(secret) = secret_for(auth.access_key_id) else {
        return Err(err(
            ErrorCode::UnrecognizedClientException,
            "The security token included in the request is invalid.",
        ));
    };

    // The payload hash that was signed: the header's value when the client sent one (after
    // checking it really is the body's hash), else the body's hash.
    let body_hash = hex::encode(Sha256::digest(request.body));
    let payload_hash = match header(request.headers, "x-amz-content-sha256") {
        Some("UNSIGNED-PAYLOAD") => "UNSIGNED-PAYLOAD".to_string(),
        Some(claimed) if claimed != body_hash => {
            return Err(err(
                ErrorCode::InvalidSignatureException,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ))
        }
        _ => body_hash,
    };

    let mut canonical = String::with_capacity(512);
    canonical.push_str(request.method);
    canonical.push('\n');
    canonical.push_str(&canonical_path(request.path));
    canonical.push('\n');
    canonical.push_str(&canonical_query(request.query));
    canonical.push('\n');
    for name in &auth.signed_headers {
        let values: Vec<String> = request
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
    canonical.push_str(&auth.signed_headers.join(";"));
    canonical.push('\n');
    canonical.push_str(&payload_hash);

    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = aws_sigv4::sign::v4::generate_signing_key(&secret, signed_at_system, region, service);
    let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
    if expected.as_bytes().ct_eq(auth.signature.as_bytes()).into() {
        Ok(Caller { access_key_id: auth.access_key_id.to_string() })
    } else {
        Err(err(
            ErrorCode::InvalidSignatureException,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "get-vanilla" case of AWS's published SigV4 test suite.
    #[test]
    fn aws_test_suite_get_vanilla() {
        let headers = vec![
            ("host".to_string(), "example.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
            (
                "authorization".to_string(),
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31".to_string(),
            ),
        ];
        let request =
            SignedRequest { method: "GET", path: "/", query: "", headers: &headers, body: b"" };
        let now = SystemTime::from(parse_amz_date("20150830T123600Z").expect("date"));
        let secret = |_: &str| Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string());
        let caller =
            verify(&request, "us-east-1", "service", now, secret).expect("valid signature");
        assert_eq!(caller.access_key_id, "AKIDEXAMPLE");

        let wrong = |_: &str| Some("not-the-secret".to_string());
        let error = verify(&request, "us-east-1", "service", now, wrong).expect_err("bad secret");
        assert_eq!(error.code, ErrorCode::InvalidSignatureException);

        let unknown = |_: &str| None;
        let error =
            verify(&request, "us-east-1", "service", now, unknown).expect_err("unknown key");
        assert_eq!(error.code, ErrorCode::UnrecognizedClientException);

        let later = now + Duration::from_secs(16 * 60);
        let error = verify(&request, "us-east-1", "service", later, secret).expect_err("skew");
        assert!(error.message.contains("Signature expired"), "{error}");

        let error = verify(&request, "eu-west-1", "service", now, secret).expect_err("region");
        assert_eq!(error.code, ErrorCode::InvalidSignatureException);
    }

    #[test]
    fn missing_authorization_is_missing_token() {
        let request =
            SignedRequest { method: "POST", path: "/", query: "", headers: &[], body: b"{}" };
        let error =
            verify(&request, "us-east-1", "ecs", SystemTime::now(), |_| None).expect_err("missing");
        assert_eq!(error.code, ErrorCode::MissingAuthenticationTokenException);
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(canonical_query("b=2&a=1&c=x%20y"), "a=1&b=2&c=x%20y");
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path(""), "/");
    }
}

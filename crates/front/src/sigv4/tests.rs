//! SigV4 verification against AWS's published test suite and the `aws-sigv4` signer (the SDKs'
//! own), header-signed and presigned.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;

use super::*;
use crate::caller::KeyInfo;
use crate::regions::ServedRegions;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

struct Keys(Option<&'static str>);

impl KeyStore for Keys {
    fn key(&self, id: &str) -> Option<KeyInfo> {
        (id == "AKIDEXAMPLE").then(|| KeyInfo {
            secret_access_key: SECRET.into(),
            account_id: "000000000000".into(),
            principal_arn: "arn:aws:iam::000000000000:root".into(),
            session_token: self.0.map(str::to_string),
            expires_at: None,
        })
    }
}

fn at(date: &str) -> SystemTime {
    SystemTime::from(parse_amz_date(date).expect("date"))
}

fn verify(
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: &[u8],
    expected: Expected<'_>,
    now: SystemTime,
    keys: &dyn KeyStore,
) -> Result<Caller, WireError> {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let head = RequestHead { method, path, query, headers };
    let presented = Presented::parse(&head)?.ok_or_else(WireError::missing_token)?;
    let pending = check(presented, &head, expected, now, keys)?;
    match pending.declared_payload_hash().map(str::to_string) {
        Some(hash) => {
            let caller = pending.finish(&hash)?;
            body_matches(&hash, body)?;
            Ok(caller)
        }
        None => pending.finish(&payload_hash(body)),
    }
}

/// The regions of a server whose own region is us-east-1: the `aws` partition.
static SERVED: std::sync::LazyLock<ServedRegions> =
    std::sync::LazyLock::new(|| ServedRegions::new("us-east-1"));
fn service() -> Expected<'static> {
    Expected { regions: &SERVED, service: "service" }
}

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
    let now = at("20150830T123600Z");
    let caller = verify("GET", "/", &headers, b"", service(), now, &Keys(None)).expect("valid");
    assert_eq!(caller.access_key_id, "AKIDEXAMPLE");
    assert_eq!(caller.region, "us-east-1");
    assert_eq!(caller.principal_arn, "arn:aws:iam::000000000000:root");

    struct Wrong;
    impl KeyStore for Wrong {
        fn key(&self, _: &str) -> Option<KeyInfo> {
            Keys(None).key("AKIDEXAMPLE").map(|k| KeyInfo { secret_access_key: "nope".into(), ..k })
        }
    }
    let error = verify("GET", "/", &headers, b"", service(), now, &Wrong).expect_err("bad secret");
    assert_eq!(error.code, "InvalidSignatureException");

    struct Nobody;
    impl KeyStore for Nobody {
        fn key(&self, _: &str) -> Option<KeyInfo> {
            None
        }
    }
    let error = verify("GET", "/", &headers, b"", service(), now, &Nobody).expect_err("unknown");
    assert_eq!(error.code, "UnrecognizedClientException");

    let later = now + Duration::from_secs(16 * 60);
    let error = verify("GET", "/", &headers, b"", service(), later, &Keys(None)).expect_err("skew");
    assert!(error.message.contains("Signature expired"), "{error}");

    // A region outside the partition is refused, in AWS's words, before the signature is checked.
    let mut elsewhere = headers.clone();
    elsewhere[2].1 = elsewhere[2].1.replace("/us-east-1/", "/xx-fake-1/");
    let error =
        verify("GET", "/", &elsewhere, b"", service(), now, &Keys(None)).expect_err("region");
    assert_eq!(error.code, "InvalidSignatureException");
    assert_eq!(error.message, "Credential should be scoped to a valid region.");
}

#[test]
fn no_signature_at_all_is_none() {
    let head = RequestHead { method: "POST", path: "/", query: "", headers: &[] };
    assert!(Presented::parse(&head).expect("parses").is_none());
}

/// Signs like the SDKs do: every header given is signed.
fn signed(
    headers: &[(&str, &str)],
    body: &[u8],
    token: Option<&str>,
    settings: SigningSettings,
    time: SystemTime,
) -> (String, Vec<(String, String)>) {
    let identity = aws_credential_types::Credentials::new(
        "AKIDEXAMPLE",
        SECRET,
        token.map(str::to_string),
        None,
        "t",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("monitoring")
        .time(time)
        .settings(settings)
        .build()
        .expect("params")
        .into();
    let url = "http://127.0.0.1/?Action=ListMetrics&Version=2010-08-01";
    let request =
        SignableRequest::new("GET", url, headers.iter().copied(), SignableBody::Bytes(body))
            .expect("signable");
    let (instructions, _) = sign(request, &params).expect("sign").into_parts();
    let mut all: Vec<(String, String)> =
        headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for (name, value) in instructions.headers() {
        all.push((name.to_string(), value.to_string()));
    }
    let mut query = "/?Action=ListMetrics&Version=2010-08-01".to_string();
    for (name, value) in instructions.params() {
        let mut encoded = String::new();
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                encoded.push(b as char);
            } else {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
        query.push_str(&format!("&{name}={encoded}"));
    }
    (query, all)
}

fn monitoring() -> Expected<'static> {
    Expected { regions: &SERVED, service: "monitoring" }
}

fn presign_settings(expires: u64) -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(expires));
    settings
}

#[test]
fn presigned_requests_verify_until_they_expire() {
    let time = SystemTime::now() - Duration::from_secs(60);
    let (url, headers) = signed(&[("host", "127.0.0.1")], b"", None, presign_settings(300), time);
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let now = SystemTime::now();
    verify("GET", &url, &headers, b"", monitoring(), now, &Keys(None)).expect("valid presigned");

    let tampered = url.replace("ListMetrics", "ListMetricz");
    let error = verify("GET", &tampered, &headers, b"", monitoring(), now, &Keys(None))
        .expect_err("tampered");
    assert_eq!(error.code, "InvalidSignatureException");

    let expired = now + Duration::from_secs(300);
    let error = verify("GET", &url, &headers, b"", monitoring(), expired, &Keys(None))
        .expect_err("expired");
    assert!(error.message.contains("expired"), "{error}");

    let mut both = headers.clone();
    both.push(("authorization".into(), "AWS4-HMAC-SHA256 Credential=x".into()));
    let error = verify("GET", &url, &both, b"", monitoring(), now, &Keys(None)).expect_err("both");
    assert_eq!(error.code, "IncompleteSignatureException");
}

#[test]
fn session_tokens_must_match_the_key() {
    let now = SystemTime::now();
    let target = ("x-amz-target", "GraniteServiceVersion20100801.ListMetrics");
    let (url, headers) =
        signed(&[("host", "h"), target], b"{}", Some("tok"), SigningSettings::default(), now);
    verify("GET", &url, &headers, b"{}", monitoring(), now, &Keys(Some("tok"))).expect("session");
    for keys in [Keys(None), Keys(Some("other"))] {
        let error =
            verify("GET", &url, &headers, b"{}", monitoring(), now, &keys).expect_err("tok");
        assert_eq!(error.code, "UnrecognizedClientException");
    }
    let (url, headers) = signed(&[("host", "h")], b"{}", None, SigningSettings::default(), now);
    let error = verify("GET", &url, &headers, b"{}", monitoring(), now, &Keys(Some("tok")))
        .expect_err("none");
    assert_eq!(error.code, "UnrecognizedClientException");
}

/// A session key whose expiry has come.
struct Expired;

impl KeyStore for Expired {
    fn key(&self, id: &str) -> Option<KeyInfo> {
        let expires_at = Some(SystemTime::now() - Duration::from_secs(1));
        Keys(Some("tok")).key(id).map(|key| KeyInfo { expires_at, ..key })
    }
}

#[test]
fn expired_session_keys_answer_expired_token() {
    let now = SystemTime::now();
    let (url, headers) =
        signed(&[("host", "h")], b"{}", Some("tok"), SigningSettings::default(), now);
    let error =
        verify("GET", &url, &headers, b"{}", monitoring(), now, &Expired).expect_err("expired");
    assert_eq!(
        (error.code.as_ref(), error.query_code()),
        ("ExpiredTokenException", "ExpiredToken")
    );
    let caller = verify("GET", &url, &headers, b"{}", monitoring(), now, &Keys(Some("tok")))
        .expect("the same key before its expiry");
    assert!(caller.temporary, "a session's caller is temporary");
}

#[test]
fn headers_that_name_the_operation_must_be_signed() {
    let now = SystemTime::now();
    let (url, mut headers) = signed(&[("host", "h")], b"{}", None, SigningSettings::default(), now);
    headers.push(("x-amz-target".into(), "GraniteServiceVersion20100801.ListMetrics".into()));
    let error = verify("GET", &url, &headers, b"{}", monitoring(), now, &Keys(None))
        .expect_err("unsigned target");
    assert_eq!(error.code, "IncompleteSignatureException");
    assert!(error.message.contains("x-amz-target"), "{error}");
}

#[test]
fn unsigned_payloads_are_refused_and_declared_hashes_checked() {
    let now = SystemTime::now();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    let (url, headers) = signed(&[("host", "h")], b"{}", None, settings, now);
    verify("GET", &url, &headers, b"{}", monitoring(), now, &Keys(None)).expect("declared hash");
    let error = verify("GET", &url, &headers, b"{ }", monitoring(), now, &Keys(None))
        .expect_err("other body");
    assert_eq!(error.code, "InvalidSignatureException");

    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    let identity =
        aws_credential_types::Credentials::new("AKIDEXAMPLE", SECRET, None, None, "t").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("monitoring")
        .time(now)
        .settings(settings)
        .build()
        .expect("params")
        .into();
    let request = SignableRequest::new(
        "POST",
        "http://127.0.0.1/",
        [("host", "h")].into_iter(),
        SignableBody::UnsignedPayload,
    )
    .expect("signable");
    let (instructions, _) = sign(request, &params).expect("sign").into_parts();
    let mut headers = vec![("host".to_string(), "h".to_string())];
    for (name, value) in instructions.headers() {
        headers.push((name.to_string(), value.to_string()));
    }
    let error = verify("POST", "/", &headers, b"{}", monitoring(), now, &Keys(None))
        .expect_err("unsigned payload");
    assert_eq!(error.code, "InvalidSignatureException");
    assert!(error.message.contains("UNSIGNED-PAYLOAD"), "{error}");
}

#[test]
fn canonical_query_sorts_encodes_and_skips_the_signature() {
    assert_eq!(canonical_query("b=2&a=1&c=x%20y", false), "a=1&b=2&c=x%20y");
    assert_eq!(canonical_query("b=2&X-Amz-Signature=abc&a=1", true), "a=1&b=2");
    assert_eq!(canonical_path("/"), "/");
    assert_eq!(canonical_path(""), "/");
}

//! The wire: JSON 1.1 errors, body limits, SigV4 failures, health, shutdown, credentials files.

use std::time::{Duration, SystemTime};

use crate::support::{raw_http, Flotilla, SignedRaw, REGION};

fn error_type(body: &serde_json::Value) -> &str {
    body["__type"].as_str().unwrap_or("<none>")
}

#[test]
fn healthz_answers_200_without_auth() {
    let f = Flotilla::start();
    let (status, body) =
        raw_http(f.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("http");
    assert_eq!(status, 200);
    assert_eq!(body, b"ok\n");
}

#[test]
fn malformed_json_is_a_serialization_exception() {
    let f = Flotilla::start();
    let (status, body) = f.signed_call("CreateCluster", b"{\"clusterName\": ");
    assert_eq!((status, error_type(&body)), (400, "SerializationException"), "{body}");
}

#[test]
fn wrong_member_type_is_a_serialization_exception() {
    let f = Flotilla::start();
    let (status, body) = f.signed_call("ListClusters", br#"{"maxResults": "ten"}"#);
    assert_eq!((status, error_type(&body)), (400, "SerializationException"), "{body}");
}

#[test]
fn missing_required_member_is_named() {
    let f = Flotilla::start();
    let (status, body) = f.signed_call("DeleteCluster", b"{}");
    assert_eq!((status, error_type(&body)), (400, "InvalidParameterException"), "{body}");
    assert!(body["message"].as_str().unwrap_or("").contains("cluster"), "{body}");
}

#[test]
fn unknown_members_are_ignored() {
    let f = Flotilla::start();
    let (status, body) = f.signed_call(
        "CreateCluster",
        br#"{"clusterName": "extra", "noSuchMember": [1, {"x": 2}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cluster"]["clusterName"], "extra");
    assert!(body["cluster"].get("noSuchMember").is_none());
}

#[test]
fn unknown_operation_is_reported_not_crashed() {
    let f = Flotilla::start();
    let (status, body) = f.signed_call("NoSuchOperation", b"{}");
    assert_eq!((status, error_type(&body)), (400, "UnknownOperationException"), "{body}");
    // The server is still fine afterwards.
    let (status, _) = f.signed_call("ListClusters", b"{}");
    assert_eq!(status, 200);
}

#[test]
fn oversize_body_is_refused_and_nothing_is_stored() {
    let f = Flotilla::start();
    let mut body = br#"{"clusterName": "big", "tags": [{"key": "k", "value": ""#.to_vec();
    body.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
    body.extend_from_slice(br#""}]}"#);
    let (status, answer) = f.signed_call("CreateCluster", &body);
    assert_eq!(status, 413, "{answer}");
    let (_, list) = f.signed_call("ListClusters", b"{}");
    assert!(!list.to_string().contains("cluster/big"), "{list}");
}

#[test]
fn missing_signature_is_missing_authentication_token() {
    let f = Flotilla::start();
    let raw = SignedRaw::new("ListClusters", b"{}");
    let (status, body) = raw_http(f.port, &raw.to_bytes()).expect("http");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!((status, error_type(&body)), (403, "MissingAuthenticationTokenException"), "{body}");
}

#[test]
fn unknown_access_key_is_unrecognized_client() {
    let f = Flotilla::start();
    let raw = SignedRaw::new("ListClusters", b"{}").sign(
        "AKIANOTAKEY000000000",
        "x",
        REGION,
        SystemTime::now(),
    );
    let (status, body) = raw_http(f.port, &raw.to_bytes()).expect("http");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(error_type(&body), "UnrecognizedClientException", "{body}");
    assert_eq!(status, 400);
}

#[test]
fn wrong_secret_is_an_invalid_signature() {
    let f = Flotilla::start();
    let (id, _) = f.root_key();
    let raw =
        SignedRaw::new("ListClusters", b"{}").sign(&id, "wrong-secret", REGION, SystemTime::now());
    let (status, body) = raw_http(f.port, &raw.to_bytes()).expect("http");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!((status, error_type(&body)), (403, "InvalidSignatureException"), "{body}");
}

#[test]
fn tampered_body_is_an_invalid_signature() {
    let f = Flotilla::start();
    let (id, secret) = f.root_key();
    let mut raw = SignedRaw::new("CreateCluster", br#"{"clusterName":"a"}"#).sign(
        &id,
        &secret,
        REGION,
        SystemTime::now(),
    );
    raw.body = br#"{"clusterName":"b"}"#.to_vec();
    let (status, body) = raw_http(f.port, &raw.to_bytes()).expect("http");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!((status, error_type(&body)), (403, "InvalidSignatureException"), "{body}");
}

#[test]
fn old_signature_is_expired_and_wrong_region_refused() {
    let f = Flotilla::start();
    let (id, secret) = f.root_key();
    let old = SystemTime::now() - Duration::from_secs(20 * 60);
    let raw = SignedRaw::new("ListClusters", b"{}").sign(&id, &secret, REGION, old);
    let (_, body) = raw_http(f.port, &raw.to_bytes()).expect("http");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(error_type(&body), "InvalidSignatureException", "{body}");
    assert!(body["message"].as_str().unwrap_or("").contains("expired"), "{body}");

    // Every region of the partition is served (tests/e2e/regions.rs); others are not.
    let raw =
        SignedRaw::new("ListClusters", b"{}").sign(&id, &secret, "xx-fake-1", SystemTime::now());
    let (_, body) = raw_http(f.port, &raw.to_bytes()).expect("http");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(error_type(&body), "InvalidSignatureException", "{body}");
    assert_eq!(body["message"], "Credential should be scoped to a valid region.");
}

#[tokio::test]
async fn sdk_with_wrong_secret_gets_a_typed_error() {
    let f = Flotilla::start();
    let (id, _) = f.root_key();
    let client = crate::support::client(&f.endpoint(), &id, "nope", REGION);
    let error = client.list_clusters().send().await.expect_err("must fail");
    let meta = aws_sdk_ecs::error::ProvideErrorMetadata::code(&error).map(str::to_string);
    assert_eq!(meta.as_deref(), Some("InvalidSignatureException"), "{error:?}");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut f = Flotilla::start();
    let status = f.terminate();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn credentials_files_are_private_and_env_presets_the_root_key() {
    let f = Flotilla::start_with_env(vec![
        ("FLOTILLA_ROOT_ACCESS_KEY_ID".into(), "AKIAPRESETPRESET0000".into()),
        ("FLOTILLA_ROOT_SECRET_ACCESS_KEY".into(), "preset-secret-preset-secret".into()),
    ]);
    assert_eq!(
        f.root_key(),
        ("AKIAPRESETPRESET0000".to_string(), "preset-secret-preset-secret".to_string())
    );
    use std::os::unix::fs::PermissionsExt;
    for file in ["credentials", "agent-token"] {
        let mode = std::fs::metadata(f.data_dir.join(file)).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let token = std::fs::read_to_string(f.data_dir.join("agent-token")).expect("token");
    assert!(token.trim().len() >= 32);
    let (status, _) = f.signed_call("ListClusters", b"{}");
    assert_eq!(status, 200);
}

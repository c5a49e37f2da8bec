//! The crate's behaviour through `dispatch`, as a client's JSON reaches it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flotilla_api::arn::ArnScope;
use flotilla_store::sealed::Sealer;
use flotilla_store::{EmbeddedStore, Store};
use serde_json::{json, Value};

use crate::{dispatch, App, SecretsError};

struct Fixture {
    app: App,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&dir.path().join("s.redb")).expect("store"));
    let sealer = Arc::new(Sealer::from_key(&[3u8; 32]).expect("key"));
    let scope = ArnScope::new("us-east-1", "123456789012");
    let app = App::open(scope, Arc::clone(&store), sealer).await.expect("open");
    Fixture { app, store, _dir: dir }
}

async fn call(app: &App, operation: &str, body: Value) -> Result<Value, SecretsError> {
    call_at(app, operation, body, SystemTime::now()).await
}

async fn call_at(
    app: &App,
    operation: &str,
    body: Value,
    at: SystemTime,
) -> Result<Value, SecretsError> {
    let bytes = serde_json::to_vec(&body).expect("json");
    let answer = dispatch(app, operation, &bytes, at).await?;
    Ok(serde_json::from_slice(&answer).expect("json answer"))
}

#[tokio::test]
async fn the_store_never_holds_a_value_in_clear() {
    let f = fixture().await;
    call(&f.app, "CreateSecret", json!({"Name": "db", "SecretString": "hunter2-hunter2"}))
        .await
        .expect("create");
    call(&f.app, "PutSecretValue", json!({"SecretId": "db", "SecretString": "correct-horse"}))
        .await
        .expect("put");
    let (stored, _) = f.store.range("").await.expect("range");
    for kv in stored {
        let text = String::from_utf8_lossy(&kv.value);
        assert!(!text.contains("hunter2") && !text.contains("correct-horse"), "{}", kv.key);
    }
    let got = call(&f.app, "GetSecretValue", json!({"SecretId": "db"})).await.expect("get");
    assert_eq!(got["SecretString"], "correct-horse");
}

#[tokio::test]
async fn awscurrent_moves_and_the_old_version_becomes_awsprevious() {
    let f = fixture().await;
    let first = call(&f.app, "CreateSecret", json!({"Name": "s", "SecretString": "one"}))
        .await
        .expect("create");
    let second = call(&f.app, "PutSecretValue", json!({"SecretId": "s", "SecretString": "two"}))
        .await
        .expect("put");
    let previous =
        call(&f.app, "GetSecretValue", json!({"SecretId": "s", "VersionStage": "AWSPREVIOUS"}))
            .await
            .expect("previous");
    assert_eq!(previous["SecretString"], "one");
    assert_eq!(previous["VersionId"], first["VersionId"]);
    let described = call(&f.app, "DescribeSecret", json!({"SecretId": first["ARN"]}))
        .await
        .expect("describe by ARN");
    let stages = &described["VersionIdsToStages"];
    assert_eq!(stages[second["VersionId"].as_str().expect("id")], json!(["AWSCURRENT"]));
    // A retried put (same token, same value) changes nothing; another value under it is refused.
    let token = second["VersionId"].clone();
    call(
        &f.app,
        "PutSecretValue",
        json!({"SecretId": "s", "SecretString": "two", "ClientRequestToken": token}),
    )
    .await
    .expect("a retry");
    let other = call(
        &f.app,
        "PutSecretValue",
        json!({"SecretId": "s", "SecretString": "three", "ClientRequestToken": token}),
    )
    .await;
    assert!(matches!(other, Err(SecretsError::Exists(_))), "{other:?}");
}

#[tokio::test]
async fn a_deleted_secret_answers_describe_until_its_window_ends() {
    let f = fixture().await;
    call(&f.app, "CreateSecret", json!({"Name": "gone", "SecretString": "x"}))
        .await
        .expect("create");
    let now = SystemTime::now();
    call_at(&f.app, "DeleteSecret", json!({"SecretId": "gone", "RecoveryWindowInDays": 7}), now)
        .await
        .expect("delete");
    let get = call_at(&f.app, "GetSecretValue", json!({"SecretId": "gone"}), now).await;
    assert!(matches!(get, Err(SecretsError::InvalidRequest(_))), "{get:?}");
    call_at(&f.app, "DescribeSecret", json!({"SecretId": "gone"}), now).await.expect("describe");
    let later = now + Duration::from_secs(8 * 86_400);
    let after = call_at(&f.app, "DescribeSecret", json!({"SecretId": "gone"}), later).await;
    assert!(matches!(after, Err(SecretsError::NotFound(_))), "{after:?}");
    call_at(&f.app, "CreateSecret", json!({"Name": "gone", "SecretString": "y"}), later)
        .await
        .expect("the name is free again");
}

#[tokio::test]
async fn kms_keys_and_rotation_are_refused_by_name() {
    let f = fixture().await;
    let kms = call(
        &f.app,
        "CreateSecret",
        json!({"Name": "k", "SecretString": "v", "KmsKeyId": "alias/x"}),
    )
    .await;
    match kms {
        Err(SecretsError::InvalidParameter(message)) => {
            assert!(message.contains("KmsKeyId"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let rotate = call(&f.app, "RotateSecret", json!({"SecretId": "k"})).await;
    assert!(rotate.is_err(), "{rotate:?}");
    let missing = call(&f.app, "DescribeSecret", json!({"SecretId": "k"})).await;
    assert!(matches!(missing, Err(SecretsError::NotFound(_))), "a refused create stored nothing");
}

#[tokio::test]
async fn tasks_read_json_keys_and_stages() {
    let f = fixture().await;
    let created = call(
        &f.app,
        "CreateSecret",
        json!({"Name": "app", "SecretString": "{\"user\":\"u\",\"port\":5432}"}),
    )
    .await
    .expect("create");
    let arn = created["ARN"].as_str().expect("arn");
    let now = SystemTime::now();
    let read = |suffix: &str| {
        let reference = crate::references::parse(&format!("{arn}{suffix}")).expect("reference");
        f.app.value_for_task(&reference, now)
    };
    assert_eq!(read(":user::").expect("user"), "u");
    assert_eq!(read(":port").expect("port"), "5432");
    assert!(read(":nope").is_err());
    // A partial ARN (no random suffix) names it too.
    let partial = &arn[..arn.len() - 7];
    let reference = crate::references::parse(partial).expect("partial");
    assert!(f.app.value_for_task(&reference, now).expect("value").contains("user"));
}

#[tokio::test]
async fn a_binary_value_that_is_not_base64_is_refused_and_stores_nothing() {
    let f = fixture().await;
    for bad in ["not base64!", "abc", "ab=c"] {
        let refused = call(&f.app, "CreateSecret", json!({"Name": "b", "SecretBinary": bad})).await;
        assert!(matches!(refused, Err(SecretsError::InvalidParameter(_))), "{bad}: {refused:?}");
    }
    let missing = call(&f.app, "DescribeSecret", json!({"SecretId": "b"})).await;
    assert!(matches!(missing, Err(SecretsError::NotFound(_))), "nothing was stored");
    call(&f.app, "CreateSecret", json!({"Name": "b", "SecretBinary": "AAEC/w=="}))
        .await
        .expect("base64 is taken");
    let unknown = call(&f.app, "GetRandomPassword", json!({})).await;
    assert!(matches!(unknown, Err(SecretsError::UnknownOperation(_))), "{unknown:?}");
}

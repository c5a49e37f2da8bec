//! Parameter Store through `dispatch`, as the door calls it: versions and labels, selectors,
//! the 100-version limit, paths, refusals, and SecureString values never stored in clear.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flotilla_api::arn::ArnScope;
use flotilla_store::sealed::Sealer;
use flotilla_store::{EmbeddedStore, Store};
use serde_json::{json, Value};

use crate::{dispatch, App, SsmError};

const CALLER: &str = "arn:aws:iam::123456789012:user/deployer";

struct Fixture {
    app: App,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&dir.path().join("s.redb")).expect("store"));
    let sealer = Arc::new(Sealer::from_key(&[9u8; 32]).expect("a 32-byte key"));
    let scope = ArnScope::new("eu-west-1", "123456789012");
    let app = App::open(scope, Arc::clone(&store), sealer).await.expect("open");
    Fixture { app, store, _dir: dir }
}

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)
}

async fn call(app: &App, operation: &str, body: Value) -> Result<Value, SsmError> {
    let bytes = serde_json::to_vec(&body).expect("encode");
    let answer = dispatch(app, operation, &bytes, at(0), CALLER).await?;
    Ok(serde_json::from_slice(&answer).expect("an answer is JSON"))
}

async fn ok(app: &App, operation: &str, body: Value) -> Value {
    match call(app, operation, body.clone()).await {
        Ok(answer) => answer,
        Err(e) => panic!("{operation} {body}: {e:?}"),
    }
}

async fn put(app: &App, name: &str, value: &str, overwrite: bool) -> i64 {
    let body = json!({"Name": name, "Value": value, "Type": "String", "Overwrite": overwrite});
    ok(app, "PutParameter", body).await["Version"].as_i64().expect("a version")
}

async fn get(app: &App, name: &str) -> Result<Value, SsmError> {
    call(app, "GetParameter", json!({"Name": name})).await.map(|a| a["Parameter"].clone())
}

#[tokio::test]
async fn each_put_is_a_new_version_and_selectors_pick_one() {
    let f = fixture().await;
    let app = &f.app;
    assert_eq!(put(app, "/app/db/host", "one", false).await, 1);
    assert_eq!(
        call(app, "PutParameter", json!({"Name": "/app/db/host", "Value": "x", "Type": "String"}))
            .await,
        Err(SsmError::ParameterAlreadyExists)
    );
    assert_eq!(put(app, "/app/db/host", "two", true).await, 2);
    assert_eq!(put(app, "/app/db/host", "three", true).await, 3);

    let latest = get(app, "/app/db/host").await.expect("latest");
    assert_eq!((latest["Value"].clone(), latest["Version"].clone()), (json!("three"), json!(3)));
    assert_eq!(latest.get("Selector"), None, "no selector, none shown");
    assert_eq!(latest["ARN"], "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db/host");
    assert_eq!(latest["DataType"], "text");

    let first = get(app, "/app/db/host:1").await.expect("version 1");
    assert_eq!((first["Value"].clone(), first["Selector"].clone()), (json!("one"), json!(":1")));
    assert_eq!(first["Name"], "/app/db/host", "the name without its selector");
    assert!(matches!(get(app, "/app/db/host:9").await, Err(SsmError::ParameterVersionNotFound(_))));
    assert!(matches!(get(app, "/app/db/host:nolabel").await, Err(SsmError::ParameterNotFound(_))));
    let by_arn = get(app, "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db/host:2").await;
    assert_eq!(by_arn.expect("by ARN")["Value"], "two");

    // Members not given on an overwrite keep what the parameter had.
    let body =
        json!({"Name": "/app/db/host", "Value": "four", "Overwrite": true, "Description": "d"});
    ok(app, "PutParameter", body).await;
    let body = json!({"Name": "/app/db/host", "Value": "five", "Overwrite": true});
    ok(app, "PutParameter", body).await;
    let history = ok(app, "GetParameterHistory", json!({"Name": "/app/db/host"})).await;
    let versions = history["Parameters"].as_array().expect("versions");
    assert_eq!(versions.len(), 5);
    assert_eq!(versions[4]["Type"], "String");
    assert_eq!(versions[4]["Description"], "d");
    assert_eq!(versions[4]["LastModifiedUser"], CALLER);
    assert_eq!(versions[0]["Value"], "one", "oldest first");
}

#[tokio::test]
async fn labels_move_between_versions_and_select_them() {
    let f = fixture().await;
    let app = &f.app;
    for value in ["a", "b", "c"] {
        put(app, "svc", value, true).await;
    }
    let labelled = ok(
        app,
        "LabelParameterVersion",
        json!({"Name": "svc", "ParameterVersion": 1, "Labels": ["prod", "1bad", "awsx", "ok.too"]}),
    )
    .await;
    assert_eq!(labelled["InvalidLabels"], json!(["1bad", "awsx"]));
    assert_eq!(labelled["ParameterVersion"], 1);
    let prod = get(app, "svc:prod").await.expect("by label");
    assert_eq!((prod["Value"].clone(), prod["Selector"].clone()), (json!("a"), json!(":prod")));

    // Without a version, the label goes to the latest, leaving version 1.
    let moved = ok(app, "LabelParameterVersion", json!({"Name": "/svc", "Labels": ["prod"]})).await;
    assert_eq!(moved["ParameterVersion"], 3);
    assert_eq!(get(app, "svc:prod").await.expect("moved")["Value"], "c");
    let history = ok(app, "GetParameterHistory", json!({"Name": "svc"})).await;
    assert_eq!(history["Parameters"][0]["Labels"], json!(["ok.too"]));
    assert_eq!(history["Parameters"][2]["Labels"], json!(["prod"]));

    let missing = json!({"Name": "svc", "ParameterVersion": 7, "Labels": ["x"]});
    assert!(matches!(
        call(app, "LabelParameterVersion", missing).await,
        Err(SsmError::ParameterVersionNotFound(_))
    ));
    let ten: Vec<String> = (0..10).map(|i| format!("l{i}")).collect();
    ok(app, "LabelParameterVersion", json!({"Name": "svc", "ParameterVersion": 2, "Labels": ten}))
        .await;
    assert_eq!(
        call(
            app,
            "LabelParameterVersion",
            json!({"Name": "svc", "ParameterVersion": 2, "Labels": ["eleventh"]})
        )
        .await,
        Err(SsmError::ParameterVersionLabelLimitExceeded)
    );

    let unlabelled = ok(
        app,
        "UnlabelParameterVersion",
        json!({"Name": "svc", "ParameterVersion": 3, "Labels": ["prod", "never"]}),
    )
    .await;
    assert_eq!(unlabelled["RemovedLabels"], json!(["prod"]));
    assert_eq!(unlabelled["InvalidLabels"], json!(["never"]));
    assert!(matches!(get(app, "svc:prod").await, Err(SsmError::ParameterNotFound(_))));
}

#[tokio::test]
async fn at_most_100_versions_and_a_labelled_oldest_one_stays() {
    let f = fixture().await;
    let app = &f.app;
    for i in 1..=101 {
        put(app, "/many", &format!("v{i}"), true).await;
    }
    let history = ok(app, "GetParameterHistory", json!({"Name": "/many"})).await;
    assert_eq!(history["Parameters"].as_array().map(Vec::len), Some(50), "a page of 50");
    let next = history["NextToken"].as_str().expect("a next page").to_string();
    let rest = ok(app, "GetParameterHistory", json!({"Name": "/many", "NextToken": next})).await;
    assert_eq!(rest["Parameters"].as_array().map(Vec::len), Some(50));
    assert_eq!(rest.get("NextToken"), None);
    assert_eq!(history["Parameters"][0]["Version"], 2, "version 1 was dropped");
    assert!(matches!(get(app, "/many:1").await, Err(SsmError::ParameterVersionNotFound(_))));

    ok(
        app,
        "LabelParameterVersion",
        json!({"Name": "/many", "ParameterVersion": 2, "Labels": ["keep"]}),
    )
    .await;
    let refused =
        call(app, "PutParameter", json!({"Name": "/many", "Value": "v102", "Overwrite": true}))
            .await;
    assert!(
        matches!(refused, Err(SsmError::ParameterMaxVersionLimitExceeded(m)) if m.contains("Version 2"))
    );
    assert_eq!(get(app, "/many").await.expect("latest")["Version"], 101, "nothing stored");
    ok(
        app,
        "UnlabelParameterVersion",
        json!({"Name": "/many", "ParameterVersion": 2, "Labels": ["keep"]}),
    )
    .await;
    assert_eq!(put(app, "/many", "v102", true).await, 102);
}

#[tokio::test]
async fn paths_list_one_level_or_all_below_in_pages() {
    let f = fixture().await;
    let app = &f.app;
    for name in ["/app/a", "/app/b", "/app/c", "/app/deep/d", "/application/x", "top"] {
        put(app, name, "v", false).await;
    }
    let names = |answer: &Value| -> Vec<String> {
        answer["Parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .map(|p| p["Name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let level = ok(app, "GetParametersByPath", json!({"Path": "/app"})).await;
    assert_eq!(names(&level), ["/app/a", "/app/b", "/app/c"]);
    let all = ok(app, "GetParametersByPath", json!({"Path": "/app/", "Recursive": true})).await;
    assert_eq!(names(&all), ["/app/a", "/app/b", "/app/c", "/app/deep/d"]);
    let root = ok(app, "GetParametersByPath", json!({"Path": "/"})).await;
    assert_eq!(names(&root), ["top"]);

    let first =
        ok(app, "GetParametersByPath", json!({"Path": "/app", "Recursive": true, "MaxResults": 3}))
            .await;
    assert_eq!(names(&first), ["/app/a", "/app/b", "/app/c"]);
    let token = first["NextToken"].as_str().expect("more").to_string();
    let second = ok(
        app,
        "GetParametersByPath",
        json!({"Path": "/app", "Recursive": true, "MaxResults": 3, "NextToken": token}),
    )
    .await;
    assert_eq!(names(&second), ["/app/deep/d"]);
    assert_eq!(second.get("NextToken"), None);
    assert!(matches!(
        call(app, "GetParametersByPath", json!({"Path": "/app", "MaxResults": 11})).await,
        Err(SsmError::Validation(_))
    ));
    assert!(matches!(
        call(app, "GetParametersByPath", json!({"Path": "/app", "NextToken": "forged"})).await,
        Err(SsmError::InvalidNextToken)
    ));
    assert!(matches!(
        call(app, "GetParametersByPath", json!({"Path": "app"})).await,
        Err(SsmError::Validation(_))
    ));

    let described = ok(
        app,
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Path", "Option": "Recursive", "Values": ["/app"]},
                                    {"Key": "Name", "Option": "BeginsWith", "Values": ["/app/d"]}]}),
    )
    .await;
    assert_eq!(names(&described), ["/app/deep/d"]);
    assert_eq!(described["Parameters"][0]["LastModifiedUser"], CALLER);
    let equal = ok(
        app,
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Name", "Values": ["/top"]}]}),
    )
    .await;
    assert_eq!(names(&equal), ["top"], "`/top` and `top` are one parameter");
}

#[tokio::test]
async fn a_one_level_name_is_one_parameter_with_or_without_its_slash() {
    let f = fixture().await;
    let app = &f.app;
    put(app, "/single", "v", false).await;
    assert_eq!(
        call(app, "PutParameter", json!({"Name": "single", "Value": "x", "Type": "String"})).await,
        Err(SsmError::ParameterAlreadyExists)
    );
    let got = get(app, "single").await.expect("found");
    assert_eq!(got["ARN"], "arn:aws:ssm:eu-west-1:123456789012:parameter/single");
    assert_eq!(f.app.arn_of("/single:2").as_deref(), got["ARN"].as_str());
    assert_eq!(f.app.arn_of("arn:aws:ssm:us-east-1:123456789012:parameter/single"), None);
    ok(app, "DeleteParameter", json!({"Name": "single"})).await;
    assert!(matches!(get(app, "/single").await, Err(SsmError::ParameterNotFound(_))));
}

/// Every byte of the stored document, as the store holds it.
async fn stored_bytes(f: &Fixture) -> String {
    let (kvs, _) = f.store.range("ssm/parameters").await.expect("range");
    kvs.into_iter().map(|kv| String::from_utf8_lossy(&kv.value).into_owned()).collect()
}

#[tokio::test]
async fn secure_strings_are_never_stored_or_shown_in_clear_unless_asked() {
    let f = fixture().await;
    let app = &f.app;
    let secret = "hunter2-correct-horse";
    let body = json!({"Name": "/prod/db/password", "Value": secret, "Type": "SecureString"});
    ok(app, "PutParameter", body).await;
    let body = json!({"Name": "/prod/db/password", "Value": "second-secret", "Overwrite": true});
    ok(app, "PutParameter", body).await;

    let snapshot = serde_json::to_string(&*f.app.records.snapshot()).expect("encode");
    let stored = stored_bytes(&f).await;
    for (what, text) in [("the snapshot", &snapshot), ("the store", &stored)] {
        for clear in [secret, "second-secret"] {
            assert!(!text.contains(clear), "{what} holds a clear value");
            assert!(!text.contains(&hex::encode(clear)), "{what} holds a value in hex");
        }
    }

    let hidden = get(app, "/prod/db/password").await.expect("get");
    assert_eq!(hidden["Type"], "SecureString");
    let shown = hidden["Value"].as_str().expect("a value");
    assert!(!shown.contains("second-secret") && !shown.is_empty(), "opaque without decryption");
    let clear =
        call(app, "GetParameter", json!({"Name": "/prod/db/password:1", "WithDecryption": true}))
            .await
            .expect("decrypted");
    assert_eq!(clear["Parameter"]["Value"], secret);
    let many = ok(app, "GetParameters", json!({"Names": ["/prod/db/password", "/nope"]})).await;
    assert_ne!(many["Parameters"][0]["Value"], "second-secret");
    assert_eq!(many["InvalidParameters"], json!(["/nope"]));
    let history = ok(app, "GetParameterHistory", json!({"Name": "/prod/db/password"})).await;
    assert_ne!(history["Parameters"][0]["Value"], secret);
    assert_eq!(history["Parameters"][0]["KeyId"], "alias/aws/ssm");
    let listed = ok(app, "GetParametersByPath", json!({"Path": "/prod", "Recursive": true})).await;
    assert_ne!(listed["Parameters"][0]["Value"], "second-secret");
    let decrypted = ok(
        app,
        "GetParametersByPath",
        json!({"Path": "/prod", "Recursive": true, "WithDecryption": true}),
    )
    .await;
    assert_eq!(decrypted["Parameters"][0]["Value"], "second-secret");

    assert_eq!(f.app.value_for_task("/prod/db/password").as_deref(), Ok("second-secret"));
    assert_eq!(
        f.app
            .value_for_task("arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db/password:1")
            .as_deref(),
        Ok(secret)
    );
    assert!(matches!(f.app.value_for_task("/prod/none"), Err(SsmError::ParameterNotFound(_))));
}

#[tokio::test]
async fn a_sealed_value_moved_to_another_version_does_not_open() {
    let f = fixture().await;
    let app = &f.app;
    for value in ["first", "second"] {
        let body = json!({"Name": "/s", "Value": value, "Type": "SecureString", "Overwrite": true});
        ok(app, "PutParameter", body).await;
    }
    f.app
        .records
        .change(|state| {
            let versions = &mut state.parameters.get_mut("s").expect("kept").versions;
            versions[1].value = versions[0].value.clone();
            Ok::<_, SsmError>(())
        })
        .await
        .expect("store")
        .expect("change");
    assert!(matches!(f.app.value_for_task("/s"), Err(SsmError::Internal(_))));
    assert_eq!(f.app.value_for_task("/s:1").as_deref(), Ok("first"));
}

#[tokio::test]
async fn refused_members_are_named_and_harm_nothing() {
    let f = fixture().await;
    let app = &f.app;
    let before = stored_bytes(&f).await;
    let cases = [
        (
            "PutParameter",
            json!({"Name": "/k", "Value": "v", "Type": "SecureString", "KeyId": "alias/mine"}),
            "KeyId",
        ),
        (
            "PutParameter",
            json!({"Name": "/k", "Value": "v", "Type": "String", "Tier": "Advanced"}),
            "Tier",
        ),
        (
            "PutParameter",
            json!({"Name": "/k", "Value": "v", "Type": "String", "Policies": "[]"}),
            "Policies",
        ),
        (
            "PutParameter",
            json!({"Name": "/k", "Value": "v", "Type": "String", "DataType": "aws:ec2:image"}),
            "DataType",
        ),
        ("DescribeParameters", json!({"Filters": [{"Key": "Name", "Values": ["x"]}]}), "Filters"),
        ("DescribeParameters", json!({"Shared": true}), "Shared"),
        (
            "GetParametersByPath",
            json!({"Path": "/", "ParameterFilters": [{"Key": "Type", "Values": ["String"]}]}),
            "ParameterFilters",
        ),
    ];
    for (operation, body, member) in cases {
        match call(app, operation, body).await {
            Err(SsmError::Validation(message)) => {
                assert!(
                    message.contains(member) && message.contains("not supported yet"),
                    "{message}"
                )
            }
            other => panic!("{operation} {member}: {other:?}"),
        }
    }
    let tagging = json!({"ResourceType": "Document", "ResourceId": "x", "Tags": []});
    assert!(matches!(
        call(app, "AddTagsToResource", tagging).await,
        Err(SsmError::InvalidResourceType(m)) if m.contains("ResourceType")
    ));
    assert_eq!(stored_bytes(&f).await, before, "nothing stored");
    assert!(matches!(get(app, "/k").await, Err(SsmError::ParameterNotFound(_))));
    // Members sent empty ask for nothing refused.
    ok(app, "DescribeParameters", json!({"Filters": [], "Shared": false})).await;
}

#[tokio::test]
async fn put_checks_names_values_patterns_and_tags() {
    let f = fixture().await;
    let app = &f.app;
    let put_with = |extra: Value| {
        let mut body = json!({"Name": "/p", "Value": "123", "Type": "String"});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        call(app, "PutParameter", body)
    };
    assert!(matches!(put_with(json!({"Name": "/aws/x"})).await, Err(SsmError::Validation(_))));
    assert!(matches!(
        put_with(json!({"Name": "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16"})).await,
        Err(SsmError::HierarchyLevelLimitExceeded(..))
    ));
    assert!(matches!(
        put_with(json!({"Value": "x".repeat(4097)})).await,
        Err(SsmError::Validation(_))
    ));
    assert!(matches!(put_with(json!({"Type": "Str"})).await, Err(SsmError::Validation(_))));
    let no_type = call(app, "PutParameter", json!({"Name": "/p", "Value": "1"})).await;
    assert!(matches!(no_type, Err(SsmError::Validation(m)) if m.contains("type is required")));
    assert!(matches!(
        put_with(json!({"AllowedPattern": "^[a-z]+$"})).await,
        Err(SsmError::ParameterPatternMismatch(_))
    ));
    assert!(matches!(
        put_with(json!({"AllowedPattern": "(unclosed"})).await,
        Err(SsmError::InvalidAllowedPattern(_))
    ));
    put_with(json!({"AllowedPattern": "\\d+"})).await.expect("a matching value");
    // The pattern stays with the parameter and judges the next value.
    let next =
        call(app, "PutParameter", json!({"Name": "/p", "Value": "abc", "Overwrite": true})).await;
    assert!(matches!(next, Err(SsmError::ParameterPatternMismatch(_))));
    // An empty pattern clears it.
    let body = json!({"Name": "/p", "Value": "abc", "Overwrite": true, "AllowedPattern": ""});
    ok(app, "PutParameter", body).await;
    assert!(matches!(
        put_with(json!({"Name": "/t", "Overwrite": true, "Tags": [{"Key": "a", "Value": "b"}]})).await,
        Err(SsmError::Validation(m)) if m.contains("tags and overwrite")
    ));
    let many: Vec<Value> = (0..51).map(|i| json!({"Key": format!("k{i}"), "Value": "v"})).collect();
    assert_eq!(put_with(json!({"Name": "/t", "Tags": many})).await, Err(SsmError::TooManyTags(51)));

    put_with(json!({"Name": "/t", "Tags": [{"Key": "env", "Value": "prod"}]}))
        .await
        .expect("tagged");
    let tags = json!({"ResourceType": "Parameter", "ResourceId": "/t", "Tags": [{"Key": "team", "Value": "web"}]});
    ok(app, "AddTagsToResource", tags).await;
    let listed =
        ok(app, "ListTagsForResource", json!({"ResourceType": "Parameter", "ResourceId": "/t"}))
            .await;
    assert_eq!(
        listed["TagList"],
        json!([{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "web"}])
    );
    let removal = json!({"ResourceType": "Parameter", "ResourceId": "/t", "TagKeys": ["env"]});
    ok(app, "RemoveTagsFromResource", removal).await;
    let listed =
        ok(app, "ListTagsForResource", json!({"ResourceType": "Parameter", "ResourceId": "/t"}))
            .await;
    assert_eq!(listed["TagList"], json!([{"Key": "team", "Value": "web"}]));
    assert!(matches!(
        call(
            app,
            "ListTagsForResource",
            json!({"ResourceType": "Parameter", "ResourceId": "/none"})
        )
        .await,
        Err(SsmError::InvalidResourceId(_))
    ));
}

#[test]
fn the_tagging_operations_refuse_only_resource_types() {
    // dispatch answers their refusals with InvalidResourceType: that is right only while the
    // ledger refuses nothing else of them.
    for operation in crate::TAGGING {
        for path in crate::wire::refused_paths(operation) {
            assert!(path.starts_with("ResourceType="), "{operation}: {path}");
        }
    }
}

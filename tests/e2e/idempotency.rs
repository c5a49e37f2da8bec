//! Retries: RunTask's `clientToken` (which botocore and the SDKs fill on every call) makes a
//! retried call answer the tasks the first one started instead of starting more.

use aws_sdk_ecs::error::ProvideErrorMetadata;

use crate::support::{register_hollow, registered_instances, Flotilla, HollowAgents};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_run_task_gets_the_tasks_its_token_started() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let _agents = HollowAgents::start(&f, "default", 2);
    registered_instances(&ecs, "default", 2).await;
    register_hollow(&ecs, "job").await;
    let run =
        |token: &str| ecs.run_task().task_definition("job").count(3).client_token(token).send();
    let first = run("retry-me").await.expect("run");
    let again = run("retry-me").await.expect("run again");
    let arns = |out: &aws_sdk_ecs::operation::run_task::RunTaskOutput| {
        let mut arns: Vec<String> =
            out.tasks().iter().filter_map(|t| t.task_arn()).map(str::to_string).collect();
        arns.sort();
        arns
    };
    assert_eq!(arns(&first).len(), 3);
    assert_eq!(arns(&first), arns(&again), "the retry answers the same tasks");
    let other = run("another").await.expect("run with another token");
    assert!(arns(&other).iter().all(|a| !arns(&first).contains(a)));
    let listed = ecs.list_tasks().family("job").send().await.expect("list");
    assert_eq!(listed.task_arns().len(), 6, "two calls started tasks, the retry none");
    // Without a token (a raw call), each call starts its own.
    let body = br#"{"taskDefinition":"job"}"#;
    let (status, _) = f.signed_call("RunTask", body);
    assert_eq!(status, 200);
    let bad = run(&"x".repeat(65)).await.expect_err("too long");
    assert_eq!(bad.code(), Some("InvalidParameterException"));
}

/// Concurrent retries with one token, however the writer batches them: one call's tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_with_one_token_start_one_calls_tasks() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let _agents = HollowAgents::start(&f, "default", 2);
    registered_instances(&ecs, "default", 2).await;
    register_hollow(&ecs, "burst").await;
    let mut calls = Vec::new();
    for _ in 0..12 {
        let ecs = ecs.clone();
        calls.push(tokio::spawn(async move {
            ecs.run_task().task_definition("burst").count(2).client_token("same").send().await
        }));
    }
    for call in calls {
        call.await.expect("join").expect("run");
    }
    let listed = ecs.list_tasks().family("burst").send().await.expect("list");
    assert_eq!(listed.task_arns().len(), 2, "twelve calls with one token started one call's tasks");
}

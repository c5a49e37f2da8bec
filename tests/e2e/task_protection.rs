//! Task scale-in protection (Get/UpdateTaskProtection) honoured by the service scheduler —
//! scale-in and deployments pass over protected tasks until the protection goes — and the
//! everyday operations DiscoverPollEndpoint and ListServicesByNamespace.

use std::time::{Duration, Instant};

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::DesiredStatus;

use crate::support::{register_hollow, registered_instances, Flotilla, HollowAgents};

/// The service's tasks that are not stopping: (task ARN, started by).
async fn live(ecs: &aws_sdk_ecs::Client, service: &str) -> Vec<(String, String)> {
    let listed = ecs
        .list_tasks()
        .service_name(service)
        .desired_status(DesiredStatus::Running)
        .send()
        .await
        .expect("list tasks");
    if listed.task_arns().is_empty() {
        return Vec::new();
    }
    let described = ecs
        .describe_tasks()
        .set_tasks(Some(listed.task_arns().to_vec()))
        .send()
        .await
        .expect("describe tasks");
    let mut tasks: Vec<(String, String)> = described
        .tasks()
        .iter()
        .filter(|t| t.desired_status() == Some("RUNNING"))
        .map(|t| {
            let arn = t.task_arn().unwrap_or_default().to_string();
            (arn, t.started_by().unwrap_or_default().to_string())
        })
        .collect();
    tasks.sort();
    tasks
}

async fn wait_for(
    ecs: &aws_sdk_ecs::Client,
    what: &str,
    check: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tasks = live(ecs, "web").await;
        if check(&tasks) {
            return tasks;
        }
        assert!(Instant::now() < deadline, "never {what}: {tasks:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_tasks_survive_scale_in_and_deployments() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let _agents = HollowAgents::start(&f, "default", 3);
    registered_instances(&ecs, "default", 3).await;
    register_hollow(&ecs, "web").await;
    ecs.create_service()
        .service_name("web")
        .task_definition("web")
        .desired_count(3)
        .send()
        .await
        .expect("create service");
    let tasks = wait_for(&ecs, "three tasks", |t| t.len() == 3).await;
    let (a, b, c) = (tasks[0].0.clone(), tasks[1].0.clone(), tasks[2].0.clone());

    // Protect two (and name a missing task and a standalone one: failures, as on ECS).
    let run = ecs.run_task().task_definition("web").send().await.expect("run a standalone task");
    let standalone = run.tasks()[0].task_arn().expect("arn").to_string();
    let protected = ecs
        .update_task_protection()
        .cluster("default")
        .tasks(&a)
        .tasks(&b)
        .tasks("0123456789abcdef0123456789abcdef")
        .tasks(&standalone)
        .protection_enabled(true)
        .expires_in_minutes(60)
        .send()
        .await
        .expect("protect");
    assert_eq!(protected.protected_tasks().len(), 2);
    assert!(protected.protected_tasks().iter().all(|p| p.protection_enabled()));
    let reasons: Vec<&str> = protected.failures().iter().filter_map(|f| f.reason()).collect();
    assert_eq!(reasons, ["MISSING", "TASK_NOT_VALID"]);
    let got =
        ecs.get_task_protection().cluster("default").tasks(&a).tasks(&c).send().await.expect("get");
    let enabled: Vec<bool> = got.protected_tasks().iter().map(|p| p.protection_enabled()).collect();
    assert_eq!(enabled, [true, false]);
    let expires = got.protected_tasks()[0].expiration_date().expect("an expiry").secs();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now");
    assert!((expires - now.as_secs() as i64 - 3600).abs() < 120, "about an hour from now");

    // Scale in to 1: only the unprotected task stops; the protected two stay.
    ecs.update_service().service("web").desired_count(1).send().await.expect("scale in");
    let left = wait_for(&ecs, "scaled in", |t| t.len() == 2).await;
    let arns: Vec<&str> = left.iter().map(|(arn, _)| arn.as_str()).collect();
    assert_eq!(arns, [a.as_str(), b.as_str()]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(live(&ecs, "web").await.len(), 2, "protected tasks are not scaled in");

    // Without its protection, one of them goes.
    ecs.update_task_protection()
        .cluster("default")
        .tasks(&b)
        .protection_enabled(false)
        .send()
        .await
        .expect("unprotect");
    let left = wait_for(&ecs, "scaled in to one", |t| t.len() == 1).await;
    assert_eq!(left[0].0, a);

    // A deployment waits for the protected task, and completes once it is released.
    ecs.update_service().service("web").force_new_deployment(true).send().await.expect("deploy");
    let both = wait_for(&ecs, "a new task beside the protected one", |t| t.len() == 2).await;
    assert!(both.iter().any(|(arn, _)| *arn == a));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(live(&ecs, "web").await.iter().any(|(arn, _)| *arn == a), "kept while protected");
    ecs.update_task_protection()
        .cluster("default")
        .tasks(&a)
        .protection_enabled(false)
        .send()
        .await
        .expect("release");
    let after = wait_for(&ecs, "the old task replaced", |t| t.len() == 1 && t[0].0 != a).await;
    assert_ne!(after[0].1, left[0].1, "the survivor is of the new deployment");

    let bad = ecs
        .update_task_protection()
        .cluster("default")
        .tasks(&a)
        .protection_enabled(true)
        .expires_in_minutes(3000)
        .send()
        .await
        .expect_err("over 48 hours");
    assert_eq!(bad.code(), Some("InvalidParameterException"));
}

#[tokio::test]
async fn poll_endpoints_and_namespaces_answer_as_ecs() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let found = ecs.discover_poll_endpoint().cluster("default").send().await.expect("discover");
    let endpoint = format!("http://127.0.0.1:{}/", f.port);
    assert_eq!(found.endpoint(), Some(endpoint.as_str()));
    assert_eq!(found.telemetry_endpoint(), Some(endpoint.as_str()));
    let missing = ecs
        .list_services_by_namespace()
        .namespace("arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-1")
        .send()
        .await
        .expect_err("no namespaces yet");
    assert_eq!(missing.code(), Some("NamespaceNotFoundException"), "{missing:?}");
}

/// The `services-inactive` waiter, as tools call it after DeleteService.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_inactive_waiter_sees_a_deleted_service_go() {
    use aws_sdk_ecs::client::Waiters;
    let f = Flotilla::start();
    let ecs = f.ecs();
    register_hollow(&ecs, "web").await;
    ecs.create_service()
        .service_name("gone")
        .task_definition("web")
        .desired_count(0)
        .send()
        .await
        .expect("create");
    ecs.delete_service().service("gone").send().await.expect("delete");
    let waited = ecs
        .wait_until_services_inactive()
        .services("gone")
        .wait(Duration::from_secs(60))
        .await
        .expect("the service becomes INACTIVE");
    let services = waited.as_result().expect("final answer").services();
    assert_eq!(services[0].status(), Some("INACTIVE"));
}

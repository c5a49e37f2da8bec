//! Services on real Docker: steady state and the SDK's waiter, replacement of a killed
//! container, a rolling update sampled for its bounds, the circuit breaker's rollback, DAEMON
//! services following instances, and tasks of a lost agent replaced then stopped on its return.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_ecs::client::Waiters;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    ContainerInstanceStatus, DeploymentCircuitBreaker, DeploymentConfiguration, DesiredStatus,
    SchedulingStrategy, Service,
};

use crate::fleet::{demo, docker_inspect, Fleet};

/// CreateService with the defaults: a REPLICA service of `desired` tasks.
async fn create_service(
    fleet: &Fleet,
    name: &str,
    task_definition: &str,
    desired: i32,
) -> Result<
    aws_sdk_ecs::operation::create_service::CreateServiceOutput,
    aws_sdk_ecs::error::SdkError<aws_sdk_ecs::operation::create_service::CreateServiceError>,
> {
    fleet
        .ecs
        .create_service()
        .cluster(&fleet.cluster)
        .service_name(name)
        .task_definition(task_definition)
        .desired_count(desired)
        .send()
        .await
}

async fn service(fleet: &Fleet, name: &str) -> Service {
    let out = fleet
        .ecs
        .describe_services()
        .cluster(&fleet.cluster)
        .services(name)
        .send()
        .await
        .expect("describe services");
    out.services()
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("service {name} missing: {:?}", out.failures()))
}

async fn wait_service(
    fleet: &Fleet,
    name: &str,
    what: &str,
    limit: Duration,
    check: impl Fn(&Service) -> bool,
) -> Service {
    let deadline = Instant::now() + limit;
    loop {
        let s = service(fleet, name).await;
        if check(&s) {
            return s;
        }
        if Instant::now() > deadline {
            panic!("service never {what}: {s:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Stable and the deployment COMPLETED (a rollback needs a completed deployment to go back to).
fn stable(s: &Service) -> bool {
    s.deployments().len() == 1
        && s.running_count() == s.desired_count()
        && s.pending_count() == 0
        && s.deployments()[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
}

/// Every task of the service that is not STOPPED: (id, lastStatus, desiredStatus, started by).
async fn live_tasks(fleet: &Fleet, name: &str) -> Vec<(String, String, String, String)> {
    fleet
        .service_tasks(name, &[DesiredStatus::Running, DesiredStatus::Stopped])
        .await
        .iter()
        .filter(|t| t.last_status() != Some("STOPPED"))
        .map(|t| {
            (
                t.task_arn().unwrap_or_default().to_string(),
                t.last_status().unwrap_or_default().to_string(),
                t.desired_status().unwrap_or_default().to_string(),
                t.started_by().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_service_is_stable_and_replaces_a_killed_container() {
    let fleet = Fleet::start().await;
    let td = fleet.register("svc", vec![demo("web", &["serve"]).build()]).await;
    let created = create_service(&fleet, "web", &td, 2).await.expect("create");
    let s = created.service().expect("service");
    assert_eq!(s.status(), Some("ACTIVE"));
    assert!(s.deployments()[0].id().unwrap_or_default().starts_with("ecs-svc/"));
    assert_eq!(s.deployment_configuration().and_then(|c| c.minimum_healthy_percent()), Some(100));
    assert_eq!(s.deployment_configuration().and_then(|c| c.maximum_percent()), Some(200));

    // The SDK's own waiter works unchanged.
    fleet
        .ecs
        .wait_until_services_stable()
        .cluster(&fleet.cluster)
        .services("web")
        .wait(Duration::from_secs(60))
        .await
        .expect("services stable");
    let s = service(&fleet, "web").await;
    assert_eq!(s.running_count(), 2);
    assert_eq!(s.deployments()[0].rollout_state().map(|r| r.as_str()), Some("COMPLETED"));
    let messages: Vec<&str> = s.events().iter().filter_map(|e| e.message()).collect();
    assert!(
        messages.iter().any(|m| m.starts_with("(service web) has started 2 tasks: (task ")),
        "{messages:?}"
    );
    assert_eq!(messages[0], "(service web) has reached a steady state.");
    let tasks = live_tasks(&fleet, "web").await;
    let listed =
        fleet.ecs.list_services().cluster(&fleet.cluster).send().await.expect("list services");
    assert_eq!(listed.service_arns().len(), 1);

    // Kill one container from outside: the task stops and a replacement runs.
    let victim = fleet.describe(&tasks[0].0).await;
    let id = victim.containers()[0].runtime_id().expect("id").to_string();
    std::process::Command::new("docker").args(["kill", &id]).output().expect("docker kill");
    fleet.wait_status(&tasks[0].0, "STOPPED").await;
    let s = wait_service(&fleet, "web", "whole again", Duration::from_secs(20), |s| {
        s.running_count() == 2
            && s.events()
                .iter()
                .any(|e| e.message().is_some_and(|m| m.contains("has started 1 tasks")))
    })
    .await;
    assert_eq!(s.desired_count(), 2);
    let now: HashSet<String> = live_tasks(&fleet, "web").await.into_iter().map(|t| t.0).collect();
    assert!(!now.contains(&tasks[0].0));

    // Scale to zero, then delete.
    let err = fleet
        .ecs
        .delete_service()
        .cluster(&fleet.cluster)
        .service("web")
        .send()
        .await
        .expect_err("scaled");
    assert_eq!(err.code(), Some("InvalidParameterException"));
    fleet
        .ecs
        .update_service()
        .cluster(&fleet.cluster)
        .service("web")
        .desired_count(0)
        .send()
        .await
        .expect("scale in");
    wait_service(&fleet, "web", "scaled to zero", Duration::from_secs(30), |s| {
        s.running_count() == 0 && s.pending_count() == 0
    })
    .await;
    let deleted = fleet
        .ecs
        .delete_service()
        .cluster(&fleet.cluster)
        .service("web")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.service().and_then(|s| s.status()), Some("DRAINING"));
    wait_service(&fleet, "web", "INACTIVE", Duration::from_secs(10), |s| {
        s.status() == Some("INACTIVE")
    })
    .await;
    let err = fleet
        .ecs
        .update_service()
        .cluster(&fleet.cluster)
        .service("nope")
        .desired_count(1)
        .send()
        .await
        .expect_err("missing");
    assert_eq!(err.code(), Some("ServiceNotFoundException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_keeps_minimum_healthy_and_maximum_percent_throughout() {
    let fleet = Fleet::start().await;
    let v1 = fleet.register("roll", vec![demo("web", &["serve"]).build()]).await;
    let v2 = fleet.register("roll", vec![demo("web", &["serve"]).memory(48).build()]).await;
    fleet
        .ecs
        .create_service()
        .cluster(&fleet.cluster)
        .service_name("roll")
        .task_definition(&v1)
        .desired_count(3)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(100)
                .maximum_percent(150)
                .build(),
        )
        .send()
        .await
        .expect("create");
    wait_service(&fleet, "roll", "stable", Duration::from_secs(40), stable).await;
    let updated = fleet
        .ecs
        .update_service()
        .cluster(&fleet.cluster)
        .service("roll")
        .task_definition(&v2)
        .send()
        .await
        .expect("update");
    assert_eq!(updated.service().map(|s| s.deployments().len()), Some(2));

    // Sample: never fewer than 3 healthy (100% of 3), never more than 4 present (150% of 3).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut samples = 0;
    loop {
        let tasks = live_tasks(&fleet, "roll").await;
        let healthy = tasks.iter().filter(|t| t.1 == "RUNNING" && t.2 == "RUNNING").count();
        assert!(healthy >= 3, "below minimum healthy: {tasks:?}");
        assert!(tasks.len() <= 4, "above maximum percent: {tasks:?}");
        samples += 1;
        let s = service(&fleet, "roll").await;
        if stable(&s) && s.task_definition() == Some(v2.as_str()) {
            assert!(tasks.iter().all(|t| t.3 == s.deployments()[0].id().unwrap_or_default()));
            assert_eq!(s.deployments()[0].rollout_state().map(|r| r.as_str()), Some("COMPLETED"));
            break;
        }
        assert!(Instant::now() < deadline, "rolling update did not finish: {s:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(samples > 3, "sampled {samples} times");
    // The tasks now run the new revision's limits.
    let task = live_tasks(&fleet, "roll").await.remove(0);
    let t = fleet.describe(&task.0).await;
    assert_eq!(
        docker_inspect(t.containers()[0].runtime_id().expect("id"))["HostConfig"]["Memory"],
        48 * 1024 * 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_revision_trips_the_breaker_and_rolls_back() {
    let fleet = Fleet::start().await;
    let good = fleet.register("cb", vec![demo("web", &["serve"]).build()]).await;
    let bad = fleet.register("cb", vec![demo("web", &["exit", "1"]).build()]).await;
    fleet
        .ecs
        .create_service()
        .cluster(&fleet.cluster)
        .service_name("cb")
        .task_definition(&good)
        .desired_count(1)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .deployment_circuit_breaker(
                    DeploymentCircuitBreaker::builder().enable(true).rollback(true).build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("create");
    wait_service(&fleet, "cb", "stable", Duration::from_secs(40), stable).await;
    fleet
        .ecs
        .update_service()
        .cluster(&fleet.cluster)
        .service("cb")
        .task_definition(&bad)
        .send()
        .await
        .expect("update");
    let s = wait_service(&fleet, "cb", "rolled back", Duration::from_secs(90), |s| {
        s.task_definition() == Some(good.as_str())
            && s.deployments().len() <= 2
            && s.deployments()[0].task_definition() == Some(good.as_str())
    })
    .await;
    let messages: Vec<&str> = s.events().iter().filter_map(|e| e.message()).collect();
    assert!(messages.iter().any(|m| m.contains("deployment failed")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("rolling back")), "{messages:?}");
    let s =
        wait_service(&fleet, "cb", "stable on the good revision", Duration::from_secs(60), stable)
            .await;
    assert_eq!(s.deployments()[0].task_definition(), Some(good.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_service_runs_one_task_per_active_instance() {
    let mut fleet = Fleet::with_agents(&[&[], &[]]).await;
    let td = fleet.register("daemon", vec![demo("agent", &["sleep"]).build()]).await;
    let created = fleet
        .ecs
        .create_service()
        .cluster(&fleet.cluster)
        .service_name("d")
        .task_definition(&td)
        .scheduling_strategy(SchedulingStrategy::Daemon)
        .send()
        .await
        .expect("create");
    assert_eq!(
        created
            .service()
            .and_then(|s| s.deployment_configuration())
            .and_then(|c| c.minimum_healthy_percent()),
        Some(0)
    );
    wait_service(&fleet, "d", "on both instances", Duration::from_secs(30), |s| {
        s.running_count() == 2 && s.desired_count() == 2
    })
    .await;

    // A third instance joins: it gets one.
    fleet.add_agent(&[]);
    let instances = fleet.wait_for_instances(3).await;
    wait_service(&fleet, "d", "on three instances", Duration::from_secs(30), |s| {
        s.running_count() == 3
    })
    .await;
    let tasks = live_tasks(&fleet, "d").await;
    let mut per_instance = HashSet::new();
    for t in &tasks {
        let described = fleet.describe(&t.0).await;
        assert!(
            per_instance.insert(described.container_instance_arn().unwrap_or_default().to_string()),
            "two tasks on one instance"
        );
    }

    // A draining instance loses its task.
    fleet
        .ecs
        .update_container_instances_state()
        .cluster(&fleet.cluster)
        .container_instances(&instances[0])
        .status(ContainerInstanceStatus::Draining)
        .send()
        .await
        .expect("drain");
    wait_service(&fleet, "d", "off the drained instance", Duration::from_secs(30), |s| {
        s.running_count() == 2 && s.desired_count() == 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_agents_tasks_are_replaced_and_stopped_when_it_returns() {
    let mut fleet = Fleet::with_server_flags(&["--agent-timeout", "2"], &[&[], &[]]).await;
    let td = fleet.register("lost", vec![demo("web", &["serve"]).build()]).await;
    create_service(&fleet, "l", &td, 2).await.expect("create");
    wait_service(&fleet, "l", "stable", Duration::from_secs(40), stable).await;
    let before = live_tasks(&fleet, "l").await;
    // Which tasks run on agent 0's instance?
    let instance0 = std::fs::read_to_string(fleet.agents[0].data_dir.join("agent-state.json"))
        .expect("state file");
    let instance0: serde_json::Value = serde_json::from_str(&instance0).expect("json");
    let arn0 = instance0["container_instance_arn"].as_str().expect("arn").to_string();
    let mut on_lost = Vec::new();
    for t in &before {
        if fleet.describe(&t.0).await.container_instance_arn() == Some(arn0.as_str()) {
            on_lost.push(t.0.clone());
        }
    }
    assert!(!on_lost.is_empty(), "spread puts a task on each instance");
    let stale_container =
        fleet.describe(&on_lost[0]).await.containers()[0].runtime_id().expect("id").to_string();

    let lost_at = Instant::now();
    fleet.agents[0].kill9();
    // The lost task is given up and the service is whole again on the other instance.
    fleet.wait_task(&on_lost[0], "given up", |t| t.desired_status() == Some("STOPPED")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let live = live_tasks(&fleet, "l").await;
        let replaced = live
            .iter()
            .filter(|t| t.2 == "RUNNING" && t.1 == "RUNNING" && !on_lost.contains(&t.0))
            .count();
        if replaced == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "never whole again: {live:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = lost_at.elapsed();
    assert!(took < Duration::from_secs(30), "{took:?}");
    let instances = fleet
        .ecs
        .describe_container_instances()
        .cluster(&fleet.cluster)
        .container_instances(&arn0)
        .send()
        .await
        .expect("describe");
    assert!(!instances.container_instances()[0].agent_connected());
    // The stale container still runs: nobody could stop it.
    assert_eq!(docker_inspect(&stale_container)["State"]["Running"], true);

    // The agent comes back: the replaced task is stopped there.
    fleet.agents[0].restart();
    fleet.wait_status(&on_lost[0], "STOPPED").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while docker_inspect(&stale_container)["State"]["Running"] == true {
        assert!(Instant::now() < deadline, "the stale container was never stopped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let s = wait_service(&fleet, "l", "stable again", Duration::from_secs(30), stable).await;
    assert_eq!(s.running_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_an_instance_moves_its_service_tasks_within_the_bounds() {
    let fleet = Fleet::with_agents(&[&[], &[]]).await;
    let td = fleet.register("drain", vec![demo("web", &["serve"]).build()]).await;
    create_service(&fleet, "dr", &td, 2).await.expect("create");
    wait_service(&fleet, "dr", "stable", Duration::from_secs(40), stable).await;
    let instances = fleet.wait_for_instances(2).await;
    fleet
        .ecs
        .update_container_instances_state()
        .cluster(&fleet.cluster)
        .container_instances(&instances[0])
        .status(ContainerInstanceStatus::Draining)
        .send()
        .await
        .expect("drain");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let live = live_tasks(&fleet, "dr").await;
        let healthy = live.iter().filter(|t| t.1 == "RUNNING" && t.2 == "RUNNING").count();
        assert!(healthy >= 2, "below minimum healthy while draining: {live:?}");
        assert!(live.len() <= 4, "above maximum percent while draining: {live:?}");
        let mut on_drained = 0;
        for t in &live {
            if fleet.describe(&t.0).await.container_instance_arn() == Some(instances[0].as_str()) {
                on_drained += 1;
            }
        }
        if on_drained == 0 && healthy == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "tasks never left the draining instance: {live:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let instance = fleet
        .ecs
        .describe_container_instances()
        .cluster(&fleet.cluster)
        .container_instances(&instances[0])
        .send()
        .await
        .expect("describe");
    assert_eq!(instance.container_instances()[0].running_tasks_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_quotas_are_configurable() {
    let fleet = Fleet::with_server_flags(
        &["--max-services-per-cluster", "1", "--max-tasks-per-service", "3"],
        &[],
    )
    .await;
    let td = fleet.register("quota", vec![demo("web", &["serve"]).build()]).await;
    let err = create_service(&fleet, "big", &td, 4).await.expect_err("too many tasks");
    assert_eq!(err.code(), Some("InvalidParameterException"));
    create_service(&fleet, "one", &td, 0).await.expect("first service");
    let err = create_service(&fleet, "two", &td, 0).await.expect_err("second service");
    assert_eq!(err.code(), Some("LimitExceededException"));
    // Without an instance, the service says why it cannot place tasks.
    fleet
        .ecs
        .update_service()
        .cluster(&fleet.cluster)
        .service("one")
        .desired_count(1)
        .send()
        .await
        .expect("scale");
    let s = wait_service(&fleet, "one", "explaining", Duration::from_secs(10), |s| {
        s.events()
            .iter()
            .any(|e| e.message().is_some_and(|m| m.contains("was unable to place a task")))
    })
    .await;
    assert_eq!(s.running_count(), 0);
}

/// CreateService's clientToken makes a retry safe, as on ECS: the same token gets the service
/// back, another token (or none) is refused as not idempotent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_creation_with_its_client_token_gets_the_service_back() {
    let f = crate::support::Flotilla::start();
    let ecs = f.ecs();
    ecs.register_task_definition()
        .family("retry")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("c")
                .image("x")
                .memory(16)
                .build(),
        )
        .send()
        .await
        .expect("register");
    let create = |token: Option<&'static str>| {
        ecs.create_service()
            .service_name("retry")
            .task_definition("retry")
            .desired_count(0)
            .set_client_token(token.map(str::to_string))
            .send()
    };
    let first = create(Some("token-1")).await.expect("create");
    let again = create(Some("token-1")).await.expect("the same creation, retried");
    let arn = |out: &aws_sdk_ecs::operation::create_service::CreateServiceOutput| {
        out.service().and_then(|s| s.service_arn()).map(str::to_string)
    };
    assert_eq!(arn(&first), arn(&again));
    for other in [Some("token-2"), None] {
        let error = create(other).await.expect_err("another creation of the same name");
        assert_eq!(error.code(), Some("InvalidParameterException"), "{other:?}");
    }
    let long = "x".repeat(37);
    let error = ecs
        .create_service()
        .service_name("other")
        .task_definition("retry")
        .client_token(long)
        .send()
        .await
        .expect_err("a token over 36 characters");
    assert_eq!(error.code(), Some("InvalidParameterException"));
}

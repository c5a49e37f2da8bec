//! Tasks on real Docker through a real agent: what RunTask starts, ECS's task semantics, and
//! the agent and server surviving restarts without losing or duplicating containers.

use std::time::{Duration, Instant};

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    ContainerCondition, ContainerDependency, ContainerInstanceStatus, ContainerOverride,
    DesiredStatus, HealthCheck, KeyValuePair, PortMapping, TaskOverride, TaskStopCode,
};

use crate::fleet::{containers_of, demo, docker_inspect, wait_logs, Fleet};

/// The demo's own probe of its `/healthz`, every 5 s, as a container health check.
fn demo_health_check(retries: i32) -> HealthCheck {
    HealthCheck::builder()
        .command("CMD")
        .command("/flotilla")
        .command("demo")
        .command("check")
        .command("http://127.0.0.1:8080/healthz")
        .interval(5)
        .timeout(2)
        .retries(retries)
        .start_period(0)
        .build()
        .expect("health check")
}

fn env(name: &str, value: &str) -> KeyValuePair {
    KeyValuePair::builder().name(name).value(value).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_task_starts_a_real_container_with_its_settings() {
    let fleet = Fleet::start().await;
    let web = demo("web", &[])
        .cpu(256)
        .memory(128)
        .memory_reservation(64)
        .environment(env("GREETING", "hello"))
        .docker_labels("team", "web")
        .port_mappings(PortMapping::builder().container_port(8080).build())
        .build();
    let td = fleet.register("web", vec![web]).await;
    let task = fleet.run(&td).await;
    let running = fleet.wait_status(&task, "RUNNING").await;
    assert_eq!(running.desired_status(), Some("RUNNING"));
    assert!(running.started_at().is_some() && running.created_at().is_some());
    let container = &running.containers()[0];
    let id = container.runtime_id().expect("runtime id");

    let inspected = docker_inspect(id);
    let host = &inspected["HostConfig"];
    assert_eq!(host["CpuShares"], 256);
    assert_eq!(host["Memory"], 128 * 1024 * 1024);
    assert_eq!(host["MemoryReservation"], 64 * 1024 * 1024);
    let env_vars = inspected["Config"]["Env"].to_string();
    assert!(env_vars.contains("GREETING=hello"), "{env_vars}");
    let labels = &inspected["Config"]["Labels"];
    assert_eq!(labels["com.amazonaws.ecs.task-arn"], task.as_str());
    assert_eq!(labels["com.amazonaws.ecs.container-name"], "web");
    assert_eq!(labels["com.amazonaws.ecs.cluster"], fleet.cluster.as_str());
    assert_eq!(labels["com.amazonaws.ecs.task-definition-version"], "1");
    assert_eq!(labels["team"], "web");
    let name = inspected["Name"].as_str().unwrap_or_default();
    assert!(name.starts_with(&format!("/ecs-{}-web-1-web-", fleet.cluster)), "{name}");

    // The dynamic host port is reported and answers.
    let binding = &container.network_bindings()[0];
    assert_eq!(binding.container_port(), Some(8080));
    let port = binding.host_port().expect("host port") as u16;
    // RUNNING means the container started; the server inside may need a moment to listen.
    let (status, body) = crate::support::http_get_retry(port, "/", Duration::from_secs(10));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    // Describe/list views agree.
    let listed = fleet.ecs.list_tasks().cluster(&fleet.cluster).send().await.expect("list");
    assert_eq!(listed.task_arns(), std::slice::from_ref(&task));
    let instances = fleet
        .ecs
        .list_container_instances()
        .cluster(&fleet.cluster)
        .send()
        .await
        .expect("instances");
    let instance = fleet
        .ecs
        .describe_container_instances()
        .cluster(&fleet.cluster)
        .container_instances(&instances.container_instance_arns()[0])
        .send()
        .await
        .expect("describe instance");
    let instance = &instance.container_instances()[0];
    assert_eq!(instance.running_tasks_count(), 1);
    let registered = instance
        .registered_resources()
        .iter()
        .find(|r| r.name() == Some("MEMORY"))
        .expect("mem")
        .integer_value();
    let remaining = instance
        .remaining_resources()
        .iter()
        .find(|r| r.name() == Some("MEMORY"))
        .expect("mem")
        .integer_value();
    assert_eq!(registered - remaining, 64, "the reservation is booked");
    let cluster =
        fleet.ecs.describe_clusters().clusters(&fleet.cluster).send().await.expect("cluster");
    assert_eq!(cluster.clusters()[0].running_tasks_count(), 1);
    assert_eq!(cluster.clusters()[0].registered_container_instances_count(), 1);

    // A cluster with instances cannot be deleted.
    let err = fleet.ecs.delete_cluster().cluster(&fleet.cluster).send().await.expect_err("in use");
    assert_eq!(err.code(), Some("ClusterContainsContainerInstancesException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn essential_exit_stops_the_task_non_essential_exit_does_not() {
    let fleet = Fleet::start().await;
    let td = fleet
        .register(
            "mixed",
            vec![
                demo("main", &["serve"]).build(),
                demo("side", &["exit", "3", "--after", "1"]).essential(false).build(),
            ],
        )
        .await;
    let task = fleet.run(&td).await;
    let t = fleet
        .wait_task(&task, "side container stopped", |t| {
            t.containers()
                .iter()
                .any(|c| c.name() == Some("side") && c.last_status() == Some("STOPPED"))
        })
        .await;
    let side = t.containers().iter().find(|c| c.name() == Some("side")).expect("side");
    assert_eq!(side.exit_code(), Some(3));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        fleet.describe(&task).await.last_status(),
        Some("RUNNING"),
        "a non-essential exit leaves the task running"
    );

    let td =
        fleet.register("crash", vec![demo("main", &["exit", "5", "--after", "1"]).build()]).await;
    let task = fleet.run(&td).await;
    let stopped = fleet.wait_status(&task, "STOPPED").await;
    assert_eq!(stopped.stop_code(), Some(&TaskStopCode::EssentialContainerExited));
    assert_eq!(stopped.stopped_reason(), Some("Essential container in task exited"));
    assert_eq!(stopped.containers()[0].exit_code(), Some(5));
    assert_eq!(stopped.desired_status(), Some("STOPPED"));
    assert!(stopped.stopped_at().is_some() && stopped.stopping_at().is_some());
    let listed = fleet
        .ecs
        .list_tasks()
        .cluster(&fleet.cluster)
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .expect("list");
    assert!(listed.task_arns().contains(&task));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depends_on_orders_container_starts() {
    let fleet = Fleet::start().await;
    let health = demo_health_check(3);
    let dep = |name: &str, condition: ContainerCondition| {
        ContainerDependency::builder()
            .container_name(name)
            .condition(condition)
            .build()
            .expect("dependency")
    };
    let td = fleet
        .register(
            "deps",
            vec![
                demo("init", &["exit", "0", "--after", "1"]).essential(false).build(),
                demo("db", &["serve"])
                    .health_check(health)
                    .depends_on(dep("init", ContainerCondition::Success))
                    .build(),
                demo("web", &["sleep"]).depends_on(dep("db", ContainerCondition::Healthy)).build(),
            ],
        )
        .await;
    let task = fleet.run(&td).await;
    let running = fleet
        .wait_task_for(&task, "RUNNING", Duration::from_secs(40), |t| {
            t.last_status() == Some("RUNNING")
        })
        .await;
    let id = |name: &str| {
        running
            .containers()
            .iter()
            .find(|c| c.name() == Some(name))
            .and_then(|c| c.runtime_id())
            .expect("id")
            .to_string()
    };
    let time = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let init = docker_inspect(&id("init"));
    let db = docker_inspect(&id("db"));
    let web = docker_inspect(&id("web"));
    // RFC 3339 timestamps of one clock sort as strings.
    assert!(
        time(&db["State"]["StartedAt"]) >= time(&init["State"]["FinishedAt"]),
        "db started before init finished"
    );
    assert_eq!(db["State"]["Health"]["Status"], "healthy");
    assert!(time(&web["State"]["StartedAt"]) > time(&db["State"]["StartedAt"]));
    assert_eq!(running.health_status().map(|h| h.as_str()), Some("HEALTHY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_health_checks_make_the_task_unhealthy() {
    let fleet = Fleet::start().await;
    let health = demo_health_check(1);
    let td = fleet
        .register(
            "sick",
            vec![demo("web", &["serve", "--fail-health-after", "1"]).health_check(health).build()],
        )
        .await;
    let task = fleet.run(&td).await;
    let sick = fleet
        .wait_task_for(&task, "UNHEALTHY", Duration::from_secs(30), |t| {
            t.health_status().map(|h| h.as_str()) == Some("UNHEALTHY")
        })
        .await;
    assert_eq!(sick.containers()[0].health_status().map(|h| h.as_str()), Some("UNHEALTHY"));
}

/// The form most real task definitions use: a `CMD-SHELL` health check and an `sh -c` command,
/// both run by the demo image's shell (busybox), its `wget` as the probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cmd_shell_health_checks_and_sh_commands_run_in_the_demo_image() {
    let fleet = Fleet::start().await;
    let health = HealthCheck::builder()
        .command("CMD-SHELL")
        .command("wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1")
        .interval(5)
        .timeout(2)
        .retries(2)
        .build()
        .expect("health check");
    let script = "echo \"sh says $((6 * 7))\" && exec flotilla demo serve";
    let td = fleet
        .register("shell", vec![demo("web", &["sh", "-c", script]).health_check(health).build()])
        .await;
    let task = fleet.run(&td).await;
    let healthy = fleet
        .wait_task_for(&task, "HEALTHY", Duration::from_secs(40), |t| {
            t.health_status().map(|h| h.as_str()) == Some("HEALTHY")
        })
        .await;
    let id = healthy.containers()[0].runtime_id().expect("runtime id");
    wait_logs(id, "sh says 42");
    let inspected = docker_inspect(id);
    assert_eq!(inspected["State"]["Health"]["Status"], "healthy");
    assert_eq!(inspected["Config"]["Healthcheck"]["Test"][0], "CMD-SHELL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_task_sends_sigterm_then_sigkill_after_the_stop_timeout() {
    let fleet = Fleet::start().await;
    let td = fleet
        .register(
            "stubborn",
            vec![demo("web", &["serve", "--ignore-sigterm"]).stop_timeout(3).build()],
        )
        .await;
    let task = fleet.run(&td).await;
    fleet.wait_status(&task, "RUNNING").await;
    let started = Instant::now();
    let stopped = fleet
        .ecs
        .stop_task()
        .cluster(&fleet.cluster)
        .task(&task)
        .reason("enough")
        .send()
        .await
        .expect("stop");
    assert_eq!(stopped.task().and_then(|t| t.desired_status()), Some("STOPPED"));
    let done = fleet.wait_status(&task, "STOPPED").await;
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(3), "SIGKILL came before the stop timeout: {took:?}");
    assert_eq!(done.containers()[0].exit_code(), Some(137));
    assert_eq!(done.stop_code(), Some(&TaskStopCode::UserInitiated));
    assert_eq!(done.stopped_reason(), Some("enough"));

    let td = fleet.register("polite", vec![demo("web", &["serve"]).build()]).await;
    let task = fleet.run(&td).await;
    let running = fleet.wait_status(&task, "RUNNING").await;
    // PID 1 drops a SIGTERM that comes before its handler exists: wait for the server to be up.
    wait_logs(running.containers()[0].runtime_id().expect("id"), "listening on");
    fleet.ecs.stop_task().cluster(&fleet.cluster).task(&task).send().await.expect("stop");
    let done = fleet.wait_status(&task, "STOPPED").await;
    assert_eq!(done.containers()[0].exit_code(), Some(0), "SIGTERM was honoured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_fails_the_task_with_cannot_pull() {
    let fleet = Fleet::start().await;
    let td = fleet
        .register(
            "ghost",
            vec![aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("c")
                .image("flotilla/no-such-image:1")
                .memory(32)
                .build()],
        )
        .await;
    let task = fleet.run(&td).await;
    let stopped = fleet
        .wait_task_for(&task, "STOPPED", Duration::from_secs(90), |t| {
            t.last_status() == Some("STOPPED")
        })
        .await;
    assert_eq!(stopped.stop_code(), Some(&TaskStopCode::TaskFailedToStart));
    let reason = stopped.stopped_reason().unwrap_or_default();
    assert!(reason.starts_with("CannotPullContainerError:"), "{reason}");
    assert!(stopped.containers()[0]
        .reason()
        .unwrap_or_default()
        .starts_with("CannotPullContainerError"));
    assert!(stopped.pull_started_at().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_apply_to_the_container() {
    let fleet = Fleet::start().await;
    let td = fleet
        .register("ovr", vec![demo("main", &["sleep"]).environment(env("A", "1")).build()])
        .await;
    let out = fleet
        .ecs
        .run_task()
        .cluster(&fleet.cluster)
        .task_definition(&td)
        .started_by("tester")
        .overrides(
            TaskOverride::builder()
                .container_overrides(
                    ContainerOverride::builder()
                        .name("main")
                        .command("exit")
                        .command("7")
                        .environment(env("B", "2"))
                        .memory(96)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("run");
    let task = out.tasks()[0].task_arn().expect("arn").to_string();
    assert_eq!(out.tasks()[0].started_by(), Some("tester"));
    let stopped = fleet.wait_status(&task, "STOPPED").await;
    assert_eq!(stopped.containers()[0].exit_code(), Some(7), "the command override ran");
    let inspected = docker_inspect(stopped.containers()[0].runtime_id().expect("id"));
    let env_vars = inspected["Config"]["Env"].to_string();
    assert!(env_vars.contains("A=1") && env_vars.contains("B=2"), "{env_vars}");
    assert_eq!(inspected["HostConfig"]["Memory"], 96 * 1024 * 1024);
    let by_starter = fleet
        .ecs
        .list_tasks()
        .cluster(&fleet.cluster)
        .started_by("tester")
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .expect("list");
    assert_eq!(by_starter.task_arns(), [task]);

    let err = fleet
        .ecs
        .run_task()
        .cluster(&fleet.cluster)
        .task_definition(&td)
        .overrides(
            TaskOverride::builder()
                .container_overrides(ContainerOverride::builder().name("nope").build())
                .build(),
        )
        .send()
        .await
        .expect_err("unknown container");
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let err = fleet
        .ecs
        .run_task()
        .cluster(&fleet.cluster)
        .task_definition(&td)
        .count(11)
        .send()
        .await
        .expect_err("count");
    assert_eq!(err.code(), Some("InvalidParameterException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_reports_resource_failures_and_respects_draining() {
    let fleet = Fleet::with_agents(&[&["--memory", "200"]]).await;
    let td = fleet.register("big", vec![demo("main", &["sleep"]).memory(150).build()]).await;
    let out = fleet
        .ecs
        .run_task()
        .cluster(&fleet.cluster)
        .task_definition(&td)
        .count(2)
        .send()
        .await
        .expect("run");
    assert_eq!(out.tasks().len(), 1);
    assert_eq!(out.failures().len(), 1);
    assert_eq!(out.failures()[0].reason(), Some("RESOURCE:MEMORY"));

    let td80 = fleet
        .register(
            "port",
            vec![demo("main", &["sleep"])
                .memory(16)
                .port_mappings(PortMapping::builder().container_port(8080).host_port(18088).build())
                .build()],
        )
        .await;
    let first = fleet
        .ecs
        .run_task()
        .cluster(&fleet.cluster)
        .task_definition(&td80)
        .count(2)
        .send()
        .await
        .expect("run");
    assert_eq!(first.tasks().len(), 1);
    assert_eq!(first.failures()[0].reason(), Some("RESOURCE:PORTS"));

    let instance = fleet.wait_for_instances(1).await.remove(0);
    let drained = fleet
        .ecs
        .update_container_instances_state()
        .cluster(&fleet.cluster)
        .container_instances(&instance)
        .status(ContainerInstanceStatus::Draining)
        .send()
        .await
        .expect("drain");
    assert_eq!(drained.container_instances()[0].status(), Some("DRAINING"));
    let small = fleet.register("small", vec![demo("main", &["sleep"]).memory(8).build()]).await;
    let out = fleet
        .ecs
        .run_task()
        .cluster(&fleet.cluster)
        .task_definition(&small)
        .send()
        .await
        .expect("run");
    assert!(out.tasks().is_empty(), "no task on a DRAINING instance");

    // StartTask names the instance; deregistering with tasks needs force.
    fleet
        .ecs
        .update_container_instances_state()
        .cluster(&fleet.cluster)
        .container_instances(&instance)
        .status(ContainerInstanceStatus::Active)
        .send()
        .await
        .expect("activate");
    let started = fleet
        .ecs
        .start_task()
        .cluster(&fleet.cluster)
        .task_definition(&small)
        .container_instances(&instance)
        .send()
        .await
        .expect("start");
    assert_eq!(started.tasks().len(), 1);
    let err = fleet
        .ecs
        .deregister_container_instance()
        .cluster(&fleet.cluster)
        .container_instance(&instance)
        .send()
        .await
        .expect_err("tasks running");
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let out = fleet
        .ecs
        .deregister_container_instance()
        .cluster(&fleet.cluster)
        .container_instance(&instance)
        .force(true)
        .send()
        .await
        .expect("force");
    assert_eq!(out.container_instance().and_then(|i| i.status()), Some("INACTIVE"));
}

/// StartTask with every member it honours: on the named instance, with its group, startedBy,
/// tags and overrides reaching the real container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_task_runs_on_the_named_instance_with_its_settings() {
    let fleet = Fleet::start().await;
    let instance = fleet.wait_for_instances(1).await.remove(0);
    let td = fleet
        .register("starter", vec![demo("main", &["sleep"]).environment(env("A", "1")).build()])
        .await;
    let started = fleet
        .ecs
        .start_task()
        .cluster(&fleet.cluster)
        .task_definition(&td)
        .container_instances(&instance)
        .group("batch")
        .started_by("starter")
        .tags(aws_sdk_ecs::types::Tag::builder().key("job").value("nightly").build())
        .overrides(
            TaskOverride::builder()
                .cpu("256")
                .memory("192")
                .container_overrides(
                    ContainerOverride::builder()
                        .name("main")
                        .command("exit")
                        .command("5")
                        .environment(env("B", "2"))
                        .cpu(128)
                        .memory(96)
                        .memory_reservation(64)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("start");
    let task = &started.tasks()[0];
    assert_eq!(task.container_instance_arn(), Some(instance.as_str()));
    assert_eq!((task.group(), task.started_by()), (Some("batch"), Some("starter")));
    assert_eq!(task.tags()[0].key(), Some("job"));
    let arn = task.task_arn().expect("arn").to_string();
    let stopped = fleet.wait_status(&arn, "STOPPED").await;
    assert_eq!(stopped.containers()[0].exit_code(), Some(5), "the command override ran");
    let inspected = docker_inspect(stopped.containers()[0].runtime_id().expect("id"));
    let env_vars = inspected["Config"]["Env"].to_string();
    assert!(env_vars.contains("A=1") && env_vars.contains("B=2"), "{env_vars}");
    assert_eq!(inspected["HostConfig"]["Memory"], 96 * 1024 * 1024);
    assert_eq!(inspected["HostConfig"]["MemoryReservation"], 64 * 1024 * 1024);
    assert_eq!(inspected["HostConfig"]["CpuShares"], 128);
    assert_eq!(stopped.cpu(), Some("256"));
    assert_eq!(stopped.memory(), Some("192"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_kill_9_adopts_running_containers_and_reports_the_dead() {
    let mut fleet = Fleet::start().await;
    let td = fleet.register("adopt", vec![demo("web", &["serve"]).build()]).await;
    let keep = fleet.run(&td).await;
    let die = fleet.run(&td).await;
    let keep_task = fleet.wait_status(&keep, "RUNNING").await;
    let die_task = fleet.wait_status(&die, "RUNNING").await;
    let keep_id = keep_task.containers()[0].runtime_id().expect("id").to_string();
    let die_id = die_task.containers()[0].runtime_id().expect("id").to_string();

    fleet.agents[0].kill9();
    // While the agent is down, one container dies.
    let killed = std::process::Command::new("docker")
        .args(["kill", "--signal", "KILL", &die_id])
        .output()
        .expect("docker kill");
    assert!(killed.status.success());
    fleet.agents[0].restart();

    let dead = fleet.wait_status(&die, "STOPPED").await;
    assert_eq!(dead.containers()[0].exit_code(), Some(137), "{dead:#?}\n{}", fleet.agents[0].log());
    assert_eq!(dead.stop_code(), Some(&TaskStopCode::EssentialContainerExited));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kept = fleet.describe(&keep).await;
    assert_eq!(kept.last_status(), Some("RUNNING"));
    assert_eq!(kept.containers()[0].runtime_id(), Some(keep_id.as_str()), "same container");
    assert_eq!(containers_of(&keep), std::slice::from_ref(&keep_id), "no duplicate container");
    assert_eq!(docker_inspect(&keep_id)["State"]["Running"], true);
    // Still the same instance, connected again.
    assert_eq!(fleet.wait_for_instances(1).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_while_tasks_run_restarts_nothing() {
    let mut fleet = Fleet::start().await;
    let td = fleet.register("steady", vec![demo("web", &["serve"]).build()]).await;
    let task = fleet.run(&td).await;
    let before = fleet.wait_status(&task, "RUNNING").await;
    let id = before.containers()[0].runtime_id().expect("id").to_string();
    let started_at = docker_inspect(&id)["State"]["StartedAt"].clone();

    fleet.server.kill9_and_restart();
    fleet.ecs = fleet.server.ecs();
    fleet.wait_for_instances(1).await;
    let after = fleet.describe(&task).await;
    assert_eq!(after.last_status(), Some("RUNNING"));
    assert_eq!(after.containers()[0].runtime_id(), Some(id.as_str()));
    assert_eq!(
        docker_inspect(&id)["State"]["StartedAt"],
        started_at,
        "the container was not restarted"
    );
    assert_eq!(containers_of(&task).len(), 1);
    // And the reconnected agent still acts on new instructions.
    fleet.ecs.stop_task().cluster(&fleet.cluster).task(&task).send().await.expect("stop");
    fleet.wait_status(&task, "STOPPED").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_agent_token_is_refused_and_nothing_is_registered() {
    let fleet = Fleet::with_agents(&[]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "not-the-token\n").expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "agent",
            "--server",
            &fleet.server.endpoint(),
            "--cluster",
            &fleet.cluster,
            "--dns",
            "off",
            "--token-file",
        ])
        .arg(&token)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run agent");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refused the agent token"), "{stderr}");
    let listed =
        fleet.ecs.list_container_instances().cluster(&fleet.cluster).send().await.expect("list");
    assert!(listed.container_instance_arns().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_level_limits_hold_all_containers_together() {
    let fleet = Fleet::start().await;
    let td = fleet
        .register_with(
            "tasklimits",
            vec![
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("a")
                    .image(crate::support::DEMO_IMAGE)
                    .command("sleep")
                    .build(),
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("b")
                    .image(crate::support::DEMO_IMAGE)
                    .command("sleep")
                    .build(),
            ],
            |b| b.cpu("256").memory("128"),
        )
        .await;
    let task = fleet.run(&td).await;
    let running = fleet.wait_status(&task, "RUNNING").await;
    let task_id = task.rsplit('/').next().expect("id");
    if !std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        // No cgroup v1 here: each container is held to the task's limits instead.
        for container in running.containers() {
            let inspected = docker_inspect(container.runtime_id().expect("id"));
            assert_eq!(inspected["HostConfig"]["Memory"], 128 * 1024 * 1024);
        }
        return;
    }
    for container in running.containers() {
        let inspected = docker_inspect(container.runtime_id().expect("id"));
        assert_eq!(inspected["HostConfig"]["CgroupParent"], format!("/ecs/{task_id}"));
    }
    let limit = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/ecs/{task_id}/memory.limit_in_bytes"
    ))
    .expect("task cgroup");
    assert_eq!(
        limit.trim(),
        (128 * 1024 * 1024).to_string(),
        "the two containers share the task's 128 MiB"
    );
    let quota =
        std::fs::read_to_string(format!("/sys/fs/cgroup/cpu/ecs/{task_id}/cpu.cfs_quota_us"))
            .expect("cpu cgroup");
    assert_eq!(quota.trim(), "25000", "256 units = a quarter of a cpu");
}

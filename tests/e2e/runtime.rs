//! The agent's Docker runtime (`DockerRuntime`) against the real Docker Engine, with the demo
//! image: what a container plan becomes (`docker inspect`), exits, stops, health checks,
//! idempotent create, listing, events, and a missing image. Fails, never skips, without Docker.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flotilla_agent::runtime::{
    ContainerPlan, ContainerStatus, DockerRuntime, Health, RunState, Runtime, RuntimeError,
    LABEL_CLUSTER, LABEL_CONTAINER_NAME, LABEL_FAMILY, LABEL_REVISION, LABEL_TASK_ARN,
};
use serde_json::{json, Value};

use crate::support::{ensure_demo_image, DEMO_IMAGE};

/// Marks every container these tests create, for the cleanup guard and for humans.
const TEST_LABEL: &str = "io.flotilla.e2e";
/// A cluster no agent serves, so that an agent of another test sharing this Docker Engine can
/// tell these containers are not its orphans.
const CLUSTER: &str = "e2e-runtime";

fn runtime() -> DockerRuntime {
    ensure_demo_image();
    DockerRuntime::connect(None).expect("connect to docker")
}

/// A unique task (ARN and id) per plan, so parallel tests never share names.
fn task_id(test: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("rt{}x{}{test}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A plan for one demo container `name` of a fresh task, `command` after `/flotilla demo`;
/// `definition` adds container definition members, in ECS's JSON.
fn plan(test: &str, name: &str, command: &[&str], definition: Value) -> ContainerPlan {
    let task = task_id(test);
    let arn = format!("arn:aws:ecs:us-east-1:000000000000:task/{CLUSTER}/{task}");
    let mut members = json!({ "name": name, "image": DEMO_IMAGE, "command": command });
    for (key, value) in definition.as_object().into_iter().flatten() {
        members[key] = value.clone();
    }
    ContainerPlan {
        docker_name: format!("ecs-e2e-1-{name}-{task}"),
        definition: serde_json::from_value(members).expect("a container definition"),
        labels: BTreeMap::from([
            (LABEL_TASK_ARN.to_string(), arn),
            (LABEL_CONTAINER_NAME.to_string(), name.to_string()),
            (LABEL_CLUSTER.to_string(), CLUSTER.to_string()),
            (LABEL_FAMILY.to_string(), "e2e".to_string()),
            (LABEL_REVISION.to_string(), "1".to_string()),
            (TEST_LABEL.to_string(), "runtime".to_string()),
        ]),
        network_mode: "bridge".to_string(),
        ..Default::default()
    }
}

/// Removes a plan's container, and its task's volumes, when dropped, even when the test failed.
struct Cleanup {
    container: String,
    task_arn: String,
}

impl Cleanup {
    fn of(plan: &ContainerPlan) -> Cleanup {
        Cleanup {
            container: plan.docker_name.clone(),
            task_arn: plan.labels.get(LABEL_TASK_ARN).cloned().unwrap_or_default(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Best effort throughout: the container and volumes may be gone already.
        let quiet = |args: &[&str]| {
            Command::new("docker")
                .args(args)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        quiet(&["rm", "-f", "-v", &self.container]);
        let filter = format!("label={LABEL_TASK_ARN}={}", self.task_arn);
        for volume in quiet(&["volume", "ls", "-q", "--filter", &filter]).split_whitespace() {
            quiet(&["volume", "rm", volume]);
        }
    }
}

/// `docker inspect -f FORMAT TARGET` (`docker volume inspect` for volumes), or `None` when
/// there is no such object.
fn docker_inspect(kind: &str, target: &str, format: &str) -> Option<String> {
    let mut args = vec![kind, "inspect", "-f", format, target];
    if kind == "container" {
        args.remove(0);
    }
    let output = Command::new("docker")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .expect("run the docker CLI");
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn host_config(id: &str, field: &str) -> String {
    docker_inspect("container", id, &format!("{{{{json .HostConfig.{field}}}}}"))
        .unwrap_or_else(|| panic!("docker inspect {id}"))
}

/// Polls `inspect` until `done` holds, for up to `limit`.
async fn wait_for(
    runtime: &DockerRuntime,
    id: &str,
    limit: Duration,
    what: &str,
    done: impl Fn(&ContainerStatus) -> bool,
) -> ContainerStatus {
    let start = Instant::now();
    loop {
        let status = runtime.inspect(id).await.expect("inspect").expect("container exists");
        if done(&status) {
            return status;
        }
        assert!(start.elapsed() < limit, "container never became {what}: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET path` on localhost:`port`, retried until the server answers; the status line.
fn http_get(port: u16, path: &str) -> String {
    let start = Instant::now();
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut stream = TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            Ok(response.lines().next().unwrap_or_default().to_string())
        })();
        match attempt {
            Ok(status) if !status.is_empty() => return status,
            _ if start.elapsed() > Duration::from_secs(15) => {
                panic!("nothing answers GET {path} on port {port}: {attempt:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("bind port 0");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn a_plan_becomes_a_container_with_its_limits_ports_env_labels_and_volumes() {
    let runtime = runtime();
    let static_port = free_port();
    let config_dir = tempfile::tempdir().expect("tempdir");
    let mut plan = plan(
        "limits",
        "web",
        &["serve"],
        json!({
            "cpu": 256,
            "memory": 128,
            "memoryReservation": 64,
            "environment": [{ "name": "GREETING", "value": "hello" }],
            "portMappings": [
                { "containerPort": 8080, "hostPort": 0 },
                { "containerPort": 9000, "hostPort": static_port },
            ],
            "mountPoints": [
                { "sourceVolume": "config", "containerPath": "/config", "readOnly": true },
                { "sourceVolume": "scratch", "containerPath": "/scratch" },
            ],
        }),
    );
    plan.task_volumes = serde_json::from_value(json!([
        { "name": "config", "host": { "sourcePath": config_dir.path() } },
        { "name": "scratch", "host": {} },
    ]))
    .expect("volumes");
    plan.task_cpu_units = Some(512);
    plan.extra_env = vec![("ECS_AGENT".to_string(), "flotilla".to_string())];
    let _cleanup = Cleanup::of(&plan);

    let id = runtime.create(&plan).await.expect("create");
    runtime.start(&id).await.expect("start");
    let status = wait_for(&runtime, &id, Duration::from_secs(10), "running", |s| {
        s.state == RunState::Running
    })
    .await;
    assert_eq!(status.id, id);
    assert_eq!(status.name, plan.docker_name);
    // The image's labels come along too.
    for (key, value) in &plan.labels {
        assert_eq!(status.labels.get(key), Some(value), "label {key}");
    }
    assert!(status.started_at.is_some_and(|t| t > 1.6e9), "{status:?}");
    assert_eq!(status.finished_at, None);
    assert_eq!(status.exit_code, None);

    let ipv4 = |port: i32| {
        status
            .network_bindings
            .iter()
            .find(|b| b.container_port == Some(port) && b.bind_ip.as_deref() == Some("0.0.0.0"))
            .unwrap_or_else(|| panic!("no binding of {port}: {:?}", status.network_bindings))
            .clone()
    };
    let dynamic = ipv4(8080);
    let dynamic_port = dynamic.host_port.expect("dynamic host port");
    assert!(dynamic_port > 0);
    assert_eq!(dynamic.protocol.as_deref(), Some("tcp"));
    assert_eq!(ipv4(9000).host_port, Some(i32::from(static_port)));
    let status_line = http_get(u16::try_from(dynamic_port).expect("port"), "/healthz");
    assert!(status_line.contains(" 200"), "{status_line}");

    assert_eq!(host_config(&id, "CpuShares"), "256");
    assert_eq!(host_config(&id, "Memory"), (128 * 1024 * 1024).to_string());
    assert_eq!(host_config(&id, "MemoryReservation"), (64 * 1024 * 1024).to_string());
    assert_eq!(host_config(&id, "CpuPeriod"), "100000");
    assert_eq!(host_config(&id, "CpuQuota"), "50000");
    assert_eq!(host_config(&id, "RestartPolicy.Name"), "\"no\"");
    assert_eq!(host_config(&id, "NetworkMode"), "\"bridge\"");
    let env = docker_inspect("container", &id, "{{json .Config.Env}}").expect("env");
    assert!(env.contains("\"GREETING=hello\"") && env.contains("\"ECS_AGENT=flotilla\""), "{env}");
    let scratch = format!("ecs-e2e-1-scratch-{}", plan.docker_name.rsplit('-').next().expect("id"));
    let binds = host_config(&id, "Binds");
    assert!(binds.contains(&format!("{}:/config:ro", config_dir.path().display())), "{binds}");
    assert!(binds.contains(&format!("{scratch}:/scratch")), "{binds}");
    let volume_task =
        docker_inspect("volume", &scratch, &format!("{{{{index .Labels \"{LABEL_TASK_ARN}\"}}}}"));
    assert_eq!(volume_task.as_deref(), plan.labels.get(LABEL_TASK_ARN).map(String::as_str));

    // Removal takes the container and the task's volume with it, and can be repeated.
    runtime.remove(&id).await.expect("remove");
    assert_eq!(runtime.inspect(&id).await.expect("inspect"), None);
    assert_eq!(docker_inspect("volume", &scratch, "{{.Name}}"), None, "task volume left behind");
    runtime.remove(&id).await.expect("remove again");
    assert!(matches!(runtime.start(&id).await, Err(RuntimeError::NotFound(_))));
    assert!(matches!(
        runtime.stop(&id, Duration::from_secs(1)).await,
        Err(RuntimeError::NotFound(_))
    ));
}

#[tokio::test]
async fn an_exit_code_is_reported() {
    let runtime = runtime();
    let plan = plan("exit", "job", &["exit", "3"], json!({}));
    let _cleanup = Cleanup::of(&plan);
    let id = runtime.create(&plan).await.expect("create");
    assert_eq!(
        runtime.inspect(&id).await.expect("inspect").map(|s| s.state),
        Some(RunState::Created)
    );
    runtime.start(&id).await.expect("start");
    let status =
        wait_for(&runtime, &id, Duration::from_secs(15), "exited", |s| s.state == RunState::Exited)
            .await;
    assert_eq!(status.exit_code, Some(3));
    assert_eq!(status.error, None);
    assert!(status.finished_at.is_some() && status.finished_at >= status.started_at, "{status:?}");
    // Stopping a stopped container is fine.
    runtime.stop(&id, Duration::from_secs(1)).await.expect("stop an exited container");
}

#[tokio::test]
async fn stop_kills_a_container_that_ignores_sigterm_after_the_timeout() {
    let runtime = runtime();
    let plan = plan("stop", "stubborn", &["serve", "--ignore-sigterm"], json!({}));
    let _cleanup = Cleanup::of(&plan);
    let id = runtime.create(&plan).await.expect("create");
    runtime.start(&id).await.expect("start");
    wait_for(&runtime, &id, Duration::from_secs(10), "running", |s| s.state == RunState::Running)
        .await;
    // Give the server time to install its SIGTERM handler.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let start = Instant::now();
    runtime.stop(&id, Duration::from_secs(2)).await.expect("stop");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1900), "stopped after {took:?}: SIGTERM was not ignored");
    assert!(took < Duration::from_secs(10), "stop took {took:?}");
    let status = runtime.inspect(&id).await.expect("inspect").expect("exists");
    assert_eq!(status.state, RunState::Exited);
    assert_eq!(status.exit_code, Some(137));
}

#[tokio::test]
async fn a_health_check_reaches_healthy() {
    let runtime = runtime();
    let plan = plan(
        "health",
        "web",
        &["serve"],
        json!({
            "healthCheck": {
                "command": ["CMD", "/flotilla", "demo", "check", "http://127.0.0.1:8080/healthz"],
                "interval": 1,
                "timeout": 2,
                "retries": 3,
            },
        }),
    );
    let _cleanup = Cleanup::of(&plan);
    let id = runtime.create(&plan).await.expect("create");
    runtime.start(&id).await.expect("start");
    let status = wait_for(&runtime, &id, Duration::from_secs(30), "healthy", |s| {
        s.health == Some(Health::Healthy)
    })
    .await;
    assert_eq!(status.state, RunState::Running);
    assert_eq!(
        docker_inspect("container", &id, "{{.Config.Healthcheck.Interval}}").as_deref(),
        Some("1s")
    );
}

#[tokio::test]
async fn a_missing_image_fails_to_pull_quickly() {
    let runtime = runtime();
    let image = "flotilla/does-not-exist:nope";
    assert!(!runtime.image_present(image).await.expect("image_present"));
    assert!(runtime.image_present(DEMO_IMAGE).await.expect("image_present"));
    let start = Instant::now();
    let result = runtime.pull_image(image).await;
    assert!(matches!(result, Err(RuntimeError::ImagePull(_))), "{result:?}");
    assert!(start.elapsed() < Duration::from_secs(65), "pull took {:?}", start.elapsed());
    let message = result.expect_err("pull failed").to_string();
    assert!(message.starts_with("CannotPullContainerError: "), "{message}");
}

#[tokio::test]
async fn create_is_idempotent_and_list_managed_finds_the_container() {
    let runtime = runtime();
    let plan = plan("idem", "app", &["sleep"], json!({}));
    let _cleanup = Cleanup::of(&plan);
    let first = runtime.create(&plan).await.expect("create");
    let second = runtime.create(&plan).await.expect("create again");
    assert_eq!(first, second);

    let managed = runtime.list_managed().await.expect("list_managed");
    let ours: Vec<&ContainerStatus> = managed.iter().filter(|s| s.id == first).collect();
    assert_eq!(ours.len(), 1, "{managed:?}");
    assert_eq!(ours[0].state, RunState::Created);
    assert_eq!(ours[0].labels.get(LABEL_TASK_ARN), plan.labels.get(LABEL_TASK_ARN));
    assert!(managed.iter().all(|s| s.labels.contains_key(LABEL_TASK_ARN)));
}

#[tokio::test]
async fn events_report_a_container_that_died() {
    let runtime = runtime();
    let mut events = runtime.events();
    let plan = plan("events", "job", &["exit", "0"], json!({}));
    let _cleanup = Cleanup::of(&plan);
    // Let the follower connect before anything happens.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = runtime.create(&plan).await.expect("create");
    runtime.start(&id).await.expect("start");
    wait_for(&runtime, &id, Duration::from_secs(15), "exited", |s| s.state == RunState::Exited)
        .await;

    // Start and die both name the container; other tests' containers may be in the stream too.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = 0;
    while seen < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = tokio::time::timeout(left, events.recv()).await;
        match next {
            Ok(Some(event)) if event == id => seen += 1,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the event stream ended"),
            Err(_) => panic!("saw {seen} of the container's start and die events"),
        }
    }
}

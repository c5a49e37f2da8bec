//! The task metadata endpoint v4, read from inside real containers with `flotilla demo
//! metadata`: a container sees its own task (ARN, family, revision, containers, networks) and
//! its stats; a container of another task is refused, and so is an unknown URI.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fleet::{containers_of, demo, docker_inspect, Fleet};

/// The first line of the container's output that parses as JSON, waiting for it.
pub(crate) fn json_output(container: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let output =
            Command::new("docker").args(["logs", container]).output().expect("docker logs");
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        if let Some(value) = text.lines().find_map(|l| serde_json::from_str::<Value>(l).ok()) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "no JSON from {container}: {text} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the container's stdout has a line starting with `prefix`; returns it.
pub(crate) fn line_starting(container: &str, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let output =
            Command::new("docker").args(["logs", container]).output().expect("docker logs");
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        if let Some(line) = text.lines().find(|l| l.starts_with(prefix)) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no line starting with {prefix:?} from {container}: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn container_named(task_arn: &str, name: &str) -> String {
    containers_of(task_arn)
        .into_iter()
        .find(|id| {
            docker_inspect(id)["Config"]["Labels"]["com.amazonaws.ecs.container-name"] == name
        })
        .unwrap_or_else(|| panic!("no container {name} in {task_arn}"))
}

pub(crate) fn env_of(container: &str, name: &str) -> Option<String> {
    docker_inspect(container)["Config"]["Env"]
        .as_array()?
        .iter()
        .find_map(|e| e.as_str()?.strip_prefix(&format!("{name}=")).map(str::to_string))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_reads_its_own_task_metadata_and_no_other() {
    let fleet = Fleet::start().await;
    let definition = fleet
        .register(
            "meta",
            vec![
                demo("app", &["metadata", "/task", "--then-sleep"]).build(),
                demo("self", &["metadata", "", "--then-sleep"]).build(),
                demo("stats", &["metadata", "/stats", "--then-sleep"]).build(),
            ],
        )
        .await;
    let task = fleet.run(&definition).await;
    fleet.wait_status(&task, "RUNNING").await;

    let app = container_named(&task, "app");
    let uri = env_of(&app, "ECS_CONTAINER_METADATA_URI_V4").expect("the metadata URI is set");
    assert!(uri.starts_with("http://") && uri.contains("/v4/"), "{uri}");

    // /task: its own task, every container, ECS's shapes.
    let seen = json_output(&app);
    assert_eq!(seen["TaskARN"], task.as_str());
    assert_eq!(seen["Cluster"], fleet.cluster.as_str());
    assert_eq!(seen["Family"], format!("{}-meta", fleet.cluster));
    assert_eq!(seen["Revision"], "1");
    assert_eq!(seen["LaunchType"], "EC2");
    let containers = seen["Containers"].as_array().expect("Containers");
    let mut names: Vec<&str> = containers.iter().filter_map(|c| c["Name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["app", "self", "stats"]);
    let me = containers.iter().find(|c| c["Name"] == "app").expect("app");
    assert_eq!(me["DockerId"], app.as_str());
    assert_eq!(me["Labels"]["com.amazonaws.ecs.task-arn"], task.as_str());
    assert_eq!(me["Limits"]["Memory"], 64);
    assert_eq!(me["Networks"][0]["NetworkMode"], "bridge");
    let address =
        docker_inspect(&app)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"].clone();
    assert_eq!(me["Networks"][0]["IPv4Addresses"][0], address);

    // ${URI}: the container itself.
    let own = container_named(&task, "self");
    let itself = json_output(&own);
    assert_eq!(itself["DockerId"], own.as_str());
    assert_eq!(itself["Name"], "self");
    assert_eq!(itself["KnownStatus"], "RUNNING");

    // ${URI}/stats: Docker's stats of the container.
    let stats = json_output(&container_named(&task, "stats"));
    assert!(stats["memory_stats"].is_object(), "{stats}");
    assert!(stats["cpu_stats"]["cpu_usage"]["total_usage"].is_number(), "{stats}");

    // Another task's container, given the first one's URI, is refused; so is a made-up URI.
    let prying = fleet
        .register(
            "pry",
            vec![demo("pry", &["metadata", "/task", "--uri", &uri, "--then-sleep"]).build()],
        )
        .await;
    let other = fleet.run(&prying).await;
    fleet.wait_status(&other, "RUNNING").await;
    let refused = line_starting(&container_named(&other, "pry"), "metadata status");
    assert!(refused.starts_with("metadata status 403"), "{refused}");

    let base = uri.rsplit_once("/v4/").expect("a v4 URI").0;
    let guessed = format!("{base}/v4/00000000000000000000000000000000");
    let guessing = fleet
        .register(
            "guess",
            vec![demo("guess", &["metadata", "/task", "--uri", &guessed, "--then-sleep"]).build()],
        )
        .await;
    let third = fleet.run(&guessing).await;
    fleet.wait_status(&third, "RUNNING").await;
    let unknown = line_starting(&container_named(&third, "guess"), "metadata status");
    assert!(unknown.starts_with("metadata status 404"), "{unknown}");
}

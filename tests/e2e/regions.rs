//! Every region of the `aws` partition is served with its own state — ECS, Logs and metrics —
//! its ARNs naming it; a region outside the partition is refused as AWS refuses it; an agent
//! joins a cluster of another region, its tasks' output lands in that region's Logs; regions
//! opened once come back after a restart.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::LogConfiguration;
use serde_json::{json, Value};

use crate::fleet::{demo, Fleet};
use crate::support::{raw_http, Flotilla, SignedRaw, REGION};

const WEST: &str = "eu-west-1";
const OHIO: &str = "us-east-2";

/// A signed CloudWatch (AWS JSON 1.0) call in `region`: status and JSON answer.
fn cloudwatch(f: &Flotilla, region: &str, operation: &str, body: &Value) -> (u16, Value) {
    let (id, secret) = f.root_key();
    let target = format!("GraniteServiceVersion20100801.{operation}");
    let request = SignedRaw::for_service(
        "monitoring",
        &[("content-type", "application/x-amz-json-1.0"), ("x-amz-target", &target)],
        body.to_string().as_bytes(),
    )
    .sign(&id, &secret, region, SystemTime::now());
    let (status, body) = raw_http(f.port, &request.to_bytes()).expect("http");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn cluster_names(ecs: &aws_sdk_ecs::Client) -> Vec<String> {
    let listed = ecs.list_clusters().send().await.expect("list clusters");
    let mut names: Vec<String> = listed
        .cluster_arns()
        .iter()
        .map(|arn| arn.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_region_has_its_own_ecs_logs_and_metrics() {
    let mut f = Flotilla::start();
    let (home, west, ohio) = (f.ecs(), f.ecs_in(WEST), f.ecs_in(OHIO));

    // ECS: a cluster and a task-definition family in one region only; ARNs name it.
    let created = west.create_cluster().cluster_name("web").send().await.expect("create");
    let arn = created.cluster().and_then(|c| c.cluster_arn()).expect("arn").to_string();
    assert_eq!(arn, format!("arn:aws:ecs:{WEST}:000000000000:cluster/web"));
    assert_eq!(cluster_names(&west).await, ["default", "web"]);
    assert_eq!(cluster_names(&home).await, ["default"]);
    assert_eq!(cluster_names(&ohio).await, ["default"]);
    let missing = home.describe_clusters().clusters("web").send().await.expect("describe");
    assert_eq!(missing.failures()[0].reason(), Some("MISSING"));

    let container = demo("app", &["sleep"]).build();
    for (client, region) in [(&west, WEST), (&home, REGION), (&west, WEST)] {
        client
            .register_task_definition()
            .family("app")
            .container_definitions(container.clone())
            .send()
            .await
            .expect("register");
        let listed =
            client.list_task_definitions().family_prefix("app").send().await.expect("list");
        let last = listed.task_definition_arns().last().expect("a revision").to_string();
        assert!(last.starts_with(&format!("arn:aws:ecs:{region}:")), "{last}");
    }
    // Revisions count per region: two in the west, one at home.
    let revisions = |client: aws_sdk_ecs::Client| async move {
        let listed =
            client.list_task_definitions().family_prefix("app").send().await.expect("list");
        listed.task_definition_arns().len()
    };
    assert_eq!((revisions(west.clone()).await, revisions(home.clone()).await), (2, 1));

    // Logs: a group in one region is not in another; its ARN names the region.
    let west_logs = f.logs_in(WEST);
    west_logs.create_log_group().log_group_name("/regional").send().await.expect("create group");
    let groups = |logs: aws_sdk_cloudwatchlogs::Client| async move {
        let found = logs
            .describe_log_groups()
            .log_group_name_prefix("/regional")
            .send()
            .await
            .expect("describe groups");
        found.log_groups().iter().filter_map(|g| g.arn().map(str::to_string)).collect::<Vec<_>>()
    };
    assert_eq!(
        groups(west_logs.clone()).await,
        [format!("arn:aws:logs:{WEST}:000000000000:log-group:/regional:*")]
    );
    assert!(groups(f.logs()).await.is_empty());

    // Metrics answer in every region (their figures: the agent test below).
    let (status, body) = cloudwatch(&f, OHIO, "ListMetrics", &json!({"Namespace": "AWS/ECS"}));
    assert_eq!((status, &body["Metrics"]), (200, &json!([])), "{body}");

    // A region outside the partition is refused, in AWS's words, and opens nothing.
    let (id, secret) = f.root_key();
    let nowhere = crate::support::client(&f.endpoint(), &id, &secret, "xx-nowhere-1");
    let error = nowhere.list_clusters().send().await.expect_err("unknown region");
    assert_eq!(error.code(), Some("InvalidSignatureException"), "{error:?}");
    assert_eq!(error.message(), Some("Credential should be scoped to a valid region."));
    assert!(!f.data_dir.join("regions").join("xx-nowhere-1").exists());

    // After a restart, every region opened before is there again, with its data.
    f.kill9_and_restart();
    let west = f.ecs_in(WEST);
    assert_eq!(cluster_names(&west).await, ["default", "web"]);
    assert_eq!(cluster_names(&f.ecs()).await, ["default"]);
    assert_eq!(groups(f.logs_in(WEST)).await.len(), 1);
    assert_eq!(revisions(west).await, 2);
}

fn awslogs(group: &str, region: &str) -> LogConfiguration {
    let options: HashMap<String, String> = [
        ("awslogs-group", group),
        ("awslogs-stream-prefix", "r"),
        ("awslogs-create-group", "true"),
        ("awslogs-region", region),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    LogConfiguration::builder()
        .log_driver(aws_sdk_ecs::types::LogDriver::Awslogs)
        .set_options(Some(options))
        .build()
        .expect("log configuration")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_joins_a_cluster_of_another_region_and_its_logs_stay_there() {
    let fleet = Fleet::in_region(WEST).await;
    let group = format!("/ecs/{}", fleet.cluster);

    // awslogs-region must be the task's own region: another is refused, not ignored.
    let elsewhere = fleet
        .ecs
        .register_task_definition()
        .family("talk")
        .container_definitions(
            demo("app", &["lines", "3"]).log_configuration(awslogs(&group, REGION)).build(),
        )
        .send()
        .await
        .expect_err("another region's logs");
    assert_eq!(elsewhere.code(), Some("InvalidParameterException"));
    assert!(elsewhere.message().unwrap_or("").contains("is not supported yet"), "{elsewhere:?}");

    let definition = fleet
        .register(
            "talk",
            vec![demo("app", &["lines", "3", "--prefix", "west", "--then-sleep"])
                .log_configuration(awslogs(&group, WEST))
                .build()],
        )
        .await;
    assert!(definition.starts_with(&format!("arn:aws:ecs:{WEST}:")), "{definition}");
    let task = fleet.run(&definition).await;
    assert!(task.starts_with(&format!("arn:aws:ecs:{WEST}:")), "{task}");
    let running = fleet.wait_status(&task, "RUNNING").await;
    assert!(running.container_instance_arn().unwrap_or("").contains(WEST));

    // The lines arrive in the west's Logs, never at home.
    let stream = format!("r/app/{}", task.rsplit('/').next().unwrap_or_default());
    let west_logs = fleet.server.logs_in(WEST);
    let deadline = Instant::now() + Duration::from_secs(30);
    let messages = loop {
        let events = west_logs
            .get_log_events()
            .log_group_name(&group)
            .log_stream_name(&stream)
            .start_from_head(true)
            .send()
            .await;
        let messages: Vec<String> = events
            .map(|e| e.events().iter().filter_map(|e| e.message().map(str::to_string)).collect())
            .unwrap_or_default();
        if messages.len() >= 4 || Instant::now() > deadline {
            break messages;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(messages, ["west 1", "west 2", "west 3", "sleeping"]);
    let home_groups = fleet.server.logs().describe_log_groups().send().await.expect("describe");
    assert!(home_groups.log_groups().iter().all(|g| g.log_group_name() != Some(group.as_str())));

    // The cluster's figures go to the west's CloudWatch metrics only.
    let query = json!({"Namespace": "AWS/ECS", "Dimensions": [{"Name": "ClusterName", "Value": fleet.cluster}]});
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = cloudwatch(&fleet.server, WEST, "ListMetrics", &query);
        assert_eq!(status, 200, "{body}");
        if body["Metrics"].as_array().is_some_and(|m| !m.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "no AWS/ECS figures of the cluster in {WEST}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (_, body) = cloudwatch(&fleet.server, REGION, "ListMetrics", &query);
    assert_eq!(body["Metrics"], json!([]), "{body}");
    // And they answer as botocore's CloudWatch model says, in that region.
    let extra = ["--cluster", fleet.cluster.as_str()];
    crate::conformance::run_model_check_in(
        "check_cloudwatch_model.py",
        &fleet.server,
        WEST,
        &extra,
    );

    // The home region knows nothing of the cluster, its instance or its task.
    let home = fleet.server.ecs();
    let described =
        home.describe_clusters().clusters(&fleet.cluster).send().await.expect("describe");
    assert_eq!(described.failures()[0].reason(), Some("MISSING"));
    fleet.ecs.stop_task().cluster(&fleet.cluster).task(&task).send().await.expect("stop");
    fleet.wait_status(&task, "STOPPED").await;
}

#[test]
fn an_agent_naming_a_region_not_served_exits_saying_so() {
    let f = Flotilla::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut agent = std::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "agent",
            "--server",
            &f.endpoint(),
            "--region",
            "xx-fake-1",
            "--metadata-port",
            "0",
            "--dns",
            "off",
        ])
        .arg("--token-file")
        .arg(f.data_dir.join("agent-token"))
        .arg("--data-dir")
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn flotilla agent");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = agent.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = agent.kill();
            panic!("the agent kept retrying a region the server does not serve");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut agent.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success());
    assert!(stderr.contains("region 'xx-fake-1' is not served"), "{stderr}");
}

/// An agent route naming a region that is not open yet opens it only for the join token:
/// nobody else can make the server create regions.
#[test]
fn only_the_join_token_opens_a_region_for_agents() {
    let f = Flotilla::start();
    let request =
        "GET /v1/agent/connect?region=ap-south-2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (status, body) = raw_http(f.port, request.as_bytes()).expect("http");
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    assert!(!f.data_dir.join("regions").join("ap-south-2").exists(), "nothing was opened");
}

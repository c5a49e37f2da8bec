//! Task roles: a task whose definition names `taskRoleArn` reads the role's temporary
//! credentials from inside its container at ECS's container credentials endpoint
//! (`http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, with busybox's wget in the
//! demo image), and those credentials act as the role: allowed and denied by its policy.
//! RunTask's `overrides.taskRoleArn` gives a task a role. A task without a role is told
//! nothing; a made-up id and a role that does not trust ECS's tasks get nothing.

use aws_credential_types::Credentials;
use aws_sdk_ecs::config::{BehaviorVersion, Region};

use crate::fleet::{demo, Fleet};
use crate::metadata::{container_named, env_of, json_output, line_starting};
use crate::support::{query_call, REGION};

/// A form value, percent-encoded.
pub(crate) fn encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The text of the first `<name>` element of an XML answer.
pub(crate) fn element(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml.find(&open).map(|i| i + open.len()).expect("element");
    xml[start..].split('<').next().expect("text").to_string()
}

fn role(fleet: &Fleet, name: &str, trusted: &str, allowed: &str) -> String {
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{trusted},"Action":"sts:AssumeRole"}}]}}"#
    );
    let created = query_call(
        &fleet.server,
        "iam",
        "2010-05-08",
        &format!("Action=CreateRole&RoleName={name}&AssumeRolePolicyDocument={}", encoded(&trust)),
    );
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{allowed}","Resource":"*"}}]}}"#
    );
    query_call(
        &fleet.server,
        "iam",
        "2010-05-08",
        &format!(
            "Action=PutRolePolicy&RoleName={name}&PolicyName=p&PolicyDocument={}",
            encoded(&policy)
        ),
    );
    element(&created, "Arn")
}

/// Prints the task's credentials, then whether a made-up id is refused, then sleeps. The first
/// GET is tried a few times, as the SDKs do: port 80 may be changing hands between the agents
/// of this machine (other tests' agents come and go; the next takes over within 250 ms).
const READ_CREDENTIALS: &str = "for i in 1 2 3 4 5; do \
     wget -q -O - http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI && break; sleep 1; \
     done; echo; \
     wget -q -O - http://169.254.170.2/v2/credentials/80/made-up/id/00 || echo 'made-up refused'; \
     exec flotilla demo sleep";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_reads_its_roles_credentials_and_acts_as_the_role() {
    let fleet = Fleet::start().await;
    let trusted = r#"{"Service":"ecs-tasks.amazonaws.com"}"#;
    let role_arn = role(&fleet, "app-role", trusted, "ecs:ListClusters");
    let untrusted_arn = role(&fleet, "not-for-tasks", r#"{"Service":"ec2.amazonaws.com"}"#, "*");

    let with_role = fleet
        .register_with("roled", vec![demo("app", &["sh", "-c", READ_CREDENTIALS]).build()], |b| {
            b.task_role_arn(&role_arn)
        })
        .await;
    let task = fleet.run(&with_role).await;
    fleet.wait_status(&task, "RUNNING").await;
    let container = container_named(&task, "app");
    let uri = env_of(&container, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .unwrap_or_else(|| panic!("the URI is set; agent: {}", fleet.agents[0].log()));
    assert!(uri.starts_with("/v2/credentials/"), "{uri}");
    let credentials = json_output(&container);
    assert_eq!(credentials["RoleArn"], role_arn.as_str(), "{credentials}");
    let id = credentials["AccessKeyId"].as_str().expect("a key id");
    assert!(id.starts_with("ASIA"), "temporary keys: {id}");
    let expiration = credentials["Expiration"].as_str().expect("an expiration");
    assert!(expiration.ends_with('Z') && expiration.contains('T'), "ISO 8601: {expiration}");
    line_starting(&container, "made-up refused");

    // The credentials act as the role: what its policy allows and nothing else.
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(fleet.server.endpoint())
        .credentials_provider(Credentials::new(
            id,
            credentials["SecretAccessKey"].as_str().expect("secret"),
            Some(credentials["Token"].as_str().expect("token").to_string()),
            None,
            "task-role",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    let as_role = aws_sdk_ecs::Client::from_conf(config);
    as_role.list_clusters().send().await.expect("the role may list clusters");
    let denied = as_role.describe_clusters().send().await.expect_err("and nothing else");
    let code = denied.into_service_error().meta().code().map(str::to_string);
    assert_eq!(code.as_deref(), Some("AccessDeniedException"));

    // RunTask's override gives a task without a role of its own the role.
    let plain_definition = fleet
        .register("overridden", vec![demo("app", &["sh", "-c", READ_CREDENTIALS]).build()])
        .await;
    let overrides = aws_sdk_ecs::types::TaskOverride::builder().task_role_arn(&role_arn).build();
    let run = fleet
        .ecs
        .run_task()
        .cluster(&fleet.cluster)
        .task_definition(&plain_definition)
        .overrides(overrides)
        .send()
        .await
        .expect("run with a role override");
    let overridden = run.tasks()[0].task_arn().expect("arn").to_string();
    fleet.wait_status(&overridden, "RUNNING").await;
    let got = json_output(&container_named(&overridden, "app"));
    assert_eq!(got["RoleArn"], role_arn.as_str(), "the override's role: {got}");

    // No role, no credentials: nothing is told.
    let plain = fleet.register("plain", vec![demo("app", &["sleep"]).build()]).await;
    let plain_task = fleet.run(&plain).await;
    fleet.wait_status(&plain_task, "RUNNING").await;
    let plain_container = container_named(&plain_task, "app");
    assert_eq!(env_of(&plain_container, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), None);

    // A role whose trust policy does not name ECS's tasks gives them nothing.
    let script = "wget -q -O - http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
        || echo 'untrusted refused'; exec flotilla demo sleep";
    let untrusted = fleet
        .register_with("untrusted", vec![demo("app", &["sh", "-c", script]).build()], |b| {
            b.task_role_arn(&untrusted_arn)
        })
        .await;
    let untrusted_task = fleet.run(&untrusted).await;
    fleet.wait_status(&untrusted_task, "RUNNING").await;
    line_starting(&container_named(&untrusted_task, "app"), "untrusted refused");

    // Straight at this agent's port: the first task's credentials (now in the agent's cache),
    // then nothing once the task has stopped.
    let port: u16 = uri.split('/').nth(3).and_then(|p| p.parse().ok()).expect("the URI's port");
    let get = || {
        let request =
            format!("GET {uri} HTTP/1.1\r\nhost: 169.254.170.2\r\nconnection: close\r\n\r\n");
        let mut stream = std::net::TcpStream::connect(("169.254.170.2", port)).expect("connect");
        std::io::Write::write_all(&mut stream, request.as_bytes()).expect("send");
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).expect("read");
        answer
    };
    assert!(get().starts_with("HTTP/1.1 200"), "a running task's credentials");
    for task in [task, overridden, plain_task, untrusted_task] {
        fleet.ecs.stop_task().cluster(&fleet.cluster).task(&task).send().await.expect("stop");
        fleet.wait_status(&task, "STOPPED").await;
    }
    let after = get();
    assert!(
        after.starts_with("HTTP/1.1 400") && after.contains("InvalidIdInRequest"),
        "a stopped task's id gets nothing, as an unknown one: {after}"
    );
}

/// The Docker bridge's address on this machine (`docker0`): where a bridge-mode container
/// reaches it.
fn docker_gateway() -> String {
    let output = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "docker0"])
        .output()
        .expect("ip addr show docker0");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let address = text.split_whitespace().skip_while(|w| *w != "inet").nth(1);
    let address = address.and_then(|a| a.split('/').next()).unwrap_or_default();
    assert!(!address.is_empty(), "docker0 has no IPv4 address: {text}");
    address.to_string()
}

/// The official SDK for Rust inside a container (`examples/role_probe.rs`, mounted from the
/// build's target directory into a demo-image container) finds the task role's credentials
/// through its default chain, unchanged, and calls Flotilla as the role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_inside_a_container_finds_the_role_and_acts_as_it() {
    let examples = std::env::current_exe()
        .ok()
        .and_then(|test| Some(test.parent()?.parent()?.join("examples")))
        .expect("the target directory");
    assert!(
        examples.join("role_probe").exists(),
        "no {}: `cargo test --workspace` builds it, or `cargo build -p flotilla --example role_probe`",
        examples.join("role_probe").display()
    );
    let fleet = Fleet::reachable_from_containers().await;
    let role_arn =
        role(&fleet, "sdk-role", r#"{"Service":"ecs-tasks.amazonaws.com"}"#, "ecs:ListClusters");
    let endpoint = format!("http://{}:{}", docker_gateway(), fleet.server.port);
    let probe = demo("probe", &["sh", "-c", "/probe/role_probe; exec flotilla demo sleep"])
        .environment(
            aws_sdk_ecs::types::KeyValuePair::builder()
                .name("FLOTILLA_ENDPOINT")
                .value(&endpoint)
                .build(),
        )
        .mount_points(
            aws_sdk_ecs::types::MountPoint::builder()
                .source_volume("probe")
                .container_path("/probe")
                .read_only(true)
                .build(),
        )
        .build();
    let volume = aws_sdk_ecs::types::Volume::builder()
        .name("probe")
        .host(
            aws_sdk_ecs::types::HostVolumeProperties::builder()
                .source_path(examples.display().to_string())
                .build(),
        )
        .build();
    let definition = fleet
        .register_with("sdk", vec![probe], |b| b.task_role_arn(&role_arn).volumes(volume))
        .await;
    let task = fleet.run(&definition).await;
    fleet.wait_status(&task, "RUNNING").await;
    let seen = json_output(&container_named(&task, "probe"));
    assert!(seen["AccessKeyId"].as_str().is_some_and(|k| k.starts_with("ASIA")), "{seen}");
    assert_eq!(seen["ListClusters"], "ok", "the role's policy allows it: {seen}");
    assert_eq!(seen["DescribeClusters"], "AccessDeniedException", "and nothing else: {seen}");
    fleet.ecs.stop_task().cluster(&fleet.cluster).task(&task).send().await.expect("stop");
    fleet.wait_status(&task, "STOPPED").await;
}

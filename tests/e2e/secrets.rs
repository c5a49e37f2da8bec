//! Secrets Manager and Parameter Store through botocore's own clients
//! (`tests/conformance/secrets_api.py`, `tests/conformance/ssm_api.py`), and what a restart
//! keeps of them.

use std::path::Path;
use std::time::SystemTime;

use aws_sdk_ecs::types::{DesiredStatus, LogConfiguration, LogDriver, Secret};
use serde_json::{json, Value};

use crate::conformance::run_model_check;
use crate::fleet::{containers_of, demo, docker_inspect, Fleet};
use crate::support::{query_call, raw_http, Flotilla, SignedRaw, REGION};
use crate::task_roles::{element, encoded};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_answers_as_aws() {
    run_model_check("secrets_api.py", &Flotilla::start(), &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_store_answers_as_aws() {
    run_model_check("ssm_api.py", &Flotilla::start(), &[]);
}

/// A JSON-protocol call of another service (Secrets Manager, Parameter Store) with the root key.
fn json_call(f: &Flotilla, signing_name: &'static str, target: &str, body: Value) -> Value {
    let (id, secret) = f.root_key();
    let request = SignedRaw::for_service(
        signing_name,
        &[("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target)],
        body.to_string().as_bytes(),
    )
    .sign(&id, &secret, REGION, SystemTime::now());
    let (status, answer) = raw_http(f.port, &request.to_bytes()).expect("http");
    let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    assert_eq!(status, 200, "{target}: {answer}");
    answer
}

/// A role ECS's tasks may assume, with `policy` as its only inline policy; its ARN.
fn execution_role(f: &Flotilla, name: &str, policy: &Value) -> String {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let created = query_call(
        f,
        "iam",
        "2010-05-08",
        &format!(
            "Action=CreateRole&RoleName={name}&AssumeRolePolicyDocument={}",
            encoded(&trust.to_string())
        ),
    );
    query_call(
        f,
        "iam",
        "2010-05-08",
        &format!(
            "Action=PutRolePolicy&RoleName={name}&PolicyName=p&PolicyDocument={}",
            encoded(&policy.to_string())
        ),
    );
    element(&created, "Arn")
}

fn secret(name: &str, value_from: &str) -> Secret {
    Secret::builder().name(name).value_from(value_from).build().expect("secret")
}

/// Every file under `dir`, read as bytes, that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// A task definition's `secrets` (a Secrets Manager JSON key, a SecureString parameter by name)
/// and `logConfiguration.secretOptions` (a parameter by ARN) reach the container's environment
/// and its log driver's options, read with the execution role; a role its policy does not let
/// read the secret, and a parameter that does not exist, fail the task with ECS's reasons, as
/// does an `awslogs` stream the role may not write (one it may write starts). The
/// values appear in no Describe answer, service event, server or agent log, agent state file,
/// store file or metric.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_secrets_reach_containers_and_nowhere_else() {
    let logs = tempfile::tempdir().expect("tempdir");
    let server_log = logs.path().join("server.log");
    // The server's output at its most talkative, kept to be searched.
    let capture = format!("FLOTILLA_LOG=debug exec \"$@\" 2>>{}", server_log.display());
    let server = Flotilla::start_under(&["sh", "-c", &capture, "sh"]);
    let fleet = Fleet::build_with(server, None, &[&[]]).await;
    let f = &fleet.server;
    let run = &fleet.cluster;
    // Values no other test or file holds, so finding one anywhere is a leak.
    let (password, token, log_label) =
        (format!("pw-{run}-Zq7"), format!("tok-{run}-Xr2"), format!("lbl-{run}-Wp5"));

    let created = json_call(
        f,
        "secretsmanager",
        "secretsmanager.CreateSecret",
        json!({"Name": format!("{run}/db"),
               "SecretString": json!({"user": "admin", "password": password}).to_string()}),
    );
    let secret_arn = created["ARN"].as_str().expect("secret ARN").to_string();
    let ssm = |body: Value| json_call(f, "ssm", "AmazonSSM.PutParameter", body);
    ssm(json!({"Name": format!("/{run}/token"), "Value": token, "Type": "SecureString"}));
    ssm(json!({"Name": format!("/{run}/label"), "Value": log_label, "Type": "SecureString"}));
    let account = secret_arn.split(':').nth(4).expect("account").to_string();
    let label_arn = format!("arn:aws:ssm:{REGION}:{account}:parameter/{run}/label");

    let reader = execution_role(
        f,
        &format!("{run}-exec"),
        &json!({"Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
             "Resource": format!("arn:aws:secretsmanager:{REGION}:{account}:secret:{run}/db-*")},
            {"Effect": "Allow", "Action": "ssm:GetParameters",
             "Resource": format!("arn:aws:ssm:{REGION}:{account}:parameter/{run}/*")},
            {"Effect": "Allow",
             "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": [format!("arn:aws:logs:{REGION}:{account}:log-group:/{run}/allowed"),
                          format!("arn:aws:logs:{REGION}:{account}:log-group:/{run}/allowed:*")]}]}),
    );
    let outsider = execution_role(
        f,
        &format!("{run}-other"),
        &json!({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": "*"}]}),
    );

    // Secrets need an execution role, as ECS says at registration.
    let refused = fleet
        .ecs
        .register_task_definition()
        .family(format!("{run}-no-role"))
        .container_definitions(
            demo("app", &[]).secrets(secret("TOKEN", &format!("/{run}/token"))).build(),
        )
        .send()
        .await
        .expect_err("secrets without an execution role");
    let message = format!("{:?}", refused.into_service_error());
    assert!(
        message.contains(
            "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."
        ),
        "{message}"
    );

    let app = demo("app", &["sh", "-c", "exec flotilla demo sleep"])
        .secrets(secret("DB_PASSWORD", &format!("{secret_arn}:password::")))
        .secrets(secret("TOKEN", &format!("/{run}/token")))
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::JsonFile)
                .secret_options(secret("labels", &label_arn))
                .build()
                .expect("log configuration"),
        )
        .build();
    let definition =
        fleet.register_with("secreted", vec![app], |b| b.execution_role_arn(&reader)).await;
    let service = format!("{run}-svc");
    fleet
        .ecs
        .create_service()
        .cluster(run)
        .service_name(&service)
        .task_definition(&definition)
        .desired_count(1)
        .send()
        .await
        .expect("create service");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let task = loop {
        let tasks = fleet.service_tasks(&service, &[DesiredStatus::Running]).await;
        if let Some(task) = tasks.iter().find(|t| t.last_status() == Some("RUNNING")) {
            break task.clone();
        }
        if let Some(stopped) = tasks.iter().find(|t| t.last_status() == Some("STOPPED")) {
            panic!("the task stopped: {:?}", stopped.stopped_reason());
        }
        assert!(std::time::Instant::now() < deadline, "no running task: {tasks:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let task_arn = task.task_arn().expect("task ARN").to_string();
    let container = containers_of(&task_arn).pop().expect("the task's container");
    let inspected = docker_inspect(&container);
    let env: Vec<&str> = inspected["Config"]["Env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(env.contains(&format!("DB_PASSWORD={password}").as_str()), "{env:?}");
    assert!(env.contains(&format!("TOKEN={token}").as_str()), "{env:?}");
    assert_eq!(inspected["HostConfig"]["LogConfig"]["Config"]["labels"], log_label.as_str());

    // A role whose policy does not reach the secret, and a parameter that does not exist.
    let denied_def = fleet
        .register_with(
            "denied",
            vec![demo("app", &[]).secrets(secret("DB_PASSWORD", &secret_arn)).build()],
            |b| b.execution_role_arn(&outsider),
        )
        .await;
    let denied = fleet.run(&denied_def).await;
    let stopped = fleet.wait_status(&denied, "STOPPED").await;
    let reason = stopped.stopped_reason().unwrap_or_default();
    assert_eq!(stopped.stop_code().map(|c| c.as_str()), Some("TaskFailedToStart"));
    assert!(
        reason.starts_with("ResourceInitializationError: unable to pull secrets or registry auth")
            && reason.contains("AccessDeniedException")
            && reason.contains("secretsmanager:GetSecretValue"),
        "{reason}"
    );
    let missing_def = fleet
        .register_with(
            "missing",
            vec![demo("app", &[]).secrets(secret("GONE", &format!("/{run}/absent"))).build()],
            |b| b.execution_role_arn(&reader),
        )
        .await;
    let missing = fleet.run(&missing_def).await;
    let stopped = fleet.wait_status(&missing, "STOPPED").await;
    let reason = stopped.stopped_reason().unwrap_or_default();
    assert!(reason.contains(&format!("invalid parameters: /{run}/absent")), "{reason}");

    // awslogs writes with the execution role: a stream it may write, and one it may not.
    let awslogs = |group: &str, create: bool| {
        let builder = LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", group)
            .options("awslogs-stream-prefix", "app");
        let builder =
            if create { builder.options("awslogs-create-group", "true") } else { builder };
        builder.build().expect("log configuration")
    };
    let allowed_def = fleet
        .register_with(
            "logs-allowed",
            vec![demo("app", &[])
                .log_configuration(awslogs(&format!("/{run}/allowed"), true))
                .build()],
            |b| b.execution_role_arn(&reader),
        )
        .await;
    let allowed = fleet.run(&allowed_def).await;
    fleet.wait_status(&allowed, "RUNNING").await;
    json_call(
        f,
        "logs",
        "Logs_20140328.CreateLogGroup",
        json!({"logGroupName": format!("/{run}/denied")}),
    );
    let unwritable_def = fleet
        .register_with(
            "logs-denied",
            vec![demo("app", &[])
                .log_configuration(awslogs(&format!("/{run}/denied"), false))
                .build()],
            |b| b.execution_role_arn(&reader),
        )
        .await;
    let unwritable = fleet.run(&unwritable_def).await;
    let stopped = fleet.wait_status(&unwritable, "STOPPED").await;
    let reason = stopped.stopped_reason().unwrap_or_default();
    assert!(
        reason.starts_with("CannotStartContainerError: Error response from daemon: failed to initialize logging driver: failed to create Cloudwatch log stream: AccessDeniedException")
            && reason.contains("logs:CreateLogStream"),
        "{reason}"
    );

    // Nowhere else: what the API answers, the logs, the files and the metrics.
    let described = fleet
        .ecs
        .describe_tasks()
        .cluster(run)
        .tasks(&task_arn)
        .tasks(&denied)
        .tasks(&missing)
        .send()
        .await
        .expect("describe tasks");
    let services = fleet
        .ecs
        .describe_services()
        .cluster(run)
        .services(&service)
        .send()
        .await
        .expect("describe services");
    let definitions = fleet
        .ecs
        .describe_task_definition()
        .task_definition(&definition)
        .send()
        .await
        .expect("describe task definition");
    let (_, metrics) =
        raw_http(f.port, b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .expect("metrics");
    let answers =
        format!("{described:?}{services:?}{definitions:?}{}", String::from_utf8_lossy(&metrics));
    let agent_dir = fleet.agents[0].data_dir.clone();
    for value in [&password, &token, &log_label] {
        assert!(!answers.contains(value.as_str()), "a Describe answer or metric shows {value}");
        let mut found = files_containing(&agent_dir, value);
        found.extend(files_containing(&f.data_dir, value));
        found.extend(files_containing(logs.path(), value));
        assert!(found.is_empty(), "{value} is in {found:?}");
    }
    // The search finds what is there: the values are in Docker's record of the container.
    let inspected = serde_json::to_string(&inspected).expect("json");
    assert!(inspected.contains(&password) && inspected.contains(&token));
    assert!(
        std::fs::metadata(&server_log).map(|m| m.len() > 0).unwrap_or(false),
        "the server logged"
    );
}

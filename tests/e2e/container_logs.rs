//! Container output with the `awslogs` driver, end to end: a real container writes numbered
//! lines, the agent ships them, and `aws-sdk-cloudwatchlogs` reads them back — exact, in order,
//! none lost — including 100,000 lines written as fast as possible and lines written while the
//! server is down.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::Client as Logs;
use aws_sdk_ecs::types::LogConfiguration;

use crate::fleet::{demo, Fleet};

/// Every message of a stream, oldest first, once `expected` have arrived (or the time is up).
async fn read_stream(logs: &Logs, group: &str, stream: &str, expected: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut messages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = match logs
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .start_from_head(true)
                .set_next_token(token.clone())
                .send()
                .await
            {
                Ok(page) => page,
                // Not created yet (the first batch is on its way) or the server is restarting.
                Err(_) => break,
            };
            messages.extend(page.events().iter().filter_map(|e| e.message().map(str::to_string)));
            let next = page.next_forward_token().map(str::to_string);
            if next.is_none() || next == token {
                break;
            }
            token = next;
        }
        if messages.len() >= expected || Instant::now() > deadline {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn awslogs(options: &[(&str, &str)]) -> LogConfiguration {
    let options: HashMap<String, String> =
        options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    LogConfiguration::builder()
        .log_driver(aws_sdk_ecs::types::LogDriver::Awslogs)
        .set_options(Some(options))
        .build()
        .expect("log configuration")
}

fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

/// What `flotilla demo lines COUNT --prefix PREFIX --then-sleep` writes.
fn numbered(prefix: &str, count: usize) -> Vec<String> {
    let mut lines: Vec<String> = (1..=count).map(|n| format!("{prefix} {n}")).collect();
    lines.push("sleeping".to_string());
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_thousand_lines_arrive_exactly_and_in_order() {
    let fleet = Fleet::start().await;
    let group = format!("/ecs/{}", fleet.cluster);
    let definition = fleet
        .register(
            "fast",
            vec![demo("writer", &["lines", "100000", "--prefix", "fast", "--then-sleep"])
                .log_configuration(awslogs(&[
                    ("awslogs-group", &group),
                    ("awslogs-stream-prefix", "e2e"),
                    ("awslogs-create-group", "true"),
                    ("awslogs-region", "us-east-1"),
                ]))
                .build()],
        )
        .await;
    let task = fleet.run(&definition).await;
    fleet.wait_status(&task, "RUNNING").await;
    let logs = fleet.server.logs();
    let stream = format!("e2e/writer/{}", task_id(&task));

    let messages = read_stream(&logs, &group, &stream, 100_001).await;
    let expected = numbered("fast", 100_000);
    assert_eq!(messages.len(), expected.len(), "lines lost or repeated");
    assert!(messages == expected, "lines out of order or changed");

    // The stream is named as ECS names it and is searchable.
    let described = logs
        .describe_log_streams()
        .log_group_name(&group)
        .log_stream_name_prefix("e2e/writer/")
        .send()
        .await
        .expect("describe streams");
    assert_eq!(described.log_streams().len(), 1);
    let found = logs
        .filter_log_events()
        .log_group_name(&group)
        .filter_pattern("\"fast 99999\"")
        .send()
        .await
        .expect("filter");
    let hits: Vec<&str> = found.events().iter().filter_map(|e| e.message()).collect();
    assert_eq!(hits, ["fast 99999"]);
    assert_eq!(found.events()[0].log_stream_name(), Some(stream.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_written_while_the_server_is_down_arrive_after_it_returns() {
    let mut fleet = Fleet::start().await;
    let group = format!("/ecs/{}-outage", fleet.cluster);
    let logs = fleet.server.logs();
    logs.create_log_group().log_group_name(&group).send().await.expect("create group");
    // 3,000 lines over 7.5 s; the server is away for 4 s of it.
    let definition = fleet
        .register(
            "steady",
            vec![demo(
                "writer",
                &["lines", "3000", "--rate", "400", "--prefix", "steady", "--then-sleep"],
            )
            .log_configuration(awslogs(&[
                ("awslogs-group", &group),
                ("awslogs-stream-prefix", "o"),
            ]))
            .build()],
        )
        .await;
    let task = fleet.run(&definition).await;
    fleet.wait_status(&task, "RUNNING").await;
    let stream = format!("o/writer/{}", task_id(&task));
    let before = read_stream(&logs, &group, &stream, 1).await;
    assert!(!before.is_empty(), "no line arrived before the outage");

    fleet.server.kill9();
    tokio::time::sleep(Duration::from_secs(4)).await;
    fleet.server.start_again();

    let logs = fleet.server.logs();
    let messages = read_stream(&logs, &group, &stream, 3001).await;
    assert_eq!(messages.len(), 3001, "lines lost or repeated across the outage");
    assert!(messages == numbered("steady", 3000), "lines out of order across the outage");
}

/// `flotilla logs` against the test's server (credentials from its data directory).
fn flotilla_logs(fleet: &Fleet, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_flotilla"));
    command
        .arg("logs")
        .args(["--cluster", &fleet.cluster, "--endpoint", &fleet.server.endpoint()])
        .arg("--data-dir")
        .arg(&fleet.server.data_dir)
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn flotilla_logs_prints_a_task_and_follows_a_service() {
    use std::io::BufRead;

    let fleet = Fleet::start().await;
    let group = format!("/ecs/{}-cli", fleet.cluster);
    let options = [
        ("awslogs-group", group.as_str()),
        ("awslogs-stream-prefix", "cli"),
        ("awslogs-create-group", "true"),
    ];
    // A task that writes three lines and stays up.
    let definition = fleet
        .register(
            "once",
            vec![demo("app", &["lines", "3", "--prefix", "hello", "--then-sleep"])
                .log_configuration(awslogs(&options))
                .build()],
        )
        .await;
    let task = fleet.run(&definition).await;
    fleet.wait_status(&task, "RUNNING").await;
    read_stream(&fleet.server.logs(), &group, &format!("cli/app/{}", task_id(&task)), 4).await;
    let output =
        flotilla_logs(&fleet, &["--task", task_id(&task)]).output().expect("flotilla logs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello 1\nhello 2\nhello 3\nsleeping\n");

    // A service of two tasks writing slowly: -f shows new lines from both, prefixed by task and
    // container (no colour: stdout is a pipe).
    let slow = fleet
        .register(
            "slow",
            vec![demo(
                "ticker",
                &["lines", "40", "--rate", "4", "--prefix", "tick", "--then-sleep"],
            )
            .log_configuration(awslogs(&options))
            .build()],
        )
        .await;
    fleet
        .ecs
        .create_service()
        .cluster(&fleet.cluster)
        .service_name("ticker")
        .task_definition(&slow)
        .desired_count(2)
        .send()
        .await
        .expect("create service");
    let mut follower = flotilla_logs(&fleet, &["--service", "ticker", "-f"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("flotilla logs -f");
    let stdout = follower.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut seen: HashMap<String, Vec<String>> = HashMap::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Some((label, message)) = line.split_once(" | ") else { continue };
            seen.entry(label.to_string()).or_default().push(message.to_string());
            let done = seen.len() == 2 && seen.values().all(|m| m.iter().any(|l| l == "tick 40"));
            if done {
                break;
            }
        }
        seen
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reader.is_finished() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let seen = reader.join().expect("reader");
    assert_eq!(seen.len(), 2, "two tasks' streams: {seen:?}");
    for (label, messages) in &seen {
        assert!(label.ends_with("/ticker"), "{label}");
        let ticks: Vec<String> = (1..=40).map(|n| format!("tick {n}")).collect();
        assert_eq!(&messages[..40], &ticks[..], "{label}: lines in order, none lost");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_killed_mid_stream_resumes_where_it_left_off() {
    let mut fleet = Fleet::start().await;
    let group = format!("/ecs/{}-restart", fleet.cluster);
    let definition = fleet
        .register(
            "resume",
            vec![demo(
                "writer",
                &["lines", "3000", "--rate", "400", "--prefix", "r", "--then-sleep"],
            )
            .log_configuration(awslogs(&[
                ("awslogs-group", &group),
                ("awslogs-stream-prefix", "r"),
                ("awslogs-create-group", "true"),
            ]))
            .build()],
        )
        .await;
    let task = fleet.run(&definition).await;
    fleet.wait_status(&task, "RUNNING").await;
    let logs = fleet.server.logs();
    let stream = format!("r/writer/{}", task_id(&task));
    assert!(!read_stream(&logs, &group, &stream, 1).await.is_empty(), "nothing before the kill");

    // kill -9 mid-stream; the container goes on writing meanwhile.
    fleet.agents[0].kill9();
    tokio::time::sleep(Duration::from_secs(2)).await;
    fleet.agents[0].restart();

    let messages = read_stream(&logs, &group, &stream, 3001).await;
    // Delivery is at least once: a batch the server took just before the kill may come twice,
    // but nothing is lost and the order holds.
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<&String> = messages.iter().filter(|m| seen.insert(m.as_str())).collect();
    let expected = numbered("r", 3000);
    assert_eq!(distinct.len(), expected.len(), "lines lost across the agent restart");
    assert!(distinct.iter().zip(&expected).all(|(a, b)| *a == b), "lines out of order");
    assert!(messages.len() - distinct.len() <= 5000, "more than one batch repeated");
}

#[tokio::test(flavor = "multi_thread")]
async fn long_lines_stay_whole_and_a_waiting_container_is_followed_once_started() {
    use aws_sdk_ecs::types::{ContainerCondition, ContainerDependency};

    let fleet = Fleet::start().await;
    let group = format!("/ecs/{}-shapes", fleet.cluster);
    let options = [
        ("awslogs-group", group.as_str()),
        ("awslogs-stream-prefix", "s"),
        ("awslogs-create-group", "true"),
    ];
    let after_init = ContainerDependency::builder()
        .container_name("init")
        .condition(ContainerCondition::Success)
        .build()
        .expect("dependency");
    let definition = fleet
        .register(
            "shapes",
            vec![
                // 40,000-byte lines: Docker splits them into 16 KiB pieces; CloudWatch takes
                // up to 256 KiB, so each must arrive as one event.
                demo("wide", &["lines", "3", "--prefix", "wide", "--pad", "40000", "--then-sleep"])
                    .log_configuration(awslogs(&options))
                    .build(),
                demo("init", &["exit", "0", "--after", "2"]).essential(false).build(),
                // Created at once, started only after `init` exits: followed from then on.
                demo("late", &["lines", "5", "--prefix", "late", "--then-sleep"])
                    .depends_on(after_init)
                    .log_configuration(awslogs(&options))
                    .build(),
            ],
        )
        .await;
    let task = fleet.run(&definition).await;
    let logs = fleet.server.logs();

    let wide = read_stream(&logs, &group, &format!("s/wide/{}", task_id(&task)), 4).await;
    let padding = ".".repeat(40_000);
    let expected: Vec<String> =
        (1..=3).map(|n| format!("wide {n}{padding}")).chain(["sleeping".to_string()]).collect();
    assert_eq!(
        wide.len(),
        expected.len(),
        "{:?}",
        wide.iter().map(String::len).collect::<Vec<_>>()
    );
    assert!(wide == expected, "long lines changed");

    let late = read_stream(&logs, &group, &format!("s/late/{}", task_id(&task)), 6).await;
    assert_eq!(late, numbered("late", 5));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multiline_pattern_gathers_stack_traces_into_one_event() {
    let fleet = Fleet::start().await;
    let group = format!("/ecs/{}-multiline", fleet.cluster);
    let definition = fleet
        .register(
            "traces",
            vec![demo(
                "app",
                &["lines", "50", "--prefix", "ERROR", "--stack", "3", "--then-sleep"],
            )
            .log_configuration(awslogs(&[
                ("awslogs-group", &group),
                ("awslogs-stream-prefix", "m"),
                ("awslogs-create-group", "true"),
                ("awslogs-multiline-pattern", "^(ERROR|sleeping)"),
            ]))
            .build()],
        )
        .await;
    let task = fleet.run(&definition).await;
    let logs = fleet.server.logs();
    let events = read_stream(&logs, &group, &format!("m/app/{}", task_id(&task)), 51).await;
    let trace = "\n    at frame 1\n    at frame 2\n    at frame 3";
    let mut expected: Vec<String> = (1..=50).map(|n| format!("ERROR {n}{trace}")).collect();
    expected.push("sleeping".to_string());
    assert_eq!(events.len(), expected.len(), "{events:?}");
    assert!(events == expected, "events not gathered as expected: {:?}", &events[..2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_log_group_fails_the_start_as_on_ecs() {
    let fleet = Fleet::start().await;
    let group = format!("/ecs/{}-absent", fleet.cluster);
    let definition = fleet
        .register(
            "absent",
            vec![demo("app", &["sleep"])
                .log_configuration(awslogs(&[
                    ("awslogs-group", &group),
                    ("awslogs-stream-prefix", "a"),
                ]))
                .build()],
        )
        .await;
    let task = fleet.run(&definition).await;
    let stopped = fleet.wait_status(&task, "STOPPED").await;
    assert_eq!(stopped.stop_code().map(|c| c.as_str()), Some("TaskFailedToStart"));
    let reason = stopped.stopped_reason().unwrap_or_default();
    assert!(reason.contains("The specified log group does not exist."), "{reason}");
    let container = &stopped.containers()[0];
    assert!(container.reason().unwrap_or_default().contains("ResourceNotFoundException"));

    // Once the group exists, the same task definition runs.
    fleet.server.logs().create_log_group().log_group_name(&group).send().await.expect("create");
    let again = fleet.run(&definition).await;
    fleet.wait_status(&again, "RUNNING").await;
}

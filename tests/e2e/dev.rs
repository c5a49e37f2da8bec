//! `flotilla dev --cluster NAME` (repeatable): each cluster is created and gets a local agent,
//! the machine's CPU and memory split evenly between them, and a task runs in the second. (Its
//! first agent takes the usual metadata port, as `flotilla dev` does: a `flotilla dev` left
//! running on the machine makes this test fail.)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::ContainerDefinition;

use crate::support::{client, ensure_demo_image, free_port, read_credentials, REGION};

/// Stops `flotilla dev` (SIGINT, as Ctrl-C) and removes its containers when the test ends.
struct Dev(std::process::Child, tempfile::TempDir);

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        // The test's containers: dev-second's tasks and the FARGATE task (family dev-fargate,
        // with its pause container).
        let filters = ["label=com.amazonaws.ecs.cluster=dev-second", "name=ecs-dev-fargate-"];
        for filter in filters {
            let listed = Command::new("docker").args(["ps", "-aq", "--filter", filter]).output();
            if let Ok(out) = listed {
                for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("docker").args(["rm", "-f", id]).output();
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_dev_cluster_gets_an_agent_with_its_share_of_the_machine() {
    ensure_demo_image();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["dev", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path())
        .args(["--cluster", "default", "--cluster", "dev-second"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start flotilla dev");
    let dev = Dev(child, dir);
    let credentials = dev.1.path().join("credentials");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !credentials.exists() {
        assert!(Instant::now() < deadline, "flotilla dev wrote no credentials");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The file is written whole before the server listens; wait for the keys in it.
    let (id, secret) = loop {
        let text = std::fs::read_to_string(&credentials).unwrap_or_default();
        if text.contains("aws_secret_access_key") {
            break read_credentials(&credentials);
        }
        assert!(Instant::now() < deadline, "flotilla dev wrote no keys");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ecs = client(&format!("http://127.0.0.1:{port}"), &id, &secret, REGION);

    let mut shares = Vec::new();
    for cluster in ["default", "dev-second"] {
        let instance = loop {
            let listed = ecs.list_container_instances().cluster(cluster).send().await;
            if let Some(arn) =
                listed.as_ref().ok().and_then(|l| l.container_instance_arns().first())
            {
                break arn.clone();
            }
            assert!(Instant::now() < deadline, "no agent joined {cluster}: {listed:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let described = ecs
            .describe_container_instances()
            .cluster(cluster)
            .container_instances(instance)
            .send()
            .await
            .expect("describe instance");
        let resource = |name: &str| {
            described.container_instances()[0]
                .registered_resources()
                .iter()
                .find(|r| r.name() == Some(name))
                .map(|r| r.integer_value())
                .expect("resource")
        };
        shares.push((resource("CPU"), resource("MEMORY")));
    }
    assert_eq!(shares[0], shares[1], "the agents share the machine evenly");
    // Two clusters' agents and the Fargate capacity (the CNI plugins are installed here).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i32;
    assert_eq!(shares[0].0, cores * 1024 / 3, "a third of the machine's CPU each");

    ecs.register_task_definition()
        .family("dev-second")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("flotilla/demo:latest")
                .memory(32)
                .command("sleep")
                .build(),
        )
        .send()
        .await
        .expect("register");
    let run = ecs.run_task().cluster("dev-second").task_definition("dev-second").send().await;
    let task = run.expect("run").tasks()[0].task_arn().expect("arn").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let described = ecs.describe_tasks().cluster("dev-second").tasks(&task).send().await;
        let status = described.expect("describe").tasks()[0].last_status().map(str::to_string);
        if status.as_deref() == Some("RUNNING") {
            break;
        }
        assert!(Instant::now() < deadline, "the task did not run in dev-second: {status:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ecs.stop_task().cluster("dev-second").task(&task).send().await.expect("stop");

    // Fargate out of the box: a FARGATE task runs in the default cluster, on no instance of it.
    ecs.register_task_definition()
        .family("dev-fargate")
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("flotilla/demo:latest")
                .command("sleep")
                .build(),
        )
        .send()
        .await
        .expect("register a FARGATE definition");
    let subnet = loop {
        let subnets = dev_subnets(port, &id, &secret);
        if let Some(subnet) = subnets.into_iter().next() {
            break subnet;
        }
        assert!(Instant::now() < deadline + Duration::from_secs(30), "no subnet");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _bridge = crate::support::SubnetBridgesGone(subnet.clone());
    let network = aws_sdk_ecs::types::NetworkConfiguration::builder()
        .awsvpc_configuration(
            aws_sdk_ecs::types::AwsVpcConfiguration::builder()
                .subnets(&subnet)
                .assign_public_ip(aws_sdk_ecs::types::AssignPublicIp::Enabled)
                .build()
                .expect("awsvpc configuration"),
        )
        .build();
    let deadline = Instant::now() + Duration::from_secs(60);
    let task = loop {
        let run = ecs
            .run_task()
            .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
            .task_definition("dev-fargate")
            .network_configuration(network.clone())
            .send()
            .await;
        match run {
            Ok(out) => break out.tasks()[0].task_arn().expect("arn").to_string(),
            // The Fargate capacity may still be joining.
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(error) => panic!("run a FARGATE task: {:?}", error.into_service_error()),
        }
    };
    loop {
        let described = ecs.describe_tasks().tasks(&task).send().await.expect("describe");
        let task = &described.tasks()[0];
        if task.last_status() == Some("RUNNING") {
            assert_eq!(task.launch_type(), Some(&aws_sdk_ecs::types::LaunchType::Fargate));
            assert!(task.container_instance_arn().is_none(), "{task:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the FARGATE task did not run: {task:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ecs.stop_task().task(&task).send().await.expect("stop");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let described = ecs.describe_tasks().tasks(&task).send().await.expect("describe");
        if described.tasks()[0].last_status() == Some("STOPPED") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the FARGATE task did not stop: {:?}",
            described.tasks()[0]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Its NAT rule went with it (the dev VPC is the default 10.0.0.0/16).
    let nat = Command::new("iptables").args(["-t", "nat", "-S"]).output().expect("iptables");
    let nat = String::from_utf8_lossy(&nat.stdout);
    assert!(!nat.contains("! -d 10.0.0.0/16"), "the task's NAT rule is left:\n{nat}");
    drop(dev);
}

/// The region's subnet ids, through EC2's DescribeSubnets (the dev server on `port`).
fn dev_subnets(port: u16, id: &str, secret: &str) -> Vec<String> {
    let form = b"Action=DescribeSubnets&Version=2016-11-15";
    let content_type = ("content-type", "application/x-www-form-urlencoded; charset=utf-8");
    let request = crate::support::SignedRaw::for_service("ec2", &[content_type], form).sign(
        id,
        secret,
        REGION,
        std::time::SystemTime::now(),
    );
    let Ok((200, body)) = crate::support::raw_http(port, &request.to_bytes()) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&body)
        .split("<subnetId>")
        .skip(1)
        .filter_map(|rest| rest.split('<').next().map(str::to_string))
        .collect()
}

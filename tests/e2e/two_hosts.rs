//! Two simulated hosts on one machine (issue 14, item 4): a bridge of the test's own in the root
//! namespace (where the server runs, listening on it) and two network namespaces on it, each
//! with a Docker Engine of its own and an agent; the server hands each host slices of the
//! subnet and the route table, the agents route the other host's slices. A task on host A
//! reaches a task on host B by its address, and a security group rule decides whether it may;
//! the server reaches it too (where the load balancers run), and so does a remote data plane
//! (`flotilla lb`) in a namespace of its own. Everything the test made is removed when it ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{AwsVpcConfiguration, ContainerDefinition, NetworkConfiguration};

use crate::awsvpc::{ec2_call, first_subnet, first_value};
use crate::support::Flotilla;

fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect("run a command");
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One simulated host: a network namespace on the test's bridge, its Docker Engine and agent.
struct Host {
    netns: String,
    dir: PathBuf,
    dockerd: Option<Child>,
    agent: Option<Child>,
}

impl Host {
    fn socket(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker").arg("-H").arg(self.socket()).args(args).output().expect("docker")
    }

    /// The namespace, a veth into `bridge` with `address`, a Docker Engine in it (its own data
    /// and exec roots, fuse-overlayfs), and the demo image loaded into it.
    fn start(netns: &str, bridge: &str, address: &str, gateway: &str, dir: &Path) -> Host {
        let outer = format!("{netns}o");
        sh("ip", &["netns", "add", netns]);
        sh("ip", &["link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", netns]);
        sh("ip", &["link", "set", &outer, "master", bridge, "up"]);
        let inside = |args: &[&str]| {
            sh("ip", &[&["netns", "exec", netns][..], args].concat());
        };
        inside(&["ip", "addr", "add", &format!("{address}/24"), "dev", "eth0"]);
        inside(&["ip", "link", "set", "eth0", "up"]);
        inside(&["ip", "link", "set", "lo", "up"]);
        inside(&["ip", "route", "add", "default", "via", gateway]);
        std::fs::create_dir_all(dir).expect("host dir");
        let config = dir.join("daemon.json");
        std::fs::write(&config, "{}").expect("daemon.json");
        let dockerd = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{netns}"))
            .arg("dockerd")
            .arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("--host")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .arg("--storage-driver")
            .arg("fuse-overlayfs")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("dockerd.log")).expect("log"))
            .spawn()
            .expect("start dockerd");
        let host = Host {
            netns: netns.to_string(),
            dir: dir.to_path_buf(),
            dockerd: Some(dockerd),
            agent: None,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !host.docker(&["info"]).status.success() {
            assert!(Instant::now() < deadline, "the host's Docker Engine did not start");
            std::thread::sleep(Duration::from_millis(300));
        }
        let loaded = Command::new("sh")
            .arg("-c")
            .arg(format!("docker save flotilla/demo:latest | docker -H {} load", host.socket()))
            .output()
            .expect("load the demo image");
        assert!(loaded.status.success(), "{}", String::from_utf8_lossy(&loaded.stderr));
        host
    }

    fn start_agent(&mut self, server: &str, cluster: &str, token: &Path, address: &str) {
        let agent = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.netns))
            .arg(env!("CARGO_BIN_EXE_flotilla"))
            .args(["agent", "--server", server, "--cluster", cluster, "--token-file"])
            .arg(token)
            .arg("--data-dir")
            .arg(self.dir.join("agent"))
            .args(["--docker-host", &self.socket(), "--advertise-address", address])
            .args(["--dns", "off", "--metadata-port", "0", "--task-cleanup-wait", "600"])
            .env("FLOTILLA_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("agent.log")).expect("log"))
            .spawn()
            .expect("start the agent");
        self.agent = Some(agent);
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
        // Whatever still runs goes with the engine's containers, then the engine.
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        if let Some(mut dockerd) = self.dockerd.take() {
            let _ = Command::new("kill").arg(dockerd.id().to_string()).output();
            let deadline = Instant::now() + Duration::from_secs(20);
            while dockerd.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = dockerd.kill();
            let _ = dockerd.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).output();
        let _ = Command::new("ip").args(["link", "del", &format!("{}o", self.netns)]).output();
    }
}

/// The test's bridge in the root namespace, the hosts' network segment: a switch, so the root
/// namespace's FORWARD chain (which sees bridged traffic, and whose policy Docker sets to DROP)
/// lets traffic between its ports through. Removed, with its rule and the routes through it,
/// when dropped.
struct Segment(String);

impl Segment {
    /// The bridge `name` with the root namespace's address `{prefix}.1/24`, switching.
    fn create(name: String, prefix: &str) -> Segment {
        let segment = Segment(name);
        sh("ip", &["link", "add", &segment.0, "type", "bridge"]);
        sh("ip", &["addr", "add", &format!("{prefix}.1/24"), "dev", &segment.0]);
        sh("ip", &["link", "set", &segment.0, "up"]);
        sh("iptables", &[&["-w", "5", "-I", "FORWARD", "1"][..], &segment.switch_rule()].concat());
        segment
    }

    /// The bridge `name`, switching, with no address of the root namespace on it.
    fn unaddressed(name: String) -> Segment {
        let segment = Segment(name);
        sh("ip", &["link", "add", &segment.0, "type", "bridge"]);
        sh("ip", &["link", "set", &segment.0, "up"]);
        sh("iptables", &[&["-w", "5", "-I", "FORWARD", "1"][..], &segment.switch_rule()].concat());
        segment
    }

    fn switch_rule(&self) -> [&str; 6] {
        ["-i", &self.0, "-o", &self.0, "-j", "ACCEPT"]
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        let _ = Command::new("iptables")
            .args([&["-w", "5", "-D", "FORWARD"][..], &self.switch_rule()].concat())
            .output();
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

/// An ELBv2 query call (as the CLI sends it): the answer's XML.
fn elbv2_call(f: &Flotilla, form: &str) -> String {
    crate::support::query_call(f, "elasticloadbalancing", "2015-12-01", form)
}

/// The status of GET / on port 80 of `address` (a load balancer's), if one came in 8 s.
fn http_status(address: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let target: std::net::SocketAddr = format!("{address}:80").parse().ok()?;
    let mut stream = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(3)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(8))).ok()?;
    stream.write_all(b"GET / HTTP/1.1\r\nhost: lb\r\nconnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// GET / of `address`:80 from inside a container of `host`, within 3 s.
fn fetch_from(host: &Host, container: &str, address: &str) -> bool {
    let url = format!("http://{address}/");
    let out =
        host.docker(&["exec", container, "timeout", "3", "wget", "-q", "-O", "/dev/null", &url]);
    out.status.success()
}

/// Prints what each host's namespace says to `commands`, and its agent's log (a failed check).
fn diagnose(hosts: &[Host], commands: &[&str]) {
    for host in hosts {
        for command in commands {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("ip netns exec {} {command}", host.netns))
                .output()
                .expect("diagnose");
            eprintln!("[{}] {command}:\n{}", host.netns, String::from_utf8_lossy(&out.stdout));
        }
        let log = std::fs::read_to_string(host.dir.join("agent.log")).unwrap_or_default();
        eprintln!("agent log: {log}");
    }
}

/// A server listening on every address with a VPC of the test's own (`offset` keeps tests'
/// VPCs apart), its ECS client, the VPC's CIDR and cluster `cluster`, created.
async fn region(offset: u32, cluster: String) -> (Flotilla, aws_sdk_ecs::Client, String, String) {
    region_with(offset, cluster, &[]).await
}

/// `region`, the server started with `flags` too.
async fn region_with(
    offset: u32,
    cluster: String,
    flags: &[&str],
) -> (Flotilla, aws_sdk_ecs::Client, String, String) {
    let cidr = format!("10.{}.0.0/16", 100 + (std::process::id() + offset) % 100);
    let mut args = vec!["--vpc-cidr".to_string(), cidr.clone()];
    args.extend(flags.iter().map(|f| f.to_string()));
    let server = Flotilla::start_on_every_address(args);
    let ecs = server.ecs();
    ecs.create_cluster().cluster_name(&cluster).send().await.expect("create cluster");
    (server, ecs, cidr, cluster)
}

/// The container instance ARNs of `cluster` once `count` agents have joined (within 60 s).
async fn joined(ecs: &aws_sdk_ecs::Client, cluster: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = ecs.list_container_instances().cluster(cluster).send().await.expect("list");
        if listed.container_instance_arns().len() == count {
            return listed.container_instance_arns().to_vec();
        }
        assert!(Instant::now() < deadline, "the hosts did not join");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Task `arn` once RUNNING (within 90 s; failing if it stops first).
async fn running(ecs: &aws_sdk_ecs::Client, cluster: &str, arn: &str) -> aws_sdk_ecs::types::Task {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let described =
            ecs.describe_tasks().cluster(cluster).tasks(arn).send().await.expect("describe");
        let task = described.tasks()[0].clone();
        if task.last_status() == Some("RUNNING") {
            return task;
        }
        assert!(
            task.last_status() != Some("STOPPED") && Instant::now() < deadline,
            "the task did not run: {task:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Whether `check()` comes out `wanted` within 20 s.
fn within(wanted: bool, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if check() == wanted {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn eventually(what: &str, wanted: bool, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if check() == wanted {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: still {} after 20 s", !wanted);
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A security group `name` in `vpc`: its id.
fn security_group(server: &Flotilla, vpc: &str, name: &str) -> String {
    let form =
        format!("Action=CreateSecurityGroup&GroupName={name}&GroupDescription={name}&VpcId={vpc}");
    first_value(&ec2_call(server, &form), "groupId")
}

/// Lets group `from` in to group `group` on TCP port 80.
fn allow_http(server: &Flotilla, group: &str, from: &str) {
    ec2_call(
        server,
        &format!(
            "Action=AuthorizeSecurityGroupIngress&GroupId={group}&IpPermissions.1.IpProtocol=tcp\
             &IpPermissions.1.FromPort=80&IpPermissions.1.ToPort=80\
             &IpPermissions.1.Groups.1.GroupId={from}"
        ),
    );
}

/// The address of an awsvpc task (its interface's).
fn task_address(task: &aws_sdk_ecs::types::Task) -> String {
    task.attachments()[0]
        .details()
        .iter()
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value())
        .expect("address")
        .to_string()
}

/// A task of family `family` (the demo image running `command`, awsvpc), started on
/// `instance` in `subnet` and `groups` (none: the VPC's default group), once it runs.
async fn awsvpc_task(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    (family, command): (&str, &[&str]),
    instance: String,
    subnet: &str,
    groups: &[&str],
) -> aws_sdk_ecs::types::Task {
    let definition = ecs
        .register_task_definition()
        .family(family)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .container_definitions(
            ContainerDefinition::builder()
                .name("main")
                .image("flotilla/demo:latest")
                .memory(32)
                .set_command(Some(command.iter().map(|c| c.to_string()).collect()))
                .build(),
        )
        .send()
        .await
        .expect("register");
    let groups = groups.iter().map(|g| g.to_string()).collect::<Vec<_>>();
    let config = AwsVpcConfiguration::builder()
        .subnets(subnet)
        .set_security_groups((!groups.is_empty()).then_some(groups))
        .build()
        .expect("awsvpc configuration");
    let started = ecs
        .start_task()
        .cluster(cluster)
        .task_definition(
            definition.task_definition().and_then(|d| d.task_definition_arn()).expect("arn"),
        )
        .container_instances(instance)
        .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(config).build())
        .send()
        .await
        .expect("start task");
    assert!(started.failures().is_empty(), "{:?}", started.failures());
    running(ecs, cluster, started.tasks()[0].task_arn().expect("arn")).await
}

/// The HTTP server of the demo image on port 80.
const SERVE_HTTP: &[&str] = &["serve", "--port", "80"];

/// A task's ARN.
fn arn(task: &aws_sdk_ecs::types::Task) -> String {
    task.task_arn().expect("arn").to_string()
}

/// An awsvpc web task on `instance` whose group lets in the balancers' group, and a load
/// balancer `name` of that group in front of it: the task's address and the load balancer's.
async fn web_behind_a_load_balancer(
    server: &Flotilla,
    (ecs, cluster): (&aws_sdk_ecs::Client, &str),
    name: &str,
    instance: String,
) -> (String, String) {
    let subnet = first_subnet(server);
    let vpc = first_value(&ec2_call(server, "Action=DescribeVpcs"), "vpcId");
    let (web, balancers) =
        (security_group(server, &vpc, "web"), security_group(server, &vpc, "balancers"));
    allow_http(server, &web, &balancers);
    let family = format!("{name}-web");
    let task = awsvpc_task(ecs, cluster, (&family, SERVE_HTTP), instance, &subnet, &[&web]).await;
    let task_address = task_address(&task);
    let lb_address = balance_to(server, name, (&subnet, &vpc), &balancers, &task_address);
    (task_address, lb_address)
}

/// An application load balancer `name` in `subnet` and group `balancers`, whose HTTP listener
/// on port 80 forwards to `target`:80 (an ip target, checked every 5 s): its address.
fn balance_to(
    server: &Flotilla,
    name: &str,
    (subnet, vpc): (&str, &str),
    balancers: &str,
    target: &str,
) -> String {
    let lb = elbv2_call(
        server,
        &format!(
            "Action=CreateLoadBalancer&Name={name}&Subnets.member.1={subnet}\
             &SecurityGroups.member.1={balancers}"
        ),
    );
    let (lb_arn, lb_address) = (first_value(&lb, "LoadBalancerArn"), first_value(&lb, "IpAddress"));
    let target_group = first_value(
        &elbv2_call(
            server,
            &format!(
                "Action=CreateTargetGroup&Name={name}&Protocol=HTTP&Port=80&VpcId={vpc}\
                 &TargetType=ip&HealthCheckIntervalSeconds=5&HealthCheckTimeoutSeconds=2"
            ),
        ),
        "TargetGroupArn",
    );
    elbv2_call(
        server,
        &format!(
            "Action=RegisterTargets&TargetGroupArn={target_group}\
             &Targets.member.1.Id={target}&Targets.member.1.Port=80"
        ),
    );
    elbv2_call(
        server,
        &format!(
            "Action=CreateListener&LoadBalancerArn={lb_arn}&Protocol=HTTP&Port=80\
             &DefaultActions.member.1.Type=forward\
             &DefaultActions.member.1.TargetGroupArn={target_group}"
        ),
    );
    lb_address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_reaches_a_task_on_another_host_as_its_groups_allow() {
    crate::support::ensure_demo_image();
    let n = std::process::id() % 200;
    let segment = format!("192.168.{}", 20 + n % 200);
    let bridge = Segment::create(format!("flseg{n}"), &segment);
    let (server, ecs, cidr, cluster) = region(60, format!("hosts{n}")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://{segment}.1:{}", server.port);
    let token = server.data_dir.join("agent-token");
    let mut hosts = Vec::new();
    for (i, octet) in [(1, 2), (2, 3)] {
        let address = format!("{segment}.{octet}");
        let mut host = Host::start(
            &format!("flh{n}x{i}"),
            &bridge.0,
            &address,
            &format!("{segment}.1"),
            &dir.path().join(format!("host{i}")),
        );
        host.start_agent(&url, &cluster, &token, &address);
        hosts.push(host);
    }
    // Both hosts join; their instance ids, host by host.
    let described = ecs
        .describe_container_instances()
        .cluster(&cluster)
        .set_container_instances(Some(joined(&ecs, &cluster, 2).await))
        .send()
        .await
        .expect("describe");
    let instances = described.container_instances().to_vec();
    assert!(
        instances
            .iter()
            .all(|i| i.attributes().iter().any(|a| a.name() == "ecs.capability.task-eni")),
        "both hosts run awsvpc tasks: {instances:?}"
    );

    // Groups: the web task lets in its callers' group on port 80, and the server's address.
    let subnet = first_subnet(&server);
    let vpc = first_value(&ec2_call(&server, "Action=DescribeVpcs"), "vpcId");
    let group = |name: &str| security_group(&server, &vpc, name);
    let (web, callers, strangers, balancers) =
        (group("web"), group("callers"), group("strangers"), group("balancers"));
    allow_http(&server, &web, &callers);

    // One task on each host: StartTask names the instance.
    let arn_of = |i: usize| instances[i].container_instance_arn().expect("arn").to_string();
    let shell = ("hosts-shell", &["sleep"][..]);
    let web_running =
        awsvpc_task(&ecs, &cluster, ("hosts-web", SERVE_HTTP), arn_of(0), &subnet, &[&web]).await;
    let caller_running = awsvpc_task(&ecs, &cluster, shell, arn_of(1), &subnet, &[&callers]).await;
    let stranger_running =
        awsvpc_task(&ecs, &cluster, shell, arn_of(1), &subnet, &[&strangers]).await;
    let (web_task, caller_task, stranger_task) =
        (arn(&web_running), arn(&caller_running), arn(&stranger_running));
    let web_address = task_address(&web_running);
    let runtime_id = |task: &aws_sdk_ecs::types::Task| {
        task.containers()[0].runtime_id().expect("container id").to_string()
    };
    // The caller's and the stranger's host: the one whose engine runs the caller.
    let caller_host = hosts
        .iter()
        .find(|h| h.docker(&["inspect", &runtime_id(&caller_running)]).status.success())
        .expect("the caller's host");
    let web_host_runs_it = hosts
        .iter()
        .position(|h| h.docker(&["inspect", &runtime_id(&web_running)]).status.success());
    let caller_host_index = hosts
        .iter()
        .position(|h| h.docker(&["inspect", &runtime_id(&caller_running)]).status.success());
    assert_ne!(web_host_runs_it, caller_host_index, "the tasks are on different hosts");
    assert_ne!(
        web_address.rsplit_once('.').map(|(net, _)| net.to_string()),
        task_address(&caller_running).rsplit_once('.').map(|(net, _)| net.to_string()),
        "each host has its own slice"
    );

    // Across hosts by address, as the groups allow: the callers' group in, strangers not.
    let reached =
        within(true, || fetch_from(caller_host, &runtime_id(&caller_running), &web_address));
    if !reached {
        diagnose(
            &hosts,
            &["ip -4 addr", "ip route", "iptables -S FORWARD", "iptables -t nat -S POSTROUTING"],
        );
        eprintln!("root routes:\n{}", sh("ip", &["route"]));
        panic!("the caller on the other host does not reach the web task {web_address}");
    }
    assert!(
        !fetch_from(caller_host, &runtime_id(&stranger_running), &web_address),
        "a task of another group is refused"
    );
    // The server's load balancer (in the balancers' group) reaches it through its route to
    // that host, an ip target; its traffic counts as the balancers' group's.
    let lb_address =
        balance_to(&server, &format!("hosts{n}"), (&subnet, &vpc), &balancers, &web_address);
    assert_ne!(http_status(&lb_address), Some(200), "no rule names the balancers' group yet");
    allow_http(&server, &web, &balancers);
    eventually("HTTP through the load balancer reaches the task on the other host", true, || {
        http_status(&lb_address) == Some(200)
    });
    // The rule revoked: the caller is refused too.
    ec2_call(
        &server,
        &format!(
            "Action=RevokeSecurityGroupIngress&GroupId={web}&IpPermissions.1.IpProtocol=tcp\
             &IpPermissions.1.FromPort=80&IpPermissions.1.ToPort=80\
             &IpPermissions.1.Groups.1.GroupId={callers}"
        ),
    );
    eventually("the revoked rule keeps the caller out", false, || {
        fetch_from(caller_host, &runtime_id(&caller_running), &web_address)
    });

    for arn in [&web_task, &caller_task, &stranger_task] {
        ecs.stop_task().cluster(&cluster).task(arn).send().await.expect("stop");
    }
    for arn in [&web_task, &caller_task, &stranger_task] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let described =
                ecs.describe_tasks().cluster(&cluster).tasks(arn).send().await.expect("describe");
            if described.tasks()[0].last_status() == Some("STOPPED") {
                break;
            }
            assert!(Instant::now() < deadline, "a task did not stop");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    drop(hosts);
    drop(bridge);
    let left = sh("ip", &["-4", "route", "show", "proto", "78"]);
    assert!(!left.contains(&cidr[..cidr.find(".0.0/").unwrap_or(0)]), "routes left: {left}");
}

/// Traffic between the test's two segments, routed by the root namespace (Docker sets its
/// FORWARD policy to DROP); removed when dropped.
struct Routed(String, String);

impl Routed {
    fn rules(&self) -> [[&str; 6]; 2] {
        [
            ["-i", &self.0, "-o", &self.1, "-j", "ACCEPT"],
            ["-i", &self.1, "-o", &self.0, "-j", "ACCEPT"],
        ]
    }
}

impl Drop for Routed {
    fn drop(&mut self) {
        for rule in self.rules() {
            let _ = Command::new("iptables")
                .args([&["-w", "5", "-D", "FORWARD"][..], &rule].concat())
                .output();
        }
    }
}

/// Two hosts on two segments (two bridges of the test's own, routed by the root namespace, where
/// the server runs): neither is the other's next hop, so their agents reach each other's slices
/// through the VXLAN overlay (`flvx0`), and a task on one reaches a task on the other by address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_on_two_segments_reach_each_others_tasks_through_the_overlay() {
    crate::support::ensure_demo_image();
    let n = (std::process::id() + 101) % 200;
    let prefixes = [format!("192.168.{}", 20 + n % 100), format!("192.168.{}", 120 + n % 100)];
    let segments = [
        Segment::create(format!("flsa{n}"), &prefixes[0]),
        Segment::create(format!("flsb{n}"), &prefixes[1]),
    ];
    let routed = Routed(segments[0].0.clone(), segments[1].0.clone());
    for rule in routed.rules() {
        sh("iptables", &[&["-w", "5", "-I", "FORWARD", "1"][..], &rule].concat());
    }
    let (server, ecs, _cidr, cluster) = region(61, format!("segs{n}")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = server.data_dir.join("agent-token");
    let mut hosts = Vec::new();
    for (i, (segment, prefix)) in segments.iter().zip(&prefixes).enumerate() {
        let address = format!("{prefix}.2");
        let gateway = format!("{prefix}.1");
        let mut host = Host::start(
            &format!("flv{n}x{i}"),
            &segment.0,
            &address,
            &gateway,
            &dir.path().join(format!("host{i}")),
        );
        host.start_agent(&format!("http://{gateway}:{}", server.port), &cluster, &token, &address);
        hosts.push(host);
    }
    let instances = joined(&ecs, &cluster, 2).await;
    let subnet = first_subnet(&server);
    // In the default group, whose members reach each other.
    let running = [
        awsvpc_task(&ecs, &cluster, ("segs-web", SERVE_HTTP), instances[0].clone(), &subnet, &[])
            .await,
        awsvpc_task(&ecs, &cluster, ("segs-shell", &["sleep"]), instances[1].clone(), &subnet, &[])
            .await,
    ];
    let tasks = [arn(&running[0]), arn(&running[1])];
    let web_address = task_address(&running[0]);
    let caller = running[1].containers()[0].runtime_id().expect("container id").to_string();
    let caller_host = hosts
        .iter()
        .find(|h| h.docker(&["inspect", &caller]).status.success())
        .expect("the caller's host");
    let web_host = hosts
        .iter()
        .find(|h| {
            h.docker(&["inspect", running[0].containers()[0].runtime_id().unwrap_or("")])
                .status
                .success()
        })
        .expect("the web task's host");
    assert_ne!(caller_host.netns, web_host.netns, "the tasks are on different hosts");
    // Neither host is the other's next hop: the overlay carries the slices.
    for host in &hosts {
        eventually("the overlay device exists", true, || {
            let out = Command::new("ip")
                .args(["netns", "exec", &host.netns, "ip", "-d", "link", "show", "flvx0"])
                .output()
                .expect("ip link");
            String::from_utf8_lossy(&out.stdout).contains("vxlan id 7700")
        });
    }
    // The caller's host sends to the web task through the overlay, not to its router (which
    // routes every slice too, for the server there).
    let path = sh("ip", &["netns", "exec", &caller_host.netns, "ip", "route", "get", &web_address]);
    assert!(path.contains("dev flvx0"), "the path to the other segment's task: {path}");
    // `ip netns exec` shows the namespace's own /sys.
    let sent = |host: &Host| {
        let counter = "/sys/class/net/flvx0/statistics/tx_bytes";
        sh("ip", &["netns", "exec", &host.netns, "cat", counter]).parse::<u64>().ok()
    };
    let before = sent(caller_host).unwrap_or(0);
    let reached = within(true, || fetch_from(caller_host, &caller, &web_address));
    let after = sent(caller_host).unwrap_or(0);
    assert!(
        !reached || after > before,
        "the request did not cross flvx0 ({before} -> {after} bytes)"
    );
    if !reached {
        diagnose(
            &hosts,
            &["ip -4 addr", "ip route", "ip neigh show dev flvx0", "bridge fdb show dev flvx0"],
        );
        panic!("the caller on the other segment does not reach the web task {web_address}");
    }
    for arn in &tasks {
        ecs.stop_task().cluster(&cluster).task(arn).send().await.expect("stop");
    }
    drop(hosts);
    drop(routed);
    drop(segments);
}

/// A remote data plane (`flotilla lb`) in a network namespace of its own on the segment, with no
/// default route: it reaches an awsvpc task on a host only through the routes the server sends
/// it, and the task's security group lets it in only as the load balancers' group (the data
/// plane's address reported to the server). Its routes go when it stops, also after a kill -9
/// and a start again (its ledger).
struct DataPlane {
    netns: String,
    child: Option<Child>,
}

impl DataPlane {
    /// A namespace on a link of its own with the root namespace (`{link}.1` there, `{link}.2`
    /// here, its default route through the root namespace): beyond a router from every host.
    fn routed(netns: &str, link: &str) -> DataPlane {
        let outer = format!("{netns}o");
        sh("ip", &["netns", "add", netns]);
        sh("ip", &["link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", netns]);
        sh("ip", &["addr", "add", &format!("{link}.1/24"), "dev", &outer]);
        sh("ip", &["link", "set", &outer, "up"]);
        for args in [
            &["ip", "addr", "add", &format!("{link}.2/24"), "dev", "eth0"][..],
            &["ip", "link", "set", "eth0", "up"],
            &["ip", "link", "set", "lo", "up"],
            &["ip", "route", "add", "default", "via", &format!("{link}.1")],
        ] {
            sh("ip", &[&["netns", "exec", netns][..], args].concat());
        }
        DataPlane { netns: netns.to_string(), child: None }
    }

    fn start(netns: &str, bridge: &str, address: &str) -> DataPlane {
        let outer = format!("{netns}o");
        sh("ip", &["netns", "add", netns]);
        sh("ip", &["link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", netns]);
        sh("ip", &["link", "set", &outer, "master", bridge, "up"]);
        for args in [
            &["ip", "addr", "add", &format!("{address}/24"), "dev", "eth0"][..],
            &["ip", "link", "set", "eth0", "up"],
            &["ip", "link", "set", "lo", "up"],
        ] {
            sh("ip", &[&["netns", "exec", netns][..], args].concat());
        }
        DataPlane { netns: netns.to_string(), child: None }
    }

    fn run(&mut self, server: &Flotilla, url: &str, dir: &Path) {
        let child = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.netns))
            .arg(env!("CARGO_BIN_EXE_flotilla"))
            .args(["lb", "--server", url, "--token-file"])
            .arg(server.data_dir.join("lb-token"))
            .arg("--data-dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(dir.with_extension("log"))
                    .expect("log"),
            )
            .spawn()
            .expect("start flotilla lb");
        self.child = Some(child);
    }

    /// Stops it: with SIGTERM (it removes its routes), or with SIGKILL.
    fn stop(&mut self, gracefully: bool) {
        let Some(mut child) = self.child.take() else { return };
        let signal = if gracefully { "-TERM" } else { "-KILL" };
        let _ = Command::new("kill").args([signal, &child.id().to_string()]).output();
        let _ = child.wait();
    }

    fn routes(&self) -> String {
        sh("ip", &["-n", &self.netns, "-4", "route", "show", "proto", "78"])
    }

    /// Whether GET / on port 80 of `address`, asked from inside the namespace, answers 200
    /// within 3 s.
    fn get(&self, address: &str) -> bool {
        let script = format!(
            "import urllib.request; urllib.request.urlopen('http://{address}/', timeout=3)"
        );
        Command::new("ip")
            .args(["netns", "exec", &self.netns, "python3", "-c", &script])
            .output()
            .is_ok_and(|out| out.status.success())
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.stop(false);
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).output();
        let _ = Command::new("ip").args(["link", "del", &format!("{}o", self.netns)]).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_data_plane_reaches_tasks_by_the_routes_and_groups_the_server_sends() {
    crate::support::ensure_demo_image();
    let n = (std::process::id() + 57) % 200;
    let segment = format!("192.168.{}", 20 + n % 200);
    let bridge = Segment::create(format!("flsr{n}"), &segment);
    let remote = ["--load-balancers", "remote"];
    let (server, ecs, _cidr, cluster) = region_with(62, format!("remote{n}"), &remote).await;
    let url = format!("http://{segment}.1:{}", server.port);
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("{segment}.2");
    let mut host = Host::start(
        &format!("flr{n}h"),
        &bridge.0,
        &address,
        &format!("{segment}.1"),
        &dir.path().join("host"),
    );
    host.start_agent(&url, &cluster, &server.data_dir.join("agent-token"), &address);
    let instance = joined(&ecs, &cluster, 1).await.remove(0);
    let mut plane = DataPlane::start(&format!("flr{n}l"), &bridge.0, &format!("{segment}.9"));
    let plane_dir = dir.path().join("lb");
    plane.run(&server, &url, &plane_dir);

    let subnet = first_subnet(&server);
    let vpc = first_value(&ec2_call(&server, "Action=DescribeVpcs"), "vpcId");
    let (web, balancers) =
        (security_group(&server, &vpc, "web"), security_group(&server, &vpc, "balancers"));
    let task =
        awsvpc_task(&ecs, &cluster, ("remote-web", SERVE_HTTP), instance, &subnet, &[&web]).await;
    let (task_arn, task_address) = (arn(&task), task_address(&task));
    let lb_address =
        balance_to(&server, &format!("remote{n}"), (&subnet, &vpc), &balancers, &task_address);
    // The route to the task's slice arrives from the server (the namespace has no other).
    let slice = task_address.rsplit_once('.').map(|(net, _)| format!("{net}.0/24")).expect("slice");
    eventually("the data plane routes the task's slice through its host", true, || {
        plane.routes().contains(&format!("{slice} via {address}"))
    });
    // Routed, but refused by the task's group: no rule names the balancers' group yet.
    assert!(!plane.get(&task_address), "the task's group lets the data plane in");
    assert!(!plane.get(&lb_address), "no rule names the balancers' group yet");
    allow_http(&server, &web, &balancers);
    if !within(true, || plane.get(&lb_address)) {
        diagnose(std::slice::from_ref(&host), &["ip route", "iptables -S FORWARD"]);
        eprintln!("data plane routes: {}", plane.routes());
        eprintln!(
            "data plane log: {}",
            std::fs::read_to_string(plane_dir.with_extension("log")).unwrap_or_default()
        );
        panic!("HTTP through the remote data plane does not reach the task {task_address}");
    }
    // The data plane's own connections count as the balancers' group's.
    assert!(plane.get(&task_address), "the data plane's address is in the balancers' group");

    // Killed, its routes stay; started again and stopped, they go (its ledger names them).
    plane.stop(false);
    assert!(plane.routes().contains(&slice), "a killed data plane cannot remove its routes");
    plane.run(&server, &url, &plane_dir);
    eventually("the data plane serves again", true, || plane.get(&lb_address));
    plane.stop(true);
    assert_eq!(plane.routes(), "", "a stopped data plane leaves no route");

    ecs.stop_task().cluster(&cluster).task(&task_arn).send().await.expect("stop");
    drop(plane);
    drop(host);
    drop(bridge);
}

/// A router namespace between the root namespace (on a link of its own with it) and a segment
/// the root namespace has no address on; removed with its links when dropped.
struct Router(String);

impl Router {
    /// `{link}.1` (root) – `{link}.2` (router), the router at `{segment}.1` on `bridge`, and the
    /// root namespace's route to the segment through the router.
    fn start(netns: &str, bridge: &str, segment: &str, link: &str) -> Router {
        let router = Router(netns.to_string());
        sh("ip", &["netns", "add", netns]);
        let (to_segment, to_root) = (format!("{netns}s"), format!("{netns}r"));
        sh(
            "ip",
            &["link", "add", &to_segment, "type", "veth", "peer", "name", "eth0", "netns", netns],
        );
        sh("ip", &["link", "set", &to_segment, "master", bridge, "up"]);
        sh(
            "ip",
            &["link", "add", &to_root, "type", "veth", "peer", "name", "eth1", "netns", netns],
        );
        sh("ip", &["addr", "add", &format!("{link}.1/24"), "dev", &to_root]);
        sh("ip", &["link", "set", &to_root, "up"]);
        for args in [
            &["ip", "addr", "add", &format!("{segment}.1/24"), "dev", "eth0"][..],
            &["ip", "addr", "add", &format!("{link}.2/24"), "dev", "eth1"],
            &["ip", "link", "set", "eth0", "up"],
            &["ip", "link", "set", "eth1", "up"],
            &["sysctl", "-qw", "net.ipv4.ip_forward=1"],
        ] {
            sh("ip", &[&["netns", "exec", netns][..], args].concat());
        }
        sh("ip", &["route", "add", &format!("{segment}.0/24"), "via", &format!("{link}.2")]);
        router
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        for end in ["s", "r"] {
            let _ = Command::new("ip").args(["link", "del", &format!("{}{end}", self.0)]).output();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// The server's end of the overlay (`flvx78`), removed if a failed test left it.
struct ServerEnd;

impl Drop for ServerEnd {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", "flvx78"]).output();
    }
}

/// The server on a segment of its own (the root namespace reaches the hosts' segment only
/// through a router namespace, which knows nothing of task slices): it reaches an awsvpc task
/// on the host through its own end of the overlay (`flvx78`), the host keeping its end
/// (`flvx0`) for the server; its load balancer serves the task (its address counts as the
/// balancers' group's), and a stopped server leaves neither the device nor its routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reaches_tasks_beyond_a_router_through_the_overlay() {
    crate::support::ensure_demo_image();
    let n = (std::process::id() + 151) % 200;
    let segment = format!("192.168.{}", 20 + n % 100);
    let link = format!("192.168.{}", 120 + n % 100);
    let bridge = Segment::unaddressed(format!("flso{n}"));
    let router = Router::start(&format!("flrt{n}"), &bridge.0, &segment, &link);
    let _end = ServerEnd;
    let (mut server, ecs, _cidr, cluster) = region(63, format!("far{n}")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("{segment}.2");
    let mut host = Host::start(
        &format!("flo{n}h"),
        &bridge.0,
        &address,
        &format!("{segment}.1"),
        &dir.path().join("host"),
    );
    let url = format!("http://{link}.1:{}", server.port);
    host.start_agent(&url, &cluster, &server.data_dir.join("agent-token"), &address);
    let instance = joined(&ecs, &cluster, 1).await.remove(0);

    let (task_address, lb_address) =
        web_behind_a_load_balancer(&server, (&ecs, &cluster), &format!("far{n}"), instance).await;
    if !within(true, || http_status(&lb_address) == Some(200)) {
        diagnose(
            std::slice::from_ref(&host),
            &["ip route", "ip -d link show flvx0", "bridge fdb show dev flvx0"],
        );
        for command in [
            &["ip", "route", "show", "proto", "78"][..],
            &["ip", "-d", "link", "show", "flvx78"],
            &["bridge", "fdb", "show", "dev", "flvx78"],
            &["ip", "neigh", "show", "dev", "flvx78"],
        ] {
            let out = Command::new(command[0]).args(&command[1..]).output().expect("run");
            eprintln!("root {command:?}: {}", String::from_utf8_lossy(&out.stdout));
        }
        panic!(
            "the server's load balancer does not reach the task {task_address} beyond the router"
        );
    }
    // Through the overlay, from the server's own address on its link.
    let path = sh("ip", &["route", "get", &task_address]);
    assert!(
        path.contains("dev flvx78") && path.contains(&format!("src {link}.1")),
        "the server's path to the task: {path}"
    );
    let far_end = host.docker(&["info"]).status.success()
        && Command::new("ip")
            .args(["netns", "exec", &host.netns, "ip", "link", "show", "flvx0"])
            .output()
            .is_ok_and(|o| o.status.success());
    assert!(far_end, "the host keeps its end of the overlay for the server");

    // Stopped, the server takes its end and its routes with it.
    let slice = task_address.rsplit_once('.').map(|(net, _)| format!("{net}.0/24")).expect("slice");
    server.terminate();
    assert!(
        !Command::new("ip").args(["link", "show", "flvx78"]).output().expect("ip").status.success(),
        "a stopped server removes its end of the overlay"
    );
    let left = sh("ip", &["-4", "route", "show", "proto", "78"]);
    assert!(!left.contains(&slice), "routes left: {left}");
    drop(host);
    drop(router);
    drop(bridge);
}

/// A remote data plane beyond a router (the root namespace routes between its link and the
/// hosts' segment, where the server also is): it reaches an awsvpc task on the host through
/// its own end of the overlay, and the host — whose server is on its segment — keeps its end
/// for the data plane (`RouteTable::data_planes`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_data_plane_beyond_a_router_reaches_tasks_through_its_own_end() {
    crate::support::ensure_demo_image();
    let n = (std::process::id() + 37) % 200;
    let segment = format!("192.168.{}", 20 + n % 100);
    let link = format!("192.168.{}", 120 + n % 100);
    let bridge = Segment::create(format!("flsp{n}"), &segment);
    let remote = ["--load-balancers", "remote"];
    let (server, ecs, _cidr, cluster) = region_with(64, format!("beyond{n}"), &remote).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("{segment}.2");
    let mut host = Host::start(
        &format!("flp{n}h"),
        &bridge.0,
        &address,
        &format!("{segment}.1"),
        &dir.path().join("host"),
    );
    host.start_agent(
        &format!("http://{segment}.1:{}", server.port),
        &cluster,
        &server.data_dir.join("agent-token"),
        &address,
    );
    let instance = joined(&ecs, &cluster, 1).await.remove(0);
    let mut plane = DataPlane::routed(&format!("flp{n}l"), &link);
    let routed = Routed(bridge.0.clone(), format!("flp{n}lo"));
    for rule in routed.rules() {
        sh("iptables", &[&["-w", "5", "-I", "FORWARD", "1"][..], &rule].concat());
    }
    let plane_dir = dir.path().join("lb");
    plane.run(&server, &format!("http://{link}.1:{}", server.port), &plane_dir);

    let (task_address, lb_address) =
        web_behind_a_load_balancer(&server, (&ecs, &cluster), &format!("beyond{n}"), instance)
            .await;
    if !within(true, || plane.get(&lb_address)) {
        diagnose(
            std::slice::from_ref(&host),
            &["ip route", "ip -d link show flvx0", "iptables -S FORWARD"],
        );
        let said = |args: &[&str]| {
            let out = Command::new("ip").args(["netns", "exec", &plane.netns]).args(args).output();
            out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
        };
        eprintln!("data plane routes: {}", said(&["ip", "route"]));
        eprintln!("data plane end: {}", said(&["ip", "-d", "link", "show", "flvx78"]));
        eprintln!(
            "data plane log: {}",
            std::fs::read_to_string(plane_dir.with_extension("log")).unwrap_or_default()
        );
        panic!("the remote data plane beyond a router does not reach the task {task_address}");
    }
    let path = sh("ip", &["netns", "exec", &plane.netns, "ip", "route", "get", &task_address]);
    assert!(path.contains("dev flvx78"), "the data plane's path to the task: {path}");
    let host_end = Command::new("ip")
        .args(["netns", "exec", &host.netns, "ip", "link", "show", "flvx0"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(host_end, "the host keeps its end for the data plane");
    plane.stop(true);
    let end_left = Command::new("ip")
        .args(["netns", "exec", &plane.netns, "ip", "link", "show", "flvx78"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(!end_left, "a stopped data plane removes its end");
    drop(routed);
    drop(plane);
    drop(host);
    drop(bridge);
}

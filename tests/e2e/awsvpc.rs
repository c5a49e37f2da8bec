//! awsvpc tasks on one host, with real Docker and Debian's CNI plugins: ECS's checks of
//! `networkConfiguration`, each task its own address in its host's slice of the subnet (two
//! tasks both listening on port 80, reached by address from the host), DescribeTasks' ENI
//! attachment, tasks adopted with their addresses by an agent killed -9 and started again, and,
//! once the tasks stop, no veth, address reservation or firewall rule left.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerDefinition, NetworkConfiguration, NetworkMode,
    PortMapping, Task,
};

use crate::conformance::run_model_check;
use crate::fleet::Fleet;
use crate::support::{subnet_bridges, Flotilla, SubnetBridgesGone};

/// An EC2 query call (botocore's ec2 protocol, as the CLI sends it): the answer's XML.
pub(crate) fn ec2_call(f: &Flotilla, form: &str) -> String {
    crate::support::query_call(f, "ec2", "2016-11-15", form)
}

/// The text of the first `<tag>` of an XML answer.
pub(crate) fn first_value(body: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = body.find(&open).unwrap_or_else(|| panic!("no {tag} in {body}")) + open.len();
    let end = body[start..].find('<').expect("the value's end") + start;
    body[start..end].to_string()
}

/// The id of the region's first subnet, through EC2's DescribeSubnets (a zone's subnet comes
/// with the first agent registering there: waits up to 20 s for one).
pub(crate) fn first_subnet(f: &Flotilla) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let answer = ec2_call(f, "Action=DescribeSubnets");
        if answer.contains("<subnetId>") || std::time::Instant::now() > deadline {
            return first_value(&answer, "subnetId");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn vpc_config(subnets: &[&str]) -> NetworkConfiguration {
    let config = AwsVpcConfiguration::builder()
        .set_subnets(Some(subnets.iter().map(|s| s.to_string()).collect()))
        .assign_public_ip(AssignPublicIp::Disabled)
        .build()
        .expect("awsvpc configuration");
    NetworkConfiguration::builder().awsvpc_configuration(config).build()
}

fn detail<'t>(task: &'t Task, name: &str) -> Option<&'t str> {
    let attachment = task.attachments().first()?;
    attachment.details().iter().find(|d| d.name() == Some(name))?.value()
}

fn http_get(address: Ipv4Addr, port: u16) -> std::io::Result<String> {
    let target = SocketAddr::from((address, port));
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.1\r\nhost: task\r\nconnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

fn shell(command: &str) -> String {
    let output = Command::new("sh").args(["-c", command]).output().expect("run sh");
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awsvpc_tasks_get_their_own_addresses_and_leave_nothing_behind() {
    // A VPC of this test's own, so no other test's bridge has its addresses.
    let cidr = format!("10.{}.0.0/16", 100 + std::process::id() % 100);
    let mut fleet = Fleet::with_server_flags(&["--vpc-cidr", &cidr], &[&[]]).await;
    let subnet = first_subnet(&fleet.server);
    let _cleanup = SubnetBridgesGone(subnet.clone());
    let web = ContainerDefinition::builder()
        .name("web")
        .image("flotilla/demo:latest")
        .memory(64)
        .command("serve")
        .command("--port")
        .command("80")
        .port_mappings(PortMapping::builder().container_port(80).build())
        .build();
    let definition =
        fleet.register_with("vpc", vec![web], |b| b.network_mode(NetworkMode::Awsvpc)).await;

    // ECS's checks: awsvpc needs a configuration; unknown subnets are named.
    let refused = fleet
        .ecs
        .run_task()
        .cluster(&fleet.cluster)
        .task_definition(&definition)
        .send()
        .await
        .expect_err("no network configuration");
    let message = format!("{:?}", refused.into_service_error());
    assert!(message.contains("Network Configuration must be provided"), "{message}");
    let refused = fleet
        .ecs
        .run_task()
        .cluster(&fleet.cluster)
        .task_definition(&definition)
        .network_configuration(vpc_config(&["subnet-0123456789abcdef0"]))
        .send()
        .await
        .expect_err("an unknown subnet");
    let message = format!("{:?}", refused.into_service_error());
    assert!(message.contains("subnet-0123456789abcdef0"), "{message}");

    // The tasks are in the VPC's default group (none named), which lets only its members in:
    // the host (the subnet's gateway here) is let in on port 80 by address.
    let default_group = first_value(
        &ec2_call(&fleet.server, "Action=DescribeSecurityGroups&GroupName.1=default"),
        "groupId",
    );
    ec2_call(
        &fleet.server,
        &format!(
            "Action=AuthorizeSecurityGroupIngress&GroupId={default_group}&IpProtocol=tcp\
             &FromPort=80&ToPort=80&CidrIp={}",
            cidr.replace('/', "%2F")
        ),
    );

    // Two tasks, both on port 80 of their own address.
    let out = fleet
        .ecs
        .run_task()
        .cluster(&fleet.cluster)
        .task_definition(&definition)
        .count(2)
        .network_configuration(vpc_config(&[&subnet]))
        .send()
        .await
        .expect("run awsvpc tasks");
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    let arns: Vec<String> =
        out.tasks().iter().filter_map(|t| t.task_arn()).map(String::from).collect();
    assert_eq!(arns.len(), 2);
    let mut addresses = Vec::new();
    for arn in &arns {
        let task = fleet
            .wait_task_for(arn, "RUNNING", Duration::from_secs(60), |t| {
                t.last_status() == Some("RUNNING")
            })
            .await;
        let attachment = &task.attachments()[0];
        assert_eq!(attachment.r#type(), Some("ElasticNetworkInterface"));
        assert_eq!(attachment.status(), Some("ATTACHED"));
        assert_eq!(detail(&task, "subnetId"), Some(subnet.as_str()));
        assert!(detail(&task, "networkInterfaceId").is_some_and(|id| id.starts_with("eni-")));
        assert!(detail(&task, "macAddress").is_some_and(|m| m.len() == 17), "{task:?}");
        let ip: Ipv4Addr =
            detail(&task, "privateIPv4Address").expect("address").parse().expect("ip");
        assert!(detail(&task, "privateDnsName").is_some_and(|n| n.starts_with("ip-")));
        let container = &task.containers()[0];
        assert_eq!(
            container.network_interfaces()[0].private_ipv4_address(),
            Some(ip.to_string().as_str())
        );
        assert!(container.network_bindings().is_empty(), "no host port: {container:?}");
        addresses.push(ip);
    }
    assert_ne!(addresses[0], addresses[1], "each task has its own address");
    for address in &addresses {
        let octets = address.octets();
        let vpc: Ipv4Addr = cidr.split('/').next().and_then(|a| a.parse().ok()).expect("vpc base");
        assert_eq!(octets[..2], vpc.octets()[..2], "{address} is in the VPC {cidr}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match http_get(*address, 80) {
                Ok(answer) if answer.starts_with("HTTP/1.1 200") => break,
                other if Instant::now() > deadline => panic!("GET {address}:80: {other:?}"),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    let bridges = subnet_bridges(&subnet);
    assert_eq!(bridges.len(), 1, "one slice of the subnet here, one bridge: {bridges:?}");
    let bridge = bridges[0].clone();
    assert!(shell(&format!("ip -o link show master {bridge}")).lines().count() >= 2);

    // The metadata endpoint answers from inside the task's namespace, with its interface.
    let task = fleet.describe(&arns[0]).await;
    let runtime_id = task.containers()[0].runtime_id().expect("container id").to_string();
    let metadata = shell(&format!(
        "docker exec {runtime_id} sh -c 'wget -qO- $ECS_CONTAINER_METADATA_URI_V4'"
    ));
    let metadata: serde_json::Value =
        serde_json::from_str(&metadata).unwrap_or_else(|e| panic!("{e}: {metadata:?}"));
    let network = &metadata["Networks"][0];
    assert_eq!(network["NetworkMode"], "awsvpc", "{metadata}");
    assert_eq!(network["IPv4Addresses"][0], addresses[0].to_string(), "{metadata}");
    assert_eq!(network["MACAddress"], detail(&task, "macAddress").unwrap_or_default());
    assert!(network["IPv4SubnetCIDRBlock"].as_str().is_some_and(|c| c.ends_with("/20")));
    assert!(network["SubnetGatewayIpv4Address"].as_str().is_some_and(|g| g.contains('/')));

    // An agent killed -9 and started again adopts its tasks: same addresses, still serving.
    fleet.agents[0].kill9();
    tokio::time::sleep(Duration::from_millis(500)).await;
    fleet.agents[0].restart();
    for (arn, address) in arns.iter().zip(&addresses) {
        let task = fleet.describe(arn).await;
        assert_eq!(task.last_status(), Some("RUNNING"));
        assert_eq!(detail(&task, "privateIPv4Address"), Some(address.to_string().as_str()));
        let answer = http_get(*address, 80).expect("served across the agent's restart");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // The restarted agent follows the groups of the tasks it adopted: the host's rule revoked,
    // the host is refused.
    ec2_call(
        &fleet.server,
        &format!(
            "Action=RevokeSecurityGroupIngress&GroupId={default_group}&IpProtocol=tcp\
             &FromPort=80&ToPort=80&CidrIp={}",
            cidr.replace('/', "%2F")
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get(addresses[0], 80).is_ok() {
        assert!(Instant::now() < deadline, "the revoked rule still lets the host in");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Stopped: the interface deleted, and nothing of it left on the host.
    for arn in &arns {
        fleet.ecs.stop_task().cluster(&fleet.cluster).task(arn).send().await.expect("stop");
    }
    for arn in &arns {
        let task = fleet
            .wait_task_for(arn, "STOPPED", Duration::from_secs(60), |t| {
                t.last_status() == Some("STOPPED")
            })
            .await;
        assert_eq!(task.attachments()[0].status(), Some("DELETED"));
    }
    assert_eq!(shell(&format!("ip -o link show master {bridge}")), "", "no veth left");
    let rules = shell("iptables -S; iptables -t nat -S");
    for address in &addresses {
        assert!(!rules.contains(&format!("{address}/32")), "a rule of {address} is left:\n{rules}");
    }
    let ipam = fleet.agents[0].data_dir.join("network/ipam");
    let reserved = shell(&format!("ls -R {} 2>/dev/null", ipam.display()));
    for address in &addresses {
        assert!(!reserved.contains(&address.to_string()), "{address} still reserved: {reserved}");
    }
}

/// Security groups enforced on awsvpc tasks (`tests/conformance/security_groups.py`, botocore):
/// ingress by source group and CIDR, egress, replies passing, the default group, a load
/// balancer's group, and rule changes reaching running tasks — tested from other tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_groups_decide_who_reaches_a_task() {
    let cidr = format!("10.{}.0.0/16", 100 + (std::process::id() + 50) % 100);
    let fleet = Fleet::with_server_flags(&["--vpc-cidr", &cidr], &[&[]]).await;
    crate::support::ensure_demo_image();
    let subnet = first_subnet(&fleet.server);
    let _cleanup = SubnetBridgesGone(subnet.clone());
    fleet.wait_for_instances(1).await;
    run_model_check("security_groups.py", &fleet.server, &["--cluster", &fleet.cluster]);
    assert_nothing_left_in(&cidr);
}

/// No firewall rule of the VPC `cidr`'s addresses is left on the host (its tasks stopped).
fn assert_nothing_left_in(cidr: &str) {
    let prefix = cidr.split(".0.0/").next().unwrap_or(cidr).to_string() + ".";
    let rules = shell("iptables -S; iptables -t nat -S");
    let left: Vec<&str> = rules.lines().filter(|l| l.contains(&format!(" {prefix}"))).collect();
    assert!(left.is_empty(), "rules of {cidr} left: {left:?}");
}

/// An awsvpc service (`tests/conformance/awsvpc_service.py`, botocore): ECS's checks of its
/// network configuration and target groups, its tasks registered by address in an `ip` target
/// group (HTTP through the load balancer) and in Cloud Map (A records looked up from inside a
/// task, through the agent's DNS server), a task set's own configuration, DescribeNetworkInterfaces,
/// and a new network configuration rolled out by a deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awsvpc_services_are_reached_by_their_tasks_addresses() {
    crate::support::ensure_demo_image();
    let cidr = format!("10.{}.0.0/16", 100 + (std::process::id() + 25) % 100);
    // The agent serves DNS (to the awsvpc tasks too) on a bridge network of the test's own.
    let network = crate::dns::BridgeNetwork::create("flotilla-e2e-vpcdns");
    let fleet = Fleet::with_server_flags(
        &["--vpc-cidr", &cidr],
        &[&["--bridge-network", &network.name, "--dns", "serve"]],
    )
    .await;
    let subnet = first_subnet(&fleet.server);
    let _cleanup = SubnetBridgesGone(subnet.clone());
    run_model_check("awsvpc_service.py", &fleet.server, &["--cluster", &fleet.cluster]);
    assert_nothing_left_in(&cidr);
}

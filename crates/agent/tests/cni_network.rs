//! awsvpc's first step on a real host: two namespaces (held by containers started with
//! `--network none`, as a pause container holds a task's) get interfaces on one subnet's bridge
//! through Debian's CNI plugins, reach each other by address, and leave nothing behind when
//! detached. Needs root, Docker, busybox-static and containernetworking-plugins (CI installs
//! them); fails, never skips, without them.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use flotilla_agent::network::{CniNetwork, SubnetSlice, DEFAULT_PLUGIN_DIR};

const IMAGE: &str = "flotilla-test/busybox:latest";

fn docker(args: &[&str]) -> String {
    let output = Command::new("docker").args(args).output().expect("run docker");
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A `FROM scratch` image holding the host's static busybox (no pulls).
fn busybox_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let busybox = ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("a static busybox (apt-get install busybox-static)");
    std::fs::copy(&busybox, dir.path().join("busybox")).expect("copy busybox");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\nCMD [\"sleep\", \"3600\"]\n",
    )
    .expect("Dockerfile");
    docker(&["build", "-q", "-t", IMAGE, &dir.path().display().to_string()]);
}

/// A container holding a network namespace of its own, with no interface but loopback.
struct Holder(String);

impl Holder {
    fn start(name: &str) -> Holder {
        let _ = Command::new("docker").args(["rm", "-f", name]).output();
        docker(&["run", "-d", "--name", name, "--network", "none", IMAGE]);
        Holder(name.to_string())
    }

    fn netns(&self) -> PathBuf {
        let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &self.0]);
        PathBuf::from(format!("/proc/{pid}/ns/net"))
    }

    fn sh(&self, script: &str) -> (bool, String) {
        let output = Command::new("docker")
            .args(["exec", &self.0, "/bin/busybox", "sh", "-c", script])
            .output()
            .expect("docker exec");
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

/// The addresses host-local still holds for a network (files named after addresses).
fn reserved(ipam: &Path, network: &str) -> Vec<String> {
    std::fs::read_dir(ipam.join(network))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.parse::<Ipv4Addr>().is_ok())
                .collect()
        })
        .unwrap_or_default()
}

fn bridge_ports(bridge: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{bridge}/brif")).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn two_namespaces_on_one_subnet_reach_each_other_and_leave_nothing() {
    assert!(
        Path::new(DEFAULT_PLUGIN_DIR).join("bridge").exists(),
        "CNI plugins missing: apt-get install containernetworking-plugins"
    );
    busybox_image();
    let state = tempfile::tempdir().expect("tempdir");
    let slice = SubnetSlice {
        subnet_id: format!("subnet-t{:011}", std::process::id()),
        network: Ipv4Addr::new(10, 213, 0, 0),
        prefix_len: 24,
        first: Ipv4Addr::new(10, 213, 0, 10),
        last: Ipv4Addr::new(10, 213, 0, 20),
        gateway: Ipv4Addr::new(10, 213, 0, 1),
    };
    let bridge = slice.bridge();
    let network = CniNetwork::new(DEFAULT_PLUGIN_DIR, state.path());
    let a = Holder::start(&format!("flotilla-cni-a-{}", std::process::id()));
    let b = Holder::start(&format!("flotilla-cni-b-{}", std::process::id()));

    let first = network.attach("task-a", &a.netns(), &slice).await.expect("attach a");
    let second = network.attach("task-b", &b.netns(), &slice).await.expect("attach b");
    for attached in [&first, &second] {
        assert!((slice.first..=slice.last).contains(&attached.ipv4), "{attached:?}");
        assert_eq!((attached.prefix_len, attached.gateway), (24, slice.gateway));
        assert_eq!(attached.mac.len(), 17, "{attached:?}");
    }
    assert_ne!(first.ipv4, second.ipv4);
    let (_, shown) = a.sh("ip -4 addr show eth0");
    assert!(shown.contains(&format!("inet {}/24", first.ipv4)), "{shown}");
    let (reached, said) = a.sh(&format!("ping -c 1 -W 2 {}", second.ipv4));
    assert!(reached, "a task reaches another by its address: {said}");
    assert_eq!(bridge_ports(&bridge), 2, "one veth per task on the subnet's bridge");
    assert_eq!(reserved(&state.path().join("ipam"), &bridge).len(), 2);
    let rules = Command::new("iptables").arg("-S").output().expect("iptables -S");
    assert!(
        String::from_utf8_lossy(&rules.stdout).contains(&first.ipv4.to_string()),
        "the firewall plugin lets an attached task's traffic through"
    );

    // Detached (the second after its holder is gone, as after a crash): no veth, no address.
    network.detach("task-a", &a.netns()).await.expect("detach a");
    let gone = b.netns();
    drop(b);
    network.detach("task-b", &gone).await.expect("detach b with its namespace gone");
    assert_eq!(bridge_ports(&bridge), 0, "no veth left");
    assert!(reserved(&state.path().join("ipam"), &bridge).is_empty(), "every address given back");
    let rules = Command::new("iptables").arg("-S").output().expect("iptables -S");
    let rules = String::from_utf8_lossy(&rules.stdout);
    for address in [first.ipv4, second.ipv4] {
        assert!(
            !rules.contains(&address.to_string()),
            "a firewall rule of {address} is left: {rules}"
        );
    }
    let (_, shown) = a.sh("ip -4 addr show eth0 2>&1");
    assert!(!shown.contains("inet 10.213."), "the interface is gone: {shown}");
    drop(a);
    let _ = Command::new("ip").args(["link", "del", &bridge]).output();
}

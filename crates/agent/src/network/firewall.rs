//! Security groups, enforced in each awsvpc task's own network namespace: the namespace's
//! `filter` table drops everything but loopback, replies to allowed connections (conntrack),
//! what the task's groups' ingress permissions let in (`INPUT`) and what their egress
//! permissions let out (`OUTPUT`). Per namespace, as AWS enforces groups per interface: the
//! rules of two tasks never mix, the host's own firewall (Docker's, CNI's) is left alone, and
//! nothing can leak — the rules go with the namespace. The whole table is replaced atomically
//! (`iptables-restore` inside the namespace) whenever the region's groups or their members
//! change. The agent's DNS server and metadata endpoint are reachable whatever the egress
//! rules say (as AWS's resolver and metadata service are).
//!
//! Traffic from the load balancers reaches a task from its host's address on the subnet's
//! bridge when the data plane runs on the task's host, and from the data plane machine's own
//! addresses (`FirewallTable::data_plane_addresses`) when it runs elsewhere: those addresses
//! count as members of every load balancer's security groups.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use flotilla_api::firewall::{FirewallTable, Peer, Permission, Protocol};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

/// What every task may reach whatever its egress rules: the agent's own services.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exemptions {
    /// The agent's DNS server (port 53, UDP and TCP).
    pub resolver: Option<Ipv4Addr>,
    /// The task metadata endpoint.
    pub metadata: Option<SocketAddrV4>,
    /// The container credentials endpoint's address (169.254.170.2, TCP; each agent of the
    /// machine serves on a port of its own).
    pub credentials: Option<Ipv4Addr>,
}

/// One task's place in the region's groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    pub groups: &'a [String],
    /// The host's address on the task's subnet (its gateway): where the load balancers'
    /// connections come from.
    pub gateway: Ipv4Addr,
}

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("cannot run iptables-restore in the task's namespace: {0}")]
    Spawn(std::io::Error),
    #[error("iptables-restore refused the task's rules: {0}")]
    Refused(String),
}

/// The `iptables-restore` input of a task's namespace.
pub fn ruleset(table: &FirewallTable, member: &Member<'_>, exempt: &Exemptions) -> String {
    let mut out = String::from(
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n\
         -A INPUT -i lo -j ACCEPT\n\
         -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n",
    );
    let permissions = |pick: fn(&flotilla_api::firewall::GroupRules) -> &Vec<Permission>| {
        member.groups.iter().filter_map(|g| table.groups.get(g)).flat_map(pick).collect::<Vec<_>>()
    };
    for line in lines("INPUT", "-s", &permissions(|g| &g.ingress), table, member) {
        out.push_str(&line);
    }
    out.push_str(
        "-A OUTPUT -o lo -j ACCEPT\n\
         -A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n",
    );
    if let Some(resolver) = exempt.resolver {
        for protocol in ["udp", "tcp"] {
            out.push_str(&format!(
                "-A OUTPUT -d {resolver}/32 -p {protocol} --dport 53 -j ACCEPT\n"
            ));
        }
    }
    if let Some(metadata) = exempt.metadata {
        out.push_str(&format!(
            "-A OUTPUT -d {}/32 -p tcp --dport {} -j ACCEPT\n",
            metadata.ip(),
            metadata.port()
        ));
    }
    if let Some(credentials) = exempt.credentials {
        out.push_str(&format!("-A OUTPUT -d {credentials}/32 -p tcp -j ACCEPT\n"));
    }
    for line in lines("OUTPUT", "-d", &permissions(|g| &g.egress), table, member) {
        out.push_str(&line);
    }
    out.push_str("COMMIT\n");
    out
}

/// The ACCEPT lines of `permissions` on `chain`, each peer address on `side` (`-s` for
/// ingress, `-d` for egress), without repeats.
fn lines(
    chain: &str,
    side: &str,
    permissions: &[&Permission],
    table: &FirewallTable,
    member: &Member<'_>,
) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for permission in permissions {
        let matches = protocol_matches(&permission.protocol);
        for peer in peers(&permission.peer, table, member) {
            lines.insert(format!("-A {chain} {side} {peer}{matches} -j ACCEPT\n"));
        }
    }
    lines
}

/// The addresses a peer stands for: a CIDR block, or each member of a group (and, for a load
/// balancer's group, the host's address, where the load balancers' connections come from).
fn peers(peer: &Peer, table: &FirewallTable, member: &Member<'_>) -> Vec<String> {
    match peer {
        Peer::Cidr(cidr) => vec![cidr.clone()],
        Peer::Group(group) => {
            let mut addresses: BTreeSet<Ipv4Addr> =
                table.members.get(group).cloned().unwrap_or_default();
            if table.load_balancer_groups.contains(group) {
                addresses.insert(member.gateway);
                addresses.extend(table.data_plane_addresses.iter().copied());
            }
            addresses.into_iter().map(|a| format!("{a}/32")).collect()
        }
    }
}

fn protocol_matches(protocol: &Protocol) -> String {
    let ports = |from: u16, to: u16| {
        if from == to {
            format!(" --dport {from}")
        } else {
            format!(" --dport {from}:{to}")
        }
    };
    match *protocol {
        Protocol::All => String::new(),
        Protocol::Tcp { from, to } => format!(" -p tcp{}", ports(from, to)),
        Protocol::Udp { from, to } => format!(" -p udp{}", ports(from, to)),
        Protocol::Icmp { icmp_type: None, .. } => " -p icmp".to_string(),
        Protocol::Icmp { icmp_type: Some(t), code: None } => format!(" -p icmp --icmp-type {t}"),
        Protocol::Icmp { icmp_type: Some(t), code: Some(c) } => {
            format!(" -p icmp --icmp-type {t}/{c}")
        }
        Protocol::Number { number } => format!(" -p {number}"),
    }
}

/// Replaces the `filter` table of the namespace at `netns` with `ruleset`, atomically.
pub async fn apply(netns: &Path, ruleset: &str) -> Result<(), FirewallError> {
    let mut child = tokio::process::Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["iptables-restore", "-w", "5"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(FirewallError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(ruleset.as_bytes()).await.map_err(FirewallError::Spawn)?;
    }
    let output = child.wait_with_output().await.map_err(FirewallError::Spawn)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(FirewallError::Refused(String::from_utf8_lossy(&output.stderr).trim().to_string()))
    }
}

/// A guarded task: where its namespace is, what decides its rules, what was applied.
#[derive(Debug)]
struct Guarded {
    netns: PathBuf,
    groups: Vec<String>,
    gateway: Ipv4Addr,
    applied: String,
}

/// This host's awsvpc tasks' firewalls, kept in step with the region's table.
#[derive(Debug)]
pub struct Firewalls {
    table: watch::Sender<Arc<FirewallTable>>,
    exempt: Exemptions,
    /// task ARN -> its firewall. Held across applying, so rules are applied in table order.
    guarded: tokio::sync::Mutex<BTreeMap<String, Guarded>>,
    /// Whether the server has sent a table yet.
    received: std::sync::atomic::AtomicBool,
}

impl Firewalls {
    /// Firewalls that follow every table given to [`Firewalls::set_table`] (until dropped).
    pub fn start(exempt: Exemptions) -> Arc<Firewalls> {
        let (table, mut changes) = watch::channel(Arc::new(FirewallTable::default()));
        let firewalls = Arc::new(Firewalls {
            table,
            exempt,
            guarded: tokio::sync::Mutex::new(BTreeMap::new()),
            received: std::sync::atomic::AtomicBool::new(false),
        });
        let weak: Weak<Firewalls> = Arc::downgrade(&firewalls);
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let Some(firewalls) = weak.upgrade() else { return };
                firewalls.refresh().await;
            }
        });
        firewalls
    }

    /// The region's table, as the server sent it last.
    pub fn set_table(&self, table: FirewallTable) {
        self.received.store(true, std::sync::atomic::Ordering::Release);
        self.table.send_if_modified(|current| {
            let changed = **current != table;
            if changed {
                *current = Arc::new(table);
            }
            changed
        });
    }

    /// Puts task `task_arn`'s namespace under its groups' rules now (before its containers
    /// start), and keeps them in step with the table from now on.
    pub async fn guard(
        &self,
        task_arn: &str,
        netns: &Path,
        member: &Member<'_>,
    ) -> Result<(), FirewallError> {
        let mut guarded = self.guarded.lock().await;
        let table = Arc::clone(&self.table.borrow());
        let rules = ruleset(&table, member, &self.exempt);
        apply(netns, &rules).await?;
        guarded.insert(
            task_arn.to_string(),
            Guarded {
                netns: netns.to_path_buf(),
                groups: member.groups.to_vec(),
                gateway: member.gateway,
                applied: rules,
            },
        );
        Ok(())
    }

    /// Follows task `task_arn`, adopted after an agent restart: its namespace keeps the rules
    /// it has until this agent has the region's table (an empty one would shut the task off),
    /// then gets the table's like every guarded task.
    pub async fn adopt(&self, task_arn: &str, netns: &Path, member: &Member<'_>) {
        let mut guarded = self.guarded.lock().await;
        let adopted = Guarded {
            netns: netns.to_path_buf(),
            groups: member.groups.to_vec(),
            gateway: member.gateway,
            applied: String::new(),
        };
        guarded.insert(task_arn.to_string(), adopted);
        drop(guarded);
        if self.received.load(std::sync::atomic::Ordering::Acquire) {
            self.refresh().await;
        }
    }

    /// Stops following task `task_arn` (its namespace is going; its rules go with it).
    pub async fn release(&self, task_arn: &str) {
        self.guarded.lock().await.remove(task_arn);
    }

    /// Applies the current table to every guarded task whose rules it changes.
    async fn refresh(&self) {
        let mut guarded = self.guarded.lock().await;
        let table = Arc::clone(&self.table.borrow());
        for (task, firewall) in guarded.iter_mut() {
            let member = Member { groups: &firewall.groups, gateway: firewall.gateway };
            let rules = ruleset(&table, &member, &self.exempt);
            if rules == firewall.applied {
                continue;
            }
            match apply(&firewall.netns, &rules).await {
                Ok(()) => firewall.applied = rules,
                Err(error) => tracing::error!(%error, %task, "cannot update the task's firewall"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::firewall::GroupRules;

    fn table() -> FirewallTable {
        let web = GroupRules {
            ingress: vec![
                Permission {
                    protocol: Protocol::Tcp { from: 80, to: 80 },
                    peer: Peer::Group("sg-alb".into()),
                },
                Permission {
                    protocol: Protocol::Tcp { from: 8000, to: 8080 },
                    peer: Peer::Cidr("10.1.0.0/16".into()),
                },
                Permission { protocol: Protocol::All, peer: Peer::Group("sg-web".into()) },
            ],
            egress: vec![Permission {
                protocol: Protocol::Udp { from: 53, to: 53 },
                peer: Peer::Cidr("0.0.0.0/0".into()),
            }],
        };
        FirewallTable {
            groups: BTreeMap::from([("sg-web".into(), web)]),
            members: BTreeMap::from([(
                "sg-web".into(),
                BTreeSet::from([Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 6)]),
            )]),
            load_balancer_groups: BTreeSet::from(["sg-alb".into()]),
            data_plane_addresses: BTreeSet::from([Ipv4Addr::new(192, 168, 9, 1)]),
        }
    }

    #[test]
    fn a_tasks_groups_become_its_namespaces_rules() {
        let groups = vec!["sg-web".to_string()];
        let member = Member { groups: &groups, gateway: Ipv4Addr::new(10, 0, 0, 1) };
        let exempt = Exemptions {
            resolver: Some(Ipv4Addr::new(172, 17, 0, 1)),
            metadata: Some(SocketAddrV4::new(Ipv4Addr::new(172, 17, 0, 1), 51679)),
            credentials: None,
        };
        let rules = ruleset(&table(), &member, &exempt);
        for line in [
            ":INPUT DROP [0:0]",
            ":OUTPUT DROP [0:0]",
            "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            // The load balancers' group: the host's address, and the data plane's elsewhere.
            "-A INPUT -s 10.0.0.1/32 -p tcp --dport 80 -j ACCEPT",
            "-A INPUT -s 192.168.9.1/32 -p tcp --dport 80 -j ACCEPT",
            "-A INPUT -s 10.1.0.0/16 -p tcp --dport 8000:8080 -j ACCEPT",
            // Its own group: each member.
            "-A INPUT -s 10.0.0.5/32 -j ACCEPT",
            "-A INPUT -s 10.0.0.6/32 -j ACCEPT",
            "-A OUTPUT -d 172.17.0.1/32 -p udp --dport 53 -j ACCEPT",
            "-A OUTPUT -d 172.17.0.1/32 -p tcp --dport 51679 -j ACCEPT",
            "-A OUTPUT -d 0.0.0.0/0 -p udp --dport 53 -j ACCEPT",
            "COMMIT",
        ] {
            assert!(rules.lines().any(|l| l == line), "missing {line:?} in\n{rules}");
        }
        assert_eq!(rules.matches("-A INPUT").count(), 7, "{rules}");
        assert_eq!(rules.matches("-A OUTPUT").count(), 6, "{rules}");
    }

    #[test]
    fn unknown_groups_and_empty_groups_let_nothing_in() {
        let groups = vec!["sg-gone".to_string()];
        let member = Member { groups: &groups, gateway: Ipv4Addr::new(10, 0, 0, 1) };
        let rules = ruleset(&table(), &member, &Exemptions::default());
        // Only loopback and replies, each way.
        assert_eq!(rules.matches("-A INPUT").count(), 2, "{rules}");
        assert_eq!(rules.matches("-A OUTPUT").count(), 2, "{rules}");
    }

    #[test]
    fn icmp_and_other_protocols() {
        assert_eq!(
            protocol_matches(&Protocol::Icmp { icmp_type: Some(8), code: None }),
            " -p icmp --icmp-type 8"
        );
        assert_eq!(
            protocol_matches(&Protocol::Icmp { icmp_type: Some(3), code: Some(4) }),
            " -p icmp --icmp-type 3/4"
        );
        assert_eq!(protocol_matches(&Protocol::Icmp { icmp_type: None, code: None }), " -p icmp");
        assert_eq!(protocol_matches(&Protocol::Number { number: 47 }), " -p 47");
    }
}

//! `assignPublicIp` ENABLED: there are no public addresses to give, so an awsvpc task's traffic
//! to anywhere outside its VPC leaves through the host's NAT (masqueraded to the host's
//! address), as a task behind a NAT gateway's would. Traffic inside the VPC keeps the task's own
//! address (security groups match it). One rule per task in the `nat` table's `FLOTILLA-NAT`
//! chain (jumped to from POSTROUTING while it holds a rule), each commented with its agent and
//! task, so an agent finds and removes its own after any crash — and never another agent's.
//! Agents of one machine change the chain one at a time (a lock file).

use std::net::Ipv4Addr;

use tokio::process::Command;

const CHAIN: &str = "FLOTILLA-NAT";

#[derive(Debug, thiserror::Error)]
pub enum NatError {
    #[error("cannot run iptables: {0}")]
    Spawn(std::io::Error),
    #[error("iptables {args}: {stderr}")]
    Refused { args: String, stderr: String },
}

/// Held (an exclusive lock on a file every agent of the machine opens) across each change of
/// the chain: agents of one machine share it, and its jump comes and goes with its rules.
async fn machine_lock() -> Option<std::fs::File> {
    tokio::task::spawn_blocking(|| {
        let path = std::env::temp_dir().join("flotilla-nat.lock");
        let file =
            std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).ok()?;
        file.lock().ok()?;
        Some(file)
    })
    .await
    .ok()
    .flatten()
}

/// This agent's NAT rules. Calls are serialized: the chain's jump comes and goes with its rules.
#[derive(Debug)]
pub struct Nat {
    agent_id: String,
    lock: tokio::sync::Mutex<()>,
}

async fn iptables(args: &[&str]) -> Result<String, NatError> {
    let output = Command::new("iptables")
        .args(["-w", "5", "-t", "nat"])
        .args(args)
        .output()
        .await
        .map_err(NatError::Spawn)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(NatError::Refused {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

impl Nat {
    pub fn new(agent_id: impl Into<String>) -> Nat {
        Nat { agent_id: agent_id.into(), lock: tokio::sync::Mutex::new(()) }
    }

    fn comment(&self, task_id: &str) -> String {
        format!("flotilla:{}:{task_id}", self.agent_id)
    }

    /// The rule of task `task_id` (at `address`, in `vpc_cidr`), as iptables takes it.
    fn rule(&self, task_id: &str, address: Ipv4Addr, vpc_cidr: &str) -> Vec<String> {
        [
            "-s",
            &format!("{address}/32"),
            "!",
            "-d",
            vpc_cidr,
            "-m",
            "comment",
            "--comment",
            &self.comment(task_id),
            "-j",
            "MASQUERADE",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Masquerades task `task_id`'s traffic beyond `vpc_cidr` (again after a restart: the rule
    /// is not added twice).
    pub async fn enable(
        &self,
        task_id: &str,
        address: Ipv4Addr,
        vpc_cidr: &str,
    ) -> Result<(), NatError> {
        let _serial = self.lock.lock().await;
        let _machine = machine_lock().await;
        if iptables(&["-S", CHAIN]).await.is_err() {
            iptables(&["-N", CHAIN]).await?;
        }
        if iptables(&["-C", "POSTROUTING", "-j", CHAIN]).await.is_err() {
            iptables(&["-I", "POSTROUTING", "1", "-j", CHAIN]).await?;
        }
        let rule = self.rule(task_id, address, vpc_cidr);
        let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
        let check = [&["-C", CHAIN][..], &rule].concat();
        if iptables(&check).await.is_err() {
            iptables(&[&["-A", CHAIN][..], &rule].concat()).await?;
        }
        Ok(())
    }

    /// Removes task `task_id`'s rules (none is fine); the chain and its jump go with the last.
    pub async fn disable(&self, task_id: &str) -> Result<(), NatError> {
        let _serial = self.lock.lock().await;
        let _machine = machine_lock().await;
        let Ok(listed) = iptables(&["-S", CHAIN]).await else { return Ok(()) };
        let tag = format!("\"{}\"", self.comment(task_id));
        let plain = self.comment(task_id);
        for line in listed.lines().filter(|l| l.starts_with("-A ")) {
            let mine = line.split_whitespace().any(|word| word == tag || word == plain);
            if mine {
                let words: Vec<String> = line
                    .split_whitespace()
                    .skip(2)
                    .map(|w| w.trim_matches('"').to_string())
                    .collect();
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                iptables(&[&["-D", CHAIN][..], &words].concat()).await?;
            }
        }
        let left = iptables(&["-S", CHAIN]).await?;
        if !left.lines().any(|l| l.starts_with("-A ")) {
            let _ = iptables(&["-D", "POSTROUTING", "-j", CHAIN]).await;
            let _ = iptables(&["-X", CHAIN]).await;
        }
        Ok(())
    }

    /// The tasks this agent has rules for (the orphan sweep removes those it no longer knows).
    pub async fn tasks(&self) -> Vec<String> {
        let Ok(listed) = iptables(&["-S", CHAIN]).await else { return Vec::new() };
        let prefix = format!("flotilla:{}:", self.agent_id);
        listed
            .lines()
            .flat_map(|l| l.split_whitespace())
            .filter_map(|w| w.trim_matches('"').strip_prefix(&prefix).map(str::to_string))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_names_its_agent_and_task_and_spares_the_vpc() {
        let nat = Nat::new("i-0abc");
        let rule = nat.rule("task1", Ipv4Addr::new(10, 0, 3, 5), "10.0.0.0/16").join(" ");
        assert_eq!(
            rule,
            "-s 10.0.3.5/32 ! -d 10.0.0.0/16 -m comment --comment flotilla:i-0abc:task1 -j MASQUERADE"
        );
    }
}

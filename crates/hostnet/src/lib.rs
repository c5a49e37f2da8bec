//! The machine's side of task networking that agents and data planes share: which of the
//! region's task slices this network namespace reaches how (`plan`: a host on one of its
//! segments is the next hop itself, a host elsewhere is reached through the VXLAN overlay),
//! the overlay device (`overlay`), and the data planes' route follower (`follow`: the server's
//! and `flotilla lb`'s routes, `proto 78`, written down before they are added). The agent's
//! own follower (`proto 77`, with its FORWARD openings) lives in the agent and uses `plan` and
//! `overlay`. Everything is done through iproute2 (`ip`, `bridge`), as the CNI plugins do.

pub mod follow;
pub mod overlay;
pub mod plan;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use flotilla_api::cidr::Cidr;
use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum HostNetError {
    #[error("cannot run {0}: {1}")]
    Spawn(&'static str, std::io::Error),
    #[error("{command}: {stderr}")]
    Refused { command: String, stderr: String },
}

/// Runs `program` with `args`: its standard output, or what it said when it failed.
pub async fn run(program: &'static str, args: &[&str]) -> Result<String, HostNetError> {
    let output = Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|e| HostNetError::Spawn(program, e))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(HostNetError::Refused {
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// This namespace's IPv4 addresses, and the networks they are in (`ip -4 -o addr show`).
pub async fn local_addresses() -> Result<(BTreeSet<Ipv4Addr>, Vec<Cidr>), HostNetError> {
    let listed = run("ip", &["-4", "-o", "addr", "show"]).await?;
    use flotilla_api::routes::{addresses_in_ip_output, networks_in_ip_output};
    Ok((addresses_in_ip_output(&listed), networks_in_ip_output(&listed)))
}

/// This namespace's IPv4 addresses but loopback (none when `ip` cannot say): where a data
/// plane's connections to targets come from.
pub async fn own_addresses() -> BTreeSet<Ipv4Addr> {
    let mut addresses = local_addresses().await.map(|(a, _)| a).unwrap_or_default();
    addresses.retain(|a| !a.is_loopback());
    addresses
}

/// The address this namespace sends from towards `destination` (`ip route get`'s `src`).
pub async fn source_toward(destination: Ipv4Addr) -> Option<Ipv4Addr> {
    let said = run("ip", &["-4", "route", "get", &destination.to_string()]).await.ok()?;
    let words: Vec<&str> = said.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "src")?;
    words.get(at + 1)?.parse().ok()
}

/// Whether `address` is in one of `segments`.
pub fn on_segments(address: Ipv4Addr, segments: &[Cidr]) -> bool {
    Cidr::parse(&format!("{address}/32"))
        .is_ok_and(|host| segments.iter().any(|s| s.contains(host)))
}

//! The VXLAN overlay to hosts on other segments (VNI 7700; hosts listen on UDP 4789): each
//! end's MAC is derived from its address (`plan::overlay_mac`), so no one learns anything —
//! forwarding entries send a host's MAC to its address, neighbour entries give each remote
//! slice's gateway its host's MAC. Hosts' ends are `flvx0`. A data plane (the server, a
//! remote `flotilla lb`) only sends through the overlay — the tasks' replies come back through
//! the segments' routers — so its end, `flvx78`, listens on UDP 4790: it never collides with a
//! host's end in the same namespace (one VNI may be bound once per port and namespace).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::plan::{gateway, overlay_mac};
use crate::{run, HostNetError};

const VNI: &str = "7700";
/// Where hosts' ends listen (and where every end sends).
const HOSTS_PORT: &str = "4789";

/// One kind of overlay end.
#[derive(Debug, Clone, Copy)]
pub struct Overlay {
    pub device: &'static str,
    /// The UDP port the device listens on.
    pub listen_port: &'static str,
}

/// A host's end (an agent's).
pub const HOST_END: Overlay = Overlay { device: "flvx0", listen_port: HOSTS_PORT };
/// A data plane's end (the server's, a remote data plane's).
pub const DATA_PLANE_END: Overlay = Overlay { device: "flvx78", listen_port: "4790" };

/// Logs a step that failed; the others go on (one bad entry must not stop the rest).
fn logged(result: Result<String, HostNetError>) {
    if let Err(error) = result {
        tracing::warn!(%error, "cannot set an entry of the overlay");
    }
}

impl Overlay {
    pub async fn exists(&self) -> bool {
        run("ip", &["link", "show", self.device]).await.is_ok()
    }

    /// Removes the device (gone already is fine).
    pub async fn remove(&self) {
        if self.exists().await {
            logged(run("ip", &["link", "del", self.device]).await);
        }
    }

    /// Makes the device an end at `local`, up, with a forwarding entry per host of `overlay`
    /// ((slice, host) pairs) and a neighbour entry per slice's gateway; stale entries go. A
    /// device made for another local address is made again.
    pub async fn sync(
        &self,
        local: Ipv4Addr,
        overlay: &BTreeSet<(String, Ipv4Addr)>,
    ) -> Result<(), HostNetError> {
        let device = self.device;
        let local_text = local.to_string();
        // One look tells both whether the device is there and whether it is this end's.
        let usable = match run("ip", &["-d", "link", "show", device]).await {
            Ok(details) if details.contains(&format!("local {local_text} ")) => true,
            Ok(_) => {
                run("ip", &["link", "del", device]).await?;
                false
            }
            Err(_) => false,
        };
        if !usable {
            let add = [
                "link",
                "add",
                device,
                "type",
                "vxlan",
                "id",
                VNI,
                "local",
                &local_text,
                "dstport",
                self.listen_port,
                "nolearning",
            ];
            run("ip", &add).await?;
        }
        run("ip", &["link", "set", device, "address", &overlay_mac(local), "up"]).await?;
        let peers: BTreeSet<Ipv4Addr> = overlay.iter().map(|(_, host)| *host).collect();
        let forwarding = run("bridge", &["fdb", "show", "dev", device]).await?;
        for line in forwarding.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let dst = words.iter().position(|w| *w == "dst").and_then(|i| words.get(i + 1));
            let stale = dst.and_then(|d| d.parse().ok()).is_some_and(|d| !peers.contains(&d));
            if let (true, Some(mac), Some(dst)) = (stale, words.first(), dst) {
                logged(run("bridge", &["fdb", "del", mac, "dev", device, "dst", dst]).await);
            }
        }
        for peer in &peers {
            let (mac, peer) = (overlay_mac(*peer), peer.to_string());
            let entry = [
                "fdb",
                "replace",
                &mac,
                "dev",
                device,
                "dst",
                &peer,
                "port",
                HOSTS_PORT,
                "self",
                "permanent",
            ];
            logged(run("bridge", &entry).await);
        }
        let gateways: BTreeSet<(Ipv4Addr, Ipv4Addr)> =
            overlay.iter().filter_map(|(cidr, host)| Some((gateway(cidr)?, *host))).collect();
        let neighbours = run("ip", &["neigh", "show", "dev", device]).await?;
        for line in neighbours.lines() {
            let Some(ip) = line.split_whitespace().next().and_then(|w| w.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            if !gateways.iter().any(|(g, _)| *g == ip) {
                logged(run("ip", &["neigh", "del", &ip.to_string(), "dev", device]).await);
            }
        }
        for (gateway, host) in &gateways {
            let (gateway, mac) = (gateway.to_string(), overlay_mac(*host));
            let entry =
                ["neigh", "replace", &gateway, "lladdr", &mac, "dev", device, "nud", "permanent"];
            logged(run("ip", &entry).await);
        }
        Ok(())
    }
}

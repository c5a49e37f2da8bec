//! Where names that are not the region's go: the host's resolvers, read from resolv.conf.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// Where systemd-resolved writes the resolvers it forwards to, when /etc/resolv.conf names only
/// its stub (127.0.0.53).
const SYSTEMD_UPSTREAMS: &str = "/run/systemd/resolve/resolv.conf";

/// The `nameserver` addresses of a resolv.conf, port 53.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then_some(())?;
            // A scoped IPv6 address (`fe80::1%eth0`) cannot be parsed without its scope.
            let address: IpAddr = words.next()?.parse().ok()?;
            Some(SocketAddr::new(address, 53))
        })
        .collect()
}

/// The host's resolvers: the non-loopback ones of /etc/resolv.conf; if it names only loopback
/// resolvers (a local stub), systemd-resolved's upstreams; if there are none either, the
/// loopback ones (the agent runs on the host, where they answer).
pub fn host_resolvers() -> Vec<SocketAddr> {
    let read = |path: &str| {
        std::fs::read_to_string(Path::new(path)).map(|t| parse_resolv_conf(&t)).unwrap_or_default()
    };
    let configured = read("/etc/resolv.conf");
    let outside: Vec<SocketAddr> =
        configured.iter().copied().filter(|a| !a.ip().is_loopback()).collect();
    if !outside.is_empty() {
        return outside;
    }
    let systemd: Vec<SocketAddr> =
        read(SYSTEMD_UPSTREAMS).into_iter().filter(|a| !a.ip().is_loopback()).collect();
    if !systemd.is_empty() {
        return systemd;
    }
    configured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameservers() {
        let text = "# generated\nsearch example.internal\nnameserver 10.0.0.2\nnameserver ::1\n\
                    nameserver fe80::1%eth0\noptions ndots:2\n  nameserver   192.0.2.53  \n";
        let found: Vec<String> = parse_resolv_conf(text).iter().map(|a| a.to_string()).collect();
        assert_eq!(found, ["10.0.0.2:53", "[::1]:53", "192.0.2.53:53"]);
    }
}

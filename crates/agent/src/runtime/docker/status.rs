//! Pure mappings of what Docker reports (container inspect, system info) into the runtime's
//! types (no IO here).

use std::collections::BTreeMap;

use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum, PortMap,
};
use flotilla_api::task::NetworkBinding;

use crate::runtime::{
    ContainerDetails, ContainerNetwork, ContainerStatus, Health, LogRecord, RunState,
};

/// `docker inspect` of one container as a `ContainerStatus`.
pub(super) fn container_status(inspect: ContainerInspectResponse) -> ContainerStatus {
    let state = inspect.state.unwrap_or_default();
    let run_state = match state.status {
        Some(ContainerStateStatusEnum::CREATED) => RunState::Created,
        // A paused container still holds its resources and will go on; a restarting one is
        // between two runs (Flotilla never asks for restarts, but someone could have).
        Some(
            ContainerStateStatusEnum::RUNNING
            | ContainerStateStatusEnum::PAUSED
            | ContainerStateStatusEnum::RESTARTING,
        ) => RunState::Running,
        // Dead (failed removal) and removing containers will never run again.
        Some(
            ContainerStateStatusEnum::EXITED
            | ContainerStateStatusEnum::DEAD
            | ContainerStateStatusEnum::REMOVING,
        ) => RunState::Exited,
        Some(ContainerStateStatusEnum::EMPTY) | None => {
            if state.running == Some(true) {
                RunState::Running
            } else if parse_docker_time(state.finished_at.as_deref()).is_some() {
                RunState::Exited
            } else {
                RunState::Created
            }
        }
    };
    let exit_code = (run_state == RunState::Exited)
        .then(|| state.exit_code.map(|c| i32::try_from(c).unwrap_or(i32::MAX)))
        .flatten();
    let error = state
        .error
        .filter(|e| !e.is_empty())
        .or_else(|| (state.oom_killed == Some(true)).then(|| "OOMKilled".to_string()));
    let health = state.health.and_then(|h| match h.status {
        Some(HealthStatusEnum::STARTING) => Some(Health::Starting),
        Some(HealthStatusEnum::HEALTHY) => Some(Health::Healthy),
        Some(HealthStatusEnum::UNHEALTHY) => Some(Health::Unhealthy),
        Some(HealthStatusEnum::NONE | HealthStatusEnum::EMPTY) | None => None,
    });
    let labels: BTreeMap<String, String> =
        inspect.config.and_then(|c| c.labels).map(|l| l.into_iter().collect()).unwrap_or_default();
    let network_bindings = inspect
        .network_settings
        .and_then(|n| n.ports)
        .map(|ports| network_bindings(&ports))
        .unwrap_or_default();
    ContainerStatus {
        id: inspect.id.unwrap_or_default(),
        // Docker reports names with a leading slash.
        name: inspect.name.unwrap_or_default().trim_start_matches('/').to_string(),
        labels,
        state: run_state,
        exit_code,
        error,
        health,
        started_at: parse_docker_time(state.started_at.as_deref()),
        finished_at: parse_docker_time(state.finished_at.as_deref()),
        network_bindings,
        pid: state.pid.and_then(|p| u32::try_from(p).ok()).filter(|p| *p > 0),
    }
}

/// The parts of `docker inspect` the task metadata endpoint shows.
pub(super) fn container_details(inspect: ContainerInspectResponse) -> ContainerDetails {
    let mut networks: Vec<ContainerNetwork> = inspect
        .network_settings
        .and_then(|n| n.networks)
        .into_iter()
        .flatten()
        .map(|(name, endpoint)| ContainerNetwork {
            name,
            ipv4_address: endpoint.ip_address.unwrap_or_default(),
        })
        .collect();
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    ContainerDetails {
        image_id: inspect.image.filter(|i| !i.is_empty()),
        labels: inspect
            .config
            .and_then(|c| c.labels)
            .map(|l| l.into_iter().collect())
            .unwrap_or_default(),
        created_at: parse_docker_time(inspect.created.as_deref()),
        started_at: parse_docker_time(inspect.state.and_then(|s| s.started_at).as_deref()),
        networks,
    }
}

/// The first host address of an IPv4 subnet (`172.17.0.0/16` → `172.17.0.1`): where Docker
/// puts a bridge's gateway unless told otherwise.
pub(super) fn first_address(subnet: &str) -> Option<std::net::IpAddr> {
    let (network, bits) = subnet.split_once('/')?;
    let network: std::net::Ipv4Addr = network.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    if bits >= 31 {
        return None;
    }
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    Some(std::net::IpAddr::V4((u32::from(network) & mask).wrapping_add(1).into()))
}

/// One frame of `docker logs --timestamps` (one line, a piece of a long line, or several lines
/// from a TTY) as records; the last is `partial` when the frame does not end its line. A line
/// whose timestamp cannot be read keeps the previous line's (or 0).
pub(crate) fn log_records(frame: &[u8]) -> Vec<LogRecord> {
    let text = String::from_utf8_lossy(frame);
    let ends_line = text.ends_with('\n');
    let mut out = Vec::new();
    let mut last_ns = 0;
    for line in text.split_terminator('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (timestamp_ns, message) = match line.split_once(' ') {
            Some((stamp, rest)) => match parse_docker_time_ns(stamp) {
                Some(ns) => (ns, rest),
                None => (last_ns, line),
            },
            None => match parse_docker_time_ns(line) {
                // A timestamp alone: an empty line.
                Some(ns) => (ns, ""),
                None => (last_ns, line),
            },
        };
        last_ns = timestamp_ns;
        out.push(LogRecord { timestamp_ns, line: message.to_string(), partial: false });
    }
    if let Some(last) = out.last_mut() {
        last.partial = !ends_line;
    }
    out
}

/// `NetworkSettings.Ports` as ECS's network bindings, sorted by container port, protocol and
/// address. Exposed but unpublished ports (no bindings) are left out.
pub(super) fn network_bindings(ports: &PortMap) -> Vec<NetworkBinding> {
    let mut out = Vec::new();
    for (key, bindings) in ports {
        let (port, protocol) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(container_port) = port.parse::<i32>() else { continue };
        for binding in bindings.iter().flatten() {
            let host_port = binding.host_port.as_deref().and_then(|p| p.parse::<i32>().ok());
            out.push(NetworkBinding {
                bind_ip: binding.host_ip.clone().filter(|ip| !ip.is_empty()),
                container_port: Some(container_port),
                host_port,
                protocol: Some(protocol.to_string()),
            });
        }
    }
    out.sort_by(|a, b| {
        (a.container_port, &a.protocol, &a.bind_ip, a.host_port).cmp(&(
            b.container_port,
            &b.protocol,
            &b.bind_ip,
            b.host_port,
        ))
    });
    out
}

/// Docker's architecture names as ECS's (`x86_64`, `arm64`).
pub(super) fn normalize_architecture(arch: &str) -> String {
    match arch {
        "x86_64" | "amd64" => "x86_64".to_string(),
        "aarch64" | "arm64" => "arm64".to_string(),
        other => other.to_string(),
    }
}

/// Docker's RFC 3339 timestamps (`2024-05-07T21:09:36.123456789Z`) as epoch seconds. Docker
/// writes Go's zero time (`0001-01-01T00:00:00Z`) for "never", which becomes `None`, as does
/// anything that does not parse.
pub(super) fn parse_docker_time(text: Option<&str>) -> Option<f64> {
    // Whole seconds and the fraction apart: each is exact in an f64, so a time written with
    // milliseconds comes out as the nearest f64 to it.
    #[allow(clippy::cast_precision_loss)]
    parse_docker_time_ns(text?)
        .map(|ns| ns.div_euclid(1_000_000_000) as f64 + ns.rem_euclid(1_000_000_000) as f64 / 1e9)
}

/// Docker's RFC 3339 times (`2026-11-24T11:00:00.123456789Z`) as exact nanoseconds since the
/// epoch; `None` for the zero time or anything unparseable.
pub(crate) fn parse_docker_time_ns(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() || text.starts_with("0001-01-01") {
        return None;
    }
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: u32 = date_parts.next()?.parse().ok()?;
    let day: u32 = date_parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }

    // Split the clock from the zone: `Z`, or `+hh:mm` / `-hh:mm`.
    let (clock, offset_secs) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = zone[1..].split_once(':')?;
        let hours: i64 = hours.parse().ok()?;
        let minutes: i64 = minutes.parse().ok()?;
        (clock, sign * (hours * 3600 + minutes * 60))
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms_parts = hms.splitn(3, ':');
    let hour: i64 = hms_parts.next()?.parse().ok()?;
    let minute: i64 = hms_parts.next()?.parse().ok()?;
    let second: i64 = hms_parts.next()?.parse().ok()?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Nine digits at most count (Docker writes nanoseconds); shorter fractions are padded.
    let nanos = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));

    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

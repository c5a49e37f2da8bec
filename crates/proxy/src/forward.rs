//! One request through a listener: its rule's action — a fixed response, a redirect, or
//! forwarding to a target group (chosen by weight) and one of its targets (healthy ones,
//! round-robin; all non-draining ones when none is healthy), with X-Forwarded-For/Proto/Port
//! as the load balancer's attributes say and hop-by-hop headers removed both ways.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use flotilla_elbv2::attributes::{SERVER_HEADER, XFF_CLIENT_PORT, XFF_MODE};
use flotilla_elbv2::health::Verdict;
use flotilla_elbv2::model::{ActionKind, State, TargetType};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONNECTION, HOST, UPGRADE};
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::route::{self, Original, RequestView};
use crate::sticky;
use crate::upstream::{self, UpstreamError};
use crate::{client_address, Plane};

type Body = BoxBody<Bytes, hyper::Error>;

/// Headers that describe one hop, never forwarded.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
];

pub async fn handle(
    plane: Arc<Plane>,
    listener_arn: Arc<str>,
    port: u16,
    https: bool,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let scheme = if https { "https" } else { "http" };
    let state = plane.app.records.snapshot();
    let Some(listener) = state.listeners.get(&*listener_arn) else {
        return Ok(elb_answer(StatusCode::SERVICE_UNAVAILABLE, true));
    };
    let server_header = listener.attributes.get(SERVER_HEADER).map(String::as_str) != Some("false");
    let host_header = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let host = strip_port(&host_header).to_ascii_lowercase();
    let client = client_address(peer);
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let view = RequestView {
        method: request.method().as_str(),
        path: &path,
        query: query.as_deref(),
        host: &host,
        headers: request.headers(),
        client,
    };
    let Some(rule) = route::matching_rule(&state, &listener_arn, &view) else {
        return Ok(elb_answer(StatusCode::SERVICE_UNAVAILABLE, server_header));
    };
    let Some(action) = rule.actions.last() else {
        return Ok(elb_answer(StatusCode::SERVICE_UNAVAILABLE, server_header));
    };
    match &action.kind {
        ActionKind::FixedResponse { status, content_type, body } => {
            let mut response = Response::new(full(body.clone().unwrap_or_default()));
            *response.status_mut() = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
            if let Some(kind) = content_type.as_deref().and_then(|t| HeaderValue::from_str(t).ok())
            {
                response.headers_mut().insert(hyper::header::CONTENT_TYPE, kind);
            }
            stamp_server(&mut response, server_header);
            Ok(response)
        }
        ActionKind::Redirect {
            protocol,
            port: to_port,
            host: to_host,
            path: to_path,
            query: to_query,
            permanent,
        } => {
            let original = Original {
                protocol: scheme,
                host: &host,
                port,
                path: path.strip_prefix('/').unwrap_or(&path),
                query: query.as_deref(),
            };
            let location =
                route::redirect_location(protocol, to_port, to_host, to_path, to_query, &original);
            let status = if *permanent { StatusCode::MOVED_PERMANENTLY } else { StatusCode::FOUND };
            let mut response = Response::new(full(String::new()));
            *response.status_mut() = status;
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(hyper::header::LOCATION, value);
            }
            stamp_server(&mut response, server_header);
            Ok(response)
        }
        ActionKind::Forward { groups, .. } => {
            let turn = plane.next.fetch_add(1, Ordering::Relaxed);
            let Some(group_arn) = pick_weighted(groups, turn) else {
                return Ok(elb_answer(StatusCode::SERVICE_UNAVAILABLE, server_header));
            };
            let mut targets = candidates(&plane, &state, group_arn, turn);
            let stickiness = state.target_groups.get(group_arn).and_then(|g| g.stickiness());
            if let Some(stickiness) = &stickiness {
                let wanted = sticky::requested(
                    request.headers(),
                    stickiness,
                    group_arn,
                    &targets,
                    &plane.cookie_key,
                );
                sticky::prefer(&mut targets, wanted);
            }
            if targets.is_empty() {
                return Ok(elb_answer(StatusCode::SERVICE_UNAVAILABLE, server_header));
            }
            let no_attributes = std::collections::BTreeMap::new();
            let lb_attributes = state
                .load_balancers
                .get(&listener.load_balancer_arn)
                .map_or(&no_attributes, |lb| &lb.attributes);
            let mut request = request;
            // A WebSocket (or other) upgrade goes on a connection of its own, and once the
            // target switches protocols both sides are joined byte for byte.
            let upgrade = upgrade_protocol(&request)
                .map(|protocol| (protocol, hyper::upgrade::on(&mut request)));
            let mut request = outgoing(request, peer, port, scheme, lb_attributes);
            let sent = match upgrade {
                Some((protocol, client_side)) => {
                    let headers = request.headers_mut();
                    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
                    headers.insert(UPGRADE, protocol.clone());
                    match upstream::send_upgrade(&targets, request).await {
                        Ok((target, mut response))
                            if response.status() == StatusCode::SWITCHING_PROTOCOLS =>
                        {
                            tokio::spawn(tunnel(client_side, hyper::upgrade::on(&mut response)));
                            let (mut parts, body) = response.into_parts();
                            strip_hop_by_hop(&mut parts.headers);
                            if let Some(stickiness) = &stickiness {
                                let now = epoch_now();
                                sticky::stamp(
                                    &mut parts.headers,
                                    stickiness,
                                    group_arn,
                                    target,
                                    now,
                                    &plane.cookie_key,
                                );
                            }
                            parts.headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
                            parts.headers.insert(UPGRADE, protocol);
                            return Ok(Response::from_parts(parts, body.boxed()));
                        }
                        other => other,
                    }
                }
                None => plane.pool.send(&targets, request).await,
            };
            match sent {
                Ok((target, response)) => {
                    let (mut parts, body) = response.into_parts();
                    strip_hop_by_hop(&mut parts.headers);
                    if let Some(stickiness) = &stickiness {
                        sticky::stamp(
                            &mut parts.headers,
                            stickiness,
                            group_arn,
                            target,
                            epoch_now(),
                            &plane.cookie_key,
                        );
                    }
                    Ok(Response::from_parts(parts, body.boxed()))
                }
                Err(UpstreamError::NoConnection) | Err(UpstreamError::Target(_)) => {
                    Ok(elb_answer(StatusCode::BAD_GATEWAY, server_header))
                }
            }
        }
    }
}

fn epoch_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The protocol an HTTP/1.1 request asks to switch to (`Connection: upgrade` and `Upgrade`).
fn upgrade_protocol(request: &Request<Incoming>) -> Option<HeaderValue> {
    if request.version() != hyper::Version::HTTP_11 {
        return None;
    }
    let asks = request.headers().get_all(CONNECTION).iter().any(|v| {
        v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
    });
    asks.then(|| request.headers().get(UPGRADE).cloned()).flatten()
}

/// Joins an upgraded client connection to its upgraded target connection until either ends.
async fn tunnel(client: hyper::upgrade::OnUpgrade, target: hyper::upgrade::OnUpgrade) {
    match tokio::try_join!(client, target) {
        Ok((client, target)) => {
            let (mut client, mut target) = (TokioIo::new(client), TokioIo::new(target));
            if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut target).await {
                tracing::debug!(%error, "upgraded connection ended");
            }
        }
        Err(error) => tracing::debug!(%error, "an upgrade did not complete"),
    }
}

/// A group by weight: turn `turn` of a cycle as long as the weights' sum.
fn pick_weighted(groups: &[(String, u32)], turn: usize) -> Option<&str> {
    let total: u64 = groups.iter().map(|(_, w)| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let mut slot = (turn as u64) % total;
    for (arn, weight) in groups {
        if slot < u64::from(*weight) {
            return Some(arn);
        }
        slot -= u64::from(*weight);
    }
    None
}

/// The addresses to try for a request to `group_arn`, in order: its healthy targets (else all
/// that are not draining) starting at `turn`.
pub(crate) fn candidates(
    plane: &Plane,
    state: &State,
    group_arn: &str,
    turn: usize,
) -> Vec<SocketAddr> {
    let Some(group) = state.target_groups.get(group_arn) else { return Vec::new() };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let serving: Vec<_> = group.live_targets(now).filter(|t| t.draining_since.is_none()).collect();
    let healthy: Vec<_> = serving
        .iter()
        .filter(|t| {
            !group.health_check.enabled
                || plane.app.health.verdict(&(group.arn.clone(), t.id.clone(), t.port))
                    == Some(Verdict::Healthy)
        })
        .collect();
    let chosen: Vec<_> = if healthy.is_empty() { serving.iter().collect() } else { healthy };
    let is_ip = group.target_type == TargetType::Ip;
    let mut addresses: Vec<SocketAddr> =
        chosen.iter().filter_map(|t| plane.target_address(is_ip, &t.id, t.port)).collect();
    if !addresses.is_empty() {
        let start = turn % addresses.len();
        addresses.rotate_left(start);
    }
    addresses
}

/// The request as the target gets it: origin-form, hop-by-hop headers gone, X-Forwarded-*.
fn outgoing(
    request: Request<Incoming>,
    peer: SocketAddr,
    port: u16,
    protocol: &'static str,
    lb_attributes: &std::collections::BTreeMap<String, String>,
) -> Request<Incoming> {
    let (mut parts, body) = request.into_parts();
    // An HTTP/2 request names its host in the URI only; the target speaks HTTP/1.1.
    if !parts.headers.contains_key(HOST) {
        if let Some(host) =
            parts.uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            parts.headers.insert(HOST, host);
        }
    }
    if parts.version == hyper::Version::HTTP_2 {
        // HTTP/2 sends each cookie as a field of its own; HTTP/1.1 takes one `Cookie` header
        // (RFC 9113 8.2.3).
        let cookies: Vec<String> = parts
            .headers
            .get_all(hyper::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        if cookies.len() > 1 {
            if let Ok(joined) = HeaderValue::from_str(&cookies.join("; ")) {
                parts.headers.insert(hyper::header::COOKIE, joined);
            }
        }
    }
    parts.version = hyper::Version::HTTP_11;
    if let Some(path) = parts.uri.path_and_query().cloned() {
        parts.uri = hyper::Uri::from(path);
    }
    strip_hop_by_hop(&mut parts.headers);
    let client = client_address(peer);
    let with_port = lb_attributes.get(XFF_CLIENT_PORT).map(String::as_str) == Some("true");
    let entry = if with_port { format!("{client}:{}", peer.port()) } else { client.to_string() };
    let xff = HeaderName::from_static("x-forwarded-for");
    match lb_attributes.get(XFF_MODE).map(String::as_str).unwrap_or("append") {
        "remove" => {
            parts.headers.remove(&xff);
        }
        "preserve" => {}
        _ => {
            let value = match parts.headers.get(&xff).and_then(|v| v.to_str().ok()) {
                Some(existing) => format!("{existing}, {entry}"),
                None => entry,
            };
            if let Ok(value) = HeaderValue::from_str(&value) {
                parts.headers.insert(xff, value);
            }
        }
    }
    parts
        .headers
        .insert(HeaderName::from_static("x-forwarded-proto"), HeaderValue::from_static(protocol));
    parts.headers.insert(HeaderName::from_static("x-forwarded-port"), HeaderValue::from(port));
    Request::from_parts(parts, body)
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers a Connection header names are hop-by-hop too (rare: looked at only when present).
    if headers.contains_key(hyper::header::CONNECTION) {
        let named: Vec<String> = headers
            .get_all(hyper::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
            .collect();
        for name in named {
            headers.remove(name.as_str());
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map(|h| h.trim_start_matches('[')).unwrap_or(host);
    }
    host.rsplit_once(':')
        .map_or(host, |(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { host })
}

fn full(body: String) -> Body {
    Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed()
}

fn stamp_server(response: &mut Response<Body>, enabled: bool) {
    if enabled {
        response
            .headers_mut()
            .insert(hyper::header::SERVER, HeaderValue::from_static("awselb/2.0"));
    }
}

/// An answer of the load balancer itself (502, 503), in ELB's HTML form.
fn elb_answer(status: StatusCode, server_header: bool) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("");
    let code = status.as_u16();
    let html = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    let mut response = Response::new(full(html));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    stamp_server(&mut response, server_header);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_share_turns() {
        let groups = vec![("a".to_string(), 3), ("b".to_string(), 1), ("c".to_string(), 0)];
        let picks: Vec<&str> = (0..8).filter_map(|t| pick_weighted(&groups, t)).collect();
        assert_eq!(picks, ["a", "a", "a", "b", "a", "a", "a", "b"]);
        assert_eq!(pick_weighted(&[("z".to_string(), 0)], 0), None);
    }

    #[test]
    fn hosts_lose_their_ports() {
        assert_eq!(strip_port("web.local:8080"), "web.local");
        assert_eq!(strip_port("web.local"), "web.local");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }
}

//! The records ELBv2 keeps (load balancers, target groups with their registered targets,
//! listeners, rules) as typed values: what the API handlers validate into and the proxy serves.
//! Stored together as one document of the region (`elbv2/state`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Every record of a region's ELBv2, keyed by ARN.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub load_balancers: BTreeMap<String, LoadBalancer>,
    pub target_groups: BTreeMap<String, TargetGroup>,
    pub listeners: BTreeMap<String, Listener>,
    pub rules: BTreeMap<String, Rule>,
    /// resource ARN -> its tags, in the order they were added.
    pub tags: BTreeMap<String, Vec<Tag>>,
}

impl State {
    /// The listeners of a load balancer, by port.
    pub fn listeners_of<'a>(&'a self, lb_arn: &'a str) -> impl Iterator<Item = &'a Listener> + 'a {
        self.listeners.values().filter(move |l| l.load_balancer_arn == lb_arn)
    }

    /// The rules of a listener (its default rule included).
    pub fn rules_of<'a>(&'a self, listener_arn: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.values().filter(move |r| r.listener_arn == listener_arn)
    }

    /// Removes a listener with its rules and every one's tags.
    pub fn remove_listener(&mut self, arn: &str) {
        let rules: Vec<String> = self.rules_of(arn).map(|r| r.arn.clone()).collect();
        for rule in rules {
            self.rules.remove(&rule);
            self.tags.remove(&rule);
        }
        self.listeners.remove(arn);
        self.tags.remove(arn);
    }

    /// The load balancers whose listeners or rules forward to `tg_arn`.
    pub fn load_balancers_of(&self, tg_arn: &str) -> Vec<String> {
        let mut arns: Vec<String> = self
            .rules
            .values()
            .filter(|r| r.actions.iter().any(|a| a.forwards_to(tg_arn)))
            .filter_map(|r| self.listeners.get(&r.listener_arn))
            .map(|l| l.load_balancer_arn.clone())
            .collect();
        arns.sort();
        arns.dedup();
        arns
    }
}

/// A tag of an ELBv2 resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: Option<String>,
}

/// What a load balancer balances: HTTP requests (application) or TCP connections (network).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadBalancerType {
    #[default]
    Application,
    Network,
}

impl LoadBalancerType {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalancerType::Application => "application",
            LoadBalancerType::Network => "network",
        }
    }

    /// Which attributes a load balancer of this type has.
    pub fn attributes(self) -> crate::attributes::Of {
        match self {
            LoadBalancerType::Application => crate::attributes::Of::LoadBalancer,
            LoadBalancerType::Network => crate::attributes::Of::NetworkLoadBalancer,
        }
    }

    /// What its listeners speak: HTTP (or HTTPS) for an application load balancer, TCP for a
    /// network one.
    pub fn protocol(self) -> Protocol {
        match self {
            LoadBalancerType::Application => Protocol::Http,
            LoadBalancerType::Network => Protocol::Tcp,
        }
    }
}

/// What a listener, a target group or a health check speaks: HTTP (a listener with TLS is
/// HTTPS) or plain TCP (a network load balancer's pass-through).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    #[default]
    Http,
    Tcp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Tcp => "TCP",
        }
    }

    /// Which attributes a listener speaking this has.
    pub fn listener_attributes(self) -> crate::attributes::Of {
        match self {
            Protocol::Http => crate::attributes::Of::Listener,
            Protocol::Tcp => crate::attributes::Of::TcpListener,
        }
    }

    /// Which attributes a target group speaking this has.
    pub fn target_group_attributes(self) -> crate::attributes::Of {
        match self {
            Protocol::Http => crate::attributes::Of::TargetGroup,
            Protocol::Tcp => crate::attributes::Of::TcpTargetGroup,
        }
    }
}

/// A load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub arn: String,
    /// Application unless made as a network load balancer.
    #[serde(default)]
    pub kind: LoadBalancerType,
    pub name: String,
    pub scheme: String,
    pub vpc_id: String,
    /// (zone, subnet id) of each subnet it was given.
    pub subnets: Vec<(String, String)>,
    pub security_groups: Vec<String>,
    /// Where its listeners listen: its own address from `--lb-addresses`.
    pub address: Ipv4Addr,
    pub dns_name: String,
    pub created: f64,
    /// Attributes set to other than their defaults.
    pub attributes: BTreeMap<String, String>,
}

/// How a target group's health check reaches a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub enabled: bool,
    /// HTTP: a GET of `path` answered with a code of `matcher`; TCP: a connection accepted.
    #[serde(default)]
    pub protocol: Protocol,
    /// `None`: the port traffic goes to (`traffic-port`).
    pub port: Option<u16>,
    pub path: String,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// Success codes: `200`, `200,202`, `200-299`.
    pub matcher: String,
}

impl HealthCheck {
    /// Whether `status` is one of the matcher's codes.
    pub fn matches(&self, status: u16) -> bool {
        matcher_matches(&self.matcher, status)
    }
}

/// Whether `status` is in a matcher such as `200,202` or `200-299`.
pub fn matcher_matches(matcher: &str, status: u16) -> bool {
    matcher.split(',').any(|part| match part.split_once('-') {
        Some((low, high)) => {
            matches!((low.trim().parse::<u16>(), high.trim().parse::<u16>()), (Ok(l), Ok(h)) if (l..=h).contains(&status))
        }
        None => part.trim().parse::<u16>() == Ok(status),
    })
}

/// `a.b.c.d/n` as (network, prefix length): a `source-ip` condition's value.
pub fn parse_cidr(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (address, prefix) = text.split_once('/')?;
    Some((address.parse().ok()?, prefix.parse().ok().filter(|p| *p <= 32)?))
}

/// Whether `address` lies in `cidr` (false for what is not a CIDR block).
pub fn cidr_contains(cidr: &str, address: Ipv4Addr) -> bool {
    let Some((network, prefix)) = parse_cidr(cidr) else { return false };
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
    u32::from(address) & mask == u32::from(network) & mask
}

/// What a target group's targets are named by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetType {
    /// Container instances (their `ec2InstanceId`), reached at the address their agent announces.
    Instance,
    /// IP addresses.
    Ip,
}

impl TargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Instance => "instance",
            TargetType::Ip => "ip",
        }
    }
}

/// A registered target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub port: u16,
    pub registered_at: f64,
    /// When it was deregistered: it drains (no new requests) until the group's deregistration
    /// delay has passed, then it is gone.
    pub draining_since: Option<f64>,
}

impl Target {
    /// Whether its draining is over at `now`, after `delay` seconds: then it is gone.
    pub fn drained(&self, delay: f64, now: f64) -> bool {
        self.draining_since.is_some_and(|since| since + delay <= now)
    }
}

/// A target group (HTTP, targets of one type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    /// HTTP (behind application load balancers) or TCP (behind network ones).
    #[serde(default)]
    pub protocol: Protocol,
    pub port: u16,
    pub vpc_id: String,
    pub target_type: TargetType,
    pub health_check: HealthCheck,
    pub targets: Vec<Target>,
    /// Attributes set to other than their defaults.
    pub attributes: BTreeMap<String, String>,
}

/// How a target group keeps a client on one target (its `stickiness.*` attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stickiness {
    /// ELB's own cookie (`AWSALB`), lasting `duration` seconds.
    LbCookie { duration: u32 },
    /// Once the target sets the application's `cookie`, ELB's `AWSALBAPP-0` cookie, lasting
    /// `duration` seconds.
    AppCookie { cookie: String, duration: u32 },
}

impl TargetGroup {
    /// Its stickiness, when enabled.
    pub fn stickiness(&self) -> Option<Stickiness> {
        use crate::attributes::*;
        let get = |key: &str| self.attributes.get(key).map(String::as_str);
        if get(STICKINESS_ENABLED) != Some("true") {
            return None;
        }
        let seconds = |key: &str| get(key).and_then(|v| v.parse().ok()).unwrap_or(86_400);
        match get(STICKINESS_TYPE) {
            Some("app_cookie") => Some(Stickiness::AppCookie {
                cookie: get(APP_COOKIE_NAME)?.to_string(),
                duration: seconds(APP_COOKIE_DURATION),
            }),
            _ => Some(Stickiness::LbCookie { duration: seconds(LB_COOKIE_DURATION) }),
        }
    }

    /// Seconds a deregistered target drains before it is gone.
    pub fn deregistration_delay(&self) -> f64 {
        self.attributes
            .get(crate::attributes::DEREGISTRATION_DELAY)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(300.0)
    }

    /// Registers a target (registering a draining one again brings it back).
    pub fn add_target(&mut self, id: String, port: u16, now: f64) {
        match self.targets.iter_mut().find(|t| t.id == id && t.port == port) {
            Some(target) => target.draining_since = None,
            None => {
                self.targets.push(Target { id, port, registered_at: now, draining_since: None })
            }
        }
    }

    /// Deregisters a target: it drains for the deregistration delay when a load balancer uses
    /// the group (`in_use`), else it is gone at once.
    pub fn remove_target(&mut self, id: &str, port: u16, in_use: bool, now: f64) {
        if in_use && self.deregistration_delay() > 0.0 {
            if let Some(t) = self.targets.iter_mut().find(|t| t.id == id && t.port == port) {
                t.draining_since.get_or_insert(now);
            }
        } else {
            self.targets.retain(|t| !(t.id == id && t.port == port));
        }
    }

    /// The targets still draining or serving at `now` (those whose drain is over are gone).
    pub fn live_targets(&self, now: f64) -> impl Iterator<Item = &Target> {
        let delay = self.deregistration_delay();
        self.targets.iter().filter(move |t| !t.drained(delay, now))
    }
}

/// A listener: a port of a load balancer and its default actions (its default rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    pub arn: String,
    pub load_balancer_arn: String,
    pub port: u16,
    /// HTTP (HTTPS when `tls` is set) or TCP.
    #[serde(default)]
    pub protocol: Protocol,
    pub default_rule_arn: String,
    /// Attributes set to other than their defaults.
    pub attributes: BTreeMap<String, String>,
    /// HTTPS: the certificate it presents and its security policy (`None`: HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

impl Listener {
    /// Its protocol as ELB names it.
    pub fn protocol_name(&self) -> &'static str {
        match (self.protocol, self.tls.is_some()) {
            (Protocol::Tcp, _) => "TCP",
            (Protocol::Http, true) => "HTTPS",
            (Protocol::Http, false) => "HTTP",
        }
    }
}

/// An HTTPS listener's TLS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tls {
    /// An ACM certificate's ARN.
    pub certificate_arn: String,
    /// One of [`SECURITY_POLICIES`].
    pub ssl_policy: String,
}

/// TLS versions a security policy allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersions {
    /// TLS 1.2 and 1.3.
    Tls12And13,
    /// TLS 1.3 only.
    Tls13,
}

/// The security policy of an HTTPS listener that names none (ELB's default).
pub const DEFAULT_SECURITY_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// ELB's security policies this server serves: TLS 1.0 and 1.1 are not in rustls, so the
/// policies that allow them are refused.
pub const SECURITY_POLICIES: [(&str, TlsVersions); 2] = [
    ("ELBSecurityPolicy-TLS13-1-2-2021-06", TlsVersions::Tls12And13),
    ("ELBSecurityPolicy-TLS13-1-3-2021-06", TlsVersions::Tls13),
];

/// The TLS versions of a served security policy.
pub fn security_policy(name: &str) -> Option<TlsVersions> {
    SECURITY_POLICIES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// A rule of a listener: conditions all of which must hold, then actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub arn: String,
    pub listener_arn: String,
    /// `None` for the listener's default rule, which matches when no other does.
    pub priority: Option<u32>,
    pub conditions: Vec<Condition>,
    /// Ordered by `order`; the last one is the terminal action.
    pub actions: Vec<Action>,
}

/// One condition of a rule; any of its values may match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Condition {
    /// Path patterns (case-sensitive; `*` and `?` wildcards), matched against the path only.
    PathPattern(Vec<String>),
    /// Host names (case-insensitive; wildcards), without the port.
    HostHeader(Vec<String>),
    /// A header's values (case-insensitive; wildcards).
    HttpHeader { name: String, values: Vec<String> },
    /// Query pairs: the key (any key when absent) and the value (case-insensitive; wildcards).
    QueryString(Vec<(Option<String>, String)>),
    /// Request methods, exactly.
    HttpRequestMethod(Vec<String>),
    /// Client addresses in CIDR form.
    SourceIp(Vec<String>),
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub order: Option<u32>,
    pub kind: ActionKind,
}

impl Action {
    pub fn forwards_to(&self, tg_arn: &str) -> bool {
        matches!(&self.kind, ActionKind::Forward { groups, .. } if groups.iter().any(|(arn, _)| arn == tg_arn))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ActionKind {
    /// To target groups by weight. `single` records that the request named one group by
    /// `TargetGroupArn` (answers show it the same way).
    Forward {
        groups: Vec<(String, u32)>,
        single: bool,
    },
    FixedResponse {
        status: u16,
        content_type: Option<String>,
        body: Option<String>,
    },
    /// Each part a literal or `#{...}` placeholders of the request's.
    Redirect {
        protocol: String,
        port: String,
        host: String,
        path: String,
        query: String,
        permanent: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_take_lists_and_ranges() {
        assert!(matcher_matches("200", 200));
        assert!(!matcher_matches("200", 201));
        assert!(matcher_matches("200,202", 202));
        assert!(matcher_matches("200-299", 250));
        assert!(!matcher_matches("200-299", 300));
        assert!(matcher_matches("200-204, 301", 301));
    }
}

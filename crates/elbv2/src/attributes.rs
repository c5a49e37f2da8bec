//! Load balancer, target group and listener attributes: every key ELB has for an application
//! load balancer and an HTTP target group, with its default. A key whose other values this
//! server honours takes them (checked); any other key takes only its default, and another
//! value is refused by name, so no attribute is stored without effect.

use std::collections::BTreeMap;

use flotilla_api::{ApiError, ErrorCode};

use crate::wire;

pub const DELETION_PROTECTION: &str = "deletion_protection.enabled";
pub const XFF_MODE: &str = "routing.http.xff_header_processing.mode";
pub const XFF_CLIENT_PORT: &str = "routing.http.xff_client_port.enabled";
pub const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";
pub const SERVER_HEADER: &str = "routing.http.response.server.enabled";
pub const HTTP2: &str = "routing.http2.enabled";
pub const STICKINESS_ENABLED: &str = "stickiness.enabled";
pub const STICKINESS_TYPE: &str = "stickiness.type";
pub const LB_COOKIE_DURATION: &str = "stickiness.lb_cookie.duration_seconds";
pub const APP_COOKIE_NAME: &str = "stickiness.app_cookie.cookie_name";
pub const APP_COOKIE_DURATION: &str = "stickiness.app_cookie.duration_seconds";

/// The longest stickiness ELB keeps: 7 days.
const WEEK: u32 = 604_800;

/// How a key's values are judged.
#[derive(Clone, Copy)]
enum Accepts {
    /// Only the default.
    Default,
    Bool,
    OneOf(&'static [&'static str]),
    Seconds(u32, u32),
    /// An application's cookie name: a cookie token, not one of ELB's own names.
    CookieName,
}

/// An application load balancer's attributes: (key, default, what it accepts).
const LOAD_BALANCER: &[(&str, &str, Accepts)] = &[
    ("access_logs.s3.enabled", "false", Accepts::Default),
    ("access_logs.s3.bucket", "", Accepts::Default),
    ("access_logs.s3.prefix", "", Accepts::Default),
    ("client_keep_alive.seconds", "3600", Accepts::Default),
    ("connection_logs.s3.enabled", "false", Accepts::Default),
    ("connection_logs.s3.bucket", "", Accepts::Default),
    ("connection_logs.s3.prefix", "", Accepts::Default),
    (DELETION_PROTECTION, "false", Accepts::Bool),
    ("idle_timeout.timeout_seconds", "60", Accepts::Default),
    ("load_balancing.cross_zone.enabled", "true", Accepts::Default),
    ("routing.http.desync_mitigation_mode", "defensive", Accepts::Default),
    ("routing.http.drop_invalid_header_fields.enabled", "false", Accepts::Default),
    ("routing.http.preserve_host_header.enabled", "false", Accepts::Default),
    ("routing.http.x_amzn_tls_version_and_cipher_suite.enabled", "false", Accepts::Default),
    (XFF_CLIENT_PORT, "false", Accepts::Bool),
    (XFF_MODE, "append", Accepts::OneOf(&["append", "preserve", "remove"])),
    (HTTP2, "true", Accepts::Bool),
    ("waf.fail_open.enabled", "false", Accepts::Default),
    ("zonal_shift.config.enabled", "false", Accepts::Default),
];

/// A network load balancer's attributes.
const NETWORK_LOAD_BALANCER: &[(&str, &str, Accepts)] = &[
    ("access_logs.s3.enabled", "false", Accepts::Default),
    ("access_logs.s3.bucket", "", Accepts::Default),
    ("access_logs.s3.prefix", "", Accepts::Default),
    (DELETION_PROTECTION, "false", Accepts::Bool),
    ("dns_record.client_routing_policy", "any_availability_zone", Accepts::Default),
    ("load_balancing.cross_zone.enabled", "false", Accepts::Default),
    ("zonal_shift.config.enabled", "false", Accepts::Default),
];

/// A TCP target group's attributes. The client's address cannot be kept by a proxy in user
/// space (`preserve_client_ip.enabled` is false, and stays so).
const TCP_TARGET_GROUP: &[(&str, &str, Accepts)] = &[
    (DEREGISTRATION_DELAY, "300", Accepts::Seconds(0, 3600)),
    ("deregistration_delay.connection_termination.enabled", "false", Accepts::Default),
    ("load_balancing.cross_zone.enabled", "use_load_balancer_configuration", Accepts::Default),
    ("preserve_client_ip.enabled", "false", Accepts::Default),
    ("proxy_protocol_v2.enabled", "false", Accepts::Default),
    ("stickiness.enabled", "false", Accepts::Default),
    ("stickiness.type", "source_ip", Accepts::Default),
    ("target_health_state.unhealthy.connection_termination.enabled", "true", Accepts::Default),
];

/// An HTTP target group's attributes.
const TARGET_GROUP: &[(&str, &str, Accepts)] = &[
    (DEREGISTRATION_DELAY, "300", Accepts::Seconds(0, 3600)),
    ("load_balancing.algorithm.type", "round_robin", Accepts::Default),
    ("load_balancing.algorithm.anomaly_mitigation", "off", Accepts::Default),
    ("load_balancing.cross_zone.enabled", "use_load_balancer_configuration", Accepts::Default),
    ("slow_start.duration_seconds", "0", Accepts::Default),
    (STICKINESS_ENABLED, "false", Accepts::Bool),
    (STICKINESS_TYPE, "lb_cookie", Accepts::OneOf(&["lb_cookie", "app_cookie"])),
    (LB_COOKIE_DURATION, "86400", Accepts::Seconds(1, WEEK)),
    (APP_COOKIE_NAME, "", Accepts::CookieName),
    (APP_COOKIE_DURATION, "86400", Accepts::Seconds(1, WEEK)),
    ("target_group_health.dns_failover.minimum_healthy_targets.count", "1", Accepts::Default),
    (
        "target_group_health.dns_failover.minimum_healthy_targets.percentage",
        "off",
        Accepts::Default,
    ),
    (
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
        "1",
        Accepts::Default,
    ),
    (
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
        "off",
        Accepts::Default,
    ),
];

/// An HTTP listener's attributes.
const LISTENER: &[(&str, &str, Accepts)] = &[(SERVER_HEADER, "true", Accepts::Bool)];

/// A TCP listener's attributes.
const TCP_LISTENER: &[(&str, &str, Accepts)] =
    &[("tcp.idle_timeout.seconds", "350", Accepts::Default)];

/// Which resource's attributes.
#[derive(Clone, Copy)]
pub enum Of {
    LoadBalancer,
    NetworkLoadBalancer,
    TargetGroup,
    TcpTargetGroup,
    Listener,
    TcpListener,
}

impl Of {
    fn table(self) -> &'static [(&'static str, &'static str, Accepts)] {
        match self {
            Of::LoadBalancer => LOAD_BALANCER,
            Of::NetworkLoadBalancer => NETWORK_LOAD_BALANCER,
            Of::TargetGroup => TARGET_GROUP,
            Of::TcpTargetGroup => TCP_TARGET_GROUP,
            Of::Listener => LISTENER,
            Of::TcpListener => TCP_LISTENER,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Of::LoadBalancer | Of::NetworkLoadBalancer => "Load balancer",
            Of::TargetGroup | Of::TcpTargetGroup => "Target group",
            Of::Listener | Of::TcpListener => "Listener",
        }
    }
}

/// Every attribute with its value: the set ones, the rest at their defaults.
pub fn all(of: Of, set: &BTreeMap<String, String>) -> Vec<(String, String)> {
    of.table()
        .iter()
        .map(|(key, default, _)| {
            (key.to_string(), set.get(*key).cloned().unwrap_or_else(|| default.to_string()))
        })
        .collect()
}

/// `changes` applied to `set` after every one is checked (nothing changes when one is refused).
pub fn apply(
    of: Of,
    set: &mut BTreeMap<String, String>,
    changes: &[(String, String)],
) -> Result<(), ApiError> {
    let mut next = set.clone();
    for (key, value) in changes {
        let Some((_, default, accepts)) = of.table().iter().find(|(k, _, _)| k == key) else {
            return Err(validation(format!(
                "{} attribute key '{key}' is not recognized",
                of.noun()
            )));
        };
        let invalid = || validation(format!("{} attribute '{key}' cannot be '{value}'", of.noun()));
        let ok = match accepts {
            Accepts::Default => {
                if value != default {
                    return Err(validation(format!(
                        "The value '{value}' of attribute '{key}' is not supported yet by this server (only '{default}')."
                    )));
                }
                true
            }
            Accepts::Bool => value == "true" || value == "false",
            Accepts::OneOf(values) => values.contains(&value.as_str()),
            Accepts::Seconds(low, high) => {
                value.parse::<u32>().is_ok_and(|s| (*low..=*high).contains(&s))
            }
            Accepts::CookieName => is_cookie_name(value),
        };
        if !ok {
            return Err(invalid());
        }
        if value == default {
            next.remove(key);
        } else {
            next.insert(key.clone(), value.clone());
        }
    }
    let enabled = next.get(STICKINESS_ENABLED).map(String::as_str) == Some("true");
    let app_cookie = next.get(STICKINESS_TYPE).map(String::as_str) == Some("app_cookie");
    if enabled && app_cookie && !next.contains_key(APP_COOKIE_NAME) {
        return Err(validation(format!(
            "The '{APP_COOKIE_NAME}' attribute is required when '{STICKINESS_TYPE}' is 'app_cookie'"
        )));
    }
    *set = next;
    Ok(())
}

/// A cookie name an application may use for stickiness: 1–255 characters of an RFC 6265
/// token, not one of ELB's own cookies (`AWSALB`, `AWSALBAPP`, `AWSALBTG` prefixes).
fn is_cookie_name(value: &str) -> bool {
    let token = |b: u8| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b);
    (1..=255).contains(&value.len())
        && value.bytes().all(token)
        && !["AWSALB", "AWSALBAPP", "AWSALBTG"].iter().any(|p| value.to_uppercase().starts_with(p))
}

/// The three wire shapes of an attribute (load balancer, target group, listener): a key and a
/// value each.
pub trait Pair: Sized {
    fn split(self) -> (Option<String>, Option<String>);
    fn join(key: String, value: String) -> Self;
}

macro_rules! pair {
    ($($shape:ty),*) => {$(
        impl Pair for $shape {
            fn split(self) -> (Option<String>, Option<String>) {
                (self.key, self.value)
            }
            fn join(key: String, value: String) -> Self {
                Self { key: Some(key), value: Some(value) }
            }
        }
    )*};
}

pair!(wire::LoadBalancerAttribute, wire::TargetGroupAttribute, wire::ListenerAttribute);

/// A request's attributes as (key, value) changes.
pub fn changes<A: Pair>(attributes: Vec<A>) -> Vec<(String, String)> {
    attributes
        .into_iter()
        .map(|a| {
            let (key, value) = a.split();
            (key.unwrap_or_default(), value.unwrap_or_default())
        })
        .collect()
}

/// Every attribute of `of` as the answers carry them.
pub fn described<A: Pair>(of: Of, set: &BTreeMap<String, String>) -> Vec<A> {
    all(of, set).into_iter().map(|(key, value)| A::join(key, value)).collect()
}

fn validation(message: String) -> ApiError {
    ApiError::new(ErrorCode::ValidationException, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honoured_keys_take_checked_values_and_others_only_their_default() {
        let mut set = BTreeMap::new();
        apply(Of::TargetGroup, &mut set, &[(DEREGISTRATION_DELAY.into(), "5".into())])
            .expect("a delay");
        assert_eq!(set.get(DEREGISTRATION_DELAY).map(String::as_str), Some("5"));
        let bad = apply(Of::TargetGroup, &mut set, &[(DEREGISTRATION_DELAY.into(), "4000".into())]);
        assert!(bad.is_err());
        let refused = apply(
            Of::TargetGroup,
            &mut set,
            &[
                ("slow_start.duration_seconds".into(), "0".into()),
                ("slow_start.duration_seconds".into(), "30".into()),
            ],
        )
        .expect_err("slow start is not served");
        assert!(refused.message.contains("not supported yet"), "{}", refused.message);
        assert_eq!(set.get(DEREGISTRATION_DELAY).map(String::as_str), Some("5"), "nothing changed");
        let unknown = apply(Of::LoadBalancer, &mut set, &[("nope".into(), "1".into())]);
        assert_eq!(
            unknown.expect_err("unknown").message,
            "Load balancer attribute key 'nope' is not recognized"
        );
        apply(Of::TargetGroup, &mut set, &[(DEREGISTRATION_DELAY.into(), "300".into())])
            .expect("back to default");
        assert!(set.is_empty(), "a default is not kept as a change");
    }

    #[test]
    fn stickiness_takes_its_types_durations_and_an_application_cookie() {
        let mut set = BTreeMap::new();
        let on = |kind: &str| {
            vec![
                (STICKINESS_ENABLED.to_string(), "true".into()),
                (STICKINESS_TYPE.into(), kind.into()),
            ]
        };
        apply(Of::TargetGroup, &mut set, &on("lb_cookie")).expect("lb_cookie");
        let refused = apply(Of::TargetGroup, &mut set, &on("app_cookie")).expect_err("no name");
        assert!(refused.message.contains(APP_COOKIE_NAME), "{}", refused.message);
        assert_eq!(set.get(STICKINESS_TYPE), None, "nothing changed: lb_cookie is the default");
        let mut with_name = on("app_cookie");
        with_name.push((APP_COOKIE_NAME.into(), "SESSION".into()));
        apply(Of::TargetGroup, &mut set, &with_name).expect("app_cookie with its name");
        for (key, value) in [
            (APP_COOKIE_NAME, "AWSALBAPP-1"),
            (APP_COOKIE_NAME, "has space"),
            (APP_COOKIE_NAME, "a;b"),
            (LB_COOKIE_DURATION, "0"),
            (APP_COOKIE_DURATION, "604801"),
            (STICKINESS_TYPE, "source_ip"),
        ] {
            let bad = apply(Of::TargetGroup, &mut set, &[(key.into(), value.into())]);
            assert!(bad.is_err(), "{key}={value}");
        }
        assert_eq!(set.get(APP_COOKIE_NAME).map(String::as_str), Some("SESSION"));
    }
}

//! Which rule of a listener a request meets (rules by priority, the default rule last), as
//! ELB matches conditions: path patterns case-sensitive, hosts, headers and query values
//! case-insensitive, `*` and `?` wildcards, methods exactly, source addresses by CIDR; and the
//! `Location` a redirect action writes. Pure: no IO.

use std::net::IpAddr;

use flotilla_elbv2::model::{Condition, Rule, State};

/// What the proxy reads of a request to match it.
pub struct RequestView<'a> {
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The Host header without its port, lower-cased.
    pub host: &'a str,
    pub headers: &'a hyper::HeaderMap,
    pub client: IpAddr,
}

/// The rule of `listener_arn` that `request` meets: the first by priority whose conditions
/// all hold, else the listener's default rule.
pub fn matching_rule<'s>(
    state: &'s State,
    listener_arn: &str,
    request: &RequestView<'_>,
) -> Option<&'s Rule> {
    let mut rules: Vec<&Rule> =
        state.rules.values().filter(|r| r.listener_arn == listener_arn).collect();
    rules.sort_by_key(|r| r.priority.unwrap_or(u32::MAX));
    rules.into_iter().find(|rule| rule.conditions.iter().all(|c| holds(c, request)))
}

fn holds(condition: &Condition, request: &RequestView<'_>) -> bool {
    match condition {
        Condition::PathPattern(patterns) => {
            patterns.iter().any(|p| wildcard(p, request.path, false))
        }
        Condition::HostHeader(patterns) => patterns.iter().any(|p| wildcard(p, request.host, true)),
        Condition::HttpHeader { name, values } => request
            .headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| values.iter().any(|p| wildcard(p, v, true))),
        Condition::QueryString(pairs) => {
            let query: Vec<(String, String)> = request.query.map(parse_query).unwrap_or_default();
            pairs.iter().any(|(key, value)| {
                query.iter().any(|(k, v)| {
                    key.as_ref().is_none_or(|key| wildcard(key, k, true))
                        && wildcard(value, v, true)
                })
            })
        }
        Condition::HttpRequestMethod(methods) => methods.iter().any(|m| m == request.method),
        Condition::SourceIp(cidrs) => cidrs.iter().any(|c| in_cidr(c, request.client)),
    }
}

/// A query string's pairs, decoded as forms encode them (`%XX`, `+`).
fn parse_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Whether `client` lies in `cidr` (IPv4; an IPv4-mapped IPv6 client counts as its IPv4).
fn in_cidr(cidr: &str, client: IpAddr) -> bool {
    let client = match client {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4,
            None => return false,
        },
    };
    flotilla_elbv2::model::cidr_contains(cidr, client)
}

/// ELB's wildcard match: `*` any run of characters, `?` any one.
pub fn wildcard(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| if ignore_case { s.to_lowercase() } else { s.to_string() };
    let (p, t): (Vec<char>, Vec<char>) =
        (fold(pattern).chars().collect(), fold(text).chars().collect());
    // Iterative matching with one backtrack point for the last `*`: linear in practice.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The parts of a request a redirect's `#{...}` placeholders stand for.
pub struct Original<'a> {
    pub protocol: &'a str,
    pub host: &'a str,
    pub port: u16,
    /// The path without its leading `/`.
    pub path: &'a str,
    pub query: Option<&'a str>,
}

/// The `Location` of a redirect action.
pub fn redirect_location(
    protocol: &str,
    port: &str,
    host: &str,
    path: &str,
    query: &str,
    original: &Original<'_>,
) -> String {
    let fill = |text: &str| {
        text.replace("#{protocol}", &original.protocol.to_ascii_lowercase())
            .replace("#{host}", original.host)
            .replace("#{port}", &original.port.to_string())
            .replace("#{path}", original.path)
            .replace("#{query}", original.query.unwrap_or(""))
    };
    let protocol = fill(protocol).to_ascii_lowercase();
    let port = fill(port);
    let default_port = if protocol == "https" { "443" } else { "80" };
    let authority =
        if port == default_port { fill(host) } else { format!("{}:{port}", fill(host)) };
    let query = fill(query);
    let mut location = format!("{protocol}://{authority}{}", fill(path));
    if !query.is_empty() {
        location.push('?');
        location.push_str(&query);
    }
    location
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_elb_does() {
        assert!(wildcard("/api/*", "/api/users/1", false));
        assert!(!wildcard("/api/*", "/API/users", false), "paths are case-sensitive");
        assert!(wildcard("*.example.com", "WWW.Example.com", true));
        assert!(wildcard("/img/?.png", "/img/a.png", false));
        assert!(!wildcard("/img/?.png", "/img/ab.png", false));
        assert!(wildcard("*", "", false));
        assert!(wildcard("/a*b*c", "/axxbyyc", false));
        assert!(!wildcard("/a*b*c", "/axxbyy", false));
        assert!(wildcard("/exact", "/exact", false));
    }

    #[test]
    fn queries_and_cidrs() {
        assert_eq!(
            parse_query("a=1&b=x%20y&c+d=e+f"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c d".into(), "e f".into())
            ]
        );
        assert!(in_cidr("127.0.0.0/8", "127.0.0.1".parse().expect("ip")));
        assert!(!in_cidr("10.0.0.0/8", "127.0.0.1".parse().expect("ip")));
        assert!(in_cidr("0.0.0.0/0", "::ffff:10.1.2.3".parse().expect("ip")));
    }

    #[test]
    fn redirects_fill_placeholders() {
        let original = Original {
            protocol: "HTTP",
            host: "web.local",
            port: 80,
            path: "old/page",
            query: Some("q=1"),
        };
        assert_eq!(
            redirect_location("HTTPS", "443", "#{host}", "/#{path}", "#{query}", &original),
            "https://web.local/old/page?q=1"
        );
        assert_eq!(
            redirect_location("#{protocol}", "8080", "new.local", "/moved", "#{query}", &original),
            "http://new.local:8080/moved?q=1"
        );
    }
}

//! Target group stickiness, as ELB does it with cookies: `lb_cookie` (ELB's `AWSALB` and
//! `AWSALBCORS` on every answer) and `app_cookie` (ELB's `AWSALBAPP-0` once the target sets
//! the application's cookie). A request carrying a valid cookie for the group goes to the
//! target it names while that target is a candidate (serving, and healthy unless none is).
//! The cookie's value is opaque to clients: a keyed hash (SHA-256 with the data plane's random
//! key) of the group and the target, matched against the candidates; it names no address, and
//! a data plane that restarts (new key) simply starts new sessions.

use std::net::SocketAddr;

use flotilla_elbv2::model::Stickiness;
use hyper::header::{HeaderValue, COOKIE, SET_COOKIE};
use hyper::HeaderMap;
use sha2::{Digest, Sha256};

const LB_COOKIE: &str = "AWSALB";
/// The same cookie for cross-origin requests (`SameSite=None; Secure`), as ELB sets both.
const LB_COOKIE_CORS: &str = "AWSALBCORS";
const APP_COOKIE: &str = "AWSALBAPP-0";

/// The last segment of a target group ARN: what a cookie is bound to.
fn group_id(group_arn: &str) -> &str {
    group_arn.rsplit('/').next().unwrap_or(group_arn)
}

/// The data plane's secret for cookies.
pub type CookieKey = [u8; 32];

fn token(key: &CookieKey, group_arn: &str, target: SocketAddr) -> String {
    let mut hash = Sha256::new();
    hash.update(key);
    hash.update(group_id(group_arn).as_bytes());
    hash.update(b"|");
    hash.update(target.to_string().as_bytes());
    hex::encode(&hash.finalize()[..16])
}

/// The candidate a request's stickiness cookie names for this group, if any.
pub fn requested(
    headers: &HeaderMap,
    stickiness: &Stickiness,
    group_arn: &str,
    candidates: &[SocketAddr],
    key: &CookieKey,
) -> Option<SocketAddr> {
    let names: &[&str] = match stickiness {
        Stickiness::LbCookie { .. } => &[LB_COOKIE, LB_COOKIE_CORS],
        Stickiness::AppCookie { .. } => &[APP_COOKIE],
    };
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| names.contains(name))
        .find_map(|(_, value)| {
            candidates.iter().copied().find(|c| token(key, group_arn, *c) == value)
        })
}

/// Puts the sticky target first among `candidates` (it must be one of them: a target that
/// left, drains or fails its checks is not kept).
pub fn prefer(candidates: &mut [SocketAddr], sticky: Option<SocketAddr>) {
    if let Some(index) = sticky.and_then(|s| candidates.iter().position(|c| *c == s)) {
        candidates[..=index].rotate_right(1);
    }
}

/// Sets ELB's cookies on an answer `target` gave, `now` being epoch seconds.
pub fn stamp(
    headers: &mut HeaderMap,
    stickiness: &Stickiness,
    group_arn: &str,
    target: SocketAddr,
    now: i64,
    key: &CookieKey,
) {
    let value = token(key, group_arn, target);
    let expires = |duration: u32| http_date(now + i64::from(duration));
    let cookies = match stickiness {
        Stickiness::LbCookie { duration } => {
            let expires = expires(*duration);
            vec![
                format!("{LB_COOKIE}={value}; Expires={expires}; Path=/"),
                format!(
                    "{LB_COOKIE_CORS}={value}; Expires={expires}; Path=/; SameSite=None; Secure"
                ),
            ]
        }
        Stickiness::AppCookie { cookie, duration } => {
            let sets_it = headers.get_all(SET_COOKIE).iter().any(|v| {
                v.to_str()
                    .ok()
                    .and_then(|v| v.split_once('='))
                    .is_some_and(|(n, _)| n.trim() == cookie)
            });
            if !sets_it {
                return;
            }
            vec![format!("{APP_COOKIE}={value}; Expires={}; Path=/", expires(*duration))]
        }
    };
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(SET_COOKIE, value);
        }
    }
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) of epoch seconds.
fn http_date(epoch_seconds: i64) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from_unix_timestamp(epoch_seconds)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: &str =
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/abc123";
    const KEY: CookieKey = [1; 32];

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn cookies(headers: &HeaderMap) -> Vec<String> {
        headers.get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap_or("").to_string()).collect()
    }

    #[test]
    fn lb_cookies_name_the_target_and_bring_the_client_back() {
        let sticky = Stickiness::LbCookie { duration: 86_400 };
        let mut answer = HeaderMap::new();
        stamp(&mut answer, &sticky, GROUP, addr(8081), 784_111_777, &KEY);
        let set = cookies(&answer);
        assert_eq!(set.len(), 2);
        assert!(set[0].starts_with("AWSALB="), "{set:?}");
        assert!(set[0].ends_with("; Expires=Mon, 07 Nov 1994 08:49:37 GMT; Path=/"), "{set:?}");
        assert!(set[1].starts_with("AWSALBCORS=") && set[1].ends_with("SameSite=None; Secure"));

        let value = set[0].split(';').next().unwrap_or_default().to_string();
        let mut request = HeaderMap::new();
        request.insert(COOKIE, HeaderValue::from_str(&format!("theme=dark; {value}")).expect("h"));
        let all = [addr(8080), addr(8081), addr(8082)];
        assert_eq!(requested(&request, &sticky, GROUP, &all, &KEY), Some(addr(8081)));
        assert!(!value.contains(&hex::encode("127.0.0.1")), "the address is not in {value}");
        // Another group's, another key's or a gone target's cookie, or garbage, names nothing.
        let other = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/api/def456";
        assert_eq!(requested(&request, &sticky, other, &all, &KEY), None);
        assert_eq!(requested(&request, &sticky, GROUP, &all, &[7; 32]), None);
        assert_eq!(requested(&request, &sticky, GROUP, &[addr(8080)], &KEY), None);
        request.insert(COOKIE, HeaderValue::from_static("AWSALB=zz"));
        assert_eq!(requested(&request, &sticky, GROUP, &all, &KEY), None);

        let mut candidates = vec![addr(8080), addr(8082), addr(8081)];
        prefer(&mut candidates, Some(addr(8081)));
        assert_eq!(candidates, [addr(8081), addr(8080), addr(8082)]);
        prefer(&mut candidates, Some(addr(9999)));
        assert_eq!(candidates, [addr(8081), addr(8080), addr(8082)], "a gone target is not kept");
    }

    #[test]
    fn app_cookies_follow_the_applications_cookie() {
        let sticky = Stickiness::AppCookie { cookie: "SESSION".into(), duration: 60 };
        let mut plain = HeaderMap::new();
        stamp(&mut plain, &sticky, GROUP, addr(8081), 0, &KEY);
        assert!(cookies(&plain).is_empty(), "no application cookie, no ELB cookie");
        let mut answer = HeaderMap::new();
        answer.append(SET_COOKIE, HeaderValue::from_static("SESSION=42; Path=/"));
        stamp(&mut answer, &sticky, GROUP, addr(8081), 0, &KEY);
        let set = cookies(&answer);
        assert_eq!(set.len(), 2);
        assert!(
            set[1].starts_with("AWSALBAPP-0=")
                && set[1].contains("Expires=Thu, 01 Jan 1970 00:01:00 GMT")
        );
        let value = set[1].split(';').next().unwrap_or_default().to_string();
        let mut request = HeaderMap::new();
        request.insert(COOKIE, HeaderValue::from_str(&format!("SESSION=42; {value}")).expect("h"));
        assert_eq!(requested(&request, &sticky, GROUP, &[addr(8081)], &KEY), Some(addr(8081)));
    }
}

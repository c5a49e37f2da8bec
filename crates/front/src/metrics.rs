//! The door's request metrics: requests by service, operation and HTTP status, and their
//! latency, written as Prometheus text for `GET /metrics`.
//!
//! Label values stay bounded whatever clients send: an operation name becomes a label only once
//! the service's dispatcher has recognized it (its answer was not `UnknownOperationException`);
//! until then — and for targets no service serves — the operation is `unknown`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets: 1 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 13] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

pub const UNKNOWN: &str = "unknown";

use crate::door::{Call, Observer};
use crate::exposition::{Exposition, Kind};

/// Counts and latency of one (service, operation).
#[derive(Debug, Clone, Default)]
pub struct OperationStats {
    /// HTTP status -> requests.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests at or under each of [`LATENCY_BUCKETS`] (not cumulative).
    pub buckets: [u64; LATENCY_BUCKETS.len()],
    pub seconds: f64,
    pub count: u64,
}

#[derive(Debug, Default)]
pub struct RequestMetrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    known: BTreeSet<(&'static str, String)>,
    stats: BTreeMap<(&'static str, String), OperationStats>,
}

impl RequestMetrics {
    /// Counts one answered request.
    pub fn observe(&self, call: &Call, status: u16, elapsed: Duration) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let service = if call.service.is_empty() { UNKNOWN } else { call.service };
        let known_key = (service, call.operation.clone());
        let operation = if call.recognized {
            inner.known.insert(known_key);
            call.operation.clone()
        } else if inner.known.contains(&known_key) {
            call.operation.clone()
        } else {
            UNKNOWN.to_string()
        };
        let stats = inner.stats.entry((service, operation)).or_default();
        *stats.by_status.entry(status).or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        if let Some(n) = LATENCY_BUCKETS.iter().position(|le| seconds <= *le) {
            stats.buckets[n] += 1;
        }
        stats.seconds += seconds;
        stats.count += 1;
    }

    /// Writes the request counts and the latency histogram into `text`.
    pub fn write_prometheus(&self, text: &mut Exposition) {
        let snapshot = self.snapshot();
        text.header(
            "flotilla_api_requests_total",
            Kind::Counter,
            "API requests answered, by service, operation and HTTP status.",
        );
        for ((service, operation), stats) in &snapshot {
            for (status, n) in &stats.by_status {
                let code = status.to_string();
                text.sample(
                    "flotilla_api_requests_total",
                    &[("service", service), ("operation", operation), ("code", &code)],
                    *n as f64,
                );
            }
        }
        text.header(
            "flotilla_api_request_duration_seconds",
            Kind::Histogram,
            "Time from a request's arrival to its answer.",
        );
        for ((service, operation), stats) in &snapshot {
            text.histogram(
                "flotilla_api_request_duration_seconds",
                &[("service", service), ("operation", operation)],
                &LATENCY_BUCKETS,
                &stats.buckets,
                stats.seconds,
                stats.count,
            );
        }
    }

    /// A copy of every (service, operation)'s figures, in order.
    pub fn snapshot(&self) -> Vec<((&'static str, String), OperationStats)> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.stats.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl Observer for RequestMetrics {
    fn observe(&self, call: &Call, status: u16, elapsed: Duration) {
        RequestMetrics::observe(self, call, status, elapsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(operation: &str, recognized: bool) -> Call {
        Call { service: "ecs", operation: operation.into(), recognized }
    }

    #[test]
    fn unrecognized_operations_share_one_label() {
        let metrics = RequestMetrics::default();
        for n in 0..100 {
            metrics.observe(&call(&format!("Bogus{n}"), false), 400, Duration::ZERO);
        }
        metrics.observe(&call("ListClusters", true), 200, Duration::from_millis(3));
        // Refused before dispatch (say, a bad signature) but known by then: keeps its name.
        metrics.observe(&call("ListClusters", false), 403, Duration::from_millis(1));
        metrics.observe(&Call::default(), 400, Duration::ZERO);
        let snapshot = metrics.snapshot();
        let labels: Vec<(&str, &str)> =
            snapshot.iter().map(|((s, o), _)| (*s, o.as_str())).collect();
        assert_eq!(labels, vec![("ecs", "ListClusters"), ("ecs", UNKNOWN), (UNKNOWN, UNKNOWN)]);
        let list = &snapshot[0].1;
        assert_eq!(list.by_status, BTreeMap::from([(200, 1), (403, 1)]));
        assert_eq!(list.count, 2);
        assert_eq!(snapshot[1].1.count, 100);
    }

    #[test]
    fn latencies_fall_in_the_first_bucket_that_holds_them() {
        let metrics = RequestMetrics::default();
        metrics.observe(&call("RunTask", true), 200, Duration::from_micros(500));
        metrics.observe(&call("RunTask", true), 200, Duration::from_millis(1));
        metrics.observe(&call("RunTask", true), 200, Duration::from_millis(30));
        metrics.observe(&call("RunTask", true), 200, Duration::from_secs(60));
        let stats = &metrics.snapshot()[0].1;
        assert_eq!(stats.buckets[0], 2, "<= 1 ms");
        assert_eq!(stats.buckets[5], 1, "<= 50 ms");
        assert_eq!(stats.buckets.iter().sum::<u64>(), 3, "60 s is only in +Inf");
        assert_eq!(stats.count, 4);
        assert!((stats.seconds - 60.0315).abs() < 1e-9);
    }
}

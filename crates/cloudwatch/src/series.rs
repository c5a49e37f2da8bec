//! CloudWatch-style series: for each metric (name plus dimensions) one statistic set per minute,
//! kept for [`RETENTION_SECS`]. In memory only: a restarted server starts with no history.

use std::collections::{BTreeMap, VecDeque};

pub use flotilla_api::datapoint::{SeriesKey, StatSet};

/// The resolution of every series: datapoints are per minute, as ECS publishes them.
pub const MINUTE_SECS: i64 = 60;
/// How long minutes are kept (24 hours).
pub const RETENTION_SECS: i64 = 24 * 3600;

/// Every series, by key; each a deque of (minute start in epoch seconds, statistic set) in
/// time order.
#[derive(Debug, Default)]
pub struct SeriesStore {
    series: BTreeMap<SeriesKey, VecDeque<(i64, StatSet)>>,
}

/// The start of the minute `at` (epoch seconds) falls in. Requests' times are checked to be
/// sane first (`check_range`); this still saturates rather than overflow on any `at` (the
/// float-to-integer `as` saturates too, NaN gives 0).
pub fn minute_of(at: f64) -> i64 {
    ((at / MINUTE_SECS as f64).floor() as i64).saturating_mul(MINUTE_SECS)
}

impl SeriesStore {
    /// Adds `set` to the minute `at` falls in.
    pub fn record(&mut self, key: SeriesKey, at: f64, set: StatSet) {
        let minute = minute_of(at);
        let minutes = self.series.entry(key).or_default();
        match minutes.back_mut() {
            Some((last, existing)) if *last == minute => existing.merge(&set),
            Some((last, _)) if *last > minute => {
                // Out of order (a clock step back): merge into its place.
                match minutes.binary_search_by_key(&minute, |(m, _)| *m) {
                    Ok(n) => minutes[n].1.merge(&set),
                    Err(n) => minutes.insert(n, (minute, set)),
                }
            }
            _ => minutes.push_back((minute, set)),
        }
    }

    /// Forgets minutes older than the retention, and series left without any.
    pub fn prune(&mut self, now: f64) {
        let oldest = minute_of(now).saturating_sub(RETENTION_SECS);
        self.series.retain(|_, minutes| {
            while minutes.front().is_some_and(|(m, _)| *m < oldest) {
                minutes.pop_front();
            }
            !minutes.is_empty()
        });
    }

    /// The statistic sets of `key` over `[start, end)` rolled up into periods of `period`
    /// seconds (a multiple of 60) that start at `start` rounded down to the minute, as
    /// CloudWatch aligns them; oldest first, periods without data left out.
    pub fn query(&self, key: &SeriesKey, start: f64, end: f64, period: i64) -> Vec<(i64, StatSet)> {
        let Some(minutes) = self.series.get(key) else { return Vec::new() };
        let start = minute_of(start);
        let period = period.max(MINUTE_SECS);
        let first = minutes.partition_point(|(m, _)| *m < start);
        let mut out: Vec<(i64, StatSet)> = Vec::new();
        for (minute, set) in minutes.range(first..) {
            if (*minute as f64) >= end {
                break;
            }
            // minute >= start; saturating keeps a far-off start from overflowing (the period
            // multiple is at most the offset, so it cannot overflow itself).
            let bucket = start.saturating_add(minute.saturating_sub(start) / period * period);
            match out.last_mut() {
                Some((last, rolled)) if *last == bucket => rolled.merge(set),
                _ => out.push((bucket, *set)),
            }
        }
        out
    }

    /// Every series key, in order.
    pub fn keys(&self) -> impl Iterator<Item = &SeriesKey> {
        self.series.keys()
    }

    /// The minute of a series' newest datapoint.
    pub fn newest(&self, key: &SeriesKey) -> Option<i64> {
        self.series.get(key).and_then(|m| m.back()).map(|(m, _)| *m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::datapoint::Statistic;

    fn key() -> SeriesKey {
        SeriesKey::new("CPUUtilization", [("ServiceName", "web"), ("ClusterName", "default")])
    }

    #[test]
    fn dimension_order_does_not_matter() {
        assert_eq!(
            key(),
            SeriesKey::new("CPUUtilization", [("ClusterName", "default"), ("ServiceName", "web")])
        );
    }

    #[test]
    fn values_of_one_minute_share_a_bucket() {
        let mut store = SeriesStore::default();
        for (at, value) in [(600.0, 10.0), (610.0, 30.0), (659.9, 20.0), (660.0, 50.0)] {
            store.record(key(), at, StatSet::one(value));
        }
        let points = store.query(&key(), 0.0, 10_000.0, 60);
        assert_eq!(points.len(), 2);
        let (minute, set) = points[0];
        assert_eq!(minute, 600);
        assert_eq!(set.count, 3.0);
        assert_eq!(set.value(Statistic::Average), 20.0);
        assert_eq!(set.value(Statistic::Minimum), 10.0);
        assert_eq!(set.value(Statistic::Maximum), 30.0);
        assert_eq!(set.value(Statistic::Sum), 60.0);
        assert_eq!(set.value(Statistic::SampleCount), 3.0);
        assert_eq!(points[1], (660, StatSet::one(50.0)));
    }

    #[test]
    fn periods_roll_minutes_up_from_the_start_minute() {
        let mut store = SeriesStore::default();
        // Minutes 1..=10 with values 1..=10.
        for n in 1..=10 {
            store.record(key(), (n * 60) as f64 + 5.0, StatSet::one(n as f64));
        }
        // Start at 1:30 (rounded down to 1:00), 5-minute periods: [1-5], [6-10].
        let points = store.query(&key(), 90.0, 11.0 * 60.0, 300);
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].0, 60);
        assert_eq!(points[0].1.value(Statistic::Average), 3.0);
        assert_eq!(points[0].1.value(Statistic::SampleCount), 5.0);
        assert_eq!(points[1].0, 360);
        assert_eq!(points[1].1.value(Statistic::Maximum), 10.0);
        assert_eq!(points[1].1.value(Statistic::Minimum), 6.0);
        // The end is exclusive: minute 10 (600 s) is out of [60, 600).
        let points = store.query(&key(), 60.0, 600.0, 60);
        assert_eq!(points.len(), 9);
        assert_eq!(points.last().map(|p| p.0), Some(540));
    }

    #[test]
    fn out_of_order_values_land_in_their_minute() {
        let mut store = SeriesStore::default();
        store.record(key(), 120.0, StatSet::one(1.0));
        store.record(key(), 240.0, StatSet::one(3.0));
        store.record(key(), 180.0, StatSet::one(2.0));
        store.record(key(), 125.0, StatSet::one(5.0));
        let minutes: Vec<(i64, f64)> = store
            .query(&key(), 0.0, 1000.0, 60)
            .into_iter()
            .map(|(m, s)| (m, s.value(Statistic::Sum)))
            .collect();
        assert_eq!(minutes, vec![(120, 6.0), (180, 2.0), (240, 3.0)]);
    }

    #[test]
    fn far_off_times_and_huge_periods_do_not_overflow() {
        let mut store = SeriesStore::default();
        store.record(key(), 600.0, StatSet::one(1.0));
        for at in [1e19, -1e19, f64::MAX, f64::MIN, f64::NAN, f64::INFINITY] {
            minute_of(at);
            store.record(key(), at, StatSet::one(2.0));
        }
        for (start, end) in [(-1e19, 1e19), (f64::MIN, f64::MAX), (1e19, 2e19)] {
            for period in [60, i64::MAX - i64::MAX % 60] {
                store.query(&key(), start, end, period);
            }
        }
        let all = store.query(&key(), -1e19, 1e19, i64::MAX - i64::MAX % 60);
        let count: f64 = all.iter().map(|(_, set)| set.count).sum();
        assert_eq!(count, 7.0, "every value lands in some period: {all:?}");
        store.prune(f64::MAX);
        store.prune(f64::MIN);
    }

    #[test]
    fn minutes_older_than_a_day_are_pruned() {
        let mut store = SeriesStore::default();
        let now = 10.0 * 86_400.0;
        store.record(key(), now - RETENTION_SECS as f64 - 120.0, StatSet::one(1.0));
        store.record(key(), now - 60.0, StatSet::one(2.0));
        let other = SeriesKey::new("MemoryUtilization", [("ClusterName", "old")]);
        store.record(other.clone(), now - 2.0 * 86_400.0, StatSet::one(3.0));
        store.prune(now);
        assert_eq!(store.query(&key(), 0.0, now, 60).len(), 1);
        assert!(store.keys().all(|k| *k != other), "an emptied series is forgotten");
        assert_eq!(store.newest(&key()), Some(minute_of(now - 60.0)));
    }
}

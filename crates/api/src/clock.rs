//! Time as an input: the server's controllers and upkeep, the log store's retention and the
//! agent's task engine read the time from a [`Clock`] they are given, so tests run them on a
//! [`ManualClock`] and a decision that depends on the time can be reproduced exactly.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Where the time comes from.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> SystemTime;

    /// Seconds since the epoch, as ECS's timestamps are.
    fn epoch_seconds(&self) -> f64 {
        crate::epoch_seconds(self.now())
    }

    /// Milliseconds since the epoch, as CloudWatch Logs' timestamps are.
    fn epoch_millis(&self) -> i64 {
        self.now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    pub fn new(start: SystemTime) -> ManualClock {
        ManualClock(Mutex::new(start))
    }

    /// A clock at `seconds` after the epoch.
    pub fn at_epoch_seconds(seconds: u64) -> ManualClock {
        ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_epoch_seconds(1_700_000_000);
        assert_eq!(clock.epoch_seconds(), 1_700_000_000.0);
        assert_eq!(clock.epoch_seconds(), 1_700_000_000.0);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.epoch_millis(), 1_700_000_001_500);
    }
}

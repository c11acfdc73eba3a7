//! Passive outlier detection: failed calls in a row eject an upstream for a time that doubles
//! with every repeat, capped, and resets when a call succeeds.

use std::time::Duration;

use tokio::time::Instant;

use crate::settings::Settings;

#[derive(Debug, Default, Clone)]
pub(crate) struct Ejection {
    /// Failed calls since the last success or ejection.
    consecutive_failures: u32,
    /// Ejections since the last success; the next one lasts `eject_base * 2^repeats`.
    repeats: u32,
    until: Option<Instant>,
}

impl Ejection {
    /// Records a failed call; true if it ejected the upstream. Failures that land while the
    /// upstream is already ejected (calls that were in flight) are not counted again, so a
    /// burst of parallel failures does not double the time twice.
    pub(crate) fn on_failure(&mut self, settings: &Settings, now: Instant) -> bool {
        if self.is_ejected(now) {
            return false;
        }
        self.consecutive_failures += 1;
        if self.consecutive_failures < settings.eject_after.max(1) {
            return false;
        }
        let duration = ejection_time(settings, self.repeats);
        self.until = Some(now + duration);
        self.repeats = self.repeats.saturating_add(1);
        self.consecutive_failures = 0;
        true
    }

    /// A call succeeded: everything is forgiven, an ejection in progress included (a late
    /// answer proves the upstream alive).
    pub(crate) fn on_success(&mut self) {
        *self = Ejection::default();
    }

    pub(crate) fn is_ejected(&self, now: Instant) -> bool {
        self.remaining(now).is_some()
    }

    /// Time left, if ejected.
    pub(crate) fn remaining(&self, now: Instant) -> Option<Duration> {
        self.until.filter(|&u| u > now).map(|u| u - now)
    }

    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }
}

/// `eject_base * 2^repeats`, capped at `eject_max`.
pub(crate) fn ejection_time(settings: &Settings, repeats: u32) -> Duration {
    let factor = 1u32.checked_shl(repeats).unwrap_or(u32::MAX);
    settings
        .eject_base
        .saturating_mul(factor)
        .min(settings.eject_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            eject_after: 3,
            eject_base: Duration::from_secs(5),
            eject_max: Duration::from_secs(60),
            ..Settings::default()
        }
    }

    #[test]
    fn ejection_time_doubles_and_caps() {
        let s = settings();
        let times: Vec<u64> = (0..6).map(|r| ejection_time(&s, r).as_secs()).collect();
        assert_eq!(times, [5, 10, 20, 40, 60, 60]);
        assert_eq!(ejection_time(&s, 40), Duration::from_secs(60));
        assert_eq!(ejection_time(&s, u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn ejects_after_n_failures_in_a_row_and_repeats_double() {
        let s = settings();
        let mut e = Ejection::default();
        let mut now = Instant::now();
        assert!(!e.on_failure(&s, now));
        assert!(!e.on_failure(&s, now));
        assert!(e.on_failure(&s, now), "third failure ejects");
        assert_eq!(e.remaining(now), Some(Duration::from_secs(5)));
        // Failures of calls that were in flight do not count while ejected.
        for _ in 0..10 {
            assert!(!e.on_failure(&s, now));
        }
        assert_eq!(e.remaining(now), Some(Duration::from_secs(5)));

        now += Duration::from_secs(5);
        assert!(!e.is_ejected(now), "ejection ends on time");
        assert_eq!(e.consecutive_failures(), 0);
        e.on_failure(&s, now);
        e.on_failure(&s, now);
        assert!(e.on_failure(&s, now));
        assert_eq!(
            e.remaining(now),
            Some(Duration::from_secs(10)),
            "second ejection doubles"
        );

        now += Duration::from_secs(10);
        e.on_success();
        assert!(!e.is_ejected(now));
        e.on_failure(&s, now);
        e.on_failure(&s, now);
        assert!(e.on_failure(&s, now));
        assert_eq!(
            e.remaining(now),
            Some(Duration::from_secs(5)),
            "a success resets the doubling"
        );
    }

    #[test]
    fn a_success_between_failures_resets_the_count() {
        let s = settings();
        let mut e = Ejection::default();
        let now = Instant::now();
        e.on_failure(&s, now);
        e.on_failure(&s, now);
        e.on_success();
        e.on_failure(&s, now);
        assert!(!e.on_failure(&s, now));
        assert!(!e.is_ejected(now));
        assert!(e.on_failure(&s, now));
    }

    #[test]
    fn a_late_success_ends_an_ejection() {
        let s = settings();
        let mut e = Ejection::default();
        let now = Instant::now();
        for _ in 0..3 {
            e.on_failure(&s, now);
        }
        assert!(e.is_ejected(now));
        e.on_success();
        assert!(!e.is_ejected(now));
    }
}

//! `Settings`: every tunable of a pool, its documented defaults and one `validate()`.

use std::time::Duration;

/// How often every upstream is probed.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(2);
/// Bound on one probe.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Good probes in a row that turn a bad upstream healthy.
pub const DEFAULT_RISE: u32 = 2;
/// Bad probes in a row that turn a healthy upstream bad.
pub const DEFAULT_FALL: u32 = 2;
/// Layers an upstream may trail the wall-clock layer and still be healthy.
pub const DEFAULT_MAX_LAYER_LAG: u32 = 2;
/// How long a higher-priority upstream must stay healthy before traffic fails back to it.
pub const DEFAULT_FAILBACK_AFTER: Duration = Duration::from_secs(5 * 60);
/// Bound on one try (headers and body) on one upstream.
pub const DEFAULT_PER_TRY_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on a whole call, every try included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body accepted from an upstream.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Retries earned per request.
pub const DEFAULT_RETRY_BUDGET_RATIO: f64 = 0.2;
/// Retries allowed per second however few requests there were.
pub const DEFAULT_RETRY_BUDGET_MIN_PER_SECOND: u32 = 10;
/// Window over which requests and retries are remembered by the budget.
pub const DEFAULT_RETRY_BUDGET_TTL: Duration = Duration::from_secs(10);
/// Failed calls in a row that eject an upstream.
pub const DEFAULT_EJECT_AFTER: u32 = 5;
/// First ejection time; it doubles per repeat.
pub const DEFAULT_EJECT_BASE: Duration = Duration::from_secs(5);
/// Cap on the ejection time.
pub const DEFAULT_EJECT_MAX: Duration = Duration::from_secs(2 * 60);

/// Tunables of one upstream pool. The smesher config layer fills it from the `gateway` JSON
/// section, whose keys are these names in kebab-case (`health-interval`, `failback-after`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How often every upstream is probed.
    pub health_interval: Duration,
    /// Bound on one probe; a probe that takes longer counts as failed.
    pub probe_timeout: Duration,
    /// Good probes in a row before an unsynced or down upstream is healthy again.
    pub rise: u32,
    /// Bad probes in a row before a healthy upstream is unsynced or down.
    pub fall: u32,
    /// Layers an upstream may trail the wall-clock layer and still be healthy.
    pub max_layer_lag: u32,
    /// How long a higher-priority upstream must have been healthy, without a failed call,
    /// before the active role returns to it. `Duration::ZERO` = never fail back.
    pub failback_after: Duration,
    /// Bound on one try on one upstream, response headers and body included.
    pub per_try_timeout: Duration,
    /// Bound on a whole call, every try included.
    pub request_timeout: Duration,
    /// Largest response body accepted; a larger one is a failure of that upstream.
    pub max_response_bytes: u64,
    /// Retries earned by each request (0.2 = one retry per five requests).
    pub retry_budget_ratio: f64,
    /// Retries allowed per second on top of the earned ones.
    pub retry_budget_min_per_second: u32,
    /// Window over which the budget remembers requests and retries (1 s to 60 s).
    pub retry_budget_ttl: Duration,
    /// Failed calls in a row that eject an upstream from routing.
    pub eject_after: u32,
    /// First ejection time; it doubles with every repeat until a call succeeds.
    pub eject_base: Duration,
    /// Cap on the ejection time.
    pub eject_max: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            health_interval: DEFAULT_HEALTH_INTERVAL,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
            max_layer_lag: DEFAULT_MAX_LAYER_LAG,
            failback_after: DEFAULT_FAILBACK_AFTER,
            per_try_timeout: DEFAULT_PER_TRY_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry_budget_ratio: DEFAULT_RETRY_BUDGET_RATIO,
            retry_budget_min_per_second: DEFAULT_RETRY_BUDGET_MIN_PER_SECOND,
            retry_budget_ttl: DEFAULT_RETRY_BUDGET_TTL,
            eject_after: DEFAULT_EJECT_AFTER,
            eject_base: DEFAULT_EJECT_BASE,
            eject_max: DEFAULT_EJECT_MAX,
        }
    }
}

impl Settings {
    /// Every problem, each naming its kebab-case key, so the config layer can prefix its path.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut positive = |key: &str, d: Duration| {
            if d.is_zero() {
                problems.push(format!("{key}: must be greater than zero"));
            }
        };
        positive("health-interval", self.health_interval);
        positive("probe-timeout", self.probe_timeout);
        positive("per-try-timeout", self.per_try_timeout);
        positive("request-timeout", self.request_timeout);
        positive("eject-base", self.eject_base);
        for (key, n) in [
            ("rise", self.rise),
            ("fall", self.fall),
            ("eject-after", self.eject_after),
        ] {
            if n == 0 {
                problems.push(format!("{key}: must be at least 1"));
            }
        }
        if self.max_response_bytes == 0 {
            problems.push("max-response-bytes: must be greater than zero".into());
        }
        if !(self.retry_budget_ratio.is_finite()
            && (0.0..=1000.0).contains(&self.retry_budget_ratio))
        {
            problems.push(format!(
                "retry-budget-ratio: must be between 0 and 1000, got {}",
                self.retry_budget_ratio
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&self.retry_budget_ttl) {
            problems.push(format!(
                "retry-budget-ttl: must be between 1s and 60s, got {:?}",
                self.retry_budget_ttl
            ));
        }
        if self.eject_max < self.eject_base {
            problems.push(format!(
                "eject-max: must not be less than eject-base ({:?} < {:?})",
                self.eject_max, self.eject_base
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_values() {
        let s = Settings::default();
        assert_eq!(s.health_interval, Duration::from_secs(2));
        assert_eq!(s.probe_timeout, Duration::from_secs(1));
        assert_eq!((s.rise, s.fall, s.max_layer_lag), (2, 2, 2));
        assert_eq!(s.failback_after, Duration::from_secs(300));
        assert_eq!(s.per_try_timeout, Duration::from_secs(2));
        assert_eq!(s.request_timeout, Duration::from_secs(10));
        assert_eq!(s.max_response_bytes, 16 << 20);
        assert_eq!(s.retry_budget_ratio, 0.2);
        assert_eq!(s.retry_budget_min_per_second, 10);
        assert_eq!(s.retry_budget_ttl, Duration::from_secs(10));
        assert_eq!(s.eject_after, 5);
        assert_eq!(s.eject_base, Duration::from_secs(5));
        assert_eq!(s.eject_max, Duration::from_secs(120));
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn validate_reports_every_problem_by_key() {
        let s = Settings {
            health_interval: Duration::ZERO,
            rise: 0,
            retry_budget_ratio: f64::NAN,
            retry_budget_ttl: Duration::from_secs(61),
            eject_base: Duration::from_secs(10),
            eject_max: Duration::from_secs(5),
            ..Settings::default()
        };
        let problems = s.validate().unwrap_err();
        let keys: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "health-interval",
                "rise",
                "retry-budget-ratio",
                "retry-budget-ttl",
                "eject-max"
            ]
        );
    }

    #[test]
    fn zero_failback_is_valid() {
        let s = Settings {
            failback_after: Duration::ZERO,
            ..Settings::default()
        };
        assert_eq!(s.validate(), Ok(()));
    }
}

//! Prometheus metrics of the gateway (explicit registry, no globals) and `TryMetrics`, the
//! layer that counts and times every try per upstream.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

use crate::error::{FailoverReason, TryError};
use crate::failover::TryRequest;
use crate::health::HealthState;
use crate::pool::Member;

/// Latency buckets from 100 µs to 10 s: a local node answers in well under a millisecond.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Label value of the `state` label for an ejected upstream (besides the `HealthState`s).
const EJECTED: &str = "ejected";

/// Every gateway metric. Register once per registry and share the value between pools
/// (`Gateway::with_metrics`): the `pool` label tells them apart. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct GatewayMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    healthy: IntGaugeVec,
    state: IntGaugeVec,
    sync_lag: IntGaugeVec,
    active: IntGaugeVec,
    failovers: IntCounterVec,
    retries: IntCounterVec,
    retry_budget_exhausted: IntCounterVec,
    healthy_upstreams: IntGaugeVec,
    config_reloads: IntCounterVec,
}

impl GatewayMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        fn reg<C: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            c: C,
        ) -> Result<C, prometheus::Error> {
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let counter = |name: &str, help: &str, labels: &[&str]| {
            reg(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            reg(registry, IntGaugeVec::new(Opts::new(name, help), labels)?)
        };
        Ok(GatewayMetrics {
            requests: counter(
                "smesher_upstream_requests_total",
                "Tries sent to an upstream, by HTTP status code, or error / timeout.",
                &["pool", "upstream", "code"],
            )?,
            duration: reg(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "smesher_upstream_request_duration_seconds",
                        "Duration of one try on an upstream, body included.",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["pool", "upstream"],
                )?,
            )?,
            healthy: gauge(
                "smesher_upstream_healthy",
                "1 if the upstream is healthy (probes good, not ejected), else 0.",
                &["pool", "upstream"],
            )?,
            state: gauge(
                "smesher_upstream_state",
                "1 for the upstream's current state (unknown, healthy, unsynced, down, ejected).",
                &["pool", "upstream", "state"],
            )?,
            sync_lag: gauge(
                "smesher_upstream_sync_lag_layers",
                "Layers the upstream trails the wall-clock layer by, at its last probe.",
                &["pool", "upstream"],
            )?,
            active: gauge(
                "smesher_upstream_active",
                "1 for the upstream calls go to first.",
                &["pool", "upstream"],
            )?,
            failovers: counter(
                "smesher_failovers_total",
                "Changes of the active upstream away from a failing one, by reason.",
                &["pool", "reason"],
            )?,
            retries: counter(
                "smesher_retries_total",
                "Tries beyond the first inside one call.",
                &["pool"],
            )?,
            retry_budget_exhausted: counter(
                "smesher_retry_budget_exhausted_total",
                "Retries refused because the retry budget was spent.",
                &["pool"],
            )?,
            healthy_upstreams: gauge(
                "smesher_healthy_upstreams",
                "Upstreams that are healthy (probes good, not ejected).",
                &["pool"],
            )?,
            config_reloads: counter(
                "smesher_config_reloads_total",
                "Configuration reloads, by result (success, failure).",
                &["result"],
            )?,
        })
    }

    /// Counts one configuration reload. The config layer calls it once per reload, whatever
    /// the number of pools the reload touches.
    pub fn record_config_reload(&self, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.config_reloads.with_label_values(&[result]).inc();
    }

    pub(crate) fn record_try(
        &self,
        pool: &str,
        upstream: &str,
        outcome: &Result<http::Response<Bytes>, TryError>,
        seconds: f64,
    ) {
        let status;
        let code = match outcome {
            Ok(response) => {
                status = response.status();
                status.as_str()
            }
            Err(TryError::Timeout(_)) => "timeout",
            Err(_) => "error",
        };
        self.requests
            .with_label_values(&[pool, upstream, code])
            .inc();
        self.duration
            .with_label_values(&[pool, upstream])
            .observe(seconds);
    }

    /// One relayed try (`Relay`): `code` is the HTTP status, `timeout` or `error`; the
    /// duration is to the answer's headers, as a streamed body may last indefinitely.
    pub(crate) fn record_relay_try(&self, pool: &str, upstream: &str, code: &str, seconds: f64) {
        self.requests
            .with_label_values(&[pool, upstream, code])
            .inc();
        self.duration
            .with_label_values(&[pool, upstream])
            .observe(seconds);
    }

    /// `record_relay_try` through `cache`: an answer with status 200, by far the most common,
    /// finds its two series by a short scan instead of two hashed label lookups.
    pub(crate) fn record_relay_try_cached(
        &self,
        cache: &RelayTrySeries,
        pool: &str,
        upstream: &str,
        code: &str,
        seconds: f64,
    ) {
        if code != "200" {
            return self.record_relay_try(pool, upstream, code, seconds);
        }
        let mut series = cache.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = series.iter().find(|s| s.upstream == upstream) {
            s.ok.inc();
            s.duration.observe(seconds);
            return;
        }
        let ok = self.requests.with_label_values(&[pool, upstream, code]);
        let duration = self.duration.with_label_values(&[pool, upstream]);
        ok.inc();
        duration.observe(seconds);
        // Upstreams come and go with reloads; past a bound, new ones take the slow path.
        if series.len() < RelayTrySeries::MAX {
            series.push(CachedSeries {
                upstream: upstream.to_owned(),
                ok,
                duration,
            });
        }
    }

    pub(crate) fn record_failover(&self, pool: &str, reason: FailoverReason) {
        self.failovers
            .with_label_values(&[pool, reason.as_str()])
            .inc();
    }

    pub(crate) fn record_retry(&self, pool: &str) {
        self.retries.with_label_values(&[pool]).inc();
    }

    pub(crate) fn record_budget_exhausted(&self, pool: &str) {
        self.retry_budget_exhausted.with_label_values(&[pool]).inc();
    }

    pub(crate) fn set_active(&self, pool: &str, old: Option<&str>, new: &str) {
        if let Some(old) = old {
            self.active.with_label_values(&[pool, old]).set(0);
        }
        self.active.with_label_values(&[pool, new]).set(1);
    }

    /// Publishes health, state, lag and the healthy count of every member.
    pub(crate) fn publish_health(&self, pool: &str, members: &[Arc<Member>], now: Instant) {
        let mut healthy_count = 0;
        for member in members {
            let url = member.upstream.redacted();
            let healthy = member.is_healthy(now);
            healthy_count += i64::from(healthy);
            self.healthy
                .with_label_values(&[pool, url])
                .set(i64::from(healthy));
            let current = if member.is_ejected(now) {
                EJECTED
            } else {
                member.health_state().as_str()
            };
            for state in HealthState::ALL.iter().map(|s| s.as_str()).chain([EJECTED]) {
                self.state
                    .with_label_values(&[pool, url, state])
                    .set(i64::from(state == current));
            }
            if let Some(lag) = member.sync_lag() {
                self.sync_lag
                    .with_label_values(&[pool, url])
                    .set(i64::from(lag));
            }
        }
        self.healthy_upstreams
            .with_label_values(&[pool])
            .set(healthy_count);
    }

    /// Drops the gauges of an upstream that left the pool, so it does not show as healthy or
    /// active forever. Its request counter and latency histogram stay: they only grow, a call
    /// in flight during the reload may still add to them, and removed upstreams are rare.
    pub(crate) fn forget_upstream(&self, pool: &str, upstream: &str) {
        // Series that never existed give NotFound, which is fine.
        for vec in [&self.healthy, &self.sync_lag, &self.active] {
            let _ = vec.remove_label_values(&[pool, upstream]);
        }
        for state in HealthState::ALL.iter().map(|s| s.as_str()).chain([EJECTED]) {
            let _ = self.state.remove_label_values(&[pool, upstream, state]);
        }
    }
}

/// The request counter (status 200) and latency histogram of each upstream a relay has
/// answered from. Those series are never removed, so their handles stay valid.
#[derive(Debug, Default)]
pub(crate) struct RelayTrySeries(Mutex<Vec<CachedSeries>>);

impl RelayTrySeries {
    const MAX: usize = 64;
}

#[derive(Debug)]
struct CachedSeries {
    upstream: String,
    ok: IntCounter,
    duration: Histogram,
}

/// Counts and times every try. It sits below the fail-over because its labels name the
/// upstream, which is only known per try.
#[derive(Clone, Debug)]
pub struct TryMetrics<S> {
    inner: S,
    pool: Arc<str>,
    metrics: GatewayMetrics,
}

#[derive(Clone, Debug)]
pub struct TryMetricsLayer {
    pool: Arc<str>,
    metrics: GatewayMetrics,
}

impl TryMetricsLayer {
    pub fn new(pool: Arc<str>, metrics: GatewayMetrics) -> Self {
        TryMetricsLayer { pool, metrics }
    }
}

impl<S> Layer<S> for TryMetricsLayer {
    type Service = TryMetrics<S>;

    fn layer(&self, inner: S) -> TryMetrics<S> {
        TryMetrics {
            inner,
            pool: self.pool.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<S> Service<TryRequest> for TryMetrics<S>
where
    S: Service<TryRequest, Response = http::Response<Bytes>, Error = TryError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = http::Response<Bytes>;
    type Error = TryError;
    type Future = BoxFuture<'static, Result<http::Response<Bytes>, TryError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), TryError>> {
        // Readiness is awaited per try on a clone in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: TryRequest) -> Self::Future {
        let inner = self.inner.clone();
        let pool = self.pool.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let upstream = req.upstream.clone();
            let started = Instant::now();
            let outcome = inner.oneshot(req).await;
            let seconds = started.elapsed().as_secs_f64();
            metrics.record_try(&pool, upstream.redacted(), &outcome, seconds);
            outcome
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use prometheus::proto::{MetricFamily, MetricType};

    /// The value of the series `name{labels}` (counter, gauge, or histogram sample count).
    pub(crate) fn value(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
        let families: Vec<MetricFamily> = registry.gather();
        let Some(family) = families.iter().find(|f| f.name() == name) else {
            return 0.0;
        };
        family
            .get_metric()
            .iter()
            .find(|m| {
                labels.iter().all(|(k, v)| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == *k && l.value() == *v)
                })
            })
            .map(|m| match family.get_field_type() {
                MetricType::COUNTER => m.get_counter().get_value(),
                MetricType::GAUGE => m.get_gauge().get_value(),
                _ => m.get_histogram().get_sample_count() as f64,
            })
            .unwrap_or(0.0)
    }

    #[test]
    fn cached_relay_series_count_like_the_plain_ones() {
        let registry = Registry::new();
        let m = GatewayMetrics::register(&registry).unwrap();
        let cache = RelayTrySeries::default();
        for _ in 0..3 {
            m.record_relay_try_cached(&cache, "v2", "http://a/", "200", 0.001);
        }
        m.record_relay_try_cached(&cache, "v2", "http://b/", "200", 0.001);
        m.record_relay_try_cached(&cache, "v2", "http://a/", "503", 0.001);
        m.record_relay_try("v2", "http://a/", "200", 0.001);
        let count = |upstream, code| {
            value(
                &registry,
                "smesher_upstream_requests_total",
                &[("pool", "v2"), ("upstream", upstream), ("code", code)],
            )
        };
        assert_eq!(count("http://a/", "200"), 4.0);
        assert_eq!(count("http://b/", "200"), 1.0);
        assert_eq!(count("http://a/", "503"), 1.0);
        let timed = value(
            &registry,
            "smesher_upstream_request_duration_seconds",
            &[("pool", "v2"), ("upstream", "http://a/")],
        );
        assert_eq!(timed, 5.0);
        assert_eq!(cache.0.lock().unwrap().len(), 2);
    }

    #[test]
    fn registers_once_per_registry() {
        let registry = Registry::new();
        GatewayMetrics::register(&registry).unwrap();
        assert!(GatewayMetrics::register(&registry).is_err());
    }

    #[test]
    fn names_follow_the_spec() {
        let registry = Registry::new();
        let m = GatewayMetrics::register(&registry).unwrap();
        let ok = http::Response::builder()
            .status(204)
            .body(Bytes::new())
            .unwrap();
        m.record_try("p", "http://a/", &Ok(ok), 0.0002);
        m.record_try(
            "p",
            "http://a/",
            &Err(TryError::Timeout(std::time::Duration::from_secs(1))),
            1.0,
        );
        m.record_try("p", "http://a/", &Err(TryError::Connect("x".into())), 0.0);
        m.record_failover("p", FailoverReason::Status5xx);
        m.record_retry("p");
        m.record_budget_exhausted("p");
        m.record_config_reload(true);
        m.set_active("p", None, "http://a/");
        let v = |name, labels: &[(&str, &str)]| value(&registry, name, labels);
        let a = ("upstream", "http://a/");
        assert_eq!(
            v("smesher_upstream_requests_total", &[a, ("code", "204")]),
            1.0
        );
        assert_eq!(
            v("smesher_upstream_requests_total", &[a, ("code", "timeout")]),
            1.0
        );
        assert_eq!(
            v("smesher_upstream_requests_total", &[a, ("code", "error")]),
            1.0
        );
        assert_eq!(v("smesher_upstream_request_duration_seconds", &[a]), 3.0);
        assert_eq!(
            v("smesher_failovers_total", &[("reason", "status_5xx")]),
            1.0
        );
        assert_eq!(v("smesher_retries_total", &[("pool", "p")]), 1.0);
        assert_eq!(
            v("smesher_retry_budget_exhausted_total", &[("pool", "p")]),
            1.0
        );
        assert_eq!(
            v("smesher_config_reloads_total", &[("result", "success")]),
            1.0
        );
        assert_eq!(v("smesher_upstream_active", &[a]), 1.0);

        // Sub-millisecond buckets exist.
        let families = registry.gather();
        let h = families
            .iter()
            .find(|f| f.name() == "smesher_upstream_request_duration_seconds")
            .unwrap();
        let buckets = h.get_metric()[0].get_histogram().get_bucket();
        assert_eq!(buckets[0].upper_bound(), 0.0001);
        assert_eq!(
            buckets[2].cumulative_count(),
            2,
            "0.0002 s and 0 s are under 0.5 ms"
        );
    }
}

//! Metrics of the ATX duty: published ATXs, failed cycle passes by reason, PoST proving time.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

/// PoST proving takes from seconds (tiny data) to hours (mainnet).
const PROVING_BUCKETS: [f64; 12] = [
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
];

/// The ATX duty's metrics; clones share the same series.
#[derive(Debug, Clone)]
pub struct AtxMetrics {
    published: IntCounter,
    retries: IntCounterVec,
    proving: Histogram,
}

impl AtxMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self::unregistered()?;
        registry.register(Box::new(m.published.clone()))?;
        registry.register(Box::new(m.retries.clone()))?;
        registry.register(Box::new(m.proving.clone()))?;
        Ok(m)
    }

    /// Metrics that no registry exports (tests).
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        Ok(AtxMetrics {
            published: IntCounter::new(
                "smesher_atx_published_total",
                "ATXs accepted by a node-service (one per identity and publish epoch).",
            )?,
            retries: IntCounterVec::new(
                Opts::new(
                    "smesher_atx_cycle_retries_total",
                    "ATX cycle passes that stopped short and were retried, by reason.",
                ),
                &["reason"],
            )?,
            proving: Histogram::with_opts(
                HistogramOpts::new(
                    "smesher_post_proving_duration_seconds",
                    "Time from asking a post-service for a PoST proof to having it.",
                )
                .buckets(PROVING_BUCKETS.to_vec()),
            )?,
        })
    }

    pub fn published(&self) {
        self.published.inc();
    }

    /// A failed pass; `reason` is one of a fixed set of words.
    pub fn retry(&self, reason: &'static str) {
        self.retries.with_label_values(&[reason]).inc();
    }

    pub fn proved(&self, seconds: f64) {
        self.proving.observe(seconds);
    }
}

//! Prometheus view of a prover: where the data pass is, which nonces it tries, how long proofs
//! take. The built-in post-service registers it; a standalone post-service reports the same
//! progress on its operator `/status` endpoint instead.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};

/// Gauges and counters of one prover (the built-in post-service proves for one data folder).
#[derive(Clone, Debug)]
pub struct ProvingMetrics {
    position: IntGauge,
    total: IntGauge,
    nonce_start: IntGauge,
    nonce_end: IntGauge,
    duration: Histogram,
    proofs: IntCounterVec,
}

impl ProvingMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let position = gauge(
            "smesher_post_proving_position_bytes",
            "Bytes of PoST data scored so far in the current proving pass.",
        )?;
        let total = gauge(
            "smesher_post_proving_total_bytes",
            "Bytes of PoST data one proving pass reads.",
        )?;
        let nonce_start = gauge(
            "smesher_post_proving_nonce_start",
            "First nonce of the current proving pass.",
        )?;
        let nonce_end = gauge(
            "smesher_post_proving_nonce_end",
            "End (exclusive) of the nonce range of the current proving pass.",
        )?;
        // Proofs take from seconds (tiny test data) to hours (TiBs of data).
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "smesher_post_proof_duration_seconds",
                "Time to generate and self-check one PoST proof.",
            )
            .buckets(vec![
                1.0, 10.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0,
            ]),
        )?;
        registry.register(Box::new(duration.clone()))?;
        let proofs = IntCounterVec::new(
            Opts::new(
                "smesher_post_proofs_total",
                "PoST proofs generated, by result (ok, error).",
            ),
            &["result"],
        )?;
        registry.register(Box::new(proofs.clone()))?;
        Ok(ProvingMetrics {
            position,
            total,
            nonce_start,
            nonce_end,
            duration,
            proofs,
        })
    }

    pub(crate) fn pass_started(&self, nonces: &std::ops::Range<u32>) {
        self.nonce_start.set(i64::from(nonces.start));
        self.nonce_end.set(i64::from(nonces.end));
        self.position.set(0);
    }

    pub(crate) fn data_scored(&self, position: u64, total: u64) {
        self.position
            .set(i64::try_from(position).unwrap_or(i64::MAX));
        self.total.set(i64::try_from(total).unwrap_or(i64::MAX));
    }

    pub(crate) fn finished(&self, seconds: f64, ok: bool) {
        self.duration.observe(seconds);
        self.proofs
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }
}

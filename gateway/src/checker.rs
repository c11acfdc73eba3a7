//! The health checker task: probes every upstream of the current snapshot every
//! `health-interval`, each probe bounded by `probe-timeout`, and publishes the health metrics.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::health::{HealthState, Probe, ProbeError, ProbeReport};
use crate::metrics::GatewayMetrics;
use crate::pool::Member;
use crate::settings::Settings;

/// Probe rounds begun and finished, so callers can wait for a round without sleeping.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rounds {
    pub(crate) started: u64,
    pub(crate) finished: u64,
}

pub(crate) struct Checker<L> {
    pub(crate) pool: Arc<str>,
    pub(crate) probe: Arc<dyn Probe>,
    pub(crate) metrics: GatewayMetrics,
    /// The members and settings to probe with now (they change on reload).
    pub(crate) load: L,
    pub(crate) rounds: watch::Sender<Rounds>,
    /// Starts a round at once (after a reload, or on request).
    pub(crate) reprobe: Arc<Notify>,
    /// Changes to `true`, or is dropped with the gateway, to stop the task.
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl<L> Checker<L>
where
    L: Fn() -> (Arc<[Arc<Member>]>, Arc<Settings>) + Send + 'static,
{
    pub(crate) async fn run(mut self) {
        loop {
            let (members, settings) = (self.load)();
            self.rounds.send_modify(|r| r.started += 1);
            tokio::select! {
                _ = probe_round(&self.pool, &self.probe, &members, &settings) => {}
                _ = self.shutdown.changed() => break,
            }
            drop(members);
            let (current, _) = (self.load)();
            self.metrics
                .publish_health(&self.pool, &current, Instant::now());
            drop(current);
            self.rounds.send_modify(|r| r.finished += 1);
            tokio::select! {
                _ = tokio::time::sleep(settings.health_interval) => {}
                _ = self.reprobe.notified() => {}
                _ = self.shutdown.changed() => break,
            }
        }
        tracing::debug!(pool = %self.pool, "health checker stopped");
    }
}

/// Probes every member at once and feeds the results to their state machines.
async fn probe_round(
    pool: &str,
    probe: &Arc<dyn Probe>,
    members: &[Arc<Member>],
    settings: &Settings,
) {
    let probes = members.iter().map(|member| {
        let future = probe.probe(&member.upstream);
        let timeout = settings.probe_timeout;
        async move {
            let started = Instant::now();
            // A task of its own, so a panicking probe costs one result, not the checker.
            let task = tokio::spawn(tokio::time::timeout(timeout, future));
            let result: Result<ProbeReport, ProbeError> = match task.await {
                Ok(Ok(result)) => result,
                Ok(Err(_elapsed)) => Err(ProbeError::Timeout(timeout)),
                Err(join) => Err(ProbeError::failed(format!("probe panicked: {join}"))),
            };
            (member, result, started.elapsed())
        }
    });
    for (member, result, latency) in join_all(probes).await {
        log_transition(pool, member, &result, latency, settings);
    }
}

fn log_transition(
    pool: &str,
    member: &Member,
    result: &Result<ProbeReport, ProbeError>,
    latency: Duration,
    settings: &Settings,
) {
    let Some(t) = member.observe_probe(result, latency, settings, Instant::now()) else {
        return;
    };
    let upstream = &member.upstream;
    match (t.to, result) {
        (HealthState::Healthy, _) => {
            tracing::info!(pool, %upstream, from = %t.from, "upstream healthy")
        }
        (_, Err(error)) => {
            tracing::warn!(pool, %upstream, from = %t.from, to = %t.to, %error, "upstream unhealthy")
        }
        (_, Ok(report)) => tracing::warn!(
            pool,
            %upstream,
            from = %t.from,
            to = %t.to,
            synced = report.synced,
            lag = ?report.lag(),
            "upstream unhealthy"
        ),
    }
}

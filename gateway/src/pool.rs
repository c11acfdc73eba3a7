//! The members of a pool: each upstream with what is known about it (probe health, passive
//! ejection, latencies, last error), shared by the health checker, the router and `status()`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::futures::Notified;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::eject::Ejection;
use crate::error::{FailoverReason, FailureReason, TryError};
use crate::health::{classify, HealthState, HealthTracker, ProbeError, ProbeReport};
use crate::settings::Settings;
use crate::upstream::Upstream;

/// One upstream and its live record. Kept across reloads for URLs that stay.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) upstream: Upstream,
    record: Mutex<Record>,
    /// Notified each time the routing gives up on this member (see `abandon`). A `Notified`
    /// taken before a `notify_waiters` completes and one taken after does not, so a signal
    /// sent before a try started never reaches it. It wakes its waiters in the order they
    /// first waited (the oldest tries first), unlike a watch channel, whose receivers wait on
    /// eight randomly chosen queues.
    abandon: Notify,
    /// Why the routing last gave up on this member.
    abandon_reason: Mutex<FailoverReason>,
}

#[derive(Debug, Default)]
struct Record {
    health: HealthTracker,
    ejection: Ejection,
    probes: u64,
    consecutive_probe_failures: u32,
    sync_lag: Option<u32>,
    last_probe_latency: Option<Duration>,
    last_call_latency: Option<Duration>,
    last_error: Option<String>,
    /// Healthy without a failed call since then; what fail-back waits on.
    stable_since: Option<Instant>,
}

/// Whether a call may be routed to a member, and if not, why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Usability {
    Healthy,
    /// Not probed yet: usable after the healthy ones.
    Unknown,
    Unusable(FailureReason),
}

impl Usability {
    pub(crate) fn is_usable(&self) -> bool {
        !matches!(self, Usability::Unusable(_))
    }
}

/// One try's subscription to its member's abandon signal (`Member::abandon_signal`).
#[derive(Debug)]
pub(crate) struct AbandonSignal<'a> {
    member: &'a Member,
    notified: Notified<'a>,
}

impl AbandonSignal<'_> {
    /// Resolves when the member is abandoned after this subscription was taken, with the
    /// reason; never resolves otherwise.
    pub(crate) async fn abandoned(self) -> FailoverReason {
        self.notified.await;
        *self.member.abandon_reason()
    }
}

/// A state change worth logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transition {
    pub(crate) from: HealthState,
    pub(crate) to: HealthState,
}

impl Member {
    pub(crate) fn new(upstream: Upstream) -> Arc<Self> {
        Arc::new(Member {
            upstream,
            record: Mutex::new(Record::default()),
            abandon: Notify::new(),
            // Never read before the first `abandon`, which sets it.
            abandon_reason: Mutex::new(FailoverReason::Down),
        })
    }

    /// Subscribes to this member's abandon signal; call it before the try starts so no signal
    /// sent while the try is in flight is missed. No allocation: the waiter lives in the
    /// future.
    pub(crate) fn abandon_signal(&self) -> AbandonSignal<'_> {
        AbandonSignal {
            member: self,
            notified: self.abandon.notified(),
        }
    }

    /// The routing stopped using this member (`reason` says why): every try in flight on it
    /// that subscribed before now stops waiting and its call moves on. Tries that subscribe
    /// later are not affected.
    pub(crate) fn abandon(&self, reason: FailoverReason) {
        *self.abandon_reason() = reason;
        self.abandon.notify_waiters();
    }

    fn abandon_reason(&self) -> MutexGuard<'_, FailoverReason> {
        self.abandon_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self) -> MutexGuard<'_, Record> {
        // A panic while holding this lock cannot leave the record inconsistent in a way that
        // matters more than losing health tracking, so keep going.
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Feeds one probe result into the rise/fall state machine.
    pub(crate) fn observe_probe(
        &self,
        result: &Result<ProbeReport, ProbeError>,
        latency: Duration,
        settings: &Settings,
        now: Instant,
    ) -> Option<Transition> {
        let seen = classify(result, settings.max_layer_lag);
        let mut r = self.record();
        r.probes += 1;
        r.last_probe_latency = Some(latency);
        match result {
            Ok(report) => {
                r.consecutive_probe_failures = 0;
                r.sync_lag = report.lag();
                if !report.is_healthy(settings.max_layer_lag) {
                    r.last_error = Some(match report.lag() {
                        Some(lag) if report.synced => format!("probe: {lag} layers behind"),
                        _ => "probe: not synced".to_string(),
                    });
                }
            }
            Err(e) => {
                r.consecutive_probe_failures += 1;
                r.last_error = Some(format!("probe: {e}"));
            }
        }
        let from = r.health.observe(seen, settings.rise, settings.fall)?;
        let to = r.health.state();
        r.stable_since = (to == HealthState::Healthy).then_some(now);
        Some(Transition { from, to })
    }

    /// A try got an answer (the caller's check included).
    pub(crate) fn on_try_success(&self, latency: Duration) {
        let mut r = self.record();
        r.last_call_latency = Some(latency);
        r.ejection.on_success();
    }

    /// A try failed; true if this ejected the member, which also abandons the tries in flight
    /// on it (an ejected member gets no more calls, so nobody should keep waiting on it).
    pub(crate) fn on_try_failure(
        &self,
        error: &TryError,
        latency: Duration,
        settings: &Settings,
        now: Instant,
    ) -> bool {
        let ejected = {
            let mut r = self.record();
            r.last_call_latency = Some(latency);
            r.last_error = Some(format!("call: {error}"));
            if r.stable_since.is_some() {
                r.stable_since = Some(now);
            }
            r.ejection.on_failure(settings, now)
        };
        if ejected {
            self.abandon(error.reason());
        }
        ejected
    }

    pub(crate) fn usability(&self, now: Instant) -> Usability {
        let r = self.record();
        if let Some(remaining) = r.ejection.remaining(now) {
            return Usability::Unusable(FailureReason::Ejected { remaining });
        }
        match r.health.state() {
            HealthState::Healthy => Usability::Healthy,
            HealthState::Unknown => Usability::Unknown,
            HealthState::Unsynced => {
                Usability::Unusable(FailureReason::Unsynced { lag: r.sync_lag })
            }
            HealthState::Down => Usability::Unusable(FailureReason::Down {
                last_error: r.last_error.clone(),
            }),
        }
    }

    /// Healthy, not ejected and without a failed call for this long.
    pub(crate) fn stable_for(&self, now: Instant) -> Option<Duration> {
        let r = self.record();
        if r.ejection.is_ejected(now) || r.health.state() != HealthState::Healthy {
            return None;
        }
        r.stable_since
            .map(|since| now.saturating_duration_since(since))
    }

    /// Healthy by its probes and not ejected.
    pub(crate) fn is_healthy(&self, now: Instant) -> bool {
        self.usability(now) == Usability::Healthy
    }

    pub(crate) fn health_state(&self) -> HealthState {
        self.record().health.state()
    }

    pub(crate) fn is_ejected(&self, now: Instant) -> bool {
        self.record().ejection.is_ejected(now)
    }

    pub(crate) fn sync_lag(&self) -> Option<u32> {
        self.record().sync_lag
    }

    pub(crate) fn probed(&self) -> bool {
        self.record().probes > 0
    }

    pub(crate) fn status(&self, priority: usize, active: bool, now: Instant) -> UpstreamStatus {
        let r = self.record();
        let ejected_for = r.ejection.remaining(now);
        UpstreamStatus {
            url: self.upstream.redacted().to_string(),
            priority,
            state: r.health.state(),
            healthy: r.health.state() == HealthState::Healthy && ejected_for.is_none(),
            active,
            sync_lag: r.sync_lag,
            last_probe_latency: r.last_probe_latency,
            last_call_latency: r.last_call_latency,
            consecutive_failures: r.ejection.consecutive_failures(),
            consecutive_probe_failures: r.consecutive_probe_failures,
            ejected_for,
            last_error: r.last_error.clone(),
        }
    }
}

/// One row of the upstream table (`Gateway::status`).
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamStatus {
    /// Redacted URL.
    pub url: String,
    /// Position in the configured list; 0 is preferred.
    pub priority: usize,
    /// Health as the probes see it.
    pub state: HealthState,
    /// `Healthy` and not ejected.
    pub healthy: bool,
    /// Calls go here first.
    pub active: bool,
    /// Layers behind the wall clock at the last probe that told.
    pub sync_lag: Option<u32>,
    pub last_probe_latency: Option<Duration>,
    pub last_call_latency: Option<Duration>,
    /// Failed calls in a row (towards `eject-after`).
    pub consecutive_failures: u32,
    /// Failed probes in a row.
    pub consecutive_probe_failures: u32,
    /// Time left of an ejection in progress.
    pub ejected_for: Option<Duration>,
    /// The last probe or call error, prefixed `probe:` or `call:`.
    pub last_error: Option<String>,
}

/// Which upstream is active. It lives across reloads (a reload that keeps the active URL
/// keeps it active), so it is keyed by `Upstream`, not by position.
#[derive(Debug, Default)]
pub(crate) struct ActiveSlot(Mutex<Option<Upstream>>);

impl ActiveSlot {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<Upstream>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self) -> Option<Upstream> {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> Arc<Member> {
        Member::new(Upstream::new("http://a/".parse().unwrap()).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_members_are_usable_until_probed() {
        let m = member();
        let now = Instant::now();
        assert_eq!(m.usability(now), Usability::Unknown);
        assert!(!m.probed());
        let s = Settings::default();
        let t = m.observe_probe(&Err(ProbeError::failed("refused")), Duration::ZERO, &s, now);
        assert_eq!(
            t,
            Some(Transition {
                from: HealthState::Unknown,
                to: HealthState::Down
            })
        );
        assert_eq!(
            m.usability(now),
            Usability::Unusable(FailureReason::Down {
                last_error: Some("probe: refused".into())
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn lag_is_recorded_and_makes_unsynced() {
        let m = member();
        let s = Settings::default();
        let report = ProbeReport {
            synced: true,
            current_layer: Some(10),
            wall_layer: Some(15),
        };
        m.observe_probe(&Ok(report), Duration::from_millis(3), &s, Instant::now());
        assert_eq!(
            m.usability(Instant::now()),
            Usability::Unusable(FailureReason::Unsynced { lag: Some(5) })
        );
        let st = m.status(0, false, Instant::now());
        assert_eq!(st.sync_lag, Some(5));
        assert_eq!(st.last_probe_latency, Some(Duration::from_millis(3)));
        assert_eq!(st.last_error.as_deref(), Some("probe: 5 layers behind"));
        assert!(!st.healthy);
    }

    #[tokio::test(start_paused = true)]
    async fn stability_restarts_on_a_failed_call() {
        let m = member();
        let s = Settings::default();
        m.observe_probe(
            &Ok(ProbeReport::synced()),
            Duration::ZERO,
            &s,
            Instant::now(),
        );
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(m.stable_for(Instant::now()), Some(Duration::from_secs(60)));
        let err = TryError::Timeout(Duration::from_secs(2));
        m.on_try_failure(&err, Duration::from_secs(2), &s, Instant::now());
        assert_eq!(m.stable_for(Instant::now()), Some(Duration::ZERO));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(m.stable_for(Instant::now()), Some(Duration::from_secs(5)));
        assert_eq!(m.status(0, true, Instant::now()).consecutive_failures, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn ejection_makes_unusable_until_it_ends() {
        let m = member();
        let s = Settings {
            eject_after: 2,
            eject_base: Duration::from_secs(5),
            ..Settings::default()
        };
        m.observe_probe(
            &Ok(ProbeReport::synced()),
            Duration::ZERO,
            &s,
            Instant::now(),
        );
        let err = TryError::Connect("refused".into());
        assert!(!m.on_try_failure(&err, Duration::ZERO, &s, Instant::now()));
        assert!(m.on_try_failure(&err, Duration::ZERO, &s, Instant::now()));
        assert_eq!(
            m.usability(Instant::now()),
            Usability::Unusable(FailureReason::Ejected {
                remaining: Duration::from_secs(5)
            })
        );
        assert_eq!(m.stable_for(Instant::now()), None);
        let st = m.status(0, false, Instant::now());
        assert_eq!(st.ejected_for, Some(Duration::from_secs(5)));
        assert_eq!(st.last_error.as_deref(), Some("call: refused"));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(m.usability(Instant::now()), Usability::Healthy);
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandon_reaches_only_the_tries_subscribed_before_it() {
        use futures_util::FutureExt;

        let m = member();
        let mut before = std::pin::pin!(m.abandon_signal().abandoned());
        assert!(before.as_mut().now_or_never().is_none(), "nothing sent yet");
        // Taken before the abandon but first waited on after it: still reached.
        let unpolled = m.abandon_signal();
        m.abandon(FailoverReason::Timeout);
        let mut after = std::pin::pin!(m.abandon_signal().abandoned());
        assert_eq!(before.now_or_never(), Some(FailoverReason::Timeout));
        assert_eq!(
            unpolled.abandoned().now_or_never(),
            Some(FailoverReason::Timeout)
        );
        assert!(
            after.as_mut().now_or_never().is_none(),
            "a try that starts after the signal is not affected"
        );
        m.abandon(FailoverReason::Down);
        assert_eq!(after.now_or_never(), Some(FailoverReason::Down));
    }

    #[test]
    fn an_abandon_wakes_the_oldest_try_first() {
        use std::future::Future;
        use std::task::{Context, Wake, Waker};

        struct Record(usize, Arc<Mutex<Vec<usize>>>);
        impl Wake for Record {
            fn wake(self: Arc<Self>) {
                self.1.lock().unwrap().push(self.0);
            }
        }

        let m = member();
        let woken = Arc::new(Mutex::new(Vec::new()));
        let mut tries: Vec<_> = (0..20)
            .map(|_| Box::pin(m.abandon_signal().abandoned()))
            .collect();
        for (n, t) in tries.iter_mut().enumerate() {
            let waker = Waker::from(Arc::new(Record(n, woken.clone())));
            assert!(t
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
        }
        m.abandon(FailoverReason::Timeout);
        assert_eq!(*woken.lock().unwrap(), (0..20).collect::<Vec<_>>());
    }

    #[tokio::test(start_paused = true)]
    async fn an_ejection_abandons_the_tries_in_flight() {
        use futures_util::FutureExt;

        let m = member();
        let s = Settings {
            eject_after: 2,
            ..Settings::default()
        };
        let mut signal = std::pin::pin!(m.abandon_signal().abandoned());
        let err = TryError::Status {
            status: http::StatusCode::INTERNAL_SERVER_ERROR,
            body: String::new(),
        };
        assert!(!m.on_try_failure(&err, Duration::ZERO, &s, Instant::now()));
        assert!(signal.as_mut().now_or_never().is_none());
        assert!(m.on_try_failure(&err, Duration::ZERO, &s, Instant::now()));
        assert_eq!(signal.now_or_never(), Some(FailoverReason::Status5xx));
    }
}

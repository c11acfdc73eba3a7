//! Active health: the `Probe` the embedding crate implements, what a probe reports, and the
//! rise/fall state machine that turns probe results into a `HealthState`.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::error::fmt_duration;
use crate::upstream::Upstream;

/// Asks one upstream whether it is alive and in sync. The gateway bounds each probe by
/// `probe-timeout`, so an implementation need not time out itself.
pub trait Probe: Send + Sync + 'static {
    fn probe(&self, upstream: &Upstream) -> BoxFuture<'static, Result<ProbeReport, ProbeError>>;
}

impl<F> Probe for F
where
    F: Fn(&Upstream) -> BoxFuture<'static, Result<ProbeReport, ProbeError>> + Send + Sync + 'static,
{
    fn probe(&self, upstream: &Upstream) -> BoxFuture<'static, Result<ProbeReport, ProbeError>> {
        self(upstream)
    }
}

/// What a reachable upstream says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeReport {
    /// The node reports itself synced.
    pub synced: bool,
    /// The layer the node has processed, if known.
    pub current_layer: Option<u32>,
    /// The wall-clock layer, if known (from the node or from our own clock).
    pub wall_layer: Option<u32>,
}

impl ProbeReport {
    /// A synced report without layer information.
    pub fn synced() -> Self {
        ProbeReport {
            synced: true,
            current_layer: None,
            wall_layer: None,
        }
    }

    /// Layers the node trails the wall clock by, when both are known (0 if it is ahead).
    pub fn lag(&self) -> Option<u32> {
        match (self.current_layer, self.wall_layer) {
            (Some(current), Some(wall)) => Some(wall.saturating_sub(current)),
            _ => None,
        }
    }

    /// Synced, and within `max_layer_lag` layers of the wall clock when that can be told.
    pub fn is_healthy(&self, max_layer_lag: u32) -> bool {
        self.synced && self.lag().is_none_or(|lag| lag <= max_layer_lag)
    }
}

/// A probe that got no usable report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("timed out after {}", fmt_duration(*.0))]
    Timeout(Duration),
    #[error("{0}")]
    Failed(String),
}

impl ProbeError {
    pub fn failed(e: impl fmt::Display) -> Self {
        ProbeError::Failed(e.to_string())
    }
}

/// Health as the probes see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthState {
    /// Not probed yet: usable, after the healthy upstreams, so calls work before the first probe.
    Unknown,
    /// Synced and within the layer lag.
    Healthy,
    /// Reachable but not synced or too far behind: not dead, but not to be used.
    Unsynced,
    /// The probe failed or timed out.
    Down,
}

impl HealthState {
    pub const ALL: [HealthState; 4] = [
        HealthState::Unknown,
        HealthState::Healthy,
        HealthState::Unsynced,
        HealthState::Down,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Unknown => "unknown",
            HealthState::Healthy => "healthy",
            HealthState::Unsynced => "unsynced",
            HealthState::Down => "down",
        }
    }

    fn is_good(self) -> bool {
        self == HealthState::Healthy
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a single probe result says, before rise/fall smoothing.
pub(crate) fn classify(
    result: &Result<ProbeReport, ProbeError>,
    max_layer_lag: u32,
) -> HealthState {
    match result {
        Ok(report) if report.is_healthy(max_layer_lag) => HealthState::Healthy,
        Ok(_) => HealthState::Unsynced,
        Err(_) => HealthState::Down,
    }
}

/// Rise/fall smoothing of probe results.
///
/// * From `Unknown` the first result decides at once: there is no established state to
///   protect from flapping, and a dead node should not stay "usable" for `fall` rounds.
/// * `Healthy` → bad after `fall` bad results in a row (the new state is the latest bad kind).
/// * bad → `Healthy` after `rise` good results in a row.
/// * Between the two bad kinds (`Unsynced` ⇄ `Down`) the latest result is shown at once:
///   neither is routed to, so this only keeps the status truthful.
#[derive(Debug, Clone)]
pub(crate) struct HealthTracker {
    state: HealthState,
    /// Results in a row that disagree with `state`.
    streak: u32,
}

impl Default for HealthTracker {
    fn default() -> Self {
        HealthTracker {
            state: HealthState::Unknown,
            streak: 0,
        }
    }
}

impl HealthTracker {
    pub(crate) fn state(&self) -> HealthState {
        self.state
    }

    /// Feeds one classified result; returns the previous state if the state changed.
    pub(crate) fn observe(
        &mut self,
        seen: HealthState,
        rise: u32,
        fall: u32,
    ) -> Option<HealthState> {
        let old = self.state;
        match (old, seen) {
            (_, HealthState::Unknown) => {}
            (HealthState::Unknown, _) => self.state = seen,
            (current, seen) if current.is_good() == seen.is_good() => {
                self.streak = 0;
                self.state = seen;
            }
            (current, seen) => {
                self.streak += 1;
                let needed = if current.is_good() { fall } else { rise };
                if self.streak >= needed.max(1) {
                    self.state = seen;
                    self.streak = 0;
                }
            }
        }
        (self.state != old).then_some(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthState::*;

    fn run(
        tracker: &mut HealthTracker,
        seen: &[HealthState],
        rise: u32,
        fall: u32,
    ) -> Vec<HealthState> {
        seen.iter()
            .map(|&s| {
                tracker.observe(s, rise, fall);
                tracker.state()
            })
            .collect()
    }

    #[test]
    fn starts_unknown_and_the_first_result_decides() {
        for first in [Healthy, Unsynced, Down] {
            let mut t = HealthTracker::default();
            assert_eq!(t.state(), Unknown);
            assert_eq!(t.observe(first, 3, 3), Some(Unknown));
            assert_eq!(t.state(), first);
        }
    }

    #[test]
    fn fall_needs_bad_results_in_a_row() {
        let mut t = HealthTracker::default();
        let states = run(&mut t, &[Healthy, Down, Healthy, Down, Down], 2, 2);
        assert_eq!(states, [Healthy, Healthy, Healthy, Healthy, Down]);
        let mut t = HealthTracker::default();
        let states = run(&mut t, &[Healthy, Unsynced, Down, Down], 2, 3);
        assert_eq!(
            states,
            [Healthy, Healthy, Healthy, Down],
            "mixed bad kinds count together"
        );
    }

    #[test]
    fn rise_needs_good_results_in_a_row() {
        let mut t = HealthTracker::default();
        let states = run(
            &mut t,
            &[Down, Healthy, Down, Healthy, Healthy, Healthy],
            3,
            2,
        );
        assert_eq!(states, [Down, Down, Down, Down, Down, Healthy]);
    }

    #[test]
    fn bad_kinds_switch_at_once() {
        let mut t = HealthTracker::default();
        let states = run(&mut t, &[Down, Unsynced, Down], 2, 2);
        assert_eq!(states, [Down, Unsynced, Down]);
    }

    #[test]
    fn rise_and_fall_of_one_act_at_once() {
        let mut t = HealthTracker::default();
        let states = run(&mut t, &[Healthy, Down, Healthy], 1, 1);
        assert_eq!(states, [Healthy, Down, Healthy]);
        let mut t = HealthTracker::default();
        let states = run(&mut t, &[Healthy, Down, Healthy], 0, 0);
        assert_eq!(states, [Healthy, Down, Healthy], "0 is treated as 1");
    }

    #[test]
    fn lag_decides_between_healthy_and_unsynced() {
        let report = |current, wall| ProbeReport {
            synced: true,
            current_layer: Some(current),
            wall_layer: Some(wall),
        };
        assert_eq!(classify(&Ok(report(100, 102)), 2), Healthy);
        assert_eq!(classify(&Ok(report(100, 103)), 2), Unsynced);
        assert_eq!(
            classify(&Ok(report(105, 100)), 2),
            Healthy,
            "ahead is not behind"
        );
        assert_eq!(report(105, 100).lag(), Some(0));
        assert_eq!(
            classify(&Ok(ProbeReport::synced()), 0),
            Healthy,
            "unknown lag"
        );
        let unsynced = ProbeReport {
            synced: false,
            ..report(100, 100)
        };
        assert_eq!(classify(&Ok(unsynced), 2), Unsynced);
        assert_eq!(classify(&Err(ProbeError::failed("refused")), 2), Down);
        assert_eq!(
            ProbeError::Timeout(Duration::from_secs(1)).to_string(),
            "timed out after 1s"
        );
    }
}

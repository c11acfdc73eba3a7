//! The ATX duty: one NIPoST cycle per identity, every epoch (PROTOCOL §2.2).
//!
//! Map of the module:
//! - [`pow`]: the PoET registration proof of work (RIPEMD-256 leading zero bits).
//! - [`membership`]: the PoET member tree: statement and membership proofs.
//! - [`poet`]: the PoET REST client and its answer checks; the best proof among PoETs.
//! - [`store`]: the cycle's own SQLite database, so a restart resumes where it stopped.
//! - [`metrics`]: published ATXs, retried passes by reason, PoST proving time.
//! - [`import`]: takes over the in-flight cycle of a migrated go-spacemesh `local.sql`.
//! - [`cycle`]: the steps: initial PoST, challenge, registration, round end, proof, PoST,
//!   ATX built and signed through the guard, publish, cleanup; and the regossip loop.
//!
//! Every step reads what earlier steps persisted and writes its own result before the next
//! starts, so the cycle is one function that is simply run again after any failure or restart.

pub mod cycle;
pub mod import;
pub mod membership;
pub mod metrics;
pub mod poet;
pub mod pow;
pub mod store;

use std::time::{Duration, SystemTime};

use crate::clock::LayerClock;
use crate::config::Config;

pub use cycle::AtxBuilder;
pub use metrics::AtxMetrics;
pub use store::AtxStore;

/// What the ATX duty needs from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct AtxSettings {
    /// `poet.phase-shift`: PoET round start relative to the epoch start.
    pub phase_shift: Duration,
    /// `poet.cycle-gap`: time between a round's end and the next epoch's round start.
    pub cycle_gap: Duration,
    /// `poet.grace-period`: registration opens this long before the round starts.
    pub grace_period: Duration,
    /// `poet.poet-request-timeout`.
    pub request_timeout: Duration,
    /// `poet.retry-delay`: wait between failed tries of one PoET call and between cycle retries.
    pub retry_delay: Duration,
    /// `poet.retry-max`: tries of one PoET proof fetch per cycle pass.
    pub retry_max: u32,
    /// `smeshing.smeshing-coinbase` as 24 bytes.
    pub coinbase: [u8; 24],
    /// The golden ATX (positioning before any ATX exists).
    pub golden_atx: [u8; 32],
    /// How often the current epoch's ATX is published again (`main.regossip-atx-interval`, at
    /// most a quarter epoch); zero = never.
    pub regossip_interval: Duration,
    /// How long a step waits for an identity's post-service to connect before it retries.
    pub post_wait: Duration,
}

/// go-spacemesh regossips every 2 h.
pub const MAINNET_REGOSSIP_INTERVAL: Duration = Duration::from_secs(2 * 3600);

impl AtxSettings {
    /// The settings of a checked config (the coinbase must be set: smeshing requires it).
    pub fn from_config(config: &Config, golden_atx: [u8; 32]) -> Result<Self, String> {
        let coinbase = match &config.smeshing.smeshing_coinbase {
            Some(a) => crate::config::decode_address(a, &config.network_hrp)?,
            None => return Err("smeshing.smeshing-coinbase is not set".to_string()),
        };
        let epoch = config.layer_duration * config.layers_per_epoch;
        Ok(AtxSettings {
            phase_shift: config.poet.phase_shift,
            cycle_gap: config.poet.cycle_gap,
            grace_period: config.poet.grace_period,
            request_timeout: config.poet.poet_request_timeout,
            retry_delay: config.poet.retry_delay,
            retry_max: config.poet.retry_max,
            coinbase,
            golden_atx,
            regossip_interval: if config.regossip_atx_interval.is_zero() {
                Duration::ZERO
            } else {
                config
                    .regossip_atx_interval
                    .min(epoch / 4)
                    .max(Duration::from_millis(100))
            },
            post_wait: Duration::from_secs(2).min(epoch / 4),
        })
    }
}

/// PoET round times of a publish epoch from the layer clock (PROTOCOL §2.2).
#[derive(Debug, Clone)]
pub struct RoundTimes {
    clock: LayerClock,
    phase_shift: Duration,
    cycle_gap: Duration,
    grace_period: Duration,
}

impl RoundTimes {
    pub fn new(clock: LayerClock, settings: &AtxSettings) -> Self {
        RoundTimes {
            clock,
            phase_shift: settings.phase_shift,
            cycle_gap: settings.cycle_gap,
            grace_period: settings.grace_period,
        }
    }

    /// When epoch `epoch` starts.
    pub fn epoch_start(&self, epoch: u32) -> SystemTime {
        self.clock.layer_start(self.clock.first_layer(epoch))
    }

    /// Start of the PoET round whose proof goes into ATXs published in `publish`.
    pub fn round_start(&self, publish: u32) -> SystemTime {
        self.epoch_start(publish.saturating_sub(1)) + self.phase_shift
    }

    /// End of that round: `start(publish) + phase shift − cycle gap`.
    pub fn round_end(&self, publish: u32) -> SystemTime {
        (self.epoch_start(publish) + self.phase_shift)
            .checked_sub(self.cycle_gap)
            .unwrap_or_else(|| self.epoch_start(publish))
    }

    /// When registration for that round opens (round start − grace period).
    pub fn registration_opens(&self, publish: u32) -> SystemTime {
        self.round_start(publish)
            .checked_sub(self.grace_period)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// The deadline a PoET is given with a submission: `start(publish + 1) − cycle gap`.
    pub fn submit_deadline(&self, publish: u32) -> SystemTime {
        self.epoch_start(publish.saturating_add(1))
            .checked_sub(self.cycle_gap)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// The epoch the next ATX is published in, from now and the last ATX's publish epoch:
    /// the next epoch, or the one after when this epoch's round has already started.
    pub fn next_publish_epoch(&self, now: SystemTime, last_publish: Option<u32>) -> u32 {
        let current = self.clock.epoch_of(self.clock.layer_at(now));
        let mut current = last_publish.map_or(current, |l| current.max(l));
        if now >= self.round_start(current.saturating_add(1)) {
            current = current.saturating_add(1);
        }
        current.saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(start_at: u64) -> RoundTimes {
        let clock = LayerClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(start_at),
            Duration::from_secs(300),
            4032,
        );
        RoundTimes {
            clock,
            phase_shift: Duration::from_secs(240 * 3600),
            cycle_gap: Duration::from_secs(12 * 3600),
            grace_period: Duration::from_secs(3600),
        }
    }

    #[test]
    fn mainnet_round_times() {
        let t = times(0);
        let epoch = Duration::from_secs(336 * 3600);
        let start = |e: u32| SystemTime::UNIX_EPOCH + epoch * e;
        assert_eq!(
            t.round_start(10),
            start(9) + Duration::from_secs(240 * 3600)
        );
        assert_eq!(t.round_end(10), start(10) + Duration::from_secs(228 * 3600));
        assert_eq!(
            t.registration_opens(10),
            start(9) + Duration::from_secs(239 * 3600)
        );
        assert_eq!(
            t.submit_deadline(10),
            start(11) - Duration::from_secs(12 * 3600)
        );
        // Before this epoch's round starts, the next ATX goes into the next epoch.
        assert_eq!(
            t.next_publish_epoch(start(9) + Duration::from_secs(3600), None),
            10
        );
        // After it started, the one after.
        assert_eq!(
            t.next_publish_epoch(start(9) + Duration::from_secs(241 * 3600), None),
            11
        );
        // A node's absurd last publish epoch does not overflow.
        assert_eq!(t.next_publish_epoch(start(9), Some(u32::MAX)), u32::MAX);
        // Never an epoch at or before the last ATX's.
        assert_eq!(
            t.next_publish_epoch(start(9) + Duration::from_secs(3600), Some(10)),
            11
        );
    }
}

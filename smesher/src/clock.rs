//! The layer clock: layers and epochs from genesis time, layer duration and layers per epoch.
//!
//! Every duty and the health probe read time through this one type, so tests can compress time
//! (short layers) and the wall-clock layer is computed the same way everywhere.

use std::time::{Duration, SystemTime};

/// Maps wall-clock time to layers and epochs (`LayerToTime(L) = genesis + L·layerDuration`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerClock {
    genesis: SystemTime,
    layer_duration: Duration,
    layers_per_epoch: u32,
}

impl LayerClock {
    /// A clock; `layer_duration` and `layers_per_epoch` must be non-zero (the config checks this).
    pub fn new(genesis: SystemTime, layer_duration: Duration, layers_per_epoch: u32) -> Self {
        Self {
            genesis,
            layer_duration: layer_duration.max(Duration::from_millis(1)),
            layers_per_epoch: layers_per_epoch.max(1),
        }
    }

    pub fn genesis(&self) -> SystemTime {
        self.genesis
    }

    pub fn layer_duration(&self) -> Duration {
        self.layer_duration
    }

    pub fn layers_per_epoch(&self) -> u32 {
        self.layers_per_epoch
    }

    /// The layer that contains `at`; layer 0 before genesis.
    pub fn layer_at(&self, at: SystemTime) -> u32 {
        let since = at.duration_since(self.genesis).unwrap_or_default();
        let layer = since.as_nanos() / self.layer_duration.as_nanos();
        u32::try_from(layer).unwrap_or(u32::MAX)
    }

    /// The layer that contains now.
    pub fn current_layer(&self) -> u32 {
        self.layer_at(SystemTime::now())
    }

    /// The epoch a layer belongs to.
    pub fn epoch_of(&self, layer: u32) -> u32 {
        layer / self.layers_per_epoch
    }

    /// The epoch that contains now.
    pub fn current_epoch(&self) -> u32 {
        self.epoch_of(self.current_layer())
    }

    /// The first layer of an epoch.
    pub fn first_layer(&self, epoch: u32) -> u32 {
        epoch.saturating_mul(self.layers_per_epoch)
    }

    /// When a layer starts.
    pub fn layer_start(&self, layer: u32) -> SystemTime {
        self.genesis + self.layer_duration * layer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mainnet() -> LayerClock {
        // 2023-07-14T08:00:00Z, 5-minute layers, 4032 layers per epoch.
        LayerClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_689_321_600),
            Duration::from_secs(300),
            4032,
        )
    }

    #[test]
    fn layers_and_epochs_follow_genesis() {
        let clock = mainnet();
        let genesis = clock.genesis();
        assert_eq!(clock.layer_at(genesis), 0);
        assert_eq!(clock.layer_at(genesis - Duration::from_secs(10)), 0);
        assert_eq!(clock.layer_at(genesis + Duration::from_secs(299)), 0);
        assert_eq!(clock.layer_at(genesis + Duration::from_secs(300)), 1);
        assert_eq!(clock.epoch_of(4031), 0);
        assert_eq!(clock.epoch_of(4032), 1);
        assert_eq!(clock.first_layer(2), 8064);
        assert_eq!(
            clock.layer_start(172_766),
            genesis + Duration::from_secs(172_766 * 300)
        );
        // The public mainnet status dump: layer 172766 is in epoch 42.
        assert_eq!(clock.epoch_of(172_766), 42);
    }

    #[test]
    fn compressed_time_works_with_millisecond_layers() {
        let genesis = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let clock = LayerClock::new(genesis, Duration::from_millis(250), 10);
        assert_eq!(clock.layer_at(genesis + Duration::from_millis(999)), 3);
        assert_eq!(
            clock.epoch_of(clock.layer_at(genesis + Duration::from_secs(3))),
            1
        );
    }
}

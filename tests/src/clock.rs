//! The simulated chain's parameters and its layer clock (genesis, layer duration, layers per epoch).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Labels per PoST unit on mainnet (2^32); reported by `NetworkService/Info`.
pub const MAINNET_LABELS_PER_UNIT: u64 = 1 << 32;

/// Genesis extra data used when a test does not care (the mainnet value).
pub const DEFAULT_GENESIS_EXTRA_DATA: &str =
    "00000000000000000001a6bc150307b5c1998045752b3c87eccf3c013036f3cc";

/// Parameters of one simulated network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainConfig {
    /// Wall-clock start of layer 0.
    pub genesis: SystemTime,
    /// Length of one layer; tests compress it to a few hundred milliseconds.
    pub layer_duration: Duration,
    pub layers_per_epoch: u32,
    /// Hashed as a literal string into the golden ATX (1–255 characters).
    pub genesis_extra_data: String,
    /// First layer after which the network expects ballots (go-spacemesh: 2·epoch − 1).
    pub effective_genesis_layer: u32,
    pub labels_per_unit: u64,
    /// Bech32 human-readable part of addresses.
    pub hrp: String,
    /// Average number of proposals per layer; drives eligibility slot counts.
    pub layer_size: u32,
}

/// What is wrong with a [`ChainConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainConfigError {
    #[error("chain config: layer_duration must be longer than zero")]
    ZeroLayerDuration,
    #[error("chain config: layers_per_epoch must be at least 1")]
    ZeroLayersPerEpoch,
    #[error("chain config: genesis_extra_data must be 1 to 255 characters, got {0}")]
    ExtraDataLength(usize),
    #[error("chain config: genesis {0:?} is before the unix epoch")]
    GenesisBeforeUnixEpoch(SystemTime),
}

impl ChainConfig {
    /// A chain whose genesis is now, with the mainnet extra data and labels per unit.
    pub fn new(layer_duration: Duration, layers_per_epoch: u32) -> Self {
        ChainConfig {
            genesis: now_millis(),
            layer_duration,
            layers_per_epoch,
            genesis_extra_data: DEFAULT_GENESIS_EXTRA_DATA.to_string(),
            effective_genesis_layer: (2 * layers_per_epoch).saturating_sub(1),
            labels_per_unit: MAINNET_LABELS_PER_UNIT,
            hrp: "sm".to_string(),
            layer_size: 50,
        }
    }

    /// Moves genesis back so that `layer` starts now: tests can begin mid-chain.
    pub fn starting_at_layer(mut self, layer: u32) -> Self {
        self.genesis = now_millis() - self.layer_duration * layer;
        self
    }

    pub fn validate(&self) -> Result<(), ChainConfigError> {
        if self.layer_duration.is_zero() {
            return Err(ChainConfigError::ZeroLayerDuration);
        }
        if self.layers_per_epoch == 0 {
            return Err(ChainConfigError::ZeroLayersPerEpoch);
        }
        let n = self.genesis_extra_data.chars().count();
        if !(1..=255).contains(&n) {
            return Err(ChainConfigError::ExtraDataLength(n));
        }
        if self.genesis.duration_since(UNIX_EPOCH).is_err() {
            return Err(ChainConfigError::GenesisBeforeUnixEpoch(self.genesis));
        }
        Ok(())
    }

    /// Unix seconds of genesis; sub-second parts do not enter the golden ATX.
    pub fn genesis_unix_seconds(&self) -> u64 {
        self.genesis
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// BLAKE3(decimal unix seconds ‖ extra data), PROTOCOL §3.3.
    pub fn golden_atx(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(self.genesis_unix_seconds().to_string().as_bytes());
        h.update(self.genesis_extra_data.as_bytes());
        *h.finalize().as_bytes()
    }

    /// First 20 bytes of the golden ATX.
    pub fn genesis_id(&self) -> [u8; 20] {
        let mut id = [0u8; 20];
        id.copy_from_slice(&self.golden_atx()[..20]);
        id
    }
}

/// Now, cut to whole milliseconds so that genesis prints as a short RFC 3339 time that
/// clients parsing milliseconds read back exactly.
fn now_millis() -> SystemTime {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UNIX_EPOCH + Duration::from_millis(since.as_millis() as u64)
}

/// Reads the layer clock of a validated [`ChainConfig`].
#[derive(Debug, Clone)]
pub struct SimClock {
    genesis: SystemTime,
    layer_duration: Duration,
    layers_per_epoch: u32,
}

impl SimClock {
    /// The caller validated `config` (non-zero duration and epoch length).
    pub(crate) fn new(config: &ChainConfig) -> Self {
        SimClock {
            genesis: config.genesis,
            layer_duration: config.layer_duration,
            layers_per_epoch: config.layers_per_epoch,
        }
    }

    /// Layer at wall time `t`; 0 before genesis.
    pub fn layer_at(&self, t: SystemTime) -> u32 {
        let since = t.duration_since(self.genesis).unwrap_or_default();
        let layer = since.as_nanos() / self.layer_duration.as_nanos();
        u32::try_from(layer).unwrap_or(u32::MAX)
    }

    pub fn current_layer(&self) -> u32 {
        self.layer_at(SystemTime::now())
    }

    pub fn current_epoch(&self) -> u32 {
        self.epoch_of(self.current_layer())
    }

    pub fn epoch_of(&self, layer: u32) -> u32 {
        layer / self.layers_per_epoch
    }

    pub fn first_layer_of(&self, epoch: u32) -> u32 {
        epoch.saturating_mul(self.layers_per_epoch)
    }

    pub fn layer_start(&self, layer: u32) -> SystemTime {
        self.genesis + self.layer_duration * layer
    }

    pub fn layer_duration(&self) -> Duration {
        self.layer_duration
    }

    pub fn layers_per_epoch(&self) -> u32 {
        self.layers_per_epoch
    }

    /// Sleeps until `layer` has started (returns at once if it already has).
    pub async fn wait_for_layer(&self, layer: u32) {
        let start = self.layer_start(layer);
        if let Ok(left) = start.duration_since(SystemTime::now()) {
            tokio::time::sleep(left).await;
        }
    }
}

/// RFC 3339 UTC text as protobuf JSON writes a Timestamp: 0, 3, 6 or 9 fraction digits, `Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}{}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        fraction(d.subsec_nanos())
    )
}

/// Protobuf JSON Duration text: seconds with 0, 3, 6 or 9 fraction digits and an `s`.
pub fn proto_duration(d: Duration) -> String {
    format!("{}{}s", d.as_secs(), fraction(d.subsec_nanos()))
}

fn fraction(nanos: u32) -> String {
    if nanos == 0 {
        String::new()
    } else if nanos.is_multiple_of(1_000_000) {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    }
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_genesis_matches_protocol_vector() {
        let mut c = ChainConfig::new(Duration::from_secs(300), 4032);
        c.genesis = UNIX_EPOCH + Duration::from_secs(1_689_321_600);
        assert_eq!(
            hex::encode(c.golden_atx()),
            "9eebff023abb17ccb775c602daade8ed708f0a50d3149a42801184f5b74f2865"
        );
        assert_eq!(
            hex::encode(c.genesis_id()),
            "9eebff023abb17ccb775c602daade8ed708f0a50"
        );
        assert_eq!(c.effective_genesis_layer, 8063);
        assert_eq!(rfc3339(c.genesis), "2023-07-14T08:00:00Z");
    }

    #[test]
    fn layers_and_epochs_follow_the_compressed_clock() {
        let c = ChainConfig::new(Duration::from_millis(200), 10).starting_at_layer(25);
        c.validate().unwrap();
        let clock = SimClock::new(&c);
        let now = clock.current_layer();
        assert!((25..=26).contains(&now), "layer {now}");
        assert_eq!(clock.epoch_of(now), 2);
        assert_eq!(clock.layer_at(c.genesis + Duration::from_millis(399)), 1);
        assert_eq!(clock.layer_at(c.genesis - Duration::from_secs(5)), 0);
        assert_eq!(clock.first_layer_of(3), 30);
    }

    #[tokio::test]
    async fn wait_for_layer_returns_once_the_layer_started() {
        let c = ChainConfig::new(Duration::from_millis(50), 4);
        let clock = SimClock::new(&c);
        let target = clock.current_layer() + 2;
        clock.wait_for_layer(target).await;
        assert!(clock.current_layer() >= target);
    }

    #[test]
    fn bad_configs_name_the_culprit() {
        let mut c = ChainConfig::new(Duration::ZERO, 10);
        assert_eq!(c.validate(), Err(ChainConfigError::ZeroLayerDuration));
        c.layer_duration = Duration::from_secs(1);
        c.layers_per_epoch = 0;
        assert_eq!(c.validate(), Err(ChainConfigError::ZeroLayersPerEpoch));
        c.layers_per_epoch = 3;
        c.genesis_extra_data.clear();
        assert_eq!(c.validate(), Err(ChainConfigError::ExtraDataLength(0)));
    }

    #[test]
    fn time_texts_use_protobuf_json_shapes() {
        assert_eq!(proto_duration(Duration::from_secs(1)), "1s");
        assert_eq!(proto_duration(Duration::from_millis(200)), "0.200s");
        assert_eq!(
            proto_duration(Duration::from_micros(1_500_001)),
            "1.500001s"
        );
        let t = UNIX_EPOCH + Duration::new(951_782_400, 5_000_000); // 2000-02-29
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.005Z");
    }
}

//! Per-layer duties: the layer loop that starts, for every layer, the hare session
//! ([`hare`]), the proposal ([`proposal`]) and the block certification ([`certify`]) of every
//! identity, with the epoch data they share (beacon, weights) cached as go-spacemesh does.
//!
//! Every signature goes through the guard and every signed message is recorded before it is
//! published ([`publish`]), so a restart re-sends the very bytes sent before and never a second,
//! different message for a slot.

pub mod certify;
pub mod hare;
pub mod proposal;
pub mod publish;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use eligibility::hare::Committees;
use eligibility::VrfSecretKey;
use prometheus::{IntCounterVec, Opts, Registry};
use signing::{Guard, Identity};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::api::IdentityStates;
use crate::clock::LayerClock;
use crate::config::Config;
use crate::node::{NodeClient, NodeError};

pub use publish::Publisher;

/// Epochs of beacons and weights kept in the caches (go-spacemesh keeps the last few).
const EPOCHS_CACHED: usize = 4;

/// What the duties need from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct DutySettings {
    /// `hare3.enable`.
    pub hare_enabled: bool,
    /// `hare3.enable-layer` (inclusive) .. `hare3.disable-layer` (exclusive).
    pub hare_layers: (u32, u32),
    /// `hare3.preround-delay`.
    pub preround_delay: Duration,
    /// `hare3.round-duration`.
    pub round_duration: Duration,
    /// `hare3.iterations-limit`.
    pub iterations_limit: u8,
    /// Hare committee, its upgrade and the propose round's leaders.
    pub committees: Committees,
    /// `certificate.committee-size`.
    pub certify_committee: u32,
    /// `hare-eligibility.eligibility-confidence-param`: the first layers of an epoch draw the
    /// hare committee from the previous epoch's active set.
    pub confidence_param: u32,
    /// `main.publish-to-all`: send every signed message to every healthy node.
    pub publish_to_all: bool,
}

impl DutySettings {
    /// The duty settings of a checked config.
    pub fn from_config(config: &Config) -> Self {
        let h = &config.hare3;
        DutySettings {
            hare_enabled: h.enable,
            hare_layers: (h.enable_layer, h.disable_layer),
            preround_delay: h.preround_delay,
            round_duration: h.round_duration,
            iterations_limit: u8::try_from(h.iterations_limit).unwrap_or(u8::MAX),
            committees: Committees {
                committee: h.committee,
                upgrade: h.committee_upgrade.map(|u| (u.layer, u.size)),
                leaders: h.leaders,
            },
            certify_committee: config.certificate_committee_size,
            confidence_param: h.eligibility_confidence_param,
            publish_to_all: config.publish_to_all,
        }
    }
}

/// One identity with its VRF key (same seed, same public key).
pub(crate) struct Signer {
    pub(crate) index: usize,
    pub(crate) node_id: [u8; 32],
    pub(crate) vrf: VrfSecretKey,
}

/// Everything a duty task needs; shared by all tasks of all layers.
pub struct Duties {
    pub(crate) node: NodeClient,
    pub(crate) guard: Arc<Guard>,
    pub(crate) identities: Arc<Vec<Identity>>,
    pub(crate) signers: Vec<Signer>,
    pub(crate) clock: LayerClock,
    pub(crate) store: IdentityStates,
    pub(crate) settings: DutySettings,
    pub(crate) publisher: Publisher,
    pub(crate) cache: EpochCache,
    pub(crate) proposals: proposal::EpochEligibilities,
    pub(crate) metrics: DutyMetrics,
}

/// What became of the duties' signed messages: `smesher_duty_messages_total{duty, outcome}`
/// with duty `hare`, `proposal` or `certify` and outcome `published` or `publish_failed`.
#[derive(Debug, Clone)]
pub struct DutyMetrics {
    messages: IntCounterVec,
}

impl DutyMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let messages = IntCounterVec::new(
            Opts::new(
                "smesher_duty_messages_total",
                "Signed messages of the per-layer duties, by duty and outcome.",
            ),
            &["duty", "outcome"],
        )?;
        registry.register(Box::new(messages.clone()))?;
        Ok(DutyMetrics { messages })
    }

    /// Counts one message of `duty` by whether its publish succeeded.
    pub(crate) fn published(&self, duty: &str, ok: bool) {
        let outcome = if ok { "published" } else { "publish_failed" };
        self.messages.with_label_values(&[duty, outcome]).inc();
    }

    /// The count for one duty and outcome.
    pub fn value(&self, duty: &str, outcome: &str) -> u64 {
        self.messages.with_label_values(&[duty, outcome]).get()
    }
}

impl std::fmt::Debug for Duties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Duties")
            .field("identities", &self.signers.len())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Duties {
    pub fn new(
        node: NodeClient,
        guard: Arc<Guard>,
        identities: Arc<Vec<Identity>>,
        clock: LayerClock,
        store: IdentityStates,
        settings: DutySettings,
        metrics: DutyMetrics,
    ) -> Arc<Duties> {
        let signers = identities
            .iter()
            .enumerate()
            .map(|(index, id)| Signer {
                index,
                node_id: *id.node_id().as_bytes(),
                vrf: VrfSecretKey::from_seed(&id.vrf_seed()),
            })
            .collect();
        let publisher = Publisher::new(node.clone(), settings.publish_to_all);
        Arc::new(Duties {
            node,
            guard,
            identities,
            signers,
            clock,
            store,
            settings,
            publisher,
            cache: EpochCache::default(),
            proposals: proposal::EpochEligibilities::default(),
            metrics,
        })
    }

    /// The identity of a signer.
    pub(crate) fn identity(&self, signer: &Signer) -> &Identity {
        &self.identities[signer.index]
    }

    /// The epoch whose active set draws the hare committee of `layer` (§1.2.7): the layer's
    /// epoch, or the one before during its first `confidence_param` layers.
    pub fn weight_epoch(&self, layer: u32) -> u32 {
        let epoch = self.clock.epoch_of(layer);
        let offset = layer - self.clock.first_layer(epoch);
        if epoch > 0 && offset < self.settings.confidence_param {
            epoch - 1
        } else {
            epoch
        }
    }

    /// Runs the layer loop until `stop` turns true: from the current layer on, each layer's
    /// duties start at the layer's start time. Rounds whose time has already passed when a
    /// layer's session starts (after a restart) are skipped, never sent late.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tasks = JoinSet::new();
        let mut layer = self.clock.current_layer();
        tracing::info!(
            first_layer = layer,
            identities = self.signers.len(),
            "per-layer duties started"
        );
        loop {
            if !sleep_until(self.clock.layer_start(layer), &mut stop).await {
                break;
            }
            while tasks.try_join_next().is_some() {}
            let duties = self.clone();
            tasks.spawn(async move { duties.run_layer(layer).await });
            // After a stall (suspended process, overloaded machine) go on with the current
            // layer rather than replaying old ones.
            layer = (layer + 1).max(self.clock.current_layer());
        }
        tasks.shutdown().await;
        tracing::info!("per-layer duties stopped");
    }

    /// Hare (with certification) and proposals of one layer, concurrently.
    pub async fn run_layer(self: Arc<Self>, layer: u32) {
        let hare = hare::run_layer(self.clone(), layer);
        let proposals = proposal::run_layer(self.clone(), layer);
        async {
            tokio::join!(hare, proposals);
        }
        .instrument(tracing::info_span!("layer", layer))
        .await
    }
}

/// Sleeps until `at` (wall clock); false when `stop` turned true first.
pub(crate) async fn sleep_until(at: SystemTime, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    let wait = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let stopped = tokio::select! {
        _ = tokio::time::sleep(wait) => None,
        _ = stop.wait_for(|s| *s) => Some(()),
    };
    stopped.is_none() && !*stop.borrow()
}

/// Beacons and weights per epoch, fetched once and kept for the last few epochs (errors are
/// not cached, so the next layer asks again).
#[derive(Debug, Default)]
pub struct EpochCache {
    beacons: Mutex<BTreeMap<u32, [u8; 4]>>,
    totals: Mutex<BTreeMap<u32, u64>>,
    miners: Mutex<BTreeMap<u32, HashMap<[u8; 32], u64>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn keep_last<V>(map: &mut BTreeMap<u32, V>) {
    while map.len() > EPOCHS_CACHED {
        map.pop_first();
    }
}

impl EpochCache {
    /// `GET /beacon/{epoch}`, cached.
    pub async fn beacon(&self, node: &NodeClient, epoch: u32) -> Result<[u8; 4], NodeError> {
        if let Some(b) = lock(&self.beacons).get(&epoch) {
            return Ok(*b);
        }
        let b = node.beacon(epoch).await?;
        let mut map = lock(&self.beacons);
        map.insert(epoch, b);
        keep_last(&mut map);
        Ok(b)
    }

    /// `GET /weights/total/{epoch}`, cached.
    pub async fn total_weight(&self, node: &NodeClient, epoch: u32) -> Result<u64, NodeError> {
        if let Some(w) = lock(&self.totals).get(&epoch) {
            return Ok(*w);
        }
        let w = node.total_weight(epoch).await?;
        let mut map = lock(&self.totals);
        map.insert(epoch, w);
        keep_last(&mut map);
        Ok(w)
    }

    /// `GET /weights/miner/{id}/{epoch}`, cached.
    pub async fn miner_weight(
        &self,
        node: &NodeClient,
        id: &[u8; 32],
        epoch: u32,
    ) -> Result<u64, NodeError> {
        if let Some(w) = lock(&self.miners).get(&epoch).and_then(|m| m.get(id)) {
            return Ok(*w);
        }
        let w = node.miner_weight(id, epoch).await?;
        let mut map = lock(&self.miners);
        map.entry(epoch).or_default().insert(*id, w);
        keep_last(&mut map);
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_config_gives_mainnet_committees_and_timing() {
        let s = DutySettings::from_config(&Config::mainnet());
        assert_eq!(s.committees, Committees::MAINNET);
        assert_eq!(s.certify_committee, eligibility::hare::CERTIFY_COMMITTEE);
        assert_eq!(s.preround_delay, Duration::from_secs(25));
        assert_eq!(s.round_duration, Duration::from_secs(12));
        assert_eq!(s.iterations_limit, 4);
        assert_eq!(s.confidence_param, 200);
        assert!(!s.publish_to_all);
    }

    #[test]
    fn cache_keeps_the_last_epochs_only() {
        let mut map: BTreeMap<u32, u8> = (0..10).map(|e| (e, 0)).collect();
        keep_last(&mut map);
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), vec![6, 7, 8, 9]);
    }

    #[tokio::test]
    async fn sleep_until_returns_false_once_stopped() {
        let (tx, mut rx) = watch::channel(false);
        let far = SystemTime::now() + Duration::from_secs(3600);
        let handle = tokio::spawn(async move { sleep_until(far, &mut rx).await });
        tx.send(true).unwrap();
        assert!(!handle.await.unwrap());
        let (_tx, mut rx) = watch::channel(false);
        assert!(sleep_until(SystemTime::now(), &mut rx).await);
    }
}

//! The shared in-memory chain every simulated node answers from: weights, beacons, ATXs, hare and proposal templates, blocks, gossip.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::clock::{ChainConfig, ChainConfigError, SimClock};
use crate::model::{BallotJson, EpochDataJson, PartialProposalJson, VoteJson, VotesJson, B64};

/// A 32-byte smeshing identity (ed25519 public key).
pub type NodeId = [u8; 32];

/// Hare round numbers within an iteration (PROTOCOL §2.3).
pub const ROUND_PREROUND: u8 = 0;
pub const ROUND_PROPOSE: u8 = 3;
pub const ROUND_COMMIT: u8 = 6;
pub const ROUND_NOTIFY: u8 = 7;

/// An ATX as the node-service reports it (PROTOCOL §1.2.3 ActivationTx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Atx {
    pub id: [u8; 32],
    pub smesher_id: NodeId,
    pub publish_epoch: u32,
    pub num_units: u32,
    pub tick_count: u64,
    pub weight: u64,
    pub sequence: u64,
}

/// How a blob reached the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishKind {
    /// `POST /publish/{protocol}`.
    Gossip,
    /// `POST /activation/publish`; whether a PoET proof came with the ATX.
    Atx { with_poet_proof: bool },
}

/// One blob published through one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Index of the receiving node (see `Node::index`).
    pub node: usize,
    /// Gossip topic after the node's rewrite (`hare3` → `/h/3.0`); `ax1` for ATX publishes.
    pub protocol: String,
    pub bytes: Bytes,
    pub at: SystemTime,
    pub kind: PublishKind,
}

/// What a node answers for one hare round (PROTOCOL §1.2.3 HareRoundTemplate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HareTemplate {
    /// Preround and propose rounds; `None` (JSON `null`) for commit and notify.
    pub proposals: Option<Vec<[u8; 20]>>,
    /// Commit and notify rounds: the hash of the proposal set.
    pub reference: Option<[u8; 32]>,
}

/// Handle to one simulated network; clones share the same chain.
#[derive(Debug, Clone)]
pub struct Network {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: ChainConfig,
    clock: SimClock,
    next_node: AtomicUsize,
    state: Mutex<State>,
    /// Woken on every publish, for tests that wait for gossip instead of sleeping.
    published_changed: tokio::sync::Notify,
    /// Checks every hare message, proposal and certificate received.
    checker: crate::checks::Checker,
    /// Checks every ATX received.
    atx_checker: crate::atx_checks::AtxChecker,
}

#[derive(Debug, Default)]
struct State {
    /// Weight of an identity in every epoch unless `epoch_weights` says otherwise.
    weights: HashMap<NodeId, u64>,
    epoch_weights: HashMap<(u32, NodeId), u64>,
    atxs: Vec<Atx>,
    slots: HashMap<(NodeId, u32), (u64, u32)>,
    published: Vec<Published>,
    /// Mixed into hare and proposal templates; changing it makes a node answer differently.
    template_salt: u64,
}

/// Domain-separated BLAKE3 so that every derived value differs even for equal inputs.
fn derive(tag: &str, genesis: &[u8; 20], parts: &[&[u8]]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"simnet/");
    h.update(tag.as_bytes());
    h.update(genesis);
    for p in parts {
        h.update(p);
    }
    *h.finalize().as_bytes()
}

fn prefix20(b: [u8; 32]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(&b[..20]);
    out
}

impl Network {
    pub fn new(config: ChainConfig) -> Result<Network, ChainConfigError> {
        config.validate()?;
        Ok(Network {
            shared: Arc::new(Shared {
                clock: SimClock::new(&config),
                config,
                next_node: AtomicUsize::new(0),
                state: Mutex::new(State::default()),
                published_changed: tokio::sync::Notify::new(),
                checker: crate::checks::Checker::default(),
                atx_checker: crate::atx_checks::AtxChecker::default(),
            }),
        })
    }

    pub fn config(&self) -> &ChainConfig {
        &self.shared.config
    }

    pub fn clock(&self) -> &SimClock {
        &self.shared.clock
    }

    pub fn golden_atx(&self) -> [u8; 32] {
        self.shared.config.golden_atx()
    }

    pub fn genesis_id(&self) -> [u8; 20] {
        self.shared.config.genesis_id()
    }

    pub(crate) fn next_node_index(&self) -> usize {
        self.shared.next_node.fetch_add(1, Ordering::Relaxed)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn derive(&self, tag: &str, parts: &[&[u8]]) -> [u8; 32] {
        derive(tag, &self.genesis_id(), parts)
    }

    // ---- weights -------------------------------------------------------------------------

    /// Gives `id` this weight in every epoch (unless an epoch has its own value).
    pub fn set_weight(&self, id: NodeId, weight: u64) {
        self.state().weights.insert(id, weight);
    }

    /// Gives `id` this weight in `epoch` only.
    pub fn set_epoch_weight(&self, id: NodeId, epoch: u32, weight: u64) {
        self.state().epoch_weights.insert((epoch, id), weight);
    }

    /// Weight of `id` in the active set of `epoch`; 0 for an unknown identity.
    pub fn miner_weight(&self, epoch: u32, id: &NodeId) -> u64 {
        let st = self.state();
        Self::weight_in(&st, epoch, id)
    }

    fn weight_in(st: &State, epoch: u32, id: &NodeId) -> u64 {
        st.epoch_weights
            .get(&(epoch, *id))
            .or_else(|| st.weights.get(id))
            .copied()
            .unwrap_or(0)
    }

    /// Identities with a non-zero weight in `epoch`, sorted.
    pub fn active_set(&self, epoch: u32) -> Vec<NodeId> {
        let st = self.state();
        let mut ids: Vec<NodeId> = st
            .weights
            .keys()
            .chain(
                st.epoch_weights
                    .keys()
                    .filter(|(e, _)| *e == epoch)
                    .map(|(_, id)| id),
            )
            .filter(|id| Self::weight_in(&st, epoch, id) > 0)
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    pub fn total_weight(&self, epoch: u32) -> u64 {
        self.active_set(epoch)
            .iter()
            .map(|id| self.miner_weight(epoch, id))
            .fold(0u64, u64::saturating_add)
    }

    /// The beacon of `epoch`: the same 4 bytes on every node and every call.
    pub fn beacon(&self, epoch: u32) -> [u8; 4] {
        let h = self.derive("beacon", &[&epoch.to_le_bytes()]);
        [h[0], h[1], h[2], h[3]]
    }

    // ---- ATXs ----------------------------------------------------------------------------

    pub fn insert_atx(&self, atx: Atx) {
        let mut st = self.state();
        st.atxs.retain(|a| a.id != atx.id);
        st.atxs.push(atx);
    }

    pub fn atx(&self, id: &[u8; 32]) -> Option<Atx> {
        self.state().atxs.iter().find(|a| &a.id == id).cloned()
    }

    /// The smesher's ATX with the highest publish epoch (then the highest sequence).
    pub fn last_atx(&self, smesher: &NodeId) -> Option<Atx> {
        self.state()
            .atxs
            .iter()
            .filter(|a| &a.smesher_id == smesher)
            .max_by_key(|a| (a.publish_epoch, a.sequence))
            .cloned()
    }

    /// The highest-tick ATX published in or before `publish_epoch`, else the golden ATX.
    pub fn positioning_atx(&self, publish_epoch: u32) -> [u8; 32] {
        self.state()
            .atxs
            .iter()
            .filter(|a| a.publish_epoch <= publish_epoch)
            .max_by_key(|a| (a.tick_count, a.publish_epoch))
            .map(|a| a.id)
            .unwrap_or_else(|| self.golden_atx())
    }

    // ---- eligibility ---------------------------------------------------------------------

    /// The ATX VRF nonce of `id`: stable per identity, as a real ATX nonce is.
    pub fn vrf_nonce(&self, id: &NodeId) -> u64 {
        let h = self.derive("vrf-nonce", &[id]);
        u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
    }

    /// Overrides the (nonce, slots) answer for one identity and epoch.
    pub fn set_eligibility_slots(&self, id: NodeId, epoch: u32, nonce: u64, slots: u32) {
        self.state().slots.insert((id, epoch), (nonce, slots));
    }

    /// (VRF nonce, proposal slots) of `id` in `epoch`: go-spacemesh's
    /// weight · layer size · layers per epoch / total weight, at least 1 when active, 0 when not.
    pub fn eligibility_slots(&self, id: &NodeId, epoch: u32) -> (u64, u32) {
        if let Some(v) = self.state().slots.get(&(*id, epoch)) {
            return *v;
        }
        let nonce = self.vrf_nonce(id);
        let weight = self.miner_weight(epoch, id);
        if weight == 0 {
            return (nonce, 0);
        }
        let total = u128::from(self.total_weight(epoch).max(1));
        let c = &self.shared.config;
        let n =
            u128::from(weight) * u128::from(c.layer_size) * u128::from(c.layers_per_epoch) / total;
        (nonce, u32::try_from(n).unwrap_or(u32::MAX).max(1))
    }

    // ---- hare ----------------------------------------------------------------------------

    /// Changes what every node answers for hare round templates and proposal templates from
    /// now on (as a node that switched to another view would), to test that a restarted
    /// service never signs a second, different message for a slot.
    pub fn set_template_salt(&self, salt: u64) {
        self.state().template_salt = salt;
    }

    /// Proposal IDs the hare sees in `layer`: one per active identity, between 1 and 50.
    pub fn hare_proposals(&self, layer: u32) -> Vec<[u8; 20]> {
        let epoch = self.clock().epoch_of(layer);
        let n = self.active_set(epoch).len().clamp(1, 50) as u32;
        let salt = self.state().template_salt;
        let salt = if salt == 0 {
            Vec::new()
        } else {
            salt.to_le_bytes().to_vec()
        };
        (0..n)
            .map(|i| {
                prefix20(self.derive("proposal", &[&layer.to_le_bytes(), &i.to_le_bytes(), &salt]))
            })
            .collect()
    }

    /// The node's template for (layer, iter, round); `None` (204) for rounds that carry no
    /// message and for layers that have not started.
    pub fn hare_round_template(&self, layer: u32, iter: u8, round: u8) -> Option<HareTemplate> {
        if layer > self.clock().current_layer() {
            return None;
        }
        match round {
            ROUND_PREROUND if iter == 0 => Some(HareTemplate {
                proposals: Some(self.hare_proposals(layer)),
                reference: None,
            }),
            ROUND_PROPOSE => Some(HareTemplate {
                proposals: Some(self.hare_proposals(layer)),
                reference: None,
            }),
            ROUND_COMMIT | ROUND_NOTIFY => {
                let mut h = blake3::Hasher::new();
                for p in self.hare_proposals(layer) {
                    h.update(&p);
                }
                Some(HareTemplate {
                    proposals: None,
                    reference: Some(*h.finalize().as_bytes()),
                })
            }
            _ => None,
        }
    }

    // ---- blocks and proposals ------------------------------------------------------------

    /// Every layer older than the current one has a block.
    pub fn block_id(&self, layer: u32) -> Option<[u8; 20]> {
        (layer < self.clock().current_layer())
            .then(|| prefix20(self.derive("block", &[&layer.to_le_bytes()])))
    }

    /// The unsigned proposal the node builds for `id` in `layer`; `None` (204) when the
    /// identity has no weight in the layer's epoch. The ballot refers to the identity's
    /// first ballot of the epoch once one was gossiped (a `pp1` blob containing its ID),
    /// otherwise it carries the epoch data.
    pub fn proposal_template(&self, layer: u32, id: &NodeId) -> Option<PartialProposalJson> {
        let clock = self.clock();
        let epoch = clock.epoch_of(layer);
        if self.miner_weight(epoch, id) == 0 {
            return None;
        }
        let (nonce, slots) = self.eligibility_slots(id, epoch);
        let atx_id = self
            .state()
            .atxs
            .iter()
            .filter(|a| &a.smesher_id == id && a.publish_epoch < epoch)
            .max_by_key(|a| a.publish_epoch)
            .map(|a| a.id)
            .unwrap_or_else(|| self.derive("atx", &[id, &epoch.to_le_bytes()]));
        // The identity's first ballot of the epoch: a gossiped proposal whose ballot carries
        // the epoch data.
        let ref_ballot = self
            .state()
            .published
            .iter()
            .filter(|p| p.protocol == "pp1")
            .filter_map(|p| codec::from_slice::<codec::Proposal>(&p.bytes).ok())
            .map(|p| p.inner.ballot)
            .find(|b| {
                b.smesher_id.0 == *id
                    && clock.epoch_of(b.inner.layer) == epoch
                    && b.inner.epoch_data.is_some()
            })
            .map(|b| b.id().0);
        let epoch_data = ref_ballot.is_none().then(|| {
            let mut h = blake3::Hasher::new();
            for a in self.active_set(epoch) {
                h.update(&a);
            }
            EpochDataJson {
                active_set_hash: B64(h.finalize().as_bytes().to_vec()),
                beacon: self.beacon(epoch).into(),
                eligibility_count: slots,
            }
        });
        let prev = layer.saturating_sub(1);
        let prev_block = self.block_id(prev);
        Some(PartialProposalJson {
            ballot: BallotJson {
                atx_id: atx_id.into(),
                epoch_data,
                opinion_hash: self.derive("opinion", &[&prev.to_le_bytes()]).into(),
                ref_ballot_id: ref_ballot.map(Into::into),
                votes: VotesJson {
                    abstain: Vec::new(),
                    against: Vec::new(),
                    base: prev_block.unwrap_or([0; 20]).into(),
                    support: prev_block
                        .map(|b| VoteJson {
                            height: 0,
                            id: b.into(),
                            layer_id: prev,
                        })
                        .into_iter()
                        .collect(),
                },
            },
            mesh_hash: {
                let salt = self.state().template_salt;
                let salt = if salt == 0 {
                    Vec::new()
                } else {
                    salt.to_le_bytes().to_vec()
                };
                self.derive("mesh", &[&prev.to_le_bytes(), &salt]).into()
            },
            tx_ids: Vec::new(),
            vrf_nonce: nonce,
        })
    }

    // ---- gossip --------------------------------------------------------------------------

    pub(crate) fn record_publish(
        &self,
        node: usize,
        protocol: String,
        bytes: Bytes,
        kind: PublishKind,
    ) {
        self.shared.checker.check(self, &protocol, &bytes);
        if protocol == "ax1" {
            self.shared.atx_checker.check(self, &bytes);
        }
        self.state().published.push(Published {
            node,
            protocol,
            bytes,
            at: SystemTime::now(),
            kind,
        });
        self.shared.published_changed.notify_waiters();
    }

    /// Waits until at least `count` blobs were published on `protocol` and returns them, or
    /// returns what there is once `timeout` has passed (check the length).
    pub async fn wait_published(
        &self,
        protocol: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Published> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.shared.published_changed.notified();
            let now = self.published_on(protocol);
            if now.len() >= count {
                return now;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.published_on(protocol);
            }
        }
    }

    /// Sets the protocol parameters the message checks use (they must match the service's).
    pub fn set_check_settings(&self, settings: crate::checks::CheckSettings) {
        self.shared.checker.set_settings(settings);
    }

    /// Every failed check so far: bad encoding, signature, VRF proof or count, equivocation.
    pub fn violations(&self) -> Vec<crate::checks::Violation> {
        self.shared.checker.violations()
    }

    /// Records a PoET proof a fake PoET served (its reference, statement and leaf count), so
    /// ATXs naming it can be checked.
    pub fn record_poet_proof(&self, reference: [u8; 32], statement: [u8; 32], leaves: u64) {
        self.shared
            .atx_checker
            .record_proof(reference, statement, leaves);
    }

    /// Verifies the PoST of every ATX published from now on (see `post_checks`).
    pub fn verify_post(&self, checker: std::sync::Arc<crate::post_checks::PostChecker>) {
        self.shared.atx_checker.verify_post(checker);
    }

    /// Every published ATX that failed the checks (including a second ATX of an identity in
    /// one epoch).
    pub fn atx_violations(&self) -> Vec<crate::atx_checks::AtxViolation> {
        self.shared.atx_checker.violations()
    }

    /// Every ATX that passed the checks, one per identity and epoch.
    pub fn accepted_atxs(&self) -> Vec<crate::atx_checks::AcceptedAtx> {
        self.shared.atx_checker.accepted()
    }

    /// Every distinct hare message, proposal and certificate that passed the checks.
    pub fn accepted(&self) -> Vec<crate::checks::Accepted> {
        self.shared.checker.accepted()
    }

    /// Everything published through any node, oldest first.
    pub fn published(&self) -> Vec<Published> {
        self.state().published.clone()
    }

    /// Everything published on one topic (`ax1`, `pp1`, `/h/3.0`, `bc1`, …).
    pub fn published_on(&self, protocol: &str) -> Vec<Published> {
        self.state()
            .published
            .iter()
            .filter(|p| p.protocol == protocol)
            .cloned()
            .collect()
    }

    pub(crate) fn published_by_node(&self, node: usize) -> Vec<Published> {
        self.state()
            .published
            .iter()
            .filter(|p| p.node == node)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(layer: u32) -> Network {
        Network::new(ChainConfig::new(Duration::from_millis(500), 10).starting_at_layer(layer))
            .unwrap()
    }

    #[test]
    fn weights_default_to_zero_and_sum_per_epoch() {
        let n = net(0);
        n.set_weight([1; 32], 10);
        n.set_weight([2; 32], 5);
        n.set_epoch_weight([2; 32], 3, 0);
        n.set_epoch_weight([3; 32], 3, 7);
        assert_eq!(n.miner_weight(1, &[9; 32]), 0);
        assert_eq!(n.total_weight(1), 15);
        assert_eq!(n.total_weight(3), 17);
        assert_eq!(n.active_set(3), vec![[1; 32], [3; 32]]);
    }

    #[test]
    fn beacons_are_deterministic_per_epoch_and_network() {
        let a = net(0);
        let b = Network::new(a.config().clone()).unwrap();
        assert_eq!(a.beacon(4), b.beacon(4));
        assert_ne!(a.beacon(4), a.beacon(5));
    }

    #[test]
    fn last_and_positioning_atx_pick_the_right_one() {
        let n = net(0);
        let atx = |id: u8, smesher: u8, epoch: u32, ticks: u64| Atx {
            id: [id; 32],
            smesher_id: [smesher; 32],
            publish_epoch: epoch,
            num_units: 4,
            tick_count: ticks,
            weight: 4 * ticks,
            sequence: u64::from(epoch),
        };
        assert_eq!(n.positioning_atx(5), n.golden_atx());
        n.insert_atx(atx(1, 1, 1, 100));
        n.insert_atx(atx(2, 1, 3, 50));
        n.insert_atx(atx(3, 2, 4, 500));
        assert_eq!(n.last_atx(&[1; 32]).unwrap().id, [2; 32]);
        assert!(n.last_atx(&[7; 32]).is_none());
        assert_eq!(n.positioning_atx(3), [1; 32]);
        assert_eq!(n.positioning_atx(4), [3; 32]);
        assert_eq!(n.positioning_atx(0), n.golden_atx());
    }

    #[test]
    fn slots_scale_with_weight_and_are_zero_when_inactive() {
        let n = net(0);
        n.set_weight([1; 32], 3);
        n.set_weight([2; 32], 1);
        let (nonce, slots) = n.eligibility_slots(&[1; 32], 2);
        assert_eq!(slots, 3 * 50 * 10 / 4);
        assert_eq!(nonce, n.vrf_nonce(&[1; 32]));
        assert_eq!(n.eligibility_slots(&[5; 32], 2).1, 0);
        n.set_eligibility_slots([5; 32], 2, 9, 1);
        assert_eq!(n.eligibility_slots(&[5; 32], 2), (9, 1));
    }

    #[test]
    fn hare_templates_follow_message_rounds() {
        let n = net(20);
        let now = n.clock().current_layer();
        let pre = n.hare_round_template(now, 0, ROUND_PREROUND).unwrap();
        assert_eq!(pre.proposals.as_ref().unwrap().len(), 1);
        assert!(pre.reference.is_none());
        assert!(n.hare_round_template(now, 1, ROUND_PREROUND).is_none());
        assert!(n.hare_round_template(now, 0, 1).is_none());
        assert!(n.hare_round_template(now, 2, ROUND_PROPOSE).is_some());
        let commit = n.hare_round_template(now, 0, ROUND_COMMIT).unwrap();
        assert!(commit.proposals.is_none() && commit.reference.is_some());
        assert!(n.hare_round_template(now + 5, 0, ROUND_PROPOSE).is_none());
        assert_eq!(
            n.hare_round_template(now, 0, ROUND_PROPOSE),
            n.hare_round_template(now, 0, ROUND_PROPOSE)
        );
    }

    #[test]
    fn blocks_exist_for_past_layers_only() {
        let n = net(20);
        let now = n.clock().current_layer();
        assert!(n.block_id(now - 1).is_some());
        assert!(n.block_id(now + 1).is_none());
    }

    #[test]
    fn proposal_template_switches_to_ref_ballot_after_first_pp1() {
        let n = net(20);
        let id = [4; 32];
        let layer = n.clock().current_layer();
        assert!(n.proposal_template(layer, &id).is_none());
        n.set_weight(id, 8);
        let first = n.proposal_template(layer, &id).unwrap();
        let data = first.ballot.epoch_data.unwrap();
        assert_eq!(data.beacon.0, n.beacon(2));
        assert_eq!(data.eligibility_count, 500);
        assert!(first.ballot.ref_ballot_id.is_none());
        let mut first_ballot = codec::Ballot::default();
        first_ballot.inner.layer = layer;
        first_ballot.inner.epoch_data = Some(codec::EpochData::default());
        first_ballot.smesher_id = codec::NodeId(id);
        let mut proposal = codec::Proposal::default();
        proposal.inner.ballot = first_ballot.clone();
        let blob = codec::to_vec(&proposal);
        n.record_publish(0, "pp1".into(), Bytes::from(blob), PublishKind::Gossip);
        let next = n.proposal_template(layer, &id).unwrap();
        assert!(next.ballot.epoch_data.is_none());
        assert_eq!(
            next.ballot.ref_ballot_id.unwrap().0,
            first_ballot.id().0.to_vec()
        );
        assert_eq!(n.violations().len(), 1, "the unsigned proposal is flagged");
    }
}

#[cfg(test)]
mod wait_tests {
    use super::*;

    #[tokio::test]
    async fn wait_published_wakes_on_gossip_and_gives_up_at_the_deadline() {
        let n = Network::new(ChainConfig::new(Duration::from_millis(100), 4)).unwrap();
        let m = n.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            m.record_publish(
                1,
                "bc1".into(),
                Bytes::from_static(b"a"),
                PublishKind::Gossip,
            );
            m.record_publish(
                1,
                "pp1".into(),
                Bytes::from_static(b"b"),
                PublishKind::Gossip,
            );
            m.record_publish(
                1,
                "bc1".into(),
                Bytes::from_static(b"c"),
                PublishKind::Gossip,
            );
        });
        let got = n.wait_published("bc1", 2, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 2);
        assert_eq!(&got[1].bytes[..], b"c");
        let t = tokio::time::Instant::now();
        assert_eq!(
            n.wait_published("bc1", 3, Duration::from_millis(50))
                .await
                .len(),
            2
        );
        assert!(t.elapsed() >= Duration::from_millis(50));
    }
}

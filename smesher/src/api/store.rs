//! The identity-state store: what each identity is doing (PROTOCOL.md §5.2), written by the
//! duties as typed events and read by `SmeshingIdentitiesService`. Bounded per identity.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// States kept per identity; the oldest are dropped first.
pub const DEFAULT_STATES_PER_IDENTITY: usize = 4096;
/// Epochs of eligibilities kept per identity.
pub const DEFAULT_EPOCHS_KEPT: usize = 4;
/// Published proposals kept per identity.
pub const DEFAULT_PROPOSALS_PER_IDENTITY: usize = 1024;
/// The most states one `States` call returns (also what `limit = 0` means).
pub const MAX_STATES_PAGE: usize = 10_000;

/// A 32-byte node ID (the identity's public key).
pub type SmesherId = [u8; 32];

/// One PoET registration of `poetRegistered`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoetRegistration {
    pub challenge_hash: Vec<u8>,
    pub address: String,
    pub round_id: String,
    pub round_end: SystemTime,
}

/// A state and its details; each variant is one `IdentityState` and one `metadata` oneof case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateDetail {
    WaitForAtxSynced,
    Retrying {
        message: String,
    },
    WaitingForPoetRegistrationWindow,
    PoetChallengeReady,
    PoetRegistered {
        registrations: Vec<PoetRegistration>,
    },
    WaitForPoetRoundEnd {
        round_end: SystemTime,
        publish_epoch_end: SystemTime,
    },
    PoetProofReceived {
        poet_url: String,
    },
    GeneratingPostProof,
    PostProofReady,
    AtxReady,
    AtxBroadcasted {
        atx_id: [u8; 32],
    },
    ProposalBuildFailed {
        message: String,
        layer: u32,
    },
    ProposalPublishFailed {
        message: String,
        proposal: Vec<u8>,
        layer: u32,
    },
    ProposalPublished {
        proposal: Vec<u8>,
        layer: u32,
    },
    /// `(layer, count)` pairs.
    Eligible {
        layers: Vec<(u32, u32)>,
    },
}

impl StateDetail {
    /// The `IdentityState` enum number of this state.
    pub fn state_number(&self) -> i32 {
        match self {
            StateDetail::WaitForAtxSynced => 1,
            StateDetail::Retrying { .. } => 2,
            StateDetail::WaitingForPoetRegistrationWindow => 3,
            StateDetail::PoetChallengeReady => 4,
            StateDetail::PoetRegistered { .. } => 5,
            StateDetail::WaitForPoetRoundEnd { .. } => 6,
            StateDetail::PoetProofReceived { .. } => 7,
            StateDetail::GeneratingPostProof => 8,
            StateDetail::PostProofReady => 9,
            StateDetail::AtxReady => 10,
            StateDetail::AtxBroadcasted { .. } => 11,
            StateDetail::ProposalBuildFailed { .. } => 12,
            StateDetail::ProposalPublishFailed { .. } => 13,
            StateDetail::ProposalPublished { .. } => 14,
            StateDetail::Eligible { .. } => 15,
        }
    }
}

/// One recorded state of one identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    pub smesher: SmesherId,
    /// The epoch the ATX being built will be published in, when known.
    pub publish_epoch: Option<u32>,
    pub time: SystemTime,
    pub detail: StateDetail,
}

/// Oldest or newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Ascending,
    Descending,
}

/// A `States` query: empty filters match everything; `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Default)]
pub struct StatesQuery {
    pub states: Vec<i32>,
    pub smeshers: Vec<Vec<u8>>,
    pub from: Option<SystemTime>,
    pub to: Option<SystemTime>,
    /// 0 = `MAX_STATES_PAGE`.
    pub limit: usize,
    pub order: Order,
}

/// How much the store keeps.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub states_per_identity: usize,
    pub epochs: usize,
    pub proposals_per_identity: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            states_per_identity: DEFAULT_STATES_PER_IDENTITY,
            epochs: DEFAULT_EPOCHS_KEPT,
            proposals_per_identity: DEFAULT_PROPOSALS_PER_IDENTITY,
        }
    }
}

/// The store. Cheap to clone; all clones share the same data.
#[derive(Debug, Clone, Default)]
pub struct IdentityStates {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    retention: Retention,
    /// Insertion counter: the tie-break between equal times, so pages are stable.
    seq: u64,
    states: HashMap<SmesherId, VecDeque<(u64, StateRecord)>>,
    /// identity → epoch → (layer, count).
    eligibilities: HashMap<SmesherId, BTreeMap<u32, Vec<(u32, u32)>>>,
    /// identity → (layer, proposal bytes), oldest first.
    proposals: HashMap<SmesherId, VecDeque<(u32, Vec<u8>)>>,
}

impl IdentityStates {
    pub fn new(retention: Retention) -> Self {
        IdentityStates {
            inner: Arc::new(Mutex::new(Inner {
                retention,
                ..Inner::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a single push or insert, so a panic elsewhere cannot leave it half done.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a state; the oldest state of that identity goes when it has too many.
    pub fn record(&self, record: StateRecord) {
        let mut inner = self.lock();
        inner.seq += 1;
        let seq = inner.seq;
        let keep = inner.retention.states_per_identity.max(1);
        let list = inner.states.entry(record.smesher).or_default();
        list.push_back((seq, record));
        while list.len() > keep {
            list.pop_front();
        }
    }

    /// Records `detail` for `smesher` at `time`.
    pub fn record_now(
        &self,
        smesher: SmesherId,
        publish_epoch: Option<u32>,
        time: SystemTime,
        detail: StateDetail,
    ) {
        self.record(StateRecord {
            smesher,
            publish_epoch,
            time,
            detail,
        });
    }

    /// The states matching `query`, ordered by time (ties in the order they were recorded).
    pub fn states(&self, query: &StatesQuery) -> Vec<StateRecord> {
        let inner = self.lock();
        let mut hits: Vec<&(u64, StateRecord)> = inner
            .states
            .iter()
            .filter(|(id, _)| {
                query.smeshers.is_empty() || query.smeshers.iter().any(|s| s == &id[..])
            })
            .flat_map(|(_, list)| list.iter())
            .filter(|(_, r)| {
                (query.states.is_empty() || query.states.contains(&r.detail.state_number()))
                    && query.from.is_none_or(|from| r.time >= from)
                    && query.to.is_none_or(|to| r.time < to)
            })
            .collect();
        hits.sort_by_key(|(seq, r)| (r.time, *seq));
        if query.order == Order::Descending {
            hits.reverse();
        }
        let limit = match query.limit {
            0 => MAX_STATES_PAGE,
            n => n.min(MAX_STATES_PAGE),
        };
        hits.into_iter()
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Replaces the eligibilities of `smesher` in `epoch` (`(layer, count)` pairs).
    pub fn set_eligibilities(&self, smesher: SmesherId, epoch: u32, layers: Vec<(u32, u32)>) {
        let mut inner = self.lock();
        let keep = inner.retention.epochs.max(1);
        let epochs = inner.eligibilities.entry(smesher).or_default();
        epochs.insert(epoch, layers);
        while epochs.len() > keep {
            epochs.pop_first();
        }
    }

    /// identity → epoch → `(layer, count)`.
    pub fn eligibilities(&self) -> HashMap<SmesherId, BTreeMap<u32, Vec<(u32, u32)>>> {
        self.lock().eligibilities.clone()
    }

    /// Records a published proposal of `smesher`.
    pub fn record_proposal(&self, smesher: SmesherId, layer: u32, proposal: Vec<u8>) {
        let mut inner = self.lock();
        let keep = inner.retention.proposals_per_identity.max(1);
        let list = inner.proposals.entry(smesher).or_default();
        list.push_back((layer, proposal));
        while list.len() > keep {
            list.pop_front();
        }
    }

    /// identity → `(layer, proposal)`, oldest first.
    pub fn proposals(&self) -> HashMap<SmesherId, Vec<(u32, Vec<u8>)>> {
        self.lock()
            .proposals
            .iter()
            .map(|(id, l)| (*id, l.iter().cloned().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn store_with(times: &[(u8, u64)]) -> IdentityStates {
        let s = IdentityStates::default();
        for (i, (id, t)) in times.iter().enumerate() {
            s.record_now(
                [*id; 32],
                None,
                at(*t),
                StateDetail::Retrying {
                    message: format!("{i}"),
                },
            );
        }
        s
    }

    fn messages(r: &[StateRecord]) -> Vec<String> {
        r.iter()
            .map(|r| match &r.detail {
                StateDetail::Retrying { message } => message.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn from_is_inclusive_to_is_exclusive() {
        let s = store_with(&[(1, 10), (1, 20), (1, 30)]);
        let q = StatesQuery {
            from: Some(at(20)),
            to: Some(at(30)),
            ..StatesQuery::default()
        };
        assert_eq!(messages(&s.states(&q)), ["1"]);
    }

    #[test]
    fn order_limit_and_filters() {
        let s = store_with(&[(1, 10), (2, 20), (1, 30)]);
        s.record_now([2; 32], Some(3), at(40), StateDetail::AtxReady);
        let desc = StatesQuery {
            order: Order::Descending,
            limit: 2,
            ..StatesQuery::default()
        };
        assert_eq!(messages(&s.states(&desc)), ["AtxReady", "2"]);
        let by_id = StatesQuery {
            smeshers: vec![vec![2; 32]],
            ..StatesQuery::default()
        };
        assert_eq!(messages(&s.states(&by_id)), ["1", "AtxReady"]);
        let by_state = StatesQuery {
            states: vec![10],
            ..StatesQuery::default()
        };
        let hit = s.states(&by_state);
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0].publish_epoch, Some(3));
    }

    #[test]
    fn retention_drops_the_oldest_per_identity() {
        let s = IdentityStates::new(Retention {
            states_per_identity: 2,
            epochs: 1,
            proposals_per_identity: 1,
        });
        for t in 0..5 {
            s.record_now(
                [1; 32],
                None,
                at(t),
                StateDetail::Retrying {
                    message: t.to_string(),
                },
            );
        }
        s.record_now([2; 32], None, at(0), StateDetail::AtxReady);
        let all = s.states(&StatesQuery::default());
        assert_eq!(messages(&all), ["AtxReady", "3", "4"]);
        s.set_eligibilities([1; 32], 1, vec![(5, 1)]);
        s.set_eligibilities([1; 32], 2, vec![(9, 2)]);
        assert_eq!(
            s.eligibilities()[&[1; 32]]
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            [2]
        );
        s.record_proposal([1; 32], 1, vec![1]);
        s.record_proposal([1; 32], 2, vec![2]);
        assert_eq!(s.proposals()[&[1; 32]], [(2, vec![2])]);
    }

    #[test]
    fn equal_times_keep_recording_order_in_both_directions() {
        let s = store_with(&[(1, 10), (2, 10), (1, 10)]);
        assert_eq!(
            messages(&s.states(&StatesQuery::default())),
            ["0", "1", "2"]
        );
        let desc = StatesQuery {
            order: Order::Descending,
            ..StatesQuery::default()
        };
        assert_eq!(messages(&s.states(&desc)), ["2", "1", "0"]);
    }
}

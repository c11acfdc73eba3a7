//! Proposals (PROTOCOL.md §2.3, §3.4, §4.7): per identity and layer, the node's template from
//! `GET /proposal/{layer}/{node}`, the identity's slots for the epoch (from the first ballot's
//! `EpochData`, else `/eligibility/slots` and the beacon), the ballot then the proposal signed
//! through the guard, published on `pp1`; the `ELIGIBLE` and `PROPOSAL_*` states and the
//! `Eligibilities`/`Proposals` answers are written here.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use codec::{
    AtxId, Ballot, BallotId, Beacon, BlockId, EpochData, Hash32, InnerBallot, InnerProposal,
    Proposal, TransactionId, Vote, Votes,
};
use eligibility::proposal::{eligibilities_for_layer, EpochSlots, Slot as ProposalSlot};
use signing::{Domain, GuardError, NodeId, Slot};

use super::hare::blocking;
use super::publish::{record_or_replay, Recorded, PROPOSAL_PROTOCOL};
use super::{Duties, Signer};
use crate::api::StateDetail;
use crate::node::PartialProposal;

/// Epochs of slots kept per identity.
const EPOCHS_KEPT: usize = 3;

/// One identity's slots by epoch.
type SlotsByEpoch = BTreeMap<u32, Arc<Vec<ProposalSlot>>>;

/// Each identity's proposal slots per epoch, computed once per epoch.
#[derive(Debug, Default)]
pub struct EpochEligibilities {
    slots: Mutex<HashMap<[u8; 32], SlotsByEpoch>>,
}

impl EpochEligibilities {
    fn get(&self, id: &[u8; 32], epoch: u32) -> Option<Arc<Vec<ProposalSlot>>> {
        let map = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).and_then(|e| e.get(&epoch)).cloned()
    }

    fn put(&self, id: [u8; 32], epoch: u32, slots: Arc<Vec<ProposalSlot>>) {
        let mut map = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let epochs = map.entry(id).or_default();
        epochs.insert(epoch, slots);
        while epochs.len() > EPOCHS_KEPT {
            epochs.pop_first();
        }
    }
}

/// `(layer, count)` pairs of an epoch's slots, by layer.
pub fn layer_counts(slots: &[ProposalSlot]) -> Vec<(u32, u32)> {
    let mut by_layer: BTreeMap<u32, u32> = BTreeMap::new();
    for s in slots {
        *by_layer.entry(s.layer).or_default() += 1;
    }
    by_layer.into_iter().collect()
}

/// Why a proposal could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("node-service: {0}")]
    Node(#[from] crate::node::NodeError),
    #[error("template has neither a reference ballot nor epoch data")]
    NoEpochData,
    #[error("eligibility: {0}")]
    Eligibility(#[from] eligibility::ProposalError),
    #[error("signing guard: {0}")]
    Guard(#[from] GuardError),
    #[error("the signing task failed")]
    Task,
}

/// Proposals of every identity for one layer, built at the layer's start.
pub(crate) async fn run_layer(d: Arc<Duties>, layer: u32) {
    if layer == 0 {
        return;
    }
    let epoch = d.clock.epoch_of(layer);
    let tasks = (0..d.signers.len()).map(|i| propose(d.clone(), i, layer, epoch));
    futures_util::future::join_all(tasks).await;
}

fn record_state(d: &Duties, signer: &Signer, detail: StateDetail) {
    d.store
        .record_now(signer.node_id, None, SystemTime::now(), detail);
}

async fn propose(d: Arc<Duties>, index: usize, layer: u32, epoch: u32) {
    let signer = &d.signers[index];
    let node_id = NodeId(signer.node_id);
    let slot = Slot::Proposal { layer };
    // After a restart: the proposal sent before is sent again, byte for byte.
    if let Ok(Some(rec)) = d.guard.signed(&node_id, slot) {
        if let Some(blob) = rec.payload {
            publish(&d, signer, layer, blob).await;
            return;
        }
    }
    match build(&d, index, layer, epoch).await {
        Ok(Some(blob)) => publish(&d, signer, layer, blob).await,
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(layer, %node_id, "proposal not built: {e}");
            record_state(
                &d,
                signer,
                StateDetail::ProposalBuildFailed {
                    message: e.to_string(),
                    layer,
                },
            );
        }
    }
}

async fn publish(d: &Duties, signer: &Signer, layer: u32, blob: Vec<u8>) {
    let id = match codec::from_slice::<Proposal>(&blob) {
        Ok(p) => p.id().0.to_vec(),
        Err(e) => {
            tracing::error!(layer, "recorded proposal does not decode: {e}");
            return;
        }
    };
    let result = d
        .publisher
        .publish(PROPOSAL_PROTOCOL, Bytes::from(blob))
        .await;
    d.metrics.published("proposal", result.is_ok());
    match result {
        Ok(()) => {
            d.store.record_proposal(signer.node_id, layer, id.clone());
            record_state(
                d,
                signer,
                StateDetail::ProposalPublished {
                    proposal: id,
                    layer,
                },
            );
        }
        Err(e) => {
            tracing::warn!(layer, node_id = %hex::encode(signer.node_id), "proposal not published: {e}");
            record_state(
                d,
                signer,
                StateDetail::ProposalPublishFailed {
                    message: e.to_string(),
                    proposal: id,
                    layer,
                },
            );
        }
    }
}

/// The identity's slots for `epoch`: cached, else from the template's epoch data or the
/// node's `/eligibility/slots` and the epoch beacon. Records `ELIGIBLE` and the
/// `Eligibilities` answer when first computed.
async fn epoch_slots(
    d: &Arc<Duties>,
    index: usize,
    epoch: u32,
    template: &PartialProposal,
) -> Result<Arc<Vec<ProposalSlot>>, BuildError> {
    let signer = &d.signers[index];
    if let Some(slots) = d.proposals.get(&signer.node_id, epoch) {
        return Ok(slots);
    }
    let (beacon, nonce, count) = match &template.ballot.epoch_data {
        Some(ed) => (ed.beacon, template.vrf_nonce, ed.eligibility_count),
        None => {
            if template.ballot.ref_ballot_id.is_none() {
                return Err(BuildError::NoEpochData);
            }
            let e = d.node.eligibility_slots(&signer.node_id, epoch).await?;
            let beacon = d.cache.beacon(&d.node, epoch).await?;
            (beacon, e.nonce, e.slots)
        }
    };
    let params = EpochSlots {
        beacon,
        epoch,
        nonce,
        slots: count,
        layers_per_epoch: d.clock.layers_per_epoch(),
    };
    let slots = {
        let d = d.clone();
        blocking(move || params.compute(&d.signers[index].vrf))
            .await
            .ok_or(BuildError::Task)??
    };
    let slots = Arc::new(slots);
    let layers = layer_counts(&slots);
    d.store
        .set_eligibilities(signer.node_id, epoch, layers.clone());
    record_state(d, signer, StateDetail::Eligible { layers });
    d.proposals.put(signer.node_id, epoch, slots.clone());
    Ok(slots)
}

/// The ballot of a template (unsigned).
pub fn inner_ballot(layer: u32, t: &PartialProposal) -> InnerBallot {
    InnerBallot {
        layer,
        atx_id: AtxId(t.ballot.atx_id),
        opinion_hash: Hash32(t.ballot.opinion_hash),
        ref_ballot: BallotId(t.ballot.ref_ballot_id.unwrap_or_default()),
        epoch_data: t.ballot.epoch_data.as_ref().map(|e| EpochData {
            active_set_hash: Hash32(e.active_set_hash),
            beacon: Beacon(e.beacon),
            eligibility_count: e.eligibility_count,
        }),
    }
}

fn votes(t: &PartialProposal) -> Votes {
    let vote = |v: &crate::node::model::Vote| Vote {
        id: BlockId(v.id),
        layer_id: v.layer_id,
        height: v.height,
    };
    Votes {
        base: BallotId(t.ballot.votes.base),
        support: t.ballot.votes.support.iter().map(vote).collect(),
        against: t.ballot.votes.against.iter().map(vote).collect(),
        abstain: t.ballot.votes.abstain.clone(),
    }
}

/// Template → eligibility → signed ballot → signed proposal → recorded bytes; `None` when the
/// node has no proposal for the identity or the identity has no slot in this layer.
async fn build(
    d: &Arc<Duties>,
    index: usize,
    layer: u32,
    epoch: u32,
) -> Result<Option<Vec<u8>>, BuildError> {
    let node_id = d.signers[index].node_id;
    let Some(template) = d.node.proposal(layer, &node_id).await? else {
        return Ok(None);
    };
    let slots = epoch_slots(d, index, epoch, &template).await?;
    let proofs = eligibilities_for_layer(&slots, layer);
    if proofs.is_empty() {
        return Ok(None);
    }
    let d = d.clone();
    blocking(move || sign(&d, &d.signers[index], layer, &template, proofs))
        .await
        .ok_or(BuildError::Task)?
}

/// Ballot then proposal through the guard, and the proposal's bytes recorded.
fn sign(
    d: &Duties,
    signer: &Signer,
    layer: u32,
    template: &PartialProposal,
    proofs: Vec<codec::VotingEligibility>,
) -> Result<Option<Vec<u8>>, BuildError> {
    let node_id = NodeId(signer.node_id);
    let identity = d.identity(signer);
    let inner = inner_ballot(layer, template);
    let ballot_sig = d.guard.sign(
        identity,
        Slot::Ballot { layer },
        Domain::BALLOT,
        &inner.signed_bytes(),
    )?;
    let inner = InnerProposal {
        ballot: Ballot {
            inner,
            signature: codec::EdSignature(ballot_sig.signature.0),
            smesher_id: codec::NodeId(signer.node_id),
            votes: votes(template),
            eligibility_proofs: proofs,
            active_set: Vec::new(),
        },
        tx_ids: template.tx_ids.iter().map(|t| TransactionId(*t)).collect(),
        mesh_hash: Hash32(template.mesh_hash),
    };
    let slot = Slot::Proposal { layer };
    let signed = d
        .guard
        .sign(identity, slot, Domain::PROPOSAL, &inner.signed_bytes())?;
    if let Some(p) = signed.payload {
        return Ok(Some(p));
    }
    let proposal = Proposal {
        inner,
        signature: codec::EdSignature(signed.signature.0),
    };
    match record_or_replay(&d.guard, &node_id, slot, codec::to_vec(&proposal))? {
        Recorded::Publish(p) => Ok(Some(p)),
        Recorded::Refused => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_counts_group_slots_by_layer() {
        let s = |j, layer| ProposalSlot {
            j,
            layer,
            proof: [0; 80],
        };
        assert_eq!(
            layer_counts(&[s(0, 12), s(1, 10), s(2, 12)]),
            vec![(10, 1), (12, 2)]
        );
        assert!(layer_counts(&[]).is_empty());
    }
}

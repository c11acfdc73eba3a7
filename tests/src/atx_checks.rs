//! What simnet checks on every published ATX: encoding, signature in the ATX domain, the
//! NIPoST's PoET membership against the statement of a proof a fake PoET served, sequence
//! and previous ATX; a second, different ATX of one identity in one epoch is flagged. An ATX
//! that passes joins the chain, so `last_atx` and `positioning_atx` see it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use codec::{from_slice, ActivationTxV1, AtxId};

use crate::chain::{Atx, Network};

/// A PoET proof a fake PoET served: its statement and leaf count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownProof {
    pub statement: [u8; 32],
    pub leaves: u64,
}

/// One refused ATX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtxViolation {
    /// The signer, when the bytes decode.
    pub smesher: Option<[u8; 32]>,
    pub publish_epoch: Option<u32>,
    pub reason: String,
}

/// One ATX that passed, with how often its bytes arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedAtx {
    pub atx: ActivationTxV1,
    pub id: [u8; 32],
    pub received: u32,
}

#[derive(Debug, Default)]
struct State {
    proofs: HashMap<[u8; 32], KnownProof>,
    /// (smesher, publish epoch) → accepted ATX.
    accepted: HashMap<([u8; 32], u32), AcceptedAtx>,
    violations: Vec<AtxViolation>,
}

/// The ATX checker of one network.
#[derive(Debug, Default)]
pub struct AtxChecker {
    state: Mutex<State>,
    /// PoST verification, once the network has PoST parameters.
    post: Mutex<Option<std::sync::Arc<crate::post_checks::PostChecker>>>,
}

/// Weight of a tick as the fake PoETs count them (tick size 1).
const TICK_SIZE: u64 = 1;

impl AtxChecker {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record_proof(&self, reference: [u8; 32], statement: [u8; 32], leaves: u64) {
        self.state()
            .proofs
            .insert(reference, KnownProof { statement, leaves });
    }

    /// Verifies the PoSTs of every ATX checked from now on with `checker`.
    pub fn verify_post(&self, checker: std::sync::Arc<crate::post_checks::PostChecker>) {
        *self.post.lock().unwrap_or_else(|p| p.into_inner()) = Some(checker);
    }

    pub fn violations(&self) -> Vec<AtxViolation> {
        self.state().violations.clone()
    }

    /// Accepted ATXs, ordered by publish epoch then smesher.
    pub fn accepted(&self) -> Vec<AcceptedAtx> {
        let st = self.state();
        let mut v: Vec<_> = st.accepted.values().cloned().collect();
        v.sort_by_key(|a| (a.atx.inner.challenge.publish_epoch, a.atx.smesher_id.0));
        v
    }

    /// Checks one published ATX blob; a good one is inserted into `net`.
    pub fn check(&self, net: &Network, bytes: &[u8]) {
        match self.check_inner(net, bytes) {
            Ok(Some(atx)) => net.insert_atx(atx),
            Ok(None) => {}
            Err(v) => {
                tracing::warn!(reason = %v.reason, "simnet: ATX refused");
                self.state().violations.push(v);
            }
        }
    }

    fn check_inner(&self, net: &Network, bytes: &[u8]) -> Result<Option<Atx>, AtxViolation> {
        let atx: ActivationTxV1 = from_slice(bytes).map_err(|e| AtxViolation {
            smesher: None,
            publish_epoch: None,
            reason: format!("does not decode: {e}"),
        })?;
        let smesher = atx.smesher_id.0;
        let epoch = atx.inner.challenge.publish_epoch;
        let fail = |reason: String| AtxViolation {
            smesher: Some(smesher),
            publish_epoch: Some(epoch),
            reason,
        };
        let id = atx.id().0;

        let mut signed = net.genesis_id().to_vec();
        signed.push(signing::Domain::ATX.byte());
        signed.extend_from_slice(&atx.inner.signed_bytes());
        if !signing::verifier::verify_raw(&smesher, &signed, &atx.signature.0) {
            return Err(fail("bad signature (ATX domain)".into()));
        }

        {
            let mut st = self.state();
            if let Some(seen) = st.accepted.get_mut(&(smesher, epoch)) {
                if seen.id == id {
                    seen.received += 1;
                    return Ok(None);
                }
                return Err(fail(format!(
                    "second, different ATX in publish epoch {epoch}: {} after {}",
                    hex::encode(id),
                    hex::encode(seen.id)
                )));
            }
        }

        let post = self.post.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(post) = post {
            post.check(&atx).map_err(|e| fail(format!("PoST: {e}")))?;
        }

        let c = &atx.inner.challenge;
        let nipost = atx
            .inner
            .nipost
            .as_ref()
            .ok_or_else(|| fail("no NIPoST".into()))?;
        let meta = nipost
            .post_metadata
            .as_ref()
            .ok_or_else(|| fail("no PoST metadata".into()))?;
        if nipost.post.is_none() {
            return Err(fail("no PoST".into()));
        }
        let reference: [u8; 32] = meta
            .challenge
            .clone()
            .try_into()
            .map_err(|_| fail("PoST challenge is not 32 bytes".into()))?;
        let proof = self
            .state()
            .proofs
            .get(&reference)
            .copied()
            .ok_or_else(|| fail("PoST challenge names no PoET proof a PoET served".into()))?;
        let leaf = c.poet_challenge_hash().0;
        if !smesher::atx::membership::verify(&leaf, &nipost.membership, &proof.statement) {
            return Err(fail(
                "challenge is not a member of the PoET statement".into(),
            ));
        }

        if c.prev_atx_id == AtxId::default() {
            if c.sequence != 0 {
                return Err(fail(format!("initial ATX with sequence {}", c.sequence)));
            }
            if atx.inner.node_id.map(|n| n.0) != Some(smesher) {
                return Err(fail("initial ATX without its node ID".into()));
            }
            if c.initial_post.is_none() || c.commitment_atx_id.is_none() {
                return Err(fail(
                    "initial ATX without initial PoST or commitment ATX".into(),
                ));
            }
            if atx.inner.vrf_nonce.is_none() {
                return Err(fail("initial ATX without VRF nonce".into()));
            }
        } else {
            let prev = net.atx(&c.prev_atx_id.0).ok_or_else(|| {
                fail(format!(
                    "previous ATX {} unknown",
                    hex::encode(c.prev_atx_id.0)
                ))
            })?;
            if prev.smesher_id != smesher {
                return Err(fail("previous ATX belongs to another identity".into()));
            }
            if prev.publish_epoch >= epoch {
                return Err(fail(format!(
                    "previous ATX is of epoch {}, not before {epoch}",
                    prev.publish_epoch
                )));
            }
            if c.sequence != prev.sequence + 1 {
                return Err(fail(format!(
                    "sequence {} after previous {}",
                    c.sequence, prev.sequence
                )));
            }
            if atx.inner.node_id.is_some() {
                return Err(fail("non-initial ATX carries a node ID".into()));
            }
        }
        if c.positioning_atx_id.0 != net.golden_atx() && net.atx(&c.positioning_atx_id.0).is_none()
        {
            return Err(fail("positioning ATX unknown".into()));
        }

        let ticks = proof.leaves / TICK_SIZE;
        self.state().accepted.insert(
            (smesher, epoch),
            AcceptedAtx {
                atx: atx.clone(),
                id,
                received: 1,
            },
        );
        Ok(Some(Atx {
            id,
            smesher_id: smesher,
            publish_epoch: epoch,
            num_units: atx.inner.num_units,
            tick_count: ticks,
            weight: u64::from(atx.inner.num_units) * ticks,
            sequence: c.sequence,
        }))
    }
}

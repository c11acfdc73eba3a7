//! What simnet checks on every hare message (`/h/3.0`), proposal (`pp1`) and block
//! certificate (`bc1`) it receives: encoding, signature and domain under the network's genesis
//! prefix, the VRF proof (the identity is the VRF key), the eligibility count against the
//! chain's weights, and equivocation (two different messages of one identity for one slot).
//! Findings are kept for tests: `Network::violations`, `Network::accepted`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use codec::hare::{Message, Round};
use codec::{CertifyMessage, Proposal};
use eligibility::hare::{validate, Committees, HareRound};
use eligibility::proposal::{eligible_layer, vrf_message};
use signing::{Domain, Signature, Verifier};

use crate::chain::{Network, NodeId};

/// The protocol parameters the checks need (the service's config must agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSettings {
    /// Hare committee (with upgrade) and propose-round leaders.
    pub committees: Committees,
    /// Certificate committee.
    pub certify_committee: u32,
    /// First layers of an epoch whose hare weights come from the previous epoch.
    pub confidence_param: u32,
}

impl Default for CheckSettings {
    /// Mainnet values, except that every layer uses its own epoch's weights.
    fn default() -> Self {
        CheckSettings {
            committees: Committees::MAINNET,
            certify_committee: 200,
            confidence_param: 0,
        }
    }
}

/// The slot a checked message occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageSlot {
    /// Hare message of a layer in an absolute round (iteration·7 + round).
    Hare { layer: u32, round: u32 },
    /// Proposal (and its ballot) of a layer.
    Proposal { layer: u32 },
    /// Block certificate of a layer.
    Certify { layer: u32 },
}

/// A message that passed every check (the first copy of it; resends are counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub node_id: NodeId,
    pub slot: MessageSlot,
    pub bytes: Bytes,
    /// Eligibility count (hare, certificate) or number of proposal eligibilities.
    pub count: u32,
    /// How many times these exact bytes were received (through any node).
    pub copies: usize,
}

/// A check that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub protocol: String,
    pub node_id: Option<NodeId>,
    pub slot: Option<MessageSlot>,
    pub problem: String,
}

#[derive(Debug, Default)]
pub(crate) struct Checker {
    state: Mutex<CheckState>,
}

#[derive(Debug, Default)]
struct CheckState {
    settings: CheckSettings,
    /// (identity, slot) → index into `accepted`.
    seen: HashMap<(NodeId, MessageSlot), usize>,
    accepted: Vec<Accepted>,
    violations: Vec<Violation>,
    /// Ballot ID → (epoch, eligibility count, beacon) of first ballots, for later ballots.
    first_ballots: HashMap<[u8; 20], (u32, u32, [u8; 4])>,
}

/// What failed, with the identity and slot when they are known.
type Failure = (Option<NodeId>, Option<MessageSlot>, String);

/// A message that passed: its identity, slot and count; or what failed.
type Outcome = Result<(NodeId, MessageSlot, u32), Failure>;

/// A failed check before the identity or slot is known.
fn fail(problem: impl Into<String>) -> Failure {
    (None, None, problem.into())
}

impl Checker {
    fn lock(&self) -> MutexGuard<'_, CheckState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_settings(&self, settings: CheckSettings) {
        self.lock().settings = settings;
    }

    pub(crate) fn violations(&self) -> Vec<Violation> {
        self.lock().violations.clone()
    }

    pub(crate) fn accepted(&self) -> Vec<Accepted> {
        self.lock().accepted.clone()
    }

    /// Checks one published blob; topics other than hare, proposal and certificate pass.
    pub(crate) fn check(&self, net: &Network, protocol: &str, bytes: &Bytes) {
        let settings = self.lock().settings;
        let outcome = match protocol {
            "/h/3.0" => check_hare(net, &settings, bytes),
            "pp1" => self.check_proposal(net, bytes),
            "bc1" => check_certificate(net, &settings, bytes),
            _ => return,
        };
        let mut st = self.lock();
        match outcome {
            Ok((node_id, slot, count)) => match st.seen.get(&(node_id, slot)).copied() {
                Some(i) if st.accepted[i].bytes == *bytes => st.accepted[i].copies += 1,
                Some(_) => st.violations.push(Violation {
                    protocol: protocol.into(),
                    node_id: Some(node_id),
                    slot: Some(slot),
                    problem: "equivocation: a second, different message for this slot".into(),
                }),
                None => {
                    let i = st.accepted.len();
                    st.accepted.push(Accepted {
                        node_id,
                        slot,
                        bytes: bytes.clone(),
                        count,
                        copies: 1,
                    });
                    st.seen.insert((node_id, slot), i);
                }
            },
            Err((node_id, slot, problem)) => st.violations.push(Violation {
                protocol: protocol.into(),
                node_id,
                slot,
                problem,
            }),
        }
    }

    fn check_proposal(&self, net: &Network, bytes: &[u8]) -> Outcome {
        let p: Proposal =
            codec::from_slice(bytes).map_err(|e| fail(format!("proposal does not decode: {e}")))?;
        let ballot = &p.inner.ballot;
        let id = ballot.smesher_id.0;
        let layer = ballot.inner.layer;
        let slot = MessageSlot::Proposal { layer };
        let bad = |problem: String| (Some(id), Some(slot), problem);
        let verifier = Verifier::new(&net.genesis_id());
        let signer = signing::NodeId(id);
        if !verifier.verify(
            Domain::BALLOT,
            &signer,
            &ballot.inner.signed_bytes(),
            &Signature(ballot.signature.0),
        ) {
            return Err(bad(
                "ballot signature (domain BALLOT) does not verify".into()
            ));
        }
        if !verifier.verify(
            Domain::PROPOSAL,
            &signer,
            &p.inner.signed_bytes(),
            &Signature(p.signature.0),
        ) {
            return Err(bad(
                "proposal signature (domain PROPOSAL) does not verify".into()
            ));
        }
        let clock = net.clock();
        let epoch = clock.epoch_of(layer);
        let (nonce, slots) = net.eligibility_slots(&id, epoch);
        let (count, beacon) = match &ballot.inner.epoch_data {
            Some(ed) => {
                if ed.beacon.0 != net.beacon(epoch) {
                    return Err(bad("epoch data carries a wrong beacon".into()));
                }
                if ed.eligibility_count != slots {
                    return Err(bad(format!(
                        "eligibility count {} but the identity has {slots} slots",
                        ed.eligibility_count
                    )));
                }
                self.lock()
                    .first_ballots
                    .insert(ballot.id().0, (epoch, slots, ed.beacon.0));
                (slots, ed.beacon.0)
            }
            None => match self.lock().first_ballots.get(&ballot.inner.ref_ballot.0) {
                Some((e, count, beacon)) if *e == epoch => (*count, *beacon),
                _ => return Err(bad("reference ballot unknown or of another epoch".into())),
            },
        };
        if ballot.eligibility_proofs.is_empty() {
            return Err(bad("ballot has no eligibility proof".into()));
        }
        for e in &ballot.eligibility_proofs {
            if e.j >= count {
                return Err(bad(format!("slot {} beyond the {count} slots", e.j)));
            }
            if !eligibility::verify(&id, &vrf_message(beacon, epoch, nonce, e.j), &e.sig.0) {
                return Err(bad(format!("VRF proof of slot {} does not verify", e.j)));
            }
            match eligible_layer(epoch, clock.layers_per_epoch(), &e.sig.0) {
                Ok(l) if l == layer => {}
                other => {
                    return Err(bad(format!(
                        "slot {} is for layer {other:?}, not {layer}",
                        e.j
                    )))
                }
            }
        }
        Ok((id, slot, ballot.eligibility_proofs.len() as u32))
    }
}

/// The epoch whose weights draw the hare committee of `layer`.
fn weight_epoch(net: &Network, settings: &CheckSettings, layer: u32) -> u32 {
    let clock = net.clock();
    let epoch = clock.epoch_of(layer);
    if epoch > 0 && layer - clock.first_layer_of(epoch) < settings.confidence_param {
        epoch - 1
    } else {
        epoch
    }
}

/// VRF proof and count of a hare-style eligibility (hare rounds and certificates).
fn check_seats(
    net: &Network,
    settings: &CheckSettings,
    id: &NodeId,
    round: &HareRound,
    proof: &[u8; 80],
    count: u16,
    committee: u32,
) -> Result<(), String> {
    if !eligibility::verify(id, &round.vrf_message(), proof) {
        return Err("VRF proof does not verify under the sender's key".into());
    }
    if count == 0 {
        return Err("eligibility count is 0".into());
    }
    let epoch = weight_epoch(net, settings, round.layer);
    let miner = net.miner_weight(epoch, id);
    let total = net.total_weight(epoch);
    match validate(count, proof, miner, total, committee) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "eligibility count {count} is wrong (weight {miner} of {total}, committee {committee})"
        )),
        Err(e) => Err(format!("eligibility not checkable: {e}")),
    }
}

fn check_hare(net: &Network, settings: &CheckSettings, bytes: &[u8]) -> Outcome {
    let m: Message =
        codec::from_slice(bytes).map_err(|e| fail(format!("hare message does not decode: {e}")))?;
    let id = m.sender.0;
    let layer = m.body.layer;
    let abs = m.body.iter_round.absolute();
    let slot = MessageSlot::Hare { layer, round: abs };
    let bad = |problem: String| (Some(id), Some(slot), problem);
    m.validate().map_err(|e| bad(e.to_string()))?;
    let verifier = Verifier::new(&net.genesis_id());
    if !verifier.verify(
        Domain::HARE,
        &signing::NodeId(id),
        &codec::to_vec(&m.body.metadata()),
        &Signature(m.signature.0),
    ) {
        return Err(bad("signature (domain HARE) does not verify".into()));
    }
    let round = HareRound {
        beacon: net.beacon(net.clock().epoch_of(layer)),
        layer,
        round: abs,
    };
    let committee = settings
        .committees
        .for_round(layer, Round(m.body.iter_round.round.0));
    let count = m.body.eligibility.count;
    check_seats(
        net,
        settings,
        &id,
        &round,
        &m.body.eligibility.proof.0,
        count,
        committee,
    )
    .map_err(bad)?;
    Ok((id, slot, u32::from(count)))
}

fn check_certificate(net: &Network, settings: &CheckSettings, bytes: &[u8]) -> Outcome {
    let m: CertifyMessage =
        codec::from_slice(bytes).map_err(|e| fail(format!("certificate does not decode: {e}")))?;
    let id = m.smesher_id.0;
    let layer = m.content.layer_id;
    let slot = MessageSlot::Certify { layer };
    let bad = |problem: String| (Some(id), Some(slot), problem);
    let verifier = Verifier::new(&net.genesis_id());
    if !verifier.verify(
        Domain::HARE,
        &signing::NodeId(id),
        &codec::to_vec(&m.content),
        &Signature(m.signature.0),
    ) {
        return Err(bad("signature (domain HARE) does not verify".into()));
    }
    if net.block_id(layer) != Some(m.content.block_id.0) {
        return Err(bad("certifies a block the chain does not have".into()));
    }
    let round = HareRound::certify(net.beacon(net.clock().epoch_of(layer)), layer);
    let count = m.content.eligibility_cnt;
    check_seats(
        net,
        settings,
        &id,
        &round,
        &m.content.proof.0,
        count,
        settings.certify_committee,
    )
    .map_err(bad)?;
    Ok((id, slot, u32::from(count)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use codec::hare::{Body, IterRound, Value};
    use codec::{EdSignature, HareEligibility, ProposalId, VrfSignature};
    use eligibility::hare::calc_eligibility;
    use eligibility::VrfSecretKey;
    use signing::{Identity, Signer};

    use super::*;
    use crate::chain::PublishKind;
    use crate::ChainConfig;

    const SEED: [u8; 32] = [9; 32];

    fn net() -> Network {
        let n = Network::new(ChainConfig::new(Duration::from_secs(1), 10).starting_at_layer(50))
            .unwrap();
        n.set_check_settings(CheckSettings {
            committees: Committees {
                committee: 20,
                upgrade: None,
                leaders: 5,
            },
            certify_committee: 10,
            confidence_param: 0,
        });
        n
    }

    /// A preround message of `layer` with `count` seats (the right one if `None`), signed
    /// with `prefix`, carrying `proposals` proposal IDs.
    fn hare(n: &Network, layer: u32, count: Option<i32>, prefix: &[u8], proposals: u8) -> Bytes {
        let key = VrfSecretKey::from_seed(&SEED);
        let id = key.public_key();
        let epoch = n.clock().epoch_of(layer);
        let proof = HareRound {
            beacon: n.beacon(epoch),
            layer,
            round: 0,
        }
        .prove(&key);
        let right = calc_eligibility(
            &proof,
            n.miner_weight(epoch, &id),
            n.total_weight(epoch),
            20,
        )
        .unwrap();
        let count = (i32::from(right) + count.unwrap_or(0)) as u16;
        let body = Body {
            layer,
            iter_round: IterRound::default(),
            value: Value {
                proposals: (0..proposals).map(|i| ProposalId([i; 20])).collect(),
                reference: None,
            },
            eligibility: HareEligibility {
                proof: VrfSignature(proof),
                count,
            },
        };
        let signer = Signer::new(Arc::new(Identity::from_seed(&SEED, "t")), prefix);
        let sig = signer.sign(Domain::HARE, &codec::to_vec(&body.metadata()));
        Bytes::from(codec::to_vec(&Message {
            body,
            sender: codec::NodeId(id),
            signature: EdSignature(sig.0),
        }))
    }

    fn publish(n: &Network, b: Bytes) {
        n.record_publish(0, "/h/3.0".into(), b, PublishKind::Gossip);
    }

    /// Weight so the identity holds a few seats of the committee of 20.
    fn weighted() -> Network {
        let n = net();
        n.set_weight(VrfSecretKey::from_seed(&SEED).public_key(), 300);
        n.set_weight([1; 32], 700);
        n
    }

    #[test]
    fn a_valid_message_is_accepted_and_resends_are_counted() {
        let n = weighted();
        let prefix = n.genesis_id();
        let m = hare(&n, 55, None, &prefix, 2);
        publish(&n, m.clone());
        publish(&n, m);
        assert_eq!(n.violations(), vec![]);
        let a = n.accepted();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].copies, 2);
        assert_eq!(
            a[0].slot,
            MessageSlot::Hare {
                layer: 55,
                round: 0
            }
        );
        assert!(a[0].count > 0);
    }

    #[test]
    fn count_one_off_either_way_is_flagged_like_the_oracle() {
        let n = weighted();
        let prefix = n.genesis_id();
        publish(&n, hare(&n, 56, Some(1), &prefix, 1));
        publish(&n, hare(&n, 57, Some(-1), &prefix, 1));
        let v = n.violations();
        assert_eq!(v.len(), 2, "{v:#?}");
        assert!(
            v.iter().all(|v| v.problem.contains("eligibility count")),
            "{v:#?}"
        );
        assert!(n.accepted().is_empty());
    }

    #[test]
    fn equivocation_wrong_genesis_and_garbage_are_flagged() {
        let n = weighted();
        let prefix = n.genesis_id();
        publish(&n, hare(&n, 58, None, &prefix, 1));
        publish(&n, hare(&n, 58, None, &prefix, 2));
        publish(&n, hare(&n, 59, None, &[0; 20], 1));
        publish(&n, Bytes::from_static(b"\x01\x02"));
        let problems: Vec<String> = n.violations().into_iter().map(|v| v.problem).collect();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with("equivocation"));
        assert!(problems[1].contains("signature"));
        assert!(problems[2].contains("does not decode"));
    }

    #[test]
    fn an_identity_without_weight_is_not_eligible() {
        let n = net();
        n.set_weight([1; 32], 700);
        let prefix = n.genesis_id();
        publish(&n, hare(&n, 60, Some(1), &prefix, 1));
        assert_eq!(n.violations().len(), 1);
    }
}

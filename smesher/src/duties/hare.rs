//! Hare3 for one layer (PROTOCOL.md §2.3, §1.2.7): beacon and weights of the layer's epoch,
//! the round schedule (preround, then seven rounds per iteration), VRF eligibility of every
//! identity in each message round, the node's round template, one guarded batch signature per
//! round, publishing on `hare3`; certification runs beside it from iteration 1 on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use codec::hare::{Body, IterRound, Message, Round, Value};
use codec::{EdSignature, HareEligibility, Hash32, ProposalId, VrfSignature};
use eligibility::{calc_eligibility, HareRound, PROOF_LEN};
use signing::{Domain, Guard, GuardError, Identity, NodeId, SignRequest, Slot};
use tokio::task::JoinSet;

use super::publish::{stored_payload, Recorded, HARE_PROTOCOL};
use super::{certify, Duties, Signer};
use crate::node::{HareRoundTemplate, NodeError};

/// Rounds per iteration in the schedule (hardlock or preround, softlock … notify).
pub const STEPS_PER_ITERATION: u32 = 7;

/// What every round of a layer shares.
#[derive(Debug, Clone)]
pub struct LayerContext {
    pub layer: u32,
    pub beacon: [u8; 4],
    pub total_weight: u64,
    /// Weight of each identity, in signer order (0 = not in the active set).
    pub weights: Vec<u64>,
}

/// The (iteration, round) of schedule step `step`: iteration 0 opens with the preround and
/// skips the hardlock; later iterations open with the hardlock.
pub fn step_round(step: u32) -> (u8, u8) {
    let iter = u8::try_from(step / STEPS_PER_ITERATION).unwrap_or(u8::MAX);
    let within = (step % STEPS_PER_ITERATION) as u8;
    let round = match within {
        0 if iter == 0 => Round::PREROUND.0,
        0 => Round::HARDLOCK.0,
        w => w + 1,
    };
    (iter, round)
}

/// Rounds in which a message is sent: the preround of iteration 0, propose, commit, notify.
pub fn is_message_round(iter: u8, round: u8) -> bool {
    (iter == 0 && round == Round::PREROUND.0)
        || round == Round::PROPOSE.0
        || round == Round::COMMIT.0
        || round == Round::NOTIFY.0
}

/// When step `step` of a layer's session starts.
pub fn step_time(start: SystemTime, round_duration: Duration, step: u32) -> SystemTime {
    start + round_duration * step
}

/// Sleeps until a wall-clock instant.
pub(crate) async fn sleep_until(at: SystemTime) {
    if let Ok(wait) = at.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
}

/// Beacon and weights for `layer`; `None` when no identity has weight.
async fn prepare(d: &Duties, layer: u32) -> Result<Option<LayerContext>, NodeError> {
    let epoch = d.clock.epoch_of(layer);
    let beacon = d.cache.beacon(&d.node, epoch).await?;
    let weight_epoch = d.weight_epoch(layer);
    let mut weights = Vec::with_capacity(d.signers.len());
    for s in &d.signers {
        weights.push(
            d.cache
                .miner_weight(&d.node, &s.node_id, weight_epoch)
                .await?,
        );
    }
    if weights.iter().all(|w| *w == 0) {
        return Ok(None);
    }
    let total_weight = d.cache.total_weight(&d.node, weight_epoch).await?;
    if total_weight == 0 {
        return Ok(None);
    }
    Ok(Some(LayerContext {
        layer,
        beacon,
        total_weight,
        weights,
    }))
}

/// The whole hare session of one layer.
pub(crate) async fn run_layer(d: Arc<Duties>, layer: u32) {
    let s = &d.settings;
    if !s.hare_enabled || layer < s.hare_layers.0 || layer >= s.hare_layers.1 {
        return;
    }
    // Rounds already over when the session starts (the service started in the middle of the
    // layer) are skipped; once running, a late round is still sent.
    let session_start = SystemTime::now();
    let ctx = match prepare(&d, layer).await {
        Ok(Some(ctx)) => Arc::new(ctx),
        Ok(None) => {
            tracing::debug!(layer, "no identity has hare weight; no hare session");
            return;
        }
        Err(e) => {
            tracing::warn!(layer, "hare session skipped: {e}");
            return;
        }
    };
    let rd = s.round_duration;
    let start = d.clock.layer_start(layer) + s.preround_delay;
    let steps = u32::from(s.iterations_limit) * STEPS_PER_ITERATION;
    let certified = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    if steps > STEPS_PER_ITERATION {
        tasks.spawn(certify::run(
            d.clone(),
            ctx.clone(),
            step_time(start, rd, STEPS_PER_ITERATION),
            step_time(start, rd, steps),
            certified.clone(),
        ));
    }
    for step in 0..steps {
        let (iter, round) = step_round(step);
        let at = step_time(start, rd, step);
        if session_start > at + rd {
            continue;
        }
        sleep_until(at).await;
        if round == Round::HARDLOCK.0 && certified.load(Ordering::SeqCst) {
            tracing::debug!(layer, iter, "block certified; hare session ends");
            break;
        }
        if is_message_round(iter, round) {
            tasks.spawn(send_round(d.clone(), ctx.clone(), iter, round));
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// The identities eligible in a round, with their proof and seat count.
pub(crate) fn eligible<'a>(
    d: &'a Duties,
    ctx: &LayerContext,
    round: &HareRound,
    committee: u32,
) -> Vec<(&'a Signer, [u8; PROOF_LEN], u16)> {
    let mut out = Vec::new();
    for (signer, &weight) in d.signers.iter().zip(&ctx.weights) {
        if weight == 0 {
            continue;
        }
        let proof = round.prove(&signer.vrf);
        match calc_eligibility(&proof, weight, ctx.total_weight, committee) {
            Ok(0) => {}
            Ok(count) => out.push((signer, proof, count)),
            Err(e) => tracing::warn!(
                layer = ctx.layer,
                round = round.round,
                node_id = %hex::encode(signer.node_id),
                "eligibility not computed: {e}"
            ),
        }
    }
    out
}

/// Runs CPU- and disk-bound work (VRF proofs, guard transactions) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!("duty work failed: {e}");
            None
        }
    }
}

/// Eligible signers of a round (by index) with proof and count, split into those whose
/// message is recorded already (after a restart: re-sent as recorded, whatever the template
/// says now) and those still to sign.
type RoundPlan = (Vec<(NodeId, Vec<u8>)>, Vec<(usize, [u8; PROOF_LEN], u16)>);

fn plan_round(d: &Duties, ctx: &LayerContext, iter: u8, round: u8) -> RoundPlan {
    let layer = ctx.layer;
    let vrf_round = HareRound {
        beacon: ctx.beacon,
        layer,
        round: u32::from(iter) * Round::PER_ITERATION + u32::from(round),
    };
    let committee = d.settings.committees.for_round(layer, Round(round));
    let slot = Slot::hare(layer, u32::from(iter), u32::from(round));
    let mut recorded = Vec::new();
    let mut to_sign = Vec::new();
    for (signer, proof, count) in eligible(d, ctx, &vrf_round, committee) {
        let node_id = NodeId(signer.node_id);
        match d.guard.signed(&node_id, slot) {
            Ok(Some(rec)) if rec.payload.is_some() => {
                recorded.push((node_id, rec.payload.unwrap_or_default()));
            }
            Ok(_) => to_sign.push((signer.index, proof, count)),
            Err(e) => tracing::error!(layer, %slot, %node_id, "guard unavailable: {e}"),
        }
    }
    (recorded, to_sign)
}

/// One message round: eligible identities sign the node's template and publish it.
async fn send_round(d: Arc<Duties>, ctx: Arc<LayerContext>, iter: u8, round: u8) {
    let layer = ctx.layer;
    let (mut blobs, to_sign) = {
        let (d, ctx) = (d.clone(), ctx.clone());
        match blocking(move || plan_round(&d, &ctx, iter, round)).await {
            Some(plan) => plan,
            None => return,
        }
    };
    if !to_sign.is_empty() {
        match d.node.hare_round_template(layer, iter, round).await {
            Ok(Some(template)) => {
                let d = d.clone();
                let signed = blocking(move || {
                    let eligible: Vec<Eligible<'_>> = to_sign
                        .iter()
                        .map(|(index, proof, count)| Eligible {
                            identity: &d.identities[*index],
                            proof: *proof,
                            count: *count,
                        })
                        .collect();
                    sign_round(&d.guard, layer, iter, round, &template, &eligible)
                })
                .await;
                blobs.extend(signed.unwrap_or_default());
            }
            Ok(None) => tracing::debug!(layer, iter, round, "node has no template for this round"),
            Err(e) => tracing::warn!(layer, iter, round, "no hare template: {e}"),
        }
    }
    let mut sent = 0usize;
    for (node_id, blob) in blobs {
        let result = d.publisher.publish(HARE_PROTOCOL, Bytes::from(blob)).await;
        d.metrics.published("hare", result.is_ok());
        match result {
            Ok(()) => sent += 1,
            Err(e) => {
                tracing::warn!(layer, iter, round, %node_id, "hare message not published: {e}")
            }
        }
    }
    tracing::debug!(layer, iter, round, sent, "hare round done");
}

/// The message body of a round from the node's template.
pub fn body_of(
    layer: u32,
    iter: u8,
    round: u8,
    template: &HareRoundTemplate,
    proof: [u8; PROOF_LEN],
    count: u16,
) -> Body {
    Body {
        layer,
        iter_round: IterRound {
            iter,
            round: Round(round),
        },
        value: Value {
            proposals: template.proposals.iter().map(|p| ProposalId(*p)).collect(),
            reference: template.reference.map(Hash32),
        },
        eligibility: HareEligibility {
            proof: VrfSignature(proof),
            count,
        },
    }
}

/// An identity eligible in a round, with its VRF proof and seat count.
#[derive(Debug, Clone, Copy)]
pub struct Eligible<'a> {
    pub identity: &'a Identity,
    pub proof: [u8; PROOF_LEN],
    pub count: u16,
}

/// Builds the messages of a round from the node's template, signs them in one guard
/// transaction and records each one's bytes; returns what to publish (for a slot signed
/// before with other bytes: the bytes recorded then, or nothing).
pub fn sign_round(
    guard: &Guard,
    layer: u32,
    iter: u8,
    round: u8,
    template: &HareRoundTemplate,
    eligible: &[Eligible<'_>],
) -> Vec<(NodeId, Vec<u8>)> {
    let slot = Slot::hare(layer, u32::from(iter), u32::from(round));
    let mut messages = Vec::with_capacity(eligible.len());
    for e in eligible {
        let msg = Message {
            body: body_of(layer, iter, round, template, e.proof, e.count),
            sender: codec::NodeId(*e.identity.node_id().as_bytes()),
            signature: EdSignature::default(),
        };
        if let Err(e) = msg.validate() {
            tracing::warn!(
                layer,
                iter,
                round,
                "node's template does not fit the round: {e}"
            );
            return Vec::new();
        }
        let signed = codec::to_vec(&msg.body.metadata());
        messages.push((e.identity, msg, signed));
    }
    let requests: Vec<SignRequest<'_>> = messages
        .iter()
        .map(|(identity, _, signed)| SignRequest {
            identity,
            slot,
            domain: Domain::HARE,
            message: signed,
        })
        .collect();
    let answers = match guard.sign_batch(&requests) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(layer, iter, round, "guard failed; nothing signed: {e}");
            return Vec::new();
        }
    };
    // Payloads of the newly signed messages are recorded in one more transaction.
    let mut outcomes: Vec<(NodeId, Result<Recorded, GuardError>)> = Vec::new();
    let mut to_record: Vec<(NodeId, Slot, Vec<u8>)> = Vec::new();
    for ((identity, mut msg, _), answer) in messages.into_iter().zip(answers) {
        let node_id = identity.node_id();
        match answer {
            Ok(signed) => match signed.payload {
                Some(p) => outcomes.push((node_id, Ok(Recorded::Publish(p)))),
                None => {
                    msg.signature = EdSignature(signed.signature.0);
                    to_record.push((node_id, slot, codec::to_vec(&msg)));
                }
            },
            Err(GuardError::Conflict { .. }) => {
                outcomes.push((node_id, stored_payload(guard, &node_id, slot)))
            }
            Err(e) => outcomes.push((node_id, Err(e))),
        }
    }
    let batch: Vec<(NodeId, Slot, &[u8])> = to_record
        .iter()
        .map(|(n, s, p)| (*n, *s, p.as_slice()))
        .collect();
    match guard.record_payloads(&batch) {
        Ok(answers) => {
            for ((node_id, _, payload), answer) in to_record.iter().zip(answers) {
                let outcome = match answer {
                    Ok(()) => Ok(Recorded::Publish(payload.clone())),
                    Err(GuardError::PayloadConflict { .. }) => stored_payload(guard, node_id, slot),
                    Err(e) => Err(e),
                };
                outcomes.push((*node_id, outcome));
            }
        }
        Err(e) => {
            tracing::error!(layer, %slot, "guard failed; signed messages not recorded, not sent: {e}")
        }
    }
    let mut out = Vec::with_capacity(outcomes.len());
    for (node_id, outcome) in outcomes {
        match outcome {
            Ok(Recorded::Publish(p)) => out.push((node_id, p)),
            Ok(Recorded::Refused) => {
                tracing::warn!(layer, %slot, %node_id, "another message holds this slot; not sending")
            }
            Err(e) => tracing::error!(layer, %slot, %node_id, "not signed: {e}"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_skips_the_first_hardlock_and_repeats_per_iteration() {
        let rounds: Vec<(u8, u8)> = (0..15).map(step_round).collect();
        assert_eq!(
            rounds,
            vec![
                (0, 0),
                (0, 2),
                (0, 3),
                (0, 4),
                (0, 5),
                (0, 6),
                (0, 7),
                (1, 1),
                (1, 2),
                (1, 3),
                (1, 4),
                (1, 5),
                (1, 6),
                (1, 7),
                (2, 1)
            ]
        );
        let messages: Vec<(u8, u8)> = (0..14)
            .map(step_round)
            .filter(|(i, r)| is_message_round(*i, *r))
            .collect();
        assert_eq!(
            messages,
            vec![(0, 0), (0, 3), (0, 6), (0, 7), (1, 3), (1, 6), (1, 7)]
        );
    }

    #[test]
    fn a_round_signed_again_sends_the_recorded_bytes_even_for_another_template() {
        let dir = tempfile::tempdir().unwrap();
        let registry = prometheus::Registry::new();
        let guard = Guard::open(
            dir.path(),
            signing::GenesisId([7; 20]),
            signing::GuardMetrics::register(&registry).unwrap(),
        )
        .unwrap();
        let ids: Vec<Identity> = (1..=3u8)
            .map(|i| Identity::from_seed(&[i; 32], format!("{i}.key")))
            .collect();
        let eligible: Vec<Eligible<'_>> = ids
            .iter()
            .map(|identity| Eligible {
                identity,
                proof: [9; PROOF_LEN],
                count: 2,
            })
            .collect();
        let t1 = HareRoundTemplate {
            proposals: vec![[1; 20]],
            reference: None,
        };
        let first = sign_round(&guard, 20, 0, 0, &t1, &eligible);
        assert_eq!(first.len(), 3);
        for (node_id, blob) in &first {
            let m: Message = codec::from_slice(blob).unwrap();
            assert_eq!(&m.sender.0, node_id.as_bytes());
            assert_eq!(m.body.iter_round.absolute(), 0);
        }
        assert_eq!(sign_round(&guard, 20, 0, 0, &t1, &eligible), first);
        let t2 = HareRoundTemplate {
            proposals: vec![[2; 20]],
            reference: None,
        };
        assert_eq!(
            sign_round(&guard, 20, 0, 0, &t2, &eligible),
            first,
            "a changed template does not produce a second message for the slot"
        );
        // The next round is a new slot.
        let next = sign_round(&guard, 20, 0, 3, &t2, &eligible);
        assert_eq!(next.len(), 3);
        assert_ne!(next, first);
    }

    #[test]
    fn bodies_carry_the_requested_round_and_the_template_value() {
        let t = HareRoundTemplate {
            proposals: vec![[1; 20], [2; 20]],
            reference: None,
        };
        let b = body_of(9, 1, 3, &t, [7; PROOF_LEN], 2);
        assert_eq!(b.iter_round.absolute(), 10);
        assert_eq!(b.value.proposals.len(), 2);
        assert_eq!(b.eligibility.count, 2);
        let commit = HareRoundTemplate {
            proposals: vec![],
            reference: Some([3; 32]),
        };
        let m = Message {
            body: body_of(9, 0, 6, &commit, [7; PROOF_LEN], 1),
            ..Message::default()
        };
        assert!(m.validate().is_ok());
        let bad = Message {
            body: body_of(9, 0, 6, &t, [7; PROOF_LEN], 1),
            ..Message::default()
        };
        assert!(
            bad.validate().is_err(),
            "commit without reference is refused"
        );
    }
}

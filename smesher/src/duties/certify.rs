//! Block certification (PROTOCOL.md §1.2.7 step 3, §4.7): from iteration 1 of a layer's hare
//! session, `GET /blockids/{layer}` once per round until the node reports a block; then every
//! identity eligible in the certify round (2^31 − 1, certificate committee) signs a
//! `CertifyMessage` through the guard and publishes it on `bc1`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use codec::{BlockId, CertifyContent, CertifyMessage, EdSignature, VrfSignature};
use eligibility::HareRound;
use signing::{Domain, GuardError, NodeId, Slot};

use super::hare::{blocking, eligible, sleep_until, LayerContext};
use super::publish::{record_or_replay, stored_payload, Recorded, CERTIFY_PROTOCOL};
use super::Duties;

/// Polls for the layer's block from `from` until `until`, one poll per round; certifies the
/// first block reported and sets `certified`.
pub(crate) async fn run(
    d: Arc<Duties>,
    ctx: Arc<LayerContext>,
    from: SystemTime,
    until: SystemTime,
    certified: Arc<AtomicBool>,
) {
    let rd = d.settings.round_duration;
    let mut at = from;
    while at < until {
        sleep_until(at).await;
        match d.node.block_id(ctx.layer).await {
            Ok(Some(block)) => {
                let blobs = {
                    let (d, ctx) = (d.clone(), ctx.clone());
                    blocking(move || sign_certificates(&d, &ctx, block)).await
                };
                publish(&d, ctx.layer, blobs.unwrap_or_default()).await;
                certified.store(true, Ordering::SeqCst);
                return;
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(layer = ctx.layer, "block ID not known: {e}"),
        }
        at = (at + rd).max(SystemTime::now());
    }
    tracing::warn!(
        layer = ctx.layer,
        "no block reported before the hare iteration limit; layer not certified"
    );
}

/// Signs (or finds recorded) the certificates of every eligible identity for `block`.
pub(crate) fn sign_certificates(
    d: &Duties,
    ctx: &LayerContext,
    block: [u8; 20],
) -> Vec<(NodeId, Vec<u8>)> {
    let layer = ctx.layer;
    let round = HareRound::certify(ctx.beacon, layer);
    let slot = Slot::Certify { layer };
    let mut blobs = Vec::new();
    for (signer, proof, count) in eligible(d, ctx, &round, d.settings.certify_committee) {
        let node_id = NodeId(signer.node_id);
        let content = CertifyContent {
            layer_id: layer,
            block_id: BlockId(block),
            eligibility_cnt: count,
            proof: VrfSignature(proof),
        };
        let identity = d.identity(signer);
        let recorded = match d
            .guard
            .sign(identity, slot, Domain::HARE, &codec::to_vec(&content))
        {
            Ok(signed) => match signed.payload {
                Some(p) => Ok(Recorded::Publish(p)),
                None => {
                    let msg = CertifyMessage {
                        content,
                        signature: EdSignature(signed.signature.0),
                        smesher_id: codec::NodeId(signer.node_id),
                    };
                    record_or_replay(&d.guard, &node_id, slot, codec::to_vec(&msg))
                }
            },
            Err(GuardError::Conflict { .. }) => stored_payload(&d.guard, &node_id, slot),
            Err(e) => Err(e),
        };
        match recorded {
            Ok(Recorded::Publish(p)) => blobs.push((node_id, p)),
            Ok(Recorded::Refused) => tracing::warn!(
                layer, %node_id,
                "another block was certified for this layer before; not certifying"
            ),
            Err(e) => tracing::error!(layer, %node_id, "certificate not signed: {e}"),
        }
    }
    blobs
}

/// Publishes signed certificates on `bc1`.
async fn publish(d: &Duties, layer: u32, blobs: Vec<(NodeId, Vec<u8>)>) {
    for (node_id, blob) in blobs {
        let result = d
            .publisher
            .publish(CERTIFY_PROTOCOL, Bytes::from(blob))
            .await;
        d.metrics.published("certify", result.is_ok());
        if let Err(e) = result {
            tracing::warn!(layer, %node_id, "certificate not published: {e}");
        }
    }
}

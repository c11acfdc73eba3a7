//! Publishing signed messages: record the bytes in the guard first, then send them to the
//! active node (fail-over included) or, with `publish-to-all`, to every healthy node.

use bytes::Bytes;
use signing::{Guard, GuardError, NodeId, Slot};

use crate::node::{NodeClient, NodeError};

/// Topic names as the G3 client sends them (`hare3` is rewritten to `/h/3.0` by the node).
pub const HARE_PROTOCOL: &str = "hare3";
/// Proposals (with their ballot).
pub const PROPOSAL_PROTOCOL: &str = "pp1";
/// Block certificates.
pub const CERTIFY_PROTOCOL: &str = "bc1";

/// Sends gossip through the node-services.
#[derive(Debug, Clone)]
pub struct Publisher {
    node: NodeClient,
    to_all: bool,
}

impl Publisher {
    pub fn new(node: NodeClient, to_all: bool) -> Self {
        Publisher { node, to_all }
    }

    /// `POST /publish/{protocol}`. With `publish-to-all` the blob goes to every healthy node
    /// and the publish succeeds when one of them took it; when none is healthy it falls back to
    /// the fail-over path (which waits for, and retries on, whichever node comes back).
    pub async fn publish(&self, protocol: &str, blob: Bytes) -> Result<(), NodeError> {
        if self.to_all {
            let request = http::Request::post(format!("/publish/{protocol}"))
                .header(http::header::CONTENT_TYPE, "application/octet-stream")
                .body(blob.clone())
                .map_err(|e| NodeError::Rejected {
                    status: 0,
                    message: format!("bad protocol name {protocol:?}: {e}"),
                })?;
            let deliveries = self.node.gateway().broadcast(request).await;
            for d in deliveries.iter().filter(|d| !d.is_success()) {
                tracing::debug!(upstream = %d.upstream, protocol, "publish to one node failed: {:?}", d.result.as_ref().map(|r| r.status()));
            }
            if deliveries.iter().any(|d| d.is_success()) {
                return Ok(());
            }
        }
        self.node.publish(protocol, blob).await
    }
}

/// The outcome of asking the guard for a slot's bytes.
#[derive(Debug)]
pub enum Recorded {
    /// These bytes are recorded for the slot: publish them.
    Publish(Vec<u8>),
    /// A different message holds the slot and no bytes were recorded for it: publish nothing.
    Refused,
}

/// Records `payload` as the bytes published for `slot`, or, when other bytes were recorded
/// for it before (a restart with a different template), returns those instead.
pub fn record_or_replay(
    guard: &Guard,
    node_id: &NodeId,
    slot: Slot,
    payload: Vec<u8>,
) -> Result<Recorded, GuardError> {
    match guard.record_payload(node_id, slot, &payload) {
        Ok(()) => Ok(Recorded::Publish(payload)),
        Err(GuardError::PayloadConflict { .. }) => stored_payload(guard, node_id, slot),
        Err(e) => Err(e),
    }
}

/// The bytes recorded for a slot, if any.
pub fn stored_payload(guard: &Guard, node_id: &NodeId, slot: Slot) -> Result<Recorded, GuardError> {
    Ok(match guard.signed(node_id, slot)?.and_then(|r| r.payload) {
        Some(p) => Recorded::Publish(p),
        None => Recorded::Refused,
    })
}

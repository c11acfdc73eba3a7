//! Domain signing: Ed25519 over `prefix ‖ domain byte ‖ message`, the prefix being the genesis ID.

use std::fmt;
use std::sync::Arc;

use crate::identity::{Identity, NodeId};

/// The domain byte that separates what a signature is for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(pub u8);

impl Domain {
    /// ATX (V1: scale(ATXMetadataV1); V2: the ATX ID).
    pub const ATX: Domain = Domain(0);
    /// Proposal (scale(BallotMetadata) over the inner proposal).
    pub const PROPOSAL: Domain = Domain(1);
    /// Ballot (scale(BallotMetadata) over the inner ballot).
    pub const BALLOT: Domain = Domain(2);
    /// Hare messages and block certification.
    pub const HARE: Domain = Domain(3);
    /// PoET registration (the 32-byte challenge hash).
    pub const POET: Domain = Domain(4);
    /// Marriage certificate (the other identity's node ID; ATX V2 only).
    pub const MARRIAGE: Domain = Domain(5);
    /// Beacon first-round proposal.
    pub const BEACON_FIRST_MSG: Domain = Domain(10);
    /// Beacon follow-up.
    pub const BEACON_FOLLOWUP_MSG: Domain = Domain(11);

    /// Every domain go-spacemesh defines.
    pub const ALL: [Domain; 8] = [
        Self::ATX,
        Self::PROPOSAL,
        Self::BALLOT,
        Self::HARE,
        Self::POET,
        Self::MARRIAGE,
        Self::BEACON_FIRST_MSG,
        Self::BEACON_FOLLOWUP_MSG,
    ];

    /// The byte itself.
    pub fn byte(self) -> u8 {
        self.0
    }

    /// The go-spacemesh name (`ATX`, `HARE`, …), or `UNKNOWN` for unused bytes. Used as a
    /// metric label, so the set of values stays bounded.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "ATX",
            1 => "PROPOSAL",
            2 => "BALLOT",
            3 => "HARE",
            4 => "POET",
            5 => "MARRIAGE",
            10 => "BEACON_FIRST_MSG",
            11 => "BEACON_FOLLOWUP_MSG",
            _ => "UNKNOWN",
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A 64-byte Ed25519 signature (`R ‖ S`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// The raw bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The exact bytes Ed25519 signs: `prefix ‖ domain ‖ msg`.
pub fn preimage(prefix: &[u8], domain: Domain, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 1 + msg.len());
    out.extend_from_slice(prefix);
    out.push(domain.0);
    out.extend_from_slice(msg);
    out
}

/// Signs for one identity with a fixed prefix (normally the genesis ID).
///
/// This signs unconditionally; duties that must never sign twice for a slot go through the
/// guard, which uses the same preimage.
#[derive(Debug, Clone)]
pub struct Signer {
    identity: Arc<Identity>,
    prefix: Vec<u8>,
}

impl Signer {
    /// A signer for `identity` with `prefix` (the genesis ID; empty for raw RFC 8032 signing).
    pub fn new(identity: Arc<Identity>, prefix: &[u8]) -> Self {
        Signer {
            identity,
            prefix: prefix.to_vec(),
        }
    }

    /// Signs `prefix ‖ domain ‖ msg`.
    pub fn sign(&self, domain: Domain, msg: &[u8]) -> Signature {
        self.identity
            .sign_preimage(&preimage(&self.prefix, domain, msg))
    }

    /// The preimage `sign` would sign.
    pub fn preimage(&self, domain: Domain, msg: &[u8]) -> Vec<u8> {
        preimage(&self.prefix, domain, msg)
    }

    /// The signing identity's node ID.
    pub fn node_id(&self) -> NodeId {
        self.identity.node_id()
    }

    /// The identity.
    pub fn identity(&self) -> &Arc<Identity> {
        &self.identity
    }

    /// The prefix.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }
}

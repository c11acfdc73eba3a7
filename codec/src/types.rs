//! Fixed-size identifiers and signatures, the signing domains, and blake3 helpers.

fixed_bytes! {
    /// 32-byte blake3 digest (`types.Hash32`).
    Hash32, 32;
    /// 20-byte hash prefix (`types.Hash20`).
    Hash20, 20;
    /// Ed25519 public key of an identity (`types.NodeID`).
    NodeId, 32;
    /// ATX identifier (`types.ATXID`).
    AtxId, 32;
    /// Ballot identifier: first 20 bytes of blake3(scale(InnerBallot)).
    BallotId, 20;
    /// Proposal identifier: first 20 bytes of blake3(proposal signed bytes).
    ProposalId, 20;
    /// Block identifier.
    BlockId, 20;
    /// Epoch beacon.
    Beacon, 4;
    /// Ed25519 signature.
    EdSignature, 64;
    /// ECVRF proof, used by go-spacemesh as the VRF randomness.
    VrfSignature, 80;
    /// Account address: 4 zero bytes ‖ last 20 bytes of the wallet key.
    Address, 24;
    /// Transaction identifier.
    TransactionId, 32;
}

impl Hash32 {
    /// blake3 of the concatenation of `chunks` (go-spacemesh `hash.Sum`).
    pub fn digest(chunks: &[&[u8]]) -> Self {
        let mut h = blake3::Hasher::new();
        for c in chunks {
            h.update(c);
        }
        Self(*h.finalize().as_bytes())
    }

    /// The first 20 bytes (go-spacemesh `Hash32.ToHash20`).
    pub fn to_hash20(&self) -> Hash20 {
        let mut out = [0u8; 20];
        out.copy_from_slice(&self.0[..20]);
        Hash20(out)
    }
}

impl From<Hash32> for AtxId {
    fn from(h: Hash32) -> Self {
        Self(h.0)
    }
}

impl From<AtxId> for Hash32 {
    fn from(id: AtxId) -> Self {
        Self(id.0)
    }
}

/// The signing domain byte placed after the genesis prefix (`signing.Domain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Domain {
    /// ATX v1 metadata or ATX v2 ID.
    Atx = 0,
    /// Proposal metadata.
    Proposal = 1,
    /// Ballot metadata.
    Ballot = 2,
    /// Hare metadata and block certification.
    Hare = 3,
    /// PoET challenge hash.
    Poet = 4,
    /// Marriage certificate (the other identity's NodeID).
    Marriage = 5,
    /// Beacon first-round proposal.
    BeaconFirstMsg = 10,
    /// Beacon follow-up votes.
    BeaconFollowupMsg = 11,
}

impl Domain {
    /// Every domain, in byte order.
    pub const ALL: [Domain; 8] = [
        Domain::Atx,
        Domain::Proposal,
        Domain::Ballot,
        Domain::Hare,
        Domain::Poet,
        Domain::Marriage,
        Domain::BeaconFirstMsg,
        Domain::BeaconFollowupMsg,
    ];

    /// The byte written before the message.
    pub const fn byte(self) -> u8 {
        self as u8
    }

    /// The domain for a byte, if one is defined.
    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.byte() == b)
    }
}

/// A message with a defined "what gets signed". The signer prepends genesis prefix ‖ domain
/// byte to [`Signable::signed_bytes`].
pub trait Signable {
    /// The domain this message is signed under.
    const DOMAIN: Domain;
    /// The exact bytes that follow the prefix and domain byte in the signed preimage.
    fn signed_bytes(&self) -> Vec<u8>;
}

pub(crate) fn hex_string(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_bytes_match_go_spacemesh() {
        let bytes: Vec<u8> = Domain::ALL.iter().map(|d| d.byte()).collect();
        assert_eq!(bytes, vec![0, 1, 2, 3, 4, 5, 10, 11]);
        for d in Domain::ALL {
            assert_eq!(Domain::from_byte(d.byte()), Some(d));
        }
        for unused in [6, 7, 8, 9, 12, 255] {
            assert_eq!(Domain::from_byte(unused), None);
        }
    }

    #[test]
    fn debug_and_display_are_hex() {
        let mut id = [0u8; 32];
        id[0] = 0xab;
        id[31] = 0x01;
        let id = NodeId(id);
        let hex = format!("ab{}01", "00".repeat(30));
        assert_eq!(format!("{id:?}"), format!("NodeId({hex})"));
        assert_eq!(id.to_string(), hex);
        assert_eq!(
            format!("{:?}", Beacon([0xde, 0xad, 0xbe, 0xef])),
            "Beacon(deadbeef)"
        );
    }

    #[test]
    fn hash20_is_prefix_and_digest_concatenates() {
        let h = Hash32::digest(&[b"ab", b"c"]);
        assert_eq!(h.0, *blake3::hash(b"abc").as_bytes());
        assert_eq!(h.to_hash20().0[..], h.0[..20]);
    }

    #[test]
    fn from_slice_checks_length() {
        assert_eq!(Beacon::from_slice(&[1, 2, 3]), None);
        assert_eq!(
            Beacon::from_slice(&[1, 2, 3, 4]),
            Some(Beacon([1, 2, 3, 4]))
        );
        assert!(AtxId::ZERO.is_zero());
    }

    #[test]
    fn golden_atx_of_mainnet() {
        // PROTOCOL.md §3.3: blake3 of "1689321600" ‖ extra data, genesis ID its first 20 bytes.
        let golden = Hash32::digest(&[
            b"1689321600",
            b"00000000000000000001a6bc150307b5c1998045752b3c87eccf3c013036f3cc",
        ]);
        assert_eq!(
            golden.to_hex(),
            "9eebff023abb17ccb775c602daade8ed708f0a50d3149a42801184f5b74f2865"
        );
        assert_eq!(
            golden.to_hash20().to_hex(),
            "9eebff023abb17ccb775c602daade8ed708f0a50"
        );
    }
}

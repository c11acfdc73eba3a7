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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verifier::{verify_raw, Verifier};

    /// RFC 8032 §7.1 TEST 1–3: (secret, public, message, signature).
    const RFC8032: [(&str, &str, &str, &str); 3] = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];

    #[test]
    fn rfc8032_vectors_through_the_prefix_scheme() {
        for (secret, public, msg, sig) in RFC8032 {
            let seed: [u8; 32] = hex::decode(secret).unwrap().try_into().unwrap();
            let identity = Arc::new(Identity::from_seed(&seed, "rfc.key"));
            assert_eq!(identity.hex(), public);
            let msg = hex::decode(msg).unwrap();
            let pk: [u8; 32] = hex::decode(public).unwrap().try_into().unwrap();
            let expected: [u8; 64] = hex::decode(sig).unwrap().try_into().unwrap();
            // With an empty prefix the first message byte plays the domain byte, so the scheme
            // signs exactly the RFC message. TEST 1's empty message has no domain byte and is
            // signed as a bare preimage.
            let got = match msg.split_first() {
                Some((domain, rest)) => {
                    let signer = Signer::new(identity.clone(), &[]);
                    assert_eq!(signer.preimage(Domain(*domain), rest), msg);
                    let got = signer.sign(Domain(*domain), rest);
                    assert!(Verifier::new(&[]).verify(
                        Domain(*domain),
                        &identity.node_id(),
                        rest,
                        &got
                    ));
                    got
                }
                None => identity.sign_preimage(&msg),
            };
            assert_eq!(got.to_hex(), sig);
            assert!(verify_raw(&pk, &msg, &expected));
            let mut tampered = msg.clone();
            tampered.push(0);
            assert!(!verify_raw(&pk, &tampered, &expected));
        }
    }

    #[test]
    fn domain_names_are_bounded() {
        assert_eq!(Domain::HARE.name(), "HARE");
        assert_eq!(Domain(7).name(), "UNKNOWN");
        assert_eq!(preimage(b"ab", Domain::POET, b"cd"), b"ab\x04cd");
    }
}

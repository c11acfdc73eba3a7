//! Hare3 protocol messages (`hare3/types.go`) and what their signature covers.

use crate::{hash_of, to_vec, Decode, DecodeError, Decoder, Domain, EdSignature, Encode, Encoder};
use crate::{HareEligibility, Hash32, NodeId, ProposalId, Signable};

/// A hare round within an iteration (a Go `uint8`, compact8 on the wire).
///
/// Kept as a number rather than a closed enum so that decoding accepts every value a Go
/// node decodes; [`Round::is_known`] tells the eight defined rounds apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Round(pub u8);

impl Round {
    /// Preround: proposals are gossiped.
    pub const PREROUND: Round = Round(0);
    /// Hardlock.
    pub const HARDLOCK: Round = Round(1);
    /// Softlock.
    pub const SOFTLOCK: Round = Round(2);
    /// Propose: the leader proposes a set.
    pub const PROPOSE: Round = Round(3);
    /// Wait 1.
    pub const WAIT1: Round = Round(4);
    /// Wait 2.
    pub const WAIT2: Round = Round(5);
    /// Commit: a reference to a set.
    pub const COMMIT: Round = Round(6);
    /// Notify: a reference to the final set.
    pub const NOTIFY: Round = Round(7);

    /// Rounds per iteration in absolute numbering (Go multiplies by `notify`).
    pub const PER_ITERATION: u32 = 7;

    /// Whether this is one of the eight defined rounds.
    pub fn is_known(self) -> bool {
        self.0 <= Self::NOTIFY.0
    }
}

impl Encode for Round {
    fn encode_to(&self, enc: &mut Encoder) {
        enc.compact8(self.0);
    }
}

impl Decode for Round {
    fn decode_from(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        dec.compact8().map(Round)
    }
}

scale_struct! {
    /// Iteration and round.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct IterRound {
        /// Iteration, from 0.
        pub iter: u8,
        /// Round within the iteration.
        pub round: Round,
    }
}

impl IterRound {
    /// Absolute round = iter·7 + round, the value signed in [`HareMetadata`].
    pub fn absolute(&self) -> u32 {
        u32::from(self.iter) * Round::PER_ITERATION + u32::from(self.round.0)
    }
}

scale_struct! {
    /// What a hare message carries: proposals (preround, propose) or a reference (commit, notify).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Value {
        /// Proposal IDs (at most 2350).
        pub proposals: Vec<ProposalId> => vec(2350),
        /// Hash identifying a proposal set.
        pub reference: Option<Hash32>,
    }
}

scale_struct! {
    /// The signed part of a hare message.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Body {
        /// Layer.
        pub layer: u32,
        /// Iteration and round, inlined.
        pub iter_round: IterRound,
        /// Proposals or reference.
        pub value: Value,
        /// VRF eligibility proof and count.
        pub eligibility: HareEligibility,
    }
}

impl Body {
    /// blake3(scale(body)).
    pub fn msg_hash(&self) -> Hash32 {
        hash_of(self)
    }

    /// The metadata a hare signature covers.
    pub fn metadata(&self) -> HareMetadata {
        HareMetadata {
            layer: self.layer,
            round: self.iter_round.absolute(),
            msg_hash: self.msg_hash(),
        }
    }
}

scale_struct! {
    /// A signed hare message as published on `/h/3.0`.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Message {
        /// Signed content, inlined.
        pub body: Body,
        /// The signer.
        pub sender: NodeId,
        /// Signature in domain HARE over scale([`HareMetadata`]).
        pub signature: EdSignature,
    }
}

/// A hare message whose value does not fit its round.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HareMessageError {
    /// Commit and notify must name a reference.
    #[error("reference can't be nil in commit or notify rounds")]
    MissingReference,
    /// Preround and propose must not carry a reference.
    #[error("reference is set to not nil in round {0}")]
    UnexpectedReference(u8),
}

impl Message {
    /// blake3(scale(body)).
    pub fn msg_hash(&self) -> Hash32 {
        self.body.msg_hash()
    }

    /// Go's `Message.Validate`: reference required in commit/notify, forbidden in preround/propose.
    pub fn validate(&self) -> Result<(), HareMessageError> {
        let round = self.body.iter_round.round;
        let has_ref = self.body.value.reference.is_some();
        if (round == Round::COMMIT || round == Round::NOTIFY) && !has_ref {
            return Err(HareMessageError::MissingReference);
        }
        if (round == Round::PREROUND || round == Round::PROPOSE) && has_ref {
            return Err(HareMessageError::UnexpectedReference(round.0));
        }
        Ok(())
    }
}

impl Signable for Message {
    const DOMAIN: Domain = Domain::Hare;
    fn signed_bytes(&self) -> Vec<u8> {
        to_vec(&self.body.metadata())
    }
}

impl Signable for Body {
    const DOMAIN: Domain = Domain::Hare;
    fn signed_bytes(&self) -> Vec<u8> {
        to_vec(&self.metadata())
    }
}

scale_struct! {
    /// What a hare signature covers.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct HareMetadata {
        /// Layer.
        pub layer: u32,
        /// Absolute round, iter·7 + round.
        pub round: u32,
        /// blake3(scale(Body)).
        pub msg_hash: Hash32,
    }
}

//! Proposals (`common/types/proposal.go`): a signed ballot plus transactions, and the
//! proposal ID and signed bytes.

use crate::{hash_of, to_vec, Ballot, BallotMetadata, Domain, EdSignature, Hash32, ProposalId};
use crate::{Signable, TransactionId};

scale_struct! {
    /// The part of a proposal its signature covers.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct InnerProposal {
        /// The signed ballot, inlined.
        pub ballot: Ballot,
        /// Transactions (at most 100000).
        pub tx_ids: Vec<TransactionId> => vec(100_000),
        /// Mesh hash of the previous layer.
        pub mesh_hash: Hash32,
    }
}

scale_struct! {
    /// A signed proposal as published on `pp1`.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Proposal {
        /// Signed content, inlined.
        pub inner: InnerProposal,
        /// Signature in domain PROPOSAL over [`Proposal::signed_bytes`].
        pub signature: EdSignature,
    }
}

impl InnerProposal {
    /// scale(BallotMetadata{layer, blake3(scale(self))}).
    pub fn signed_bytes(&self) -> Vec<u8> {
        to_vec(&BallotMetadata {
            layer: self.ballot.inner.layer,
            msg_hash: hash_of(self),
        })
    }
}

impl Proposal {
    /// Proposal ID = first 20 bytes of blake3(signed bytes).
    pub fn id(&self) -> ProposalId {
        let signed = self.inner.signed_bytes();
        ProposalId(Hash32::digest(&[&signed]).to_hash20().0)
    }

    /// The ballot ID of the carried ballot.
    pub fn ballot_id(&self) -> crate::BallotId {
        self.inner.ballot.id()
    }
}

/// The proposal signature covers the whole inner proposal, ballot signature and smesher ID
/// included: sign the ballot and set its `smesher_id` before signing the proposal.
impl Signable for Proposal {
    const DOMAIN: Domain = Domain::Proposal;
    fn signed_bytes(&self) -> Vec<u8> {
        self.inner.signed_bytes()
    }
}

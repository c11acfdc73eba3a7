//! Ballots, their votes and epoch data (`common/types/ballot.go`), and what a ballot
//! signature covers.

use crate::{hash_of, to_vec, AtxId, BallotId, Beacon, BlockId, Domain, EdSignature, Hash32};
use crate::{NodeId, Signable, VotingEligibility};

scale_struct! {
    /// Epoch-wide data, only in the first ballot of an identity in an epoch.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct EpochData {
        /// Hash of the active set used.
        pub active_set_hash: Hash32,
        /// Epoch beacon.
        pub beacon: Beacon,
        /// Number of eligibility slots in the epoch.
        pub eligibility_count: u32,
    }
}

scale_struct! {
    /// The part of a ballot hashed into its ID and signature.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct InnerBallot {
        /// Layer the ballot is eligible in.
        pub layer: u32,
        /// The smesher's ATX for this epoch.
        pub atx_id: AtxId,
        /// Hash of the smesher's opinion.
        pub opinion_hash: Hash32,
        /// First ballot of the epoch; zero in that first ballot itself.
        pub ref_ballot: BallotId,
        /// Present in the first ballot of the epoch only.
        pub epoch_data: Option<EpochData>,
    }
}

impl InnerBallot {
    /// blake3(scale(self)).
    pub fn hash(&self) -> Hash32 {
        hash_of(self)
    }

    /// First 20 bytes of blake3(scale(self)).
    pub fn ballot_id(&self) -> BallotId {
        BallotId(self.hash().to_hash20().0)
    }

    /// scale(BallotMetadata{layer, blake3(scale(self))}).
    pub fn signed_bytes(&self) -> Vec<u8> {
        to_vec(&BallotMetadata {
            layer: self.layer,
            msg_hash: self.hash(),
        })
    }
}

scale_struct! {
    /// A vote for or against a block.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Vote {
        /// Block.
        pub id: BlockId,
        /// Layer of the block.
        pub layer_id: u32,
        /// Tick height of the block.
        pub height: u64,
    }
}

scale_struct! {
    /// A ballot's votes, relative to a base ballot.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Votes {
        /// Base ballot.
        pub base: BallotId,
        /// Blocks supported (at most 10000).
        pub support: Vec<Vote> => vec(10000),
        /// Blocks voted against (at most 10000).
        pub against: Vec<Vote> => vec(10000),
        /// Layers abstained on (at most 10000).
        pub abstain: Vec<u32> => vec(10000),
    }
}

scale_struct! {
    /// A signed ballot (travels inside a proposal).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Ballot {
        /// Signed content, inlined.
        pub inner: InnerBallot,
        /// Signature in domain BALLOT over [`InnerBallot::signed_bytes`].
        pub signature: EdSignature,
        /// The signer.
        pub smesher_id: NodeId,
        /// Votes (not covered by the ballot signature; the opinion hash is).
        pub votes: Votes,
        /// Eligibility proofs for this layer (at most 25000).
        pub eligibility_proofs: Vec<VotingEligibility> => vec(25000),
        /// Legacy active set (at most 1, normally empty).
        pub active_set: Vec<AtxId> => vec(1),
    }
}

impl Ballot {
    /// Ballot ID = first 20 bytes of blake3(scale(InnerBallot)).
    pub fn id(&self) -> BallotId {
        self.inner.ballot_id()
    }
}

impl Signable for Ballot {
    const DOMAIN: Domain = Domain::Ballot;
    fn signed_bytes(&self) -> Vec<u8> {
        self.inner.signed_bytes()
    }
}

scale_struct! {
    /// What ballot and proposal signatures cover.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct BallotMetadata {
        /// Layer.
        pub layer: u32,
        /// blake3 of the scale of InnerBallot (ballot) or InnerProposal (proposal).
        pub msg_hash: Hash32,
    }
}

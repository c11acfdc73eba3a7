//! NIPoST challenges and the PoET challenge hash (`activation/wire/challenge_v1.go`, `challenge_v2.go`).

use crate::{to_vec, AtxId, Domain, Hash32, PostV1, Signable};

scale_struct! {
    /// The challenge of an ATX v1; its hash is what the PoET proves membership of.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct NIPostChallengeV1 {
        /// Epoch the ATX is published in.
        pub publish_epoch: u32,
        /// Number of previous ATXs of this identity.
        pub sequence: u64,
        /// Previous ATX, zero for the initial ATX.
        pub prev_atx_id: AtxId,
        /// Positioning ATX.
        pub positioning_atx_id: AtxId,
        /// Commitment ATX, only in the initial ATX.
        pub commitment_atx_id: Option<AtxId>,
        /// Initial PoST, only in the initial ATX.
        pub initial_post: Option<PostV1>,
    }
}

impl NIPostChallengeV1 {
    /// blake3(0x00 ‖ scale(self)); the 0x00 separates leaves from inner nodes of the PoET
    /// member tree.
    pub fn poet_challenge_hash(&self) -> Hash32 {
        Hash32::digest(&[&[0x00], &to_vec(self)])
    }
}

/// Registering at a PoET signs the challenge hash.
impl Signable for NIPostChallengeV1 {
    const DOMAIN: Domain = Domain::Poet;
    fn signed_bytes(&self) -> Vec<u8> {
        self.poet_challenge_hash().0.to_vec()
    }
}

scale_struct! {
    /// The challenge of an ATX v2.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct NIPostChallengeV2 {
        /// Epoch the ATX is published in.
        pub publish_epoch: u32,
        /// Previous ATX, zero for the initial ATX.
        pub prev_atx_id: AtxId,
        /// Positioning ATX.
        pub positioning_atx_id: AtxId,
        /// Initial PoST, only in the initial ATX.
        pub initial_post: Option<PostV1>,
    }
}

impl NIPostChallengeV2 {
    /// blake3(0x00 ‖ scale(self)).
    pub fn poet_challenge_hash(&self) -> Hash32 {
        Hash32::digest(&[&[0x00], &to_vec(self)])
    }
}

impl Signable for NIPostChallengeV2 {
    const DOMAIN: Domain = Domain::Poet;
    fn signed_bytes(&self) -> Vec<u8> {
        self.poet_challenge_hash().0.to_vec()
    }
}

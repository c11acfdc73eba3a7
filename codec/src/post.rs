//! PoST proof, PoET membership proof and NIPoST wire structures shared by the ATX versions
//! (`activation/wire/wire_v1.go`).

use crate::{merkle, Hash32};

scale_struct! {
    /// A PoST proof: nonce, bit-packed label indices, PoW nonce.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct PostV1 {
        /// Nonce that satisfied the proving threshold.
        pub nonce: u32,
        /// Bit-packed indices (at most 800 bytes).
        pub indices: Vec<u8> => bytes(800),
        /// k2 PoW nonce.
        pub pow: u64,
    }
}

impl PostV1 {
    /// Merkle root over (nonce as 4 LE bytes, indices, pow as 8 LE bytes), the leaf ATX v2
    /// uses for a PoST (`PostV1.Root`).
    pub fn root(&self) -> Hash32 {
        let nonce = self.nonce.to_le_bytes();
        let pow = self.pow.to_le_bytes();
        let leaves: [&[u8]; 3] = [&nonce, &self.indices, &pow];
        merkle::root_hash(&leaves)
    }
}

scale_struct! {
    /// Membership of the PoET challenge in the PoET's member tree.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct MerkleProofV1 {
        /// Siblings from leaf to root, leaf and root excluded (at most 32).
        pub nodes: Vec<Hash32> => vec(32),
        /// Index of the proven leaf.
        pub leaf_index: u64,
    }
}

scale_struct! {
    /// Metadata a PoST proof is checked against.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct PostMetadataV1 {
        /// The PoET proof reference the PoST was generated for (at most 32 bytes).
        pub challenge: Vec<u8> => bytes(32),
        /// Labels per storage unit.
        pub labels_per_unit: u64,
    }
}

scale_struct! {
    /// Non-interactive proof of space-time: PoET membership plus PoST.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct NIPostV1 {
        /// Membership of this ATX's challenge in the PoET proof.
        pub membership: MerkleProofV1,
        /// The PoST proof.
        pub post: Option<PostV1>,
        /// Metadata of the PoST proof.
        pub post_metadata: Option<PostMetadataV1>,
    }
}

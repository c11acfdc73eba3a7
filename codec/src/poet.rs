//! PoET proof messages (`common/types/poet.go`, poet v0.10.4 `shared/shared.go`) and the
//! PoET proof reference.

use crate::{hash_of, EdSignature, Hash32};

scale_struct! {
    /// A PoET Merkle proof of its proven leaves.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct MerkleProof {
        /// Root (at most 32 bytes).
        pub root: Vec<u8> => bytes(32),
        /// Proven leaves (at most 150, each at most 32 bytes).
        pub proven_leaves: Vec<Vec<u8>> => vec_of_bytes(150, 32),
        /// Proof nodes (at most 5400, each at most 32 bytes).
        pub proof_nodes: Vec<Vec<u8>> => vec_of_bytes(5400, 32),
    }
}

scale_struct! {
    /// A PoET proof: Merkle proof plus leaf count.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct PoetProof {
        /// The Merkle proof, inlined.
        pub merkle_proof: MerkleProof,
        /// Number of leaves (ticks).
        pub leaf_count: u64,
    }
}

impl PoetProof {
    /// The PoET proof reference: blake3(scale(self)). ATXs name it in `PostMetadata.Challenge`.
    pub fn reference(&self) -> Hash32 {
        hash_of(self)
    }
}

scale_struct! {
    /// The body posted to a node-service so it stores a PoET proof.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct PoetProofMessage {
        /// The proof, inlined.
        pub poet_proof: PoetProof,
        /// PoET service public key (at most 32 bytes).
        pub poet_service_id: Vec<u8> => bytes(32),
        /// Round ID (at most 32 bytes).
        pub round_id: String => string(32),
        /// Root of the member tree, the PoET statement.
        pub statement: Hash32,
        /// Not checked by nodes; filled with zeros.
        pub signature: EdSignature,
    }
}

impl PoetProofMessage {
    /// The reference of the embedded proof.
    pub fn reference(&self) -> Hash32 {
        self.poet_proof.reference()
    }
}

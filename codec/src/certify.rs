//! Block certification messages (`common/types/block.go`), published on `bc1`.

use crate::{to_vec, BlockId, Domain, EdSignature, NodeId, Signable, VrfSignature};

/// Absolute round used for certification eligibility (2^31 − 1).
pub const CERTIFY_ROUND: u32 = (1 << 31) - 1;

scale_struct! {
    /// The signed part of a certification.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct CertifyContent {
        /// Layer.
        pub layer_id: u32,
        /// The block certified.
        pub block_id: BlockId,
        /// Eligibility count.
        pub eligibility_cnt: u16,
        /// VRF proof over the hare VRF message with round [`CERTIFY_ROUND`].
        pub proof: VrfSignature,
    }
}

scale_struct! {
    /// A signed certification.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct CertifyMessage {
        /// Signed content, inlined.
        pub content: CertifyContent,
        /// Signature in domain HARE over scale(content).
        pub signature: EdSignature,
        /// The signer.
        pub smesher_id: NodeId,
    }
}

impl Signable for CertifyContent {
    const DOMAIN: Domain = Domain::Hare;
    fn signed_bytes(&self) -> Vec<u8> {
        to_vec(self)
    }
}

impl Signable for CertifyMessage {
    const DOMAIN: Domain = Domain::Hare;
    fn signed_bytes(&self) -> Vec<u8> {
        to_vec(&self.content)
    }
}

//! ATX version 1, the version mainnet runs (`activation/wire/wire_v1.go`).

use crate::{
    hash_of, to_vec, Address, AtxId, Domain, EdSignature, Hash32, NIPostChallengeV1, NIPostV1,
    NodeId, Signable,
};

scale_struct! {
    /// Every field of an ATX v1 except the smesher ID and signature; its hash is the ATX ID.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct InnerActivationTxV1 {
        /// The NIPoST challenge, inlined (Go embeds it).
        pub challenge: NIPostChallengeV1,
        /// Reward address.
        pub coinbase: Address,
        /// Storage units proven.
        pub num_units: u32,
        /// The NIPoST.
        pub nipost: Option<NIPostV1>,
        /// The signer's ID, only in the initial ATX (makes its ID unique).
        pub node_id: Option<NodeId>,
        /// VRF nonce, in the initial ATX and whenever it changed.
        pub vrf_nonce: Option<u64>,
    }
}

impl InnerActivationTxV1 {
    /// ATX ID = blake3(scale(self)).
    pub fn id(&self) -> AtxId {
        hash_of(self).into()
    }

    /// scale(ATXMetadataV1{publish epoch, ATX ID}), what the smesher signs under [`Domain::Atx`].
    pub fn signed_bytes(&self) -> Vec<u8> {
        to_vec(&AtxMetadataV1 {
            publish: self.challenge.publish_epoch,
            msg_hash: self.id().into(),
        })
    }
}

scale_struct! {
    /// A signed ATX v1 as published on `ax1`.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct ActivationTxV1 {
        /// The signed content, inlined.
        pub inner: InnerActivationTxV1,
        /// The signer.
        pub smesher_id: NodeId,
        /// Signature over [`InnerActivationTxV1::signed_bytes`] in domain ATX.
        pub signature: EdSignature,
    }
}

impl ActivationTxV1 {
    /// ATX ID = blake3(scale(inner)).
    pub fn id(&self) -> AtxId {
        self.inner.id()
    }
}

impl Signable for ActivationTxV1 {
    const DOMAIN: Domain = Domain::Atx;
    fn signed_bytes(&self) -> Vec<u8> {
        self.inner.signed_bytes()
    }
}

scale_struct! {
    /// What an ATX v1 signature covers.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct AtxMetadataV1 {
        /// Publish epoch.
        pub publish: u32,
        /// The ATX ID.
        pub msg_hash: Hash32,
    }
}

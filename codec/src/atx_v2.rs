//! ATX version 2 and its Merkle-root ID (`activation/wire/wire_v2.go`); not active on
//! mainnet as of the pinned go-spacemesh, carried so the service can follow a switch.

use crate::{
    merkle, to_vec, Address, AtxId, Domain, EdSignature, Hash32, NodeId, PostV1, Signable,
};

/// Limits from the Go struct tags; the ID pads each sub-tree to exactly this many leaves.
const MAX_PREVIOUS_ATXS: u32 = 256;
const MAX_NIPOSTS: u32 = 4;
const MAX_MARRIAGES: u32 = 256;
const MAX_SUB_POSTS: u32 = 256;

fn le_padded32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..bytes.len()].copy_from_slice(bytes);
    out
}

/// Root of `leaves` padded with zero hashes up to `width` leaves.
fn padded_root<L: AsRef<[u8]>>(leaves: &[L], width: u32) -> Vec<u8> {
    let mut tree = merkle::Tree::new();
    for leaf in leaves {
        tree.add_leaf(leaf.as_ref());
    }
    for _ in leaves.len()..width as usize {
        tree.add_leaf(Hash32::ZERO.as_bytes());
    }
    tree.root()
}

scale_struct! {
    /// Parts only the initial ATX v2 carries.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct InitialAtxPartsV2 {
        /// Commitment ATX of the PoST data.
        pub commitment_atx: AtxId,
        /// Initial PoST.
        pub post: PostV1,
    }
}

impl InitialAtxPartsV2 {
    /// Root over (commitment ATX, PoST root).
    pub fn root(&self) -> Hash32 {
        let post = self.post.root();
        let leaves: [&[u8]; 2] = [self.commitment_atx.as_bytes(), post.as_bytes()];
        merkle::root_hash(&leaves)
    }
}

scale_struct! {
    /// A marriage: the marrying identity's signature over this ATX's smesher ID.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct MarriageCertificate {
        /// An ATX of the marrying identity (proves it exists).
        pub reference_atx: AtxId,
        /// Signature in domain MARRIAGE over the publishing identity's NodeID.
        pub signature: EdSignature,
    }
}

impl MarriageCertificate {
    /// Root over (reference ATX, signature).
    pub fn root(&self) -> Hash32 {
        let leaves: [&[u8]; 2] = [self.reference_atx.as_bytes(), self.signature.as_bytes()];
        merkle::root_hash(&leaves)
    }

    /// What the marrying identity signs under [`Domain::Marriage`]: the other identity's ID.
    pub fn signed_bytes_for(publisher: &NodeId) -> Vec<u8> {
        publisher.0.to_vec()
    }
}

scale_struct! {
    /// One membership proof for several challenges.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct MerkleProofV2 {
        /// Siblings from leaf to root (at most 32).
        pub nodes: Vec<Hash32> => vec(32),
    }
}

scale_struct! {
    /// The PoST of one (possibly married) identity inside an ATX v2.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct SubPostV2 {
        /// Index of this identity's marriage certificate (0 when not merged).
        pub marriage_index: u32,
        /// Index of this identity's previous ATX in `previous_atxs`.
        pub prev_atx_index: u32,
        /// Leaf index of this identity's challenge in the PoET member tree.
        pub membership_leaf_index: u64,
        /// The PoST proof.
        pub post: PostV1,
        /// Storage units proven.
        pub num_units: u32,
    }
}

impl SubPostV2 {
    /// Root over (marriage index 4 LE bytes, previous ATX, leaf index padded to 32 bytes,
    /// PoST root, num units 4 LE bytes). Empty when `prev_atx_index` is out of range: Go
    /// then returns nil, which the parent tree takes as an empty leaf.
    pub fn root(&self, previous_atxs: &[AtxId]) -> Vec<u8> {
        let Some(prev) = previous_atxs.get(self.prev_atx_index as usize) else {
            return Vec::new();
        };
        let marriage_index = self.marriage_index.to_le_bytes();
        let leaf_index = le_padded32(&self.membership_leaf_index.to_le_bytes());
        let post = self.post.root();
        let num_units = self.num_units.to_le_bytes();
        let leaves: [&[u8]; 5] = [
            &marriage_index,
            prev.as_bytes(),
            &leaf_index,
            post.as_bytes(),
            &num_units,
        ];
        merkle::root(&leaves)
    }
}

scale_struct! {
    /// PoSTs that share one PoET membership proof.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct NiPostsV2 {
        /// Membership of the challenges in the PoET proof.
        pub membership: MerkleProofV2,
        /// PoET proof root, the PoST challenge.
        pub challenge: Hash32,
        /// One PoST per identity (at most 256).
        pub posts: Vec<SubPostV2> => vec(MAX_SUB_POSTS),
    }
}

impl NiPostsV2 {
    /// Root over (scale(membership), challenge, root of sub-post roots padded to 256).
    pub fn root(&self, previous_atxs: &[AtxId]) -> Hash32 {
        let membership = to_vec(&self.membership);
        let post_roots: Vec<Vec<u8>> = self.posts.iter().map(|p| p.root(previous_atxs)).collect();
        let posts = padded_root(&post_roots, MAX_SUB_POSTS);
        let leaves: [&[u8]; 3] = [&membership, self.challenge.as_bytes(), &posts];
        merkle::root_hash(&leaves)
    }
}

scale_struct! {
    /// A signed ATX v2.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct ActivationTxV2 {
        /// Epoch the ATX is published in.
        pub publish_epoch: u32,
        /// Positioning ATX.
        pub positioning_atx: AtxId,
        /// Reward address.
        pub coinbase: Address,
        /// Only in the initial ATX.
        pub initial: Option<InitialAtxPartsV2>,
        /// Previous ATXs of the included identities (at most 256).
        pub previous_atxs: Vec<AtxId> => vec(MAX_PREVIOUS_ATXS),
        /// NIPoSTs (at most 4).
        pub niposts: Vec<NiPostsV2> => vec(MAX_NIPOSTS),
        /// VRF nonce valid for all included space.
        pub vrf_nonce: u64,
        /// Marriage certificates (at most 256).
        pub marriages: Vec<MarriageCertificate> => vec(MAX_MARRIAGES),
        /// ATX holding the marriages of the included IDs, when merged.
        pub marriage_atx: Option<AtxId>,
        /// The signer.
        pub smesher_id: NodeId,
        /// Signature over the ID in domain ATX.
        pub signature: EdSignature,
    }
}

impl ActivationTxV2 {
    /// The ATX ID: Merkle root over publish epoch (LE, padded to 32), positioning ATX,
    /// coinbase, initial-parts root or zero, previous ATXs root (padded to 256), NIPoSTs
    /// root (padded to 4), VRF nonce (LE, padded to 32), marriages root (padded to 256),
    /// marriage ATX or zero.
    pub fn id(&self) -> AtxId {
        let publish = le_padded32(&self.publish_epoch.to_le_bytes());
        let initial = self
            .initial
            .as_ref()
            .map_or(Hash32::ZERO, InitialAtxPartsV2::root);
        let previous = padded_root(&self.previous_atxs, MAX_PREVIOUS_ATXS);
        let nipost_roots: Vec<Hash32> = self
            .niposts
            .iter()
            .map(|n| n.root(&self.previous_atxs))
            .collect();
        let niposts = padded_root(&nipost_roots, MAX_NIPOSTS);
        let vrf_nonce = le_padded32(&self.vrf_nonce.to_le_bytes());
        let marriage_roots: Vec<Hash32> = self
            .marriages
            .iter()
            .map(MarriageCertificate::root)
            .collect();
        let marriages = padded_root(&marriage_roots, MAX_MARRIAGES);
        let marriage_atx = self.marriage_atx.unwrap_or(AtxId::ZERO);
        let leaves: [&[u8]; 9] = [
            &publish,
            self.positioning_atx.as_bytes(),
            self.coinbase.as_bytes(),
            initial.as_bytes(),
            &previous,
            &niposts,
            &vrf_nonce,
            &marriages,
            marriage_atx.as_bytes(),
        ];
        merkle::root_hash(&leaves).into()
    }
}

/// An ATX v2 signature covers its 32-byte ID.
impl Signable for ActivationTxV2 {
    const DOMAIN: Domain = Domain::Atx;
    fn signed_bytes(&self) -> Vec<u8> {
        self.id().0.to_vec()
    }
}

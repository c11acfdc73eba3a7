//! go-scale codec and the Spacemesh message types the smeshing service builds and signs.
//!
//! Map of the crate:
//! - [`encoder`], [`decoder`], [`traits`]: the go-scale wire rules (compact integers with
//!   go-scale's exact canonical checks, options, fixed arrays, limited collections, no
//!   trailing bytes, bounded nesting) and the `to_vec` / `try_to_vec` / `from_slice` entry points.
//! - [`types`]: fixed-size IDs and signatures, signing [`Domain`]s, the [`Signable`] trait.
//! - [`merkle`]: spacemeshos/merkle-tree roots, used for ATX v2 IDs.
//! - Message layouts: [`post`], [`challenge`], [`atx_v1`], [`atx_v2`], [`hare`],
//!   [`eligibility`], [`ballot`], [`proposal`], [`certify`], [`poet`].
//!
//! Decoding is as lenient as go-scale where go-scale is lenient (a bool or option byte other
//! than `01` reads as false/none; a compact64 may carry extra zero length bytes once the
//! value is above 2^30 − 1), so we accept what Go nodes accept. Encoding is always canonical.
//! Every hash or ID is computed over a fresh canonical encoding, as go-spacemesh does.

#[macro_use]
mod macros;

mod error;

pub mod atx_v1;
pub mod atx_v2;
pub mod ballot;
pub mod certify;
pub mod challenge;
pub mod decoder;
pub mod eligibility;
pub mod encoder;
pub mod hare;
pub mod merkle;
pub mod poet;
pub mod post;
pub mod proposal;
pub mod traits;
pub mod types;

pub use atx_v1::{ActivationTxV1, AtxMetadataV1, InnerActivationTxV1};
pub use atx_v2::{
    ActivationTxV2, InitialAtxPartsV2, MarriageCertificate, MerkleProofV2, NiPostsV2, SubPostV2,
};
pub use ballot::{Ballot, BallotMetadata, EpochData, InnerBallot, Vote, Votes};
pub use certify::{CertifyContent, CertifyMessage, CERTIFY_ROUND};
pub use challenge::{NIPostChallengeV1, NIPostChallengeV2};
pub use decoder::{Decoder, DEFAULT_MAX_ELEMENTS, MAX_NESTED};
pub use eligibility::{eligibility_type, HareEligibility, VotingEligibility, VrfMessage};
pub use encoder::Encoder;
pub use error::{DecodeError, EncodeError};
pub use poet::{MerkleProof, PoetProof, PoetProofMessage};
pub use post::{MerkleProofV1, NIPostV1, PostMetadataV1, PostV1};
pub use proposal::{InnerProposal, Proposal};
pub use traits::{from_slice, hash_of, to_vec, try_to_vec, Decode, Encode};
pub use types::{
    Address, AtxId, BallotId, Beacon, BlockId, Domain, EdSignature, Hash20, Hash32, NodeId,
    ProposalId, Signable, TransactionId, VrfSignature,
};

//! VRF and eligibility for the smeshing duties.
//!
//! - [`vrf`]: ECVRF-EDWARDS25519-SHA512-ELL2 (RFC 9381) proofs, verification, output hash.
//! - [`fixed`]: the 56-bit fixed-point numbers of spacemeshos/fixed v0.1.1, bit-exact.
//! - [`bincdf`]: its `BinCDF` (regularized incomplete beta), so that eligibility counts agree
//!   with Go nodes at every boundary.
//! - [`hare`]: hare committee seats from a VRF proof, and their validation.
//! - [`proposal`]: proposal slots per epoch and the layer of each slot.
//!
//! `field` holds the GF(2^255 − 19) arithmetic the hash-to-curve step needs.
//!
//! ```
//! use eligibility::{hare, HareRound, VrfSecretKey};
//!
//! let key = VrfSecretKey::from_seed(&[1u8; 32]);
//! let round = HareRound { beacon: [0xde, 0xad, 0xbe, 0xef], layer: 105_725, round: 0 };
//! let proof = round.prove(&key);
//! // 10% of the weight, committee 50: how many seats, and a checker agrees.
//! let seats = hare::calc_eligibility(&proof, 200, 2_000, 50).unwrap();
//! assert!(hare::validate(seats, &proof, 200, 2_000, 50).unwrap());
//! let weights = hare::Weights { miner: 200, total: 2_000 };
//! assert_eq!(hare::calc_verified(&key.public_key(), &round, &proof, weights, 50), Ok(seats));
//! ```

pub mod bincdf;
mod field;
pub mod fixed;
pub mod hare;
pub mod proposal;
pub mod vrf;

pub use bincdf::bin_cdf;
pub use fixed::{Fixed, FixedError};
pub use hare::{calc_eligibility, validate, EligibilityError, HareRound};
pub use proposal::{eligible_layer, num_eligible_slots, ProposalError};
pub use vrf::{proof_to_hash, prove, verify, VrfSecretKey, OUTPUT_LEN, PROOF_LEN};

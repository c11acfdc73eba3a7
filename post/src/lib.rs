//! Proof of Space-Time compatible with post-rs: labels, data files, initialization, prover, verifier.
//!
//! Map of the crate:
//! - [`scrypt`]: the label hash (scrypt-jane's ChaCha20/8 + HMAC-Keccak-512 variant);
//! - [`label`]: commitment, label input layout, VRF nonce rule;
//! - [`metadata`]: `postdata_metadata.json` and the verifier's [`ProofMetadata`];
//! - [`data`]: `postdata_N.bin` layout, checks and the sequential batch reader;
//! - [`init`]: resumable CPU initialization with rayon;
//! - [`difficulty`], [`cipher`], [`compression`], [`sampling`]: the proving arithmetic, AES keys,
//!   index bit-packing and the verifier's k3 sample;
//! - [`pow`]: k2pow with RandomX (fast and light modes);
//! - [`prove`]: the data pass and [`generate_proof`];
//! - [`verify`]: the [`Verifier`].
pub mod cipher;
pub mod compression;
pub mod data;
pub mod difficulty;
pub mod init;
pub mod label;
pub mod metadata;
pub mod pow;
pub mod prove;
pub mod sampling;
pub mod scrypt;
mod u256;
pub mod verify;

pub use data::DataError;
pub use init::{init, InitError, InitOptions, InitProgress, DEFAULT_MAX_FILE_SIZE};
pub use label::{commitment, label, vrf_difficulty, vrf_nonce_is_valid, Labeler, LABEL_SIZE};
pub use metadata::{MetadataError, PostMetadata, ProofMetadata, METADATA_FILE};
pub use pow::{PowError, PowSolver, PowVerifier, RandomX, RandomXMode};
pub use prove::{
    generate_proof, NoProgress, Proof, ProofConfig, ProveError, ProvingOptions, ProvingProgress,
};
pub use scrypt::{ScryptParams, ScryptParamsError};
pub use verify::{InitConfig, Verifier, VerifyError, VerifyMode};

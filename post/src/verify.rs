//! The verifier: k2pow, index packing, then the AES test on the recomputed labels.
//!
//! Stricter than post-rs v0.8.5, which accepts repeated and out-of-range indices: both are
//! rejected here (our prover never emits them).

use std::collections::HashSet;

use aes::cipher::BlockEncrypt;
use aes::Block;

use crate::cipher::{group_cipher, nonce_cipher};
use crate::compression::{indices_bytes, required_bits, unpack_indices};
use crate::difficulty::{
    proving_difficulty, scale_pow_difficulty, split_difficulty, DifficultyError,
};
use crate::label::{commitment, Labeler};
use crate::metadata::ProofMetadata;
use crate::pow::{PowError, PowVerifier};
use crate::prove::{Proof, ProofConfig, MAX_GROUPS, NONCES_PER_GROUP};
use crate::sampling::RandomValues;
use crate::scrypt::ScryptParams;

/// Network initialization parameters the verifier needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitConfig {
    pub min_num_units: u32,
    pub max_num_units: u32,
    pub labels_per_unit: u64,
    pub scrypt: ScryptParams,
}

impl InitConfig {
    /// Mainnet: 4 units minimum, no practical maximum, 2^32 labels per unit, scrypt N=8192.
    pub const MAINNET: InitConfig = InitConfig {
        min_num_units: 4,
        max_num_units: u32::MAX,
        labels_per_unit: 1 << 32,
        scrypt: ScryptParams::MAINNET,
    };
}

/// Which indices get their labels recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyMode<'a> {
    /// All k2.
    All,
    /// Only the one at this position.
    One { index: usize },
    /// k3 of them, sampled with blake3(seed ‖ node_id ‖ challenge).
    Subset { k3: usize, seed: &'a [u8] },
}

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("num_units {got} is below the minimum {min}")]
    TooFewUnits { min: u32, got: u32 },
    #[error("num_units {got} is above the maximum {max}")]
    TooManyUnits { max: u32, got: u32 },
    #[error("nonce {0} is in a nonce group above 255")]
    NonceGroupOutOfRange(u32),
    #[error("invalid k2pow: {0}")]
    Pow(PowError),
    #[error("indices take {got} bytes, expected {expected}")]
    IndicesLength { expected: usize, got: usize },
    #[error("index {index} at position {position} is not below the {total} labels")]
    IndexOutOfRange {
        position: usize,
        index: u64,
        total: u64,
    },
    #[error("index {index} appears more than once")]
    DuplicateIndex { index: u64 },
    #[error(transparent)]
    Difficulty(#[from] DifficultyError),
    #[error("position {position} of one-index mode is not below k2 = {k2}")]
    PositionOutOfRange { position: usize, k2: u32 },
    #[error("label {index} (position {position}) scores {msb} above the threshold {threshold}")]
    Msb {
        position: usize,
        index: u64,
        msb: u8,
        threshold: u8,
    },
    #[error("label {index} (position {position}) fails the 56-bit check")]
    Lsb { position: usize, index: u64 },
}

/// Verifies proofs with a given k2pow checker.
#[derive(Debug)]
pub struct Verifier<P> {
    pow: P,
}

impl<P: PowVerifier> Verifier<P> {
    pub fn new(pow: P) -> Self {
        Self { pow }
    }

    /// The k2pow checker.
    pub fn pow(&self) -> &P {
        &self.pow
    }

    /// Full verification of `proof` for `meta`.
    pub fn verify(
        &self,
        proof: &Proof,
        meta: &ProofMetadata,
        cfg: &ProofConfig,
        init: &InitConfig,
        mode: VerifyMode<'_>,
    ) -> Result<(), VerifyError> {
        if meta.num_units < init.min_num_units {
            return Err(VerifyError::TooFewUnits {
                min: init.min_num_units,
                got: meta.num_units,
            });
        }
        if meta.num_units > init.max_num_units {
            return Err(VerifyError::TooManyUnits {
                max: init.max_num_units,
                got: meta.num_units,
            });
        }
        let group = proof.nonce / NONCES_PER_GROUP;
        if group >= MAX_GROUPS {
            return Err(VerifyError::NonceGroupOutOfRange(proof.nonce));
        }
        let total = init
            .labels_per_unit
            .saturating_mul(u64::from(meta.num_units));
        let difficulty = proving_difficulty(cfg.k1, total)?;
        let mut challenge8 = [0u8; 8];
        challenge8.copy_from_slice(&meta.challenge[..8]);
        self.pow
            .verify(
                proof.pow,
                group as u8,
                &challenge8,
                &scale_pow_difficulty(&cfg.pow_difficulty, meta.num_units),
                &meta.node_id,
            )
            .map_err(VerifyError::Pow)?;

        let bits = required_bits(total);
        let expected = indices_bytes(bits, cfg.k2);
        if proof.indices.len() != expected {
            return Err(VerifyError::IndicesLength {
                expected,
                got: proof.indices.len(),
            });
        }
        let mut indices = unpack_indices(&proof.indices, bits);
        indices.truncate(cfg.k2 as usize);
        let mut seen = HashSet::with_capacity(indices.len());
        for (position, &index) in indices.iter().enumerate() {
            if index >= total {
                return Err(VerifyError::IndexOutOfRange {
                    position,
                    index,
                    total,
                });
            }
            if !seen.insert(index) {
                return Err(VerifyError::DuplicateIndex { index });
            }
        }

        let numbered: Vec<(usize, u64)> = indices.into_iter().enumerate().collect();
        let selected: Vec<(usize, u64)> = match mode {
            VerifyMode::All => numbered,
            VerifyMode::Subset { k3, .. } if k3 >= cfg.k2 as usize => numbered,
            VerifyMode::One { index } => match numbered.get(index) {
                Some(&pair) => vec![pair],
                None => {
                    return Err(VerifyError::PositionOutOfRange {
                        position: index,
                        k2: cfg.k2,
                    })
                }
            },
            VerifyMode::Subset { k3, seed } => {
                RandomValues::new(numbered, &[seed, &meta.node_id, &meta.challenge])
                    .take(k3)
                    .collect()
            }
        };

        let (msb_threshold, lsb_threshold) = split_difficulty(difficulty);
        let cipher = group_cipher(&meta.challenge, group, proof.pow);
        let lazy = nonce_cipher(&meta.challenge, group, proof.pow, proof.nonce);
        let byte = (proof.nonce % NONCES_PER_GROUP) as usize;
        let mut labeler = Labeler::new(
            commitment(&meta.node_id, &meta.commitment_atx_id),
            init.scrypt,
        );
        for (position, index) in selected {
            let label = Block::from(labeler.label(index));
            let mut out = Block::default();
            cipher.encrypt_block_b2b(&label, &mut out);
            let msb = out[byte];
            if msb > msb_threshold {
                return Err(VerifyError::Msb {
                    position,
                    index,
                    msb,
                    threshold: msb_threshold,
                });
            }
            if msb == msb_threshold {
                lazy.encrypt_block_b2b(&label, &mut out);
                let mut lo = [0u8; 8];
                lo.copy_from_slice(&out[..8]);
                if u64::from_le_bytes(lo) & 0x00ff_ffff_ffff_ffff >= lsb_threshold {
                    return Err(VerifyError::Lsb { position, index });
                }
            }
        }
        Ok(())
    }
}

//! Labels: the commitment, the label function's input layout, and the VRF nonce rule.

use crate::scrypt::{Scrypt, ScryptParams};
use crate::u256;

/// Size of one stored label.
pub const LABEL_SIZE: usize = 16;

/// blake3(node_id ‖ commitment_atx_id): the key every label of an identity is derived from.
pub fn commitment(node_id: &[u8; 32], commitment_atx_id: &[u8; 32]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(node_id);
    hasher.update(commitment_atx_id);
    hasher.finalize().into()
}

/// Computes labels for one commitment, reusing scrypt's working memory between calls.
#[derive(Debug)]
pub struct Labeler {
    commitment: [u8; 32],
    scrypt: Scrypt,
}

impl Labeler {
    /// A labeler for `commitment` with the given scrypt parameters.
    pub fn new(commitment: [u8; 32], params: ScryptParams) -> Self {
        Self {
            commitment,
            scrypt: Scrypt::new(params),
        }
    }

    /// The full 32-byte scrypt output for label `index`; the VRF nonce search compares these.
    pub fn output(&mut self, index: u64) -> [u8; 32] {
        // 72-byte password: commitment, index as u64 LE, 32 zero bytes; empty salt.
        let mut password = [0u8; 72];
        password[..32].copy_from_slice(&self.commitment);
        password[32..40].copy_from_slice(&index.to_le_bytes());
        let mut out = [0u8; 32];
        self.scrypt.hash(&password, &mut out);
        out
    }

    /// Label `index`: the first 16 bytes of its scrypt output.
    pub fn label(&mut self, index: u64) -> [u8; LABEL_SIZE] {
        let out = self.output(index);
        let mut label = [0u8; LABEL_SIZE];
        label.copy_from_slice(&out[..LABEL_SIZE]);
        label
    }
}

/// Label `index` of `commitment` (allocates scrypt memory; use [`Labeler`] for many labels).
pub fn label(commitment: &[u8; 32], params: ScryptParams, index: u64) -> [u8; LABEL_SIZE] {
    Labeler::new(*commitment, params).label(index)
}

/// The VRF nonce threshold: (2^256 / total_labels) << 3, big-endian, saturating at 2^256 − 1.
pub fn vrf_difficulty(total_labels: u64) -> [u8; 32] {
    if total_labels == 0 {
        return [0xff; 32];
    }
    let quotient = u256::pow2_256_div(total_labels);
    u256::shl_saturating(&quotient, 3)
}

/// Whether `nonce` is an acceptable VRF nonce: its scrypt output is below [`vrf_difficulty`].
pub fn vrf_nonce_is_valid(
    commitment: &[u8; 32],
    params: ScryptParams,
    nonce: u64,
    total_labels: u64,
) -> bool {
    nonce < total_labels
        && Labeler::new(*commitment, params).output(nonce) < vrf_difficulty(total_labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrf_difficulty_values() {
        // 2^256 / 2^11 << 3 = 2^248.
        let mut expected = [0u8; 32];
        expected[0] = 1;
        assert_eq!(vrf_difficulty(2048), expected);
        // 2^256 / 3 << 3 does not fit: saturates.
        assert_eq!(vrf_difficulty(3), [0xff; 32]);
        // 2^256 / 2^32 << 3 = 2^227.
        let mut expected = [0u8; 32];
        expected[3] = 0x08;
        assert_eq!(vrf_difficulty(1 << 32), expected);
    }
}

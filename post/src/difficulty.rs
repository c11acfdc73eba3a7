//! Proving difficulty from k1 and the PoW threshold scaled by the number of units.

use crate::u256;

/// The data is too small for the requested k1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DifficultyError {
    #[error("the data has no labels")]
    NoLabels,
    #[error("number of labels ({labels}) must be bigger than k1 ({k1})")]
    TooFewLabels { labels: u64, k1: u32 },
}

/// d = ⌊2^64 · k1 / total_labels⌋: on average k1 labels per nonce fall below it.
pub fn proving_difficulty(k1: u32, total_labels: u64) -> Result<u64, DifficultyError> {
    if total_labels == 0 {
        return Err(DifficultyError::NoLabels);
    }
    if total_labels <= u64::from(k1) {
        return Err(DifficultyError::TooFewLabels {
            labels: total_labels,
            k1,
        });
    }
    // k1 < total_labels, so the quotient is below 2^64.
    Ok(((1u128 << 64) * u128::from(k1) / u128::from(total_labels)) as u64)
}

/// Splits d into the 8-bit MSB threshold and the 56-bit LSB threshold.
pub fn split_difficulty(d: u64) -> (u8, u64) {
    ((d >> 56) as u8, d & 0x00ff_ffff_ffff_ffff)
}

/// The k2pow threshold for `num_units`: pow_difficulty / num_units (256-bit, big-endian).
pub fn scale_pow_difficulty(pow_difficulty: &[u8; 32], num_units: u32) -> [u8; 32] {
    u256::div_u64(pow_difficulty, u64::from(num_units.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_values() {
        assert_eq!(proving_difficulty(1, 2), Ok(1 << 63));
        assert_eq!(proving_difficulty(1, 128), Ok(1 << 57));
        assert_eq!(proving_difficulty(26, 4 << 32), Ok(26 << 30));
        assert_eq!(split_difficulty(26 << 30), (0, 26 << 30));
        assert_eq!(proving_difficulty(1, 0), Err(DifficultyError::NoLabels));
        assert!(proving_difficulty(2, 2).is_err());
    }

    #[test]
    fn pow_scaling() {
        assert_eq!(scale_pow_difficulty(&[0xff; 32], 1), [0xff; 32]);
        let mut half = [0xff; 32];
        half[0] = 0x7f;
        assert_eq!(scale_pow_difficulty(&[0xff; 32], 2), half);
    }
}

//! Hare committee seats: how many a VRF proof wins, and whether a claimed count is right, as
//! go-spacemesh's `hare3/eligibility` oracle decides it.
//!
//! With n = miner weight and p = committee / total weight (both scaled by the committee when
//! the committee exceeds the total), the count is the smallest x with BinCDF(n, p, x) > frac,
//! where frac is the proof's first 56 bits as a fraction. A count is valid iff
//! BinCDF(n, p, count−1) ≤ frac < BinCDF(n, p, count).

use codec::hare::Round;
use codec::{Beacon, VrfMessage};

use crate::bincdf::bin_cdf;
use crate::fixed::{Fixed, FixedError};
use crate::vrf::{self, VrfSecretKey, PROOF_LEN};

/// The absolute round of block certification (`CertifyRound`, 2^31 − 1).
pub const CERTIFY_ROUND: u32 = codec::CERTIFY_ROUND;
/// Committee size for block certification on mainnet.
pub const CERTIFY_COMMITTEE: u32 = 200;
/// Committee size of the propose round (`Leaders`).
pub const LEADERS: u32 = 5;
/// Mainnet hare committee from [`COMMITTEE_UPGRADE_LAYER`] on.
pub const COMMITTEE: u32 = 50;
/// Mainnet hare committee before [`COMMITTEE_UPGRADE_LAYER`].
pub const COMMITTEE_BEFORE_UPGRADE: u32 = 400;
/// First layer of the mainnet committee of [`COMMITTEE`].
pub const COMMITTEE_UPGRADE_LAYER: u32 = 105_720;
/// Largest n (miner weight after scaling) the oracle evaluates: MaxInt32 / 2 + 1 = 2^30.
pub const MAX_SUPPORTED_N: u64 = (i32::MAX as u64) / 2 + 1;

/// Why an eligibility could not be computed or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EligibilityError {
    /// The committee size is zero.
    #[error("zero committee size")]
    ZeroCommittee,
    /// The active set has no weight.
    #[error("zero total weight")]
    ZeroTotalWeight,
    /// The (scaled) miner weight is beyond what the binomial CDF supports.
    #[error("miner weight exceeds supported maximum (weight: {weight}, max: {max})")]
    WeightTooLarge {
        /// The miner weight before scaling.
        weight: u64,
        /// [`MAX_SUPPORTED_N`].
        max: u64,
    },
    /// The fixed-point evaluation overflowed (the Go code would panic).
    #[error(transparent)]
    Fixed(#[from] FixedError),
}

/// Committee sizes by layer and round: the hare committee with its scheduled upgrade, and the
/// propose round's leaders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committees {
    /// Committee before the upgrade layer (or always, without an upgrade).
    pub committee: u32,
    /// `(layer, size)`: from `layer` on the committee is `size`.
    pub upgrade: Option<(u32, u32)>,
    /// Committee of the propose round.
    pub leaders: u32,
}

impl Committees {
    /// Mainnet: 400, 50 from layer 105 720; 5 leaders.
    pub const MAINNET: Committees = Committees {
        committee: COMMITTEE_BEFORE_UPGRADE,
        upgrade: Some((COMMITTEE_UPGRADE_LAYER, COMMITTEE)),
        leaders: LEADERS,
    };

    /// The hare committee of a layer (`CommitteeFor`).
    pub fn for_layer(&self, layer: u32) -> u32 {
        match self.upgrade {
            Some((from, size)) if layer >= from => size,
            _ => self.committee,
        }
    }

    /// The committee a round of a layer is drawn with: leaders in the propose round.
    pub fn for_round(&self, layer: u32, round: Round) -> u32 {
        if round == Round::PROPOSE {
            self.leaders
        } else {
            self.for_layer(layer)
        }
    }
}

/// What a hare VRF proof is over: the epoch beacon, the layer and the absolute round
/// (iteration·7 + round, or [`CERTIFY_ROUND`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HareRound {
    /// Beacon of the layer's epoch.
    pub beacon: [u8; 4],
    /// Layer.
    pub layer: u32,
    /// Absolute round.
    pub round: u32,
}

impl HareRound {
    /// The certification round of a layer.
    pub fn certify(beacon: [u8; 4], layer: u32) -> Self {
        Self {
            beacon,
            layer,
            round: CERTIFY_ROUND,
        }
    }

    /// The go-scale encoded `VrfMessage{Type: 2, Beacon, Round, Layer}`.
    pub fn vrf_message(&self) -> Vec<u8> {
        codec::to_vec(&VrfMessage::Hare {
            beacon: Beacon(self.beacon),
            round: self.round,
            layer: self.layer,
        })
    }

    /// This identity's proof for the round (`GenVRF`).
    pub fn prove(&self, key: &VrfSecretKey) -> [u8; PROOF_LEN] {
        key.prove(&self.vrf_message())
    }
}

/// The proof's first 8 bytes, little-endian, masked to 56 bits, as a fraction in [0, 1).
pub fn vrf_fraction(proof: &[u8; PROOF_LEN]) -> Fixed {
    let mut first = [0u8; 8];
    first.copy_from_slice(&proof[..8]);
    Fixed::frac_from_bytes(&first)
}

/// The binomial parameters of one check.
struct Params {
    n: i64,
    p: Fixed,
    frac: Fixed,
}

fn prepare(
    proof: &[u8; PROOF_LEN],
    miner_weight: u64,
    total_weight: u64,
    committee: u32,
) -> Result<Params, EligibilityError> {
    if committee == 0 {
        return Err(EligibilityError::ZeroCommittee);
    }
    if total_weight == 0 {
        return Err(EligibilityError::ZeroTotalWeight);
    }
    let committee = u64::from(committee);
    let (mut n, mut total) = (miner_weight, total_weight);
    if committee > total {
        // Go multiplies in uint64 and wraps; so does this.
        total = total.wrapping_mul(committee);
        n = n.wrapping_mul(committee);
    }
    if n > MAX_SUPPORTED_N {
        return Err(EligibilityError::WeightTooLarge {
            weight: miner_weight,
            max: MAX_SUPPORTED_N,
        });
    }
    Ok(Params {
        n: n as i64,
        p: Fixed::div_u64(committee, total)?,
        frac: vrf_fraction(proof),
    })
}

/// Seats won by `proof` (`CalcEligibility` after VRF verification). A weight beyond
/// [`MAX_SUPPORTED_N`] gives 0 seats and no error, as the Go oracle does. The count is
/// truncated to 16 bits, as Go's `uint16(x)` does. The scan evaluates BinCDF once per seat
/// (plus one), so its cost grows with n·p, which the committee keeps small.
pub fn calc_eligibility(
    proof: &[u8; PROOF_LEN],
    miner_weight: u64,
    total_weight: u64,
    committee: u32,
) -> Result<u16, EligibilityError> {
    let Params { n, p, frac } = match prepare(proof, miner_weight, total_weight, committee) {
        Ok(params) => params,
        Err(EligibilityError::WeightTooLarge { .. }) => return Ok(0),
        Err(e) => return Err(e),
    };
    for x in 0..n {
        if bin_cdf(n, p, x)?.greater_than(frac) {
            return Ok(x as u16);
        }
    }
    Ok(n as u16)
}

/// Whether `count` seats is what `proof` wins (`Validate` after VRF verification). Count 0 is
/// accepted when the proof wins nothing; callers drop count-0 messages before asking.
pub fn validate(
    count: u16,
    proof: &[u8; PROOF_LEN],
    miner_weight: u64,
    total_weight: u64,
    committee: u32,
) -> Result<bool, EligibilityError> {
    let Params { n, p, frac } = prepare(proof, miner_weight, total_weight, committee)?;
    let x = i64::from(count);
    Ok(!bin_cdf(n, p, x - 1)?.greater_than(frac) && frac.less_than(bin_cdf(n, p, x)?))
}

/// The miner's and the active set's weight for a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    /// The identity's ATX weight.
    pub miner: u64,
    /// Total weight of the active set.
    pub total: u64,
}

/// The whole oracle `CalcEligibility` for someone else's (or our own) proof: a proof that
/// does not verify under `node_id` wins 0 seats, without an error.
pub fn calc_verified(
    node_id: &[u8; 32],
    round: &HareRound,
    proof: &[u8; PROOF_LEN],
    weights: Weights,
    committee: u32,
) -> Result<u16, EligibilityError> {
    if committee == 0 {
        return Err(EligibilityError::ZeroCommittee);
    }
    if !vrf::verify(node_id, &round.vrf_message(), proof) {
        return Ok(0);
    }
    calc_eligibility(proof, weights.miner, weights.total, committee)
}

/// The whole oracle `Validate`: a proof that does not verify under `node_id` is invalid
/// (without an error).
pub fn validate_verified(
    node_id: &[u8; 32],
    round: &HareRound,
    proof: &[u8; PROOF_LEN],
    count: u16,
    weights: Weights,
    committee: u32,
) -> Result<bool, EligibilityError> {
    if committee == 0 {
        return Err(EligibilityError::ZeroCommittee);
    }
    if !vrf::verify(node_id, &round.vrf_message(), proof) {
        return Ok(false);
    }
    validate(count, proof, weights.miner, weights.total, committee)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committees_by_layer_and_round() {
        let c = Committees::MAINNET;
        assert_eq!(c.for_layer(105_719), 400);
        assert_eq!(c.for_layer(105_720), 50);
        assert_eq!(c.for_round(200_000, Round::PROPOSE), 5);
        assert_eq!(c.for_round(200_000, Round::COMMIT), 50);
        assert_eq!(MAX_SUPPORTED_N, 1 << 30);
        assert_eq!(CERTIFY_ROUND, (1 << 31) - 1);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let proof = [0u8; PROOF_LEN];
        assert_eq!(
            calc_eligibility(&proof, 1, 10, 0),
            Err(EligibilityError::ZeroCommittee)
        );
        assert_eq!(
            calc_eligibility(&proof, 1, 0, 5),
            Err(EligibilityError::ZeroTotalWeight)
        );
        assert_eq!(
            validate(1, &proof, 1, 0, 5),
            Err(EligibilityError::ZeroTotalWeight)
        );
    }

    #[test]
    fn count_and_validate_agree() {
        // Sweep fractions: the computed count is always the one valid count nearby.
        for i in 0u64..64 {
            let mut proof = [0u8; PROOF_LEN];
            proof[..8].copy_from_slice(&(i.wrapping_mul(0x0123_4567_89ab_cdef)).to_le_bytes());
            let count = calc_eligibility(&proof, 300, 1000, 50).expect("count");
            assert_eq!(validate(count, &proof, 300, 1000, 50), Ok(true), "i={i}");
            assert_eq!(
                validate(count + 1, &proof, 300, 1000, 50),
                Ok(false),
                "i={i}"
            );
            if count > 0 {
                assert_eq!(
                    validate(count - 1, &proof, 300, 1000, 50),
                    Ok(false),
                    "i={i}"
                );
            }
        }
    }

    #[test]
    fn fraction_masks_to_56_bits() {
        let mut proof = [0xffu8; PROOF_LEN];
        proof[7] = 0xff;
        let f = vrf_fraction(&proof);
        assert!(f.less_than(Fixed::ONE));
        assert_eq!(f.to_le_bytes()[..7], [0xff; 7]);
        assert_eq!(f.to_le_bytes()[7], 0);
    }
}

//! Proposal eligibility: how many slots an identity has in an epoch, the VRF proof of each
//! slot, and the layer it falls in (`proposals/util`, `miner/proposal_builder.go`).

use codec::{Beacon, VotingEligibility, VrfMessage, VrfSignature};

use crate::vrf::{VrfSecretKey, PROOF_LEN};

/// Mainnet layers per epoch.
pub const LAYERS_PER_EPOCH: u32 = 4032;
/// Mainnet expected ballots per layer (the proposal "committee", `LayerSize`).
pub const LAYER_SIZE: u32 = 50;
/// Mainnet minimal active set weight (`MinimalActiveSetWeight`, from epoch 0).
pub const MIN_ACTIVE_SET_WEIGHT: u64 = 1_000_000;

/// Why slots or layers could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// The active set has no weight.
    #[error("zero total weight not allowed")]
    ZeroTotalWeight,
    /// An epoch cannot have zero layers.
    #[error("zero layers per epoch")]
    ZeroLayersPerEpoch,
    /// The layer number does not fit in 32 bits.
    #[error("layer id wraparound")]
    LayerOverflow,
}

/// `GetNumEligibleSlots`: max(1, ⌊weight · layer_size · layers_per_epoch /
/// max(min_weight, total_weight)⌋), with Go's wrapping 64-bit product and 32-bit result.
pub fn num_eligible_slots(
    weight: u64,
    min_weight: u64,
    total_weight: u64,
    layer_size: u32,
    layers_per_epoch: u32,
) -> Result<u32, ProposalError> {
    if total_weight == 0 {
        return Err(ProposalError::ZeroTotalWeight);
    }
    let slots = weight
        .wrapping_mul(u64::from(layer_size))
        .wrapping_mul(u64::from(layers_per_epoch))
        / min_weight.max(total_weight);
    Ok(slots.max(1) as u32)
}

/// The go-scale encoded `VrfMessage{Type: 3, Beacon, Epoch, Nonce, Counter}` of slot `counter`.
pub fn vrf_message(beacon: [u8; 4], epoch: u32, nonce: u64, counter: u32) -> Vec<u8> {
    codec::to_vec(&VrfMessage::Proposal {
        beacon: Beacon(beacon),
        epoch,
        nonce,
        counter,
    })
}

/// The first layer of an epoch (`FirstLayer`), failing where Go panics on wraparound.
pub fn first_layer(epoch: u32, layers_per_epoch: u32) -> Result<u32, ProposalError> {
    epoch
        .checked_mul(layers_per_epoch)
        .ok_or(ProposalError::LayerOverflow)
}

/// `CalcEligibleLayer`: first layer of the epoch + (LE u64 of the proof's first 8 bytes mod
/// layers per epoch).
pub fn eligible_layer(
    epoch: u32,
    layers_per_epoch: u32,
    proof: &[u8; PROOF_LEN],
) -> Result<u32, ProposalError> {
    if layers_per_epoch == 0 {
        return Err(ProposalError::ZeroLayersPerEpoch);
    }
    let mut first = [0u8; 8];
    first.copy_from_slice(&proof[..8]);
    let offset = u64::from_le_bytes(first) % u64::from(layers_per_epoch);
    first_layer(epoch, layers_per_epoch)?
        .checked_add(offset as u32)
        .ok_or(ProposalError::LayerOverflow)
}

/// One proposal slot of an epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Slot counter j.
    pub j: u32,
    /// The layer the slot falls in.
    pub layer: u32,
    /// VRF proof over the slot's message.
    pub proof: [u8; PROOF_LEN],
}

impl Slot {
    /// The eligibility a ballot carries for this slot.
    pub fn eligibility(&self) -> VotingEligibility {
        VotingEligibility {
            j: self.j,
            sig: VrfSignature(self.proof),
        }
    }
}

/// The epoch's parameters for computing slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochSlots {
    /// Epoch beacon.
    pub beacon: [u8; 4],
    /// Epoch.
    pub epoch: u32,
    /// The identity's ATX VRF nonce.
    pub nonce: u64,
    /// Number of slots ([`num_eligible_slots`]).
    pub slots: u32,
    /// Layers per epoch.
    pub layers_per_epoch: u32,
}

impl EpochSlots {
    /// Every slot 0..slots with its proof and layer, in counter order.
    pub fn compute(&self, key: &VrfSecretKey) -> Result<Vec<Slot>, ProposalError> {
        (0..self.slots)
            .map(|j| {
                let proof = key.prove(&vrf_message(self.beacon, self.epoch, self.nonce, j));
                let layer = eligible_layer(self.epoch, self.layers_per_epoch, &proof)?;
                Ok(Slot { j, layer, proof })
            })
            .collect()
    }
}

/// The eligibilities of `slots` that fall in `layer`, in counter order.
pub fn eligibilities_for_layer(slots: &[Slot], layer: u32) -> Vec<VotingEligibility> {
    slots
        .iter()
        .filter(|s| s.layer == layer)
        .map(Slot::eligibility)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_counts() {
        // 1% of a 10^12 active set: 0.01 · 50 · 4032 = 2016.
        assert_eq!(
            num_eligible_slots(
                10_000_000_000,
                MIN_ACTIVE_SET_WEIGHT,
                1_000_000_000_000,
                LAYER_SIZE,
                LAYERS_PER_EPOCH
            ),
            Ok(2016)
        );
        // Tiny weight still gets one slot.
        assert_eq!(num_eligible_slots(1, 1, 1 << 40, 50, 4032), Ok(1));
        // The minimal active set weight caps the denominator from below.
        assert_eq!(num_eligible_slots(10, 1_000_000, 100, 50, 4032), Ok(2));
        assert_eq!(
            num_eligible_slots(10, 1, 0, 50, 4032),
            Err(ProposalError::ZeroTotalWeight)
        );
    }

    #[test]
    fn layer_of_a_proof() {
        let mut proof = [0u8; PROOF_LEN];
        proof[..8].copy_from_slice(&(4032u64 * 7 + 123).to_le_bytes());
        assert_eq!(eligible_layer(27, 4032, &proof), Ok(27 * 4032 + 123));
        assert_eq!(
            eligible_layer(27, 0, &proof),
            Err(ProposalError::ZeroLayersPerEpoch)
        );
        assert_eq!(
            eligible_layer(u32::MAX, 4032, &proof),
            Err(ProposalError::LayerOverflow)
        );
    }

    #[test]
    fn slots_are_spread_over_the_epoch() {
        let key = VrfSecretKey::from_seed(&[1u8; 32]);
        let params = EpochSlots {
            beacon: [0xde, 0xad, 0xbe, 0xef],
            epoch: 27,
            nonce: 0x1d_2c3b_4a59,
            slots: 6,
            layers_per_epoch: 10,
        };
        let slots = params.compute(&key).expect("slots");
        assert_eq!(slots.len(), 6);
        for (j, slot) in slots.iter().enumerate() {
            assert_eq!(slot.j as usize, j);
            assert!((270..280).contains(&slot.layer));
            let msg = vrf_message(params.beacon, 27, params.nonce, slot.j);
            assert!(crate::vrf::verify(&key.public_key(), &msg, &slot.proof));
        }
        let total: usize = (270..280)
            .map(|l| eligibilities_for_layer(&slots, l).len())
            .sum();
        assert_eq!(total, 6);
    }
}

//! Eligibility proofs carried in hare messages and ballots, and the VRF inputs they prove
//! (`common/types/eligibility.go`, `hare3/eligibility/oracle.go`, `proposals/util.go`).

use crate::{Beacon, Decode, DecodeError, Decoder, Encode, Encoder, VrfSignature};

scale_struct! {
    /// Hare eligibility: VRF proof and how many seats it wins.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct HareEligibility {
        /// VRF proof over the hare [`VrfMessage`].
        pub proof: VrfSignature,
        /// Seats won.
        pub count: u16,
    }
}

scale_struct! {
    /// One proposal eligibility slot.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct VotingEligibility {
        /// Slot counter j.
        pub j: u32,
        /// VRF proof over the proposal [`VrfMessage`] with counter j.
        pub sig: VrfSignature,
    }
}

/// `types.EligibilityType` values (compact16 on the wire).
pub mod eligibility_type {
    /// Beacon.
    pub const BEACON: u16 = 1;
    /// Hare committee.
    pub const HARE: u16 = 2;
    /// Proposal/ballot voting.
    pub const VOTING: u16 = 3;
    /// Beacon weak coin.
    pub const BEACON_WC: u16 = 4;
}

/// The message a VRF proof is computed over. The first field is the eligibility type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VrfMessage {
    /// Hare committee (type 2): `Type compact16 ‖ Beacon [4] ‖ Round compact32 ‖ Layer compact32`.
    Hare {
        /// Epoch beacon.
        beacon: Beacon,
        /// Absolute round (iter·7 + round, or the certify round 2^31−1).
        round: u32,
        /// Layer.
        layer: u32,
    },
    /// Proposal slots (type 3): `Type compact16 ‖ Beacon [4] ‖ Epoch compact32 ‖ Nonce compact64 ‖ Counter compact32`.
    Proposal {
        /// Epoch beacon.
        beacon: Beacon,
        /// Epoch.
        epoch: u32,
        /// The ATX's VRF nonce.
        nonce: u64,
        /// Slot counter j.
        counter: u32,
    },
}

impl Encode for VrfMessage {
    fn encode_to(&self, enc: &mut Encoder) {
        match self {
            VrfMessage::Hare {
                beacon,
                round,
                layer,
            } => {
                enc.compact16(eligibility_type::HARE);
                beacon.encode_to(enc);
                enc.compact32(*round);
                enc.compact32(*layer);
            }
            VrfMessage::Proposal {
                beacon,
                epoch,
                nonce,
                counter,
            } => {
                enc.compact16(eligibility_type::VOTING);
                beacon.encode_to(enc);
                enc.compact32(*epoch);
                enc.compact64(*nonce);
                enc.compact32(*counter);
            }
        }
    }
}

impl Decode for VrfMessage {
    fn decode_from(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        match dec.compact16()? {
            eligibility_type::HARE => Ok(VrfMessage::Hare {
                beacon: Beacon::decode_from(dec)?,
                round: dec.compact32()?,
                layer: dec.compact32()?,
            }),
            eligibility_type::VOTING => Ok(VrfMessage::Proposal {
                beacon: Beacon::decode_from(dec)?,
                epoch: dec.compact32()?,
                nonce: dec.compact64()?,
                counter: dec.compact32()?,
            }),
            other => Err(DecodeError::UnknownTag {
                what: "VRF eligibility type",
                value: u64::from(other),
            }),
        }
    }
}

//! Property tests: every message type round-trips through encode/decode, and no decoder
//! panics on random bytes, truncations or bit flips of valid encodings.

use codec::hare::{Body, HareMetadata, IterRound, Message, Round, Value};
use codec::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

// ---- strategies -----------------------------------------------------------------------

fn arr<const N: usize>() -> impl Strategy<Value = [u8; N]> {
    vec(any::<u8>(), N).prop_map(|v| <[u8; N]>::try_from(v).expect("length N"))
}

/// Values spread over every compact mode, not just the (mostly big) uniform range.
fn c64() -> BoxedStrategy<u64> {
    prop_oneof![
        0..64u64,
        64..16_384u64,
        16_384..(1u64 << 30),
        (1u64 << 30)..(1u64 << 32),
        any::<u64>(),
    ]
    .boxed()
}

fn c32() -> BoxedStrategy<u32> {
    prop_oneof![0..64u32, 64..16_384u32, 16_384..(1u32 << 30), any::<u32>()].boxed()
}

fn c16() -> BoxedStrategy<u16> {
    prop_oneof![0..64u16, 64..16_384u16, any::<u16>()].boxed()
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn hash32() -> impl Strategy<Value = Hash32> {
    arr::<32>().prop_map(Hash32)
}
fn atx_id() -> impl Strategy<Value = AtxId> {
    arr::<32>().prop_map(AtxId)
}
fn node_id() -> impl Strategy<Value = NodeId> {
    arr::<32>().prop_map(NodeId)
}
fn ed_sig() -> impl Strategy<Value = EdSignature> {
    arr::<64>().prop_map(EdSignature)
}
fn vrf_sig() -> impl Strategy<Value = VrfSignature> {
    arr::<80>().prop_map(VrfSignature)
}

fn post_v1() -> impl Strategy<Value = PostV1> {
    (c32(), bytes(100), c64()).prop_map(|(nonce, indices, pow)| PostV1 {
        nonce,
        indices,
        pow,
    })
}

fn merkle_proof_v1() -> impl Strategy<Value = MerkleProofV1> {
    (vec(hash32(), 0..4), c64()).prop_map(|(nodes, leaf_index)| MerkleProofV1 { nodes, leaf_index })
}

fn post_metadata_v1() -> impl Strategy<Value = PostMetadataV1> {
    (bytes(32), c64()).prop_map(|(challenge, labels_per_unit)| PostMetadataV1 {
        challenge,
        labels_per_unit,
    })
}

fn nipost_v1() -> impl Strategy<Value = NIPostV1> {
    (
        merkle_proof_v1(),
        proptest::option::of(post_v1()),
        proptest::option::of(post_metadata_v1()),
    )
        .prop_map(|(membership, post, post_metadata)| NIPostV1 {
            membership,
            post,
            post_metadata,
        })
}

fn challenge_v1() -> impl Strategy<Value = NIPostChallengeV1> {
    (
        c32(),
        c64(),
        atx_id(),
        atx_id(),
        proptest::option::of(atx_id()),
        proptest::option::of(post_v1()),
    )
        .prop_map(|(p, s, prev, pos, commit, post)| NIPostChallengeV1 {
            publish_epoch: p,
            sequence: s,
            prev_atx_id: prev,
            positioning_atx_id: pos,
            commitment_atx_id: commit,
            initial_post: post,
        })
}

fn challenge_v2() -> impl Strategy<Value = NIPostChallengeV2> {
    (c32(), atx_id(), atx_id(), proptest::option::of(post_v1())).prop_map(
        |(publish_epoch, prev_atx_id, positioning_atx_id, initial_post)| NIPostChallengeV2 {
            publish_epoch,
            prev_atx_id,
            positioning_atx_id,
            initial_post,
        },
    )
}

fn inner_atx_v1() -> impl Strategy<Value = InnerActivationTxV1> {
    (
        challenge_v1(),
        arr::<24>().prop_map(Address),
        c32(),
        proptest::option::of(nipost_v1()),
        proptest::option::of(node_id()),
        proptest::option::of(c64()),
    )
        .prop_map(
            |(challenge, coinbase, num_units, nipost, node_id, vrf_nonce)| InnerActivationTxV1 {
                challenge,
                coinbase,
                num_units,
                nipost,
                node_id,
                vrf_nonce,
            },
        )
}

fn atx_v1() -> impl Strategy<Value = ActivationTxV1> {
    (inner_atx_v1(), node_id(), ed_sig()).prop_map(|(inner, smesher_id, signature)| {
        ActivationTxV1 {
            inner,
            smesher_id,
            signature,
        }
    })
}

fn sub_post_v2() -> impl Strategy<Value = SubPostV2> {
    (c32(), 0..4u32, c64(), post_v1(), c32()).prop_map(|(mi, pi, li, post, nu)| SubPostV2 {
        marriage_index: mi,
        prev_atx_index: pi,
        membership_leaf_index: li,
        post,
        num_units: nu,
    })
}

fn niposts_v2() -> impl Strategy<Value = NiPostsV2> {
    (vec(hash32(), 0..3), hash32(), vec(sub_post_v2(), 0..3)).prop_map(
        |(nodes, challenge, posts)| NiPostsV2 {
            membership: MerkleProofV2 { nodes },
            challenge,
            posts,
        },
    )
}

fn atx_v2() -> impl Strategy<Value = ActivationTxV2> {
    (
        (c32(), atx_id(), arr::<24>().prop_map(Address)),
        proptest::option::of((atx_id(), post_v1()).prop_map(|(commitment_atx, post)| {
            InitialAtxPartsV2 {
                commitment_atx,
                post,
            }
        })),
        vec(atx_id(), 0..3),
        vec(niposts_v2(), 0..3),
        c64(),
        vec(
            (atx_id(), ed_sig()).prop_map(|(reference_atx, signature)| MarriageCertificate {
                reference_atx,
                signature,
            }),
            0..3,
        ),
        proptest::option::of(atx_id()),
        (node_id(), ed_sig()),
    )
        .prop_map(
            |(
                (publish_epoch, positioning_atx, coinbase),
                initial,
                previous_atxs,
                niposts,
                vrf_nonce,
                marriages,
                marriage_atx,
                (smesher_id, signature),
            )| ActivationTxV2 {
                publish_epoch,
                positioning_atx,
                coinbase,
                initial,
                previous_atxs,
                niposts,
                vrf_nonce,
                marriages,
                marriage_atx,
                smesher_id,
                signature,
            },
        )
}

fn hare_eligibility() -> impl Strategy<Value = HareEligibility> {
    (vrf_sig(), c16()).prop_map(|(proof, count)| HareEligibility { proof, count })
}

fn iter_round() -> impl Strategy<Value = IterRound> {
    (any::<u8>(), any::<u8>()).prop_map(|(iter, round)| IterRound {
        iter,
        round: Round(round),
    })
}

fn hare_value() -> impl Strategy<Value = Value> {
    (
        vec(arr::<20>().prop_map(ProposalId), 0..4),
        proptest::option::of(hash32()),
    )
        .prop_map(|(proposals, reference)| Value {
            proposals,
            reference,
        })
}

fn hare_body() -> impl Strategy<Value = Body> {
    (c32(), iter_round(), hare_value(), hare_eligibility()).prop_map(
        |(layer, iter_round, value, eligibility)| Body {
            layer,
            iter_round,
            value,
            eligibility,
        },
    )
}

fn hare_message() -> impl Strategy<Value = Message> {
    (hare_body(), node_id(), ed_sig()).prop_map(|(body, sender, signature)| Message {
        body,
        sender,
        signature,
    })
}

fn epoch_data() -> impl Strategy<Value = EpochData> {
    (hash32(), arr::<4>().prop_map(Beacon), c32()).prop_map(|(a, b, c)| EpochData {
        active_set_hash: a,
        beacon: b,
        eligibility_count: c,
    })
}

fn inner_ballot() -> impl Strategy<Value = InnerBallot> {
    (
        c32(),
        atx_id(),
        hash32(),
        arr::<20>().prop_map(BallotId),
        proptest::option::of(epoch_data()),
    )
        .prop_map(
            |(layer, atx_id, opinion_hash, ref_ballot, epoch_data)| InnerBallot {
                layer,
                atx_id,
                opinion_hash,
                ref_ballot,
                epoch_data,
            },
        )
}

fn vote() -> impl Strategy<Value = Vote> {
    (arr::<20>().prop_map(BlockId), c32(), c64()).prop_map(|(id, layer_id, height)| Vote {
        id,
        layer_id,
        height,
    })
}

fn votes() -> impl Strategy<Value = Votes> {
    (
        arr::<20>().prop_map(BallotId),
        vec(vote(), 0..3),
        vec(vote(), 0..3),
        vec(c32(), 0..3),
    )
        .prop_map(|(base, support, against, abstain)| Votes {
            base,
            support,
            against,
            abstain,
        })
}

fn voting_eligibility() -> impl Strategy<Value = VotingEligibility> {
    (c32(), vrf_sig()).prop_map(|(j, sig)| VotingEligibility { j, sig })
}

fn ballot() -> impl Strategy<Value = Ballot> {
    (
        inner_ballot(),
        ed_sig(),
        node_id(),
        votes(),
        vec(voting_eligibility(), 0..3),
        vec(atx_id(), 0..=1),
    )
        .prop_map(
            |(inner, signature, smesher_id, votes, eligibility_proofs, active_set)| Ballot {
                inner,
                signature,
                smesher_id,
                votes,
                eligibility_proofs,
                active_set,
            },
        )
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (
        ballot(),
        vec(arr::<32>().prop_map(TransactionId), 0..3),
        hash32(),
        ed_sig(),
    )
        .prop_map(|(ballot, tx_ids, mesh_hash, signature)| Proposal {
            inner: InnerProposal {
                ballot,
                tx_ids,
                mesh_hash,
            },
            signature,
        })
}

fn certify_message() -> impl Strategy<Value = CertifyMessage> {
    (
        c32(),
        arr::<20>().prop_map(BlockId),
        c16(),
        vrf_sig(),
        ed_sig(),
        node_id(),
    )
        .prop_map(
            |(layer_id, block_id, eligibility_cnt, proof, signature, smesher_id)| CertifyMessage {
                content: CertifyContent {
                    layer_id,
                    block_id,
                    eligibility_cnt,
                    proof,
                },
                signature,
                smesher_id,
            },
        )
}

fn poet_proof() -> impl Strategy<Value = PoetProof> {
    (bytes(32), vec(bytes(32), 0..3), vec(bytes(32), 0..4), c64()).prop_map(
        |(root, proven_leaves, proof_nodes, leaf_count)| PoetProof {
            merkle_proof: MerkleProof {
                root,
                proven_leaves,
                proof_nodes,
            },
            leaf_count,
        },
    )
}

fn poet_proof_message() -> impl Strategy<Value = PoetProofMessage> {
    (
        poet_proof(),
        bytes(32),
        "[0-9a-z]{0,32}",
        hash32(),
        ed_sig(),
    )
        .prop_map(
            |(poet_proof, poet_service_id, round_id, statement, signature)| PoetProofMessage {
                poet_proof,
                poet_service_id,
                round_id,
                statement,
                signature,
            },
        )
}

fn vrf_message() -> impl Strategy<Value = VrfMessage> {
    prop_oneof![
        (arr::<4>(), c32(), c32()).prop_map(|(b, round, layer)| VrfMessage::Hare {
            beacon: Beacon(b),
            round,
            layer,
        }),
        (arr::<4>(), c32(), c64(), c32()).prop_map(|(b, epoch, nonce, counter)| {
            VrfMessage::Proposal {
                beacon: Beacon(b),
                epoch,
                nonce,
                counter,
            }
        }),
    ]
}

fn atx_metadata() -> impl Strategy<Value = AtxMetadataV1> {
    (c32(), hash32()).prop_map(|(publish, msg_hash)| AtxMetadataV1 { publish, msg_hash })
}

fn ballot_metadata() -> impl Strategy<Value = BallotMetadata> {
    (c32(), hash32()).prop_map(|(layer, msg_hash)| BallotMetadata { layer, msg_hash })
}

fn hare_metadata() -> impl Strategy<Value = HareMetadata> {
    (c32(), c32(), hash32()).prop_map(|(layer, round, msg_hash)| HareMetadata {
        layer,
        round,
        msg_hash,
    })
}

// ---- properties -----------------------------------------------------------------------

fn check_roundtrip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Encode + Decode + PartialEq + std::fmt::Debug,
{
    let bytes = try_to_vec(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&bytes, &to_vec(value));
    // The lower bound the decoder sizes allocations by must hold for every value.
    prop_assert!(bytes.len() >= T::MIN_ENCODED_LEN);
    let back: T = from_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, value);
    // Trailing bytes are refused.
    let mut longer = bytes.clone();
    longer.push(0);
    prop_assert_eq!(
        from_slice::<T>(&longer).err(),
        Some(DecodeError::TrailingBytes { remaining: 1 })
    );
    // Every strict prefix fails: decoding reads the same bytes in the same order, so a cut
    // input always ends inside a read.
    for cut in 0..bytes.len() {
        prop_assert!(
            from_slice::<T>(&bytes[..cut]).is_err(),
            "prefix {} decoded",
            cut
        );
    }
    Ok(())
}

/// Flips single bits of a valid encoding; decoding must return (Ok or Err) without a panic,
/// and whatever decodes must re-encode to something that decodes to the same value.
fn check_bit_flips<T>(value: &T, flips: &[(usize, u8)]) -> Result<(), TestCaseError>
where
    T: Encode + Decode + PartialEq + std::fmt::Debug,
{
    let bytes = to_vec(value);
    if bytes.is_empty() {
        return Ok(());
    }
    for (pos, bit) in flips {
        let mut mutated = bytes.clone();
        mutated[pos % bytes.len()] ^= 1 << (bit % 8);
        if let Ok(decoded) = from_slice::<T>(&mutated) {
            let again: T = from_slice(&to_vec(&decoded))
                .map_err(|e| TestCaseError::fail(format!("re-encoding does not decode: {e}")))?;
            prop_assert_eq!(again, decoded);
        }
    }
    Ok(())
}

macro_rules! codec_properties {
    ($($name:ident: $ty:ty = $strategy:expr;)*) => {$(
        mod $name {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

                #[test]
                fn roundtrip(value in $strategy) {
                    check_roundtrip::<$ty>(&value)?;
                }

                #[test]
                fn bit_flips(value in $strategy, flips in vec((any::<usize>(), any::<u8>()), 1..16)) {
                    check_bit_flips::<$ty>(&value, &flips)?;
                }

                #[test]
                fn random_bytes_never_panic(input in vec(any::<u8>(), 0..400)) {
                    let _ = from_slice::<$ty>(&input);
                }
            }
        }
    )*};
}

codec_properties! {
    post_v1_props: PostV1 = post_v1();
    merkle_proof_v1_props: MerkleProofV1 = merkle_proof_v1();
    post_metadata_v1_props: PostMetadataV1 = post_metadata_v1();
    nipost_v1_props: NIPostV1 = nipost_v1();
    challenge_v1_props: NIPostChallengeV1 = challenge_v1();
    challenge_v2_props: NIPostChallengeV2 = challenge_v2();
    inner_atx_v1_props: InnerActivationTxV1 = inner_atx_v1();
    atx_v1_props: ActivationTxV1 = atx_v1();
    atx_metadata_props: AtxMetadataV1 = atx_metadata();
    atx_v2_props: ActivationTxV2 = atx_v2();
    hare_eligibility_props: HareEligibility = hare_eligibility();
    iter_round_props: IterRound = iter_round();
    hare_value_props: Value = hare_value();
    hare_body_props: Body = hare_body();
    hare_message_props: Message = hare_message();
    hare_metadata_props: HareMetadata = hare_metadata();
    epoch_data_props: EpochData = epoch_data();
    inner_ballot_props: InnerBallot = inner_ballot();
    vote_props: Vote = vote();
    votes_props: Votes = votes();
    voting_eligibility_props: VotingEligibility = voting_eligibility();
    ballot_props: Ballot = ballot();
    ballot_metadata_props: BallotMetadata = ballot_metadata();
    proposal_props: Proposal = proposal();
    certify_message_props: CertifyMessage = certify_message();
    poet_proof_props: PoetProof = poet_proof();
    poet_proof_message_props: PoetProofMessage = poet_proof_message();
    vrf_message_props: VrfMessage = vrf_message();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The compact encoder writes the minimal form and every width's decoder takes it back.
    #[test]
    fn compact_roundtrip_all_widths(v in c64()) {
        let bytes = to_vec(&v);
        prop_assert_eq!(from_slice::<u64>(&bytes), Ok(v));
        if let Ok(v32) = u32::try_from(v) {
            prop_assert_eq!(&to_vec(&v32), &bytes);
            prop_assert_eq!(from_slice::<u32>(&bytes), Ok(v32));
        }
        if let Ok(v16) = u16::try_from(v) {
            prop_assert_eq!(&to_vec(&v16), &bytes);
            prop_assert_eq!(from_slice::<u16>(&bytes), Ok(v16));
        }
        if let Ok(v8) = u8::try_from(v) {
            prop_assert_eq!(&to_vec(&v8), &bytes);
            prop_assert_eq!(from_slice::<u8>(&bytes), Ok(v8));
        }
    }

    /// Any compact32 that decodes re-encodes to the same bytes: compact32 accepts only
    /// canonical forms.
    #[test]
    fn compact32_decoding_is_canonical(input in vec(any::<u8>(), 1..6)) {
        if let Ok(v) = from_slice::<u32>(&input) {
            prop_assert_eq!(to_vec(&v), input);
        }
    }
}

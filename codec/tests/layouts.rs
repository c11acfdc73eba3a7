//! Hand-checked byte layouts: for one ATX v1, hare messages and one proposal the expected
//! bytes are written out field by field from the layouts in PROTOCOL.md §4 (not produced by
//! the encoder), then the encoder output, the decoder and the IDs/hashes are checked.

use codec::hare::{Body, IterRound, Message, Round, Value};
use codec::{
    from_slice, to_vec, ActivationTxV1, Address, AtxId, Ballot, BallotId, Beacon, BlockId,
    EdSignature, EpochData, HareEligibility, Hash32, InnerActivationTxV1, InnerBallot,
    InnerProposal, MerkleProofV1, NIPostChallengeV1, NIPostV1, NodeId, PostMetadataV1, PostV1,
    Proposal, ProposalId, Signable, TransactionId, Vote, Votes, VotingEligibility, VrfSignature,
};

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn blake3(bytes: &[u8]) -> [u8; 32] {
    *::blake3::hash(bytes).as_bytes()
}

#[test]
fn atx_v1_layout() {
    let post_initial = PostV1 {
        nonce: 7,
        indices: vec![0xab; 3],
        pow: 1 << 40,
    };
    let atx = ActivationTxV1 {
        inner: InnerActivationTxV1 {
            challenge: NIPostChallengeV1 {
                publish_epoch: 26,
                sequence: 0,
                prev_atx_id: AtxId::ZERO,
                positioning_atx_id: AtxId([0x11; 32]),
                commitment_atx_id: Some(AtxId([0x22; 32])),
                initial_post: Some(post_initial),
            },
            coinbase: Address([0x33; 24]),
            num_units: 4,
            nipost: Some(NIPostV1 {
                membership: MerkleProofV1 {
                    nodes: vec![Hash32([0x44; 32]), Hash32([0x55; 32])],
                    leaf_index: 300,
                },
                post: Some(PostV1 {
                    nonce: 70_000,
                    indices: vec![1, 2],
                    pow: 5,
                }),
                post_metadata: Some(PostMetadataV1 {
                    challenge: vec![0x66; 32],
                    labels_per_unit: 1024,
                }),
            }),
            node_id: Some(NodeId([0x77; 32])),
            vrf_nonce: Some(1 << 31),
        },
        smesher_id: NodeId([0x77; 32]),
        signature: EdSignature([0x88; 64]),
    };

    let challenge = cat(&[
        &[0x68],     // PublishEpoch 26: compact32 single byte 26<<2
        &[0x00],     // Sequence 0: compact64
        &[0x00; 32], // PrevATXID
        &[0x11; 32], // PositioningATXID
        &[0x01],     // CommitmentATXID: some
        &[0x22; 32], //   the ATX ID
        &[0x01],     // InitialPost: some
        &[0x1c],     //   Nonce 7: 7<<2
        &[0x0c],     //   Indices length 3: 3<<2
        &[0xab; 3],  //   Indices
        &[0x0b],     //   Pow 2^40: big mode, 6 bytes, header (6-4)<<2|3
        &[0, 0, 0, 0, 0, 1],
    ]);
    let inner = cat(&[
        &challenge,
        &[0x33; 24], // Coinbase
        &[0x10],     // NumUnits 4
        &[0x01],     // NIPost: some
        &[0x08],     //   Membership.Nodes count 2
        &[0x44; 32],
        &[0x55; 32],
        &[0xb1, 0x04],             // Membership.LeafIndex 300: (300<<2|1) LE
        &[0x01],                   //   Post: some
        &[0xc2, 0x45, 0x04, 0x00], // Nonce 70000: (70000<<2|2) LE, four-byte mode
        &[0x08, 0x01, 0x02],       // Indices [1,2]
        &[0x14],                   //   Pow 5
        &[0x01],                   //   PostMetadata: some
        &[0x80],                   //   Challenge length 32: 32<<2
        &[0x66; 32],
        &[0x01, 0x10], // LabelsPerUnit 1024: (1024<<2|1) LE
        &[0x01],       // NodeID: some
        &[0x77; 32],
        &[0x01],                         // VRFNonce: some
        &[0x03, 0x00, 0x00, 0x00, 0x80], // 2^31: big mode, 4 bytes
    ]);
    let full = cat(&[&inner, &[0x77; 32], &[0x88; 64]]);

    assert_eq!(to_vec(&atx.inner.challenge), challenge);
    assert_eq!(to_vec(&atx.inner), inner);
    assert_eq!(to_vec(&atx), full);
    assert_eq!(from_slice::<ActivationTxV1>(&full), Ok(atx.clone()));

    let id = blake3(&inner);
    assert_eq!(atx.id(), AtxId(id));
    assert_eq!(atx.signed_bytes(), cat(&[&[0x68], &id]));
    assert_eq!(
        atx.inner.challenge.poet_challenge_hash(),
        Hash32(blake3(&cat(&[&[0x00], &challenge])))
    );
    assert_eq!(
        atx.inner.challenge.signed_bytes(),
        blake3(&cat(&[&[0x00], &challenge])).to_vec()
    );

    // A later ATX without the optional parts: each option is a single zero byte.
    let mut later = atx.inner.clone();
    later.challenge.commitment_atx_id = None;
    later.challenge.initial_post = None;
    later.nipost = None;
    later.node_id = None;
    later.vrf_nonce = None;
    let expected = cat(&[
        &[0x68, 0x00],
        &[0x00; 32],
        &[0x11; 32],
        &[0x00, 0x00],
        &[0x33; 24],
        &[0x10],
        &[0x00, 0x00, 0x00],
    ]);
    assert_eq!(to_vec(&later), expected);
}

fn hare_message(round: Round, value: Value) -> Message {
    Message {
        body: Body {
            layer: 105_720,
            iter_round: IterRound { iter: 1, round },
            value,
            eligibility: HareEligibility {
                proof: VrfSignature([0xaa; 80]),
                count: 3,
            },
        },
        sender: NodeId([0xbb; 32]),
        signature: EdSignature([0xcc; 64]),
    }
}

#[test]
fn hare_commit_layout() {
    let msg = hare_message(
        Round::COMMIT,
        Value {
            proposals: Vec::new(),
            reference: Some(Hash32([0x99; 32])),
        },
    );
    let body = cat(&[
        &[0xe2, 0x73, 0x06, 0x00], // Layer 105720: (105720<<2|2) LE
        &[0x04],                   // Iter 1
        &[0x18],                   // Round 6 (commit)
        &[0x00],                   // Proposals: none
        &[0x01],                   // Reference: some
        &[0x99; 32],
        &[0xaa; 80], // Eligibility.Proof
        &[0x0c],     // Eligibility.Count 3
    ]);
    let full = cat(&[&body, &[0xbb; 32], &[0xcc; 64]]);
    assert_eq!(to_vec(&msg), full);
    assert_eq!(from_slice::<Message>(&full), Ok(msg.clone()));
    assert_eq!(msg.validate(), Ok(()));

    let hash = blake3(&body);
    assert_eq!(msg.msg_hash(), Hash32(hash));
    // HareMetadata: Layer, Round = 1*7 + 6 = 13 (13<<2 = 0x34), MsgHash.
    assert_eq!(
        msg.signed_bytes(),
        cat(&[&[0xe2, 0x73, 0x06, 0x00], &[0x34], &hash])
    );
    assert_eq!(<Message as Signable>::DOMAIN.byte(), 3);
}

#[test]
fn hare_preround_layout() {
    let msg = hare_message(
        Round::PREROUND,
        Value {
            proposals: vec![ProposalId([0x01; 20]), ProposalId([0x02; 20])],
            reference: None,
        },
    );
    let body = cat(&[
        &[0xe2, 0x73, 0x06, 0x00],
        &[0x04, 0x00], // iter 1, preround
        &[0x08],       // two proposals
        &[0x01; 20],
        &[0x02; 20],
        &[0x00], // no reference
        &[0xaa; 80],
        &[0x0c],
    ]);
    assert_eq!(to_vec(&msg.body), body);
    assert_eq!(
        msg.signed_bytes(),
        cat(&[&[0xe2, 0x73, 0x06, 0x00], &[0x1c], &blake3(&body)])
    );
    assert_eq!(msg.validate(), Ok(()));
    let mut bad = msg;
    bad.body.value.reference = Some(Hash32::ZERO);
    assert!(bad.validate().is_err());
}

#[test]
fn proposal_layout() {
    let ballot = Ballot {
        inner: InnerBallot {
            layer: 105_720,
            atx_id: AtxId([0x01; 32]),
            opinion_hash: Hash32([0x02; 32]),
            ref_ballot: BallotId::ZERO,
            epoch_data: Some(EpochData {
                active_set_hash: Hash32([0x03; 32]),
                beacon: Beacon([0xde, 0xad, 0xbe, 0xef]),
                eligibility_count: 50,
            }),
        },
        signature: EdSignature([0x04; 64]),
        smesher_id: NodeId([0x05; 32]),
        votes: Votes {
            base: BallotId([0x06; 20]),
            support: vec![Vote {
                id: BlockId([0x07; 20]),
                layer_id: 105_719,
                height: 100,
            }],
            against: Vec::new(),
            abstain: vec![105_718],
        },
        eligibility_proofs: vec![
            VotingEligibility {
                j: 0,
                sig: VrfSignature([0x08; 80]),
            },
            VotingEligibility {
                j: 1,
                sig: VrfSignature([0x09; 80]),
            },
        ],
        active_set: Vec::new(),
    };
    let proposal = Proposal {
        inner: InnerProposal {
            ballot,
            tx_ids: vec![TransactionId([0x0a; 32])],
            mesh_hash: Hash32([0x0b; 32]),
        },
        signature: EdSignature([0x0c; 64]),
    };

    let layer = [0xe2, 0x73, 0x06, 0x00];
    let inner_ballot = cat(&[
        &layer,
        &[0x01; 32], // AtxID
        &[0x02; 32], // OpinionHash
        &[0x00; 20], // RefBallot
        &[0x01],     // EpochData: some
        &[0x03; 32], //   ActiveSetHash
        &[0xde, 0xad, 0xbe, 0xef],
        &[0xc8], //   EligibilityCount 50: 50<<2
    ]);
    let ballot_bytes = cat(&[
        &inner_ballot,
        &[0x04; 64], // Signature
        &[0x05; 32], // SmesherID
        &[0x06; 20], // Votes.Base
        &[0x04],     // Support: 1
        &[0x07; 20],
        &[0xde, 0x73, 0x06, 0x00], // LayerID 105719: (105719<<2|2) LE
        &[0x91, 0x01],             // Height 100: (100<<2|1) LE
        &[0x00],                   // Against: none
        &[0x04],                   // Abstain: 1
        &[0xda, 0x73, 0x06, 0x00], // 105718
        &[0x08],                   // EligibilityProofs: 2
        &[0x00],
        &[0x08; 80],
        &[0x04],
        &[0x09; 80],
        &[0x00], // ActiveSet: none
    ]);
    let inner_proposal = cat(&[
        &ballot_bytes,
        &[0x04], // TxIDs: 1
        &[0x0a; 32],
        &[0x0b; 32], // MeshHash
    ]);
    let full = cat(&[&inner_proposal, &[0x0c; 64]]);

    assert_eq!(to_vec(&proposal.inner.ballot.inner), inner_ballot);
    assert_eq!(to_vec(&proposal.inner.ballot), ballot_bytes);
    assert_eq!(to_vec(&proposal), full);
    assert_eq!(from_slice::<Proposal>(&full), Ok(proposal.clone()));

    let ballot_hash = blake3(&inner_ballot);
    assert_eq!(
        proposal.ballot_id(),
        BallotId(ballot_hash[..20].try_into().unwrap())
    );
    assert_eq!(
        proposal.inner.ballot.signed_bytes(),
        cat(&[&layer, &ballot_hash])
    );
    let proposal_signed = cat(&[&layer, &blake3(&inner_proposal)]);
    assert_eq!(proposal.signed_bytes(), proposal_signed);
    assert_eq!(
        proposal.id(),
        ProposalId(blake3(&proposal_signed)[..20].try_into().unwrap())
    );
    assert_eq!(<Ballot as Signable>::DOMAIN.byte(), 2);
    assert_eq!(<Proposal as Signable>::DOMAIN.byte(), 1);
}

#[test]
fn certify_layout() {
    use codec::{CertifyContent, CertifyMessage};
    let msg = CertifyMessage {
        content: CertifyContent {
            layer_id: 105_720,
            block_id: BlockId([0x01; 20]),
            eligibility_cnt: 2,
            proof: VrfSignature([0x02; 80]),
        },
        signature: EdSignature([0x03; 64]),
        smesher_id: NodeId([0x04; 32]),
    };
    let content = cat(&[&[0xe2, 0x73, 0x06, 0x00], &[0x01; 20], &[0x08], &[0x02; 80]]);
    assert_eq!(msg.signed_bytes(), content);
    assert_eq!(to_vec(&msg), cat(&[&content, &[0x03; 64], &[0x04; 32]]));
    assert_eq!(<CertifyMessage as Signable>::DOMAIN.byte(), 3);
}

#[test]
fn poet_proof_message_layout() {
    use codec::{MerkleProof, PoetProof, PoetProofMessage};
    let msg = PoetProofMessage {
        poet_proof: PoetProof {
            merkle_proof: MerkleProof {
                root: vec![0x01; 32],
                proven_leaves: vec![vec![0x02; 32]],
                proof_nodes: vec![vec![0x03; 32], vec![0x04; 32]],
            },
            leaf_count: 1 << 20,
        },
        poet_service_id: vec![0x05; 32],
        round_id: "42".to_string(),
        statement: Hash32([0x06; 32]),
        signature: EdSignature::ZERO,
    };
    let proof = cat(&[
        &[0x80],
        &[0x01; 32], // Root
        &[0x04],     // ProvenLeaves: 1
        &[0x80],
        &[0x02; 32],
        &[0x08], // ProofNodes: 2
        &[0x80],
        &[0x03; 32],
        &[0x80],
        &[0x04; 32],
        &[0x02, 0x00, 0x40, 0x00], // LeafCount 2^20: (2^20<<2|2) LE
    ]);
    let full = cat(&[
        &proof,
        &[0x80],
        &[0x05; 32],         // PoetServiceID
        &[0x08, b'4', b'2'], // RoundID
        &[0x06; 32],         // Statement
        &[0x00; 64],         // Signature
    ]);
    assert_eq!(to_vec(&msg), full);
    assert_eq!(from_slice::<PoetProofMessage>(&full), Ok(msg.clone()));
    assert_eq!(msg.reference(), Hash32(blake3(&proof)));
}

//! ATX v2 ID checked against a separate level-by-level Merkle computation written from the
//! description in PROTOCOL.md §4.6 and go-spacemesh `wire_v2.go` (leaf order, padding
//! widths, little-endian padded integers). No upstream vector exists for this ID.

use codec::{
    from_slice, to_vec, ActivationTxV2, Address, AtxId, EdSignature, Hash32, InitialAtxPartsV2,
    MarriageCertificate, MerkleProofV2, NiPostsV2, NodeId, PostV1, Signable, SubPostV2,
};

fn node(l: &[u8], r: &[u8]) -> Vec<u8> {
    blake3::hash(&[&[0x01u8][..], l, r].concat())
        .as_bytes()
        .to_vec()
}

/// Pairs leaves level by level; an odd node is paired with 32 zero bytes. Valid for
/// non-empty leaves, which is all this test uses.
fn reference_root(mut level: Vec<Vec<u8>>) -> Vec<u8> {
    assert!(!level.is_empty());
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node(l, r),
                [l] => node(l, &[0u8; 32]),
                _ => unreachable!(),
            })
            .collect();
    }
    level.remove(0)
}

fn padded(mut leaves: Vec<Vec<u8>>, width: usize) -> Vec<u8> {
    leaves.resize(width.max(leaves.len()), vec![0u8; 32]);
    reference_root(leaves)
}

fn le32(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.resize(32, 0);
    v
}

fn post_root(p: &PostV1) -> Vec<u8> {
    reference_root(vec![
        p.nonce.to_le_bytes().to_vec(),
        p.indices.clone(),
        p.pow.to_le_bytes().to_vec(),
    ])
}

fn sample_atx(initial: bool, married: bool) -> ActivationTxV2 {
    let post = |n: u32| PostV1 {
        nonce: n,
        indices: vec![n as u8; 12],
        pow: u64::from(n) * 1_000_003,
    };
    ActivationTxV2 {
        publish_epoch: 27,
        positioning_atx: AtxId([0x11; 32]),
        coinbase: Address([0x22; 24]),
        initial: initial.then(|| InitialAtxPartsV2 {
            commitment_atx: AtxId([0x33; 32]),
            post: post(9),
        }),
        previous_atxs: vec![AtxId([0x44; 32]), AtxId([0x45; 32])],
        niposts: vec![NiPostsV2 {
            membership: MerkleProofV2 {
                nodes: vec![Hash32([0x55; 32]), Hash32([0x56; 32])],
            },
            challenge: Hash32([0x66; 32]),
            posts: vec![
                SubPostV2 {
                    marriage_index: 0,
                    prev_atx_index: 0,
                    membership_leaf_index: 5,
                    post: post(1),
                    num_units: 4,
                },
                SubPostV2 {
                    marriage_index: 1,
                    prev_atx_index: 1,
                    membership_leaf_index: 1 << 33,
                    post: post(2),
                    num_units: 8,
                },
            ],
        }],
        vrf_nonce: 0x0102_0304_0506_0708,
        marriages: if married {
            vec![
                MarriageCertificate {
                    reference_atx: AtxId([0x77; 32]),
                    signature: EdSignature([0x78; 64]),
                },
                MarriageCertificate {
                    reference_atx: AtxId([0x79; 32]),
                    signature: EdSignature([0x7a; 64]),
                },
            ]
        } else {
            Vec::new()
        },
        marriage_atx: married.then_some(AtxId([0x88; 32])),
        smesher_id: NodeId([0x99; 32]),
        signature: EdSignature([0xaa; 64]),
    }
}

fn reference_id(atx: &ActivationTxV2) -> Vec<u8> {
    let initial = match &atx.initial {
        Some(i) => reference_root(vec![i.commitment_atx.0.to_vec(), post_root(&i.post)]),
        None => vec![0u8; 32],
    };
    let previous = padded(
        atx.previous_atxs.iter().map(|a| a.0.to_vec()).collect(),
        256,
    );
    let niposts = padded(
        atx.niposts
            .iter()
            .map(|n| {
                let posts = padded(
                    n.posts
                        .iter()
                        .map(|s| {
                            reference_root(vec![
                                s.marriage_index.to_le_bytes().to_vec(),
                                atx.previous_atxs[s.prev_atx_index as usize].0.to_vec(),
                                le32(&s.membership_leaf_index.to_le_bytes()),
                                post_root(&s.post),
                                s.num_units.to_le_bytes().to_vec(),
                            ])
                        })
                        .collect(),
                    256,
                );
                reference_root(vec![to_vec(&n.membership), n.challenge.0.to_vec(), posts])
            })
            .collect(),
        4,
    );
    let marriages = padded(
        atx.marriages
            .iter()
            .map(|m| reference_root(vec![m.reference_atx.0.to_vec(), m.signature.0.to_vec()]))
            .collect(),
        256,
    );
    reference_root(vec![
        le32(&atx.publish_epoch.to_le_bytes()),
        atx.positioning_atx.0.to_vec(),
        atx.coinbase.0.to_vec(),
        initial,
        previous,
        niposts,
        le32(&atx.vrf_nonce.to_le_bytes()),
        marriages,
        atx.marriage_atx.map_or(vec![0u8; 32], |a| a.0.to_vec()),
    ])
}

#[test]
fn id_matches_reference_merkle_root() {
    for (initial, married) in [(false, false), (true, false), (false, true), (true, true)] {
        let atx = sample_atx(initial, married);
        let id = atx.id();
        assert_eq!(
            id.0.to_vec(),
            reference_id(&atx),
            "initial={initial} married={married}"
        );
        assert_eq!(atx.signed_bytes(), id.0.to_vec());
        assert_eq!(from_slice::<ActivationTxV2>(&to_vec(&atx)), Ok(atx));
    }
}

#[test]
fn id_ignores_signature_and_smesher() {
    let a = sample_atx(true, true);
    let mut b = a.clone();
    b.signature = EdSignature([0; 64]);
    b.smesher_id = NodeId([0; 32]);
    assert_eq!(a.id(), b.id());
    b.vrf_nonce += 1;
    assert_ne!(a.id(), b.id());
}

#[test]
fn out_of_range_prev_index_is_an_empty_leaf() {
    // Go returns a nil sub-post root for a bad index; the ID is still defined (and the ATX
    // is rejected later by syntactic validation).
    let mut atx = sample_atx(false, false);
    atx.niposts[0].posts[0].prev_atx_index = 7;
    assert!(atx.niposts[0].posts[0].root(&atx.previous_atxs).is_empty());
    let id = atx.id();
    assert_ne!(id, sample_atx(false, false).id());
}

#[test]
fn wire_layout_prefix() {
    let atx = sample_atx(false, false);
    let bytes = to_vec(&atx);
    let expected_prefix = [
        &[0x6c][..], // PublishEpoch 27
        &[0x11; 32], // PositioningATX
        &[0x22; 24], // Coinbase
        &[0x00],     // Initial: none
        &[0x08],     // PreviousATXs: 2
        &[0x44; 32],
        &[0x45; 32],
        &[0x04], // NiPosts: 1
        &[0x08], //   Membership.Nodes: 2
    ]
    .concat();
    assert_eq!(&bytes[..expected_prefix.len()], &expected_prefix[..]);
    // Tail: VRFNonce (big mode, 8 bytes), Marriages 0, MarriageATX none, SmesherID, Signature.
    let tail = [
        &[0x13][..],
        &0x0102_0304_0506_0708u64.to_le_bytes(),
        &[0x00, 0x00],
        &[0x99; 32],
        &[0xaa; 64],
    ]
    .concat();
    assert_eq!(&bytes[bytes.len() - tail.len()..], &tail[..]);
}

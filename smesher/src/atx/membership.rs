//! The PoET member tree: its root (the PoET statement) and the membership proof of one member,
//! as go-spacemesh builds and checks them (leaves are the raw 32-byte members, inner nodes
//! blake3(0x01 ‖ left ‖ right), a missing right sibling is 32 zero bytes at every level).

use codec::{Hash32, MerkleProofV1};

/// Most members accepted from a PoET (a membership proof carries at most 32 nodes).
pub const MAX_MEMBERS: usize = 1 << 22;

fn parent(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&[0x01]);
    h.update(left);
    h.update(right);
    *h.finalize().as_bytes()
}

/// Root of the member tree; `None` for no members.
pub fn root(members: &[[u8; 32]]) -> Option<[u8; 32]> {
    let mut level: Vec<[u8; 32]> = members.to_vec();
    if level.is_empty() {
        return None;
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| parent(&pair[0], pair.get(1).unwrap_or(&[0u8; 32])))
            .collect();
    }
    Some(level[0])
}

/// Index of the first occurrence of `member`, the one go-spacemesh proves.
pub fn position(members: &[[u8; 32]], member: &[u8; 32]) -> Option<usize> {
    members.iter().position(|m| m == member)
}

/// The membership proof of `members[index]` (siblings from the leaf up).
pub fn prove(members: &[[u8; 32]], index: usize) -> Option<MerkleProofV1> {
    if index >= members.len() {
        return None;
    }
    let mut level: Vec<[u8; 32]> = members.to_vec();
    let mut i = index;
    let mut nodes = Vec::new();
    while level.len() > 1 {
        let sibling = level.get(i ^ 1).copied().unwrap_or([0u8; 32]);
        nodes.push(Hash32(sibling));
        level = level
            .chunks(2)
            .map(|pair| parent(&pair[0], pair.get(1).unwrap_or(&[0u8; 32])))
            .collect();
        i /= 2;
    }
    Some(MerkleProofV1 {
        nodes,
        leaf_index: index as u64,
    })
}

/// True when `proof` shows `leaf` under `root`.
pub fn verify(leaf: &[u8; 32], proof: &MerkleProofV1, root: &[u8; 32]) -> bool {
    // Like go-spacemesh, index bits above the proof's height are not looked at.
    if proof.nodes.len() > 64 {
        return false;
    }
    let mut node = *leaf;
    for (level, sibling) in proof.nodes.iter().enumerate() {
        node = if proof.leaf_index >> level & 1 == 0 {
            parent(&node, &sibling.0)
        } else {
            parent(&sibling.0, &node)
        };
    }
    &node == root
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn hx32(v: &Value) -> [u8; 32] {
        hex::decode(v.as_str().expect("hex"))
            .expect("hex")
            .try_into()
            .expect("32 bytes")
    }

    #[test]
    fn roots_and_proofs_match_go_spacemesh() {
        let vectors: Value = serde_json::from_str(include_str!("poet_merkle.json")).expect("json");
        let mut proofs_checked = 0;
        for case in vectors["membership"].as_array().expect("array") {
            let members: Vec<[u8; 32]> = case["members"]
                .as_array()
                .expect("members")
                .iter()
                .map(hx32)
                .collect();
            let expected_root = hx32(&case["root"]);
            assert_eq!(
                root(&members),
                Some(expected_root),
                "{}",
                case["description"]
            );
            // The Tree of the codec crate agrees.
            assert_eq!(codec::merkle::root(&members), expected_root.to_vec());
            for p in case["proofs"].as_array().expect("proofs") {
                let index = p["index"].as_u64().expect("index") as usize;
                let proof = prove(&members, index).expect("index in range");
                let nodes: Vec<[u8; 32]> = p["nodes"]
                    .as_array()
                    .expect("nodes")
                    .iter()
                    .map(hx32)
                    .collect();
                assert_eq!(proof.nodes.iter().map(|n| n.0).collect::<Vec<_>>(), nodes);
                if let Some(scale) = p.get("scale_merkle_proof") {
                    assert_eq!(
                        hex::encode(codec::to_vec(&proof)),
                        scale.as_str().expect("scale")
                    );
                }
                let leaf = hx32(&p["leaf"]);
                assert_eq!(
                    position(&members, &leaf),
                    Some(p["leaf_index"].as_u64().expect("leaf index") as usize)
                );
                assert!(verify(&leaf, &proof, &expected_root));
                if let Some(flipped_valid) = p.get("flipped_index_valid") {
                    let mut flipped = proof.clone();
                    flipped.leaf_index ^= 1;
                    assert_eq!(
                        verify(&leaf, &flipped, &expected_root),
                        flipped_valid.as_bool().expect("flipped")
                    );
                }
                proofs_checked += 1;
            }
        }
        assert!(proofs_checked > 5);
        assert_eq!(root(&[]), None);
        assert!(prove(&[[1; 32]], 1).is_none());
    }
}

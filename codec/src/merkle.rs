//! Merkle roots exactly as spacemeshos/merkle-tree v0.2.3 computes them with
//! go-spacemesh's ATX node hash blake3(0x01 ‖ left ‖ right) (also poet's member-tree hash).
//!
//! Behaviour reproduced on purpose: leaves are used raw (not hashed, any length); a tree of
//! one leaf has that leaf as its root; a missing right sibling is 32 zero bytes at every
//! level; and an empty leaf that arrives as a left sibling is "parked" as nothing, so the
//! following leaf takes its place (the library tests emptiness by length).

use crate::Hash32;

const PADDING: [u8; 32] = [0u8; 32];

fn parent(left: &[u8], right: &[u8]) -> Vec<u8> {
    let mut h = blake3::Hasher::new();
    h.update(&[0x01]);
    h.update(left);
    h.update(right);
    h.finalize().as_bytes().to_vec()
}

/// An incremental tree keeping one parked node per layer, as the Go library does.
#[derive(Debug, Clone)]
pub struct Tree {
    parked: Vec<Vec<u8>>,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// A tree with no leaves.
    pub fn new() -> Self {
        Self {
            parked: vec![Vec::new()],
        }
    }

    /// Adds the next leaf.
    pub fn add_leaf(&mut self, leaf: &[u8]) {
        let mut node = leaf.to_vec();
        let mut height = 0;
        loop {
            if self.parked[height].is_empty() {
                self.parked[height] = node;
                return;
            }
            node = parent(&self.parked[height], &node);
            self.parked[height].clear();
            if height + 1 == self.parked.len() {
                self.parked.push(Vec::new());
            }
            height += 1;
        }
    }

    /// The root, padding unbalanced layers on the fly. Empty for a tree with no leaves.
    pub fn root(&self) -> Vec<u8> {
        let mut carry: Vec<u8> = Vec::new();
        let last = self.parked.len() - 1;
        for (height, parked) in self.parked.iter().enumerate() {
            if height == last && carry.is_empty() {
                return parked.clone();
            }
            carry = match (parked.is_empty(), carry.is_empty()) {
                (false, false) => parent(parked, &carry),
                (false, true) => parent(parked, &PADDING),
                (true, false) => parent(&carry, &PADDING),
                (true, true) => Vec::new(),
            };
        }
        carry
    }
}

/// The root of `leaves`.
pub fn root<L: AsRef<[u8]>>(leaves: &[L]) -> Vec<u8> {
    let mut tree = Tree::new();
    for leaf in leaves {
        tree.add_leaf(leaf.as_ref());
    }
    tree.root()
}

/// The root of a tree whose first two leaves are non-empty. Such a root is always a 32-byte
/// hash: the topmost layer was created by hashing and always holds a parked hash.
pub(crate) fn root_hash<L: AsRef<[u8]>>(leaves: &[L]) -> Hash32 {
    let r = root(leaves);
    debug_assert_eq!(r.len(), 32, "tree with two non-empty leading leaves");
    Hash32::from_slice(&r).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(l: &[u8], r: &[u8]) -> Vec<u8> {
        parent(l, r)
    }

    #[test]
    fn zero_and_one_leaf() {
        assert!(root::<&[u8]>(&[]).is_empty());
        // A lone leaf is its own root, whatever its length.
        assert_eq!(root(&[b"abc".as_slice()]), b"abc".to_vec());
    }

    #[test]
    fn unbalanced_tree_pads_with_zero_bytes() {
        let (a, b, c) = (b"a".as_slice(), b"bb".as_slice(), b"ccc".as_slice());
        let expected = h(&h(a, b), &h(c, &PADDING));
        assert_eq!(root(&[a, b, c]), expected);
        assert_eq!(expected.len(), 32);
    }

    #[test]
    fn node_hash_is_blake3_with_0x01_prefix() {
        let expected = blake3::hash(b"\x01leftright");
        assert_eq!(parent(b"left", b"right"), expected.as_bytes().to_vec());
    }

    #[test]
    fn empty_left_leaf_is_skipped_like_go() {
        // The Go library tests "parked" by length, so an empty leaf arriving as a left
        // sibling vanishes and the next leaf moves into its place.
        let (a, b) = (b"a".as_slice(), b"b".as_slice());
        assert_eq!(root(&[b"".as_slice(), a, b]), h(a, b));
        // As a right sibling it is hashed in as nothing.
        assert_eq!(root(&[a, b"".as_slice()]), h(a, b""));
    }

    #[test]
    fn root_hash_of_two_leaves() {
        let got = root_hash(&[[1u8; 32], [2u8; 32]]);
        assert_eq!(got.0.to_vec(), h(&[1u8; 32], &[2u8; 32]));
    }
}

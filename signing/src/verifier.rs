//! Signature verification with go-spacemesh's rules (curve25519-voi's default options), single
//! and batched.
//!
//! The rules: public key A must be a canonical encoding of a point that is not of small order;
//! R must be a canonical point encoding (small order allowed); S must be canonical (< ℓ); the
//! cofactored equation `[8][S]B = [8]R + [8][k]A` must hold, `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
//! ed25519-dalek's `verify` is cofactorless and `verify_strict` rejects small-order R, so the
//! check is built here from curve25519-dalek.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

use crate::identity::NodeId;
use crate::signer::{preimage, Domain, Signature};

/// Verifies domain signatures for one prefix (normally the genesis ID).
#[derive(Debug, Clone)]
pub struct Verifier {
    prefix: Vec<u8>,
}

/// One signature to check in a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    /// Domain the signature claims.
    pub domain: Domain,
    /// Signer (public key).
    pub node_id: &'a NodeId,
    /// The message without prefix and domain.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
}

impl Verifier {
    /// A verifier with `prefix` (empty for raw RFC 8032 checks).
    pub fn new(prefix: &[u8]) -> Self {
        Verifier {
            prefix: prefix.to_vec(),
        }
    }

    /// Whether `signature` by `node_id` over `prefix ‖ domain ‖ msg` is valid.
    pub fn verify(
        &self,
        domain: Domain,
        node_id: &NodeId,
        msg: &[u8],
        signature: &Signature,
    ) -> bool {
        verify_raw(
            node_id.as_bytes(),
            &preimage(&self.prefix, domain, msg),
            &signature.0,
        )
    }

    /// One answer per item, identical to calling `verify` on each.
    pub fn verify_batch(&self, items: &[BatchItem<'_>]) -> Vec<bool> {
        let preimages: Vec<Vec<u8>> = items
            .iter()
            .map(|it| preimage(&self.prefix, it.domain, it.message))
            .collect();
        let raw: Vec<(&[u8; 32], &[u8], &[u8; 64])> = items
            .iter()
            .zip(&preimages)
            .map(|(it, pre)| (it.node_id.as_bytes(), pre.as_slice(), &it.signature.0))
            .collect();
        verify_raw_batch(&raw)
    }
}

/// A signature whose encodings passed the canonicity and small-order checks.
struct Prepared {
    a: EdwardsPoint,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// Decodes a point, rejecting encodings that do not round-trip (y ≥ p, or x = 0 with the sign
/// bit set).
fn decode_canonical(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let compressed = CompressedEdwardsY(*bytes);
    let point = compressed.decompress()?;
    (point.compress() == compressed).then_some(point)
}

fn prepare(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Option<Prepared> {
    let a = decode_canonical(public_key)?;
    if a.is_small_order() {
        return None;
    }
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&signature[..32]);
    let r = decode_canonical(&r_bytes)?;
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(public_key);
    h.update(message);
    let k = Scalar::from_hash(h);
    Some(Prepared { a, r, s, k })
}

fn check_one(p: &Prepared) -> bool {
    // [S]B - [k]A - R, multiplied by the cofactor, must be the identity.
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &(-p.a), &p.s);
    (sb_minus_ka - p.r).mul_by_cofactor().is_identity()
}

/// Verifies a signature over exact bytes (no prefix or domain added) with go-spacemesh's rules.
pub fn verify_raw(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    prepare(public_key, message, signature).is_some_and(|p| check_one(&p))
}

/// Verifies many raw signatures at once; the answers equal `verify_raw` on each item.
///
/// Encoding checks run per item; the equations of the survivors are combined with random
/// 128-bit weights into one cofactored multiscalar check. If that fails, each survivor is
/// checked alone so the bad ones are found.
pub fn verify_raw_batch(items: &[(&[u8; 32], &[u8], &[u8; 64])]) -> Vec<bool> {
    let prepared: Vec<Option<Prepared>> = items
        .iter()
        .map(|(pk, msg, sig)| prepare(pk, msg, sig))
        .collect();
    let valid: Vec<&Prepared> = prepared.iter().flatten().collect();
    let all_ok = match valid.len() {
        0 => true,
        1 => check_one(valid[0]),
        _ => batch_equation_holds(&valid),
    };
    prepared
        .iter()
        .map(|p| match p {
            None => false,
            // The batch equation already covers every survivor.
            Some(_) if all_ok => true,
            Some(p) => check_one(p),
        })
        .collect()
}

fn batch_equation_holds(items: &[&Prepared]) -> bool {
    use rand::RngCore as _;
    let mut rng = rand::thread_rng();
    let mut scalars = Vec::with_capacity(2 * items.len() + 1);
    let mut points = Vec::with_capacity(2 * items.len() + 1);
    let mut b_coeff = Scalar::ZERO;
    for p in items {
        let mut z_bytes = [0u8; 32];
        rng.fill_bytes(&mut z_bytes[..16]);
        let z = Scalar::from_bytes_mod_order(z_bytes);
        b_coeff -= z * p.s;
        scalars.push(z);
        points.push(p.r);
        scalars.push(z * p.k);
        points.push(p.a);
    }
    scalars.push(b_coeff);
    points.push(ED25519_BASEPOINT_POINT);
    // Σ z_i (R_i + k_i A_i - S_i B), times the cofactor, is the identity when all hold.
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    #[test]
    fn batch_finds_the_bad_ones() {
        let ids: Vec<Identity> = (0..6u8)
            .map(|i| Identity::from_seed(&[i + 1; 32], "x.key"))
            .collect();
        let verifier = Verifier::new(b"prefix-of-twenty-byt");
        let msgs: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; i as usize + 3]).collect();
        let mut sigs: Vec<Signature> = ids
            .iter()
            .zip(&msgs)
            .map(|(id, m)| id.sign_preimage(&preimage(b"prefix-of-twenty-byt", Domain::HARE, m)))
            .collect();
        let node_ids: Vec<NodeId> = ids.iter().map(Identity::node_id).collect();
        let items = |sigs: &[Signature]| -> Vec<bool> {
            let items: Vec<BatchItem<'_>> = (0..6)
                .map(|i| BatchItem {
                    domain: Domain::HARE,
                    node_id: &node_ids[i],
                    message: &msgs[i],
                    signature: &sigs[i],
                })
                .collect();
            verifier.verify_batch(&items)
        };
        assert_eq!(items(&sigs), vec![true; 6]);
        sigs[2].0[5] ^= 1; // breaks R (or its equation)
        sigs[4].0[40] ^= 1; // breaks S's equation
        assert_eq!(items(&sigs), vec![true, true, false, true, false, true]);
        assert!(verifier.verify_batch(&[]).is_empty());
    }
}

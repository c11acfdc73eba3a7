//! ECVRF-EDWARDS25519-SHA512-ELL2 (RFC 9381, suite 0x04): 80-byte deterministic proofs.
//!
//! This is the construction go-spacemesh's VRF signer produces: hash-to-curve by RFC 9380's
//! `encode_to_curve` with Elligator 2 and the public key as salt, a five-point challenge
//! (Y, H, Γ, k·B, k·H) truncated to 16 bytes, and the RFC 8032-style nonce. The older
//! four-point challenge of draft 10 gives different `c` and `s`, and is not accepted.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};
use std::sync::OnceLock;
use zeroize::Zeroize;

use crate::field::Fe;

/// Length of a proof: Γ (32) ‖ c (16) ‖ s (32).
pub const PROOF_LEN: usize = 80;
/// Length of the VRF output `beta` (SHA-512).
pub const OUTPUT_LEN: usize = 64;

/// RFC 9381 suite_string for ECVRF-EDWARDS25519-SHA512-ELL2.
const SUITE: u8 = 0x04;
/// Domain separation tag of the hash-to-curve step: "ECVRF_" ‖ h2c suite ID ‖ suite_string.
const H2C_DST: &[u8] = b"ECVRF_edwards25519_XMD:SHA-512_ELL2_NU_\x04";
/// Montgomery coefficient A of curve25519.
const MONT_A: u64 = 486_662;

/// A VRF secret key, derived from a 32-byte Ed25519 seed exactly as Ed25519 derives its
/// signing scalar, so an identity's VRF key and signing key share one seed and one public key.
pub struct VrfSecretKey {
    scalar: Scalar,
    nonce_prefix: [u8; 32],
    public: [u8; 32],
}

impl std::fmt::Debug for VrfSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VrfSecretKey")
            .field("public", &Hex(&self.public))
            .finish_non_exhaustive()
    }
}

impl Drop for VrfSecretKey {
    fn drop(&mut self) {
        self.scalar.zeroize();
        self.nonce_prefix.zeroize();
    }
}

impl VrfSecretKey {
    /// The key for an Ed25519 seed: SHA-512(seed), low half clamped as the scalar, high half
    /// as the nonce prefix.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mut digest: [u8; 64] = Sha512::digest(seed).into();
        let mut low = [0u8; 32];
        low.copy_from_slice(&digest[..32]);
        low[0] &= 248;
        low[31] &= 127;
        low[31] |= 64;
        let mut nonce_prefix = [0u8; 32];
        nonce_prefix.copy_from_slice(&digest[32..]);
        let scalar = Scalar::from_bytes_mod_order(low);
        let public = EdwardsPoint::mul_base(&scalar).compress().to_bytes();
        low.zeroize();
        digest.zeroize();
        Self {
            scalar,
            nonce_prefix,
            public,
        }
    }

    /// The public key (the Ed25519 public key of the same seed).
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The proof `pi` for input `alpha`.
    pub fn prove(&self, alpha: &[u8]) -> [u8; PROOF_LEN] {
        let h = encode_to_curve(&self.public, alpha);
        let h_bytes = h.compress();
        let gamma = self.scalar * h;
        let mut nonce_hash = Sha512::new();
        nonce_hash.update(self.nonce_prefix);
        nonce_hash.update(h_bytes.as_bytes());
        let mut wide: [u8; 64] = nonce_hash.finalize().into();
        let k = Scalar::from_bytes_mod_order_wide(&wide);
        wide.zeroize();
        let c_bytes = challenge(
            &self.public,
            &h_bytes,
            &gamma.compress(),
            &EdwardsPoint::mul_base(&k).compress(),
            &(k * h).compress(),
        );
        let s = k + challenge_scalar(&c_bytes) * self.scalar;
        let mut pi = [0u8; PROOF_LEN];
        pi[..32].copy_from_slice(gamma.compress().as_bytes());
        pi[32..48].copy_from_slice(&c_bytes);
        pi[48..].copy_from_slice(s.as_bytes());
        pi
    }
}

/// Proves `alpha` with the key of an Ed25519 seed.
pub fn prove(seed: &[u8; 32], alpha: &[u8]) -> [u8; PROOF_LEN] {
    VrfSecretKey::from_seed(seed).prove(alpha)
}

/// Verifies `proof` of `alpha` under `public`. Rejects public keys and Γ that are not
/// canonical RFC 8032 encodings of curve points, small-order public keys, and `s ≥ q`.
pub fn verify(public: &[u8; 32], alpha: &[u8], proof: &[u8; PROOF_LEN]) -> bool {
    let Some(y) = decode_point(public) else {
        return false;
    };
    if y.is_small_order() {
        return false;
    }
    let Some((gamma, c_bytes, s)) = decode_proof(proof) else {
        return false;
    };
    let h = encode_to_curve(public, alpha);
    let neg_c = -challenge_scalar(&c_bytes);
    let u = EdwardsPoint::vartime_double_scalar_mul_basepoint(&neg_c, &y, &s);
    let v = EdwardsPoint::vartime_multiscalar_mul([s, neg_c], [h, gamma]);
    let expected = challenge(
        public,
        &h.compress(),
        &gamma.compress(),
        &u.compress(),
        &v.compress(),
    );
    expected == c_bytes
}

/// The VRF output `beta` = SHA-512(suite ‖ 0x03 ‖ 8·Γ ‖ 0x00) of a well-formed proof, or
/// `None` if Γ or `s` does not decode. It does not verify the proof.
pub fn proof_to_hash(proof: &[u8; PROOF_LEN]) -> Option<[u8; OUTPUT_LEN]> {
    let (gamma, _, _) = decode_proof(proof)?;
    let mut hash = Sha512::new();
    hash.update([SUITE, 0x03]);
    hash.update(gamma.mul_by_cofactor().compress().as_bytes());
    hash.update([0x00]);
    Some(hash.finalize().into())
}

/// RFC 8032 point decoding: canonical y, and no "negative zero" x.
fn decode_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let point = CompressedEdwardsY(*bytes).decompress()?;
    (point.compress().as_bytes() == bytes).then_some(point)
}

fn decode_proof(proof: &[u8; PROOF_LEN]) -> Option<(EdwardsPoint, [u8; 16], Scalar)> {
    let mut gamma_bytes = [0u8; 32];
    gamma_bytes.copy_from_slice(&proof[..32]);
    let gamma = decode_point(&gamma_bytes)?;
    let mut c = [0u8; 16];
    c.copy_from_slice(&proof[32..48]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&proof[48..]);
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    Some((gamma, c, s))
}

/// The 16-byte challenge over five points: SHA-512(suite ‖ 0x02 ‖ Y ‖ H ‖ Γ ‖ U ‖ V ‖ 0x00).
fn challenge(
    y: &[u8; 32],
    h: &CompressedEdwardsY,
    gamma: &CompressedEdwardsY,
    u: &CompressedEdwardsY,
    v: &CompressedEdwardsY,
) -> [u8; 16] {
    let mut hash = Sha512::new();
    hash.update([SUITE, 0x02]);
    hash.update(y);
    hash.update(h.as_bytes());
    hash.update(gamma.as_bytes());
    hash.update(u.as_bytes());
    hash.update(v.as_bytes());
    hash.update([0x00]);
    let digest = hash.finalize();
    let mut c = [0u8; 16];
    c.copy_from_slice(&digest[..16]);
    c
}

fn challenge_scalar(c: &[u8; 16]) -> Scalar {
    let mut wide = [0u8; 32];
    wide[..16].copy_from_slice(c);
    Scalar::from_bytes_mod_order(wide)
}

/// RFC 9380 `encode_to_curve` for edwards25519_XMD:SHA-512_ELL2_NU_ with the public key as
/// salt: one field element from `expand_message_xmd`, Elligator 2, then clearing the cofactor.
pub(crate) fn encode_to_curve(salt: &[u8; 32], alpha: &[u8]) -> EdwardsPoint {
    let uniform = expand_message_xmd_48(&[salt, alpha], H2C_DST);
    let u = Fe::from_be_bytes_mod_p(&uniform);
    map_to_edwards(&u).mul_by_cofactor()
}

/// `expand_message_xmd` with SHA-512 for 48 output bytes (one block suffices).
fn expand_message_xmd_48(msg: &[&[u8]], dst: &[u8]) -> [u8; 48] {
    let dst_len = [u8::try_from(dst.len()).unwrap_or(u8::MAX)];
    let mut b0 = Sha512::new();
    b0.update([0u8; 128]);
    for part in msg {
        b0.update(part);
    }
    b0.update([0u8, 48, 0]); // I2OSP(48, 2) ‖ I2OSP(0, 1)
    b0.update(dst);
    b0.update(dst_len);
    let b0 = b0.finalize();
    let mut b1 = Sha512::new();
    b1.update(b0);
    b1.update([1u8]);
    b1.update(dst);
    b1.update(dst_len);
    let b1 = b1.finalize();
    let mut out = [0u8; 48];
    out.copy_from_slice(&b1[..48]);
    out
}

/// √−486664 with sgn0 = 0, the constant of the curve25519 → edwards25519 rational map.
fn edwards_map_constant() -> &'static Fe {
    static CELL: OnceLock<Fe> = OnceLock::new();
    CELL.get_or_init(|| {
        let root = Fe::from_u64(MONT_A + 2).neg().sqrt().unwrap_or(Fe::ZERO);
        if root.sgn0() {
            root.neg()
        } else {
            root
        }
    })
}

/// 2^((p + 3) / 8): relates a root of g(x1)/gxd to one of g(x2)/gxd = 2u²·g(x1)/gxd.
fn elligator_root_of_two() -> &'static Fe {
    static CELL: OnceLock<Fe> = OnceLock::new();
    CELL.get_or_init(|| {
        let two = Fe::from_u64(2);
        // (p − 5)/8 + 1 = (p + 3)/8
        two.pow_p58().mul(&two)
    })
}

/// Elligator 2 onto curve25519 (RFC 9380 §6.7.1, Z = 2) in the inversion-free form of its
/// appendix G.2.1, then the rational map to edwards25519 (§6.8.2, G.2.2): one
/// exponentiation for the square root, one inversion for affine coordinates.
fn map_to_edwards(u: &Fe) -> EdwardsPoint {
    let a = Fe::from_u64(MONT_A);
    let two_u2 = Fe::from_u64(2).mul(&u.square());
    let xd = two_u2.add(&Fe::ONE); // never 0: −1/2 is not a square
    let x1n = a.neg(); // x1 = x1n / xd
    let xd2 = xd.square();
    let gxd = xd2.mul(&xd);
    // g(x1)·xd³ = x1n³ + A·x1n²·xd + x1n·xd²
    let gx1 = a.mul(&xd).add(&x1n).mul(&x1n).add(&xd2).mul(&x1n);
    // Candidate root of gx1/gxd: gx1·gxd³·(gx1·gxd⁷)^((p−5)/8).
    let gxd3 = gxd.square().mul(&gxd);
    let t = gx1.mul(&gxd3);
    let y11 = t.mul(&gxd3.mul(&gxd.square().square()).mul(&gx1).pow_p58());
    let is_root = |y: &Fe, num: &Fe| y.square().mul(&gxd).ct_eq(num);
    let i = crate::field::sqrt_minus_one();
    let y1 = if is_root(&y11, &gx1) {
        Some(y11)
    } else {
        let y12 = y11.mul(i);
        is_root(&y12, &gx1).then_some(y12)
    };
    // x1 when g(x1) is a square (root with sgn0 = 1), else x2 = 2u²·x1 (root with sgn0 = 0).
    let (xn, y) = match y1 {
        Some(y) => (x1n, if y.sgn0() { y } else { y.neg() }),
        None => {
            let gx2 = gx1.mul(&two_u2);
            let y21 = y11.mul(u).mul(elligator_root_of_two());
            let y = if is_root(&y21, &gx2) { y21 } else { y21.mul(i) };
            (x1n.mul(&two_u2), if y.sgn0() { y.neg() } else { y })
        }
    };
    // Edwards (x, y) = (c·s/t, (s − 1)/(s + 1)) with s = xn/xd, t = y:
    // x = c·xn / (xd·y), y = (xn − xd)/(xn + xd), over one shared inversion.
    let x_den = xd.mul(&y);
    let y_num = xn.sub(&xd);
    let y_den = xn.add(&xd);
    let den = x_den.mul(&y_den);
    if den.is_zero() {
        return EdwardsPoint::default();
    }
    let inv = den.invert();
    let x = edwards_map_constant().mul(&xn).mul(&y_den).mul(&inv);
    let y = y_num.mul(&x_den).mul(&inv);
    let mut enc = y.to_bytes();
    enc[31] |= u8::from(x.sgn0()) << 7;
    CompressedEdwardsY(enc).decompress().unwrap_or_default()
}

/// The same map written directly from RFC 9380 §6.7.1, to check the optimised one.
#[cfg(test)]
fn map_to_edwards_reference(u: &Fe) -> EdwardsPoint {
    let a = Fe::from_u64(MONT_A);
    let g = |x: &Fe| x.square().mul(x).add(&a.mul(&x.square())).add(x);
    let denom = Fe::ONE.add(&Fe::from_u64(2).mul(&u.square()));
    let mut x1 = a.neg().mul(&denom.invert());
    if x1.is_zero() {
        x1 = a.neg();
    }
    let (s, t) = match g(&x1).sqrt() {
        Some(y) => (x1, if y.sgn0() { y } else { y.neg() }),
        None => {
            let x2 = x1.neg().sub(&a);
            let y = g(&x2).sqrt().unwrap_or(Fe::ZERO);
            (x2, if y.sgn0() { y.neg() } else { y })
        }
    };
    let s_plus = s.add(&Fe::ONE);
    let den = t.mul(&s_plus);
    if den.is_zero() {
        return EdwardsPoint::default();
    }
    let inv = den.invert();
    let x = edwards_map_constant().mul(&s).mul(&s_plus).mul(&inv);
    let y = s.sub(&Fe::ONE).mul(&t).mul(&inv);
    let mut enc = y.to_bytes();
    enc[31] |= u8::from(x.sgn0()) << 7;
    CompressedEdwardsY(enc).decompress().unwrap_or_default()
}

/// Whether the 32 bytes are a canonical encoding of a point of small order (order ≤ 8).
pub fn is_small_order_key(public: &[u8; 32]) -> bool {
    decode_point(public).is_some_and(|p| p.mul_by_cofactor().is_identity())
}

struct Hex<'a>(&'a [u8]);

impl std::fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_small_order_keys_are_rejected() {
        let sk = VrfSecretKey::from_seed(&[7u8; 32]);
        let pi = sk.prove(b"msg");
        assert!(verify(&sk.public_key(), b"msg", &pi));
        // The identity (y = 1) and the order-2 point (y = −1) are small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(is_small_order_key(&identity));
        assert!(!verify(&identity, b"msg", &pi));
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        assert!(is_small_order_key(&minus_one));
        assert!(!verify(&minus_one, b"msg", &pi));
    }

    #[test]
    fn non_canonical_key_is_rejected() {
        // y = p + 1 decodes to the identity under reduction, but is not canonical.
        let mut y = [0xffu8; 32];
        y[0] = 0xee;
        y[31] = 0x7f;
        assert!(CompressedEdwardsY(y).decompress().is_some());
        assert!(decode_point(&y).is_none());
        let pi = prove(&[7u8; 32], b"");
        assert!(!verify(&y, b"", &pi));
        // x = 0 with the sign bit set ("negative zero").
        let mut neg_zero = [0u8; 32];
        neg_zero[0] = 1;
        neg_zero[31] = 0x80;
        assert!(decode_point(&neg_zero).is_none());
    }

    #[test]
    fn s_not_reduced_is_rejected() {
        let sk = VrfSecretKey::from_seed(&[9u8; 32]);
        let mut pi = sk.prove(b"x");
        // s + q has the same value mod q but is not canonical.
        let s = Scalar::from_canonical_bytes(<[u8; 32]>::try_from(&pi[48..]).unwrap_or([0; 32]));
        let s = Option::<Scalar>::from(s).expect("prover emits canonical s");
        let q_bytes: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(s.as_bytes()[i]) + u16::from(q_bytes[i]) + carry;
            sum[i] = v as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0);
        pi[48..].copy_from_slice(&sum);
        assert!(!verify(&sk.public_key(), b"x", &pi));
        assert!(proof_to_hash(&pi).is_none());
    }

    #[test]
    fn optimised_map_matches_the_reference() {
        let mut both_branches = (0, 0);
        for seed in 0u32..200 {
            let mut bytes = [0u8; 48];
            bytes[..4].copy_from_slice(&seed.to_le_bytes());
            bytes[40..44].copy_from_slice(&seed.wrapping_mul(0x9e37_79b9).to_le_bytes());
            let u = Fe::from_be_bytes_mod_p(&bytes);
            let g_is_square = {
                let a = Fe::from_u64(MONT_A);
                let x1 = a
                    .neg()
                    .mul(&Fe::ONE.add(&Fe::from_u64(2).mul(&u.square())).invert());
                x1.square()
                    .mul(&x1)
                    .add(&a.mul(&x1.square()))
                    .add(&x1)
                    .is_square()
            };
            if g_is_square {
                both_branches.0 += 1;
            } else {
                both_branches.1 += 1;
            }
            assert_eq!(
                map_to_edwards(&u).compress(),
                map_to_edwards_reference(&u).compress(),
                "seed {seed}"
            );
        }
        assert!(
            both_branches.0 > 50 && both_branches.1 > 50,
            "{both_branches:?}"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let sk = VrfSecretKey::from_seed(&[1u8; 32]);
        let text = format!("{sk:?}");
        assert!(text.contains("8a88e3dd"));
        assert!(!text.contains("scalar"));
    }
}

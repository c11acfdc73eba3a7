//! Arithmetic in GF(2^255 − 19) for the Elligator 2 map, which curve25519-dalek keeps private.
//!
//! Only public data (the public key and the VRF input) passes through here, so the code is
//! variable-time where that is simpler. Elements are five 51-bit limbs, kept loosely reduced
//! (every limb below 2^52) between operations.

use std::sync::OnceLock;

const MASK: u64 = (1 << 51) - 1;

/// An element of GF(2^255 − 19).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fe([u64; 5]);

impl Fe {
    pub(crate) const ZERO: Fe = Fe([0; 5]);
    pub(crate) const ONE: Fe = Fe([1, 0, 0, 0, 0]);

    /// A small integer.
    pub(crate) const fn from_u64(v: u64) -> Fe {
        Fe([v & MASK, v >> 51, 0, 0, 0])
    }

    #[cfg(test)]
    /// Little-endian 32 bytes, bit 255 ignored (values ≥ p are reduced by the arithmetic).
    pub(crate) fn from_bytes(b: &[u8; 32]) -> Fe {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        Fe([
            word(0) & MASK,
            (word(6) >> 3) & MASK,
            (word(12) >> 6) & MASK,
            (word(19) >> 1) & MASK,
            (word(24) >> 12) & MASK,
        ])
    }

    /// The big-endian integer in `b` (up to 64 bytes) reduced mod p.
    pub(crate) fn from_be_bytes_mod_p(b: &[u8]) -> Fe {
        let base = Fe::from_u64(256);
        b.iter().fold(Fe::ZERO, |acc, &byte| {
            acc.mul(&base).add(&Fe::from_u64(u64::from(byte)))
        })
    }

    /// Canonical little-endian encoding (fully reduced).
    pub(crate) fn to_bytes(self) -> [u8; 32] {
        let mut l = carry(self.0);
        // l < 2^255 + small; subtract p once if l ≥ p, found by adding 19 and looking at bit 255.
        let mut q = (l[0] + 19) >> 51;
        q = (l[1] + q) >> 51;
        q = (l[2] + q) >> 51;
        q = (l[3] + q) >> 51;
        q = (l[4] + q) >> 51;
        l[0] += 19 * q;
        l[1] += l[0] >> 51;
        l[0] &= MASK;
        l[2] += l[1] >> 51;
        l[1] &= MASK;
        l[3] += l[2] >> 51;
        l[2] &= MASK;
        l[4] += l[3] >> 51;
        l[3] &= MASK;
        l[4] &= MASK;
        let words = [
            l[0] | (l[1] << 51),
            (l[1] >> 13) | (l[2] << 38),
            (l[2] >> 26) | (l[3] << 25),
            (l[3] >> 39) | (l[4] << 12),
        ];
        let mut out = [0u8; 32];
        for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub(crate) fn add(&self, o: &Fe) -> Fe {
        let mut r = [0u64; 5];
        for (i, limb) in r.iter_mut().enumerate() {
            *limb = self.0[i] + o.0[i];
        }
        Fe(carry(r))
    }

    pub(crate) fn sub(&self, o: &Fe) -> Fe {
        // Add 16·p first so no limb goes negative.
        const P16: [u64; 5] = [
            16 * ((1 << 51) - 19),
            16 * MASK,
            16 * MASK,
            16 * MASK,
            16 * MASK,
        ];
        let mut r = [0u64; 5];
        for (i, limb) in r.iter_mut().enumerate() {
            *limb = self.0[i] + P16[i] - o.0[i];
        }
        Fe(carry(r))
    }

    pub(crate) fn neg(&self) -> Fe {
        Fe::ZERO.sub(self)
    }

    pub(crate) fn mul(&self, o: &Fe) -> Fe {
        let a = &self.0;
        let b = &o.0;
        let m = |x: u64, y: u64| u128::from(x) * u128::from(y);
        let b1 = b[1] * 19;
        let b2 = b[2] * 19;
        let b3 = b[3] * 19;
        let b4 = b[4] * 19;
        let c0 = m(a[0], b[0]) + m(a[4], b1) + m(a[3], b2) + m(a[2], b3) + m(a[1], b4);
        let c1 = m(a[1], b[0]) + m(a[0], b[1]) + m(a[4], b2) + m(a[3], b3) + m(a[2], b4);
        let c2 = m(a[2], b[0]) + m(a[1], b[1]) + m(a[0], b[2]) + m(a[4], b3) + m(a[3], b4);
        let c3 = m(a[3], b[0]) + m(a[2], b[1]) + m(a[1], b[2]) + m(a[0], b[3]) + m(a[4], b4);
        let c4 = m(a[4], b[0]) + m(a[3], b[1]) + m(a[2], b[2]) + m(a[1], b[3]) + m(a[0], b[4]);
        Fe::reduce_wide(c0, c1, c2, c3, c4)
    }

    /// `self²` with the symmetric products computed once.
    pub(crate) fn square(&self) -> Fe {
        let a = &self.0;
        let m = |x: u64, y: u64| u128::from(x) * u128::from(y);
        let (a3_19, a4_19) = (a[3] * 19, a[4] * 19);
        let (d0, d1, d2) = (a[0] * 2, a[1] * 2, a[2] * 2);
        let c0 = m(a[0], a[0]) + m(d1, a4_19) + m(d2, a3_19);
        let c1 = m(d0, a[1]) + m(d2, a4_19) + m(a[3], a3_19);
        let c2 = m(d0, a[2]) + m(a[1], a[1]) + m(a[3] * 2, a4_19);
        let c3 = m(d0, a[3]) + m(d1, a[2]) + m(a[4], a4_19);
        let c4 = m(d0, a[4]) + m(d1, a[3]) + m(a[2], a[2]);
        Fe::reduce_wide(c0, c1, c2, c3, c4)
    }

    /// Carries five wide column sums back into 51-bit limbs.
    fn reduce_wide(c0: u128, mut c1: u128, mut c2: u128, mut c3: u128, mut c4: u128) -> Fe {
        c1 += c0 >> 51;
        c2 += c1 >> 51;
        c3 += c2 >> 51;
        c4 += c3 >> 51;
        let top = (c4 >> 51) as u64;
        let mut r = [
            (c0 as u64) & MASK,
            (c1 as u64) & MASK,
            (c2 as u64) & MASK,
            (c3 as u64) & MASK,
            (c4 as u64) & MASK,
        ];
        // top < 2^64 / 19 for loosely reduced inputs, so 19·top fits.
        r[0] += top * 19;
        Fe(carry(r))
    }

    /// `self^e` for a little-endian exponent, bit by bit (a cross-check for the chains).
    #[cfg(test)]
    fn pow(&self, e: &[u8; 32]) -> Fe {
        let mut acc = Fe::ONE;
        for byte in e.iter().rev() {
            for bit in (0..8).rev() {
                acc = acc.square();
                if (byte >> bit) & 1 == 1 {
                    acc = acc.mul(self);
                }
            }
        }
        acc
    }

    /// `self^(2^k)`.
    fn square_n(&self, k: u32) -> Fe {
        (0..k).fold(*self, |acc, _| acc.square())
    }

    /// (`self^(2^250 − 1)`, `self^11`) by the usual addition chain: every exponent below is
    /// 2^250 − 1 shifted left by a few bits plus a small remainder.
    fn pow_2_250_minus_1(&self) -> (Fe, Fe) {
        let x2 = self.square();
        let x9 = x2.square_n(2).mul(self);
        let x11 = x9.mul(&x2);
        let e5 = x11.square().mul(&x9); // 2^5 − 1
        let e10 = e5.square_n(5).mul(&e5);
        let e20 = e10.square_n(10).mul(&e10);
        let e40 = e20.square_n(20).mul(&e20);
        let e50 = e40.square_n(10).mul(&e10);
        let e100 = e50.square_n(50).mul(&e50);
        let e200 = e100.square_n(100).mul(&e100);
        let e250 = e200.square_n(50).mul(&e50);
        (e250, x11)
    }

    /// `self^((p − 5) / 8)`, the core of a square root of a ratio.
    pub(crate) fn pow_p58(&self) -> Fe {
        // (p − 5) / 8 = 2^2 · (2^250 − 1) + 1
        let (e250, _) = self.pow_2_250_minus_1();
        e250.square_n(2).mul(self)
    }

    /// Multiplicative inverse; zero maps to zero (the `inv0` of RFC 9380).
    pub(crate) fn invert(&self) -> Fe {
        // p − 2 = 2^5 · (2^250 − 1) + 11
        let (e250, x11) = self.pow_2_250_minus_1();
        e250.square_n(5).mul(&x11)
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.to_bytes() == [0u8; 32]
    }

    pub(crate) fn ct_eq(&self, o: &Fe) -> bool {
        self.to_bytes() == o.to_bytes()
    }

    /// `sgn0` of RFC 9380 for a prime field: the parity of the canonical value.
    pub(crate) fn sgn0(&self) -> bool {
        self.to_bytes()[0] & 1 == 1
    }

    /// Whether the element is a square (zero counts as one).
    #[cfg(test)]
    pub(crate) fn is_square(&self) -> bool {
        self.sqrt().is_some()
    }

    /// A square root if one exists (either root; callers fix the sign).
    pub(crate) fn sqrt(&self) -> Option<Fe> {
        // (p + 3) / 8 = 2^2 · (2^250 − 1) + 2
        let (e250, _) = self.pow_2_250_minus_1();
        let cand = e250.square_n(2).mul(&self.square());
        let sq = cand.square();
        if sq.ct_eq(self) {
            Some(cand)
        } else if sq.ct_eq(&self.neg()) {
            Some(cand.mul(sqrt_minus_one()))
        } else {
            None
        }
    }
}

/// Exponents of the form `low ‖ ff…ff ‖ high` (little-endian): p−2, (p−1)/2, (p+3)/8, (p−1)/4.
#[cfg(test)]
fn exponent(low: u8, high: u8) -> [u8; 32] {
    let mut e = [0xffu8; 32];
    e[0] = low;
    e[31] = high;
    e
}

/// √−1 = 2^((p−1)/4), since 2 is not a square mod p.
pub(crate) fn sqrt_minus_one() -> &'static Fe {
    static CELL: OnceLock<Fe> = OnceLock::new();
    // (p − 1) / 4 = 2^3 · (2^250 − 1) + 3
    CELL.get_or_init(|| {
        let two = Fe::from_u64(2);
        let (e250, _) = two.pow_2_250_minus_1();
        e250.square_n(3).mul(&two.square().mul(&two))
    })
}

/// One carry pass: every limb below 2^51 except limb 0, which stays below 2^51 + 19·2^13.
fn carry(mut l: [u64; 5]) -> [u64; 5] {
    l[1] += l[0] >> 51;
    l[0] &= MASK;
    l[2] += l[1] >> 51;
    l[1] &= MASK;
    l[3] += l[2] >> 51;
    l[2] &= MASK;
    l[4] += l[3] >> 51;
    l[3] &= MASK;
    l[0] += 19 * (l[4] >> 51);
    l[4] &= MASK;
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addition_chains_match_plain_powers() {
        let x = Fe::from_be_bytes_mod_p(&[0xa7; 40]);
        assert_eq!(
            x.invert().to_bytes(),
            x.pow(&exponent(0xeb, 0x7f)).to_bytes()
        );
        assert_eq!(
            sqrt_minus_one().to_bytes(),
            Fe::from_u64(2).pow(&exponent(0xfb, 0x1f)).to_bytes()
        );
        let legendre = |v: &Fe| v.pow(&exponent(0xf6, 0x3f)); // (p − 1) / 2
        for seed in 0u8..32 {
            let v = Fe::from_be_bytes_mod_p(&[seed; 33]);
            assert_eq!(
                v.is_square(),
                v.is_zero() || legendre(&v).ct_eq(&Fe::ONE),
                "seed {seed}"
            );
        }
        assert_eq!(Fe::ZERO.invert().to_bytes(), [0u8; 32]);
    }

    #[test]
    fn square_matches_mul() {
        for seed in 0u8..16 {
            let x = Fe::from_be_bytes_mod_p(&[seed.wrapping_mul(37) ^ 0x5c; 64]);
            let y = x.sub(&Fe::from_u64(u64::from(seed)));
            assert_eq!(x.square().to_bytes(), x.mul(&x).to_bytes());
            assert_eq!(y.square().to_bytes(), y.mul(&y).to_bytes());
        }
        let x = Fe::from_be_bytes_mod_p(&[0x3d; 40]);
        assert_eq!(
            x.pow_p58().to_bytes(),
            x.pow(&exponent(0xfd, 0x0f)).to_bytes()
        );
    }

    #[test]
    fn sqrt_minus_one_squares_to_minus_one() {
        let i = *sqrt_minus_one();
        assert!(i.square().ct_eq(&Fe::ONE.neg()));
    }

    #[test]
    fn inverse_and_roots() {
        let x = Fe::from_be_bytes_mod_p(&[0x5a; 48]);
        assert!(x.mul(&x.invert()).ct_eq(&Fe::ONE));
        let sq = x.square();
        assert!(sq.is_square());
        let r = sq.sqrt().expect("a square has a root");
        assert!(r.ct_eq(&x) || r.ct_eq(&x.neg()));
        // 2 is a non-square mod p.
        assert!(!Fe::from_u64(2).is_square());
        assert!(Fe::from_u64(2).sqrt().is_none());
    }

    #[test]
    fn reduction_of_p_and_wide_values() {
        // p itself encodes as zero; p + 5 as 5.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(Fe::from_bytes(&p).is_zero());
        p[0] = 0xf2;
        assert_eq!(Fe::from_bytes(&p).to_bytes(), Fe::from_u64(5).to_bytes());
        // 2^256 ≡ 38.
        let mut big = [0u8; 33];
        big[0] = 1;
        assert_eq!(
            Fe::from_be_bytes_mod_p(&big).to_bytes(),
            Fe::from_u64(38).to_bytes()
        );
    }
}

//! The few 256-bit big-endian integer operations the PoW and VRF thresholds need.

/// Splits a big-endian 32-byte integer into four u64 limbs, most significant first.
fn limbs(v: &[u8; 32]) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (i, limb) in out.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&v[i * 8..i * 8 + 8]);
        *limb = u64::from_be_bytes(b);
    }
    out
}

fn bytes(l: [u64; 4]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, limb) in l.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&limb.to_be_bytes());
    }
    out
}

/// ⌊v / d⌋ for a big-endian 256-bit `v`; `d` must not be 0 (returns `v` unchanged if it is).
pub fn div_u64(v: &[u8; 32], d: u64) -> [u8; 32] {
    if d == 0 {
        return *v;
    }
    let mut rem: u128 = 0;
    let mut out = [0u64; 4];
    for (o, limb) in out.iter_mut().zip(limbs(v)) {
        let cur = (rem << 64) | u128::from(limb);
        *o = (cur / u128::from(d)) as u64;
        rem = cur % u128::from(d);
    }
    bytes(out)
}

/// ⌊2^256 / d⌋ for d ≥ 2 (d = 1 saturates to 2^256 − 1).
pub fn pow2_256_div(d: u64) -> [u8; 32] {
    let q = div_u64(&[0xff; 32], d);
    // (2^256 − 1) / d is one short exactly when d divides 2^256, i.e. d is a power of two.
    if d > 1 && d.is_power_of_two() {
        add_one(&q)
    } else {
        q
    }
}

fn add_one(v: &[u8; 32]) -> [u8; 32] {
    let mut out = *v;
    for b in out.iter_mut().rev() {
        let (n, carry) = b.overflowing_add(1);
        *b = n;
        if !carry {
            break;
        }
    }
    out
}

/// v << s, saturating at 2^256 − 1 when bits would be lost (s < 64).
pub fn shl_saturating(v: &[u8; 32], s: u32) -> [u8; 32] {
    let l = limbs(v);
    if s == 0 {
        return *v;
    }
    if l[0] >> (64 - s) != 0 {
        return [0xff; 32];
    }
    let mut out = [0u64; 4];
    for i in 0..4 {
        out[i] = l[i] << s;
        if i < 3 {
            out[i] |= l[i + 1] >> (64 - s);
        }
    }
    bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divides() {
        let mut half = [0xff; 32];
        half[0] = 0x7f;
        assert_eq!(div_u64(&[0xff; 32], 2), half);
        let mut v = [0u8; 32];
        v[31] = 100;
        let mut q = [0u8; 32];
        q[31] = 33;
        assert_eq!(div_u64(&v, 3), q);
        let mut thirtysecond = [0xff; 32];
        thirtysecond[0] = 0xff >> 5;
        assert_eq!(div_u64(&[0xff; 32], 32), thirtysecond);
    }

    #[test]
    fn pow2_division_and_shift() {
        let mut p = [0u8; 32];
        p[0] = 0x80;
        assert_eq!(pow2_256_div(2), p);
        assert_eq!(shl_saturating(&p, 1), [0xff; 32]);
        let mut one = [0u8; 32];
        one[31] = 1;
        let mut eight = [0u8; 32];
        eight[31] = 8;
        assert_eq!(shl_saturating(&one, 3), eight);
    }
}

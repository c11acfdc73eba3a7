//! The sign-magnitude 72.56 fixed-point number of spacemeshos/fixed v0.1.1, operation for
//! operation, including its rounding, its raw comparisons and where it overflows.
//!
//! A value is a 128-bit word: bit 127 is the sign, the other 127 bits the magnitude with 56
//! fractional bits. Go panics on overflow; here every such case is a [`FixedError`]. Shifts
//! follow Go's rules (a count of 64 or more gives 0), so helpers below make that explicit.

use std::fmt;

/// Fractional bits.
pub(crate) const FRAC_BITS: u32 = 56;
/// 1.0 as a raw 56-bit fixed-point integer.
pub(crate) const ONE_VALUE: i64 = 1 << FRAC_BITS;
pub(crate) const FRAC_MASK: i64 = ONE_VALUE - 1;
pub(crate) const HALF_VALUE: i64 = ONE_VALUE >> 1;
const UNSIGN_MASK: u64 = (1 << 63) - 1;
const SIGN_MASK: u64 = 1 << 63;

/// Where the Go code would panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FixedError {
    /// The result does not fit, or an argument is outside the function's domain.
    #[error("fixed-point overflow")]
    Overflow,
    /// Division by zero.
    #[error("fixed-point division by zero")]
    DivisionByZero,
}

pub(crate) type Result<T> = std::result::Result<T, FixedError>;

/// A fixed-point value with 56 fractional bits, laid out as spacemeshos/fixed's `Fixed`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Fixed {
    lo: u64,
    hi: u64,
}

/// Go's `x << n` for unsigned words: counts of 64 or more give 0.
pub(crate) fn gshl(x: u64, n: u32) -> u64 {
    x.checked_shl(n).unwrap_or(0)
}

/// Go's `x >> n` for unsigned words.
pub(crate) fn gshr(x: u64, n: u32) -> u64 {
    x.checked_shr(n).unwrap_or(0)
}

/// A shift count Go would accept (non-negative), as `u32`.
fn count(n: i64) -> Result<u32> {
    u32::try_from(n).map_err(|_| FixedError::Overflow)
}

pub(crate) fn abs_(x: i64) -> u64 {
    let xs = x >> 63;
    (x ^ xs).wrapping_sub(xs) as u64
}

fn sign_(x: i64) -> u64 {
    (x as u64) & SIGN_MASK
}

/// `hi:lo / d` for `hi < d`, as Go's `bits.Div64`.
fn div_wide(hi: u64, lo: u64, d: u64) -> Result<(u64, u64)> {
    if d == 0 {
        return Err(FixedError::DivisionByZero);
    }
    if hi >= d {
        return Err(FixedError::Overflow);
    }
    let n = (u128::from(hi) << 64) | u128::from(lo);
    let d = u128::from(d);
    Ok(((n / d) as u64, (n % d) as u64))
}

/// Go's `bits.Mul64`: (hi, lo).
fn mul_wide(x: u64, y: u64) -> (u64, u64) {
    let p = u128::from(x) * u128::from(y);
    ((p >> 64) as u64, p as u64)
}

/// Go's `bits.Add64`.
fn add_carry(x: u64, y: u64, carry: u64) -> (u64, u64) {
    let (s1, c1) = x.overflowing_add(y);
    let (s2, c2) = s1.overflowing_add(carry);
    (s2, u64::from(c1 || c2))
}

/// Go's `bits.Sub64`.
fn sub_borrow(x: u64, y: u64, borrow: u64) -> (u64, u64) {
    let (d1, b1) = x.overflowing_sub(y);
    let (d2, b2) = d1.overflowing_sub(borrow);
    (d2, u64::from(b1 || b2))
}

impl Fixed {
    /// 0.
    pub const ZERO: Fixed = Fixed { lo: 0, hi: 0 };
    /// 1.
    pub const ONE: Fixed = Fixed {
        lo: ONE_VALUE as u64,
        hi: 0,
    };

    /// The 16-byte encoding of `Fixed.Bytes()`: `lo` then `hi`, little-endian.
    pub fn to_le_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.lo.to_le_bytes());
        out[8..].copy_from_slice(&self.hi.to_le_bytes());
        out
    }

    /// Inverse of [`Fixed::to_le_bytes`] (`FromBytes`).
    pub fn from_le_bytes(b: &[u8; 16]) -> Fixed {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&b[..8]);
        hi.copy_from_slice(&b[8..]);
        Fixed {
            lo: u64::from_le_bytes(lo),
            hi: u64::from_le_bytes(hi),
        }
    }

    /// `FracFromBytes`: the low 56 bits of a little-endian u64 as a fraction in [0, 1).
    pub fn frac_from_bytes(b: &[u8; 8]) -> Fixed {
        Fixed::raw(i64::from_le_bytes(*b) & FRAC_MASK)
    }

    /// `DivUint64(p, q)`: p / q rounded as the Go code rounds.
    pub fn div_u64(p: u64, q: u64) -> std::result::Result<Fixed, FixedError> {
        udiv(Fixed::ufixed(p), Fixed::ufixed(q))
    }

    /// An integer (`New64`).
    pub fn from_int(v: i64) -> Fixed {
        let (v, s) = (abs_(v), sign_(v));
        Fixed {
            lo: v << 56,
            hi: (v >> 8) | s,
        }
    }

    /// `GreaterThan`: Go's raw word comparison (meaningful for non-negative values).
    pub fn greater_than(self, y: Fixed) -> bool {
        self.hi > y.hi || (self.hi == y.hi && self.lo > y.lo)
    }

    /// `LessThan`: Go's raw word comparison (meaningful for non-negative values).
    pub fn less_than(self, y: Fixed) -> bool {
        self.hi < y.hi || (self.hi == y.hi && self.lo < y.lo)
    }

    /// `Float()`: the nearest-below `f64`, as the Go code converts.
    pub fn to_f64(self) -> f64 {
        let l = self.bitlen();
        let a = if l > 53 {
            self.shr_unchecked(l - 53).lo
        } else {
            gshl(self.lo, 53 - l)
        };
        if a == 0 {
            return f64::from_bits(0);
        }
        let bits = (a & !(1u64 << 52)) | (u64::from(1023 + l - 57) << 52) | self.sign_bit();
        f64::from_bits(bits)
    }

    /// `rawfixed`: a raw 56-bit fixed-point integer.
    pub(crate) fn raw(x: i64) -> Fixed {
        Fixed {
            lo: abs_(x),
            hi: sign_(x),
        }
    }

    pub(crate) fn ufixed(x: u64) -> Fixed {
        Fixed {
            lo: x << 56,
            hi: x >> 8,
        }
    }

    /// `fixed56()`: back to a raw 56-bit integer when the value fits.
    pub(crate) fn fixed56(self) -> Result<i64> {
        if (self.hi & UNSIGN_MASK) != 0 || (self.lo & SIGN_MASK) != 0 {
            return Err(FixedError::Overflow);
        }
        Ok((self.lo as i64).wrapping_mul(self.sign()))
    }

    /// `integer()`: the integer part, truncated toward zero.
    pub(crate) fn integer(self) -> Result<i64> {
        if self.bitlen() > 56 + 63 {
            return Err(FixedError::Overflow);
        }
        Ok((((self.hi << 8) | (self.lo >> 56)) as i64).wrapping_mul(self.sign()))
    }

    fn fraction(self) -> u64 {
        self.lo & FRAC_MASK as u64
    }

    fn sign(self) -> i64 {
        ((self.hi as i64) >> 63) * 2 + 1
    }

    fn sign_bit(self) -> u64 {
        self.hi & SIGN_MASK
    }

    fn set_sign_as(mut self, y: Fixed) -> Fixed {
        self.hi = (self.hi & UNSIGN_MASK) | y.sign_bit();
        self
    }

    pub(crate) fn neg(mut self) -> Fixed {
        self.hi ^= SIGN_MASK;
        self
    }

    pub(crate) fn abs(self) -> Fixed {
        Fixed {
            lo: self.lo,
            hi: self.hi & UNSIGN_MASK,
        }
    }

    fn bitlen(self) -> u32 {
        let v = self.hi & UNSIGN_MASK;
        if v != 0 {
            64 + (64 - v.leading_zeros())
        } else {
            64 - self.lo.leading_zeros()
        }
    }

    /// `shlmax`: shifts left by at most `m`, stopping below the sign bit.
    fn shlmax(self, m: i64) -> Result<(Fixed, i64)> {
        let n = i64::from(self.hi.leading_zeros()) - 1;
        let m = m.min(n);
        Ok((self.shl_raw(count(m)?)?, m))
    }

    /// `shl_`: a plain 128-bit shift, sign bit included.
    fn shl_raw(self, n: u32) -> Result<Fixed> {
        let (mut lo, mut hi, mut n) = (self.lo, self.hi, n);
        if n > 64 {
            hi = lo;
            lo = 0;
            n -= 64;
        }
        if n > 64 {
            return Err(FixedError::Overflow);
        }
        Ok(Fixed {
            lo: gshl(lo, n),
            hi: gshl(hi, n) | gshr(lo, 64 - n),
        })
    }

    /// `shl`: magnitude shift left, failing if bits reach the sign.
    pub(crate) fn shl(self, n: i64) -> Result<Fixed> {
        let mut n = count(n)?;
        let (mut lo, mut hi) = (self.lo, self.hi & UNSIGN_MASK);
        if n > 64 {
            if hi != 0 {
                return Err(FixedError::Overflow);
            }
            hi = lo;
            lo = 0;
            n -= 64;
        }
        if n > 64 {
            return Err(FixedError::Overflow);
        }
        if gshr(hi, 64 - n) | (gshl(hi, n) & SIGN_MASK) != 0 {
            return Err(FixedError::Overflow);
        }
        Ok(Fixed {
            lo: gshl(lo, n),
            hi: gshl(hi, n) | gshr(lo, 64 - n) | self.sign_bit(),
        })
    }

    /// `shr`: magnitude shift right, sign kept.
    pub(crate) fn shr(self, n: i64) -> Result<Fixed> {
        let n = count(n)?;
        if n > 128 {
            return Err(FixedError::Overflow);
        }
        Ok(self.shr_unchecked(n))
    }

    fn shr_unchecked(self, n: u32) -> Fixed {
        let (mut lo, mut hi, mut n) = (self.lo, self.hi & UNSIGN_MASK, n);
        if n > 64 {
            lo = hi;
            hi = 0;
            n -= 64;
        }
        let n = n.min(64);
        Fixed {
            lo: gshl(hi, 64 - n) | gshr(lo, n),
            hi: gshr(hi, n) | self.sign_bit(),
        }
    }

    pub(crate) fn is_zero(self) -> bool {
        (self.hi & UNSIGN_MASK) | self.lo == 0
    }

    /// `inv()`: 1 / self.
    pub(crate) fn inv(self) -> Result<Fixed> {
        div(Fixed::ONE, self)
    }
}

/// Go's `String()`: sign, integer part, 14 hex digits of fraction, `/56`.
impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.sign_bit() != 0 { '-' } else { '+' };
        let a = self.abs();
        match a.integer() {
            Ok(int) => write!(f, "{sign}{int}'{:014x}/56", a.fraction()),
            Err(_) => write!(f, "{sign}overflow/56"),
        }
    }
}

impl fmt::Debug for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fixed({self})")
    }
}

/// `from(float64)`, used for the continued fraction's epsilon.
pub(crate) fn from_f64(f: f64) -> Result<Fixed> {
    let a = f.to_bits();
    if a == 0 {
        return Ok(Fixed::ZERO);
    }
    let v = (a & ((1u64 << 52) - 1)) | (1u64 << 52);
    let e = ((a >> 52) & ((1 << 11) - 1)) as i64 - 1023 - 52 + 56;
    let s = a & SIGN_MASK;
    if e < 0 {
        return Ok(Fixed {
            lo: gshr(v, count(-e)?),
            hi: s,
        });
    }
    if i64::from(64 - v.leading_zeros()) + e > 127 {
        return Err(FixedError::Overflow);
    }
    Fixed { lo: v, hi: s }.shl(e)
}

// ---- 56-bit raw helpers (fixedraw.go) ----

/// Signed 56-bit multiply, rounded to nearest.
pub(crate) fn mul56(x: i64, y: i64) -> Result<i64> {
    let (hi2, lo2) = mul_wide(x as u64, y as u64);
    let (lo, c) = add_carry(lo2, HALF_VALUE as u64, 0);
    let hi = hi2
        .wrapping_sub(((x >> 63) & y) as u64)
        .wrapping_sub(((y >> 63) & x) as u64)
        .wrapping_add(c);
    if hi >> 63 != (hi >> (FRAC_BITS - 1)) & 1 {
        return Err(FixedError::Overflow);
    }
    Ok(((hi << (64 - FRAC_BITS)) | (lo >> FRAC_BITS)) as i64)
}

/// Unsigned 56-bit multiply, truncated.
pub(crate) fn mul56u(x: i64, y: i64) -> i64 {
    let (hi, lo) = mul_wide(x as u64, y as u64);
    ((hi << (64 - FRAC_BITS)) | (lo >> FRAC_BITS)) as i64
}

/// Signed 56-bit divide, rounded to nearest.
pub(crate) fn div56(x: i64, y: i64) -> Result<i64> {
    let xs = x >> 63;
    let ys = y >> 63;
    let a = abs_(x);
    let b = abs_(y);
    let (v, rem) = div_wide(a >> (64 - FRAC_BITS), a << FRAC_BITS, b)?;
    let (v, carry) = add_carry(v, (rem << 1) / b, 0);
    if carry != 0 {
        return Err(FixedError::Overflow);
    }
    Ok((v as i64).wrapping_mul((xs ^ ys) * 2 + 1))
}

pub(crate) fn floor56(x: i64) -> i64 {
    x & !FRAC_MASK
}

// ---- 128-bit operations (addsub128.go, mul128.go, div128.go) ----

pub(crate) fn add(x: Fixed, y: Fixed) -> Result<Fixed> {
    let (xs, ys) = (x.sign_bit(), y.sign_bit());
    if xs != ys {
        if ys != 0 {
            return Ok(usub(x, y.abs()));
        }
        return Ok(usub(y, x.abs()));
    }
    Ok(uadd(x.abs(), y.abs())?.set_sign_as(x))
}

pub(crate) fn sub(x: Fixed, y: Fixed) -> Result<Fixed> {
    add(x, y.neg())
}

fn uadd(x: Fixed, y: Fixed) -> Result<Fixed> {
    let (lo, c) = add_carry(x.lo, y.lo, 0);
    let (hi, c) = add_carry(x.hi, y.hi, c);
    if c | (hi & SIGN_MASK) != 0 {
        return Err(FixedError::Overflow);
    }
    Ok(Fixed { lo, hi })
}

fn usub(x: Fixed, y: Fixed) -> Fixed {
    if x.less_than(y) {
        let (lo, c) = sub_borrow(y.lo, x.lo, 0);
        let (hi, _) = sub_borrow(y.hi, x.hi, c);
        return Fixed {
            lo,
            hi: hi | SIGN_MASK,
        };
    }
    let (lo, c) = sub_borrow(x.lo, y.lo, 0);
    let (hi, _) = sub_borrow(x.hi, y.hi, c);
    Fixed { lo, hi }
}

pub(crate) fn mul(x: Fixed, y: Fixed) -> Result<Fixed> {
    let (a, b) = (x.hi & UNSIGN_MASK, y.hi & UNSIGN_MASK);
    let mut r = [0u64; 4];
    (r[1], r[0]) = mul_wide(x.lo, y.lo);

    let (h, l) = mul_wide(a, y.lo);
    let c;
    (r[1], c) = add_carry(r[1], l, 0);
    let c2;
    (r[2], c2) = add_carry(r[2], h, c);
    r[3] = r[3].wrapping_add(c2);

    let (h, l) = mul_wide(x.lo, b);
    let c;
    (r[1], c) = add_carry(r[1], l, 0);
    let c2;
    (r[2], c2) = add_carry(r[2], h, c);
    r[3] = r[3].wrapping_add(c2);

    let (h, l) = mul_wide(a, b);
    let c;
    (r[2], c) = add_carry(r[2], l, 0);
    let last;
    (r[3], last) = add_carry(r[3], h, c);

    let lo = (r[0] >> 56) | (r[1] << 8);
    let hi = (r[1] >> 56) | (r[2] << 8);
    let over2 = (r[2] >> 56) | (r[3] << 8);
    let over3 = r[3] >> 56;
    if last | over3 | over2 | (hi & SIGN_MASK) != 0 {
        return Err(FixedError::Overflow);
    }
    Ok(Fixed {
        lo,
        hi: hi | (x.sign_bit() ^ y.sign_bit()),
    })
}

fn mul64_(x: Fixed, y: u64) -> Result<Fixed> {
    let (b, a) = mul_wide(x.lo, y);
    let (c0, d) = mul_wide(x.hi, y);
    let (b, c1) = add_carry(b, d, 0);
    if c0 | c1 != 0 {
        return Err(FixedError::Overflow);
    }
    Ok(Fixed { lo: a, hi: b })
}

pub(crate) fn muladd1(x: Fixed, y: Fixed) -> Result<Fixed> {
    add(mul(x, y)?, Fixed::ONE)
}

fn div64(u: Fixed, v: u64) -> Result<(Fixed, Fixed)> {
    if u.hi < v {
        let (lo, r) = div_wide(u.hi, u.lo, v)?;
        Ok((Fixed { lo, hi: 0 }, Fixed { lo: r, hi: 0 }))
    } else {
        let (hi, r) = div_wide(0, u.hi, v)?;
        let (lo, r) = div_wide(r, u.lo, v)?;
        Ok((Fixed { lo, hi }, Fixed { lo: r, hi: 0 }))
    }
}

fn div128(u: Fixed, v: Fixed) -> Result<(Fixed, Fixed)> {
    if v.hi == 0 {
        return div64(u, v.lo);
    }
    let n = v.hi.leading_zeros();
    let v1_hi = (v.hi << n) | gshr(v.lo, 64 - n);
    let (tq, _) = div_wide(u.hi, u.lo, v1_hi)?;
    let tq = gshr(tq, 64 - n);
    let tq = tq.wrapping_sub(tq.wrapping_neg() >> 63);
    let mut q = Fixed { lo: tq, hi: 0 };
    let mut r = sub(u, mul64_(v, tq)?)?;
    if r.greater_than(v) {
        let (lo, c) = add_carry(q.lo, 1, 0);
        q = Fixed { lo, hi: c };
        r = sub(r, v)?;
    }
    Ok((q, r))
}

fn udiv(u: Fixed, v: Fixed) -> Result<Fixed> {
    if u.hi & !0x7f == 0 {
        let shifted = Fixed {
            lo: u.lo << 56,
            hi: (u.hi << 56) | (u.lo >> 8),
        };
        return Ok(div128(shifted, v)?.0);
    }
    let (a, rem) = div128(u, v)?;
    let a = a.shl(56)?;
    let (b, n) = rem.shlmax(56)?;
    let v = v.shr(56 - n)?;
    let (b, _) = div128(b, v)?;
    add(a, b)
}

pub(crate) fn div(x: Fixed, y: Fixed) -> Result<Fixed> {
    let mut a = udiv(x.abs(), y.abs())?;
    a.hi |= x.sign_bit() ^ y.sign_bit();
    Ok(a)
}

pub(crate) fn divadd1(x: Fixed, y: Fixed) -> Result<Fixed> {
    add(div(x, y)?, Fixed::ONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(Fixed::ONE.to_string(), "+1'00000000000000/56");
        assert_eq!(Fixed::ZERO.to_string(), "+0'00000000000000/56");
        let half = Fixed::div_u64(1, 2).expect("1/2");
        assert_eq!(half.to_string(), "+0'80000000000000/56");
        assert_eq!(half.neg().to_string(), "-0'80000000000000/56");
        assert_eq!(half.to_f64(), 0.5);
        assert_eq!(Fixed::from_int(-3).to_string(), "-3'00000000000000/56");
    }

    #[test]
    fn arithmetic_basics() {
        let three = Fixed::from_int(3);
        let two = Fixed::from_int(2);
        assert_eq!(add(three, two.neg()).expect("add"), Fixed::ONE);
        assert_eq!(sub(two, three).expect("sub"), Fixed::ONE.neg());
        assert_eq!(mul(three, two).expect("mul"), Fixed::from_int(6));
        let third = div(Fixed::ONE, three).expect("div");
        assert_eq!(third.to_string(), "+0'55555555555555/56");
        assert_eq!(Fixed::ONE.inv().expect("inv"), Fixed::ONE);
        assert_eq!(
            div(Fixed::ONE, Fixed::ZERO),
            Err(FixedError::DivisionByZero)
        );
        assert_eq!(mul56(ONE_VALUE, -ONE_VALUE), Ok(-ONE_VALUE));
        assert_eq!(div56(-ONE_VALUE, 2 * ONE_VALUE), Ok(-HALF_VALUE));
        assert_eq!(div56(1, 0), Err(FixedError::DivisionByZero));
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let big = Fixed::from_int(i64::MAX);
        assert_eq!(mul(big, big), Err(FixedError::Overflow));
        assert_eq!(big.shl(200), Err(FixedError::Overflow));
        assert_eq!(Fixed::from_int(2).fixed56(), Ok(2 * ONE_VALUE));
        assert_eq!(big.fixed56(), Err(FixedError::Overflow));
    }

    #[test]
    fn byte_round_trip_and_frac() {
        let x = Fixed::div_u64(50, 7_777_777).expect("div");
        assert_eq!(Fixed::from_le_bytes(&x.to_le_bytes()), x);
        let f = Fixed::frac_from_bytes(&[0xff; 8]);
        assert_eq!(f.to_le_bytes()[..7], [0xff; 7]);
        assert_eq!(f.to_le_bytes()[7..], [0; 9]);
    }

    #[test]
    fn epsilon_matches_go_from() {
        let eps = from_f64(1e-14).expect("epsilon");
        assert!((eps.to_f64() - 1e-14).abs() < 1e-16);
        assert_eq!(
            from_f64(0.5).expect("half"),
            Fixed::div_u64(1, 2).expect("1/2")
        );
    }
}

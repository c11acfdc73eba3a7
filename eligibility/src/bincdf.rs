//! The binomial CDF of spacemeshos/fixed v0.1.1 through the regularized incomplete beta
//! function, with its logarithm, exponential and log-gamma, reproduced bit for bit.
//!
//! I_x(a, b) = x^a (1−x)^b / (a·B(a, b)) · 1/(1 + d₁/(1 + d₂/(1 + …))), the prefactor via
//! exp(lgamma(a+b) − lgamma(a) − lgamma(b) + a·ln x + b·ln(1−x)), the continued fraction by
//! the modified Lentz method with at most 299 steps, and the symmetry I_x(a,b) = 1 − I_{1−x}(b,a)
//! past the mean. Every rounding step matters: a Go node compares the same numbers.

use crate::fixed::{
    abs_, add, div, div56, divadd1, floor56, from_f64, mul, mul56, mul56u, muladd1, sub, Fixed,
    FixedError, Result, FRAC_BITS, HALF_VALUE, ONE_VALUE,
};

/// ln 2 in 56-bit fixed point.
const LN2: i64 = 0x00b1_7217_f7d1_cf78;
/// log₂ e in 56-bit fixed point.
const LOG2E: i64 = 0x0171_5476_52b8_2fe0;
/// Multiplying a base-2 logarithm by ln 2 gives the natural logarithm.
const INV_LOG2E: i64 = LN2;
const INV_LN2: i64 = LOG2E;

/// Largest `a` or `b` of the incomplete beta the Go code accepts.
const MAX_ARG: i64 = 1 << 30;
/// Continued-fraction steps (the loop runs m = 1 ..= 299).
const BCF_ITERS: i64 = 300;

/// `BinCDF(n, p, x)`: P[X ≤ x] for X ~ Binomial(n, p), 0 below 0 and 1 from n on.
pub fn bin_cdf(n: i64, p: Fixed, x: i64) -> std::result::Result<Fixed, FixedError> {
    if x < 0 {
        Ok(Fixed::ZERO)
    } else if x >= n {
        Ok(Fixed::ONE)
    } else {
        incomplete(n - x, x + 1, ONE_VALUE.wrapping_sub(p.fixed56()?))
    }
}

/// Regularized incomplete beta I_x(a, b) for integer a, b and a raw 56-bit x in [0, 1].
fn incomplete(a: i64, b: i64, x: i64) -> Result<Fixed> {
    if a > MAX_ARG || b > MAX_ARG {
        return Err(FixedError::Overflow);
    }
    let mut bt = Fixed::from_int(0);
    if 0 < x && x < ONE_VALUE {
        let lg = sub(sub(lgamma(a + b)?, lgamma(a)?)?, lgamma(b)?)?;
        let e = add(add(lg, alogx(x, a)?)?, alogx(ONE_VALUE - x, b)?)?;
        bt = exp(e)?;
    } else if !(0..=ONE_VALUE).contains(&x) {
        return Err(FixedError::Overflow);
    }
    let front = |x: i64, a: i64, b: i64| -> Result<Fixed> {
        if bt.is_zero() {
            return Ok(bt);
        }
        let h = bcf(x, a, b)?;
        div(mul(bt, h)?, Fixed::from_int(a))
    };
    let mean = div(Fixed::from_int(a + 1), Fixed::from_int(a + b + 2))?.fixed56()?;
    if x > mean {
        sub(Fixed::ONE, front(ONE_VALUE - x, b, a)?)
    } else {
        front(x, a, b)
    }
}

/// The continued fraction of I_x(a, b) by modified Lentz, stopping once 0 ≤ del − 1 < 1e−14.
fn bcf(x: i64, a: i64, b: i64) -> Result<Fixed> {
    let epsilon = from_f64(1e-14)?;
    let xx = Fixed::raw(x);
    let nonzero = |z: Fixed| if z.is_zero() { Fixed::raw(1) } else { z };

    let mut c = Fixed::ONE;
    let first = div(mul(xx, Fixed::from_int(a + b))?, Fixed::from_int(a + 1))?;
    let mut d = nonzero(sub(Fixed::ONE, first)?).inv()?;
    let mut h = d;

    for m in 1..BCF_ITERS {
        // Even step: d_{2m} = m(b−m)x / ((a+2m−1)(a+2m)).
        let num = mul(xx, Fixed::from_int(m.wrapping_mul(b - m)))?;
        let n = div(
            num,
            Fixed::from_int((a + m + m - 1).wrapping_mul(a + m + m)),
        )?;
        d = nonzero(muladd1(n, d)?).inv()?;
        c = nonzero(divadd1(n, c)?);
        h = mul(mul(h, d)?, c)?;

        // Odd step: d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)).
        let num = mul(Fixed::from_int((-a - m).wrapping_mul(a + b + m)), xx)?;
        let n = div(
            num,
            Fixed::from_int((a + m + m).wrapping_mul(a + m + m + 1)),
        )?;
        d = nonzero(muladd1(n, d)?).inv()?;
        c = nonzero(divadd1(n, c)?);
        let del = mul(d, c)?;
        h = mul(h, del)?;

        // A raw comparison, as in Go: a negative difference never counts as converged.
        if sub(del, Fixed::ONE)?.less_than(epsilon) {
            return Ok(h);
        }
    }
    Ok(h)
}

/// e^x; below −38 the result is 0.
fn exp(x: Fixed) -> Result<Fixed> {
    if x.integer()? < -38 {
        return Ok(Fixed::from_int(0));
    }
    exp56(x.fixed56()?)
}

fn exp56(x: i64) -> Result<Fixed> {
    let (ey, mut k) = exp_reduced(x);
    let mut z = Fixed::raw(ey);
    if x < 0 {
        if z.is_zero() {
            return Err(FixedError::Overflow);
        }
        z = z.inv()?;
        k = -k;
    }
    if k < 0 {
        z.shr(-k)
    } else {
        z.shl(k)
    }
}

/// e^|x| = 2^k · e^y with y = |x| − k·ln 2, e^y by its Taylor series to the 14th power.
fn exp_reduced(x: i64) -> (i64, i64) {
    const INV_FACTORIALS: [i64; 13] = [
        ONE_VALUE / 2,
        ONE_VALUE / 6,
        ONE_VALUE / 24,
        ONE_VALUE / 120,
        ONE_VALUE / 720,
        ONE_VALUE / 5_040,
        ONE_VALUE / 40_320,
        ONE_VALUE / 362_880,
        ONE_VALUE / 3_628_800,
        ONE_VALUE / 39_916_800,
        ONE_VALUE / 479_001_600,
        ONE_VALUE / 6_227_020_800,
        ONE_VALUE / 87_178_291_200,
    ];
    let a = abs_(x) as i64;
    let t = mul56u(a, INV_LN2);
    let k = floor56(t);
    let u = mul56u(k, LN2);
    let k = k >> FRAC_BITS;
    let y = a.wrapping_sub(u);
    let mut ey = ONE_VALUE.wrapping_add(y);
    let mut py = y;
    for j in INV_FACTORIALS {
        py = mul56u(py, y);
        ey = ey.wrapping_add(mul56u(py, j));
    }
    (ey, k)
}

/// a · ln(x) for a raw 56-bit x.
fn alogx(x: i64, a: i64) -> Result<Fixed> {
    mul(Fixed::raw(log56(x)?), Fixed::from_int(a))
}

/// ln of a raw 56-bit value.
fn log56(x: i64) -> Result<i64> {
    mul56(log2(x, FRAC_BITS)?, INV_LOG2E)
}

/// ln of an integer, as a raw 56-bit value.
fn ilog56(x: i64) -> Result<i64> {
    mul56(log2(x, 0)?, INV_LOG2E)
}

/// log₂ of `x` read with `point` fractional bits, as a raw 56-bit value: the exponent from
/// the bit length, then 56 fraction bits by repeated squaring of the mantissa.
fn log2(x: i64, point: u32) -> Result<i64> {
    let one = 1i64 << point;
    let len = 64 - (x as u64).leading_zeros();
    let mut b: i64 = if x < one {
        if x <= 0 {
            return Err(FixedError::Overflow);
        }
        let n = i64::from(point + 1) - i64::from(len);
        (n << FRAC_BITS).wrapping_neg()
    } else {
        if x == one {
            return Ok(0);
        }
        let n = i64::from(len) - i64::from(point + 1);
        n << FRAC_BITS
    };
    let mut a = ((x as u64) << (64 - len)) >> 1;
    for i in 0..FRAC_BITS {
        let p = u128::from(a) * u128::from(a);
        a = (((p >> 64) as u64) << 2) | ((p as u64) >> 62);
        let c = a >> 63;
        a >>= c;
        b = b.wrapping_add((HALF_VALUE >> i).wrapping_mul(c as i64));
    }
    Ok(b)
}

/// ln Γ(x) for a positive integer: exact factorials below 8, Stirling's series above.
fn lgamma(x: i64) -> Result<Fixed> {
    const W0: i64 = 0x6b_3f8e_4325_f5a4;
    const W1: i64 = 0x15_5555_5555_553b;
    const W2: i64 = -0xb60b_60b5_8172;
    const W3: i64 = 0x3403_3f31_9e71;
    const W4: i64 = -0x2701_9718_1fce;
    const W5: i64 = 0x36cf_7499_b5ab;
    const W6: i64 = -0x6ae2_742e_790f;
    match x {
        i64::MIN..=0 => Err(FixedError::Overflow),
        1..=2 => Ok(Fixed::from_int(0)),
        3..=7 => {
            let mut z = 1i64;
            let mut k = x - 1;
            while k >= 2 {
                z *= k;
                k -= 1;
            }
            Ok(Fixed::raw(ilog56(z)?))
        }
        _ => {
            let t = ilog56(x)?.wrapping_sub(ONE_VALUE);
            // 1/x with x read as an integer, i.e. a raw 56-bit result.
            let z = div56(1, x)?;
            let y = mul56(z, z)?;
            let mut poly = W6;
            for w in [W5, W4, W3, W2] {
                poly = w.wrapping_add(mul56(y, poly)?);
            }
            let w = W0.wrapping_add(mul56(z, W1.wrapping_add(mul56(y, poly)?))?);
            let a = sub(Fixed::from_int(x), Fixed::raw(HALF_VALUE))?;
            add(mul(a, Fixed::raw(t))?, Fixed::raw(w))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(x: Fixed, want: f64, tol: f64) {
        let got = x.to_f64();
        assert!((got - want).abs() < tol, "got {got}, want {want}");
    }

    #[test]
    fn logs_and_exps() {
        close(
            Fixed::raw(log56(2 * ONE_VALUE).expect("ln 2")),
            2f64.ln(),
            1e-15,
        );
        close(
            Fixed::raw(log56(ONE_VALUE / 3).expect("ln 1/3")),
            (1f64 / 3.0).ln(),
            1e-15,
        );
        close(
            exp(Fixed::from_int(1)).expect("e"),
            std::f64::consts::E,
            1e-14,
        );
        close(
            exp(Fixed::from_int(-3)).expect("e^-3"),
            (-3f64).exp(),
            1e-15,
        );
        assert_eq!(exp(Fixed::from_int(-39)).expect("tiny"), Fixed::ZERO);
        assert!(exp(Fixed::from_int(60)).is_err());
        assert!(log2(0, FRAC_BITS).is_err());
    }

    #[test]
    fn lgamma_matches_factorials() {
        close(lgamma(5).expect("lgamma 5"), 24f64.ln(), 1e-14);
        close(lgamma(10).expect("lgamma 10"), 362_880f64.ln(), 1e-12);
        assert!(lgamma(0).is_err());
    }

    #[test]
    fn small_binomials() {
        let half = Fixed::div_u64(1, 2).expect("1/2");
        close(bin_cdf(2, half, 0).expect("cdf"), 0.25, 1e-14);
        close(bin_cdf(2, half, 1).expect("cdf"), 0.75, 1e-14);
        assert_eq!(bin_cdf(2, half, 2), Ok(Fixed::ONE));
        assert_eq!(bin_cdf(2, half, -1), Ok(Fixed::ZERO));
        assert!(bin_cdf((1 << 31) + 5, half, 2).is_err());
    }
}

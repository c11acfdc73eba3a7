//! Arbitrary inputs give results or errors, never panics (the Go code panics on some of them).

use eligibility::{bin_cdf, hare, proposal, vrf, Fixed};

/// A small deterministic generator (xorshift64*), enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn bin_cdf_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ok = 0;
    for i in 0..300 {
        let n = match i % 3 {
            0 => (rng.next() % 64) as i64,
            1 => (rng.next() % (1 << 31)) as i64,
            _ => rng.next() as i64,
        };
        let x = if n > 0 {
            (rng.next() % (n as u64 + 2)) as i64 - 1
        } else {
            rng.next() as i64
        };
        let p = if i % 4 == 0 {
            let mut raw = [0u8; 16];
            raw[..8].copy_from_slice(&rng.next().to_le_bytes());
            raw[8..].copy_from_slice(&rng.next().to_le_bytes());
            Fixed::from_le_bytes(&raw)
        } else {
            Fixed::frac_from_bytes(&rng.next().to_le_bytes())
        };
        if let Ok(v) = bin_cdf(n, p, x) {
            ok += 1;
            // A CDF of a proper probability stays within [0, 1] (raw comparison, as in Go).
            if i % 4 != 0 {
                assert!(!v.greater_than(Fixed::ONE), "n={n} x={x} p={p}: {v}");
            }
        }
    }
    assert!(ok > 100, "most inputs evaluate ({ok})");
}

#[test]
fn eligibility_functions_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..200 {
        let mut proof = [0u8; 80];
        for chunk in proof.chunks_exact_mut(8) {
            chunk.copy_from_slice(&rng.next().to_le_bytes());
        }
        let miner = rng.next() >> (rng.next() % 64);
        let total = rng.next() >> (rng.next() % 64);
        let committee = (rng.next() % 500) as u32;
        let count = (rng.next() % 70) as u16;
        // The scan is O(count): keep n·p small so the test stays fast.
        let _ = hare::calc_eligibility(&proof, miner % 1000, total.max(1000), committee % 60);
        let _ = hare::validate(count, &proof, miner, total, committee);
        let _ = proposal::num_eligible_slots(miner, rng.next(), total, 50, 4032);
        let _ = proposal::eligible_layer(rng.next() as u32, (rng.next() % 5000) as u32, &proof);
        let key: [u8; 32] = proof[..32].try_into().expect("32 bytes");
        assert!(!vrf::verify(&key, b"random", &proof));
        let _ = vrf::proof_to_hash(&proof);
    }
}

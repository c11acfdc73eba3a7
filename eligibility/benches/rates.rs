//! Prints VRF prove/verify rates next to plain Ed25519 signing, and eligibility evaluation
//! rates, measured in one run. Figures are printed, never asserted.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use eligibility::hare::{self, HareRound};
use eligibility::vrf::{self, VrfSecretKey};
use eligibility::{bin_cdf, Fixed};

/// Runs `f` repeatedly for about `budget` and returns operations per second.
fn rate(budget: Duration, mut f: impl FnMut(u64)) -> f64 {
    // Warm up once so lazily built constants are not timed.
    f(0);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            f(n);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn report(name: &str, per_sec: f64, baseline: Option<f64>) {
    match baseline {
        Some(base) => println!(
            "{name:<44} {per_sec:>12.0} /s   {:>6.2}x ed25519 sign",
            per_sec / base
        ),
        None => println!("{name:<44} {per_sec:>12.0} /s"),
    }
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000),
    );
    let seed = [0x42u8; 32];
    let msg = [0x08, 0xde, 0xad, 0xbe, 0xef, 0x0c, 0xf6, 0x73, 0x06, 0x00];

    let signer = SigningKey::from_bytes(&seed);
    let ed = rate(budget, |i| {
        let mut m = msg;
        m[9] = i as u8;
        black_box(signer.sign(black_box(&m)));
    });
    report("ed25519-dalek sign (baseline)", ed, None);

    let sk = VrfSecretKey::from_seed(&seed);
    let prove = rate(budget, |i| {
        let mut m = msg;
        m[9] = i as u8;
        black_box(sk.prove(black_box(&m)));
    });
    report("vrf prove", prove, Some(ed));

    let public = sk.public_key();
    let proof = sk.prove(&msg);
    let verify = rate(budget, |_| {
        assert!(vrf::verify(&public, black_box(&msg), black_box(&proof)));
    });
    report("vrf verify", verify, Some(ed));

    let hash = rate(budget, |_| {
        black_box(vrf::proof_to_hash(black_box(&proof)));
    });
    report("vrf proof_to_hash", hash, Some(ed));

    // BinCDF at hare-like parameters: committee 50 out of a total weight, around the mean.
    for (n, total) in [
        (100i64, 1_000u64),
        (200_000_000, 2_000_000_000),
        (1 << 30, 1 << 40),
    ] {
        let p = Fixed::div_u64(50, total).expect("p");
        let mean = (n as u64 * 50 / total) as i64;
        let per_sec = rate(budget, |i| {
            let x = mean + (i % 5) as i64 - 2;
            black_box(bin_cdf(black_box(n), p, x).expect("cdf"));
        });
        report(&format!("BinCDF n={n} p=50/{total}"), per_sec, Some(ed));
    }

    // The whole eligibility check: proof, count by CDF scan, validation of that count.
    let round = HareRound {
        beacon: [0xde, 0xad, 0xbe, 0xef],
        layer: 105_725,
        round: 0,
    };
    let hare_proof = round.prove(&sk);
    let count = hare::calc_eligibility(&hare_proof, 200_000_000, 2_000_000_000, 50).expect("count");
    let calc = rate(budget, |_| {
        black_box(
            hare::calc_eligibility(black_box(&hare_proof), 200_000_000, 2_000_000_000, 50)
                .expect("count"),
        );
    });
    report(
        &format!("hare calc_eligibility (count {count})"),
        calc,
        Some(ed),
    );
    let check = rate(budget, |_| {
        black_box(
            hare::validate(
                count,
                black_box(&hare_proof),
                200_000_000,
                2_000_000_000,
                50,
            )
            .expect("validate"),
        );
    });
    report("hare validate (2 BinCDF)", check, Some(ed));
    let full = rate(budget, |i| {
        let r = HareRound {
            round: (i % 7) as u32,
            ..round
        };
        let proof = r.prove(&sk);
        black_box(hare::calc_eligibility(&proof, 200_000_000, 2_000_000_000, 50).expect("count"));
    });
    report("hare prove + calc_eligibility", full, Some(ed));
}

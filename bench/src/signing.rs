//! Signing benchmarks: raw ed25519-dalek, the domain signer, and the guard (one signature per
//! transaction, and one transaction for a whole round of many identities).

use std::sync::Arc;
use std::time::Instant;

use ed25519_dalek::{Signer as _, SigningKey};
use signing::{Domain, Guard, GuardMetrics, Identity, Signer, Slot};

const SIGNATURES: usize = 5_000;
const GUARD_SINGLE: usize = 500;
const ROUND_IDENTITIES: usize = 500;
const ROUNDS: usize = 10;

fn rate(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64()
}

pub fn run() -> anyhow::Result<()> {
    println!("== signing");
    let msg = [7u8; 64];
    let prefix = [0x9e; 20];

    let key = SigningKey::from_bytes(&[1u8; 32]);
    let mut preimage = prefix.to_vec();
    preimage.push(Domain::HARE.byte());
    preimage.extend_from_slice(&msg);
    let t = Instant::now();
    for _ in 0..SIGNATURES {
        std::hint::black_box(key.sign(std::hint::black_box(&preimage)));
    }
    let raw = rate(SIGNATURES, t);

    let signer = Signer::new(
        Arc::new(Identity::from_seed(&[1u8; 32], "bench.key")),
        &prefix,
    );
    let t = Instant::now();
    for _ in 0..SIGNATURES {
        std::hint::black_box(signer.sign(Domain::HARE, std::hint::black_box(&msg)));
    }
    let domain = rate(SIGNATURES, t);

    let dir = tempfile::tempdir()?;
    let registry = prometheus::Registry::new();
    let genesis = signing::Genesis::from_unix(1_689_321_600, "bench")?;
    let guard = Guard::open(
        dir.path(),
        genesis.genesis_id(),
        GuardMetrics::register(&registry)?,
    )?;
    let one = Identity::from_seed(&[2u8; 32], "one.key");
    let t = Instant::now();
    for layer in 0..GUARD_SINGLE as u32 {
        guard.sign(&one, Slot::hare(layer, 0, 0), Domain::HARE, &msg)?;
    }
    let single = rate(GUARD_SINGLE, t);

    let identities: Vec<Identity> = (0..ROUND_IDENTITIES)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1000).to_le_bytes());
            Identity::from_seed(&seed, format!("id{i}.key"))
        })
        .collect();
    let t = Instant::now();
    for round in 0..ROUNDS as u32 {
        let requests: Vec<_> = identities
            .iter()
            .map(|identity| signing::guard::SignRequest {
                identity,
                slot: Slot::hare(10_000 + round, 0, 0),
                domain: Domain::HARE,
                message: &msg,
            })
            .collect();
        for outcome in guard.sign_batch(&requests)? {
            outcome?;
        }
    }
    let batched = rate(ROUNDS * ROUND_IDENTITIES, t);

    println!("{:<58} {:>12}", "", "signatures/s");
    println!("{:<58} {:>12.0}", "raw ed25519-dalek (baseline)", raw);
    println!(
        "{:<58} {:>12.0}  ({:.2}× raw)",
        "signer: genesis prefix ‖ domain ‖ message",
        domain,
        domain / raw
    );
    println!(
        "{:<58} {:>12.0}  ({:.3}× raw)",
        "signer + guard, 1 signature per transaction (fsync each)",
        single,
        single / raw
    );
    println!(
        "{:<58} {:>12.0}  ({:.2}× raw)",
        format!("signer + guard, {ROUND_IDENTITIES} identities per transaction"),
        batched,
        batched / raw
    );
    Ok(())
}

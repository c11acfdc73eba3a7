//! Hare round throughput: messages built from a node template, signed in one guard
//! transaction and their bytes (what a restart would re-send) recorded in a second, for 1, 100
//! and 1000 identities eligible in the same round. VRF proofs are computed beforehand, untimed.

use std::time::Instant;

use eligibility::hare::HareRound;
use eligibility::VrfSecretKey;
use signing::{Guard, GuardMetrics, Identity};
use smesher::duties::hare::{sign_round, Eligible};
use smesher::node::HareRoundTemplate;

const SIZES: [usize; 3] = [1, 100, 1000];
/// Rounds per size; each is a fresh slot (another layer).
const ROUNDS: u32 = 5;

pub fn run() -> anyhow::Result<()> {
    println!("== hare rounds (template → message, signed and recorded through the guard)");
    println!("{:<40} {:>14} {:>14}", "", "messages/s", "ms per round");
    let template = HareRoundTemplate {
        proposals: (0..50u8).map(|i| [i; 20]).collect(),
        reference: None,
    };
    for n in SIZES {
        let dir = tempfile::tempdir()?;
        let registry = prometheus::Registry::new();
        let genesis = signing::Genesis::from_unix(1_689_321_600, "bench")?;
        let guard = Guard::open(
            dir.path(),
            genesis.genesis_id(),
            GuardMetrics::register(&registry)?,
        )?;
        let seeds: Vec<[u8; 32]> = (0..n)
            .map(|i| {
                let mut s = [0u8; 32];
                s[..8].copy_from_slice(&(i as u64).to_le_bytes());
                s[31] = 1;
                s
            })
            .collect();
        let identities: Vec<Identity> = seeds
            .iter()
            .enumerate()
            .map(|(i, s)| Identity::from_seed(s, format!("id{i}.key")))
            .collect();
        let keys: Vec<VrfSecretKey> = seeds.iter().map(VrfSecretKey::from_seed).collect();
        let mut rounds = Vec::new();
        for r in 0..ROUNDS {
            let layer = 1_000 + r;
            let vrf = HareRound {
                beacon: [1, 2, 3, 4],
                layer,
                round: 0,
            };
            let proofs: Vec<[u8; 80]> = keys.iter().map(|k| vrf.prove(k)).collect();
            rounds.push((layer, proofs));
        }
        let t = Instant::now();
        let mut sent = 0usize;
        for (layer, proofs) in &rounds {
            let eligible: Vec<Eligible<'_>> = identities
                .iter()
                .zip(proofs)
                .map(|(identity, proof)| Eligible {
                    identity,
                    proof: *proof,
                    count: 1,
                })
                .collect();
            sent += sign_round(&guard, *layer, 0, 0, &template, &eligible).len();
        }
        let elapsed = t.elapsed().as_secs_f64();
        anyhow::ensure!(
            sent == n * ROUNDS as usize,
            "only {sent} messages were signed"
        );
        println!(
            "{:<40} {:>14.0} {:>14.2}",
            format!("{n} identities in one round"),
            sent as f64 / elapsed,
            elapsed * 1000.0 / f64::from(ROUNDS)
        );
    }
    Ok(())
}

//! Proofs from our prover pass our verifier for several parameter sets; mutated proofs fail.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;

use post::compression::{pack_indices, required_bits, unpack_indices};
use post::{
    generate_proof, InitConfig, InitOptions, NoProgress, PostMetadata, Proof, ProofConfig,
    ProofMetadata, ProvingOptions, RandomX, RandomXMode, ScryptParams, Verifier, VerifyError,
    VerifyMode,
};

/// One light-mode RandomX pool for the whole test binary (each builds a 256 MiB cache).
fn randomx() -> &'static RandomX {
    static POOL: OnceLock<RandomX> = OnceLock::new();
    POOL.get_or_init(|| RandomX::new(RandomXMode::Light, 2).unwrap())
}

struct Case {
    n: u64,
    labels_per_unit: u64,
    num_units: u32,
    max_file_size: u64,
    k1: u32,
    k2: u32,
    nonces: u32,
    threads: usize,
}

/// An easy k2pow threshold: about 1 in 4 hashes passes before scaling by units.
fn easy_pow() -> [u8; 32] {
    let mut d = [0xff; 32];
    d[0] = 0x3f;
    d
}

fn init(dir: &Path, c: &Case, seed: u8) -> PostMetadata {
    post::init(
        dir,
        &InitOptions {
            node_id: [seed; 32],
            commitment_atx_id: [seed ^ 0x55; 32],
            labels_per_unit: c.labels_per_unit,
            num_units: c.num_units,
            max_file_size: c.max_file_size,
            scrypt: ScryptParams::new(c.n, 1, 1).unwrap(),
            threads: 2,
        },
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap()
}

fn configs(c: &Case) -> (ProofConfig, InitConfig) {
    (
        ProofConfig {
            k1: c.k1,
            k2: c.k2,
            pow_difficulty: easy_pow(),
        },
        InitConfig {
            min_num_units: 1,
            max_num_units: 100,
            labels_per_unit: c.labels_per_unit,
            scrypt: ScryptParams::new(c.n, 1, 1).unwrap(),
        },
    )
}

fn prove(dir: &Path, c: &Case, challenge: [u8; 32]) -> Proof {
    let (cfg, _) = configs(c);
    generate_proof(
        dir,
        &challenge,
        &cfg,
        &ProvingOptions {
            nonces: c.nonces,
            threads: c.threads,
            batch_bytes: 4096,
        },
        randomx(),
        &NoProgress,
        &AtomicBool::new(false),
    )
    .unwrap()
}

fn check_case(c: Case, seed: u8) {
    let dir = tempfile::tempdir().unwrap();
    let meta = init(dir.path(), &c, seed);
    let challenge = [seed.wrapping_mul(3); 32];
    let proof = prove(dir.path(), &c, challenge);
    let (cfg, icfg) = configs(&c);
    let pm = ProofMetadata::new(&meta, challenge);
    let verifier = Verifier::new(randomx());
    let verify = |p: &Proof, m: &ProofMetadata| verifier.verify(p, m, &cfg, &icfg, VerifyMode::All);
    verify(&proof, &pm).unwrap();
    verifier
        .verify(
            &proof,
            &pm,
            &cfg,
            &icfg,
            VerifyMode::Subset {
                k3: 3,
                seed: b"peer",
            },
        )
        .unwrap();
    verifier
        .verify(&proof, &pm, &cfg, &icfg, VerifyMode::One { index: 1 })
        .unwrap();

    let total = meta.total_labels();
    let bits = required_bits(total);
    let indices = unpack_indices(&proof.indices, bits)[..c.k2 as usize].to_vec();
    let mut sorted = indices.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), c.k2 as usize, "prover emitted duplicates");
    assert!(indices.iter().all(|&i| i < total));

    // Changed pow, challenge, nonce.
    let mut p = proof.clone();
    p.pow += 1;
    assert!(verify(&p, &pm).is_err());
    let mut m = pm;
    m.challenge[0] ^= 1;
    assert!(verify(&proof, &m).is_err());
    let mut p = proof.clone();
    p.nonce ^= 1;
    assert!(verify(&p, &pm).is_err());
    let mut p = proof.clone();
    p.nonce = 256 * 16;
    assert_eq!(
        verify(&p, &pm),
        Err(VerifyError::NonceGroupOutOfRange(4096))
    );
    // Another identity's proof metadata.
    let mut m = pm;
    m.node_id[5] ^= 1;
    assert!(verify(&proof, &m).is_err());

    // One index replaced by another label that is not good for this nonce.
    let mut replaced = false;
    for candidate in (0..total).rev() {
        if indices.contains(&candidate) {
            continue;
        }
        let mut changed = indices.clone();
        changed[0] = candidate;
        let p = Proof {
            indices: pack_indices(&changed, bits),
            ..proof.clone()
        };
        if matches!(
            verify(&p, &pm),
            Err(VerifyError::Msb { .. } | VerifyError::Lsb { .. })
        ) {
            replaced = true;
            break;
        }
    }
    assert!(replaced, "no replacement index was rejected");

    // Truncated, extended, duplicated and out-of-range indices.
    let mut p = proof.clone();
    p.indices.pop();
    assert!(matches!(
        verify(&p, &pm),
        Err(VerifyError::IndicesLength { .. })
    ));
    let mut p = proof.clone();
    p.indices.push(0);
    assert!(matches!(
        verify(&p, &pm),
        Err(VerifyError::IndicesLength { .. })
    ));
    let mut dup = indices.clone();
    dup[1] = dup[0];
    let p = Proof {
        indices: pack_indices(&dup, bits),
        ..proof.clone()
    };
    assert_eq!(
        verify(&p, &pm),
        Err(VerifyError::DuplicateIndex { index: dup[0] })
    );
    if (1u64 << bits) > total {
        let mut out = indices.clone();
        out[2] = total;
        let p = Proof {
            indices: pack_indices(&out, bits),
            ..proof.clone()
        };
        assert!(matches!(
            verify(&p, &pm),
            Err(VerifyError::IndexOutOfRange { .. })
        ));
    }

    // Unit bounds.
    let mut strict = icfg;
    strict.min_num_units = c.num_units + 1;
    assert!(matches!(
        verifier.verify(&proof, &pm, &cfg, &strict, VerifyMode::All),
        Err(VerifyError::TooFewUnits { .. })
    ));

    // JSON round trip keeps the proof.
    let json = serde_json::to_string(&proof).unwrap();
    assert_eq!(serde_json::from_str::<Proof>(&json).unwrap(), proof);
}

#[test]
fn tiny_single_thread() {
    check_case(
        Case {
            n: 16,
            labels_per_unit: 1024,
            num_units: 2,
            max_file_size: 4096,
            k1: 20,
            k2: 24,
            nonces: 16,
            threads: 1,
        },
        1,
    );
}

#[test]
fn uneven_files_two_threads_two_groups() {
    check_case(
        Case {
            n: 32,
            labels_per_unit: 500,
            num_units: 3,
            max_file_size: 16 * 300,
            k1: 8,
            k2: 10,
            nonces: 32,
            threads: 2,
        },
        2,
    );
}

#[test]
fn high_k1_uses_msb_above_zero() {
    check_case(
        Case {
            n: 16,
            labels_per_unit: 1500,
            num_units: 1,
            max_file_size: 1 << 20,
            k1: 600,
            k2: 620,
            nonces: 16,
            threads: 2,
        },
        3,
    );
}

#[derive(Default)]
struct Recorder {
    passes: std::sync::Mutex<Vec<std::ops::Range<u32>>>,
    pows: std::sync::Mutex<Vec<u32>>,
    positions: std::sync::Mutex<Vec<(u64, u64)>>,
}

impl post::ProvingProgress for Recorder {
    fn pass_started(&self, nonces: std::ops::Range<u32>) {
        self.passes.lock().unwrap().push(nonces);
    }
    fn pow_found(&self, group: u32, _pow: u64) {
        self.pows.lock().unwrap().push(group);
    }
    fn data_scored(&self, position: u64, total: u64) {
        self.positions.lock().unwrap().push((position, total));
    }
}

/// A k2pow stand-in for tests about pass bookkeeping only: the proof is never verified.
struct FixedPow;

impl post::PowSolver for FixedPow {
    fn solve(
        &self,
        group: u8,
        _: &[u8; 8],
        _: &[u8; 32],
        _: &[u8; 32],
        _: &AtomicBool,
    ) -> Result<u64, post::PowError> {
        Ok(u64::from(group))
    }
}

#[test]
fn progress_reports_passes_groups_and_positions() {
    let c = Case {
        n: 16,
        labels_per_unit: 1024,
        num_units: 1,
        max_file_size: 4096,
        k1: 8,
        k2: 1000, // unreachable: every pass reads all data, then the next range follows
        nonces: 32,
        threads: 1,
    };
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &c, 5);
    let (mut cfg, _) = configs(&c);
    cfg.k2 = 1000;
    let rec = Recorder::default();
    let err = generate_proof(
        dir.path(),
        &[1; 32],
        &cfg,
        &ProvingOptions {
            nonces: 2048,
            threads: 1,
            batch_bytes: 4096,
        },
        &FixedPow,
        &rec,
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert!(matches!(err, post::ProveError::NoncesExhausted), "{err}");
    assert_eq!(*rec.passes.lock().unwrap(), vec![0..2048, 2048..4096]);
    assert_eq!(*rec.pows.lock().unwrap(), (0..256).collect::<Vec<u32>>());
    let positions = rec.positions.lock().unwrap();
    // Four 4 KiB batches per pass, single-threaded so in order.
    let one_pass: Vec<(u64, u64)> = (1..=4).map(|i| (i * 4096, 16384)).collect();
    assert_eq!(*positions, [one_pass.clone(), one_pass].concat());
}

#[test]
fn stop_flag_ends_proving() {
    let c = Case {
        n: 16,
        labels_per_unit: 256,
        num_units: 1,
        max_file_size: 4096,
        k1: 8,
        k2: 10,
        nonces: 16,
        threads: 1,
    };
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &c, 6);
    let (cfg, _) = configs(&c);
    let err = generate_proof(
        dir.path(),
        &[1; 32],
        &cfg,
        &ProvingOptions::default(),
        randomx(),
        &NoProgress,
        &AtomicBool::new(true),
    )
    .unwrap_err();
    assert!(matches!(err, post::ProveError::Stopped), "{err}");
}

#[test]
fn single_threaded_proofs_are_deterministic() {
    let c = Case {
        n: 16,
        labels_per_unit: 512,
        num_units: 1,
        max_file_size: 2048,
        k1: 10,
        k2: 12,
        nonces: 16,
        threads: 1,
    };
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &c, 9);
    let a = prove(dir.path(), &c, [4; 32]);
    let b = prove(dir.path(), &c, [4; 32]);
    assert_eq!(a, b);
}

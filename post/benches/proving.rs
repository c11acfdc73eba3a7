//! Proving, k2pow and scoring throughput in one run (printed, never asserted).
//!
//! `cargo bench -p post --bench proving`; environment knobs:
//! `POST_BENCH_MIB` (data size, default 1024), `POST_BENCH_FAST_THREADS` (RandomX fast-mode
//! workers, default 0 = skip; each builds its own 2080 MiB dataset).

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use post::data::{check_files, BatchReader};
use post::prove::{score_files, LabelScorer, ScoreBuffers};
use post::{NoProgress, PostMetadata, RandomX, RandomXMode};

const GIB: f64 = (1u64 << 30) as f64;
/// Mainnet-like threshold: 4 SU, k1 = 26 (MSB threshold 0, as on mainnet).
const DIFFICULTY: u64 = 26 << 30;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic pseudo-random bytes (xorshift), so no RNG crate is needed.
fn fill(buf: &mut [u8], mut state: u64) {
    for chunk in buf.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let bytes = state.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// CPU seconds this process has used (user + system), from /proc; 0 where unavailable.
///
/// Other work on a shared machine slows the wall clock; GiB per CPU-second shows the
/// compute cost regardless.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Wall-clock GiB/s and GiB per CPU-second for `bytes` processed by `f`.
fn rates(bytes: f64, f: impl FnOnce()) -> String {
    let cpu = cpu_secs();
    let t = Instant::now();
    f();
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu;
    format!(
        "{:.3} GiB/s wall, {:.3} GiB per CPU-second",
        bytes / GIB / wall,
        if cpu > 0.0 {
            bytes / GIB / cpu
        } else {
            f64::NAN
        }
    )
}

fn scorer(nonces: u32) -> LabelScorer {
    let groups: Vec<(u32, u64)> = (0..nonces / 16).map(|g| (g, u64::from(g) * 7)).collect();
    LabelScorer::new(&[0x42; 32], &groups, DIFFICULTY)
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

fn main() {
    let mib = env_u64("POST_BENCH_MIB", 1024);
    let dir = tempfile::tempdir().expect("temp dir");
    let file_size = 256u64 << 20;
    let meta = PostMetadata {
        node_id: [1; 32],
        commitment_atx_id: [2; 32],
        labels_per_unit: (mib << 20) / 16,
        num_units: 1,
        max_file_size: file_size.min(mib << 20),
        nonce: None,
        last_position: None,
    };
    let mut buf = vec![0u8; meta.max_file_size as usize];
    for k in 0..meta.num_files() {
        fill(&mut buf, 0x9e37_79b9_7f4a_7c15 ^ k);
        let size = meta.file_size(k) as usize;
        std::fs::write(dir.path().join(post::data::file_name(k)), &buf[..size]).expect("write");
    }
    meta.save(dir.path()).expect("metadata");
    let files = check_files(dir.path(), &meta).expect("files");
    let total = meta.total_size() as f64;
    println!(
        "data: {mib} MiB in {} files under {} (page cache, not a cold disk)",
        files.len(),
        dir.path().display()
    );

    // Disk bound: one sequential reader, nothing else.
    let r = rates(total, || {
        for batch in BatchReader::new(files.clone(), 1 << 20) {
            batch.expect("read");
        }
    });
    println!("file read (1 MiB batches, 1 thread): {r}");

    // Compute bound: one 16-nonce group over in-memory data.
    let mem = &buf[..buf.len().min(256 << 20)];
    for threads in [1usize, 2] {
        let s = scorer(16);
        let p = pool(threads);
        let r = rates(mem.len() as f64 * 4.0, || {
            p.install(|| {
                use rayon::prelude::*;
                for _ in 0..4 {
                    mem.par_chunks(1 << 20)
                        .for_each_init(ScoreBuffers::default, |b, chunk| {
                            s.score(chunk, 0, b, |_, _| false);
                        })
                }
            })
        });
        println!("AES scoring in memory, 16 nonces, {threads} thread(s): {r}");
    }

    // Proving: full data passes from the files (k2 unreachable so nothing stops early).
    let stop = AtomicBool::new(false);
    for nonces in [16u32, 64, 128, 288] {
        for threads in [1usize, 2] {
            let s = scorer(nonces);
            let p = pool(threads);
            let r = rates(total, || {
                let won = p
                    .install(|| score_files(&files, &s, u32::MAX, 1 << 20, &NoProgress, &stop))
                    .expect("pass");
                assert!(won.is_none());
            });
            println!("proving pass, {nonces:>3} nonces, {threads} thread(s): {r}");
        }
    }

    // k2pow: RandomX hashes per second with an unreachable threshold for a fixed time.
    let mut modes = vec![(RandomXMode::Light, 1usize), (RandomXMode::Light, 2)];
    let fast = env_u64("POST_BENCH_FAST_THREADS", 0) as usize;
    if fast > 0 {
        modes.push((RandomXMode::Fast, fast));
    }
    for (mode, threads) in modes {
        let t = Instant::now();
        let rx = RandomX::new(mode, threads).expect("RandomX");
        let init = t.elapsed();
        let stop = AtomicBool::new(false);
        let before = rx.hashes();
        let cpu = cpu_secs();
        let t = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_secs(5));
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            let input = post::pow::pow_input(0, 0, b"challeng", &[3; 32]);
            let _ = rx.search(&input, &[0; 32], 0..post::pow::MAX_POW, &stop);
        });
        let hashes = rx.hashes() - before;
        let wall = t.elapsed().as_secs_f64();
        let cpu = cpu_secs() - cpu;
        println!(
            "k2pow RandomX {mode:?}, {threads} thread(s): {:.0} H/s wall, {:.0} H per CPU-second (init {:.1} s)",
            hashes as f64 / wall,
            hashes as f64 / cpu,
            init.as_secs_f64()
        );
    }
}

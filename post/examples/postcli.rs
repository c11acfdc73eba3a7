//! Manual use of the crate: `init` data, `prove` it, and check the proof with the verifier.
//!
//! cargo run --release -p post --example postcli -- init --dir D --node-id HEX --atx HEX \
//!     --labels-per-unit 1024 --units 4 [--max-file-size 4294967296] [--scrypt-n 16] [--threads 0]
//! cargo run --release -p post --example postcli -- prove --dir D [--challenge HEX] [--k1 26]
//!     [--k2 37] [--pow-difficulty HEX] [--nonces 128] [--threads 1] [--randomx fast|light]
//!     [--scrypt-n 16] [--min-units 1]
//!
//! `prove` prints the proof as JSON and then verifies it (all indices, light RandomX).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use post::{
    generate_proof, InitConfig, InitOptions, PostMetadata, ProofConfig, ProofMetadata,
    ProvingOptions, ProvingProgress, RandomX, RandomXMode, ScryptParams, Verifier, VerifyMode,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn args() -> Res<(String, HashMap<String, String>)> {
    let mut it = std::env::args().skip(1);
    let cmd = it
        .next()
        .ok_or("usage: postcli init|prove --flag value ...")?;
    let mut flags = HashMap::new();
    while let Some(k) = it.next() {
        let key = k.strip_prefix("--").ok_or(format!("unexpected {k}"))?;
        let v = it.next().ok_or(format!("--{key} needs a value"))?;
        flags.insert(key.to_owned(), v);
    }
    Ok((cmd, flags))
}

fn get<T: std::str::FromStr>(f: &HashMap<String, String>, k: &str, default: Option<T>) -> Res<T> {
    match f.get(k) {
        Some(v) => v.parse().map_err(|_| format!("bad --{k} {v}").into()),
        None => default.ok_or_else(|| format!("--{k} is required").into()),
    }
}

fn hex32(f: &HashMap<String, String>, k: &str, default: Option<[u8; 32]>) -> Res<[u8; 32]> {
    let Some(text) = f.get(k) else {
        return default.ok_or_else(|| format!("--{k} is required").into());
    };
    if text.len() != 64 {
        return Err(format!("--{k} must be 64 hex digits").into());
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

struct Print;

impl ProvingProgress for Print {
    fn pass_started(&self, nonces: std::ops::Range<u32>) {
        eprintln!("pass over nonces {nonces:?}");
    }
    fn pow_found(&self, group: u32, pow: u64) {
        eprintln!("k2pow group {group}: {pow}");
    }
}

fn main() -> Res<()> {
    let (cmd, f) = args()?;
    let dir: PathBuf = get(&f, "dir", None)?;
    let scrypt = ScryptParams::new(get(&f, "scrypt-n", Some(8192))?, 1, 1)?;
    match cmd.as_str() {
        "init" => {
            let opts = InitOptions {
                node_id: hex32(&f, "node-id", None)?,
                commitment_atx_id: hex32(&f, "atx", None)?,
                labels_per_unit: get(&f, "labels-per-unit", None)?,
                num_units: get(&f, "units", None)?,
                max_file_size: get(&f, "max-file-size", Some(post::DEFAULT_MAX_FILE_SIZE))?,
                scrypt,
                threads: get(&f, "threads", Some(0))?,
            };
            let t = Instant::now();
            let meta = post::init(
                &dir,
                &opts,
                &|p| eprint!("\r{} / {} labels", p.labels_done, p.total_labels),
                &AtomicBool::new(false),
            )?;
            eprintln!(
                "\ndone in {:.1} s, VRF nonce {:?}",
                t.elapsed().as_secs_f64(),
                meta.nonce
            );
        }
        "prove" => {
            let meta = PostMetadata::load(&dir)?;
            let challenge = hex32(&f, "challenge", Some([0; 32]))?;
            let cfg = ProofConfig {
                k1: get(&f, "k1", Some(26))?,
                k2: get(&f, "k2", Some(37))?,
                pow_difficulty: hex32(
                    &f,
                    "pow-difficulty",
                    Some(post::prove::MAINNET_POW_DIFFICULTY),
                )?,
            };
            let threads = get(&f, "threads", Some(1))?;
            let mode = match f.get("randomx").map(String::as_str) {
                None | Some("fast") => RandomXMode::Fast,
                Some("light") => RandomXMode::Light,
                Some(other) => return Err(format!("bad --randomx {other}").into()),
            };
            let opts = ProvingOptions {
                nonces: get(&f, "nonces", Some(128))?,
                threads,
                ..ProvingOptions::default()
            };
            let t = Instant::now();
            let rx = RandomX::new(mode, threads)?;
            eprintln!(
                "RandomX {mode:?} ready in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            let t = Instant::now();
            let proof = generate_proof(
                &dir,
                &challenge,
                &cfg,
                &opts,
                &rx,
                &Print,
                &AtomicBool::new(false),
            )?;
            eprintln!("proof in {:.1} s", t.elapsed().as_secs_f64());
            println!("{}", serde_json::to_string(&proof)?);
            let init = InitConfig {
                min_num_units: get(&f, "min-units", Some(1))?,
                max_num_units: u32::MAX,
                labels_per_unit: meta.labels_per_unit,
                scrypt,
            };
            let light = RandomX::new(RandomXMode::Light, 1)?;
            Verifier::new(light).verify(
                &proof,
                &ProofMetadata::new(&meta, challenge),
                &cfg,
                &init,
                VerifyMode::All,
            )?;
            eprintln!("verified");
        }
        other => return Err(format!("unknown command {other}").into()),
    }
    Ok(())
}

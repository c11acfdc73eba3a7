//! The prover (post-rs's 8/56 algorithm): AES scoring of every label for all nonces in one data pass.
//!
//! Per nonce group of 16 there is one k2pow and one AES key. Encrypting a label with the
//! group key gives 16 output bytes, byte o scoring the label for nonce 16·group + o: below
//! the difficulty's top byte it is good, equal to it the label is re-encrypted with that
//! nonce's own key and the low 56 bits decide. The first nonce with k2 good labels wins.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use aes::cipher::BlockEncrypt;
use aes::{Aes128, Block};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cipher::{group_cipher, nonce_cipher};
use crate::compression::{pack_indices, required_bits};
use crate::data::{check_files, BatchReader, DataError, DataFile};
use crate::difficulty::DifficultyError;
use crate::difficulty::{proving_difficulty, scale_pow_difficulty, split_difficulty};
use crate::label::LABEL_SIZE;
use crate::metadata::{MetadataError, PostMetadata};
use crate::pow::{PowError, PowSolver};

/// Nonces per AES key (one byte of each 16-byte AES output per nonce).
pub const NONCES_PER_GROUP: u32 = 16;
/// The group number goes into the k2pow input as one byte.
pub const MAX_GROUPS: u32 = 256;
/// The mainnet k2pow difficulty.
pub const MAINNET_POW_DIFFICULTY: [u8; 32] = [
    0x00, 0x0d, 0xfb, 0x23, 0xb0, 0x97, 0x9b, 0x4b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
];
/// Labels encrypted per cipher before moving to the next one (keeps in- and output in L1/L2).
const SUB_BLOCKS: usize = 1024;

/// Network proving parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofConfig {
    /// Expected good labels per nonce.
    pub k1: u32,
    /// Good labels a proof carries.
    pub k2: u32,
    /// k2pow threshold before scaling by the number of units.
    pub pow_difficulty: [u8; 32],
}

impl ProofConfig {
    /// Mainnet: k1 = 26, k2 = 37.
    pub const MAINNET: ProofConfig = ProofConfig {
        k1: 26,
        k2: 37,
        pow_difficulty: MAINNET_POW_DIFFICULTY,
    };
}

/// A PoST proof as go-spacemesh and post-rs carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    pub nonce: u32,
    /// k2 label indices, bit-packed LSB first.
    #[serde(with = "base64_bytes")]
    pub indices: Vec<u8>,
    pub pow: u64,
}

mod base64_bytes {
    use base64::{engine::general_purpose::STANDARD, Engine as _};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        STANDARD
            .decode(String::deserialize(d)?.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// Local proving settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvingOptions {
    /// Nonces tried per data pass: a positive multiple of 16, at most 4096.
    pub nonces: u32,
    /// Threads scoring labels; 0 means one per core.
    pub threads: usize,
    /// Bytes per sequential read.
    pub batch_bytes: usize,
}

impl Default for ProvingOptions {
    fn default() -> Self {
        Self {
            nonces: 128,
            threads: 1,
            batch_bytes: 1 << 20,
        }
    }
}

/// Progress of a proof, for metrics and the identity state.
pub trait ProvingProgress: Sync {
    /// A data pass over `nonces` begins (its k2pow comes first).
    fn pass_started(&self, _nonces: Range<u32>) {}
    /// The k2pow of `group` is done.
    fn pow_found(&self, _group: u32, _pow: u64) {}
    /// `position` of `total` bytes of this pass have been scored.
    fn data_scored(&self, _position: u64, _total: u64) {}
}

/// A progress sink that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ProvingProgress for NoProgress {}

/// Errors from [`generate_proof`].
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Difficulty(#[from] DifficultyError),
    #[error("k2pow for nonce group {group}: {source}")]
    Pow { group: u32, source: PowError },
    #[error("nonces per pass must be a positive multiple of 16 up to 4096, got {0}")]
    BadNonces(u32),
    #[error("k2 must be positive")]
    ZeroK2,
    #[error("no proof within the {MAX_GROUPS} nonce groups the k2pow allows")]
    NoncesExhausted,
    #[error("proof generation was stopped")]
    Stopped,
    #[error("starting the thread pool: {0}")]
    ThreadPool(String),
}

/// Scores labels for the nonces of some groups; the core of a data pass.
#[derive(Debug)]
pub struct LabelScorer {
    groups: Vec<Group>,
    msb: u8,
    lsb: u64,
}

/// One nonce group's k2pow, its cipher, and the 16 per-nonce ciphers for borderline bytes.
#[derive(Debug)]
struct Group {
    number: u32,
    pow: u64,
    cipher: Aes128,
    nonce_ciphers: Vec<Aes128>,
}

/// Reusable per-thread buffers for [`LabelScorer::score`].
#[derive(Debug, Default)]
pub struct ScoreBuffers {
    input: Vec<Block>,
    output: Vec<Block>,
}

/// The first nonce of a group (wrapping for group numbers no k2pow can have).
fn first_nonce(group: u32) -> u32 {
    group.wrapping_mul(NONCES_PER_GROUP)
}

/// True if some byte of `x` is ≤ `t` (exact; the bit trick holds for t < 128).
#[inline(always)]
fn has_byte_le(x: u64, t: u8) -> bool {
    if t >= 128 {
        return true;
    }
    const ONES: u64 = u64::MAX / 255;
    const HIGHS: u64 = ONES * 0x80;
    (x.wrapping_sub(ONES * (u64::from(t) + 1)) & !x & HIGHS) != 0
}

impl LabelScorer {
    /// A scorer for `challenge`, the given (group, pow) pairs and proving difficulty `difficulty`.
    pub fn new(challenge: &[u8; 32], groups: &[(u32, u64)], difficulty: u64) -> Self {
        let (msb, lsb) = split_difficulty(difficulty);
        let groups = groups
            .iter()
            .map(|&(number, pow)| Group {
                number,
                pow,
                cipher: group_cipher(challenge, number, pow),
                nonce_ciphers: (0..NONCES_PER_GROUP)
                    .map(|o| nonce_cipher(challenge, number, pow, first_nonce(number) + o))
                    .collect(),
            })
            .collect();
        Self { groups, msb, lsb }
    }

    /// The pow of the group `nonce` belongs to.
    pub fn pow_of(&self, nonce: u32) -> Option<u64> {
        let group = nonce / NONCES_PER_GROUP;
        self.groups
            .iter()
            .find(|g| g.number == group)
            .map(|g| g.pow)
    }

    /// Scores the whole labels in `data` (label `first_label` first), calling `hit(nonce, index)`
    /// for each good pair, label by label within runs of labels, group by group; stops as soon
    /// as `hit` returns true and then returns true.
    pub fn score(
        &self,
        data: &[u8],
        first_label: u64,
        buf: &mut ScoreBuffers,
        mut hit: impl FnMut(u32, u64) -> bool,
    ) -> bool {
        let mut base = first_label;
        for run in data.chunks(SUB_BLOCKS * LABEL_SIZE) {
            let n = run.len() / LABEL_SIZE;
            buf.input.resize(n, Block::default());
            for (block, label) in buf.input.iter_mut().zip(run.chunks_exact(LABEL_SIZE)) {
                block.copy_from_slice(label);
            }
            buf.output.resize(n, Block::default());
            for group in &self.groups {
                if group
                    .cipher
                    .encrypt_blocks_b2b(&buf.input, &mut buf.output[..n])
                    .is_err()
                {
                    continue;
                }
                for (i, out) in buf.output[..n].iter().enumerate() {
                    let word: [u8; 16] = (*out).into();
                    let (lo, hi) = word.split_at(8);
                    let lo = u64::from_le_bytes(lo.try_into().unwrap_or_default());
                    let hi = u64::from_le_bytes(hi.try_into().unwrap_or_default());
                    if !has_byte_le(lo, self.msb) && !has_byte_le(hi, self.msb) {
                        continue;
                    }
                    for (o, &byte) in out.iter().enumerate() {
                        let nonce = first_nonce(group.number) + o as u32;
                        let good = byte < self.msb
                            || (byte == self.msb
                                && self.lsb_ok(&group.nonce_ciphers[o], &buf.input[i]));
                        if good && hit(nonce, base + i as u64) {
                            return true;
                        }
                    }
                }
            }
            base += n as u64;
        }
        false
    }

    fn lsb_ok(&self, cipher: &Aes128, label: &Block) -> bool {
        let mut out = Block::default();
        cipher.encrypt_block_b2b(label, &mut out);
        let mut lo = [0u8; 8];
        lo.copy_from_slice(&out[..8]);
        u64::from_le_bytes(lo) & 0x00ff_ffff_ffff_ffff < self.lsb
    }
}

/// Good indices per nonce so far, and the winner once one nonce has k2 of them.
type Found = (HashMap<u32, Vec<u64>>, Option<(u32, Vec<u64>)>);

/// Collects good indices per nonce until one nonce has k2 of them.
#[derive(Debug)]
pub struct Collector {
    k2: usize,
    found: Mutex<Found>,
    done: AtomicBool,
}

impl Collector {
    pub fn new(k2: u32) -> Self {
        Self {
            k2: k2 as usize,
            found: Mutex::new((HashMap::new(), None)),
            done: AtomicBool::new(false),
        }
    }

    /// Adds hits in order; the first nonce to reach k2 wins. Returns whether a winner exists.
    pub fn add(&self, hits: &[(u32, u64)]) -> bool {
        let Ok(mut guard) = self.found.lock() else {
            return true;
        };
        let (map, winner) = &mut *guard;
        if winner.is_some() {
            return true;
        }
        for &(nonce, index) in hits {
            let list = map.entry(nonce).or_default();
            list.push(index);
            if list.len() >= self.k2 {
                *winner = Some((nonce, std::mem::take(list)));
                self.done.store(true, Ordering::Relaxed);
                return true;
            }
        }
        false
    }

    /// Whether some nonce already has k2 indices.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Relaxed)
    }

    /// The winning nonce and its k2 indices in the order found.
    pub fn winner(self) -> Option<(u32, Vec<u64>)> {
        self.found.into_inner().ok().and_then(|(_, w)| w)
    }
}

/// Scores in-memory labels on the current thread: the winning nonce and its indices, if any.
pub fn prove_in_memory(data: &[u8], scorer: &LabelScorer, k2: u32) -> Option<(u32, Vec<u64>)> {
    let collector = Collector::new(k2);
    let mut hits = Vec::new();
    scorer.score(data, 0, &mut ScoreBuffers::default(), |nonce, index| {
        hits.push((nonce, index));
        collector.add(&hits[hits.len() - 1..])
    });
    collector.winner()
}

/// Generates a proof for the data in `dir` against `challenge`.
///
/// Runs passes of `opts.nonces` nonces: k2pow for every group of the pass, then one read of
/// all the data, scored in parallel. The first nonce with k2 good labels gives the proof.
pub fn generate_proof(
    dir: &Path,
    challenge: &[u8; 32],
    cfg: &ProofConfig,
    opts: &ProvingOptions,
    pow: &dyn PowSolver,
    progress: &dyn ProvingProgress,
    stop: &AtomicBool,
) -> Result<Proof, ProveError> {
    if opts.nonces == 0 || !opts.nonces.is_multiple_of(NONCES_PER_GROUP) || opts.nonces > 4096 {
        return Err(ProveError::BadNonces(opts.nonces));
    }
    if cfg.k2 == 0 {
        return Err(ProveError::ZeroK2);
    }
    let meta = PostMetadata::load(dir)?;
    let files = check_files(dir, &meta)?;
    let total_labels = meta.total_labels();
    let difficulty = proving_difficulty(cfg.k1, total_labels)?;
    let pow_difficulty = scale_pow_difficulty(&cfg.pow_difficulty, meta.num_units);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| ProveError::ThreadPool(e.to_string()))?;
    let mut challenge8 = [0u8; 8];
    challenge8.copy_from_slice(&challenge[..8]);

    let mut start = 0u32;
    loop {
        let end = start + opts.nonces;
        if end / NONCES_PER_GROUP > MAX_GROUPS {
            return Err(ProveError::NoncesExhausted);
        }
        progress.pass_started(start..end);
        let mut groups = Vec::new();
        for group in start / NONCES_PER_GROUP..end / NONCES_PER_GROUP {
            if stop.load(Ordering::Relaxed) {
                return Err(ProveError::Stopped);
            }
            let value = pow
                .solve(
                    group as u8,
                    &challenge8,
                    &pow_difficulty,
                    &meta.node_id,
                    stop,
                )
                .map_err(|source| match source {
                    PowError::Stopped => ProveError::Stopped,
                    source => ProveError::Pow { group, source },
                })?;
            progress.pow_found(group, value);
            groups.push((group, value));
        }
        let scorer = LabelScorer::new(challenge, &groups, difficulty);
        let winner = pool
            .install(|| score_files(&files, &scorer, cfg.k2, opts.batch_bytes, progress, stop))?;
        if stop.load(Ordering::Relaxed) && winner.is_none() {
            return Err(ProveError::Stopped);
        }
        if let Some((nonce, indices)) = winner {
            let pow = scorer.pow_of(nonce).unwrap_or_default();
            return Ok(Proof {
                nonce,
                indices: pack_indices(&indices, required_bits(total_labels)),
                pow,
            });
        }
        start = end;
    }
}

/// One data pass: reads `files` sequentially in batches and scores them on the current rayon
/// pool; the winning nonce and its k2 indices, or `None` once all data is scored (or `stop`).
pub fn score_files(
    files: &[DataFile],
    scorer: &LabelScorer,
    k2: u32,
    batch_bytes: usize,
    progress: &dyn ProvingProgress,
    stop: &AtomicBool,
) -> Result<Option<(u32, Vec<u64>)>, DataError> {
    let total_bytes: u64 = files.iter().map(|f| f.size).sum();
    let collector = Collector::new(k2);
    let failure: Mutex<Option<DataError>> = Mutex::new(None);
    let failed = AtomicBool::new(false);
    let position = AtomicU64::new(0);
    BatchReader::new(files.to_vec(), batch_bytes)
        .par_bridge()
        .take_any_while(|_| {
            !collector.is_done() && !failed.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed)
        })
        .for_each_init(
            || (ScoreBuffers::default(), Vec::new()),
            |(buf, hits), batch| {
                let batch = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        failed.store(true, Ordering::Relaxed);
                        return;
                    }
                };
                hits.clear();
                scorer.score(&batch.data, batch.first_label, buf, |nonce, index| {
                    hits.push((nonce, index));
                    false
                });
                collector.add(hits);
                let len = batch.data.len() as u64;
                let pos = position.fetch_add(len, Ordering::Relaxed) + len;
                progress.data_scored(pos, total_bytes);
            },
        );
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(collector.winner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_filter_is_exact() {
        for t in [0u8, 1, 7, 8, 100, 127, 128, 255] {
            for b in 0..=255u8 {
                for pos in [0, 3, 5, 7] {
                    let mut bytes = [0xffu8; 8];
                    bytes[pos] = b;
                    bytes[(pos + 5) % 8] = b.wrapping_add(1).max(b);
                    let x = u64::from_le_bytes(bytes);
                    // Exact below 128; above, a conservative "maybe" the byte loop settles.
                    let expect = t >= 128 || bytes.iter().any(|&v| v <= t);
                    assert_eq!(has_byte_le(x, t), expect, "t={t} x={x:x}");
                }
            }
        }
    }
}

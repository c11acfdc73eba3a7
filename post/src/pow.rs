//! k2pow: one RandomX proof of work per nonce group, found by a search and checked with one hash.
//!
//! randomx-rs's cache, dataset and VM are not `Send`, so every worker thread builds its own
//! and owns it for its whole life; callers talk to the workers through channels. In fast mode
//! that means one 2080 MiB dataset per worker thread.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use randomx_rs::{RandomXCache, RandomXDataset, RandomXFlag, RandomXVM};

/// The RandomX cache key every Spacemesh k2pow uses.
pub const RANDOMX_CACHE_KEY: &[u8] = b"spacemesh-randomx-cache-key";

/// Pow values are 56-bit.
pub const MAX_POW: u64 = 1 << 56;

/// Errors of the k2pow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    #[error("initializing RandomX: {0}")]
    Init(String),
    #[error("RandomX hash failed: {0}")]
    Hash(String),
    #[error("no pow below the threshold among all 2^56 values")]
    NotFound,
    #[error("the pow does not meet the threshold")]
    Invalid,
    #[error("stopped")]
    Stopped,
    #[error("the RandomX worker thread is gone")]
    WorkerGone,
}

/// RandomX memory mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RandomXMode {
    /// Full 2080 MiB dataset per worker: about ten times faster hashing, for proving.
    Fast,
    /// 256 MiB cache per worker: for verifying and tests.
    Light,
}

/// The 48-byte k2pow input: pow as 7 LE bytes, group, first 8 challenge bytes, miner id.
pub fn pow_input(pow: u64, group: u8, challenge: &[u8; 8], miner_id: &[u8; 32]) -> [u8; 48] {
    let mut input = [0u8; 48];
    input[..7].copy_from_slice(&pow.to_le_bytes()[..7]);
    input[7] = group;
    input[8..16].copy_from_slice(challenge);
    input[16..].copy_from_slice(miner_id);
    input
}

/// Finds k2pow values.
pub trait PowSolver: Send + Sync {
    /// A pow for `group` whose hash is below `difficulty`; gives up with `Stopped` once `stop` is set.
    fn solve(
        &self,
        group: u8,
        challenge: &[u8; 8],
        difficulty: &[u8; 32],
        miner_id: &[u8; 32],
        stop: &AtomicBool,
    ) -> Result<u64, PowError>;
}

/// Checks k2pow values.
pub trait PowVerifier: Send + Sync {
    fn verify(
        &self,
        pow: u64,
        group: u8,
        challenge: &[u8; 8],
        difficulty: &[u8; 32],
        miner_id: &[u8; 32],
    ) -> Result<(), PowError>;
}

impl<T: PowVerifier + ?Sized> PowVerifier for &T {
    fn verify(
        &self,
        pow: u64,
        group: u8,
        challenge: &[u8; 8],
        difficulty: &[u8; 32],
        miner_id: &[u8; 32],
    ) -> Result<(), PowError> {
        (**self).verify(pow, group, challenge, difficulty, miner_id)
    }
}

impl<T: PowVerifier + ?Sized> PowVerifier for Arc<T> {
    fn verify(
        &self,
        pow: u64,
        group: u8,
        challenge: &[u8; 8],
        difficulty: &[u8; 32],
        miner_id: &[u8; 32],
    ) -> Result<(), PowError> {
        (**self).verify(pow, group, challenge, difficulty, miner_id)
    }
}

enum Job {
    Search {
        input: [u8; 48],
        difficulty: [u8; 32],
        values: Range<u64>,
        step: u64,
        /// Smallest pow found so far by any worker; candidates at or above it are skipped.
        best: Arc<AtomicU64>,
        cancel: Arc<AtomicBool>,
        reply: mpsc::Sender<Result<Option<u64>, PowError>>,
    },
    Hash {
        input: [u8; 48],
        reply: mpsc::Sender<Result<Vec<u8>, PowError>>,
    },
}

#[derive(Debug)]
struct Worker {
    jobs: Mutex<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Search { .. } => "Search",
            Job::Hash { .. } => "Hash",
        })
    }
}

/// A pool of RandomX worker threads, each with its own VM.
#[derive(Debug)]
pub struct RandomX {
    workers: Vec<Worker>,
    next: AtomicU64,
    hashes: Arc<AtomicU64>,
    mode: RandomXMode,
}

fn build_vm(mode: RandomXMode) -> Result<RandomXVM, PowError> {
    let init = |e: randomx_rs::RandomXError| PowError::Init(e.to_string());
    let mut flags = RandomXFlag::get_recommended_flags();
    let cache = RandomXCache::new(flags, RANDOMX_CACHE_KEY).map_err(init)?;
    match mode {
        RandomXMode::Light => RandomXVM::new(flags, Some(cache), None).map_err(init),
        RandomXMode::Fast => {
            flags |= RandomXFlag::FLAG_FULL_MEM;
            let dataset = RandomXDataset::new(flags, cache, 0).map_err(init)?;
            RandomXVM::new(flags, None, Some(dataset)).map_err(init)
        }
    }
}

fn run_worker(vm: RandomXVM, jobs: mpsc::Receiver<Job>, hashes: Arc<AtomicU64>) {
    let hash = |input: &[u8]| {
        vm.calculate_hash(input)
            .map_err(|e| PowError::Hash(e.to_string()))
    };
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Hash { input, reply } => {
                hashes.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(hash(&input));
            }
            Job::Search {
                mut input,
                difficulty,
                values,
                step,
                best,
                cancel,
                reply,
            } => {
                let mut result = Ok(None);
                let mut pow = values.start;
                while pow < values.end
                    && pow < best.load(Ordering::Relaxed)
                    && !cancel.load(Ordering::Relaxed)
                {
                    input[..7].copy_from_slice(&pow.to_le_bytes()[..7]);
                    hashes.fetch_add(1, Ordering::Relaxed);
                    match hash(&input) {
                        Ok(h) if h.as_slice() < difficulty.as_slice() => {
                            best.fetch_min(pow, Ordering::Relaxed);
                            result = Ok(Some(pow));
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                    pow = match pow.checked_add(step) {
                        Some(p) => p,
                        None => break,
                    };
                }
                let _ = reply.send(result);
            }
        }
    }
}

impl RandomX {
    /// Starts `threads` workers (0 = one per core), each building its VM; returns once all are ready.
    pub fn new(mode: RandomXMode, threads: usize) -> Result<Self, PowError> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let hashes = Arc::new(AtomicU64::new(0));
        let (ready_tx, ready_rx) = mpsc::channel();
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let (tx, rx) = mpsc::channel::<Job>();
            let ready = ready_tx.clone();
            let hashes = hashes.clone();
            let thread = std::thread::Builder::new()
                .name(format!("randomx-{i}"))
                .spawn(move || match build_vm(mode) {
                    Ok(vm) => {
                        let _ = ready.send(Ok(()));
                        run_worker(vm, rx, hashes);
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                })
                .map_err(|e| PowError::Init(e.to_string()))?;
            workers.push(Worker {
                jobs: Mutex::new(tx),
                thread: Some(thread),
            });
        }
        drop(ready_tx);
        let pool = Self {
            workers,
            next: AtomicU64::new(0),
            hashes,
            mode,
        };
        for _ in 0..threads {
            ready_rx.recv().map_err(|_| PowError::WorkerGone)??;
        }
        Ok(pool)
    }

    /// The mode the workers were built in.
    pub fn mode(&self) -> RandomXMode {
        self.mode
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Hashes computed so far by all workers.
    pub fn hashes(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    fn send(&self, worker: usize, job: Job) -> Result<(), PowError> {
        let jobs = self.workers[worker]
            .jobs
            .lock()
            .map_err(|_| PowError::WorkerGone)?;
        jobs.send(job).map_err(|_| PowError::WorkerGone)
    }

    /// One RandomX hash of `input`.
    pub fn hash(&self, input: &[u8; 48]) -> Result<Vec<u8>, PowError> {
        let worker = (self.next.fetch_add(1, Ordering::Relaxed) as usize) % self.workers.len();
        let (tx, rx) = mpsc::channel();
        self.send(
            worker,
            Job::Hash {
                input: *input,
                reply: tx,
            },
        )?;
        rx.recv().map_err(|_| PowError::WorkerGone)?
    }

    /// The smallest valid pow in `values` (worker i tries start+i, start+i+T, …, and stops at
    /// the best found so far), so the result does not depend on the number of workers.
    pub fn search(
        &self,
        input: &[u8; 48],
        difficulty: &[u8; 32],
        values: Range<u64>,
        stop: &AtomicBool,
    ) -> Result<Option<u64>, PowError> {
        let best = Arc::new(AtomicU64::new(u64::MAX));
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let step = self.workers.len() as u64;
        for i in 0..self.workers.len() {
            self.send(
                i,
                Job::Search {
                    input: *input,
                    difficulty: *difficulty,
                    values: values.start.saturating_add(i as u64)..values.end,
                    step,
                    best: best.clone(),
                    cancel: cancel.clone(),
                    reply: tx.clone(),
                },
            )?;
        }
        drop(tx);
        let mut found: Result<Option<u64>, PowError> = Ok(None);
        let mut pending = self.workers.len();
        while pending > 0 {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Ok(Some(pow))) => {
                    found = match found {
                        Ok(Some(other)) => Ok(Some(other.min(pow))),
                        _ => Ok(Some(pow)),
                    };
                    pending -= 1;
                }
                Ok(Ok(None)) => pending -= 1,
                Ok(Err(e)) => {
                    cancel.store(true, Ordering::Relaxed);
                    if !matches!(found, Ok(Some(_))) {
                        found = Err(e);
                    }
                    pending -= 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if stop.load(Ordering::Relaxed) {
                        cancel.store(true, Ordering::Relaxed);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(PowError::WorkerGone),
            }
        }
        if matches!(found, Ok(None)) && stop.load(Ordering::Relaxed) {
            return Err(PowError::Stopped);
        }
        found
    }
}

impl Drop for RandomX {
    fn drop(&mut self) {
        for w in &mut self.workers {
            // Replacing the sender closes the worker's queue, so its loop ends.
            if let Ok(mut jobs) = w.jobs.lock() {
                *jobs = mpsc::channel().0;
            }
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl PowSolver for RandomX {
    fn solve(
        &self,
        group: u8,
        challenge: &[u8; 8],
        difficulty: &[u8; 32],
        miner_id: &[u8; 32],
        stop: &AtomicBool,
    ) -> Result<u64, PowError> {
        let input = pow_input(0, group, challenge, miner_id);
        self.search(&input, difficulty, 0..MAX_POW, stop)?
            .ok_or(PowError::NotFound)
    }
}

impl PowVerifier for RandomX {
    fn verify(
        &self,
        pow: u64,
        group: u8,
        challenge: &[u8; 8],
        difficulty: &[u8; 32],
        miner_id: &[u8; 32],
    ) -> Result<(), PowError> {
        if pow >= MAX_POW {
            return Err(PowError::Invalid);
        }
        let hash = self.hash(&pow_input(pow, group, challenge, miner_id))?;
        if hash.as_slice() < difficulty.as_slice() {
            Ok(())
        } else {
            Err(PowError::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randomx_reference_vector() {
        // RandomX's own first test vector (key "test key 000"): standard parameters, v1.x.
        let flags = RandomXFlag::get_recommended_flags();
        let cache = RandomXCache::new(flags, b"test key 000").unwrap();
        let vm = RandomXVM::new(flags, Some(cache), None).unwrap();
        let hash = vm.calculate_hash(b"This is a test").unwrap();
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f"
        );
    }

    #[test]
    fn search_finds_what_verify_accepts_and_stop_works() {
        let rx = RandomX::new(RandomXMode::Light, 2).unwrap();
        let mut difficulty = [0xff; 32];
        difficulty[0] = 0x1f;
        let stop = AtomicBool::new(false);
        let pow = rx
            .solve(3, b"challeng", &difficulty, &[6; 32], &stop)
            .unwrap();
        rx.verify(pow, 3, b"challeng", &difficulty, &[6; 32])
            .unwrap();
        // The miner id is part of the input; pow values beyond 56 bits are refused.
        let mut other = 0;
        while rx
            .verify(other, 3, b"challeng", &difficulty, &[7; 32])
            .is_ok()
        {
            other += 1;
        }
        assert_eq!(
            rx.verify(other, 3, b"challeng", &difficulty, &[7; 32]),
            Err(PowError::Invalid)
        );
        assert_eq!(
            rx.verify(pow + MAX_POW, 3, b"challeng", &difficulty, &[6; 32]),
            Err(PowError::Invalid)
        );
        // Impossible threshold and a set stop flag end with Stopped.
        stop.store(true, Ordering::Relaxed);
        assert_eq!(
            rx.solve(3, b"challeng", &[0; 32], &[6; 32], &stop),
            Err(PowError::Stopped)
        );
    }

    #[test]
    fn input_layout() {
        let input = pow_input(0x0102_0304_0506_0708, 9, b"abcdefgh", &[7; 32]);
        assert_eq!(&input[..7], &[8, 7, 6, 5, 4, 3, 2]);
        assert_eq!(input[7], 9);
        assert_eq!(&input[8..16], b"abcdefgh");
        assert_eq!(&input[16..], &[7; 32]);
    }
}

//! The label hash: scrypt as built by scrypt-jane with ChaCha20/8 mixing and HMAC-Keccak-512 PBKDF2.
//!
//! Only the mixing core and the PBKDF2 hash differ from RFC 7914; the RustCrypto `scrypt` crate
//! therefore gives different labels and is not used.

use sha3::{Digest, Keccak512};

/// Keccak-512 rate in bytes, which is HMAC's block size.
const HASH_BLOCK: usize = 72;
/// Keccak-512 output size.
const HASH_OUT: usize = 64;
/// Words in one 64-byte mixing block.
const BLOCK_WORDS: usize = 16;
/// Upper bound on N·r, so that a bad parameter cannot ask for an absurd allocation (2 GiB here).
const MAX_N_TIMES_R: u64 = 1 << 24;

/// Invalid scrypt parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScryptParamsError {
    #[error("scrypt N must be a power of two >= 2, got {0}")]
    N(u64),
    #[error("scrypt r must be a power of two >= 1, got {0}")]
    R(u32),
    #[error("scrypt p must be a power of two >= 1 and at most 2^25, got {0}")]
    P(u32),
    #[error("scrypt N*r = {0} is above the supported maximum 2^24")]
    TooLarge(u64),
}

/// scrypt cost parameters (scrypt-jane needs powers of two for all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScryptParams {
    n: u32,
    r: u32,
    p: u32,
}

impl ScryptParams {
    /// The mainnet label parameters: N=8192, r=1, p=1.
    pub const MAINNET: ScryptParams = ScryptParams {
        n: 8192,
        r: 1,
        p: 1,
    };

    /// Checks and builds parameters.
    pub fn new(n: u64, r: u32, p: u32) -> Result<Self, ScryptParamsError> {
        if n < 2 || !n.is_power_of_two() {
            return Err(ScryptParamsError::N(n));
        }
        if r == 0 || !r.is_power_of_two() {
            return Err(ScryptParamsError::R(r));
        }
        if p == 0 || !p.is_power_of_two() || p > 1 << 25 {
            return Err(ScryptParamsError::P(p));
        }
        let nr = n.saturating_mul(u64::from(r));
        if nr > MAX_N_TIMES_R {
            return Err(ScryptParamsError::TooLarge(nr));
        }
        Ok(Self { n: n as u32, r, p })
    }

    /// N, the number of ROMix steps.
    pub fn n(&self) -> u64 {
        u64::from(self.n)
    }

    /// r, the block size factor.
    pub fn r(&self) -> u32 {
        self.r
    }

    /// p, the parallelism factor.
    pub fn p(&self) -> u32 {
        self.p
    }
}

/// HMAC-Keccak-512 state after the key is absorbed.
#[derive(Clone)]
struct Hmac {
    inner: Keccak512,
    outer: Keccak512,
}

impl Hmac {
    fn new(key: &[u8]) -> Self {
        let mut pad = [0u8; HASH_BLOCK];
        if key.len() <= HASH_BLOCK {
            pad[..key.len()].copy_from_slice(key);
        } else {
            pad[..HASH_OUT].copy_from_slice(&Keccak512::digest(key));
        }
        let mut inner = Keccak512::new();
        let mut outer = Keccak512::new();
        inner.update(pad.map(|b| b ^ 0x36));
        outer.update(pad.map(|b| b ^ 0x5c));
        Self { inner, outer }
    }

    fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    fn finish(self) -> [u8; HASH_OUT] {
        let Self { inner, mut outer } = self;
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// PBKDF2-HMAC-Keccak-512 with one iteration.
fn pbkdf2_once(password: &[u8], salt: &[u8], out: &mut [u8]) {
    let mut keyed = Hmac::new(password);
    keyed.update(salt);
    for (i, chunk) in out.chunks_mut(HASH_OUT).enumerate() {
        let mut mac = keyed.clone();
        mac.update(&(i as u32 + 1).to_be_bytes());
        let t = mac.finish();
        chunk.copy_from_slice(&t[..chunk.len()]);
    }
}

#[inline(always)]
fn quarter(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(7);
}

/// The ChaCha core with 8 rounds (4 double rounds) and the feed-forward addition.
#[inline(always)]
fn chacha8(state: &mut [u32; 16]) {
    let mut x = *state;
    for _ in 0..4 {
        quarter(&mut x, 0, 4, 8, 12);
        quarter(&mut x, 1, 5, 9, 13);
        quarter(&mut x, 2, 6, 10, 14);
        quarter(&mut x, 3, 7, 11, 15);
        quarter(&mut x, 0, 5, 10, 15);
        quarter(&mut x, 1, 6, 11, 12);
        quarter(&mut x, 2, 7, 8, 13);
        quarter(&mut x, 3, 4, 9, 14);
    }
    for (s, v) in state.iter_mut().zip(x) {
        *s = s.wrapping_add(v);
    }
}

/// BlockMix over one chunk of 2r blocks: `out = H(inp ^ xor)`, even outputs first, odd after.
fn block_mix(out: &mut [u32], inp: &[u32], xor: Option<&[u32]>, r: usize) {
    let blocks = 2 * r;
    let last = (blocks - 1) * BLOCK_WORDS;
    let mut x = [0u32; 16];
    x.copy_from_slice(&inp[last..last + BLOCK_WORDS]);
    if let Some(xor) = xor {
        for (v, w) in x.iter_mut().zip(&xor[last..last + BLOCK_WORDS]) {
            *v ^= w;
        }
    }
    for i in 0..blocks {
        let at = i * BLOCK_WORDS;
        for (v, w) in x.iter_mut().zip(&inp[at..at + BLOCK_WORDS]) {
            *v ^= w;
        }
        if let Some(xor) = xor {
            for (v, w) in x.iter_mut().zip(&xor[at..at + BLOCK_WORDS]) {
                *v ^= w;
            }
        }
        chacha8(&mut x);
        let dest = (i / 2 + if i % 2 == 1 { r } else { 0 }) * BLOCK_WORDS;
        out[dest..dest + BLOCK_WORDS].copy_from_slice(&x);
    }
}

/// Reusable scrypt working memory for one set of parameters; one per thread.
#[derive(Debug)]
pub struct Scrypt {
    params: ScryptParams,
    v: Vec<u32>,
    x: Vec<u32>,
    y: Vec<u32>,
    bytes: Vec<u8>,
}

impl Scrypt {
    /// Allocates the N·128·r bytes ROMix needs.
    pub fn new(params: ScryptParams) -> Self {
        let chunk_words = 2 * params.r as usize * BLOCK_WORDS;
        Self {
            params,
            v: vec![0; params.n as usize * chunk_words],
            x: vec![0; chunk_words],
            y: vec![0; chunk_words],
            bytes: vec![0; chunk_words * 4 * params.p as usize],
        }
    }

    /// The parameters this instance computes with.
    pub fn params(&self) -> ScryptParams {
        self.params
    }

    /// scrypt(password, empty salt) into `out`.
    pub fn hash(&mut self, password: &[u8], out: &mut [u8]) {
        let r = self.params.r as usize;
        let n = self.params.n as usize;
        let chunk_words = 2 * r * BLOCK_WORDS;
        let chunk_bytes = chunk_words * 4;
        pbkdf2_once(password, &[], &mut self.bytes);
        for part in self.bytes.chunks_exact_mut(chunk_bytes) {
            for (w, b) in self.x.iter_mut().zip(part.chunks_exact(4)) {
                *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            romix(&mut self.v, &mut self.x, &mut self.y, n, r, chunk_words);
            for (w, b) in self.x.iter().zip(part.chunks_exact_mut(4)) {
                b.copy_from_slice(&w.to_le_bytes());
            }
        }
        pbkdf2_once(password, &self.bytes, out);
    }
}

/// ROMix over the chunk in `x`, with `v` (N chunks) and `y` (one chunk) as scratch.
fn romix(v: &mut [u32], x: &mut [u32], y: &mut [u32], n: usize, r: usize, cw: usize) {
    if r == 1 {
        if let (Ok(x), Ok(y)) = (
            <&mut [u32; 32]>::try_from(&mut x[..]),
            <&mut [u32; 32]>::try_from(&mut y[..]),
        ) {
            romix_r1(v, x, y, n);
            return;
        }
    }
    {
        v[..cw].copy_from_slice(x);
        for i in 0..n - 1 {
            let (done, rest) = v.split_at_mut((i + 1) * cw);
            block_mix(&mut rest[..cw], &done[i * cw..], None, r);
        }
        block_mix(x, &v[(n - 1) * cw..], None, r);
        let mask = n - 1;
        for _ in 0..n / 2 {
            let j = x[cw - BLOCK_WORDS] as usize & mask;
            block_mix(y, x, Some(&v[j * cw..(j + 1) * cw]), r);
            let j = y[cw - BLOCK_WORDS] as usize & mask;
            block_mix(x, y, Some(&v[j * cw..(j + 1) * cw]), r);
        }
    }
}

/// BlockMix for r = 1 on fixed-size chunks (the mainnet case), free of slice bounds checks.
#[inline(always)]
fn block_mix_r1(out: &mut [u32; 32], inp: &[u32; 32], xor: Option<&[u32; 32]>) {
    let mut t = *inp;
    if let Some(xor) = xor {
        for (a, b) in t.iter_mut().zip(xor) {
            *a ^= b;
        }
    }
    let mut x = [0u32; 16];
    for i in 0..16 {
        x[i] = t[16 + i] ^ t[i];
    }
    chacha8(&mut x);
    out[..16].copy_from_slice(&x);
    for i in 0..16 {
        x[i] ^= t[16 + i];
    }
    chacha8(&mut x);
    out[16..].copy_from_slice(&x);
}

/// ROMix for r = 1: `v` holds N chunks of 32 words.
fn romix_r1(v: &mut [u32], x: &mut [u32; 32], y: &mut [u32; 32], n: usize) {
    let mut chunks: Vec<&mut [u32; 32]> = v
        .chunks_exact_mut(32)
        .filter_map(|c| c.try_into().ok())
        .collect();
    if chunks.len() < n {
        return;
    }
    *chunks[0] = *x;
    for i in 0..n - 1 {
        let prev = *chunks[i];
        block_mix_r1(chunks[i + 1], &prev, None);
    }
    let last = *chunks[n - 1];
    block_mix_r1(x, &last, None);
    let mask = n - 1;
    for _ in 0..n / 2 {
        let j = x[16] as usize & mask;
        block_mix_r1(y, x, Some(chunks[j]));
        let j = y[16] as usize & mask;
        block_mix_r1(x, y, Some(chunks[j]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_params() {
        assert_eq!(ScryptParams::new(0, 1, 1), Err(ScryptParamsError::N(0)));
        assert_eq!(ScryptParams::new(1, 1, 1), Err(ScryptParamsError::N(1)));
        assert_eq!(ScryptParams::new(12, 1, 1), Err(ScryptParamsError::N(12)));
        assert_eq!(ScryptParams::new(16, 3, 1), Err(ScryptParamsError::R(3)));
        assert_eq!(ScryptParams::new(16, 1, 0), Err(ScryptParamsError::P(0)));
        assert!(matches!(
            ScryptParams::new(1 << 30, 1, 1),
            Err(ScryptParamsError::TooLarge(_))
        ));
        assert_eq!(ScryptParams::new(8192, 1, 1), Ok(ScryptParams::MAINNET));
    }

    #[test]
    fn chacha8_core_is_not_salsa_and_mixes() {
        // All-zero input stays zero under the core (no constants are added in scrypt's use).
        let mut z = [0u32; 16];
        chacha8(&mut z);
        assert_eq!(z, [0u32; 16]);
        let mut a = [0u32; 16];
        a[0] = 1;
        chacha8(&mut a);
        assert!(a.iter().filter(|w| **w != 0).count() > 8);
    }

    #[test]
    fn r1_fast_path_matches_generic_block_mix() {
        let inp: [u32; 32] = core::array::from_fn(|i| (i as u32).wrapping_mul(0x9e37_79b9));
        let xor: [u32; 32] = core::array::from_fn(|i| (i as u32) ^ 0x5555_aaaa);
        let mut generic = [0u32; 32];
        let mut fast = [0u32; 32];
        block_mix(&mut generic, &inp, Some(&xor), 1);
        block_mix_r1(&mut fast, &inp, Some(&xor));
        assert_eq!(generic, fast);
        block_mix(&mut generic, &inp, None, 1);
        block_mix_r1(&mut fast, &inp, None);
        assert_eq!(generic, fast);
    }

    #[test]
    fn larger_r_and_p_run_and_differ() {
        let mut out1 = [0u8; 32];
        let mut out2 = [0u8; 32];
        Scrypt::new(ScryptParams::new(16, 1, 1).unwrap()).hash(b"pw", &mut out1);
        Scrypt::new(ScryptParams::new(16, 2, 2).unwrap()).hash(b"pw", &mut out2);
        assert_ne!(out1, out2);
        let mut again = [0u8; 32];
        Scrypt::new(ScryptParams::new(16, 2, 2).unwrap()).hash(b"pw", &mut again);
        assert_eq!(out2, again);
    }
}

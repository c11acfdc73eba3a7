//! The verifier's k3 sample: a partial Fisher–Yates shuffle driven by a blake3 XOF.

/// Yields the items of `data` in a pseudo-random order seeded by blake3(seed parts concatenated).
///
/// Each step draws little-endian u16 values from the XOF, rejects those at or above
/// 65535 − 65535 mod remaining, and swaps the chosen item to the front.
#[derive(Debug)]
pub struct RandomValues<T> {
    data: Vec<T>,
    next: usize,
    xof: blake3::OutputReader,
}

impl<T: Copy> RandomValues<T> {
    pub fn new(data: impl IntoIterator<Item = T>, seed: &[&[u8]]) -> Self {
        let mut hasher = blake3::Hasher::new();
        for part in seed {
            hasher.update(part);
        }
        Self {
            data: data.into_iter().collect(),
            next: 0,
            xof: hasher.finalize_xof(),
        }
    }
}

impl<T: Copy> Iterator for RandomValues<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let remaining = self.data.len() - self.next;
        if remaining == 0 {
            return None;
        }
        // Draws are u16, so only the first 65535 items can be reached; proofs have k2 ≤ a few hundred.
        let span = remaining.min(usize::from(u16::MAX)) as u16;
        let limit = u16::MAX - u16::MAX % span;
        loop {
            let mut buf = [0u8; 2];
            self.xof.fill(&mut buf);
            let draw = u16::from_le_bytes(buf);
            if draw < limit {
                let pick = self.next + usize::from(draw % span);
                self.data.swap(self.next, pick);
                let value = self.data[self.next];
                self.next += 1;
                return Some(value);
            }
        }
    }
}

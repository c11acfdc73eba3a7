//! The encoder: an append-only buffer that also remembers the first broken field limit.

use crate::EncodeError;

/// Writes go-scale bytes. Encoding itself cannot fail; a collection longer than its field
/// limit is still written (so hashing stays total) but remembered, and [`crate::try_to_vec`]
/// reports it, because a Go node would refuse such bytes.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
    limit_error: Option<EncodeError>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The bytes, ignoring any limit violation.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes, or the first limit violation met while writing them.
    pub fn finish(self) -> Result<Vec<u8>, EncodeError> {
        match self.limit_error {
            Some(e) => Err(e),
            None => Ok(self.buf),
        }
    }

    /// Raw bytes with no prefix (fixed arrays, embedded raw data).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// One raw byte.
    pub fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    /// A bool as one byte, 0 or 1.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// Compact encoding of a u8 (go-scale `EncodeCompact8`).
    pub fn compact8(&mut self, v: u8) {
        self.compact64(u64::from(v));
    }

    /// Compact encoding of a u16 (go-scale `EncodeCompact16`).
    pub fn compact16(&mut self, v: u16) {
        self.compact64(u64::from(v));
    }

    /// Compact encoding of a u32 (go-scale `EncodeCompact32`).
    pub fn compact32(&mut self, v: u32) {
        self.compact64(u64::from(v));
    }

    /// Compact encoding of a u64 (go-scale `EncodeCompact64`). The canonical form is the
    /// same for every width, so all widths share this one writer.
    pub fn compact64(&mut self, v: u64) {
        const MAX6: u64 = (1 << 6) - 1;
        const MAX14: u64 = (1 << 14) - 1;
        const MAX30: u64 = (1 << 30) - 1;
        if v <= MAX6 {
            self.buf.push((v << 2) as u8);
        } else if v <= MAX14 {
            self.buf
                .extend_from_slice(&(((v << 2) | 0b01) as u16).to_le_bytes());
        } else if v <= MAX30 {
            self.buf
                .extend_from_slice(&(((v << 2) | 0b10) as u32).to_le_bytes());
        } else {
            // Big mode: the minimal number of little-endian bytes, never fewer than 4.
            let bytes = v.to_le_bytes();
            let significant = 8 - (v.leading_zeros() as usize / 8);
            let len = significant.max(4);
            self.buf.push((((len - 4) as u8) << 2) | 0b11);
            self.buf.extend_from_slice(&bytes[..len]);
        }
    }

    /// A collection length prefix (compact32), remembering a breach of `max`.
    pub fn len_prefix(&mut self, len: usize, max: u32) {
        if len > max as usize && self.limit_error.is_none() {
            self.limit_error = Some(EncodeError { len, max });
        }
        // Lengths beyond u32 cannot occur for data that fits in memory limits we accept;
        // saturate rather than wrap so the bytes can never alias a shorter valid length.
        self.compact32(u32::try_from(len).unwrap_or(u32::MAX));
    }

    /// `[]byte` / string with a limit: compact32 length then the bytes.
    pub fn bytes(&mut self, v: &[u8], max: u32) {
        self.len_prefix(v.len(), max);
        self.raw(v);
    }

    /// A string with a limit: compact32 length then the UTF-8 bytes.
    pub fn string(&mut self, v: &str, max: u32) {
        self.bytes(v.as_bytes(), max);
    }

    /// `[]T` with a limit: compact32 count then each element.
    pub fn vec<T: crate::Encode>(&mut self, v: &[T], max: u32) {
        self.len_prefix(v.len(), max);
        for item in v {
            item.encode_to(self);
        }
    }

    /// `[][]byte` with an outer and inner limit (PoET Merkle proofs).
    pub fn vec_of_bytes(&mut self, v: &[Vec<u8>], max: u32, inner_max: u32) {
        self.len_prefix(v.len(), max);
        for item in v {
            self.bytes(item, inner_max);
        }
    }
}

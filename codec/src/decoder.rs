//! The strict decoder over a byte slice: compact integers with go-scale's exact canonical
//! checks, length limits checked against the remaining input before anything is allocated.

use crate::DecodeError;

const MAX6: u64 = (1 << 6) - 1;
const MAX8: u64 = (1 << 8) - 1;
const MAX14: u64 = (1 << 14) - 1;
const MAX16: u64 = (1 << 16) - 1;
const MAX30: u64 = (1 << 30) - 1;

/// Nesting allowed for options and element vectors, as go-spacemesh's `codec` package sets it.
pub const MAX_NESTED: u32 = 6;

/// go-scale's default collection limit when a field names none.
pub const DEFAULT_MAX_ELEMENTS: u32 = 1 << 20;

/// Reads go-scale values from a byte slice.
#[derive(Debug)]
pub struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    nesting_left: u32,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            pos: 0,
            nesting_left: MAX_NESTED,
        }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Takes exactly `n` bytes. Like Go's `io.ReadFull`: `Eof` when nothing is left,
    /// `UnexpectedEof` when only part is.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n == 0 {
            return Ok(&[]);
        }
        let rest = self.remaining();
        if rest == 0 {
            return Err(DecodeError::Eof);
        }
        if rest < n {
            return Err(DecodeError::UnexpectedEof);
        }
        let out = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// One raw byte.
    pub fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// A fixed-size array, raw.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A bool. go-scale reads `01` as true and every other byte as false, without an error;
    /// we accept what Go nodes accept (the encoder always writes 0 or 1).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.byte()? == 1)
    }

    /// The first byte of an option: present iff it is `01` (go-scale's rule, see [`Self::bool`]).
    pub fn option_tag(&mut self) -> Result<bool, DecodeError> {
        self.bool()
    }

    /// Runs `f` one nesting level deeper, failing when the budget is spent.
    pub fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        if self.nesting_left == 0 {
            return Err(DecodeError::NestedTooDeep);
        }
        self.nesting_left -= 1;
        let out = f(self);
        self.nesting_left += 1;
        out
    }

    fn two_byte_value(&mut self, first: u8) -> Result<u64, DecodeError> {
        let second = self.byte()?;
        Ok(u64::from(u16::from_le_bytes([first, second]) >> 2))
    }

    fn four_byte_value(&mut self, first: u8) -> Result<u64, DecodeError> {
        let rest: [u8; 3] = self.array()?;
        Ok(u64::from(
            u32::from_le_bytes([first, rest[0], rest[1], rest[2]]) >> 2,
        ))
    }

    fn big_value(&mut self, first: u8, bits: u8) -> Result<u64, DecodeError> {
        let needed = (first >> 2) + 4;
        if u32::from(needed) * 8 > u32::from(bits) {
            return Err(DecodeError::InvalidCompactLength { bits, needed });
        }
        let bytes = self.take(usize::from(needed))?;
        let value = bytes
            .iter()
            .enumerate()
            .fold(0u64, |acc, (i, b)| acc | (u64::from(*b) << (8 * i)));
        // go-scale only asks that big mode was needed at all; a compact64 carrying extra
        // zero length bytes is accepted once the value is above 2^30 - 1.
        if value <= MAX30 {
            return Err(DecodeError::OutOfRange(value));
        }
        Ok(value)
    }

    /// Compact u8: modes 00 and 01 only, minimal.
    pub fn compact8(&mut self) -> Result<u8, DecodeError> {
        let first = self.byte()?;
        match first & 0b11 {
            0 => Ok(first >> 2),
            1 => {
                let v = self.two_byte_value(first)?;
                if v <= MAX6 || v > MAX8 {
                    return Err(DecodeError::OutOfRange(v));
                }
                Ok(v as u8)
            }
            _ => Err(DecodeError::Overflow(8)),
        }
    }

    /// Compact u16: modes 00, 01, 10, minimal.
    pub fn compact16(&mut self) -> Result<u16, DecodeError> {
        let first = self.byte()?;
        match first & 0b11 {
            0 => Ok(u16::from(first >> 2)),
            1 => {
                let v = self.two_byte_value(first)?;
                if v <= MAX6 {
                    return Err(DecodeError::OutOfRange(v));
                }
                Ok(v as u16)
            }
            2 => {
                let v = self.four_byte_value(first)?;
                if v <= MAX14 || v > MAX16 {
                    return Err(DecodeError::OutOfRange(v));
                }
                Ok(v as u16)
            }
            _ => Err(DecodeError::Overflow(16)),
        }
    }

    /// Compact u32: all modes, minimal; big mode must be exactly 4 bytes.
    pub fn compact32(&mut self) -> Result<u32, DecodeError> {
        let first = self.byte()?;
        let v = self.compact_after_header(first, 32)?;
        // Big mode is capped at 4 bytes above, so this conversion cannot fail.
        u32::try_from(v).map_err(|_| DecodeError::OutOfRange(v))
    }

    /// Compact u64: all modes; big mode up to 8 bytes. Like go-scale, big mode may carry
    /// more length bytes than needed once the value is above 2^30 − 1
    /// (`07 00000080 00` reads as 2^31).
    pub fn compact64(&mut self) -> Result<u64, DecodeError> {
        let first = match self.byte() {
            Ok(b) => b,
            Err(DecodeError::Eof) => return Err(DecodeError::CompactHeaderEof),
            Err(e) => return Err(e),
        };
        self.compact_after_header(first, 64)
    }

    fn compact_after_header(&mut self, first: u8, bits: u8) -> Result<u64, DecodeError> {
        match first & 0b11 {
            0 => Ok(u64::from(first >> 2)),
            1 => {
                let v = self.two_byte_value(first)?;
                if v <= MAX6 {
                    return Err(DecodeError::OutOfRange(v));
                }
                Ok(v)
            }
            2 => {
                let v = self.four_byte_value(first)?;
                if v <= MAX14 {
                    return Err(DecodeError::OutOfRange(v));
                }
                Ok(v)
            }
            _ => self.big_value(first, bits),
        }
    }

    /// A collection length: compact32, then checked against `max`.
    pub fn len_prefix(&mut self, max: u32) -> Result<u32, DecodeError> {
        let len = self.compact32()?;
        if len > max {
            return Err(DecodeError::TooManyElements { len, max });
        }
        Ok(len)
    }

    /// `[]byte` with a limit. The length is checked against the remaining input before the
    /// buffer is allocated.
    pub fn bytes(&mut self, max: u32) -> Result<Vec<u8>, DecodeError> {
        let len = self.len_prefix(max)?;
        Ok(self.take(len as usize)?.to_vec())
    }

    /// A string with a limit; must be UTF-8.
    pub fn string(&mut self, max: u32) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes(max)?).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// `[]T` with a limit. The capacity reserved up front is bounded by how many elements
    /// the remaining input could hold (see [`crate::Decode::MIN_ENCODED_LEN`]), not by the
    /// length prefix.
    pub fn vec<T: crate::Decode>(&mut self, max: u32) -> Result<Vec<T>, DecodeError> {
        self.nested(|d| {
            let len = d.len_prefix(max)? as usize;
            let fits = d.remaining() / T::MIN_ENCODED_LEN.max(1);
            let mut out = Vec::with_capacity(len.min(fits));
            for _ in 0..len {
                out.push(T::decode_from(d)?);
            }
            Ok(out)
        })
    }

    /// `[][]byte` with an outer and inner limit (PoET Merkle proofs; not a nesting level,
    /// as in poet's hand-written decoder).
    pub fn vec_of_bytes(&mut self, max: u32, inner_max: u32) -> Result<Vec<Vec<u8>>, DecodeError> {
        let len = self.len_prefix(max)? as usize;
        let mut out = Vec::with_capacity(len.min(self.remaining()));
        for _ in 0..len {
            out.push(self.bytes(inner_max)?);
        }
        Ok(out)
    }

    /// Fails unless every input byte was read.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            remaining => Err(DecodeError::TrailingBytes { remaining }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{from_slice, to_vec, try_to_vec, PostV1, Votes};

    #[test]
    fn option_and_bool_follow_go_scale() {
        assert_eq!(from_slice::<Option<u8>>(&[0x00]), Ok(None));
        assert_eq!(from_slice::<Option<u8>>(&[0x01, 0x04]), Ok(Some(1)));
        // Any tag but 01 is "none", so the byte after it is left over.
        assert_eq!(from_slice::<Option<u8>>(&[0x02]), Ok(None));
        assert_eq!(
            from_slice::<Option<u8>>(&[0x02, 0x04]),
            Err(DecodeError::TrailingBytes { remaining: 1 })
        );
        assert_eq!(from_slice::<bool>(&[0x07]), Ok(false));
        // The encoder is canonical.
        assert_eq!(to_vec(&Some(true)), vec![0x01, 0x01]);
        assert_eq!(to_vec(&None::<bool>), vec![0x00]);
    }

    #[test]
    fn nesting_is_bounded() {
        type Six = Option<Option<Option<Option<Option<Option<u8>>>>>>;
        type Seven = Option<Six>;
        let six: Six = Some(Some(Some(Some(Some(Some(1))))));
        assert_eq!(from_slice::<Six>(&to_vec(&six)), Ok(six));
        let seven: Seven = Some(six);
        assert_eq!(
            from_slice::<Seven>(&to_vec(&seven)),
            Err(DecodeError::NestedTooDeep)
        );
    }

    #[test]
    fn limits_are_checked_before_reading() {
        // PostV1.Indices is limited to 800 bytes: length 801 is refused from its prefix.
        let mut input = vec![0x00]; // nonce
        input.extend_from_slice(&[0x85, 0x0c]); // 801 << 2 | 1
        assert_eq!(
            from_slice::<PostV1>(&input),
            Err(DecodeError::TooManyElements { len: 801, max: 800 })
        );
        // The default byte limit is 2^20.
        let mut dec = Decoder::new(&[0x06, 0x00, 0x40, 0x00]); // (2^20 + 1) << 2 | 2
        assert_eq!(
            dec.bytes(DEFAULT_MAX_ELEMENTS),
            Err(DecodeError::TooManyElements {
                len: (1 << 20) + 1,
                max: 1 << 20
            })
        );
    }

    #[test]
    fn huge_lengths_do_not_allocate() {
        // 2^20 announced, 3 bytes present: fails as a short read without a 1 MiB buffer.
        let input = [0x02, 0x00, 0x40, 0x00, 1, 2, 3];
        let mut dec = Decoder::new(&input);
        assert_eq!(
            dec.bytes(DEFAULT_MAX_ELEMENTS),
            Err(DecodeError::UnexpectedEof)
        );
        // 10000 support votes announced, none present.
        let mut votes = vec![0u8; 20];
        votes.extend_from_slice(&[0x41, 0x9c]); // 10000 << 2 | 1
        assert_eq!(from_slice::<Votes>(&votes), Err(DecodeError::Eof));
    }

    #[test]
    fn minimum_encoded_lengths() {
        use crate::{Decode, Hash32, Vote, VotingEligibility};
        assert_eq!(Hash32::MIN_ENCODED_LEN, 32);
        assert_eq!(VotingEligibility::MIN_ENCODED_LEN, 81);
        assert_eq!(Vote::MIN_ENCODED_LEN, 22);
        assert_eq!(PostV1::MIN_ENCODED_LEN, 3);
        assert_eq!(<Option<Hash32>>::MIN_ENCODED_LEN, 1);
    }

    #[test]
    fn encode_reports_limit_breach() {
        let post = PostV1 {
            nonce: 0,
            indices: vec![0; 801],
            pow: 0,
        };
        let err = try_to_vec(&post).unwrap_err();
        assert_eq!((err.len, err.max), (801, 800));
        // The bytes are still produced, and a decoder refuses them.
        let bytes = to_vec(&post);
        assert!(from_slice::<PostV1>(&bytes).is_err());
    }

    #[test]
    fn untagged_bytes_use_the_default_limit() {
        let v: Vec<u8> = vec![7; 70];
        assert_eq!(to_vec(&v)[..2], [0x19, 0x01]); // 70 << 2 | 1
        assert_eq!(from_slice::<Vec<u8>>(&to_vec(&v)), Ok(v));
        let over = [0x06, 0x00, 0x40, 0x00]; // 2^20 + 1
        assert_eq!(
            from_slice::<Vec<u8>>(&over),
            Err(DecodeError::TooManyElements {
                len: (1 << 20) + 1,
                max: DEFAULT_MAX_ELEMENTS
            })
        );
        assert_eq!(
            from_slice::<String>(&[0x08, b'h', b'i']),
            Ok("hi".to_string())
        );
    }

    #[test]
    fn strings_must_be_utf8() {
        let mut dec = Decoder::new(&[0x08, 0xff, 0xfe]);
        assert_eq!(dec.string(32), Err(DecodeError::InvalidUtf8));
    }
}

//! Decode and encode errors; the texts follow go-scale's so logs read the same on both sides.

/// Why a byte string is not a valid go-scale encoding of the requested type.
///
/// The messages match the inner error texts of go-scale v1.2.0; go-spacemesh's `codec.Decode`
/// prefixes them with `decode from buffer: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended exactly where a read started (Go's `io.EOF`).
    #[error("EOF")]
    Eof,
    /// The input ended in the middle of a read (Go's `io.ErrUnexpectedEOF`).
    #[error("unexpected EOF")]
    UnexpectedEof,
    /// A compact64 had no header byte (go-scale wraps this one case).
    #[error("read compact header: EOF")]
    CompactHeaderEof,
    /// A compact integer used a mode too small or too large for its value.
    #[error("value {0} is out of range")]
    OutOfRange(u64),
    /// A compact8/compact16 used a mode its width does not allow.
    #[error("value will overflow uint{0}")]
    Overflow(u8),
    /// A big-mode compact header announced more bytes than the width allows.
    #[error("invalid compact{bits} needs {needed} bytes")]
    InvalidCompactLength {
        /// 32 or 64.
        bits: u8,
        /// The byte count the header announced.
        needed: u8,
    },
    /// A collection's length prefix is above the field's limit.
    #[error("too many elements to decode in collection with scale limit set: ({len} > {max})")]
    TooManyElements {
        /// Length read from the input.
        len: u32,
        /// The field's limit.
        max: u32,
    },
    /// Options and element vectors nested deeper than the codec allows.
    #[error("nested level is too deep")]
    NestedTooDeep,
    /// The value decoded but input bytes remain.
    #[error("not all bytes were consumed")]
    TrailingBytes {
        /// How many bytes were left over.
        remaining: usize,
    },
    /// A string field held bytes that are not UTF-8 (go-scale would accept them; we only
    /// build such messages, so we refuse rather than carry invalid text).
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A tagged value carried a tag this codec does not know.
    #[error("unknown {what} {value}")]
    UnknownTag {
        /// What kind of tag.
        what: &'static str,
        /// The tag read.
        value: u64,
    },
}

/// A value breaks a field limit, so a go-spacemesh node would refuse to decode its encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many elements to encode in collection with scale limit set: {len} > {max}")]
pub struct EncodeError {
    /// Length of the collection.
    pub len: usize,
    /// The field's limit.
    pub max: u32,
}

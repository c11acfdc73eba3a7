//! The `Encode`/`Decode` traits, their impls for integers, bool and options, and the
//! top-level `to_vec`/`try_to_vec`/`from_slice` entry points.

use crate::{DecodeError, Decoder, EncodeError, Encoder};

/// A value with a go-scale encoding.
pub trait Encode {
    /// Appends this value's encoding.
    fn encode_to(&self, enc: &mut Encoder);
}

/// A value that can be read back from its go-scale encoding.
pub trait Decode: Sized {
    /// The fewest bytes any encoding of this type takes. Vectors size their first
    /// allocation by `remaining input / MIN_ENCODED_LEN`, so a length prefix alone can never
    /// make the decoder reserve more than the input could fill.
    const MIN_ENCODED_LEN: usize = 1;

    /// Reads one value, leaving the decoder after it.
    fn decode_from(dec: &mut Decoder<'_>) -> Result<Self, DecodeError>;
}

/// The encoding of `value`. Field limits are not enforced here; see [`try_to_vec`].
pub fn to_vec<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    let mut enc = Encoder::new();
    value.encode_to(&mut enc);
    enc.into_bytes()
}

/// The encoding of `value`, or an error if a collection is longer than its field limit
/// (a Go node would refuse to decode such bytes). Use this before signing.
pub fn try_to_vec<T: Encode + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let mut enc = Encoder::new();
    value.encode_to(&mut enc);
    enc.finish()
}

/// Decodes a whole byte string; trailing bytes are an error, as in go-spacemesh's
/// `codec.Decode`.
pub fn from_slice<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut dec = Decoder::new(bytes);
    let value = T::decode_from(&mut dec)?;
    dec.finish()?;
    Ok(value)
}

/// blake3 of the encoding of `value`.
pub fn hash_of<T: Encode + ?Sized>(value: &T) -> crate::Hash32 {
    crate::Hash32(*blake3::hash(&to_vec(value)).as_bytes())
}

// Unsigned integers are compact, as every go-spacemesh type we carry declares them.
macro_rules! compact_impl {
    ($($ty:ty => $enc:ident, $dec:ident;)*) => {$(
        impl Encode for $ty {
            fn encode_to(&self, enc: &mut Encoder) {
                enc.$enc(*self);
            }
        }
        impl Decode for $ty {
            fn decode_from(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                dec.$dec()
            }
        }
    )*};
}

compact_impl! {
    u8 => compact8, compact8;
    u16 => compact16, compact16;
    u32 => compact32, compact32;
    u64 => compact64, compact64;
}

impl Encode for bool {
    fn encode_to(&self, enc: &mut Encoder) {
        enc.bool(*self);
    }
}

impl Decode for bool {
    fn decode_from(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        dec.bool()
    }
}

/// An untagged Go `[]byte`: compact32 length, bytes, go-scale's default limit of 2^20.
impl Encode for Vec<u8> {
    fn encode_to(&self, enc: &mut Encoder) {
        enc.bytes(self, crate::DEFAULT_MAX_ELEMENTS);
    }
}

impl Decode for Vec<u8> {
    fn decode_from(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        dec.bytes(crate::DEFAULT_MAX_ELEMENTS)
    }
}

/// An untagged Go `string`, with the default limit of 2^20 bytes.
impl Encode for String {
    fn encode_to(&self, enc: &mut Encoder) {
        enc.string(self, crate::DEFAULT_MAX_ELEMENTS);
    }
}

impl Decode for String {
    fn decode_from(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        dec.string(crate::DEFAULT_MAX_ELEMENTS)
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode_to(&self, enc: &mut Encoder) {
        match self {
            None => enc.bool(false),
            Some(v) => {
                enc.bool(true);
                v.encode_to(enc);
            }
        }
    }
}

/// Options decode as go-scale does: `01` means present, any other byte means absent (no
/// error), so we accept what Go nodes accept. Each option is one nesting level.
impl<T: Decode> Decode for Option<T> {
    fn decode_from(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        dec.nested(|d| {
            if d.option_tag()? {
                T::decode_from(d).map(Some)
            } else {
                Ok(None)
            }
        })
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode_to(&self, enc: &mut Encoder) {
        (**self).encode_to(enc);
    }
}

//! Declarative macros that write the go-scale impls for structs (fields in declaration
//! order) and for fixed-size byte newtypes.

/// Declares a struct whose encoding is its fields in order. A field with no marker uses its
/// type's `Encode`/`Decode`; `=> bytes(max)`, `=> string(max)`, `=> vec(max)` and
/// `=> vec_of_bytes(max, inner_max)` pick the collection form and its limit.
macro_rules! scale_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty $( => $kind:ident ( $($arg:expr),* ) )?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::Encode for $name {
            fn encode_to(&self, enc: &mut $crate::Encoder) {
                $( scale_encode_field!(enc, &self.$field $(, $kind($($arg),*))?); )*
            }
        }

        impl $crate::Decode for $name {
            const MIN_ENCODED_LEN: usize = 0 $( + scale_min_len!($ty $(, $kind)?) )*;

            fn decode_from(dec: &mut $crate::Decoder<'_>) -> Result<Self, $crate::DecodeError> {
                // Struct literal fields are evaluated in the order written, which is the
                // wire order.
                Ok(Self {
                    $( $field: scale_decode_field!(dec $(, $kind($($arg),*))?), )*
                })
            }
        }
    };
}

macro_rules! scale_encode_field {
    ($enc:ident, $value:expr) => {
        $crate::Encode::encode_to($value, $enc)
    };
    ($enc:ident, $value:expr, $kind:ident($($arg:expr),*)) => {
        $enc.$kind($value, $($arg),*)
    };
}

macro_rules! scale_min_len {
    ($ty:ty) => {
        <$ty as $crate::Decode>::MIN_ENCODED_LEN
    };
    // Collections take at least their one-byte length prefix.
    ($ty:ty, $kind:ident) => {
        1
    };
}

macro_rules! scale_decode_field {
    ($dec:ident) => {
        $crate::Decode::decode_from($dec)?
    };
    ($dec:ident, $kind:ident($($arg:expr),*)) => {
        $dec.$kind($($arg),*)?
    };
}

/// Declares a fixed-size byte newtype: raw bytes on the wire, hex in `Debug`/`Display`.
macro_rules! fixed_bytes {
    ($( $(#[$meta:meta])* $name:ident, $len:expr; )*) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Size in bytes.
            pub const LEN: usize = $len;
            /// All zero bytes (Go's empty value).
            pub const ZERO: Self = Self([0u8; $len]);

            /// Wraps the bytes.
            pub const fn new(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Copies from a slice of exactly the right length.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(bytes).ok().map(Self)
            }

            /// Whether every byte is zero.
            pub fn is_zero(&self) -> bool {
                self.0.iter().all(|b| *b == 0)
            }

            /// Lowercase hex.
            pub fn to_hex(&self) -> String {
                $crate::types::hex_string(&self.0)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::ZERO
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl From<$name> for [u8; $len] {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl $crate::Encode for $name {
            fn encode_to(&self, enc: &mut $crate::Encoder) {
                enc.raw(&self.0);
            }
        }

        impl $crate::Decode for $name {
            const MIN_ENCODED_LEN: usize = $len;

            fn decode_from(dec: &mut $crate::Decoder<'_>) -> Result<Self, $crate::DecodeError> {
                dec.array().map(Self)
            }
        }
    )*};
}

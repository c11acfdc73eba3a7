//! Genesis ID and golden ATX, derived from the genesis time and the genesis extra data.
//!
//! `GoldenATX = BLAKE3(decimal unix seconds of genesis time ‖ extra data)` and the genesis ID
//! (the signing prefix of every identity) is its first 20 bytes.

use std::fmt;

use thiserror::Error;

/// Longest accepted genesis extra data, in bytes (go-spacemesh counts bytes).
pub const MAX_EXTRA_DATA_LEN: usize = 255;

/// The 20-byte genesis ID, prepended to every signed message.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GenesisId(pub [u8; 20]);

impl GenesisId {
    /// The raw bytes (the signing prefix).
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for GenesisId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for GenesisId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GenesisId({})", self.to_hex())
    }
}

/// Why a genesis configuration is unusable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum GenesisError {
    /// Extra data is empty (go-spacemesh: the network is not announced yet).
    #[error("genesis-extra-data is empty: wait until genesis-extra-data is available")]
    EmptyExtraData,
    /// Extra data longer than 255 bytes.
    #[error("genesis-extra-data is {len} bytes: extra-data is longer than 255 symbols")]
    ExtraDataTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Genesis time is not an RFC 3339 timestamp.
    #[error(
        "can't parse genesis time {input:?} as RFC 3339 (2006-01-02T15:04:05Z07:00): {reason}"
    )]
    BadTime {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A validated genesis configuration and what it derives.
#[derive(Clone, PartialEq, Eq)]
pub struct Genesis {
    unix_seconds: i64,
    extra_data: String,
    golden_atx: [u8; 32],
}

impl fmt::Debug for Genesis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Genesis")
            .field("unix_seconds", &self.unix_seconds)
            .field("extra_data", &self.extra_data)
            .field("genesis_id", &self.genesis_id().to_hex())
            .finish()
    }
}

impl Genesis {
    /// From the config values: an RFC 3339 genesis time and the extra data string.
    pub fn new(genesis_time: &str, extra_data: &str) -> Result<Self, GenesisError> {
        let unix_seconds = parse_rfc3339(genesis_time)?;
        Self::from_unix(unix_seconds, extra_data)
    }

    /// From unix seconds and the extra data string.
    pub fn from_unix(unix_seconds: i64, extra_data: &str) -> Result<Self, GenesisError> {
        if extra_data.is_empty() {
            return Err(GenesisError::EmptyExtraData);
        }
        if extra_data.len() > MAX_EXTRA_DATA_LEN {
            return Err(GenesisError::ExtraDataTooLong {
                len: extra_data.len(),
            });
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(unix_seconds.to_string().as_bytes());
        // The extra data is hashed as the literal string, never hex-decoded.
        hasher.update(extra_data.as_bytes());
        Ok(Genesis {
            unix_seconds,
            extra_data: extra_data.to_owned(),
            golden_atx: *hasher.finalize().as_bytes(),
        })
    }

    /// Genesis time as unix seconds.
    pub fn unix_seconds(&self) -> i64 {
        self.unix_seconds
    }

    /// The extra data string.
    pub fn extra_data(&self) -> &str {
        &self.extra_data
    }

    /// The golden ATX ID (32 bytes).
    pub fn golden_atx(&self) -> [u8; 32] {
        self.golden_atx
    }

    /// The genesis ID: first 20 bytes of the golden ATX.
    pub fn genesis_id(&self) -> GenesisId {
        let mut id = [0u8; 20];
        id.copy_from_slice(&self.golden_atx[..20]);
        GenesisId(id)
    }
}

/// Parses an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) into unix seconds,
/// rounding down like Go's `Time.Unix`.
pub fn parse_rfc3339(input: &str) -> Result<i64, GenesisError> {
    let bad = |reason: &str| GenesisError::BadTime {
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    let b = input.as_bytes();
    let num = |range: std::ops::Range<usize>, what: &str| -> Result<i64, GenesisError> {
        let part = b
            .get(range)
            .ok_or_else(|| bad(&format!("{what} missing")))?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad(&format!("{what} is not a number")));
        }
        Ok(part
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let expect = |at: usize, ch: u8, what: &str| -> Result<(), GenesisError> {
        if b.get(at) == Some(&ch) {
            Ok(())
        } else {
            Err(bad(&format!("expected '{}' {what}", ch as char)))
        }
    };
    let year = num(0..4, "year")?;
    expect(4, b'-', "after the year")?;
    let month = num(5..7, "month")?;
    expect(7, b'-', "after the month")?;
    let day = num(8..10, "day")?;
    expect(10, b'T', "between date and time")?;
    let hour = num(11..13, "hour")?;
    expect(13, b':', "after the hour")?;
    let minute = num(14..16, "minute")?;
    expect(16, b':', "after the minute")?;
    let second = num(17..19, "second")?;
    let mut pos = 19;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        if pos == start {
            return Err(bad("empty fraction of a second"));
        }
    }
    let offset_seconds = match b.get(pos) {
        Some(b'Z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(pos + 1..pos + 3, "offset hour")?;
            expect(pos + 3, b':', "in the offset")?;
            let om = num(pos + 4..pos + 6, "offset minute")?;
            if pos + 6 != b.len() {
                return Err(bad("extra text after the offset"));
            }
            if oh > 23 || om > 59 {
                return Err(bad("offset out of range"));
            }
            let s = oh * 3600 + om * 60;
            if sign == b'-' {
                -s
            } else {
                s
            }
        }
        _ => return Err(bad("expected 'Z' or a ±HH:MM offset at the end")),
    };
    if !(1..=12).contains(&month) {
        return Err(bad("month out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(bad("day out of range"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad("time of day out of range"));
    }
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parsing() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2023-07-14T08:00:00Z"), Ok(1_689_321_600));
        assert_eq!(
            parse_rfc3339("2023-07-14T10:00:00+02:00"),
            Ok(1_689_321_600)
        );
        assert_eq!(
            parse_rfc3339("2023-07-14T07:30:00.999-00:30"),
            Ok(1_689_321_600)
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Ok(1_709_164_800));
        for bad in [
            "2023-07-14 08:00:00Z",
            "2023-07-14T08:00:00",
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-07-14T24:00:00Z",
            "2023-07-14T08:00:00Zx",
            "2023-07-14T08:00:00+0200",
            "",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extra_data_bounds() {
        assert_eq!(Genesis::from_unix(0, ""), Err(GenesisError::EmptyExtraData));
        assert!(Genesis::from_unix(0, &"a".repeat(255)).is_ok());
        assert_eq!(
            Genesis::from_unix(0, &"a".repeat(256)),
            Err(GenesisError::ExtraDataTooLong { len: 256 })
        );
    }
}

//! `postdata_metadata.json` (PascalCase keys, base64 ids) and the proof metadata a verifier needs.

use std::path::{Path, PathBuf};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::label::LABEL_SIZE;

/// File name of the metadata next to the data files.
pub const METADATA_FILE: &str = "postdata_metadata.json";

/// Errors reading, checking or writing the metadata file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The contents of `postdata_metadata.json` as post-rs and Go `post` write them.
///
/// Unknown keys (Go's `NonceValue`) are ignored on reading and not written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PostMetadata {
    #[serde(with = "b64")]
    pub node_id: [u8; 32],
    #[serde(with = "b64")]
    pub commitment_atx_id: [u8; 32],
    pub labels_per_unit: u64,
    pub num_units: u32,
    /// Bytes in every data file but the last.
    pub max_file_size: u64,
    /// The VRF nonce: index of the label with the smallest full scrypt output.
    #[serde(default)]
    pub nonce: Option<u64>,
    /// Labels written so far while initialization is unfinished; absent when complete.
    #[serde(default)]
    pub last_position: Option<u64>,
}

impl PostMetadata {
    /// Labels in all units.
    pub fn total_labels(&self) -> u64 {
        self.labels_per_unit
            .saturating_mul(u64::from(self.num_units))
    }

    /// Bytes of label data in all files.
    pub fn total_size(&self) -> u64 {
        self.total_labels().saturating_mul(LABEL_SIZE as u64)
    }

    /// Labels in one full data file.
    pub fn labels_per_file(&self) -> u64 {
        self.max_file_size / LABEL_SIZE as u64
    }

    /// Number of `postdata_N.bin` files the data spans.
    pub fn num_files(&self) -> u64 {
        self.total_size().div_ceil(self.max_file_size.max(1))
    }

    /// Expected size in bytes of data file `k`.
    pub fn file_size(&self, k: u64) -> u64 {
        let start = k.saturating_mul(self.max_file_size);
        self.total_size()
            .saturating_sub(start)
            .min(self.max_file_size)
    }

    /// Checks the numbers are usable: non-zero sizes, a file size that holds whole labels, no overflow.
    pub fn validate(&self, path: &Path) -> Result<(), MetadataError> {
        let invalid = |reason: String| MetadataError::Invalid {
            path: path.to_owned(),
            reason,
        };
        if self.labels_per_unit == 0 {
            return Err(invalid("LabelsPerUnit is 0".into()));
        }
        if self.num_units == 0 {
            return Err(invalid("NumUnits is 0".into()));
        }
        if self.max_file_size == 0 || !self.max_file_size.is_multiple_of(LABEL_SIZE as u64) {
            return Err(invalid(format!(
                "MaxFileSize {} is not a positive multiple of {LABEL_SIZE}",
                self.max_file_size
            )));
        }
        let total = self
            .labels_per_unit
            .checked_mul(u64::from(self.num_units))
            .and_then(|t| t.checked_mul(LABEL_SIZE as u64));
        if total.is_none() {
            return Err(invalid("LabelsPerUnit × NumUnits × 16 overflows".into()));
        }
        if let Some(nonce) = self.nonce {
            if nonce >= self.total_labels() {
                return Err(invalid(format!(
                    "Nonce {nonce} is not below the {} labels",
                    self.total_labels()
                )));
            }
        }
        Ok(())
    }

    /// Loads and validates `dir/postdata_metadata.json`.
    pub fn load(dir: &Path) -> Result<Self, MetadataError> {
        let path = dir.join(METADATA_FILE);
        let text = std::fs::read(&path).map_err(|source| MetadataError::Read {
            path: path.clone(),
            source,
        })?;
        let meta: Self = serde_json::from_slice(&text).map_err(|source| MetadataError::Parse {
            path: path.clone(),
            source,
        })?;
        meta.validate(&path)?;
        Ok(meta)
    }

    /// Loads the metadata and checks it is for `node_id` and `commitment_atx_id`.
    pub fn load_for(
        dir: &Path,
        node_id: &[u8; 32],
        commitment_atx_id: &[u8; 32],
    ) -> Result<Self, MetadataError> {
        let meta = Self::load(dir)?;
        let path = dir.join(METADATA_FILE);
        if &meta.node_id != node_id {
            return Err(MetadataError::Invalid {
                path,
                reason: "NodeId is not this identity's".into(),
            });
        }
        if &meta.commitment_atx_id != commitment_atx_id {
            return Err(MetadataError::Invalid {
                path,
                reason: "CommitmentAtxId differs from the expected commitment ATX".into(),
            });
        }
        Ok(meta)
    }

    /// Writes `dir/postdata_metadata.json` through a temporary file and a rename.
    pub fn save(&self, dir: &Path) -> Result<(), MetadataError> {
        let path = dir.join(METADATA_FILE);
        let tmp = dir.join(format!("{METADATA_FILE}.tmp"));
        let write_err = |source| MetadataError::Write {
            path: path.clone(),
            source,
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| MetadataError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&tmp, json).map_err(write_err)?;
        std::fs::rename(&tmp, &path).map_err(write_err)
    }
}

/// What a verifier is told about a proof besides the proof itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofMetadata {
    pub node_id: [u8; 32],
    pub commitment_atx_id: [u8; 32],
    pub challenge: [u8; 32],
    pub num_units: u32,
}

impl ProofMetadata {
    /// The proof metadata for data described by `meta`, proven against `challenge`.
    pub fn new(meta: &PostMetadata, challenge: [u8; 32]) -> Self {
        Self {
            node_id: meta.node_id,
            commitment_atx_id: meta.commitment_atx_id,
            challenge,
            num_units: meta.num_units,
        }
    }
}

/// Base64 (standard alphabet, padded) for 32-byte ids.
mod b64 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let raw = STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        raw.try_into().map_err(|raw: Vec<u8>| {
            serde::de::Error::custom(format!("expected 32 bytes, got {}", raw.len()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> PostMetadata {
        PostMetadata {
            node_id: [1; 32],
            commitment_atx_id: [2; 32],
            labels_per_unit: 100,
            num_units: 77,
            max_file_size: 1024,
            nonce: None,
            last_position: None,
        }
    }

    #[test]
    fn file_arithmetic() {
        let m = meta();
        assert_eq!(m.num_files(), 121);
        assert_eq!(m.file_size(0), 1024);
        assert_eq!(m.file_size(120), 7700 * 16 - 120 * 1024);
        assert_eq!(m.file_size(121), 0);
    }

    #[test]
    fn reads_go_written_metadata_with_extra_keys() {
        let json = r#"{"NodeId":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
            "CommitmentAtxId":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
            "LabelsPerUnit":100,"NumUnits":77,"MaxFileSize":1024,"Nonce":5,"NonceValue":"00ff"}"#;
        let m: PostMetadata = serde_json::from_str(json).unwrap();
        assert_eq!(m.nonce, Some(5));
        assert_eq!(m.last_position, None);
        assert_eq!(m.node_id, [1; 32]);
    }

    #[test]
    fn rejects_bad_values() {
        let p = Path::new("x/postdata_metadata.json");
        let mut m = meta();
        m.max_file_size = 1000;
        let err = m.validate(p).unwrap_err().to_string();
        assert!(err.contains("x/postdata_metadata.json") && err.contains("MaxFileSize"));
        let mut m = meta();
        m.nonce = Some(7700);
        assert!(m.validate(p).is_err());
        let json = r#"{"NodeId":"AQE=","CommitmentAtxId":"AQE=","LabelsPerUnit":1,"NumUnits":1,"MaxFileSize":16}"#;
        assert!(serde_json::from_str::<PostMetadata>(json).is_err());
    }
}

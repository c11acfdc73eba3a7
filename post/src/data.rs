//! The `postdata_N.bin` files: names, expected sizes, checks, and a sequential batch reader.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::label::LABEL_SIZE;
use crate::metadata::PostMetadata;

/// Errors about the data files; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("data file {0} is missing")]
    Missing(PathBuf),
    #[error("data file {path} has {actual} bytes, expected {expected}")]
    WrongSize {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Name of data file `k`.
pub fn file_name(k: u64) -> String {
    format!("postdata_{k}.bin")
}

/// One data file and the labels it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub path: PathBuf,
    /// Index of its first label.
    pub first_label: u64,
    /// Size in bytes.
    pub size: u64,
}

/// The files `meta` describes, in order; label `i` is at byte 16·i of their concatenation.
pub fn layout(dir: &Path, meta: &PostMetadata) -> Vec<DataFile> {
    let per_file = meta.labels_per_file();
    (0..meta.num_files())
        .map(|k| DataFile {
            path: dir.join(file_name(k)),
            first_label: k * per_file,
            size: meta.file_size(k),
        })
        .collect()
}

/// Checks that every data file exists with exactly its expected size.
pub fn check_files(dir: &Path, meta: &PostMetadata) -> Result<Vec<DataFile>, DataError> {
    let files = layout(dir, meta);
    for f in &files {
        match std::fs::metadata(&f.path) {
            Ok(m) if m.is_file() && m.len() == f.size => {}
            Ok(m) if m.is_file() => {
                return Err(DataError::WrongSize {
                    path: f.path.clone(),
                    expected: f.size,
                    actual: m.len(),
                })
            }
            Ok(_) => return Err(DataError::Missing(f.path.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataError::Missing(f.path.clone()))
            }
            Err(source) => {
                return Err(DataError::Io {
                    path: f.path.clone(),
                    source,
                })
            }
        }
    }
    Ok(files)
}

/// A run of consecutive labels read from one file.
#[derive(Debug)]
pub struct Batch {
    /// Index of the first label in `data`.
    pub first_label: u64,
    /// Whole labels, 16 bytes each.
    pub data: Vec<u8>,
}

/// Reads the files one after the other in batches of at most `batch_bytes` (whole labels).
///
/// One sequential reader keeps the disk streaming; callers spread the batches over threads.
#[derive(Debug)]
pub struct BatchReader {
    files: std::vec::IntoIter<DataFile>,
    current: Option<(File, DataFile, u64)>,
    batch_bytes: usize,
    failed: bool,
}

impl BatchReader {
    /// A reader over `files` (from [`check_files`]).
    pub fn new(files: Vec<DataFile>, batch_bytes: usize) -> Self {
        let batch_bytes = (batch_bytes / LABEL_SIZE).max(1) * LABEL_SIZE;
        Self {
            files: files.into_iter(),
            current: None,
            batch_bytes,
            failed: false,
        }
    }
}

impl Iterator for BatchReader {
    type Item = Result<Batch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if self.current.is_none() {
                let f = self.files.next()?;
                match File::open(&f.path) {
                    Ok(file) => self.current = Some((file, f, 0)),
                    Err(source) => {
                        self.failed = true;
                        return Some(Err(DataError::Io {
                            path: f.path,
                            source,
                        }));
                    }
                }
            }
            let (file, info, offset) = self.current.as_mut()?;
            let remaining = info.size - *offset;
            if remaining == 0 {
                self.current = None;
                continue;
            }
            let len = (self.batch_bytes as u64).min(remaining) as usize;
            let mut data = vec![0u8; len];
            if let Err(e) = file.read_exact(&mut data) {
                self.failed = true;
                let err = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    DataError::WrongSize {
                        path: info.path.clone(),
                        expected: info.size,
                        actual: std::fs::metadata(&info.path).map(|m| m.len()).unwrap_or(0),
                    }
                } else {
                    DataError::Io {
                        path: info.path.clone(),
                        source: e,
                    }
                };
                return Some(Err(err));
            }
            let first_label = info.first_label + *offset / LABEL_SIZE as u64;
            *offset += len as u64;
            return Some(Ok(Batch { first_label, data }));
        }
    }
}

/// A stored label differs from the one the metadata's identity gives.
#[derive(Debug, thiserror::Error)]
#[error("label {index} in {path} does not match the identity and commitment in the metadata")]
pub struct LabelMismatch {
    pub path: PathBuf,
    pub index: u64,
}

/// Errors of [`check_labels`].
#[derive(Debug, thiserror::Error)]
pub enum CheckLabelsError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Mismatch(#[from] LabelMismatch),
}

/// Recomputes the labels at `indices` and compares them with the stored ones, so data whose
/// metadata names another identity or commitment ATX is caught before proving.
pub fn check_labels(
    dir: &Path,
    meta: &PostMetadata,
    scrypt: crate::scrypt::ScryptParams,
    indices: impl IntoIterator<Item = u64>,
) -> Result<(), CheckLabelsError> {
    use std::io::{Seek, SeekFrom};
    let files = check_files(dir, meta)?;
    let mut labeler = crate::label::Labeler::new(
        crate::label::commitment(&meta.node_id, &meta.commitment_atx_id),
        scrypt,
    );
    let per_file = meta.labels_per_file();
    for index in indices {
        let Some(f) = files.get((index / per_file) as usize) else {
            continue;
        };
        let io = |source| DataError::Io {
            path: f.path.clone(),
            source,
        };
        let mut file = File::open(&f.path).map_err(io)?;
        file.seek(SeekFrom::Start((index - f.first_label) * LABEL_SIZE as u64))
            .map_err(io)?;
        let mut stored = [0u8; LABEL_SIZE];
        file.read_exact(&mut stored).map_err(io)?;
        if stored != labeler.label(index) {
            return Err(LabelMismatch {
                path: f.path.clone(),
                index,
            }
            .into());
        }
    }
    Ok(())
}

//! Initialization: computing labels on the CPU with rayon into `postdata_N.bin`, resumably.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::data::{file_name, layout};
use crate::label::{commitment, Labeler, LABEL_SIZE};
use crate::metadata::{MetadataError, PostMetadata, METADATA_FILE};
use crate::scrypt::ScryptParams;

/// Default size of every data file but the last (Go `post`'s default): 4 GiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 4 << 30;

/// What to initialize.
#[derive(Debug, Clone, Copy)]
pub struct InitOptions {
    pub node_id: [u8; 32],
    pub commitment_atx_id: [u8; 32],
    pub labels_per_unit: u64,
    pub num_units: u32,
    /// Bytes per data file; a multiple of 16.
    pub max_file_size: u64,
    pub scrypt: ScryptParams,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
}

/// Progress of an initialization, reported after every batch written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProgress {
    pub labels_done: u64,
    pub total_labels: u64,
}

/// Errors from [`init`]; each names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("{path} belongs to other data: its {field} differs from the requested one")]
    Mismatch { path: PathBuf, field: &'static str },
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("starting the thread pool: {0}")]
    ThreadPool(String),
    #[error("initialization was stopped; run it again to continue")]
    Stopped,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> InitError + '_ {
    move |source| InitError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates (or finishes) the PoST data for one identity in `dir`.
///
/// Resumable: after every batch the labels are flushed and the metadata records
/// `LastPosition` and the best VRF `Nonce` so far; a later call with the same options
/// continues from there (a call for finished data returns its metadata at once). On
/// completion `LastPosition` is removed, as the reference initializer leaves it. The
/// scrypt parameters are not recorded in the metadata, so resume with the same ones.
/// Setting `stop` ends the run after the batch in progress with [`InitError::Stopped`].
pub fn init(
    dir: &Path,
    opts: &InitOptions,
    progress: &(dyn Fn(InitProgress) + Sync),
    stop: &AtomicBool,
) -> Result<PostMetadata, InitError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let meta_path = dir.join(METADATA_FILE);
    let mut meta = PostMetadata {
        node_id: opts.node_id,
        commitment_atx_id: opts.commitment_atx_id,
        labels_per_unit: opts.labels_per_unit,
        num_units: opts.num_units,
        max_file_size: opts.max_file_size,
        nonce: None,
        last_position: Some(0),
    };
    meta.validate(&meta_path)?;
    let total = meta.total_labels();
    let commit = commitment(&opts.node_id, &opts.commitment_atx_id);
    let mut labeler = Labeler::new(commit, opts.scrypt);

    let mut done = 0u64;
    let mut best: Option<(u64, [u8; 32])> = None;
    if meta_path.exists() {
        let old = PostMetadata::load(dir)?;
        for (field, same) in [
            ("NodeId", old.node_id == meta.node_id),
            (
                "CommitmentAtxId",
                old.commitment_atx_id == meta.commitment_atx_id,
            ),
            ("LabelsPerUnit", old.labels_per_unit == meta.labels_per_unit),
            ("NumUnits", old.num_units == meta.num_units),
            ("MaxFileSize", old.max_file_size == meta.max_file_size),
        ] {
            if !same {
                return Err(InitError::Mismatch {
                    path: meta_path,
                    field,
                });
            }
        }
        let present = labels_present(dir, &meta);
        match (old.last_position, old.nonce) {
            (None, Some(_)) if present == total => {
                progress(InitProgress {
                    labels_done: total,
                    total_labels: total,
                });
                return Ok(old);
            }
            (Some(pos), Some(nonce)) if pos > 0 => {
                done = pos.min(present);
                best = Some((nonce, labeler.output(nonce)));
            }
            _ => {}
        }
    }

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| InitError::ThreadPool(e.to_string()))?;
    // Aim for batches of a few seconds: label cost grows with N.
    let batch_labels = ((1u64 << 22) / opts.scrypt.n()).max(256);

    for file in layout(dir, &meta) {
        let labels_in_file = file.size / LABEL_SIZE as u64;
        let end = file.first_label + labels_in_file;
        if done >= end {
            continue;
        }
        if stop.load(Ordering::Relaxed) {
            return Err(InitError::Stopped);
        }
        let mut out = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&file.path)
            .map_err(io_err(&file.path))?;
        out.set_len((done - file.first_label) * LABEL_SIZE as u64)
            .map_err(io_err(&file.path))?;
        out.seek(SeekFrom::End(0)).map_err(io_err(&file.path))?;
        while done < end {
            if stop.load(Ordering::Relaxed) {
                return Err(InitError::Stopped);
            }
            let stop = (done + batch_labels).min(end);
            let outputs: Vec<[u8; 32]> = pool.install(|| {
                (0..(stop - done) as usize)
                    .into_par_iter()
                    .with_min_len(16)
                    .map_init(
                        || Labeler::new(commit, opts.scrypt),
                        |l, i| l.output(done + i as u64),
                    )
                    .collect()
            });
            let mut bytes = Vec::with_capacity(outputs.len() * LABEL_SIZE);
            for (index, output) in (done..stop).zip(&outputs) {
                if best.is_none_or(|(_, b)| *output < b) {
                    best = Some((index, *output));
                }
                bytes.extend_from_slice(&output[..LABEL_SIZE]);
            }
            out.write_all(&bytes).map_err(io_err(&file.path))?;
            out.sync_data().map_err(io_err(&file.path))?;
            done = stop;
            meta.nonce = best.map(|(i, _)| i);
            meta.last_position = Some(done);
            meta.save(dir)?;
            progress(InitProgress {
                labels_done: done,
                total_labels: total,
            });
        }
    }
    meta.last_position = None;
    meta.save(dir)?;
    Ok(meta)
}

/// How many leading labels are on disk: whole files in order, then the part of the first short one.
fn labels_present(dir: &Path, meta: &PostMetadata) -> u64 {
    let mut labels = 0;
    for k in 0..meta.num_files() {
        let expected = meta.file_size(k);
        let actual = std::fs::metadata(dir.join(file_name(k)))
            .map(|m| m.len())
            .unwrap_or(0);
        labels += actual.min(expected) / LABEL_SIZE as u64;
        if actual < expected {
            break;
        }
    }
    labels
}

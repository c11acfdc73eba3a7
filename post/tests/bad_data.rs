//! Bad data is a clear error naming the file; init resumes after a stop; nothing panics.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use post::data::{check_labels, CheckLabelsError};
use post::{
    generate_proof, InitError, InitOptions, MetadataError, NoProgress, PostMetadata, ProofConfig,
    ProveError, ProvingOptions, RandomX, RandomXMode, ScryptParams,
};

fn opts() -> InitOptions {
    InitOptions {
        node_id: [1; 32],
        commitment_atx_id: [2; 32],
        labels_per_unit: 256,
        num_units: 2,
        max_file_size: 16 * 128,
        scrypt: ScryptParams::new(16, 1, 1).unwrap(),
        threads: 1,
    }
}

fn init(dir: &Path, o: &InitOptions) -> PostMetadata {
    post::init(dir, o, &|_| {}, &AtomicBool::new(false)).unwrap()
}

/// Proving errors that come before any k2pow; the pool is never asked for work.
fn prove_err(dir: &Path, nonces: u32) -> ProveError {
    let rx = RandomX::new(RandomXMode::Light, 1).unwrap();
    generate_proof(
        dir,
        &[0; 32],
        &ProofConfig {
            k1: 4,
            k2: 6,
            pow_difficulty: [0xff; 32],
        },
        &ProvingOptions {
            nonces,
            threads: 1,
            batch_bytes: 1024,
        },
        &rx,
        &NoProgress,
        &AtomicBool::new(false),
    )
    .unwrap_err()
}

#[test]
fn proving_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = prove_err(dir.path(), 16);
    assert!(matches!(
        err,
        ProveError::Metadata(MetadataError::Read { .. })
    ));
    assert!(err.to_string().contains("postdata_metadata.json"), "{err}");

    init(dir.path(), &opts());
    std::fs::remove_file(dir.path().join("postdata_2.bin")).unwrap();
    let err = prove_err(dir.path(), 16).to_string();
    assert!(
        err.contains("postdata_2.bin") && err.contains("missing"),
        "{err}"
    );

    init(dir.path(), &opts());
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("postdata_1.bin"))
        .unwrap();
    f.set_len(100).unwrap();
    let err = prove_err(dir.path(), 16).to_string();
    assert!(
        err.contains("postdata_1.bin") && err.contains("100 bytes"),
        "{err}"
    );

    assert!(matches!(
        prove_err(dir.path(), 17),
        ProveError::BadNonces(17)
    ));
    assert!(matches!(prove_err(dir.path(), 0), ProveError::BadNonces(0)));

    std::fs::write(dir.path().join("postdata_metadata.json"), b"{not json").unwrap();
    let err = prove_err(dir.path(), 16);
    assert!(matches!(
        err,
        ProveError::Metadata(MetadataError::Parse { .. })
    ));
    assert!(err.to_string().contains("postdata_metadata.json"));
}

#[test]
fn metadata_for_another_identity_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts();
    let meta = init(dir.path(), &o);

    let mut other = o;
    other.node_id = [9; 32];
    let err = post::init(dir.path(), &other, &|_| {}, &AtomicBool::new(false)).unwrap_err();
    assert!(matches!(
        err,
        InitError::Mismatch {
            field: "NodeId",
            ..
        }
    ));
    assert!(err.to_string().contains("postdata_metadata.json"));

    let err = PostMetadata::load_for(dir.path(), &[9; 32], &o.commitment_atx_id).unwrap_err();
    assert!(
        err.to_string().contains("postdata_metadata.json") && err.to_string().contains("NodeId")
    );
    let err = PostMetadata::load_for(dir.path(), &o.node_id, &[9; 32]).unwrap_err();
    assert!(err.to_string().contains("CommitmentAtxId"));
    PostMetadata::load_for(dir.path(), &o.node_id, &o.commitment_atx_id).unwrap();

    // Metadata edited to name another commitment ATX: the stored labels give it away.
    check_labels(dir.path(), &meta, o.scrypt, [0, 200, 511]).unwrap();
    let mut edited = meta;
    edited.commitment_atx_id = [3; 32];
    edited.save(dir.path()).unwrap();
    let err = check_labels(dir.path(), &edited, o.scrypt, [300]).unwrap_err();
    assert!(matches!(err, CheckLabelsError::Mismatch(_)));
    assert!(err.to_string().contains("postdata_2.bin"), "{err}");
}

#[test]
fn init_resumes_after_stop_and_after_truncation() {
    let reference = tempfile::tempdir().unwrap();
    let o = opts();
    let full = init(reference.path(), &o);

    let dir = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let seen = std::sync::Mutex::new(Vec::new());
    let err = post::init(
        dir.path(),
        &o,
        &|p| {
            seen.lock().unwrap().push(p.labels_done);
            stop.store(true, Ordering::Relaxed);
        },
        &stop,
    )
    .unwrap_err();
    assert!(matches!(err, InitError::Stopped));
    assert_eq!(*seen.lock().unwrap(), vec![128]);
    let partial = PostMetadata::load(dir.path()).unwrap();
    assert_eq!(partial.last_position, Some(128));
    assert!(!dir.path().join("postdata_1.bin").exists());

    // A half-written file is cut back to what the metadata vouches for, then completed.
    std::fs::write(dir.path().join("postdata_1.bin"), [0xAB; 40]).unwrap();
    let resumed = post::init(dir.path(), &o, &|_| {}, &AtomicBool::new(false)).unwrap();
    assert_eq!(resumed, full);
    for k in 0..4 {
        let name = format!("postdata_{k}.bin");
        assert_eq!(
            std::fs::read(dir.path().join(&name)).unwrap(),
            std::fs::read(reference.path().join(&name)).unwrap(),
            "{name}"
        );
    }
    // Finished data: a further call returns at once with the same metadata.
    assert_eq!(init(dir.path(), &o), full);

    // Truncated last file with a crash before the metadata noticed: resumes from the data.
    let mut meta = full;
    meta.last_position = Some(512);
    meta.save(dir.path()).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("postdata_3.bin"))
        .unwrap()
        .set_len(16 * 10)
        .unwrap();
    assert_eq!(init(dir.path(), &o), full);
    assert_eq!(
        std::fs::read(dir.path().join("postdata_3.bin")).unwrap(),
        std::fs::read(reference.path().join("postdata_3.bin")).unwrap()
    );
}

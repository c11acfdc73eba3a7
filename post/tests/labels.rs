//! Every case of post_labels.json (labels, file digests, VRF nonce, metadata) reproduced by `init`.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use serde_json::Value;
use sha2::{Digest, Sha256};

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn cases() -> Vec<Value> {
    let text = include_str!("data/post_labels.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

fn opts(case: &Value) -> post::InitOptions {
    post::InitOptions {
        node_id: hex32(&case["node_id"]),
        commitment_atx_id: hex32(&case["commitment_atx_id"]),
        labels_per_unit: case["labels_per_unit"].as_u64().unwrap(),
        num_units: case["num_units"].as_u64().unwrap() as u32,
        max_file_size: case["max_file_size"].as_u64().unwrap(),
        scrypt: post::ScryptParams::new(case["scrypt_n"].as_u64().unwrap(), 1, 1).unwrap(),
        threads: 2,
    }
}

fn check_dir(dir: &Path, case: &Value) {
    let mut all = Sha256::new();
    for f in case["files"].as_array().unwrap() {
        let bytes = std::fs::read(dir.join(f["name"].as_str().unwrap())).unwrap();
        assert_eq!(bytes.len() as u64, f["bytes"].as_u64().unwrap());
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            f["sha256"].as_str().unwrap()
        );
        all.update(&bytes);
    }
    assert_eq!(
        hex::encode(all.finalize()),
        case["sha256_all_labels"].as_str().unwrap()
    );
    let written: Value =
        serde_json::from_slice(&std::fs::read(dir.join(post::METADATA_FILE)).unwrap()).unwrap();
    assert_eq!(written, case["metadata_json"]);
}

#[test]
fn labels_match_reference() {
    for case in cases() {
        let o = opts(&case);
        let c = post::commitment(&o.node_id, &o.commitment_atx_id);
        let mut labeler = post::Labeler::new(c, o.scrypt);
        for (index, expected) in case["labels"].as_object().unwrap() {
            let index: u64 = index.parse().unwrap();
            assert_eq!(
                hex::encode(labeler.label(index)),
                expected.as_str().unwrap()
            );
        }
        let total = o.labels_per_unit * u64::from(o.num_units);
        let nonce = case["vrf_nonce"].as_u64().unwrap();
        assert!(post::vrf_nonce_is_valid(&c, o.scrypt, nonce, total));
        assert!(!post::vrf_nonce_is_valid(&c, o.scrypt, total, total));
        // The nonce is the first index of the smallest full output; most others fail the rule.
        let outputs: Vec<[u8; 32]> = (0..total).map(|i| labeler.output(i)).collect();
        let min = outputs.iter().min().unwrap();
        assert_eq!(outputs.iter().position(|o| o == min), Some(nonce as usize));
        let threshold = post::vrf_difficulty(total);
        let invalid = outputs.iter().filter(|o| **o >= threshold).count();
        assert!(
            invalid > 0
                && !post::vrf_nonce_is_valid(
                    &c,
                    o.scrypt,
                    outputs.iter().position(|o| *o >= threshold).unwrap() as u64,
                    total
                )
        );
    }
}

#[test]
fn init_reproduces_reference_files_and_metadata() {
    for case in cases() {
        let dir = tempfile::tempdir().unwrap();
        let meta = post::init(dir.path(), &opts(&case), &|_| {}, &AtomicBool::new(false)).unwrap();
        assert_eq!(meta.nonce, case["vrf_nonce"].as_u64());
        check_dir(dir.path(), &case);
        // Reading back what the reference wrote gives the same metadata.
        let read: post::PostMetadata =
            serde_json::from_value(case["metadata_json"].clone()).unwrap();
        assert_eq!(read, meta);
    }
}

//! The go-spacemesh reference vectors (genesis.json, signing.json in tests/data) reproduced exactly.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use signing::identity::{load_dir, KeyFileError};
use signing::verifier::{verify_raw, verify_raw_batch, BatchItem};
use signing::{Domain, Genesis, GenesisError, Identity, NodeId, Signature, Signer, Verifier};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn hx(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(s(v, key)).unwrap()
}

fn arr<const N: usize>(v: &Value, key: &str) -> [u8; N] {
    hx(v, key).try_into().unwrap()
}

#[test]
fn genesis_cases() {
    let data = load("genesis.json");
    let cases = data["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let g = Genesis::new(s(case, "genesis_time"), s(case, "genesis_extra_data"))
            .unwrap_or_else(|e| panic!("{}: {e}", s(case, "description")));
        assert_eq!(hex::encode(g.golden_atx()), s(case, "golden_atx"), "{case}");
        assert_eq!(g.genesis_id().to_hex(), s(case, "genesis_id"), "{case}");
    }
    let invalid = data["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 3);
    for case in invalid {
        let err = Genesis::new(s(case, "genesis_time"), s(case, "genesis_extra_data"))
            .expect_err(s(case, "description"));
        let go = s(case, "validate_error");
        let text = err.to_string();
        match err {
            GenesisError::EmptyExtraData => {
                assert!(text.contains("wait until genesis-extra-data is available"));
                assert!(go.contains("wait until genesis-extra-data is available"));
            }
            GenesisError::ExtraDataTooLong { len } => {
                assert_eq!(len, 256);
                assert!(go.starts_with("extra-data is longer than 255 symbols"));
                assert!(text.contains("extra-data is longer than 255 symbols"));
            }
            GenesisError::BadTime { input, .. } => {
                assert_eq!(input, s(case, "genesis_time"));
                assert!(go.starts_with("can't parse genesis time"));
                assert!(text.starts_with("can't parse genesis time"));
            }
        }
    }
}

#[test]
fn signatures_in_every_domain() {
    let data = load("signing.json");
    let cases = data["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 54);
    let mut domains_seen = HashSet::new();
    let mut batch: Vec<(NodeId, Domain, Vec<u8>, Signature)> = Vec::new();
    for case in cases {
        let desc = s(case, "description");
        let seed: [u8; 32] = arr(case, "seed");
        let identity = Arc::new(Identity::from_seed(&seed, "vector.key"));
        assert_eq!(identity.hex(), s(case, "node_id"), "{desc}");
        let prefix = hx(case, "prefix");
        let domain = Domain(u8::try_from(case["domain"].as_u64().unwrap()).unwrap());
        assert_eq!(domain.name(), s(case, "domain_name"), "{desc}");
        domains_seen.insert(domain);
        let msg = hx(case, "message");
        let signer = Signer::new(identity.clone(), &prefix);
        assert_eq!(
            signer.preimage(domain, &msg),
            hx(case, "signed_preimage"),
            "{desc}"
        );
        let sig = signer.sign(domain, &msg);
        assert_eq!(sig.to_hex(), s(case, "signature"), "{desc}");

        let node_id = identity.node_id();
        let verify = |prefix: &[u8], domain: Domain| {
            Verifier::new(prefix).verify(domain, &node_id, &msg, &sig)
        };
        assert_eq!(
            verify(&prefix, domain),
            case["verify"].as_bool().unwrap(),
            "{desc}"
        );
        let other_expected = case["verify_other_domain"].as_bool().unwrap();
        // The next defined domain and an unused byte (each verify is costly in debug builds).
        let pos = Domain::ALL.iter().position(|d| *d == domain).unwrap();
        let next = Domain::ALL[(pos + 1) % Domain::ALL.len()];
        for other in [next, Domain(6)] {
            assert_eq!(verify(&prefix, other), other_expected, "{desc} as {other}");
        }
        assert_eq!(
            verify(&[], domain),
            case["verify_without_prefix"].as_bool().unwrap(),
            "{desc}"
        );
        assert_eq!(
            verify(&[0; 20], domain),
            case["verify_zero_prefix"].as_bool().unwrap(),
            "{desc}"
        );
        batch.push((node_id, domain, msg, sig));
    }
    assert_eq!(domains_seen.len(), Domain::ALL.len());
    assert!(Domain::ALL.iter().all(|d| domains_seen.contains(d)));

    // Batch verification gives the same answers, also with some signatures broken.
    let prefix = hx(&cases[0], "prefix");
    let verifier = Verifier::new(&prefix);
    for broken in [vec![], vec![0usize], vec![3, 17, 53]] {
        let sigs: Vec<Signature> = batch
            .iter()
            .enumerate()
            .map(|(i, (_, _, _, sig))| {
                let mut sig = *sig;
                if broken.contains(&i) {
                    sig.0[33] ^= 0x10;
                }
                sig
            })
            .collect();
        let items: Vec<BatchItem<'_>> = batch
            .iter()
            .zip(&sigs)
            .map(|((node_id, domain, msg, _), sig)| BatchItem {
                domain: *domain,
                node_id,
                message: msg,
                signature: sig,
            })
            .collect();
        let expected: Vec<bool> = (0..batch.len()).map(|i| !broken.contains(&i)).collect();
        assert_eq!(verifier.verify_batch(&items), expected, "broken {broken:?}");
    }
}

#[test]
fn keys_section() {
    let data = load("signing.json");
    for key in data["keys"].as_array().unwrap() {
        let id = Identity::parse_key_file("k.key", s(key, "key_file_content").as_bytes()).unwrap();
        assert_eq!(id.hex(), s(key, "node_id"));
        let from_seed = Identity::from_seed(&arr(key, "seed"), "k.key");
        assert_eq!(from_seed.node_id(), id.node_id());
        assert_eq!(s(key, "private_key"), s(key, "key_file_content"));
    }
}

#[test]
fn key_file_parsing() {
    let data = load("signing.json");
    let files = data["key_files"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    for case in files {
        let desc = s(case, "description");
        let content = hx(case, "file_content_hex");
        let result = Identity::parse_key_file("id.key", &content);
        if case["ok"].as_bool().unwrap() {
            let id = result.unwrap_or_else(|e| panic!("{desc}: {e}"));
            assert_eq!(id.hex(), s(case, "node_id"), "{desc}");
            assert_eq!(id.file_name(), s(case, "name"), "{desc}");
            continue;
        }
        let err = result.expect_err(desc);
        let go = s(case, "error");
        let text = err.to_string();
        assert!(text.contains("id.key"), "{desc}: {text}");
        match &err {
            KeyFileError::TrailingNewline { .. } => assert!(go.ends_with("U+000A"), "{desc}"),
            KeyFileError::WrongLength { bytes, .. } => {
                let wanted = format!("invalid key size {bytes}/64");
                assert!(go.starts_with(&wanted), "{desc}: {go}");
                assert!(text.contains(&wanted), "{desc}: {text}");
            }
            KeyFileError::PublicMismatch { .. } => {
                assert_eq!(go, "private and public do not match");
                assert!(text.contains(go), "{desc}: {text}");
            }
            other => panic!("{desc}: unexpected {other}"),
        }
    }

    // The same files in one folder: every bad one is reported, and the two good ones (same
    // key, once lowercase and once uppercase) are a duplicate naming both files.
    let dir = tempfile::tempdir().unwrap();
    for (i, case) in files.iter().enumerate() {
        std::fs::write(
            dir.path().join(format!("case{i}.key")),
            hx(case, "file_content_hex"),
        )
        .unwrap();
    }
    let err = load_dir(dir.path()).unwrap_err();
    assert_eq!(err.problems.len(), 5, "{err}");
    let dup = err
        .problems
        .iter()
        .find(|p| matches!(p, KeyFileError::Duplicate { .. }))
        .expect("duplicate reported");
    let text = dup.to_string();
    assert!(
        text.contains("case0.key") && text.contains("case2.key"),
        "{text}"
    );
}

/// Public key, message, signature, and whether voi's default verification accepts it.
type SpeccheckCase = ([u8; 32], Vec<u8>, [u8; 64], bool);

#[test]
fn speccheck_edge_cases_follow_voi_defaults() {
    let data = load("signing.json");
    let cases = data["speccheck"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    let parsed: Vec<SpeccheckCase> = cases
        .iter()
        .map(|c| {
            (
                arr(c, "pub_key"),
                hx(c, "message"),
                arr(c, "signature"),
                c["voi_default_verify"].as_bool().unwrap(),
            )
        })
        .collect();
    for (i, (pk, msg, sig, expected)) in parsed.iter().enumerate() {
        assert_eq!(verify_raw(pk, msg, sig), *expected, "speccheck case {i}");
    }
    let items: Vec<(&[u8; 32], &[u8], &[u8; 64])> = parsed
        .iter()
        .map(|(pk, msg, sig, _)| (pk, msg.as_slice(), sig))
        .collect();
    let expected: Vec<bool> = parsed.iter().map(|p| p.3).collect();
    assert_eq!(verify_raw_batch(&items), expected);
    // Only the accepted ones, so the batch equation itself (not the encoding checks) decides.
    let good: Vec<_> = items
        .iter()
        .zip(&expected)
        .filter(|(_, e)| **e)
        .map(|(i, _)| *i)
        .collect();
    assert!(good.len() >= 2);
    assert!(verify_raw_batch(&good).iter().all(|ok| *ok));
}

//! Every case of `tests/data/vrf.json` (go-spacemesh's VRF signer and voi's RFC vectors).

use eligibility::vrf::{self, VrfSecretKey};
use serde_json::Value;

fn data() -> Value {
    serde_json::from_str(include_str!("data/vrf.json")).expect("vrf.json parses")
}

fn bytes<const N: usize>(v: &Value) -> [u8; N] {
    let raw = hex::decode(v.as_str().expect("hex string")).expect("valid hex");
    raw.try_into().expect("length")
}

fn alpha(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

#[test]
fn spacemesh_cases() {
    let data = data();
    let cases = data["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 12);
    for case in cases {
        let name = case["description"].as_str().unwrap_or_default();
        let seed: [u8; 32] = bytes(&case["seed"]);
        let public: [u8; 32] = bytes(&case["public_key"]);
        let msg = alpha(&case["alpha"]);
        let want: [u8; 80] = bytes(&case["proof"]);
        let sk = VrfSecretKey::from_seed(&seed);
        assert_eq!(sk.public_key(), public, "{name}: public key");
        let pi = sk.prove(&msg);
        assert_eq!(hex::encode(pi), hex::encode(want), "{name}: proof");
        assert_eq!(vrf::prove(&seed, &msg), want, "{name}: prove()");

        assert_eq!(
            vrf::verify(&public, &msg, &want),
            case["verify"].as_bool().expect("bool"),
            "{name}: verify"
        );
        let mut tampered = want;
        tampered[40] ^= 0x01;
        assert_eq!(
            vrf::verify(&public, &msg, &tampered),
            case["verify_tampered_c_byte40"].as_bool().expect("bool"),
            "{name}: tampered c"
        );
        let beta: [u8; 64] = bytes(&case["beta_proof_to_hash"]);
        assert_eq!(vrf::proof_to_hash(&want), Some(beta), "{name}: beta");

        // The draft-10 proof shares Γ but must neither match nor verify.
        let old: [u8; 80] = bytes(&case["draft_v10_proof_NOT_USED"]);
        assert_eq!(old[..32], want[..32], "{name}: draft-10 shares gamma");
        assert_ne!(old, pi, "{name}: draft-10 differs");
        assert!(
            !vrf::verify(&public, &msg, &old),
            "{name}: draft-10 rejected"
        );
    }
}

#[test]
fn wrong_key_is_rejected() {
    let data = data();
    let cases = data["cases"].as_array().expect("cases");
    for (i, case) in cases.iter().enumerate() {
        let msg = alpha(&case["alpha"]);
        let proof: [u8; 80] = bytes(&case["proof"]);
        let own: [u8; 32] = bytes(&case["public_key"]);
        // Any other identity's key from the file is a wrong key.
        let other = cases
            .iter()
            .map(|c| bytes::<32>(&c["public_key"]))
            .find(|k| *k != own)
            .expect("several keys");
        assert_eq!(
            vrf::verify(&other, &msg, &proof),
            case["verify_wrong_key"].as_bool().expect("bool"),
            "case {i}"
        );
    }
}

#[test]
fn rfc_vectors() {
    let data = data();
    let vectors = data["voi_ietf_vectors"].as_array().expect("vectors");
    assert_eq!(vectors.len(), 6);
    let mut current = 0;
    for v in vectors {
        let seed: [u8; 32] = bytes(&v["sk_seed"]);
        let public: [u8; 32] = bytes(&v["pk"]);
        let msg = alpha(&v["alpha"]);
        let pi: [u8; 80] = bytes(&v["pi"]);
        let beta: [u8; 64] = bytes(&v["beta"]);
        let used = v["semantics"]
            .as_str()
            .expect("semantics")
            .contains("what go-spacemesh uses");
        let sk = VrfSecretKey::from_seed(&seed);
        assert_eq!(sk.public_key(), public);
        // Same Γ either way, hence the same output hash.
        assert_eq!(vrf::proof_to_hash(&pi), Some(beta));
        if used {
            current += 1;
            assert_eq!(sk.prove(&msg), pi);
            assert!(vrf::verify(&public, &msg, &pi));
        } else {
            assert_ne!(sk.prove(&msg), pi);
            assert!(!vrf::verify(&public, &msg, &pi));
        }
    }
    assert_eq!(current, 3);
}

#[test]
fn fraction_bytes_are_the_first_seven_proof_bytes() {
    let data = data();
    for case in data["cases"].as_array().expect("cases") {
        let proof: [u8; 80] = bytes(&case["proof"]);
        let frac: [u8; 16] = bytes(&case["vrf_frac"]["bytes_le16"]);
        assert_eq!(frac[..7], proof[..7]);
        assert!(frac[7..].iter().all(|b| *b == 0));
    }
}

//! Reproduces the reference vectors in `tests/data/` (produced by go-scale and go-spacemesh).

use codec::{
    from_slice, merkle, to_vec, Beacon, DecodeError, Decoder, Hash32, MerkleProofV1,
    PostMetadataV1, VrfMessage,
};
use serde_json::Value as Json;

fn load(name: &str) -> Json {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bytes(v: &Json) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn uint(v: &Json) -> u64 {
    v.as_str()
        .map(|s| s.parse().expect("decimal"))
        .or_else(|| v.as_u64())
        .expect("number")
}

/// Decodes with one compact width, as go-scale's `DecodeCompactN` does on a bare reader
/// (no trailing-byte check), returning the value and bytes consumed.
fn decode_compact(ty: &str, input: &[u8]) -> Result<(u64, usize), DecodeError> {
    let mut d = Decoder::new(input);
    let v = match ty {
        "compact8" => u64::from(d.compact8()?),
        "compact16" => u64::from(d.compact16()?),
        "compact32" => u64::from(d.compact32()?),
        "compact64" => d.compact64()?,
        other => panic!("unknown type {other}"),
    };
    Ok((v, d.position()))
}

fn encode_compact(ty: &str, value: u64) -> Vec<u8> {
    let mut e = codec::Encoder::new();
    match ty {
        "compact8" => e.compact8(u8::try_from(value).unwrap()),
        "compact16" => e.compact16(u16::try_from(value).unwrap()),
        "compact32" => e.compact32(u32::try_from(value).unwrap()),
        "compact64" => e.compact64(value),
        other => panic!("unknown type {other}"),
    }
    e.into_bytes()
}

#[test]
fn compact_encode_cases() {
    let data = load("scale_compact.json");
    let cases = data["encode"].as_array().unwrap();
    assert!(cases.len() >= 40);
    for c in cases {
        let ty = c["type"].as_str().unwrap();
        let value = uint(&c["value"]);
        let expected = bytes(&c["encoded"]);
        assert_eq!(encode_compact(ty, value), expected, "{}", c["description"]);
        // Every canonical encoding decodes back, with nothing left over.
        assert_eq!(
            decode_compact(ty, &expected),
            Ok((value, expected.len())),
            "{}",
            c["description"]
        );
        // And the typed entry points agree.
        let via_from_slice = match ty {
            "compact8" => from_slice::<u8>(&expected).map(u64::from),
            "compact16" => from_slice::<u16>(&expected).map(u64::from),
            "compact32" => from_slice::<u32>(&expected).map(u64::from),
            _ => from_slice::<u64>(&expected),
        };
        assert_eq!(via_from_slice, Ok(value));
    }
}

#[test]
fn compact_decode_cases() {
    let data = load("scale_compact.json");
    let cases = data["decode"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for c in cases {
        let ty = c["type"].as_str().unwrap();
        let input = bytes(&c["input"]);
        let got = decode_compact(ty, &input);
        if c["ok"].as_bool().unwrap() {
            let want = (uint(&c["value"]), c["consumed"].as_u64().unwrap() as usize);
            assert_eq!(got, Ok(want), "{}", c["description"]);
        } else {
            let err = got.expect_err(c["description"].as_str().unwrap());
            assert_eq!(
                err.to_string(),
                c["error"].as_str().unwrap(),
                "{}",
                c["description"]
            );
        }
    }
}

/// The `other` section: bool, option and limit behaviour, through go-spacemesh's
/// `codec.Decode`, whose errors all read `decode from buffer: <inner>`.
fn go_codec_error_text(e: &DecodeError) -> String {
    format!("decode from buffer: {e}")
}

#[test]
fn other_cases() {
    let data = load("scale_compact.json");
    let cases = data["other"].as_array().unwrap();
    let mut seen = 0;
    for c in cases {
        let desc = c["description"].as_str().unwrap();
        match c["kind"].as_str().unwrap() {
            "bool" => {
                let input = bytes(&c["input"]);
                assert_eq!(
                    from_slice::<bool>(&input),
                    Ok(c["value"].as_bool().unwrap()),
                    "{desc}"
                );
            }
            "hare3.Value via codec.Decode" => {
                let input = bytes(&c["input"]);
                let got = from_slice::<codec::hare::Value>(&input);
                if c["ok"].as_bool().unwrap() {
                    let v = got.unwrap_or_else(|e| panic!("{desc}: {e}"));
                    assert_eq!(
                        v.reference.is_none(),
                        c["reference_is_none"].as_bool().unwrap(),
                        "{desc}"
                    );
                    assert_eq!(to_vec(&v), bytes(&c["reencoded"]), "{desc}");
                } else {
                    let e = got.expect_err(desc);
                    assert_eq!(
                        go_codec_error_text(&e),
                        c["error"].as_str().unwrap(),
                        "{desc}"
                    );
                }
            }
            "LayerID" if c.get("encoded").is_some() => {
                let v = u32::try_from(uint(&c["value"])).unwrap();
                assert_eq!(to_vec(&v), bytes(&c["encoded"]), "{desc}");
            }
            "LayerID" => {
                let e = from_slice::<u32>(&bytes(&c["input"])).expect_err(desc);
                assert_eq!(
                    go_codec_error_text(&e),
                    c["error"].as_str().unwrap(),
                    "{desc}"
                );
            }
            "EpochID" => {
                let v = u32::try_from(uint(&c["value"])).unwrap();
                assert_eq!(to_vec(&v), bytes(&c["encoded"]), "{desc}");
            }
            "proposals.VrfMessage" => {
                let m = VrfMessage::Proposal {
                    beacon: Beacon([1, 2, 3, 4]),
                    epoch: 26,
                    nonce: 1 << 40,
                    counter: 0,
                };
                let expected = bytes(&c["encoded"]);
                assert_eq!(to_vec(&m), expected, "{desc}");
                assert_eq!(from_slice::<VrfMessage>(&expected), Ok(m));
            }
            "PostMetadataV1" => {
                let m = PostMetadataV1 {
                    challenge: Vec::new(),
                    labels_per_unit: 1 << 32,
                };
                let expected = bytes(&c["encoded"]);
                assert_eq!(to_vec(&m), expected, "{desc}");
                assert_eq!(from_slice::<PostMetadataV1>(&expected), Ok(m));
            }
            other => panic!("case kind {other} not handled: {desc}"),
        }
        seen += 1;
    }
    assert_eq!(seen, cases.len());
}

#[test]
fn vrf_message_cases() {
    let data = load("vrf_messages.json");
    let cases = data["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for c in cases {
        let beacon = Beacon::from_slice(&bytes(&c["beacon"])).unwrap();
        let m = match c["kind"].as_str().unwrap() {
            "hare" => VrfMessage::Hare {
                beacon,
                round: uint(&c["round"]) as u32,
                layer: uint(&c["layer"]) as u32,
            },
            _ => VrfMessage::Proposal {
                beacon,
                epoch: uint(&c["epoch"]) as u32,
                nonce: uint(&c["nonce"]),
                counter: uint(&c["counter"]) as u32,
            },
        };
        let expected = bytes(&c["encoded"]);
        assert_eq!(to_vec(&m), expected, "{}", c["description"]);
        assert_eq!(from_slice::<VrfMessage>(&expected), Ok(m));
    }
}

#[test]
fn poet_membership_roots_and_proofs() {
    let data = load("poet_membership.json");
    let trees = data["membership"].as_array().unwrap();
    assert!(trees.len() >= 5);
    let mut encoded_proofs = 0;
    for t in trees {
        let members: Vec<Vec<u8>> = t["members"].as_array().unwrap().iter().map(bytes).collect();
        assert_eq!(
            merkle::root(&members),
            bytes(&t["root"]),
            "{}",
            t["description"]
        );
        for p in t["proofs"].as_array().unwrap() {
            let Some(enc) = p.get("scale_merkle_proof") else {
                continue;
            };
            let proof = MerkleProofV1 {
                nodes: p["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| Hash32::from_slice(&bytes(n)).unwrap())
                    .collect(),
                leaf_index: p["leaf_index"].as_u64().unwrap(),
            };
            let expected = bytes(enc);
            assert_eq!(to_vec(&proof), expected, "{}", t["description"]);
            assert_eq!(from_slice::<MerkleProofV1>(&expected), Ok(proof));
            encoded_proofs += 1;
        }
    }
    assert!(encoded_proofs >= 19);
}

//! The hare oracle cases of `tests/data/bincdf.json` (counts, count−1/count/count+1
//! validation, the 2^30 edge, an invalid proof) and the VRF messages of `vrf.json`.

use eligibility::hare::{self, HareRound, Weights};
use eligibility::{proposal, EligibilityError, VrfSecretKey};
use serde_json::Value;

fn bytes<const N: usize>(v: &Value) -> [u8; N] {
    let raw = hex::decode(v.as_str().expect("hex string")).expect("valid hex");
    raw.try_into().expect("length")
}

#[test]
fn oracle_cases() {
    let data: Value =
        serde_json::from_str(include_str!("data/bincdf.json")).expect("bincdf.json parses");
    let cases = data["hare_eligibility"].as_array().expect("cases");
    assert_eq!(cases.len(), 9);
    for case in cases {
        let name = case["description"].as_str().expect("description");
        let node_id: [u8; 32] = bytes(&case["node_id"]);
        let proof: [u8; 80] = bytes(&case["proof"]);
        let committee = u32::try_from(case["committee"].as_u64().expect("committee")).expect("u32");
        let weights = Weights {
            miner: case["miner_weight"].as_u64().expect("miner"),
            total: case["total_weight"].as_u64().expect("total"),
        };
        // The invalid-proof case has no beacon: it reuses the first case's round.
        let beacon: [u8; 4] = case
            .get("beacon")
            .map(bytes)
            .unwrap_or([0xde, 0xad, 0xbe, 0xef]);
        let round = HareRound {
            beacon,
            layer: u32::try_from(case["layer"].as_u64().expect("layer")).expect("u32"),
            round: u32::try_from(case["round"].as_u64().expect("round")).expect("u32"),
        };
        if let Some(msg) = case.get("vrf_message") {
            assert_eq!(
                hex::encode(round.vrf_message()),
                msg.as_str().expect("hex"),
                "{name}"
            );
            let seed: [u8; 32] = bytes(&case["seed"]);
            let key = VrfSecretKey::from_seed(&seed);
            assert_eq!(key.public_key(), node_id, "{name}");
            assert_eq!(round.prove(&key), proof, "{name}: proof");
            let frac: [u8; 16] = bytes(&case["vrf_frac"]["bytes_le16"]);
            assert_eq!(
                hare::vrf_fraction(&proof).to_le_bytes(),
                frac,
                "{name}: frac"
            );
        }

        assert!(
            case["calc_error"].is_null(),
            "{name}: no case expects a calc error"
        );
        let want = u16::try_from(case["count"].as_u64().expect("count")).expect("u16");
        assert_eq!(
            hare::calc_verified(&node_id, &round, &proof, weights, committee),
            Ok(want),
            "{name}: count"
        );

        for check in case["validate"].as_array().expect("validate") {
            let count = u16::try_from(check["count"].as_u64().expect("count")).expect("u16");
            let got = hare::validate_verified(&node_id, &round, &proof, count, weights, committee);
            match check["error"].as_str() {
                None => assert_eq!(
                    got,
                    Ok(check["valid"].as_bool().expect("valid")),
                    "{name}: validate {count}"
                ),
                Some(text) => {
                    let err = got.expect_err("an error");
                    assert!(
                        matches!(err, EligibilityError::WeightTooLarge { weight, max }
                            if weight == weights.miner && max == hare::MAX_SUPPORTED_N),
                        "{name}: {err}"
                    );
                    assert!(text.starts_with("miner weight exceeds supported maximum"));
                    assert!(text.contains(&format!(
                        "weight: {}, max: {}",
                        weights.miner,
                        hare::MAX_SUPPORTED_N
                    )));
                }
            }
        }
    }
}

#[test]
fn pure_functions_match_the_oracle() {
    let data: Value =
        serde_json::from_str(include_str!("data/bincdf.json")).expect("bincdf.json parses");
    let case = &data["hare_eligibility"][1]; // committee 50, 10% miner, count 5
    let proof: [u8; 80] = bytes(&case["proof"]);
    assert_eq!(
        hare::calc_eligibility(&proof, 200_000_000, 2_000_000_000, 50),
        Ok(5)
    );
    assert_eq!(
        hare::validate(5, &proof, 200_000_000, 2_000_000_000, 50),
        Ok(true)
    );
    assert_eq!(
        hare::validate(4, &proof, 200_000_000, 2_000_000_000, 50),
        Ok(false)
    );
    assert_eq!(
        hare::validate(6, &proof, 200_000_000, 2_000_000_000, 50),
        Ok(false)
    );
    // The 2^30 edge without verification: calc gives 0, validate errors.
    assert_eq!(hare::calc_eligibility(&proof, 1 << 30, 40, 50), Ok(0));
    assert!(hare::validate(0, &proof, 1 << 30, 40, 50).is_err());
    // Exactly 2^30 after scaling is still supported.
    assert!(hare::validate(0, &proof, 1 << 30, 1 << 40, 50).is_ok());
}

#[test]
fn vrf_messages_match_vrf_json() {
    let data: Value = serde_json::from_str(include_str!("data/vrf.json")).expect("vrf.json");
    let cases = data["cases"].as_array().expect("cases");
    let hare_msg = HareRound {
        beacon: [0xde, 0xad, 0xbe, 0xef],
        layer: 105_725,
        round: 3,
    }
    .vrf_message();
    let proposal_msg = proposal::vrf_message([0xde, 0xad, 0xbe, 0xef], 27, 0x1d_2c3b_4a59, 5);
    let mut seen = (0, 0);
    for case in cases {
        let alpha = hex::decode(case["alpha"].as_str().expect("alpha")).expect("hex");
        let name = case["description"].as_str().expect("description");
        if name.contains("hare3 eligibility") {
            assert_eq!(alpha, hare_msg);
            seen.0 += 1;
        } else if name.contains("proposal VrfMessage") {
            assert_eq!(alpha, proposal_msg);
            seen.1 += 1;
            // And the slot's layer in an epoch of 4032 layers.
            let proof: [u8; 80] = bytes(&case["proof"]);
            let layer = proposal::eligible_layer(27, 4032, &proof).expect("layer");
            let low = u64::from_le_bytes(proof[..8].try_into().expect("8 bytes"));
            assert_eq!(u64::from(layer), 27 * 4032 + low % 4032);
        }
    }
    assert_eq!(seen, (3, 3));
}

#[test]
fn certify_round_message() {
    let round = HareRound::certify([0xde, 0xad, 0xbe, 0xef], 150_000);
    assert_eq!(
        hex::encode(round.vrf_message()),
        "08deadbeef03ffffff7fc2270900"
    );
}

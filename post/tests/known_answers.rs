//! post_known_answers.json: the proving vector, k3 sampling order, index packing, required bits.

use post::compression::{pack_indices, required_bits, unpack_indices};
use post::difficulty::proving_difficulty;
use post::prove::{prove_in_memory, LabelScorer};
use post::sampling::RandomValues;
use serde_json::Value;

fn doc() -> Value {
    serde_json::from_str(include_str!("data/post_known_answers.json")).unwrap()
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn proving_vector() {
    let v = &doc()["proving_vector"];
    let challenge: [u8; 32] = v["challenge_ascii"]
        .as_str()
        .unwrap()
        .as_bytes()
        .try_into()
        .unwrap();
    let num_labels = v["num_labels"].as_u64().unwrap();
    let k1 = v["k1"].as_u64().unwrap() as u32;
    let k2 = v["k2"].as_u64().unwrap() as u32;
    assert_eq!(v["pow_difficulty_hex"].as_str().unwrap(), "ff".repeat(32));
    let data: Vec<u8> = (0..=11u8).cycle().take(num_labels as usize * 16).collect();
    let difficulty = proving_difficulty(k1, num_labels).unwrap();
    let scorer = LabelScorer::new(
        &challenge,
        &[(0, v["pow_value"].as_u64().unwrap())],
        difficulty,
    );
    let (nonce, indices) = prove_in_memory(&data, &scorer, k2).unwrap();
    assert_eq!(u64::from(nonce), v["expected_nonce"].as_u64().unwrap());
    assert_eq!(indices, u64s(&v["expected_indices"]));
}

#[test]
fn k3_sampling_order() {
    let v = &doc()["k3_sampling"];
    let expected = u64s(&v["expected"]);
    let got: Vec<u64> = RandomValues::new(0..expected.len() as u64, &[]).collect();
    assert_eq!(got, expected);
}

#[test]
fn index_packing() {
    let v = &doc()["index_compression"];
    let indices = u64s(&v["indices"]);
    let bytes = |k: &str| -> Vec<u8> { u64s(&v[k]).into_iter().map(|b| b as u8).collect() };
    assert_eq!(pack_indices(&indices, 3), bytes("bits_3"));
    assert_eq!(pack_indices(&indices, 16), bytes("bits_16"));
    assert_eq!(unpack_indices(&bytes("bits_16"), 16), indices);
    let low3: Vec<u64> = indices.iter().map(|i| i & 7).collect();
    assert_eq!(unpack_indices(&bytes("bits_3"), 3)[..4], low3[..]);
    for pair in v["required_bits"].as_array().unwrap() {
        let value = pair[0].as_u64().unwrap();
        assert_eq!(
            required_bits(value) as u64,
            pair[1].as_u64().unwrap(),
            "{value}"
        );
    }
}

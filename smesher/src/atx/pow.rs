//! The PoET registration proof of work: RIPEMD-256(pow challenge ‖ node ID ‖ PoET challenge ‖
//! nonce as 8 LE bytes) with at least `difficulty` leading zero bits (poet `shared/pow.go`).

use ripemd::{Digest, Ripemd256};

/// The PoW hash of one nonce.
pub fn pow_hash(
    pow_challenge: &[u8],
    node_id: &[u8; 32],
    poet_challenge: &[u8],
    nonce: u64,
) -> [u8; 32] {
    let mut h = Ripemd256::new();
    h.update(pow_challenge);
    h.update(node_id);
    h.update(poet_challenge);
    h.update(nonce.to_le_bytes());
    h.finalize().into()
}

/// True when `data` starts with at least `bits` zero bits (data shorter than that fails).
pub fn check_leading_zero_bits(data: &[u8], bits: u32) -> bool {
    let bits = bits as usize;
    if data.len() * 8 < bits {
        return false;
    }
    let full = bits / 8;
    if data[..full].iter().any(|b| *b != 0) {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || data[full].leading_zeros() as usize >= rest
}

/// True when `nonce` solves the PoW.
pub fn verify(
    pow_challenge: &[u8],
    node_id: &[u8; 32],
    poet_challenge: &[u8],
    nonce: u64,
    difficulty: u32,
) -> bool {
    check_leading_zero_bits(
        &pow_hash(pow_challenge, node_id, poet_challenge, nonce),
        difficulty,
    )
}

/// The smallest nonce that solves the PoW, scanning up from 0; `None` only when every u64
/// fails (a difficulty above 256 bits).
pub fn find_nonce(
    pow_challenge: &[u8],
    node_id: &[u8; 32],
    poet_challenge: &[u8],
    difficulty: u32,
) -> Option<u64> {
    if difficulty > 256 {
        return None;
    }
    (0..=u64::MAX).find(|n| verify(pow_challenge, node_id, poet_challenge, *n, difficulty))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vectors() -> Value {
        serde_json::from_str(include_str!("poet_merkle.json")).expect("json")
    }

    fn hx(v: &Value) -> Vec<u8> {
        hex::decode(v.as_str().expect("hex string")).expect("hex")
    }

    #[test]
    fn leading_zero_bits_match_poet() {
        for case in vectors()["check_leading_zero_bits"]
            .as_array()
            .expect("array")
        {
            let bits = case["bits"].as_u64().expect("bits") as u32;
            assert_eq!(
                check_leading_zero_bits(&hx(&case["data"]), bits),
                case["result"].as_bool().expect("bool"),
                "{case}"
            );
        }
    }

    #[test]
    fn pow_search_reproduces_poet_vectors() {
        for case in vectors()["pow"].as_array().expect("array") {
            let pow_challenge = hx(&case["pow_challenge"]);
            let node: [u8; 32] = hx(&case["node_id"]).try_into().expect("32 bytes");
            let challenge = hx(&case["poet_challenge"]);
            let difficulty = case["difficulty"].as_u64().expect("difficulty") as u32;
            let nonce = case["nonce"].as_u64().expect("nonce");
            assert_eq!(
                pow_hash(&pow_challenge, &node, &challenge, nonce).to_vec(),
                hx(&case["ripemd256"]),
                "{}",
                case["description"]
            );
            assert_eq!(
                find_nonce(&pow_challenge, &node, &challenge, difficulty),
                Some(nonce),
                "{}",
                case["description"]
            );
            if nonce > 0 {
                assert!(!verify(
                    &pow_challenge,
                    &node,
                    &challenge,
                    nonce - 1,
                    difficulty
                ));
            }
        }
    }
}

//! Arbitrary input to the parsers gives an answer or an error, never a panic.

use proptest::prelude::*;
use signing::genesis::parse_rfc3339;
use signing::verifier::verify_raw;
use signing::{Identity, Interchange};

proptest! {
    #[test]
    fn key_file_parsing_never_panics(content in proptest::collection::vec(any::<u8>(), 0..200)) {
        let result = Identity::parse_key_file("fuzz.key", &content);
        if content.len() != 128 {
            prop_assert!(result.is_err());
        }
        if let Err(e) = result {
            prop_assert!(e.to_string().contains("fuzz.key"));
        }
    }

    #[test]
    fn hex_of_right_length_is_accepted_only_with_a_matching_public_half(seed in any::<[u8; 32]>(), public in any::<[u8; 32]>()) {
        let good = Identity::from_seed(&seed, "x.key");
        let text = format!("{}{}", hex::encode(seed), hex::encode(public));
        let parsed = Identity::parse_key_file("x.key", text.as_bytes());
        prop_assert_eq!(parsed.is_ok(), public == good.node_id().0);
    }

    #[test]
    fn rfc3339_parsing_never_panics(s in "\\PC{0,40}") {
        let _ = parse_rfc3339(&s);
    }

    #[test]
    fn rfc3339_round_trips_valid_dates(y in 1970i64..2200, mo in 1i64..=12, d in 1i64..=28, h in 0i64..24, mi in 0i64..60, se in 0i64..60) {
        let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}Z");
        let plus = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}+01:30");
        let utc = parse_rfc3339(&text).unwrap();
        prop_assert_eq!(parse_rfc3339(&plus).unwrap(), utc - 5400);
    }

    #[test]
    fn interchange_parsing_never_panics(s in "\\PC{0,200}") {
        let _ = Interchange::from_json(&s);
    }

    #[test]
    fn random_signatures_never_verify(
        pk in any::<[u8; 32]>(),
        sig in proptest::collection::vec(any::<u8>(), 64),
        msg in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let sig: [u8; 64] = sig.try_into().unwrap();
        prop_assert!(!verify_raw(&pk, &msg, &sig));
    }
}

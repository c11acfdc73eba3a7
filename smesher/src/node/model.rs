//! The JSON bodies of the node-service API (G3, PROTOCOL.md §1.2.3–1.2.4) and their strict parsing.
//!
//! The property names inside the component objects are not pinned by a published schema, and Go's
//! JSON decoder matches keys case-insensitively, so we read keys after folding case and dropping
//! `_`/`-`, and write the PascalCase names Go uses. Byte fields are standard padded base64 with their
//! exact length checked; integers are JSON numbers read as u64 without going through f64.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid node-service response body: {0}")]
pub struct BodyError(pub String);

/// Parses a JSON body into `T` after normalising every object key (case folded, `_`/`-` dropped).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| BodyError(e.to_string()))?;
    serde_json::from_value(normalise(value)).map_err(|e| BodyError(e.to_string()))
}

fn normalise(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (fold_key(&k), normalise(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalise).collect()),
        other => other,
    }
}

fn fold_key(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Fixed-size byte strings carried as standard padded base64.
pub mod b64 {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(d)?;
        decode_fixed(&text).map_err(D::Error::custom)
    }

    pub fn decode_fixed<const N: usize>(text: &str) -> Result<[u8; N], String> {
        let bytes = B64
            .decode(text)
            .map_err(|e| format!("{text:?} is not standard base64: {e}"))?;
        <[u8; N]>::try_from(bytes.as_slice())
            .map_err(|_| format!("expected {N} bytes, got {}", bytes.len()))
    }

    /// `Option<[u8; N]>`: absent or `null` is `None`.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer, const N: usize>(
            v: &Option<[u8; N]>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match v {
                Some(bytes) => s.serialize_str(&B64.encode(bytes)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
            d: D,
        ) -> Result<Option<[u8; N]>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(text) => decode_fixed(&text).map(Some).map_err(D::Error::custom),
                None => Ok(None),
            }
        }
    }

    /// `Vec<[u8; N]>`: `null` is an empty list (Go writes nil slices as `null`).
    pub mod vec {
        use super::*;

        pub fn serialize<S: Serializer, const N: usize>(
            v: &[[u8; N]],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|b| B64.encode(b)))
        }

        pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
            d: D,
        ) -> Result<Vec<[u8; N]>, D::Error> {
            Option::<Vec<String>>::deserialize(d)?
                .unwrap_or_default()
                .iter()
                .map(|t| decode_fixed(t).map_err(D::Error::custom))
                .collect()
        }
    }

    /// A variable-length byte string.
    pub mod bytes {
        use super::*;

        pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&B64.encode(v))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            let text = Option::<String>::deserialize(d)?.unwrap_or_default();
            B64.decode(&text).map_err(D::Error::custom)
        }
    }

    /// A list of variable-length byte strings.
    pub mod bytes_vec {
        use super::*;

        pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|b| B64.encode(b)))
        }
    }
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// An ATX as the node-service describes it (rows 1 and 2).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ActivationTx {
    #[serde(rename = "id", with = "b64")]
    pub id: [u8; 32],
    #[serde(rename = "smesherid", with = "b64")]
    pub smesher_id: [u8; 32],
    #[serde(rename = "publishepoch")]
    pub publish_epoch: u32,
    #[serde(rename = "numunits")]
    pub num_units: u32,
    #[serde(rename = "tickcount")]
    pub tick_count: u64,
    #[serde(rename = "weight")]
    pub weight: u64,
    #[serde(rename = "sequence", default)]
    pub sequence: Option<u64>,
}

/// `{"ID": …}` of the positioning ATX route.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AtxIdBody {
    #[serde(rename = "id", with = "b64")]
    pub id: [u8; 32],
}

/// `{"beacon": …}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BeaconBody {
    #[serde(rename = "beacon", with = "b64")]
    pub beacon: [u8; 4],
}

/// `{"BlockID": …}`: 20 bytes or more; the first 20 are the block ID.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BlockIdBody {
    #[serde(rename = "blockid", with = "b64::bytes")]
    pub block_id: Vec<u8>,
}

/// `{"weight": …}` of both weight routes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct WeightBody {
    #[serde(rename = "weight")]
    pub weight: u64,
}

/// Proposal eligibility of an identity in an epoch.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct EligibilitySlots {
    #[serde(rename = "nonce")]
    pub nonce: u64,
    #[serde(rename = "slots")]
    pub slots: u32,
}

/// The node's hare output for one (layer, iteration, round).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct HareRoundTemplate {
    #[serde(rename = "proposals", with = "b64::vec", default)]
    pub proposals: Vec<[u8; 20]>,
    #[serde(rename = "reference", with = "b64::option", default)]
    pub reference: Option<[u8; 32]>,
}

/// An unsigned proposal template for one identity and layer (row 9).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PartialProposal {
    #[serde(rename = "ballot")]
    pub ballot: PartialBallot,
    #[serde(rename = "txids", with = "b64::vec", default)]
    pub tx_ids: Vec<[u8; 32]>,
    #[serde(rename = "meshhash", with = "b64")]
    pub mesh_hash: [u8; 32],
    #[serde(rename = "vrfnonce")]
    pub vrf_nonce: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PartialBallot {
    #[serde(rename = "atxid", with = "b64")]
    pub atx_id: [u8; 32],
    #[serde(rename = "opinionhash", with = "b64")]
    pub opinion_hash: [u8; 32],
    #[serde(rename = "votes")]
    pub votes: Votes,
    #[serde(rename = "refballotid", with = "b64::option", default)]
    pub ref_ballot_id: Option<[u8; 20]>,
    #[serde(rename = "epochdata", default)]
    pub epoch_data: Option<EpochData>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Votes {
    #[serde(rename = "base", with = "b64")]
    pub base: [u8; 20],
    #[serde(rename = "support", deserialize_with = "null_as_empty", default)]
    pub support: Vec<Vote>,
    #[serde(rename = "against", deserialize_with = "null_as_empty", default)]
    pub against: Vec<Vote>,
    #[serde(rename = "abstain", deserialize_with = "null_as_empty", default)]
    pub abstain: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Vote {
    #[serde(rename = "id", with = "b64")]
    pub id: [u8; 20],
    #[serde(rename = "layerid")]
    pub layer_id: u32,
    #[serde(rename = "height")]
    pub height: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct EpochData {
    #[serde(rename = "activesethash", with = "b64")]
    pub active_set_hash: [u8; 32],
    #[serde(rename = "beacon", with = "b64")]
    pub beacon: [u8; 4],
    #[serde(rename = "eligibilitycount")]
    pub eligibility_count: u32,
}

/// The body of `POST /activation/publish`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublishAtxBody {
    #[serde(rename = "AtxBlob", with = "b64::bytes")]
    pub atx_blob: Vec<u8>,
    #[serde(rename = "PoetProof", skip_serializing_if = "Option::is_none")]
    pub poet_proof: Option<PoetProofBody>,
}

/// A PoET proof attached to an ATX publication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PoetProofBody {
    #[serde(rename = "Leafs")]
    pub leafs: u64,
    #[serde(rename = "Proof")]
    pub proof: MerkleProofBody,
    #[serde(rename = "Statement", with = "b64")]
    pub statement: [u8; 32],
    #[serde(rename = "Id", with = "b64::bytes")]
    pub id: Vec<u8>,
    #[serde(rename = "Round")]
    pub round: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MerkleProofBody {
    #[serde(rename = "Root", with = "b64::bytes")]
    pub root: Vec<u8>,
    #[serde(rename = "ProvenLeaves", with = "b64::bytes_vec")]
    pub proven_leaves: Vec<Vec<u8>>,
    #[serde(rename = "ProofNodes", with = "b64::bytes_vec")]
    pub proof_nodes: Vec<Vec<u8>>,
}

/// The part of v2 `NodeService/Status` the health probe needs (grpc-gateway JSON).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct NodeStatus {
    #[serde(rename = "status")]
    pub status: String,
    #[serde(rename = "currentlayer", default)]
    pub current_layer: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        B64.encode(bytes)
    }

    #[test]
    fn activation_tx_reads_any_key_casing() {
        let pascal = format!(
            r#"{{"ID":"{}","SmesherID":"{}","PublishEpoch":3,"NumUnits":4,"TickCount":18446744073709551615,"Weight":40,"Sequence":2}}"#,
            b64(&[1; 32]),
            b64(&[2; 32])
        );
        let snake = format!(
            r#"{{"id":"{}","smesher_id":"{}","publish_epoch":3,"num_units":4,"tick_count":18446744073709551615,"weight":40}}"#,
            b64(&[1; 32]),
            b64(&[2; 32])
        );
        let a: ActivationTx = parse(pascal.as_bytes()).unwrap();
        let b: ActivationTx = parse(snake.as_bytes()).unwrap();
        assert_eq!(a.tick_count, u64::MAX, "u64 must not go through f64");
        assert_eq!(a.sequence, Some(2));
        assert_eq!(b.sequence, None);
        assert_eq!((a.id, a.smesher_id), (b.id, b.smesher_id));
    }

    #[test]
    fn wrong_lengths_and_bad_base64_are_errors() {
        let short = format!(r#"{{"ID":"{}"}}"#, b64(&[1; 31]));
        let err = parse::<AtxIdBody>(short.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("expected 32 bytes, got 31"),
            "{err}"
        );
        let url_safe = r#"{"beacon":"-_-_AA=="}"#;
        assert!(parse::<BeaconBody>(url_safe.as_bytes()).is_err());
        assert!(
            parse::<BeaconBody>(br#"{"beacon":"AQID"#).is_err(),
            "truncated JSON"
        );
        assert!(parse::<WeightBody>(br#"{"weight":-1}"#).is_err());
        assert!(parse::<WeightBody>(br#"{"weight":"5"}"#).is_err());
    }

    #[test]
    fn hare_template_null_proposals_is_empty() {
        let body = format!(r#"{{"Proposals":null,"Reference":"{}"}}"#, b64(&[9; 32]));
        let t: HareRoundTemplate = parse(body.as_bytes()).unwrap();
        assert!(t.proposals.is_empty());
        assert_eq!(t.reference, Some([9; 32]));
        let body = format!(
            r#"{{"Proposals":["{}","{}"]}}"#,
            b64(&[1; 20]),
            b64(&[2; 20])
        );
        let t: HareRoundTemplate = parse(body.as_bytes()).unwrap();
        assert_eq!(t.proposals, vec![[1; 20], [2; 20]]);
        assert_eq!(t.reference, None);
    }

    #[test]
    fn publish_body_uses_go_names() {
        let body = PublishAtxBody {
            atx_blob: vec![1, 2, 3],
            poet_proof: None,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"AtxBlob":"AQID"}"#
        );
    }
}

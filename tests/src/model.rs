//! JSON bodies of the G3 node-service API (PROTOCOL §1.2.3–1.2.4): PascalCase keys, bytes as padded base64.

use base64::Engine as _;
use serde::{Serialize, Serializer};

/// Bytes written the way Go's `encoding/json` writes a `[]byte`: standard base64 with padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B64(pub Vec<u8>);

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<const N: usize> From<[u8; N]> for B64 {
    fn from(b: [u8; N]) -> Self {
        B64(b.to_vec())
    }
}

/// Rows 1 and 2.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActivationTxJson {
    #[serde(rename = "ID")]
    pub id: B64,
    pub num_units: u32,
    pub publish_epoch: u32,
    pub sequence: u64,
    #[serde(rename = "SmesherID")]
    pub smesher_id: B64,
    pub tick_count: u64,
    pub weight: u64,
}

/// Row 3.
#[derive(Debug, Clone, Serialize)]
pub struct PositioningAtxJson {
    #[serde(rename = "ID")]
    pub id: B64,
}

/// Row 5.
#[derive(Debug, Clone, Serialize)]
pub struct BeaconJson {
    pub beacon: B64,
}

/// Row 6.
#[derive(Debug, Clone, Serialize)]
pub struct BlockIdJson {
    #[serde(rename = "BlockID")]
    pub block_id: B64,
}

/// Row 7.
#[derive(Debug, Clone, Serialize)]
pub struct SlotsJson {
    pub nonce: u64,
    pub slots: u32,
}

/// Rows 11 and 12.
#[derive(Debug, Clone, Serialize)]
pub struct WeightJson {
    pub weight: u64,
}

/// Row 8. `Proposals` is `null` for commit/notify values (Go leaves the slice nil).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HareRoundTemplateJson {
    pub proposals: Option<Vec<B64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<B64>,
}

/// Row 9.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartialProposalJson {
    pub ballot: BallotJson,
    pub mesh_hash: B64,
    #[serde(rename = "TxIDs")]
    pub tx_ids: Vec<B64>,
    pub vrf_nonce: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BallotJson {
    #[serde(rename = "AtxID")]
    pub atx_id: B64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch_data: Option<EpochDataJson>,
    pub opinion_hash: B64,
    #[serde(rename = "RefBallotID", skip_serializing_if = "Option::is_none")]
    pub ref_ballot_id: Option<B64>,
    pub votes: VotesJson,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VotesJson {
    pub abstain: Vec<u32>,
    pub against: Vec<VoteJson>,
    pub base: B64,
    pub support: Vec<VoteJson>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VoteJson {
    pub height: u64,
    #[serde(rename = "ID")]
    pub id: B64,
    #[serde(rename = "LayerID")]
    pub layer_id: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EpochDataJson {
    pub active_set_hash: B64,
    pub beacon: B64,
    pub eligibility_count: u32,
}

/// Serialises like Go's `json.Encoder`: compact, then a newline.
pub fn go_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail: no maps with non-string keys, no custom errors.
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_padded_standard_base64_and_keys_pascal_case() {
        let atx = ActivationTxJson {
            id: [0xfb; 32].into(),
            num_units: 4,
            publish_epoch: 2,
            sequence: 1,
            smesher_id: [1; 32].into(),
            tick_count: u64::MAX,
            weight: 7,
        };
        let text = String::from_utf8(go_json(&atx)).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(text.contains(r#""ID":"+/v7"#), "{text}");
        assert!(
            text.contains(r#""TickCount":18446744073709551615"#),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["ID"].as_str().unwrap().len(), 44);
        assert!(v["ID"].as_str().unwrap().ends_with('='));
        assert_eq!(v["SmesherID"].as_str().unwrap().len(), 44);
    }

    #[test]
    fn commit_template_has_null_proposals_and_a_reference() {
        let t = HareRoundTemplateJson {
            proposals: None,
            reference: Some([2; 32].into()),
        };
        let v: serde_json::Value = serde_json::from_slice(&go_json(&t)).unwrap();
        assert!(v["Proposals"].is_null());
        assert_eq!(v["Reference"].as_str().unwrap().len(), 44);
        let p = HareRoundTemplateJson {
            proposals: Some(vec![[3; 20].into()]),
            reference: None,
        };
        let v: serde_json::Value = serde_json::from_slice(&go_json(&p)).unwrap();
        assert_eq!(v["Proposals"][0].as_str().unwrap().len(), 28);
        assert!(v.get("Reference").is_none());
    }
}

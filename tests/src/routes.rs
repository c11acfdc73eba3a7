//! Route table of the fake node (the 12 G3 node-service routes plus the v2 JSON calls) and the node-service handlers.

use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::chain::{Network, NodeId, PublishKind};
use crate::model::{
    go_json, ActivationTxJson, BeaconJson, BlockIdJson, HareRoundTemplateJson, PositioningAtxJson,
    SlotsJson, WeightJson, B64,
};

/// Route names used by the per-node request counters (`Node::requests`).
pub mod name {
    pub const ATX: &str = "atx";
    pub const LAST_ATX: &str = "last_atx";
    pub const POSITIONING_ATX: &str = "positioning_atx";
    pub const PUBLISH_ATX: &str = "publish_atx";
    pub const BEACON: &str = "beacon";
    pub const BLOCK_IDS: &str = "blockids";
    pub const ELIGIBILITY_SLOTS: &str = "eligibility_slots";
    pub const HARE_ROUND_TEMPLATE: &str = "hare_round_template";
    pub const PROPOSAL: &str = "proposal";
    pub const PUBLISH: &str = "publish";
    pub const WEIGHTS_MINER: &str = "weights_miner";
    pub const WEIGHTS_TOTAL: &str = "weights_total";
    pub const V2_STATUS: &str = "v2_node_status";
    pub const V2_INFO: &str = "v2_network_info";
    /// Anything that matched no route (404).
    pub const UNKNOWN: &str = "unknown";
}

/// The readiness gate body of PROTOCOL §1.2.5.
pub const NOT_SYNCED_BODY: &str = "service not ready: not in sync with the network";

/// A matched call with its raw (percent-decoded) path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    Atx(String),
    LastAtx(String),
    PositioningAtx(String),
    PublishAtx,
    Beacon(String),
    BlockIds(String),
    EligibilitySlots(String, String),
    HareRoundTemplate(String, String, String),
    Proposal(String, String),
    Publish(String),
    WeightsMiner(String, String),
    WeightsTotal(String),
    V2Status,
    V2Info,
}

impl Call {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Call::Atx(_) => name::ATX,
            Call::LastAtx(_) => name::LAST_ATX,
            Call::PositioningAtx(_) => name::POSITIONING_ATX,
            Call::PublishAtx => name::PUBLISH_ATX,
            Call::Beacon(_) => name::BEACON,
            Call::BlockIds(_) => name::BLOCK_IDS,
            Call::EligibilitySlots(..) => name::ELIGIBILITY_SLOTS,
            Call::HareRoundTemplate(..) => name::HARE_ROUND_TEMPLATE,
            Call::Proposal(..) => name::PROPOSAL,
            Call::Publish(_) => name::PUBLISH,
            Call::WeightsMiner(..) => name::WEIGHTS_MINER,
            Call::WeightsTotal(_) => name::WEIGHTS_TOTAL,
            Call::V2Status => name::V2_STATUS,
            Call::V2Info => name::V2_INFO,
        }
    }

    pub(crate) fn is_v2(&self) -> bool {
        matches!(self, Call::V2Status | Call::V2Info)
    }
}

/// Outcome of matching method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    Call(Call),
    /// Known path, other method; `allow` is the `Allow` header value.
    WrongMethod {
        name: &'static str,
        allow: &'static str,
        v2: bool,
    },
    NotFound,
}

/// Matches like Go 1.22's ServeMux with `GET`/`POST` patterns (GET also serves HEAD).
pub(crate) fn resolve(method: &Method, path: &str) -> Resolved {
    let Some(rest) = path.strip_prefix('/') else {
        return Resolved::NotFound;
    };
    let seg: Vec<String> = rest.split('/').map(percent_decode).collect();
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let p = |i: usize| seg[i].clone();
    // Wildcards match one non-empty segment.
    let full = |n: usize| s.len() == n && s.iter().all(|x| !x.is_empty());
    let (call, post) = match s.as_slice() {
        ["activation", "atx", _] if full(3) => (Call::Atx(p(2)), false),
        ["activation", "last_atx", _] if full(3) => (Call::LastAtx(p(2)), false),
        ["activation", "positioning_atx", _] if full(3) => (Call::PositioningAtx(p(2)), false),
        ["activation", "publish"] => (Call::PublishAtx, true),
        ["beacon", _] if full(2) => (Call::Beacon(p(1)), false),
        ["blockids", _] if full(2) => (Call::BlockIds(p(1)), false),
        ["eligibility", "slots", _, _] if full(4) => (Call::EligibilitySlots(p(2), p(3)), false),
        ["hare", "round_template", _, _, _] if full(5) => {
            (Call::HareRoundTemplate(p(2), p(3), p(4)), false)
        }
        ["proposal", _, _] if full(3) => (Call::Proposal(p(1), p(2)), false),
        ["publish", _] if full(2) => (Call::Publish(p(1)), true),
        ["weights", "miner", _, _] if full(4) => (Call::WeightsMiner(p(2), p(3)), false),
        ["weights", "total", _] if full(3) => (Call::WeightsTotal(p(2)), false),
        ["spacemesh.v2beta1.NodeService", "Status"] => (Call::V2Status, false),
        ["spacemesh.v2alpha1.NodeService", "Status"] => (Call::V2Status, true),
        ["spacemesh.v2beta1.NetworkService", "Info"] => (Call::V2Info, false),
        ["spacemesh.v2alpha1.NetworkService", "Info"] => (Call::V2Info, true),
        _ => return Resolved::NotFound,
    };
    let ok = if post {
        method == Method::POST
    } else {
        method == Method::GET || method == Method::HEAD
    };
    if ok {
        Resolved::Call(call)
    } else {
        Resolved::WrongMethod {
            name: call.name(),
            allow: if post { "POST" } else { "GET, HEAD" },
            v2: call.is_v2(),
        }
    }
}

/// Decodes `%XX` escapes; a malformed escape is kept literally.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response before faults and transport are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Bytes,
    /// A JSON 200 answer: the one that `Fault::Garbage` breaks.
    pub json: bool,
    /// `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

pub(crate) const GO_TEXT: &str = "text/plain; charset=utf-8";
/// The spec's content type of 400 answers, sent literally as written there.
const SPEC_TEXT: &str = "plain/text";

impl Reply {
    pub(crate) fn json(body: Vec<u8>) -> Self {
        Reply {
            status: 200,
            content_type: Some("application/json"),
            body: body.into(),
            json: true,
            allow: None,
        }
    }

    pub(crate) fn empty(status: u16) -> Self {
        Reply {
            status,
            content_type: None,
            body: Bytes::new(),
            json: false,
            allow: None,
        }
    }

    /// Go's `http.Error`: text plus a newline.
    pub(crate) fn go_error(status: u16, msg: &str) -> Self {
        Reply {
            status,
            content_type: Some(GO_TEXT),
            body: format!("{msg}\n").into(),
            json: false,
            allow: None,
        }
    }

    /// A strict-server `plain/text` answer (no newline added).
    fn spec_text(status: u16, msg: String) -> Self {
        Reply {
            status,
            content_type: Some(SPEC_TEXT),
            body: msg.into(),
            json: false,
            allow: None,
        }
    }

    pub(crate) fn not_synced() -> Self {
        Reply {
            status: 503,
            content_type: Some(GO_TEXT),
            body: Bytes::from_static(NOT_SYNCED_BODY.as_bytes()),
            json: false,
            allow: None,
        }
    }

    pub(crate) fn not_found() -> Self {
        Self::go_error(404, "404 page not found")
    }
}

/// Binds an unsigned integer path parameter like oapi-codegen does; the error is the 400 reply.
fn uint<T: TryFrom<u64>>(param: &str, v: &str, type_name: &str) -> Result<T, Reply> {
    let msg = match v.parse::<u64>() {
        Ok(n) => match T::try_from(n) {
            Ok(t) => return Ok(t),
            Err(_) => format!("value '{v}' overflows destination of type: {type_name}"),
        },
        Err(e) => format!("strconv.ParseUint: parsing {v:?}: {e}"),
    };
    Err(Reply::go_error(
        400,
        &format!("Invalid format for parameter {param}: error binding string parameter: {msg}"),
    ))
}

/// Parses a 32-byte hex path ID; the error text names the parameter and the value.
fn hex_id(param: &str, v: &str) -> Result<NodeId, String> {
    let bytes = hex::decode(v).map_err(|e| format!("invalid {param} {v:?}: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("invalid {param} {v:?}: want 32 bytes, got {}", bytes.len()))
}

/// Answers one node-service call. Integer parameters and the publish body are checked
/// before the readiness gate, hex IDs after it, as the Go server does.
pub(crate) fn node_service(
    net: &Network,
    node: usize,
    call: &Call,
    body: &[u8],
    synced: bool,
) -> Reply {
    match answer(net, node, call, body, synced) {
        Ok(r) | Err(r) => r,
    }
}

fn answer(
    net: &Network,
    node: usize,
    call: &Call,
    body: &[u8],
    synced: bool,
) -> Result<Reply, Reply> {
    let gate = || {
        if synced {
            Ok(())
        } else {
            Err(Reply::not_synced())
        }
    };
    let bad_id = |e: String| Reply::spec_text(400, e);
    Ok(match call {
        Call::Atx(id) => {
            gate()?;
            let id = hex_id("atx_id", id).map_err(bad_id)?;
            match net.atx(&id) {
                Some(a) => atx_reply(&a),
                None => Reply::empty(404),
            }
        }
        Call::LastAtx(id) => {
            gate()?;
            let id = hex_id("node_id", id).map_err(bad_id)?;
            match net.last_atx(&id) {
                Some(a) => atx_reply(&a),
                None => Reply::empty(404),
            }
        }
        Call::PositioningAtx(epoch) => {
            let epoch: u32 = uint("publish_epoch", epoch, "uint32")?;
            gate()?;
            Reply::json(go_json(&PositioningAtxJson {
                id: net.positioning_atx(epoch).into(),
            }))
        }
        Call::PublishAtx => {
            let (blob, with_poet_proof) = decode_publish_atx(body)?;
            gate()?;
            if blob.is_empty() {
                return Err(Reply::spec_text(400, "publish ax1: empty ATX blob".into()));
            }
            net.record_publish(
                node,
                "ax1".into(),
                blob.into(),
                PublishKind::Atx { with_poet_proof },
            );
            Reply::empty(200)
        }
        Call::Beacon(epoch) => {
            let epoch: u32 = uint("epoch", epoch, "uint32")?;
            gate()?;
            Reply::json(go_json(&BeaconJson {
                beacon: net.beacon(epoch).into(),
            }))
        }
        Call::BlockIds(layer) => {
            let layer: u32 = uint("layer", layer, "uint32")?;
            gate()?;
            match net.block_id(layer) {
                Some(id) => Reply::json(go_json(&BlockIdJson {
                    block_id: id.into(),
                })),
                None => Reply::empty(404),
            }
        }
        Call::EligibilitySlots(id, epoch) => {
            let epoch: u32 = uint("epoch", epoch, "uint32")?;
            gate()?;
            // The handler returns its error object and an error: the strict server makes it a 500.
            let id = hex_id("node", id).map_err(|e| Reply::go_error(500, &e))?;
            let (nonce, slots) = net.eligibility_slots(&id, epoch);
            Reply::json(go_json(&SlotsJson { nonce, slots }))
        }
        Call::HareRoundTemplate(layer, iter, round) => {
            let layer: u32 = uint("layer", layer, "uint32")?;
            let iter: u8 = uint("iter", iter, "uint8")?;
            let round: u8 = uint("round", round, "uint8")?;
            gate()?;
            match net.hare_round_template(layer, iter, round) {
                Some(t) => Reply::json(go_json(&HareRoundTemplateJson {
                    proposals: t.proposals.map(|p| p.into_iter().map(B64::from).collect()),
                    reference: t.reference.map(B64::from),
                })),
                None => Reply::empty(204),
            }
        }
        Call::Proposal(layer, id) => {
            let layer: u32 = uint("layer", layer, "uint32")?;
            gate()?;
            let id = hex_id("node", id).map_err(bad_id)?;
            match net.proposal_template(layer, &id) {
                Some(p) => Reply::json(go_json(&p)),
                None => Reply::empty(204),
            }
        }
        Call::Publish(protocol) => {
            gate()?;
            let topic = match protocol.as_str() {
                "hare3" => "/h/3.0",
                "testnet-hare3-workaround" => "",
                other => other,
            };
            net.record_publish(
                node,
                topic.into(),
                Bytes::copy_from_slice(body),
                PublishKind::Gossip,
            );
            Reply::empty(200)
        }
        Call::WeightsMiner(id, epoch) => {
            let epoch: u32 = uint("epoch", epoch, "uint32")?;
            gate()?;
            let id = hex_id("node_id", id).map_err(bad_id)?;
            Reply::json(go_json(&WeightJson {
                weight: net.miner_weight(epoch, &id),
            }))
        }
        Call::WeightsTotal(epoch) => {
            let epoch: u32 = uint("epoch", epoch, "uint32")?;
            gate()?;
            Reply::json(go_json(&WeightJson {
                weight: net.total_weight(epoch),
            }))
        }
        Call::V2Status | Call::V2Info => Reply::not_found(),
    })
}

fn atx_reply(a: &crate::chain::Atx) -> Reply {
    Reply::json(go_json(&ActivationTxJson {
        id: a.id.into(),
        num_units: a.num_units,
        publish_epoch: a.publish_epoch,
        sequence: a.sequence,
        smesher_id: a.smesher_id.into(),
        tick_count: a.tick_count,
        weight: a.weight,
    }))
}

/// Go's decoder matches keys exactly first, then ignoring case.
fn field<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A `[]byte` JSON value: string of padded standard base64, or null.
fn json_bytes(v: Option<&Value>, what: &str) -> Result<Vec<u8>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("{what}: illegal base64 data: {e}")),
        Some(other) => Err(format!("{what}: cannot unmarshal {other} into []byte")),
    }
}

/// Body of `POST /activation/publish`: the ATX blob and whether a PoET proof came with it.
fn decode_publish_atx(body: &[u8]) -> Result<(Vec<u8>, bool), Reply> {
    let bad_json = |e: String| Reply::go_error(400, &format!("can't decode JSON body: {e}"));
    let v: Value = serde_json::from_slice(body).map_err(|e| bad_json(e.to_string()))?;
    let empty = serde_json::Map::new();
    let obj = match &v {
        Value::Object(o) => o,
        Value::Null => &empty,
        other => {
            return Err(bad_json(format!(
                "cannot unmarshal {other} into the request object"
            )))
        }
    };
    let blob = json_bytes(field(obj, "AtxBlob"), "AtxBlob").map_err(bad_json)?;
    let proof = match field(obj, "PoetProof") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => Some(p),
        Some(other) => {
            return Err(bad_json(format!(
                "PoetProof: cannot unmarshal {other} into an object"
            )))
        }
    };
    if let Some(p) = proof {
        let statement =
            json_bytes(field(p, "Statement"), "PoetProof.Statement").map_err(bad_json)?;
        for key in ["Id", "Root"] {
            json_bytes(field(p, key), key).map_err(bad_json)?;
        }
        if statement.len() != 32 {
            return Err(Reply::spec_text(
                400,
                format!(
                    "invalid PoetProof.Statement: want 32 bytes, got {}",
                    statement.len()
                ),
            ));
        }
    }
    Ok((blob, proof.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_matches_the_route_table() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            resolve(&get, "/beacon/7"),
            Resolved::Call(Call::Beacon("7".into()))
        );
        assert_eq!(
            resolve(&get, "/hare/round_template/1/2/3"),
            Resolved::Call(Call::HareRoundTemplate("1".into(), "2".into(), "3".into()))
        );
        assert_eq!(
            resolve(&post, "/publish/%2Fh%2F3.0"),
            Resolved::Call(Call::Publish("/h/3.0".into()))
        );
        assert_eq!(resolve(&get, "/beacon/"), Resolved::NotFound);
        assert_eq!(resolve(&get, "/beacon/1/2"), Resolved::NotFound);
        assert_eq!(resolve(&get, "/nope"), Resolved::NotFound);
        assert_eq!(
            resolve(&post, "/beacon/1"),
            Resolved::WrongMethod {
                name: name::BEACON,
                allow: "GET, HEAD",
                v2: false
            }
        );
        assert_eq!(
            resolve(&get, "/activation/publish"),
            Resolved::WrongMethod {
                name: name::PUBLISH_ATX,
                allow: "POST",
                v2: false
            }
        );
        assert_eq!(
            resolve(&post, "/spacemesh.v2alpha1.NodeService/Status"),
            Resolved::Call(Call::V2Status)
        );
        assert_eq!(
            resolve(&get, "/spacemesh.v2beta1.NetworkService/Info"),
            Resolved::Call(Call::V2Info)
        );
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("%2Fh%2F3.0"), "/h/3.0");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn integer_binding_errors_name_the_parameter() {
        let e = uint::<u8>("iter", "300", "uint8").unwrap_err();
        assert_eq!(e.status, 400);
        let text = String::from_utf8(e.body.to_vec()).unwrap();
        assert!(
            text.starts_with("Invalid format for parameter iter:"),
            "{text}"
        );
        assert!(uint::<u32>("epoch", "-1", "uint32").is_err());
        assert_eq!(uint::<u32>("epoch", "42", "uint32").unwrap(), 42);
    }

    #[test]
    fn publish_atx_body_is_decoded_like_go() {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let ok = format!(r#"{{"atxblob":"{}"}}"#, b64(b"atx"));
        assert_eq!(
            decode_publish_atx(ok.as_bytes()).unwrap(),
            (b"atx".to_vec(), false)
        );
        let with = format!(
            r#"{{"AtxBlob":"{}","PoetProof":{{"Statement":"{}","Leafs":4}}}}"#,
            b64(b"atx"),
            b64(&[1; 32])
        );
        assert_eq!(
            decode_publish_atx(with.as_bytes()).unwrap(),
            (b"atx".to_vec(), true)
        );
        let short = format!(
            r#"{{"AtxBlob":"{}","PoetProof":{{"Statement":"{}"}}}}"#,
            b64(b"a"),
            b64(&[1; 5])
        );
        let e = decode_publish_atx(short.as_bytes()).unwrap_err();
        assert_eq!((e.status, e.content_type), (400, Some(SPEC_TEXT)));
        let e = decode_publish_atx(b"{\"AtxBlob\":\"not base64!\"}").unwrap_err();
        assert!(String::from_utf8_lossy(&e.body).starts_with("can't decode JSON body:"));
        assert_eq!(decode_publish_atx(b"[1]").unwrap_err().status, 400);
    }
}

//! The PoET client (PROTOCOL §2.4): `/v1/info`, `/v1/pow_params`, `/v1/submit` and
//! `/v1/proofs/{round}` over grpc-gateway JSON, the certifier call, and the checks on every
//! answer (size limit, strict shapes, lengths, the member tree against the proof).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use codec::{Hash32, MerkleProof, MerkleProofV1, PoetProof, PoetProofMessage};
use gateway::{HttpClient, Limits, TlsRoots, UpstreamConnector};
use http::{Method, Request, StatusCode};
use serde::{Deserialize, Serialize};
use url::Url;

use super::membership;

/// Largest PoET answer read (a proof with 2^20 members is 44 MB of base64).
pub const MAX_POET_RESPONSE_BYTES: u64 = 64 << 20;

/// Why a PoET call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoetError {
    #[error("PoET {poet}: {call}: {reason}")]
    Transport {
        poet: String,
        call: &'static str,
        reason: String,
    },
    #[error("PoET {poet}: {call}: HTTP {status}: {body}")]
    Status {
        poet: String,
        call: &'static str,
        status: u16,
        body: String,
    },
    #[error("PoET {poet}: {call}: malformed answer: {reason}")]
    Malformed {
        poet: String,
        call: &'static str,
        reason: String,
    },
    #[error("PoET {poet}: phase shift {theirs:?} differs from ours ({ours:?}); not used")]
    PhaseShift {
        poet: String,
        theirs: Duration,
        ours: Duration,
    },
    #[error("PoET {poet}: service key {theirs} differs from the configured {configured}")]
    WrongKey {
        poet: String,
        theirs: String,
        configured: String,
    },
    #[error("PoET {poet}: proof of round {round} is not ready yet")]
    NotReady { poet: String, round: String },
    #[error("PoET {poet}: our challenge is not a member of the proof of round {round}")]
    NotMember { poet: String, round: String },
    #[error("certifier {url}: {reason}")]
    Certifier { url: String, reason: String },
}

impl PoetError {
    /// True for answers that a later try may change (transport, 5xx, not ready).
    pub fn is_transient(&self) -> bool {
        match self {
            PoetError::Transport { .. } | PoetError::NotReady { .. } => true,
            PoetError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// `/v1/info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoetInfo {
    pub service_pubkey: [u8; 32],
    pub phase_shift: Duration,
    pub cycle_gap: Duration,
    pub certifier: Option<CertifierInfo>,
}

/// The certifier a PoET advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifierInfo {
    pub url: Url,
    pub pubkey: [u8; 32],
}

/// `/v1/pow_params`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PowParams {
    pub difficulty: u32,
    #[serde(serialize_with = "ser_b64")]
    pub challenge: Vec<u8>,
}

/// How a registration is authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Pow { nonce: u64, params: PowParams },
    Certificate { data: Vec<u8>, signature: Vec<u8> },
}

/// A submit request's signed parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// genesis ID ‖ POET domain byte.
    pub prefix: Vec<u8>,
    pub challenge: [u8; 32],
    pub node_id: [u8; 32],
    pub signature: [u8; 64],
    pub deadline: SystemTime,
    pub auth: Auth,
}

/// What `/v1/submit` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub round_id: String,
    /// Time from now until the round ends.
    pub round_end: Duration,
}

/// A proof from `/v1/proofs/{round}` checked to contain our challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedProof {
    pub message: PoetProofMessage,
    pub membership: MerkleProofV1,
}

impl FetchedProof {
    pub fn leaves(&self) -> u64 {
        self.message.poet_proof.leaf_count
    }
}

fn ser_b64<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&B64.encode(v))
}

/// One PoET server.
#[derive(Clone, Debug)]
pub struct PoetClient {
    address: Url,
    configured_key: Option<[u8; 32]>,
    http: HttpClient<UpstreamConnector>,
    limits: Limits,
    info_ttl: Duration,
    pow_ttl: Duration,
    cache: Arc<Mutex<Cache>>,
}

/// `/v1/info` and `/v1/pow_params` answers with when they were fetched.
#[derive(Debug, Default)]
struct Cache {
    info: Option<(Instant, PoetInfo)>,
    pow: Option<(Instant, PowParams)>,
}

// ---- wire shapes (protojson; unknown fields are ignored as grpc-gateway clients do) ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InfoJson {
    service_pubkey: String,
    phase_shift: String,
    cycle_gap: String,
    #[serde(default)]
    certifier: Option<CertifierJson>,
}

#[derive(Deserialize)]
struct CertifierJson {
    url: String,
    pubkey: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PowParamsJson {
    pow_params: PowParamsInner,
}

#[derive(Deserialize)]
struct PowParamsInner {
    #[serde(default)]
    difficulty: u32,
    #[serde(default)]
    challenge: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubmitJson {
    round_id: String,
    round_end: String,
}

#[derive(Deserialize)]
struct ProofsJson {
    proof: ProofJson,
    pubkey: String,
}

#[derive(Deserialize)]
struct ProofJson {
    proof: MerkleJson,
    members: Vec<String>,
    leaves: U64Json,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MerkleJson {
    root: String,
    #[serde(default)]
    proven_leaves: Vec<String>,
    #[serde(default)]
    proof_nodes: Vec<String>,
}

/// protojson writes uint64 as a string but accepts a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum U64Json {
    Text(String),
    Number(u64),
}

#[derive(Deserialize)]
struct CertifyJson {
    certificate: String,
    signature: String,
    pub_key: String,
}

/// A protojson Duration: `"864000s"`, `"1.5s"`; negative values read as zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let body = text
        .strip_suffix('s')
        .ok_or_else(|| format!("duration {text:?} does not end in 's'"))?;
    if body.starts_with('-') {
        return Ok(Duration::ZERO);
    }
    let (secs, frac) = body.split_once('.').unwrap_or((body, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || secs.len() > 12 {
        return Err(format!("duration {text:?} is not a number of seconds"));
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("duration {text:?} has a bad fraction"));
    }
    let secs: u64 = secs
        .parse()
        .map_err(|_| format!("duration {text:?} overflows"))?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}")
            .parse()
            .map_err(|_| format!("duration {text:?}"))?
    };
    Ok(Duration::new(secs, nanos))
}

/// protojson form of a duration.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}.{:09}s", d.as_secs(), d.subsec_nanos())
    }
}

fn b64_fixed<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    let v = B64
        .decode(text)
        .map_err(|e| format!("{what}: not base64: {e}"))?;
    let len = v.len();
    v.try_into()
        .map_err(|_| format!("{what}: {len} bytes, want {N}"))
}

fn b64_max(text: &str, max: usize, what: &str) -> Result<Vec<u8>, String> {
    let v = B64
        .decode(text)
        .map_err(|e| format!("{what}: not base64: {e}"))?;
    if v.len() > max {
        return Err(format!("{what}: {} bytes, at most {max}", v.len()));
    }
    Ok(v)
}

impl PoetClient {
    /// A client of the PoET at `address` (http or https); `pubkey` is the configured key,
    /// checked against `/v1/info` when given.
    pub fn new(
        address: Url,
        pubkey: Option<[u8; 32]>,
        roots: &TlsRoots,
        request_timeout: Duration,
    ) -> Result<Self, gateway::TlsError> {
        let connector = gateway::tls_connector(roots, false, Duration::from_secs(10))?;
        Ok(PoetClient {
            address,
            configured_key: pubkey,
            http: HttpClient::with_connector(connector),
            limits: Limits {
                per_try_timeout: request_timeout,
                max_response_bytes: MAX_POET_RESPONSE_BYTES,
            },
            info_ttl: Duration::ZERO,
            pow_ttl: Duration::ZERO,
            cache: Arc::default(),
        })
    }

    /// Keeps `/v1/info` answers for `info` and PoW parameters for `pow` (`poet.info-cache-ttl`,
    /// `poet.pow-params-cache-ttl`); zero fetches every time.
    pub fn with_cache_ttls(mut self, info: Duration, pow: Duration) -> Self {
        self.info_ttl = info;
        self.pow_ttl = pow;
        self
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The PoET's address as configured (also the key of its registrations).
    pub fn address(&self) -> &str {
        self.address.as_str()
    }

    fn name(&self) -> String {
        gateway::redact(&self.address)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.address.as_str().trim_end_matches('/'), path)
    }

    async fn call(
        &self,
        call: &'static str,
        method: Method,
        url: String,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, PoetError> {
        let mut req = Request::builder().method(method).uri(url);
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Bytes::from(body.unwrap_or_default()))
            .map_err(|e| PoetError::Transport {
                poet: self.name(),
                call,
                reason: e.to_string(),
            })?;
        let resp = self
            .http
            .send(req, self.limits)
            .await
            .map_err(|e| PoetError::Transport {
                poet: self.name(),
                call,
                reason: e.to_string(),
            })?;
        if resp.status() != StatusCode::OK {
            let text =
                String::from_utf8_lossy(&resp.body()[..resp.body().len().min(256)]).into_owned();
            return Err(PoetError::Status {
                poet: self.name(),
                call,
                status: resp.status().as_u16(),
                body: text,
            });
        }
        Ok(resp.into_body())
    }

    fn malformed(&self, call: &'static str, reason: impl Into<String>) -> PoetError {
        PoetError::Malformed {
            poet: self.name(),
            call,
            reason: reason.into(),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        call: &'static str,
        body: &[u8],
    ) -> Result<T, PoetError> {
        serde_json::from_slice(body).map_err(|e| self.malformed(call, e.to_string()))
    }

    /// `GET /v1/info`, refusing a PoET whose phase shift is not `phase_shift` or whose key is
    /// not the configured one.
    pub async fn info(&self, phase_shift: Duration) -> Result<PoetInfo, PoetError> {
        let cached = self
            .cache()
            .info
            .clone()
            .filter(|(at, _)| at.elapsed() < self.info_ttl)
            .map(|(_, info)| info);
        let info = match cached {
            Some(info) => info,
            None => {
                let info = self.fetch_info().await?;
                self.cache().info = Some((Instant::now(), info.clone()));
                info
            }
        };
        self.check_info(info, phase_shift)
    }

    async fn fetch_info(&self) -> Result<PoetInfo, PoetError> {
        const CALL: &str = "info";
        let body = self
            .call(CALL, Method::GET, self.url("/v1/info"), None)
            .await?;
        let j: InfoJson = self.json(CALL, &body)?;
        let m = |e: String| self.malformed(CALL, e);
        let info = PoetInfo {
            service_pubkey: b64_fixed(&j.service_pubkey, "servicePubkey").map_err(m)?,
            phase_shift: parse_duration(&j.phase_shift).map_err(m)?,
            cycle_gap: parse_duration(&j.cycle_gap).map_err(m)?,
            certifier: match j.certifier {
                None => None,
                Some(c) => Some(CertifierInfo {
                    url: Url::parse(&c.url).map_err(|e| m(format!("certifier.url: {e}")))?,
                    pubkey: b64_fixed(&c.pubkey, "certifier.pubkey").map_err(m)?,
                }),
            },
        };
        Ok(info)
    }

    fn check_info(&self, info: PoetInfo, phase_shift: Duration) -> Result<PoetInfo, PoetError> {
        if info.phase_shift != phase_shift {
            return Err(PoetError::PhaseShift {
                poet: self.name(),
                theirs: info.phase_shift,
                ours: phase_shift,
            });
        }
        if let Some(key) = self.configured_key {
            if key != info.service_pubkey {
                return Err(PoetError::WrongKey {
                    poet: self.name(),
                    theirs: B64.encode(info.service_pubkey),
                    configured: B64.encode(key),
                });
            }
        }
        Ok(info)
    }

    /// `GET /v1/pow_params`.
    pub async fn pow_params(&self) -> Result<PowParams, PoetError> {
        let cached = self
            .cache()
            .pow
            .clone()
            .filter(|(at, _)| at.elapsed() < self.pow_ttl)
            .map(|(_, p)| p);
        if let Some(p) = cached {
            return Ok(p);
        }
        let p = self.fetch_pow_params().await?;
        self.cache().pow = Some((Instant::now(), p.clone()));
        Ok(p)
    }

    async fn fetch_pow_params(&self) -> Result<PowParams, PoetError> {
        const CALL: &str = "pow_params";
        let body = self
            .call(CALL, Method::GET, self.url("/v1/pow_params"), None)
            .await?;
        let j: PowParamsJson = self.json(CALL, &body)?;
        let challenge = b64_max(&j.pow_params.challenge, 64, "powParams.challenge")
            .map_err(|e| self.malformed(CALL, e))?;
        if j.pow_params.difficulty > 256 {
            return Err(self.malformed(
                CALL,
                format!("difficulty {} above 256 bits", j.pow_params.difficulty),
            ));
        }
        Ok(PowParams {
            difficulty: j.pow_params.difficulty,
            challenge,
        })
    }

    /// `POST /v1/submit`.
    pub async fn submit(&self, s: &Submission) -> Result<Registered, PoetError> {
        const CALL: &str = "submit";
        let deadline = humantime::format_rfc3339_seconds(s.deadline).to_string();
        let mut body = serde_json::json!({
            "prefix": B64.encode(&s.prefix),
            "challenge": B64.encode(s.challenge),
            "pubkey": B64.encode(s.node_id),
            "signature": B64.encode(s.signature),
            "deadline": deadline,
        });
        match &s.auth {
            Auth::Pow { nonce, params } => {
                body["nonce"] = serde_json::Value::String(nonce.to_string());
                body["powParams"] = serde_json::to_value(params)
                    .map_err(|e| self.malformed(CALL, e.to_string()))?;
            }
            Auth::Certificate { data, signature } => {
                body["certificate"] = serde_json::json!({
                    "data": B64.encode(data),
                    "signature": B64.encode(signature),
                });
            }
        }
        let bytes = serde_json::to_vec(&body).map_err(|e| self.malformed(CALL, e.to_string()))?;
        let answer = match self
            .call(CALL, Method::POST, self.url("/v1/submit"), Some(bytes))
            .await
        {
            Err(
                e @ PoetError::Status {
                    status: 400 | 401, ..
                },
            ) => {
                // Maybe stale PoW parameters or info: fetch them afresh next time.
                *self.cache() = Cache::default();
                return Err(e);
            }
            other => other?,
        };
        let j: SubmitJson = self.json(CALL, &answer)?;
        if j.round_id.is_empty() || j.round_id.len() > 32 {
            return Err(self.malformed(
                CALL,
                format!("roundId {:?} is empty or longer than 32 bytes", j.round_id),
            ));
        }
        let round_end = parse_duration(&j.round_end).map_err(|e| self.malformed(CALL, e))?;
        Ok(Registered {
            round_id: j.round_id,
            round_end,
        })
    }

    /// `GET /v1/proofs/{round}`: the proof, checked to contain `challenge` in its members;
    /// the statement is the member tree's root, computed here.
    pub async fn proof(
        &self,
        round: &str,
        challenge: &[u8; 32],
    ) -> Result<FetchedProof, PoetError> {
        const CALL: &str = "proofs";
        let path = format!("/v1/proofs/{}", url_escape(round));
        let body = match self.call(CALL, Method::GET, self.url(&path), None).await {
            Err(PoetError::Status { status: 404, .. }) => {
                return Err(PoetError::NotReady {
                    poet: self.name(),
                    round: round.to_string(),
                })
            }
            other => other?,
        };
        let j: ProofsJson = self.json(CALL, &body)?;
        let m = |e: String| self.malformed(CALL, e);
        if j.proof.members.len() > membership::MAX_MEMBERS {
            return Err(m(format!(
                "{} members, at most {}",
                j.proof.members.len(),
                membership::MAX_MEMBERS
            )));
        }
        let members = j
            .proof
            .members
            .iter()
            .enumerate()
            .map(|(i, t)| b64_fixed::<32>(t, &format!("members[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(m)?;
        let leaves = match j.proof.leaves {
            U64Json::Number(n) => n,
            U64Json::Text(t) => t
                .parse()
                .map_err(|_| m(format!("leaves {t:?} is not a uint64")))?,
        };
        if j.proof.proof.proven_leaves.len() > 150 || j.proof.proof.proof_nodes.len() > 5400 {
            return Err(m("too many proven leaves or proof nodes".to_string()));
        }
        let list = |v: &[String], what: &str| {
            v.iter()
                .enumerate()
                .map(|(i, t)| b64_max(t, 32, &format!("{what}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
        };
        let proof = PoetProof {
            merkle_proof: MerkleProof {
                root: b64_max(&j.proof.proof.root, 32, "proof.root").map_err(m)?,
                proven_leaves: list(&j.proof.proof.proven_leaves, "provenLeaves").map_err(m)?,
                proof_nodes: list(&j.proof.proof.proof_nodes, "proofNodes").map_err(m)?,
            },
            leaf_count: leaves,
        };
        let pubkey = b64_max(&j.pubkey, 32, "pubkey").map_err(m)?;
        let index =
            membership::position(&members, challenge).ok_or_else(|| PoetError::NotMember {
                poet: self.name(),
                round: round.to_string(),
            })?;
        let statement = membership::root(&members).ok_or_else(|| m("no members".to_string()))?;
        let membership =
            membership::prove(&members, index).ok_or_else(|| m("member index".to_string()))?;
        if round.len() > 32 {
            return Err(m(format!("round id {round:?} longer than 32 bytes")));
        }
        Ok(FetchedProof {
            message: PoetProofMessage {
                poet_proof: proof,
                poet_service_id: pubkey,
                round_id: round.to_string(),
                statement: Hash32(statement),
                signature: Default::default(),
            },
            membership,
        })
    }

    /// `POST {certifier}/certify` with the initial PoST; the answer's key must be the one the
    /// PoET advertises. Returns (certificate data, signature).
    pub async fn certify(
        &self,
        certifier: &CertifierInfo,
        post: &codec::PostV1,
        node_id: &[u8; 32],
        commitment_atx: &[u8; 32],
        num_units: u32,
    ) -> Result<(Vec<u8>, Vec<u8>), PoetError> {
        let err = |reason: String| PoetError::Certifier {
            url: gateway::redact(&certifier.url),
            reason,
        };
        let body = serde_json::json!({
            "proof": {"nonce": post.nonce, "indices": B64.encode(&post.indices), "pow": post.pow},
            "metadata": {
                "node_id": B64.encode(node_id),
                "commitment_atx_id": B64.encode(commitment_atx),
                "challenge": B64.encode([0u8; 32]),
                "num_units": num_units,
            },
        });
        let url = format!("{}/certify", certifier.url.as_str().trim_end_matches('/'));
        let bytes = serde_json::to_vec(&body).map_err(|e| err(e.to_string()))?;
        let answer = self
            .call("certify", Method::POST, url, Some(bytes))
            .await
            .map_err(|e| err(e.to_string()))?;
        let j: CertifyJson =
            serde_json::from_slice(&answer).map_err(|e| err(format!("malformed answer: {e}")))?;
        let key: [u8; 32] = b64_fixed(&j.pub_key, "pub_key").map_err(err)?;
        if key != certifier.pubkey {
            return Err(err(
                "certificate signed by a key the PoET does not advertise".into(),
            ));
        }
        let data = b64_max(&j.certificate, 1024, "certificate").map_err(err)?;
        let signature = b64_max(&j.signature, 64, "signature").map_err(err)?;
        Ok((data, signature))
    }
}

/// Percent-escapes a round ID for a path segment.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The best of the proofs: most leaves, ties to the first.
pub fn best(proofs: Vec<(String, FetchedProof)>) -> Option<(String, FetchedProof)> {
    let mut best: Option<(String, FetchedProof)> = None;
    for p in proofs {
        if best.as_ref().is_none_or(|b| p.1.leaves() > b.1.leaves()) {
            best = Some(p);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_protojson() {
        assert_eq!(parse_duration("864000s"), Ok(Duration::from_secs(864_000)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("-3s"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1e3s").is_err());
        assert!(parse_duration("1.0000000001s").is_err());
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.500000000s");
        assert_eq!(
            parse_duration(&format_duration(Duration::from_millis(1500))),
            Ok(Duration::from_millis(1500))
        );
    }

    #[test]
    fn best_proof_has_most_leaves() {
        let p = |leaves| FetchedProof {
            message: PoetProofMessage {
                poet_proof: PoetProof {
                    leaf_count: leaves,
                    ..Default::default()
                },
                ..Default::default()
            },
            membership: MerkleProofV1::default(),
        };
        let got = best(vec![
            ("a".into(), p(3)),
            ("b".into(), p(7)),
            ("c".into(), p(7)),
        ]);
        assert_eq!(got.map(|g| g.0), Some("b".to_string()));
        assert!(best(Vec::new()).is_none());
    }
}

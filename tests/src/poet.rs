//! A fake PoET server: the REST API of PROTOCOL §2.4 (`/v1/info`, `/v1/pow_params`,
//! `/v1/submit`, `/v1/proofs/{round}`) with a real signature and PoW check, rounds driven by
//! the network's layer clock, and proofs whose statement is the real member-tree root.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use codec::{MerkleProof, PoetProof};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::chain::Network;
use crate::clock::proto_duration;

/// How a fake PoET misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoetFault {
    /// Answers as a PoET should.
    #[default]
    None,
    /// Every call gets 503.
    Down,
    /// Every call gets a 200 with a body that is not the expected JSON.
    Garbage,
    /// Proofs leave out every member (so ours is missing).
    DropMembers,
}

/// Round and PoW parameters of a fake PoET.
#[derive(Debug, Clone)]
pub struct PoetSettings {
    pub phase_shift: Duration,
    pub cycle_gap: Duration,
    /// Leading zero bits the registration PoW needs.
    pub pow_difficulty: u32,
    /// Leaf count of every proof (ticks); PoETs with more leaves give better proofs.
    pub leaves: u64,
}

#[derive(Debug, Default)]
struct State {
    /// round → members in submission order.
    rounds: BTreeMap<u32, Vec<[u8; 32]>>,
    fault: PoetFault,
    submits: u64,
    proofs_served: u64,
    /// The certifier key, when the PoET advertises a certifier (served on its own port).
    certifier: Option<[u8; 32]>,
    certified_submits: u64,
    certifications: u64,
}

#[derive(Debug)]
struct Shared {
    net: Network,
    settings: PoetSettings,
    pubkey: [u8; 32],
    pow_challenge: [u8; 32],
    state: Mutex<State>,
}

/// A running fake PoET; dropping it stops the server.
#[derive(Debug)]
pub struct FakePoet {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for FakePoet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakePoet {
    /// Starts a PoET on 127.0.0.1:0 whose rounds follow `net`'s clock.
    pub async fn start(
        net: &Network,
        settings: PoetSettings,
        seed: u8,
    ) -> std::io::Result<FakePoet> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let pubkey = *blake3::hash(&[b"simnet-poet-key".as_slice(), &[seed]].concat()).as_bytes();
        let pow_challenge =
            *blake3::hash(&[b"simnet-poet-pow".as_slice(), &[seed]].concat()).as_bytes();
        let shared = Arc::new(Shared {
            net: net.clone(),
            settings,
            pubkey,
            pow_challenge,
            state: Mutex::new(State::default()),
        });
        let task = tokio::spawn(accept(listener, shared.clone()));
        Ok(FakePoet { shared, addr, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The service public key `/v1/info` advertises.
    pub fn pubkey(&self) -> [u8; 32] {
        self.shared.pubkey
    }

    pub fn set_fault(&self, fault: PoetFault) {
        lock(&self.shared.state).fault = fault;
    }

    /// Accepted submissions so far.
    pub fn submits(&self) -> u64 {
        lock(&self.shared.state).submits
    }

    /// Proofs served so far.
    pub fn proofs_served(&self) -> u64 {
        lock(&self.shared.state).proofs_served
    }

    /// Advertises a certifier (served by this PoET at `/certify`) whose certificates
    /// authorise submissions instead of the PoW.
    pub fn enable_certifier(&self) {
        let seed = *blake3::hash(&[b"simnet-certifier".as_slice(), &self.shared.pubkey].concat())
            .as_bytes();
        lock(&self.shared.state).certifier = Some(seed);
    }

    /// Submissions authorised by a certificate.
    pub fn certified_submits(&self) -> u64 {
        lock(&self.shared.state).certified_submits
    }

    /// Certificates handed out by the certifier.
    pub fn certifications(&self) -> u64 {
        lock(&self.shared.state).certifications
    }

    /// Members of a round.
    pub fn members(&self, round: u32) -> Vec<[u8; 32]> {
        lock(&self.shared.state)
            .rounds
            .get(&round)
            .cloned()
            .unwrap_or_default()
    }
}

impl Shared {
    fn epoch_start(&self, epoch: u32) -> SystemTime {
        let clock = self.net.clock();
        clock.layer_start(clock.first_layer_of(epoch))
    }

    /// Round `r` proves challenges of ATXs published in epoch r+1.
    fn round_start(&self, r: u32) -> SystemTime {
        self.epoch_start(r) + self.settings.phase_shift
    }

    fn round_end(&self, r: u32) -> SystemTime {
        (self.epoch_start(r + 1) + self.settings.phase_shift)
            .checked_sub(self.settings.cycle_gap)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// The round open for submissions at `now`: the first that has not started.
    fn open_round(&self, now: SystemTime) -> u32 {
        let clock = self.net.clock();
        let mut r = clock.epoch_of(clock.layer_at(now)).saturating_sub(1);
        while self.round_start(r) <= now {
            r += 1;
        }
        r
    }
}

/// `CertOnWire{Pubkey bytes, Expiration Option<u64>}` with no expiration.
fn certificate_data(node_id: &[u8; 32]) -> Vec<u8> {
    let mut data = vec![32u8 << 2];
    data.extend_from_slice(node_id);
    data.push(0);
    data
}

fn certifier_key(seed: &[u8; 32]) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(seed)
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

/// grpc-gateway's error shape.
fn error(status: StatusCode, code: u32, message: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        json!({"code": code, "message": message, "details": []}),
    )
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let fault = lock(&shared.state).fault;
    match fault {
        PoetFault::Down => {
            return error(StatusCode::SERVICE_UNAVAILABLE, 14, "simnet: PoET is down")
        }
        PoetFault::Garbage => {
            return Response::new(Full::new(Bytes::from_static(
                b"{\"not\": \"a poet answer\"",
            )))
        }
        _ => {}
    }
    let method = req.method().clone();
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let path = req.uri().path().to_string();
    let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(StatusCode::BAD_REQUEST, 3, "body too large"),
    };
    match (&method, path.as_str()) {
        (&Method::GET, "/v1/info") => {
            let mut info = json!({
                "servicePubkey": B64.encode(shared.pubkey),
                "phaseShift": proto_duration(shared.settings.phase_shift),
                "cycleGap": proto_duration(shared.settings.cycle_gap),
            });
            if let Some(seed) = lock(&shared.state).certifier {
                info["certifier"] = json!({
                    "url": format!("http://{}", host),
                    "pubkey": B64.encode(certifier_key(&seed).verifying_key().to_bytes()),
                });
            }
            reply(StatusCode::OK, info)
        }
        (&Method::POST, "/certify") => certify(shared, &body),
        (&Method::GET, "/v1/pow_params") => reply(
            StatusCode::OK,
            json!({"powParams": {
                "difficulty": shared.settings.pow_difficulty,
                "challenge": B64.encode(shared.pow_challenge),
            }}),
        ),
        (&Method::POST, "/v1/submit") => submit(shared, &body),
        (&Method::GET, p) if p.starts_with("/v1/proofs/") => {
            proof(shared, &p["/v1/proofs/".len()..])
        }
        _ => error(StatusCode::NOT_FOUND, 5, "Not Found"),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubmitBody {
    prefix: String,
    challenge: String,
    pubkey: String,
    signature: String,
    deadline: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    pow_params: Option<PowParamsBody>,
    #[serde(default)]
    certificate: Option<CertificateBody>,
}

#[derive(Deserialize)]
struct CertificateBody {
    data: String,
    signature: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertifyBody {
    proof: CertifyProof,
    metadata: CertifyMetadata,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertifyProof {
    nonce: u32,
    indices: String,
    pow: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertifyMetadata {
    node_id: String,
    commitment_atx_id: String,
    challenge: String,
    num_units: u32,
}

/// The certifier: checks the request's shape (an initial PoST for the all-zero challenge) and
/// certifies the node ID.
fn certify(shared: &Shared, body: &[u8]) -> Response<Full<Bytes>> {
    let Some(seed) = lock(&shared.state).certifier else {
        return error(StatusCode::NOT_FOUND, 5, "Not Found");
    };
    let b: CertifyBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, 3, &format!("invalid request: {e}")),
    };
    let checked = (|| -> Result<[u8; 32], String> {
        let node: [u8; 32] = b64n(&b.metadata.node_id, "node_id")?;
        let _: [u8; 32] = b64n(&b.metadata.commitment_atx_id, "commitment_atx_id")?;
        let challenge: [u8; 32] = b64n(&b.metadata.challenge, "challenge")?;
        if challenge != [0; 32] || b.metadata.num_units == 0 {
            return Err("not an initial PoST".into());
        }
        if B64
            .decode(&b.proof.indices)
            .map_err(|e| e.to_string())?
            .is_empty()
        {
            return Err("no indices".into());
        }
        let _ = (b.proof.nonce, b.proof.pow);
        Ok(node)
    })();
    let node = match checked {
        Ok(n) => n,
        Err(e) => return error(StatusCode::BAD_REQUEST, 3, &e),
    };
    lock(&shared.state).certifications += 1;
    let key = certifier_key(&seed);
    let data = certificate_data(&node);
    let sig = ed25519_dalek::Signer::sign(&key, &data);
    reply(
        StatusCode::OK,
        json!({
            "certificate": B64.encode(&data),
            "signature": B64.encode(sig.to_bytes()),
            "pub_key": B64.encode(key.verifying_key().to_bytes()),
        }),
    )
}

#[derive(Deserialize)]
struct PowParamsBody {
    difficulty: u32,
    challenge: String,
}

fn b64n<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    let v = B64.decode(text).map_err(|e| format!("{what}: {e}"))?;
    v.try_into().map_err(|_| format!("{what}: want {N} bytes"))
}

fn submit(shared: &Shared, body: &[u8]) -> Response<Full<Bytes>> {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, 3, &m);
    let b: SubmitBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return bad(format!("invalid request: {e}")),
    };
    let parsed = (|| -> Result<_, String> {
        let prefix = B64.decode(&b.prefix).map_err(|e| format!("prefix: {e}"))?;
        let challenge: [u8; 32] = b64n(&b.challenge, "challenge")?;
        let pubkey: [u8; 32] = b64n(&b.pubkey, "pubkey")?;
        let signature: [u8; 64] = b64n(&b.signature, "signature")?;
        let deadline =
            humantime::parse_rfc3339(&b.deadline).map_err(|e| format!("deadline: {e}"))?;
        Ok((prefix, challenge, pubkey, signature, deadline))
    })();
    let (prefix, challenge, pubkey, signature, deadline) = match parsed {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    let mut want_prefix = shared.net.genesis_id().to_vec();
    want_prefix.push(signing::Domain::POET.byte());
    if prefix != want_prefix {
        return bad("prefix is not genesis ID ‖ POET domain".into());
    }
    let signed = [prefix.as_slice(), challenge.as_slice()].concat();
    if !signing::verifier::verify_raw(&pubkey, &signed, &signature) {
        return error(StatusCode::UNAUTHORIZED, 16, "invalid signature");
    }
    if let Some(cert) = &b.certificate {
        let seed = lock(&shared.state).certifier;
        let (Some(seed), Ok(data), Ok(sig)) = (
            seed,
            B64.decode(&cert.data),
            b64n::<64>(&cert.signature, "certificate.signature"),
        ) else {
            return error(StatusCode::UNAUTHORIZED, 16, "invalid certificate");
        };
        let key = certifier_key(&seed).verifying_key();
        let valid = key
            .verify_strict(&data, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok();
        if !valid || data != certificate_data(&pubkey) {
            return error(StatusCode::UNAUTHORIZED, 16, "invalid certificate");
        }
        return register(shared, challenge, deadline, true);
    }
    let (Some(nonce), Some(params)) = (b.nonce, b.pow_params) else {
        return error(
            StatusCode::UNAUTHORIZED,
            16,
            "no certificate and no proof of work",
        );
    };
    let Ok(nonce) = nonce.parse::<u64>() else {
        return bad("nonce is not a uint64".into());
    };
    if B64.decode(&params.challenge).ok().as_deref() != Some(shared.pow_challenge.as_slice())
        || params.difficulty != shared.settings.pow_difficulty
    {
        return bad("stale PoW parameters".into());
    }
    if !smesher::atx::pow::verify(
        &shared.pow_challenge,
        &pubkey,
        &challenge,
        nonce,
        params.difficulty,
    ) {
        return error(StatusCode::UNAUTHORIZED, 16, "invalid proof of work");
    }
    register(shared, challenge, deadline, false)
}

fn register(
    shared: &Shared,
    challenge: [u8; 32],
    deadline: SystemTime,
    certified: bool,
) -> Response<Full<Bytes>> {
    let now = SystemTime::now();
    let round = shared.open_round(now);
    let end = shared.round_end(round);
    if deadline < end {
        return error(
            StatusCode::BAD_REQUEST,
            3,
            "deadline is before the round ends",
        );
    }
    let mut st = lock(&shared.state);
    let members = st.rounds.entry(round).or_default();
    // A repeated submission (a client that restarted) keeps its place and gets the same answer.
    if !members.contains(&challenge) {
        members.push(challenge);
        st.submits += 1;
        if certified {
            st.certified_submits += 1;
        }
    }
    reply(
        StatusCode::OK,
        json!({
            "roundId": round.to_string(),
            "roundEnd": proto_duration(end.duration_since(now).unwrap_or_default()),
        }),
    )
}

fn proof(shared: &Shared, round: &str) -> Response<Full<Bytes>> {
    let Ok(r) = round.parse::<u32>() else {
        return error(StatusCode::BAD_REQUEST, 3, "round id is not a number");
    };
    if SystemTime::now() < shared.round_end(r) {
        return error(StatusCode::NOT_FOUND, 5, "proof not found");
    }
    let mut st = lock(&shared.state);
    let fault = st.fault;
    let Some(members) = st.rounds.get(&r).cloned() else {
        return error(StatusCode::NOT_FOUND, 5, "proof not found");
    };
    st.proofs_served += 1;
    drop(st);
    let statement = smesher::atx::membership::root(&members).unwrap_or_default();
    let derive = |tag: &str, i: u8| -> Vec<u8> {
        blake3::hash(&[tag.as_bytes(), &statement, &[i]].concat())
            .as_bytes()
            .to_vec()
    };
    let poet_proof = PoetProof {
        merkle_proof: MerkleProof {
            root: derive("root", 0),
            proven_leaves: (0..3).map(|i| derive("leaf", i)).collect(),
            proof_nodes: (0..5).map(|i| derive("node", i)).collect(),
        },
        leaf_count: shared.settings.leaves,
    };
    shared
        .net
        .record_poet_proof(poet_proof.reference().0, statement, poet_proof.leaf_count);
    let shown: Vec<[u8; 32]> = if fault == PoetFault::DropMembers {
        Vec::new()
    } else {
        members
    };
    let b64s = |v: &[Vec<u8>]| v.iter().map(|x| B64.encode(x)).collect::<Vec<_>>();
    reply(
        StatusCode::OK,
        json!({
            "proof": {
                "proof": {
                    "root": B64.encode(&poet_proof.merkle_proof.root),
                    "provenLeaves": b64s(&poet_proof.merkle_proof.proven_leaves),
                    "proofNodes": b64s(&poet_proof.merkle_proof.proof_nodes),
                },
                "members": shown.iter().map(|m| B64.encode(m)).collect::<Vec<_>>(),
                "leaves": poet_proof.leaf_count.to_string(),
            },
            "pubkey": B64.encode(shared.pubkey),
        }),
    )
}

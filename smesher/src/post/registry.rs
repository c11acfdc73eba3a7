//! The server side of `spacemesh.v1.PostService.Register`: one stream per identity, driven by
//! typed requests ([`PostClient::prove`]), and `PostInfoService.PostStates`.
//!
//! On a new stream the server asks for the metadata first and registers the stream under the
//! node ID it names; a second stream for an ID already registered is refused. After that the
//! server sends one request at a time and reads exactly one response to it. A proof is asked
//! for by repeating the same `GenProofRequest` every query interval until the post-service
//! answers OK with a proof (whose metadata must name the same challenge) or an error.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::Stream;
use proto::spacemesh::v1 as pb;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tonic::{Request, Response, Status, Streaming};

/// How often an unfinished proof is asked for again (go-spacemesh's `queryInterval`).
pub const DEFAULT_QUERY_INTERVAL: Duration = Duration::from_secs(2);
/// How long a new stream may take to answer the metadata request.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The error a second stream for a registered node ID ends with.
pub const ALREADY_REGISTERED: &str = "post service already registered";
/// The error every stream ends with when this service does not smesh (no coinbase).
pub const NOT_ALLOWED: &str = "connection not allowed: node has no coinbase set in config";

/// What a post-service says about its data (`spacemesh.v1.Metadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostInfo {
    pub node_id: [u8; 32],
    pub commitment_atx_id: [u8; 32],
    /// The VRF nonce of the data (needed for the initial PoST).
    pub nonce: Option<u64>,
    pub num_units: u32,
    pub labels_per_unit: u64,
}

fn id32(bytes: &[u8], field: &str) -> Result<[u8; 32], String> {
    bytes
        .try_into()
        .map_err(|_| format!("{field} has {} bytes, expected 32", bytes.len()))
}

impl PostInfo {
    /// Reads the protobuf metadata; wrong lengths are named.
    pub fn from_proto(m: &pb::Metadata) -> Result<Self, String> {
        Ok(PostInfo {
            node_id: id32(&m.node_id, "metadata.node_id")?,
            commitment_atx_id: id32(&m.commitment_atx_id, "metadata.commitment_atx_id")?,
            nonce: m.nonce,
            num_units: m.num_units,
            labels_per_unit: m.labels_per_unit,
        })
    }

    pub fn to_proto(&self) -> pb::Metadata {
        pb::Metadata {
            node_id: self.node_id.to_vec(),
            commitment_atx_id: self.commitment_atx_id.to_vec(),
            nonce: self.nonce,
            num_units: self.num_units,
            labels_per_unit: self.labels_per_unit,
        }
    }

    /// The data's metadata as the post crate writes it.
    pub fn from_post(meta: &post::PostMetadata) -> Self {
        PostInfo {
            node_id: meta.node_id,
            commitment_atx_id: meta.commitment_atx_id,
            nonce: meta.nonce,
            num_units: meta.num_units,
            labels_per_unit: meta.labels_per_unit,
        }
    }

    /// What the verifier needs to check a proof of this data against `challenge`.
    pub fn proof_metadata(&self, challenge: [u8; 32]) -> post::ProofMetadata {
        post::ProofMetadata {
            node_id: self.node_id,
            commitment_atx_id: self.commitment_atx_id,
            challenge,
            num_units: self.num_units,
        }
    }
}

/// Why a proof could not be had from a post-service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error("no post-service is connected for identity {0}")]
    NotConnected(String),
    #[error("the post-service of identity {0} disconnected")]
    Disconnected(String),
    #[error("the post-service of identity {node} failed: {reason}")]
    Failed { node: String, reason: String },
    #[error("the post-service of identity {node} broke the protocol: {reason}")]
    Protocol { node: String, reason: String },
}

type Reply = oneshot::Sender<Result<pb::ServiceResponse, PostError>>;

struct Conn {
    id: u64,
    info: PostInfo,
    calls: mpsc::Sender<(pb::NodeRequest, Reply)>,
}

#[derive(Default)]
struct State {
    conns: HashMap<[u8; 32], Conn>,
    proving: HashMap<[u8; 32], usize>,
}

struct Inner {
    state: Mutex<State>,
    changed: Notify,
    closed: watch::Sender<bool>,
    next_id: AtomicU64,
    options: RegistryOptions,
}

/// How the registry treats streams.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// False when this service does not smesh (no coinbase): every stream is refused.
    pub accept: bool,
    /// The identities a stream may register for (with their names for `PostStates`); `None`
    /// accepts any node ID.
    pub identities: Option<Vec<([u8; 32], String)>>,
    pub query_interval: Duration,
    pub handshake_timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            accept: true,
            identities: None,
            query_interval: DEFAULT_QUERY_INTERVAL,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// The connected post-services, by node ID. Cheap to clone.
#[derive(Clone)]
pub struct PostRegistry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PostRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostRegistry")
            .field("connected", &self.connected().len())
            .finish()
    }
}

impl PostRegistry {
    pub fn new(options: RegistryOptions) -> Self {
        PostRegistry {
            inner: Arc::new(Inner {
                state: Mutex::default(),
                changed: Notify::new(),
                closed: watch::channel(false).0,
                next_id: AtomicU64::new(1),
                options,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ends every stream and refuses new ones (the listener is shutting down).
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    /// Node IDs with a registered post-service.
    pub fn connected(&self) -> Vec<[u8; 32]> {
        self.state().conns.keys().copied().collect()
    }

    /// The post-service of `node_id`, if one is registered.
    pub fn client(&self, node_id: &[u8; 32]) -> Option<PostClient> {
        let state = self.state();
        state.conns.get(node_id).map(|c| PostClient {
            registry: self.clone(),
            info: c.info,
            calls: c.calls.clone(),
        })
    }

    /// Waits up to `timeout` for a post-service of `node_id` to register.
    pub async fn wait_for(&self, node_id: &[u8; 32], timeout: Duration) -> Option<PostClient> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            if let Some(c) = self.client(node_id) {
                return Some(c);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.client(node_id);
            }
        }
    }

    /// A proof of `node_id`'s data for `challenge` from its registered post-service.
    pub async fn prove(
        &self,
        node_id: &[u8; 32],
        challenge: [u8; 32],
    ) -> Result<(post::Proof, PostInfo), PostError> {
        let client = self
            .client(node_id)
            .ok_or_else(|| PostError::NotConnected(hex::encode(node_id)))?;
        client.prove(challenge).await
    }

    /// The tonic service to add to a server.
    pub fn service(&self) -> pb::post_service_server::PostServiceServer<PostServiceImpl> {
        pb::post_service_server::PostServiceServer::new(PostServiceImpl {
            registry: self.clone(),
        })
    }

    /// The tonic `PostInfoService` to add to a server.
    pub fn info_service(
        &self,
    ) -> pb::post_info_service_server::PostInfoServiceServer<PostServiceImpl> {
        pb::post_info_service_server::PostInfoServiceServer::new(PostServiceImpl {
            registry: self.clone(),
        })
    }

    /// Per identity: `PROVING` while a proof is being asked for, else `IDLE`.
    pub fn states(&self) -> Vec<pb::PostState> {
        let state = self.state();
        let mut ids: Vec<([u8; 32], String)> = match &self.inner.options.identities {
            Some(ids) => ids.clone(),
            None => state.conns.keys().map(|id| (*id, String::new())).collect(),
        };
        ids.sort();
        ids.into_iter()
            .map(|(id, name)| pb::PostState {
                id: id.to_vec(),
                state: if state.proving.get(&id).copied().unwrap_or(0) > 0 {
                    pb::post_state::State::Proving as i32
                } else {
                    pb::post_state::State::Idle as i32
                },
                name,
            })
            .collect()
    }

    fn insert(
        &self,
        info: PostInfo,
        calls: mpsc::Sender<(pb::NodeRequest, Reply)>,
    ) -> Result<u64, ()> {
        let mut state = self.state();
        if state.conns.contains_key(&info.node_id) {
            return Err(());
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        state.conns.insert(info.node_id, Conn { id, info, calls });
        drop(state);
        self.inner.changed.notify_waiters();
        Ok(id)
    }

    fn remove(&self, node_id: &[u8; 32], id: u64) {
        let mut state = self.state();
        if state.conns.get(node_id).is_some_and(|c| c.id == id) {
            state.conns.remove(node_id);
        }
        drop(state);
        self.inner.changed.notify_waiters();
    }

    fn proving(&self, node_id: &[u8; 32], delta: isize) {
        let mut state = self.state();
        let n = state.proving.entry(*node_id).or_default();
        *n = n.saturating_add_signed(delta);
    }
}

/// A registered post-service: sends it requests, one at a time.
#[derive(Debug, Clone)]
pub struct PostClient {
    registry: PostRegistry,
    info: PostInfo,
    calls: mpsc::Sender<(pb::NodeRequest, Reply)>,
}

struct ProvingMark<'a>(&'a PostRegistry, [u8; 32]);

impl Drop for ProvingMark<'_> {
    fn drop(&mut self) {
        self.0.proving(&self.1, -1);
    }
}

impl PostClient {
    /// The metadata the post-service registered with.
    pub fn info(&self) -> &PostInfo {
        &self.info
    }

    fn node(&self) -> String {
        hex::encode(self.info.node_id)
    }

    async fn call(&self, kind: pb::node_request::Kind) -> Result<pb::ServiceResponse, PostError> {
        let (reply, answer) = oneshot::channel();
        let request = pb::NodeRequest { kind: Some(kind) };
        self.calls
            .send((request, reply))
            .await
            .map_err(|_| PostError::Disconnected(self.node()))?;
        answer
            .await
            .map_err(|_| PostError::Disconnected(self.node()))?
    }

    /// Asks the post-service for its metadata again.
    pub async fn metadata(&self) -> Result<PostInfo, PostError> {
        let response = self
            .call(pb::node_request::Kind::Metadata(pb::MetadataRequest {}))
            .await?;
        match response.kind {
            Some(pb::service_response::Kind::Metadata(pb::MetadataResponse { meta: Some(m) })) => {
                PostInfo::from_proto(&m).map_err(|reason| PostError::Protocol {
                    node: self.node(),
                    reason,
                })
            }
            other => Err(PostError::Protocol {
                node: self.node(),
                reason: format!("answered a metadata request with {other:?}"),
            }),
        }
    }

    /// A proof for `challenge`: asks again every query interval while the post-service answers
    /// "OK, still proving"; returns the proof and the metadata it came with.
    pub async fn prove(&self, challenge: [u8; 32]) -> Result<(post::Proof, PostInfo), PostError> {
        self.registry.proving(&self.info.node_id, 1);
        let _mark = ProvingMark(&self.registry, self.info.node_id);
        let protocol = |reason: String| PostError::Protocol {
            node: self.node(),
            reason,
        };
        loop {
            let response = self
                .call(pb::node_request::Kind::GenProof(pb::GenProofRequest {
                    challenge: challenge.to_vec(),
                }))
                .await?;
            let r = match response.kind {
                Some(pb::service_response::Kind::GenProof(r)) => r,
                other => return Err(protocol(format!("answered a proof request with {other:?}"))),
            };
            match pb::GenProofStatus::try_from(r.status) {
                Ok(pb::GenProofStatus::Ok) => {}
                Ok(pb::GenProofStatus::Error) => {
                    return Err(PostError::Failed {
                        node: self.node(),
                        reason: "it answered GEN_PROOF_STATUS_ERROR".into(),
                    })
                }
                _ => {
                    return Err(protocol(format!(
                        "proof status {} is neither OK nor ERROR",
                        r.status
                    )))
                }
            }
            let Some(proof) = r.proof else {
                tokio::select! {
                    _ = tokio::time::sleep(self.registry.inner.options.query_interval) => {}
                    _ = self.calls.closed() => return Err(PostError::Disconnected(self.node())),
                }
                continue;
            };
            let metadata = r
                .metadata
                .ok_or_else(|| protocol("a proof came without metadata".into()))?;
            if metadata.challenge != challenge {
                return Err(protocol(format!(
                    "the proof is for challenge {}, not the requested {}",
                    hex::encode(&metadata.challenge),
                    hex::encode(challenge)
                )));
            }
            let meta = metadata
                .meta
                .ok_or_else(|| protocol("the proof metadata has no meta".into()))?;
            let info = PostInfo::from_proto(&meta).map_err(protocol)?;
            if info.node_id != self.info.node_id {
                return Err(protocol(format!(
                    "the proof is for identity {}",
                    hex::encode(info.node_id)
                )));
            }
            return Ok((
                post::Proof {
                    nonce: proof.nonce,
                    indices: proof.indices,
                    pow: proof.pow,
                },
                info,
            ));
        }
    }
}

/// The tonic services behind [`PostRegistry::service`] and [`PostRegistry::info_service`].
#[derive(Debug, Clone)]
pub struct PostServiceImpl {
    registry: PostRegistry,
}

type RequestStream = Pin<Box<dyn Stream<Item = Result<pb::NodeRequest, Status>> + Send>>;

#[tonic::async_trait]
impl pb::post_service_server::PostService for PostServiceImpl {
    type RegisterStream = RequestStream;

    async fn register(
        &self,
        request: Request<Streaming<pb::ServiceResponse>>,
    ) -> Result<Response<Self::RegisterStream>, Status> {
        if *self.registry.inner.closed.borrow() {
            return Err(Status::unavailable("the post listener is shutting down"));
        }
        if !self.registry.inner.options.accept {
            return Err(Status::failed_precondition(NOT_ALLOWED));
        }
        let inbound = request.into_inner();
        let (out, rx) = mpsc::channel(1);
        tokio::spawn(drive(self.registry.clone(), inbound, out));
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[tonic::async_trait]
impl pb::post_info_service_server::PostInfoService for PostServiceImpl {
    async fn post_states(
        &self,
        _request: Request<pb::PostStatesRequest>,
    ) -> Result<Response<pb::PostStatesResponse>, Status> {
        Ok(Response::new(pb::PostStatesResponse {
            states: self.registry.states(),
        }))
    }
}

async fn until_closed(closed: &mut watch::Receiver<bool>) {
    let _ = closed.wait_for(|c| *c).await;
}

type Out = mpsc::Sender<Result<pb::NodeRequest, Status>>;

/// Runs one stream: the metadata handshake, then requests from the registry one at a time.
async fn drive(registry: PostRegistry, mut inbound: Streaming<pb::ServiceResponse>, out: Out) {
    let metadata = pb::NodeRequest {
        kind: Some(pb::node_request::Kind::Metadata(pb::MetadataRequest {})),
    };
    if out.send(Ok(metadata)).await.is_err() {
        return;
    }
    let mut closed = registry.inner.closed.subscribe();
    let timeout = registry.inner.options.handshake_timeout;
    let first = tokio::select! {
        _ = until_closed(&mut closed) => return,
        first = tokio::time::timeout(timeout, inbound.message()) => first,
    };
    let info = match first {
        Ok(Ok(Some(pb::ServiceResponse {
            kind: Some(pb::service_response::Kind::Metadata(pb::MetadataResponse { meta: Some(m) })),
        }))) => PostInfo::from_proto(&m),
        Ok(Ok(Some(other))) => Err(format!("expected a metadata response first, got {other:?}")),
        Ok(Ok(None)) => return,
        Ok(Err(status)) => {
            tracing::debug!("post-service stream failed before registering: {status}");
            return;
        }
        Err(_) => Err(format!("no metadata response within {timeout:?}")),
    };
    let info = match info {
        Ok(info) => info,
        Err(reason) => {
            tracing::warn!("post-service refused: {reason}");
            let _ = out.send(Err(Status::invalid_argument(reason))).await;
            return;
        }
    };
    let node = hex::encode(info.node_id);
    if let Some(ids) = &registry.inner.options.identities {
        if !ids.iter().any(|(id, _)| *id == info.node_id) {
            tracing::warn!(node_id = %node, "post-service refused: not an identity of this service");
            let reason = format!("node id {node} is not an identity of this smeshing service");
            let _ = out.send(Err(Status::permission_denied(reason))).await;
            return;
        }
    }
    let (calls, mut requests) = mpsc::channel(1);
    let Ok(id) = registry.insert(info, calls) else {
        tracing::warn!(node_id = %node, "post-service refused: {ALREADY_REGISTERED}");
        let _ = out
            .send(Err(Status::already_exists(ALREADY_REGISTERED)))
            .await;
        return;
    };
    tracing::info!(node_id = %node, num_units = info.num_units, "post-service registered");
    loop {
        tokio::select! {
            call = requests.recv() => {
                let Some((request, reply)) = call else { break };
                if out.send(Ok(request)).await.is_err() {
                    let _ = reply.send(Err(PostError::Disconnected(node.clone())));
                    break;
                }
                match inbound.message().await {
                    Ok(Some(response)) => { let _ = reply.send(Ok(response)); }
                    Ok(None) | Err(_) => {
                        let _ = reply.send(Err(PostError::Disconnected(node.clone())));
                        break;
                    }
                }
            }
            message = inbound.message() => {
                match message {
                    Ok(Some(_)) => {
                        tracing::warn!(node_id = %node, "post-service sent a response nobody asked for; closing its stream");
                        let _ = out.send(Err(Status::invalid_argument("response without a request"))).await;
                    }
                    Ok(None) => {}
                    Err(status) => tracing::debug!(node_id = %node, "post-service stream failed: {status}"),
                }
                break;
            }
            _ = out.closed() => break,
            _ = until_closed(&mut closed) => {
                let _ = out.try_send(Err(Status::unavailable("the post listener is shutting down")));
                break;
            }
        }
    }
    registry.remove(&info.node_id, id);
    tracing::info!(node_id = %node, "post-service disconnected");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_bad_ids_are_named() {
        let info = PostInfo {
            node_id: [1; 32],
            commitment_atx_id: [2; 32],
            nonce: Some(7),
            num_units: 4,
            labels_per_unit: 1024,
        };
        assert_eq!(PostInfo::from_proto(&info.to_proto()), Ok(info));
        let mut bad = info.to_proto();
        bad.commitment_atx_id.pop();
        let err = PostInfo::from_proto(&bad).unwrap_err();
        assert!(
            err.contains("metadata.commitment_atx_id has 31 bytes"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn prove_without_a_post_service_is_not_connected() {
        let registry = PostRegistry::new(RegistryOptions::default());
        let err = registry.prove(&[3; 32], [0; 32]).await.unwrap_err();
        assert_eq!(err, PostError::NotConnected(hex::encode([3; 32])));
        assert!(registry
            .wait_for(&[3; 32], Duration::from_millis(20))
            .await
            .is_none());
        assert_eq!(registry.states(), vec![]);
    }
}

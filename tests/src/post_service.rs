//! A fake post-service: dials a post listener, registers with its metadata, and answers proof
//! requests with well-formed proofs after a configurable delay ("still proving" until then).
//! It can be disconnected and reconnected at run time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::spacemesh::v1 as pb;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;

/// How often a disconnected fake post-service dials again.
const RECONNECT: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
struct State {
    /// challenge → when it was first asked for.
    started: HashMap<[u8; 32], Instant>,
    proofs: u64,
    sessions: u64,
}

#[derive(Debug)]
struct Shared {
    node_id: [u8; 32],
    delay: Duration,
    state: Mutex<State>,
}

/// A running fake post-service; dropping it disconnects for good.
#[derive(Debug)]
pub struct FakePostService {
    shared: Arc<Shared>,
    enabled: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Drop for FakePostService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakePostService {
    /// Starts dialing `listener` for `node_id`; every proof takes `delay`.
    pub fn start(listener: SocketAddr, node_id: [u8; 32], delay: Duration) -> FakePostService {
        let shared = Arc::new(Shared {
            node_id,
            delay,
            state: Mutex::default(),
        });
        let (enabled, rx) = watch::channel(true);
        let task = tokio::spawn(run(listener, shared.clone(), rx));
        FakePostService {
            shared,
            enabled,
            task,
        }
    }

    /// Drops the stream (and stays away until [`reconnect`](Self::reconnect)).
    pub fn disconnect(&self) {
        self.enabled.send_replace(false);
    }

    pub fn reconnect(&self) {
        self.enabled.send_replace(true);
    }

    /// Finished proofs handed out.
    pub fn proofs(&self) -> u64 {
        self.shared.state.lock().map(|s| s.proofs).unwrap_or(0)
    }

    /// Distinct challenges asked for so far (the initial PoST's all-zero one included).
    pub fn challenges(&self) -> usize {
        self.shared
            .state
            .lock()
            .map(|s| s.started.len())
            .unwrap_or(0)
    }

    /// Streams opened so far.
    pub fn sessions(&self) -> u64 {
        self.shared.state.lock().map(|s| s.sessions).unwrap_or(0)
    }

    /// The metadata this post-service registers with.
    pub fn metadata(node_id: [u8; 32]) -> pb::Metadata {
        let d = |tag: &str| *blake3::hash(&[tag.as_bytes(), &node_id].concat()).as_bytes();
        let nonce = d("simnet-post-vrf-nonce");
        pb::Metadata {
            node_id: node_id.to_vec(),
            commitment_atx_id: d("simnet-post-commitment").to_vec(),
            nonce: Some(u64::from_le_bytes(
                nonce[..8].try_into().unwrap_or_default(),
            )),
            num_units: 4,
            labels_per_unit: 1 << 32,
        }
    }
}

impl Shared {
    fn answer(&self, request: pb::NodeRequest) -> pb::ServiceResponse {
        use pb::service_response::Kind;
        match request.kind {
            Some(pb::node_request::Kind::Metadata(_)) => pb::ServiceResponse {
                kind: Some(Kind::Metadata(pb::MetadataResponse {
                    meta: Some(FakePostService::metadata(self.node_id)),
                })),
            },
            Some(pb::node_request::Kind::GenProof(r)) => {
                let Ok(challenge) = <[u8; 32]>::try_from(r.challenge.as_slice()) else {
                    return status_only(pb::GenProofStatus::Error);
                };
                let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let started = *st.started.entry(challenge).or_insert_with(Instant::now);
                if started.elapsed() < self.delay {
                    return status_only(pb::GenProofStatus::Ok);
                }
                st.proofs += 1;
                let h = blake3::hash(
                    &[b"simnet-post-proof".as_slice(), &self.node_id, &challenge].concat(),
                );
                let h = h.as_bytes();
                pb::ServiceResponse {
                    kind: Some(Kind::GenProof(pb::GenProofResponse {
                        status: pb::GenProofStatus::Ok as i32,
                        proof: Some(pb::Proof {
                            nonce: u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
                            indices: h[4..28].to_vec(),
                            pow: u64::from_le_bytes([
                                h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15],
                            ]),
                        }),
                        metadata: Some(pb::ProofMetadata {
                            challenge: challenge.to_vec(),
                            meta: Some(FakePostService::metadata(self.node_id)),
                        }),
                    })),
                }
            }
            None => status_only(pb::GenProofStatus::Error),
        }
    }
}

fn status_only(status: pb::GenProofStatus) -> pb::ServiceResponse {
    pb::ServiceResponse {
        kind: Some(pb::service_response::Kind::GenProof(pb::GenProofResponse {
            status: status as i32,
            proof: None,
            metadata: None,
        })),
    }
}

async fn run(listener: SocketAddr, shared: Arc<Shared>, mut enabled: watch::Receiver<bool>) {
    loop {
        if enabled.wait_for(|e| *e).await.is_err() {
            return;
        }
        let session = session(listener, &shared);
        tokio::select! {
            r = session => {
                if let Err(e) = r {
                    tracing::debug!("simnet post-service: {e}");
                }
            }
            _ = enabled.wait_for(|e| !*e) => {}
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

async fn session(listener: SocketAddr, shared: &Shared) -> Result<(), String> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{listener}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut client = pb::post_service_client::PostServiceClient::new(channel);
    let (tx, rx) = mpsc::channel::<pb::ServiceResponse>(1);
    let mut inbound = client
        .register(ReceiverStream::new(rx))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    if let Ok(mut st) = shared.state.lock() {
        st.sessions += 1;
    }
    while let Some(request) = inbound.message().await.map_err(|e| e.to_string())? {
        tx.send(shared.answer(request))
            .await
            .map_err(|_| "stream closed".to_string())?;
    }
    Ok(())
}

//! The post-service: dials a smeshing service's post listener, answers its metadata and proof
//! requests from one PoST data folder, and reconnects when the stream ends.
//!
//! Used by `smesher post-service` and, in-process, by the built-in post-service, so both take
//! the same request path as a remote post-service. A proof runs on a blocking thread (rayon
//! inside); while it runs, repeated requests for the same challenge are answered "OK" without
//! a proof, a request for another challenge gets ERROR. A finished proof is checked with the
//! verifier, handed out once, and the service is idle again. Proving state outlives a
//! connection, so a proof started before a disconnect is delivered after the reconnect.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use hyper_util::rt::TokioIo;
use post::{
    InitConfig, PostMetadata, Proof, ProofConfig, ProvingOptions, RandomX, RandomXMode, Verifier,
    VerifyMode,
};
use proto::spacemesh::v1 as pb;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::transport::{Endpoint, Uri};
use url::Url;

use super::metrics::ProvingMetrics;
use super::registry::PostInfo;
use super::tls::{client_config, TlsFiles};

/// Default wait between connection attempts.
pub const DEFAULT_RECONNECT_INTERVAL: Duration = Duration::from_secs(5);

/// Client-side TLS: the files and the name the server's certificate must carry.
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub files: TlsFiles,
    /// Server name to check; defaults to the host of the address.
    pub domain: Option<String>,
}

/// Everything one post-service needs.
#[derive(Debug, Clone)]
pub struct PostServiceOptions {
    /// The PoST data folder (`postdata_metadata.json`, `postdata_N.bin`).
    pub dir: PathBuf,
    /// The post listener: `http://host:port`, or `https://host:port` with `tls`.
    pub address: Url,
    pub tls: Option<ClientTls>,
    pub reconnect_interval: Duration,
    /// Give up after this many failed connections in a row; `None` = never.
    pub max_retries: Option<u32>,
    pub proof: ProofConfig,
    /// Unit limits and scrypt parameters of the network (labels per unit come from the data).
    pub init: InitConfig,
    pub proving: ProvingOptions,
    pub randomx_mode: RandomXMode,
    /// When set, the data must belong to one of these identities.
    pub identities: Option<Vec<[u8; 32]>>,
}

enum Task {
    Idle,
    Proving {
        challenge: [u8; 32],
        task: JoinHandle<Result<Proof, String>>,
    },
}

/// What the post-service is doing, as post-rs's operator endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorStatus {
    Idle,
    /// A data pass over `nonces` is at byte `position`.
    Proving {
        nonces: std::ops::Range<u32>,
        position: u64,
    },
    /// A proof is ready and not yet collected.
    DoneProving,
}

impl OperatorStatus {
    /// The JSON post-rs's `GET /status` answers.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            OperatorStatus::Idle => serde_json::json!("Idle"),
            OperatorStatus::Proving { nonces, position } => serde_json::json!({
                "Proving": {
                    "nonces": { "start": nonces.start, "end": nonces.end },
                    "position": position,
                }
            }),
            OperatorStatus::DoneProving => serde_json::json!("DoneProving"),
        }
    }
}

struct Progress(Arc<Mutex<OperatorStatus>>, Option<ProvingMetrics>);

impl Progress {
    fn set(&self, status: OperatorStatus) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }
}

impl post::ProvingProgress for Progress {
    fn pass_started(&self, nonces: std::ops::Range<u32>) {
        if let Some(m) = &self.1 {
            m.pass_started(&nonces);
        }
        self.set(OperatorStatus::Proving {
            nonces,
            position: 0,
        });
    }

    fn data_scored(&self, position: u64, total: u64) {
        if let Some(m) = &self.1 {
            m.data_scored(position, total);
        }
        let mut status = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let OperatorStatus::Proving { position: p, .. } = &mut *status {
            *p = position;
        }
    }
}

/// Proves from one data folder; answers the node's requests.
pub struct Prover {
    status: Arc<Mutex<OperatorStatus>>,
    dir: PathBuf,
    meta: PostMetadata,
    options: PostServiceOptions,
    task: tokio::sync::Mutex<Task>,
    randomx: Arc<Mutex<Option<Arc<RandomX>>>>,
    stop: Arc<AtomicBool>,
    metrics: Option<ProvingMetrics>,
}

impl std::fmt::Debug for Prover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prover")
            .field("dir", &self.dir)
            .field("node_id", &hex::encode(self.meta.node_id))
            .finish()
    }
}

impl Drop for Prover {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Checks a data folder before serving it: metadata, finished initialization, every file with
/// its size, units within the network's limits, the identity. Errors name the file.
pub fn check_data(dir: &Path, options: &PostServiceOptions) -> anyhow::Result<PostMetadata> {
    let meta = PostMetadata::load(dir)?;
    let meta_path = dir.join(post::METADATA_FILE);
    if let Some(done) = meta.last_position {
        anyhow::bail!(
            "{}: initialization is unfinished ({done} of {} labels); run `smesher post init` again to complete it",
            meta_path.display(),
            meta.total_labels()
        );
    }
    if let Some(ids) = &options.identities {
        if !ids.contains(&meta.node_id) {
            anyhow::bail!(
                "{}: NodeId {} is not an identity of this service",
                meta_path.display(),
                hex::encode(meta.node_id)
            );
        }
    }
    if meta.num_units < options.init.min_num_units || meta.num_units > options.init.max_num_units {
        anyhow::bail!(
            "{}: NumUnits {} is outside the network's limits [{}, {}]",
            meta_path.display(),
            meta.num_units,
            options.init.min_num_units,
            options.init.max_num_units
        );
    }
    post::data::check_files(dir, &meta)?;
    Ok(meta)
}

impl Prover {
    /// Checks the data folder (see [`check_data`]).
    pub fn open(options: PostServiceOptions) -> anyhow::Result<Prover> {
        let meta = check_data(&options.dir, &options)?;
        Ok(Prover {
            dir: options.dir.clone(),
            meta,
            options,
            task: tokio::sync::Mutex::new(Task::Idle),
            randomx: Arc::default(),
            status: Arc::new(Mutex::new(OperatorStatus::Idle)),
            stop: Arc::default(),
            metrics: None,
        })
    }

    /// Reports proving progress and proof durations to `metrics` as well.
    pub fn with_metrics(mut self, metrics: ProvingMetrics) -> Prover {
        self.metrics = Some(metrics);
        self
    }

    /// What the prover is doing now.
    pub fn status(&self) -> OperatorStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_status(&self, status: OperatorStatus) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }

    /// The data's metadata.
    pub fn metadata(&self) -> &PostMetadata {
        &self.meta
    }

    fn proof_response(status: pb::GenProofStatus) -> pb::ServiceResponse {
        pb::ServiceResponse {
            kind: Some(pb::service_response::Kind::GenProof(pb::GenProofResponse {
                status: status as i32,
                proof: None,
                metadata: None,
            })),
        }
    }

    /// The answer to one request of the node.
    pub async fn answer(&self, request: pb::NodeRequest) -> pb::ServiceResponse {
        match request.kind {
            Some(pb::node_request::Kind::Metadata(_)) => pb::ServiceResponse {
                kind: Some(pb::service_response::Kind::Metadata(pb::MetadataResponse {
                    meta: Some(PostInfo::from_post(&self.meta).to_proto()),
                })),
            },
            Some(pb::node_request::Kind::GenProof(r)) => {
                match <[u8; 32]>::try_from(&r.challenge[..]) {
                    Ok(challenge) => self.gen_proof(challenge).await,
                    Err(_) => {
                        tracing::warn!(
                            len = r.challenge.len(),
                            "proof request with a challenge that is not 32 bytes"
                        );
                        Self::proof_response(pb::GenProofStatus::Error)
                    }
                }
            }
            None => {
                tracing::warn!("request with no kind");
                Self::proof_response(pb::GenProofStatus::Error)
            }
        }
    }

    async fn gen_proof(&self, challenge: [u8; 32]) -> pb::ServiceResponse {
        let mut task = self.task.lock().await;
        match &mut *task {
            Task::Idle => {
                tracing::info!(challenge = %hex::encode(challenge), "proving started");
                *task = Task::Proving {
                    challenge,
                    task: self.spawn_proof(challenge),
                };
                Self::proof_response(pb::GenProofStatus::Ok)
            }
            Task::Proving {
                challenge: c,
                task: t,
            } if *c != challenge && t.is_finished() => {
                // Nobody collected that proof and the node has moved on: drop it.
                tracing::info!(
                    dropped = %hex::encode(*c),
                    challenge = %hex::encode(challenge),
                    "proving started; the uncollected proof of an earlier challenge is dropped"
                );
                *task = Task::Proving {
                    challenge,
                    task: self.spawn_proof(challenge),
                };
                Self::proof_response(pb::GenProofStatus::Ok)
            }
            Task::Proving { challenge: c, .. } if *c != challenge => {
                tracing::warn!(
                    running = %hex::encode(*c),
                    requested = %hex::encode(challenge),
                    "proof requested for another challenge while one is running"
                );
                Self::proof_response(pb::GenProofStatus::Error)
            }
            Task::Proving { task: t, .. } if !t.is_finished() => {
                Self::proof_response(pb::GenProofStatus::Ok)
            }
            Task::Proving { .. } => {
                let Task::Proving { task: t, .. } = std::mem::replace(&mut *task, Task::Idle)
                else {
                    unreachable!("matched Proving above")
                };
                self.set_status(OperatorStatus::Idle);
                match t.await {
                    Ok(Ok(proof)) => {
                        tracing::info!(nonce = proof.nonce, "proof done");
                        pb::ServiceResponse {
                            kind: Some(pb::service_response::Kind::GenProof(
                                pb::GenProofResponse {
                                    status: pb::GenProofStatus::Ok as i32,
                                    proof: Some(pb::Proof {
                                        nonce: proof.nonce,
                                        indices: proof.indices,
                                        pow: proof.pow,
                                    }),
                                    metadata: Some(pb::ProofMetadata {
                                        challenge: challenge.to_vec(),
                                        meta: Some(PostInfo::from_post(&self.meta).to_proto()),
                                    }),
                                },
                            )),
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::error!("proving failed: {e}");
                        Self::proof_response(pb::GenProofStatus::Error)
                    }
                    Err(e) => {
                        tracing::error!("the proving thread failed: {e}");
                        Self::proof_response(pb::GenProofStatus::Error)
                    }
                }
            }
        }
    }

    fn spawn_proof(&self, challenge: [u8; 32]) -> JoinHandle<Result<Proof, String>> {
        let dir = self.dir.clone();
        let meta = self.meta;
        let options = self.options.clone();
        let randomx = self.randomx.clone();
        let stop = self.stop.clone();
        let progress = Progress(self.status.clone(), self.metrics.clone());
        progress.set(OperatorStatus::Proving {
            nonces: 0..0,
            position: 0,
        });
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let result =
                prove_and_check(&dir, &meta, &options, &randomx, &stop, &progress, challenge);
            if let Some(m) = &progress.1 {
                m.finished(started.elapsed().as_secs_f64(), result.is_ok());
            }
            progress.set(match result {
                Ok(_) => OperatorStatus::DoneProving,
                Err(_) => OperatorStatus::Idle,
            });
            result
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn prove_and_check(
    dir: &Path,
    meta: &PostMetadata,
    options: &PostServiceOptions,
    randomx: &Mutex<Option<Arc<RandomX>>>,
    stop: &AtomicBool,
    progress: &Progress,
    challenge: [u8; 32],
) -> Result<Proof, String> {
    {
        let rx = {
            let mut slot = randomx.lock().unwrap_or_else(|p| p.into_inner());
            match &*slot {
                Some(rx) => rx.clone(),
                None => {
                    // Every fast-mode worker holds its own 2 GiB dataset: one worker there;
                    // light mode (256 MiB each) gets the proving threads.
                    let workers = match options.randomx_mode {
                        RandomXMode::Fast => 1,
                        RandomXMode::Light => options.proving.threads,
                    };
                    let rx = Arc::new(
                        RandomX::new(options.randomx_mode, workers)
                            .map_err(|e| format!("RandomX: {e}"))?,
                    );
                    *slot = Some(rx.clone());
                    rx
                }
            }
        };
        let proof = post::generate_proof(
            dir,
            &challenge,
            &options.proof,
            &options.proving,
            &*rx,
            progress,
            stop,
        )
        .map_err(|e| e.to_string())?;
        let init = InitConfig {
            labels_per_unit: meta.labels_per_unit,
            ..options.init
        };
        Verifier::new(&*rx)
            .verify(
                &proof,
                &post::ProofMetadata::new(meta, challenge),
                &options.proof,
                &init,
                VerifyMode::All,
            )
            .map_err(|e| format!("the new proof does not verify: {e}"))?;
        Ok(proof)
    }
}

/// A gRPC channel to `address`, over mutual TLS when `tls` is given.
pub async fn connect(
    address: &Url,
    tls: Option<&ClientTls>,
) -> anyhow::Result<tonic::transport::Channel> {
    let host = address
        .host_str()
        .with_context(|| format!("{address} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = address
        .port_or_known_default()
        .with_context(|| format!("{address} has no port"))?;
    let endpoint = Endpoint::from_shared(format!(
        "http://{}:{port}",
        address.host_str().unwrap_or_default()
    ))
    .with_context(|| format!("bad address {address}"))?
    .connect_timeout(Duration::from_secs(10))
    .http2_keep_alive_interval(Duration::from_secs(30));
    let target = (host.clone(), port);
    match tls {
        None => {
            anyhow::ensure!(
                address.scheme() == "http",
                "{address}: use http:// without TLS, or give --ca-cert, --cert and --key"
            );
            let connector = tower::service_fn(move |_: Uri| {
                let target = target.clone();
                async move {
                    let stream = tokio::net::TcpStream::connect(target).await?;
                    let _ = stream.set_nodelay(true);
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            });
            endpoint
                .connect_with_connector(connector)
                .await
                .with_context(|| format!("connecting to {address}"))
        }
        Some(tls) => {
            anyhow::ensure!(
                address.scheme() == "https",
                "{address}: use https:// with TLS"
            );
            let config = Arc::new(client_config(&tls.files)?);
            let domain = tls.domain.clone().unwrap_or(host);
            let name = rustls_pki_types::ServerName::try_from(domain.clone())
                .with_context(|| format!("bad TLS server name {domain}"))?;
            let connector = tower::service_fn(move |_: Uri| {
                let target = target.clone();
                let config = config.clone();
                let name = name.clone();
                async move {
                    let stream = tokio::net::TcpStream::connect(target).await?;
                    let _ = stream.set_nodelay(true);
                    let tls = tokio_rustls::TlsConnector::from(config)
                        .connect(name, stream)
                        .await?;
                    Ok::<_, std::io::Error>(TokioIo::new(tls))
                }
            });
            endpoint
                .connect_with_connector(connector)
                .await
                .with_context(|| format!("connecting to {address} over TLS"))
        }
    }
}

/// One connection: registers, answers requests until the stream ends.
async fn session(prover: &Prover, options: &PostServiceOptions) -> anyhow::Result<()> {
    let channel = connect(&options.address, options.tls.as_ref()).await?;
    let mut client = pb::post_service_client::PostServiceClient::new(channel);
    let (tx, rx) = mpsc::channel::<pb::ServiceResponse>(1);
    let outbound = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut inbound = client
        .register(outbound)
        .await
        .with_context(|| format!("registering with {}", options.address))?
        .into_inner();
    tracing::info!(address = %options.address, node_id = %hex::encode(prover.meta.node_id), "connected to the post listener");
    while let Some(request) = inbound
        .message()
        .await
        .with_context(|| format!("stream from {}", options.address))?
    {
        let response = prover.answer(request).await;
        tx.send(response)
            .await
            .map_err(|_| anyhow::anyhow!("the stream to {} closed", options.address))?;
    }
    Ok(())
}

/// Runs the post-service until `shutdown` resolves or `max_retries` connections in a row fail.
pub async fn run(
    prover: Arc<Prover>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let options = prover.options.clone();
    let mut failures = 0u32;
    loop {
        let started = tokio::time::Instant::now();
        let result = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            r = session(&prover, &options) => r,
        };
        match result {
            Ok(()) => {
                tracing::info!(address = %options.address, "the node closed the stream");
                failures = 0;
            }
            Err(e) => {
                // A session that ran for a while counts as a success before its failure.
                if started.elapsed() > options.reconnect_interval * 2 {
                    failures = 0;
                }
                failures += 1;
                tracing::warn!("post-service connection failed: {e:#}");
                if options.max_retries.is_some_and(|max| failures > max) {
                    return Err(e.context(format!("giving up after {failures} failed connections")));
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(options.reconnect_interval) => {}
        }
    }
}

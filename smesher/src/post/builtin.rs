//! The built-in post-service: when `smeshing.smeshing-opts.smeshing-opts-datadir` names a PoST
//! data folder of one of this service's identities, a [`post_service`](super::post_service)
//! runs in-process and dials this process's own post listener, so the ATX duty gets its proofs
//! through the same `Register` stream a remote post-service uses.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use post::{InitConfig, ProofConfig, ProvingOptions, RandomXMode, ScryptParams};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use super::listener::PostListener;
use super::post_service::{self, PostServiceOptions, Prover};
use crate::config::{Config, RandomxMode};

/// How soon the built-in post-service dials again after its stream ends.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// The built-in post-service's options for `config`'s data folder, dialing `addr`.
pub fn options(
    config: &Config,
    identities: &[[u8; 32]],
    addr: std::net::SocketAddr,
) -> anyhow::Result<Option<PostServiceOptions>> {
    let Some(dir) = &config.smeshing.opts.datadir else {
        return Ok(None);
    };
    let scrypt = &config.smeshing.opts.scrypt;
    let scrypt = ScryptParams::new(scrypt.n, scrypt.r, scrypt.p)
        .context("smeshing.smeshing-opts.smeshing-opts-scrypt")?;
    let proving = &config.smeshing.proving_opts;
    Ok(Some(PostServiceOptions {
        dir: dir.clone(),
        address: Url::parse(&format!("http://{addr}")).context("post listener address")?,
        tls: None,
        reconnect_interval: RECONNECT_INTERVAL,
        max_retries: None,
        proof: ProofConfig {
            k1: config.post.post_k1,
            k2: config.post.post_k2,
            pow_difficulty: config.post.post_pow_difficulty,
        },
        init: InitConfig {
            min_num_units: config.post.post_min_numunits,
            max_num_units: config.post.post_max_numunits,
            labels_per_unit: config.post.post_labels_per_unit,
            scrypt,
        },
        proving: ProvingOptions {
            nonces: proving.nonces,
            threads: proving.threads as usize,
            ..ProvingOptions::default()
        },
        randomx_mode: match proving.randomx_mode {
            RandomxMode::Fast => RandomXMode::Fast,
            RandomxMode::Light => RandomXMode::Light,
        },
        identities: Some(identities.to_vec()),
    }))
}

/// Checks the data folder and starts the built-in post-service (nothing when no folder is
/// configured). It dials `listener`'s plaintext address; when `api.grpc-post-listener` is
/// off, a private loopback listener serving the same registry is opened for it. Bad data is
/// an error naming the file; the service stops with `stopped`.
pub async fn start(
    config: &Config,
    identities: &[[u8; 32]],
    listener: &PostListener,
    registry: &prometheus::Registry,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    // Check the data before opening anything.
    let Some(mut opts) = options(
        config,
        identities,
        listener.addr().unwrap_or(([127, 0, 0, 1], 0).into()),
    )?
    else {
        return Ok(None);
    };
    post_service::check_data(&opts.dir, &opts)
        .with_context(|| format!("the built-in post-service for {}", opts.dir.display()))?;
    let mut private = None;
    let addr = match listener.addr() {
        Some(addr) => addr,
        None => {
            let socket = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
                .await
                .context("binding a loopback post listener for the built-in post-service")?;
            let own = PostListener::start(listener.registry().clone(), Some(socket), None)?;
            let addr = own.addr().context("loopback post listener address")?;
            private = Some(own);
            addr
        }
    };
    opts.address = Url::parse(&format!("http://{addr}")).context("post listener address")?;
    let dir = opts.dir.clone();
    let metrics = super::ProvingMetrics::register(registry).context("registering PoST metrics")?;
    let prover = Prover::open(opts)
        .with_context(|| format!("the built-in post-service for {}", dir.display()))?
        .with_metrics(metrics);
    let node_id = hex::encode(prover.metadata().node_id);
    tracing::info!(dir = %dir.display(), %node_id, "built-in post-service started");
    Ok(Some(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = post_service::run(Arc::new(prover), shutdown).await {
            tracing::error!(%node_id, "built-in post-service stopped: {e:#}");
        }
        if let Some(own) = private {
            own.shutdown().await;
        }
    })))
}

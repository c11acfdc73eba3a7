//! A post-service that proves for real on tiny data: `smesher`'s own post-service (the one
//! `smesher post-service` runs) in-process, over data made by `post::init`, with the small
//! parameters of [`PostParams::tiny`] and RandomX in light mode.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use post::{InitOptions, PostMetadata, ProvingOptions, RandomXMode};
use serde_json::{json, Value};
use smesher::post::post_service::{self, PostServiceOptions, Prover};
use tokio::task::JoinHandle;

use crate::post_checks::PostParams;

/// Creates `num_units` units of data for `node_id` committed to `commitment_atx` in `dir`.
pub fn init_data(
    dir: &Path,
    params: &PostParams,
    node_id: [u8; 32],
    commitment_atx: [u8; 32],
    num_units: u32,
) -> Result<PostMetadata, post::InitError> {
    post::init(
        dir,
        &InitOptions {
            node_id,
            commitment_atx_id: commitment_atx,
            labels_per_unit: params.labels_per_unit,
            num_units,
            max_file_size: params.labels_per_unit * 16,
            scrypt: params.scrypt(),
            threads: 1,
        },
        &|_| {},
        &AtomicBool::new(false),
    )
}

/// The smesher config keys for `params` (`post.*`, scrypt and proving options), to merge into
/// a test config; `datadir` also turns on the built-in post-service.
pub fn config_keys(params: &PostParams, datadir: Option<&Path>) -> Value {
    let mut opts = json!({ "smeshing-opts-scrypt": { "n": params.scrypt_n, "r": 1, "p": 1 } });
    if let Some(dir) = datadir {
        opts["smeshing-opts-datadir"] = json!(dir.to_str().unwrap_or_default());
    }
    json!({
        "post": {
            "post-labels-per-unit": params.labels_per_unit,
            "post-min-numunits": params.min_num_units,
            "post-max-numunits": params.max_num_units,
            "post-k1": params.k1,
            "post-k2": params.k2,
            "post-pow-difficulty": hex::encode(params.pow_difficulty),
        },
        "smeshing": {
            "smeshing-opts": opts,
            "smeshing-proving-opts": {
                "smeshing-opts-proving-threads": 1,
                "smeshing-opts-proving-nonces": 16,
                "smeshing-opts-proving-randomx-mode": "light",
            },
        },
    })
}

/// Merges `extra` into `base` (objects key by key, anything else replaced).
pub fn merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e.clone(),
    }
}

/// A running real post-service; dropping it disconnects it.
#[derive(Debug)]
pub struct RealPostService {
    dir: PathBuf,
    task: JoinHandle<()>,
}

impl Drop for RealPostService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RealPostService {
    /// Checks the data in `dir` and starts dialing the post listener at `listener`.
    pub fn start(
        listener: SocketAddr,
        dir: &Path,
        params: &PostParams,
    ) -> anyhow::Result<RealPostService> {
        let options = PostServiceOptions {
            dir: dir.to_owned(),
            address: format!("http://{listener}").parse()?,
            tls: None,
            reconnect_interval: Duration::from_millis(100),
            max_retries: None,
            proof: params.proof_config(),
            init: params.init_config(),
            proving: ProvingOptions {
                nonces: 16,
                threads: 1,
                ..ProvingOptions::default()
            },
            randomx_mode: RandomXMode::Light,
            identities: None,
        };
        let prover = Arc::new(Prover::open(options)?);
        let task = tokio::spawn(async move {
            if let Err(e) = post_service::run(prover, std::future::pending()).await {
                tracing::warn!("simnet: real post-service stopped: {e:#}");
            }
        });
        Ok(RealPostService {
            dir: dir.to_owned(),
            task,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

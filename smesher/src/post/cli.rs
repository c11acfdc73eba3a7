//! The `smesher post-service` and `smesher post init` commands: their flags and what they run.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use post::{InitConfig, InitOptions, ProofConfig, ProvingOptions, RandomXMode, ScryptParams};
use url::Url;

use super::post_service::{self, ClientTls, PostServiceOptions, Prover};
use super::tls::TlsFiles;

/// RandomX memory mode of the k2pow.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RandomxModeArg {
    /// 2 GiB dataset: fast hashing, for proving.
    Fast,
    /// 256 MiB cache: slow hashing, for small setups and tests.
    Light,
}

impl From<RandomxModeArg> for RandomXMode {
    fn from(m: RandomxModeArg) -> Self {
        match m {
            RandomxModeArg::Fast => RandomXMode::Fast,
            RandomxModeArg::Light => RandomXMode::Light,
        }
    }
}

fn parse_hex32(s: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(s.trim_start_matches("0x")).map_err(|e| format!("not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{} bytes, expected 32", b.len()))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

/// `smesher post-service`: proves from one PoST data folder for a smeshing service.
#[derive(clap::Args, Debug)]
pub struct PostServiceArgs {
    /// The PoST data folder (postdata_metadata.json and postdata_N.bin).
    #[arg(short = 'd', long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The smeshing service's post listener: http://host:port, or https://host:port with TLS.
    #[arg(short = 'a', long, value_name = "URL")]
    pub address: Url,
    /// Wait between connection attempts.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub reconnect_interval: Duration,
    /// post-rs's spelling of --reconnect-interval, in seconds (overrides it).
    #[arg(long, value_name = "SECONDS")]
    pub reconnect_interval_s: Option<u64>,
    /// Give up after this many failed connections in a row (default: never).
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u32>,
    /// Exit when the process with this id ends.
    #[arg(long, value_name = "PID")]
    pub watch_pid: Option<u32>,
    /// Serve `GET /status` (Idle / Proving / DoneProving) on this address.
    #[arg(long, value_name = "IP:PORT")]
    pub operator_address: Option<std::net::SocketAddr>,
    /// Smallest number of units the network accepts.
    #[arg(long, default_value_t = 4)]
    pub min_num_units: u32,
    /// Largest number of units the network accepts.
    #[arg(long, default_value_t = u32::MAX)]
    pub max_num_units: u32,
    /// Expected good labels per nonce.
    #[arg(long, default_value_t = 26)]
    pub k1: u32,
    /// Labels in a proof.
    #[arg(long, default_value_t = 37)]
    pub k2: u32,
    /// k2pow difficulty, 64 hex digits.
    #[arg(long, value_name = "HEX", value_parser = parse_hex32,
          default_value = "000dfb23b0979b4b000000000000000000000000000000000000000000000000")]
    pub pow_difficulty: [u8; 32],
    /// scrypt N of the labels (for checking the proof).
    #[arg(short = 'n', long = "scrypt-n", default_value_t = 8192)]
    pub scrypt_n: u64,
    /// scrypt r.
    #[arg(short = 'r', long = "scrypt-r", default_value_t = 1)]
    pub scrypt_r: u32,
    /// scrypt p.
    #[arg(short = 'p', long = "scrypt-p", default_value_t = 1)]
    pub scrypt_p: u32,
    /// Proving threads; 0 = one per core.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Nonces per data pass: a multiple of 16, at most 4096.
    #[arg(long, default_value_t = 128)]
    pub nonces: u32,
    /// RandomX mode of the k2pow.
    #[arg(long, value_enum, default_value = "fast")]
    pub randomx_mode: RandomxModeArg,
    /// CA certificate the server's certificate must chain to (mutual TLS).
    #[arg(long, value_name = "FILE", requires_all = ["cert", "key"])]
    pub ca_cert: Option<PathBuf>,
    /// Client certificate (mutual TLS).
    #[arg(long, value_name = "FILE", requires_all = ["ca_cert", "key"])]
    pub cert: Option<PathBuf>,
    /// Client key (mutual TLS).
    #[arg(long, value_name = "FILE", requires_all = ["ca_cert", "cert"])]
    pub key: Option<PathBuf>,
    /// Server name to check in its certificate (default: the host of --address).
    #[arg(long)]
    pub domain: Option<String>,
}

impl PostServiceArgs {
    /// The service options these flags describe.
    pub fn options(&self) -> anyhow::Result<PostServiceOptions> {
        let scrypt = ScryptParams::new(self.scrypt_n, self.scrypt_r, self.scrypt_p)
            .context("scrypt parameters (-n, -r, -p)")?;
        let tls = match (&self.ca_cert, &self.cert, &self.key) {
            (Some(ca), Some(cert), Some(key)) => Some(ClientTls {
                files: TlsFiles {
                    ca_cert: ca.clone(),
                    cert: cert.clone(),
                    key: key.clone(),
                },
                domain: self.domain.clone(),
            }),
            (None, None, None) => None,
            _ => anyhow::bail!("give all of --ca-cert, --cert and --key, or none"),
        };
        Ok(PostServiceOptions {
            dir: self.dir.clone(),
            address: self.address.clone(),
            tls,
            reconnect_interval: self
                .reconnect_interval_s
                .map_or(self.reconnect_interval, Duration::from_secs),
            max_retries: self.max_retries,
            proof: ProofConfig {
                k1: self.k1,
                k2: self.k2,
                pow_difficulty: self.pow_difficulty,
            },
            init: InitConfig {
                min_num_units: self.min_num_units,
                max_num_units: self.max_num_units,
                labels_per_unit: 0,
                scrypt,
            },
            proving: ProvingOptions {
                nonces: self.nonces,
                threads: self.threads,
                ..ProvingOptions::default()
            },
            randomx_mode: self.randomx_mode.into(),
            identities: None,
        })
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves when `pid` is gone (checked every second), or never without one.
async fn watch(pid: Option<u32>) {
    let Some(pid) = pid else {
        return std::future::pending().await;
    };
    let proc = PathBuf::from(format!("/proc/{pid}"));
    while proc.exists() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tracing::info!(pid, "the watched process ended");
}

/// Runs `smesher post-service`.
pub async fn run_post_service(args: PostServiceArgs) -> ExitCode {
    init_logging();
    let result = async {
        let options = args.options()?;
        let prover = Arc::new(Prover::open(options)?);
        let _operator = match args.operator_address {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding --operator-address {addr}"))?;
                tracing::info!(%addr, "operator endpoint: GET /status");
                Some(AbortOnDrop(tokio::spawn(super::operator::serve(
                    listener,
                    prover.clone(),
                ))))
            }
            None => None,
        };
        tracing::info!(
            dir = %args.dir.display(),
            node_id = %hex::encode(prover.metadata().node_id),
            num_units = prover.metadata().num_units,
            "post-service ready"
        );
        let shutdown = async {
            use tokio::signal::unix::{signal, SignalKind};
            let mut terminate = match signal(SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("no SIGTERM handler: {e}");
                    return std::future::pending().await;
                }
            };
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
                _ = watch(args.watch_pid) => {}
            }
        };
        post_service::run(prover, shutdown).await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smesher post-service: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `smesher post init`: creates PoST data on the CPU (for tests and small setups).
#[derive(clap::Args, Debug)]
pub struct PostInitArgs {
    /// Where the data goes.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The identity's node ID, 64 hex digits.
    #[arg(long, value_name = "HEX", value_parser = parse_hex32)]
    pub node_id: [u8; 32],
    /// The commitment ATX ID, 64 hex digits.
    #[arg(long, value_name = "HEX", value_parser = parse_hex32)]
    pub commitment_atx: [u8; 32],
    /// Space units.
    #[arg(long)]
    pub num_units: u32,
    /// Labels per unit.
    #[arg(long, default_value_t = 1 << 32)]
    pub labels_per_unit: u64,
    /// Bytes per data file (a multiple of 16).
    #[arg(long, default_value_t = post::DEFAULT_MAX_FILE_SIZE)]
    pub max_file_size: u64,
    /// scrypt N.
    #[arg(long, default_value_t = 8192)]
    pub scrypt_n: u64,
    /// Threads; 0 = one per core.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// Runs `smesher post init`, drawing a progress bar on stderr; Ctrl-C stops after the current
/// batch and a later run continues.
pub fn run_post_init(args: PostInitArgs) -> ExitCode {
    let result = (|| -> anyhow::Result<post::PostMetadata> {
        let scrypt = ScryptParams::new(args.scrypt_n, 1, 1).context("--scrypt-n")?;
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("post-init-signal".into())
                .spawn(move || {
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        rt.block_on(async {
                            if tokio::signal::ctrl_c().await.is_ok() {
                                eprintln!("\nstopping after the current batch…");
                                stop.store(true, Ordering::Relaxed);
                            }
                        });
                    }
                })
                .context("starting the signal thread")?;
        }
        let opts = InitOptions {
            node_id: args.node_id,
            commitment_atx_id: args.commitment_atx,
            labels_per_unit: args.labels_per_unit,
            num_units: args.num_units,
            max_file_size: args.max_file_size,
            scrypt,
            threads: args.threads,
        };
        let progress = |p: post::InitProgress| {
            let frac = p.labels_done as f64 / p.total_labels.max(1) as f64;
            let filled = (frac * 40.0) as usize;
            eprint!(
                "\r[{}{}] {:5.1}% {}/{} labels",
                "#".repeat(filled),
                " ".repeat(40 - filled.min(40)),
                frac * 100.0,
                p.labels_done,
                p.total_labels
            );
            let _ = std::io::stderr().flush();
        };
        let meta = post::init(&args.dir, &opts, &progress, &stop)?;
        eprintln!();
        Ok(meta)
    })();
    match result {
        Ok(meta) => {
            println!(
                "PoST data ready in {}: {} units of {} labels, VRF nonce {}",
                args.dir.display(),
                meta.num_units,
                meta.labels_per_unit,
                meta.nonce.map_or("none".into(), |n| n.to_string())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\nsmesher post init: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: PostServiceArgs,
    }

    #[test]
    fn the_arguments_a_supervising_node_passes_parse() {
        // The list go-spacemesh's post supervisor builds for post-rs's post-service.
        let cli = Cli::try_parse_from([
            "post-service",
            "--address",
            "http://127.0.0.1:9094",
            "--min-num-units",
            "4",
            "--max-num-units",
            "1000",
            "--k1",
            "26",
            "--k2",
            "37",
            "--pow-difficulty",
            "000dfb23b0979b4b000000000000000000000000000000000000000000000000",
            "--dir",
            "/data/post",
            "-n",
            "8192",
            "-r",
            "1",
            "-p",
            "1",
            "--threads",
            "0",
            "--nonces",
            "288",
            "--randomx-mode",
            "fast",
            "--watch-pid",
            "1234",
            "--max-retries",
            "10",
            "--reconnect-interval-s",
            "7",
        ])
        .unwrap();
        let o = cli.args.options().unwrap();
        assert_eq!(o.proof, ProofConfig::MAINNET);
        assert_eq!(o.init.min_num_units, 4);
        assert_eq!(o.init.max_num_units, 1000);
        assert_eq!(o.init.scrypt, ScryptParams::MAINNET);
        assert_eq!(o.proving.nonces, 288);
        assert_eq!(o.proving.threads, 0);
        assert_eq!(o.randomx_mode, RandomXMode::Fast);
        assert_eq!(o.max_retries, Some(10));
        assert_eq!(o.reconnect_interval, Duration::from_secs(7));
        assert!(o.tls.is_none());
        assert_eq!(cli.args.watch_pid, Some(1234));
    }

    #[test]
    fn bad_values_are_named() {
        let err = Cli::try_parse_from([
            "post-service",
            "--address",
            "http://x:1",
            "--dir",
            "d",
            "--pow-difficulty",
            "00",
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--pow-difficulty") && err.contains("1 bytes"),
            "{err}"
        );
        let cli = Cli::try_parse_from([
            "post-service",
            "--address",
            "http://x:1",
            "--dir",
            "d",
            "-n",
            "3",
        ])
        .unwrap();
        let err = format!("{:#}", cli.args.options().unwrap_err());
        assert!(err.contains("-n") && err.contains("power of two"), "{err}");
    }
}

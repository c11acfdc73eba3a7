//! smesher's configuration: a go-spacemesh-shaped JSON file plus flags, checked into one runtime [`Config`].
//!
//! Loading goes in two layers. `file` walks the JSON (go-spacemesh's sections and kebab-case keys, plus
//! smesher's own `gateway` and `metrics` sections) key by key, type-checking what smesher uses and recording what
//! only a full node uses; `flags` lays the command line over it; `validate` turns the result into a [`Config`],
//! on top of the defaults of the chosen `presets` entry. Every problem met on the way is collected with its key
//! path, so one run shows the operator all of them.

mod file;
mod flags;
mod known_keys;
mod presets;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use url::Url;

pub use flags::ConfigArgs;
pub use presets::{DEVNET, MAINNET};
pub use validate::decode_address;

/// The checked runtime configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `main.data-folder` (`-d`): holds `state.sql`, `local.sql`, `identities/`.
    pub data_folder: PathBuf,
    /// `main.node-service-address`: node-service base URLs, highest priority first.
    pub node_service: Vec<Url>,
    /// `main.proxy-api-v2-address`: v2 JSON API URLs that requests smesher does not serve are relayed to.
    pub proxy_api_v2: Vec<Url>,
    /// `main.proxy-api-v2-grpc-address`: per `proxy-api-v2-address` node, in the same order, where
    /// its gRPC API listens (a node serves gRPC and JSON on different ports); empty = the same
    /// URLs as `proxy-api-v2-address`.
    pub proxy_api_v2_grpc: Vec<Url>,
    /// `gateway.*`: health checking, fail-over and retry tuning for the upstream nodes.
    pub gateway: GatewaySection,
    /// `genesis.genesis-time`.
    pub genesis_time: SystemTime,
    /// `genesis.genesis-extra-data`: hashed as a literal string into the genesis ID.
    pub genesis_extra_data: String,
    /// `main.layer-duration`.
    pub layer_duration: Duration,
    /// `main.layers-per-epoch`.
    pub layers_per_epoch: u32,
    /// `main.layer-average-size`: expected proposals per layer (proposal eligibility).
    pub layer_average_size: u32,
    /// `main.tick-size`: PoET leaves per tick (ATX weight).
    pub tick_size: u64,
    /// `main.publish-to-all`: send every signed message to every healthy node-service instead
    /// of only the active one (faster propagation); off by default.
    pub publish_to_all: bool,
    /// `main.network-hrp`: the bech32 prefix of addresses on this network.
    pub network_hrp: String,
    /// `main.regossip-atx-interval`: how often each identity's ATX of the current epoch is
    /// published again (at most every quarter epoch); zero = never.
    pub regossip_atx_interval: Duration,
    /// Where Prometheus metrics are served; `None` = not served.
    pub metrics_listener: Option<SocketAddr>,
    /// `api.*`: the listeners smesher serves.
    pub api: ApiSection,
    /// `main.poet-servers`.
    pub poet_servers: Vec<PoetServer>,
    /// `poet.*`: PoET round timing and client behaviour.
    pub poet: PoetSection,
    /// `post.*`: the network's PoST parameters.
    pub post: PostSection,
    /// `smeshing.*`.
    pub smeshing: SmeshingSection,
    /// `hare3.*` and `hare-eligibility.*`.
    pub hare3: Hare3Section,
    /// `certificate.committee-size`: block certificate committee.
    pub certificate_committee_size: u32,
    /// `logging.*`.
    pub logging: LoggingSection,
    /// `preset` as given (`None` = mainnet values).
    pub preset: Option<String>,
}

impl Config {
    /// The keys whose change between `self` and `new` a running service cannot apply (a SIGHUP reload applies only
    /// `main.node-service-address`, `main.proxy-api-v2-address` and `gateway.*`); empty = `new` can be swapped in.
    pub fn restart_needed(&self, new: &Config) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut check = |changed: bool, key: &'static str| {
            if changed {
                keys.push(key);
            }
        };
        check(self.data_folder != new.data_folder, "main.data-folder");
        check(
            self.genesis_time != new.genesis_time
                || self.genesis_extra_data != new.genesis_extra_data,
            "genesis",
        );
        check(
            self.layer_duration != new.layer_duration
                || self.layers_per_epoch != new.layers_per_epoch
                || self.layer_average_size != new.layer_average_size
                || self.tick_size != new.tick_size
                || self.network_hrp != new.network_hrp
                || self.regossip_atx_interval != new.regossip_atx_interval,
            "main (layer timing and network)",
        );
        check(self.metrics_listener != new.metrics_listener, "metrics");
        check(self.api != new.api, "api");
        check(self.poet_servers != new.poet_servers, "main.poet-servers");
        check(self.poet != new.poet, "poet");
        check(self.post != new.post, "post");
        check(self.smeshing != new.smeshing, "smeshing");
        check(
            self.hare3 != new.hare3
                || self.certificate_committee_size != new.certificate_committee_size,
            "hare3",
        );
        check(self.logging != new.logging, "logging");
        check(self.preset != new.preset, "preset");
        keys
    }
}

// The gateway keys' defaults are the gateway crate's own, so the two cannot drift apart.
/// Default of `gateway.health-interval`.
pub const DEFAULT_HEALTH_INTERVAL: Duration = gateway::DEFAULT_HEALTH_INTERVAL;
/// Default of `gateway.probe-timeout`.
pub const DEFAULT_PROBE_TIMEOUT: Duration = gateway::DEFAULT_PROBE_TIMEOUT;
/// Default of `gateway.rise`.
pub const DEFAULT_RISE: u32 = gateway::DEFAULT_RISE;
/// Default of `gateway.fall`.
pub const DEFAULT_FALL: u32 = gateway::DEFAULT_FALL;
/// Default of `gateway.max-layer-lag`.
pub const DEFAULT_MAX_LAYER_LAG: u32 = gateway::DEFAULT_MAX_LAYER_LAG;
/// Default of `gateway.failback-after`.
pub const DEFAULT_FAILBACK_AFTER: Duration = gateway::DEFAULT_FAILBACK_AFTER;
/// Default of `gateway.per-try-timeout`.
pub const DEFAULT_PER_TRY_TIMEOUT: Duration = gateway::DEFAULT_PER_TRY_TIMEOUT;
/// Default of `gateway.request-timeout`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = gateway::DEFAULT_REQUEST_TIMEOUT;
/// Default of `gateway.max-response-bytes` (16 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = gateway::DEFAULT_MAX_RESPONSE_BYTES as usize;
/// Default of `gateway.retry-budget-ratio`.
pub const DEFAULT_RETRY_BUDGET_RATIO: f64 = gateway::DEFAULT_RETRY_BUDGET_RATIO;
/// Default of `gateway.retry-budget-min-per-second`.
pub const DEFAULT_RETRY_BUDGET_MIN_PER_SECOND: u32 = gateway::DEFAULT_RETRY_BUDGET_MIN_PER_SECOND;
/// Default of `gateway.retry-budget-ttl`.
pub const DEFAULT_RETRY_BUDGET_TTL: Duration = gateway::DEFAULT_RETRY_BUDGET_TTL;
/// Default of `gateway.eject-after`.
pub const DEFAULT_EJECT_AFTER: u32 = gateway::DEFAULT_EJECT_AFTER;
/// Default of `gateway.eject-base`.
pub const DEFAULT_EJECT_BASE: Duration = gateway::DEFAULT_EJECT_BASE;
/// Default of `gateway.eject-max`.
pub const DEFAULT_EJECT_MAX: Duration = gateway::DEFAULT_EJECT_MAX;
/// Default of `main.metrics-port` (go-spacemesh's).
pub const DEFAULT_METRICS_PORT: u16 = 1010;
/// Default of `api.grpc-send-msg-size` and `api.grpc-recv-msg-size` (10 MiB).
pub const DEFAULT_GRPC_MSG_SIZE: usize = 10 * 1024 * 1024;

/// `gateway.*`: how smesher watches, chooses and retries its upstream nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewaySection {
    /// `health-interval`: time between two health probes of a node.
    pub health_interval: Duration,
    /// `probe-timeout`: a probe slower than this counts as failed.
    pub probe_timeout: Duration,
    /// `rise`: successful probes in a row before a node counts as healthy.
    pub rise: u32,
    /// `fall`: failed probes in a row before a node counts as unhealthy.
    pub fall: u32,
    /// `max-layer-lag`: layers a node may be behind the wall-clock layer and still be healthy.
    pub max_layer_lag: u32,
    /// `failback-after`: a higher-priority node must be healthy this long before it is active again;
    /// `Duration::ZERO` = never fail back.
    pub failback_after: Duration,
    /// `per-try-timeout`: limit on one attempt at one node.
    pub per_try_timeout: Duration,
    /// `request-timeout`: limit on a whole call, retries included.
    pub request_timeout: Duration,
    /// `max-response-bytes`: a larger upstream body is a failure of that node.
    pub max_response_bytes: usize,
    /// `retry-budget-ratio`: retries allowed per request, on top of the floor below.
    pub retry_budget_ratio: f64,
    /// `retry-budget-min-per-second`: retries always allowed per second.
    pub retry_budget_min_per_second: u32,
    /// `retry-budget-ttl`: the window over which requests are counted for the budget (1–60 s).
    pub retry_budget_ttl: Duration,
    /// `eject-after`: consecutive transport errors, timeouts or 5xx that eject a node.
    pub eject_after: u32,
    /// `eject-base`: first ejection time, doubled per repeat.
    pub eject_base: Duration,
    /// `eject-max`: cap of the ejection time.
    pub eject_max: Duration,
    /// `status-addresses`: where each node's v2 JSON `NodeService/Status` is read, parallel to
    /// `node-service-address`; empty = probe the node-service URL itself.
    pub status_addresses: Vec<Url>,
    /// `ca-cert`: a PEM file with extra CA certificates trusted, besides the platform's roots,
    /// for `https://` node-service and v2 upstreams (e.g. an operator's private CA).
    pub ca_cert: Option<PathBuf>,
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            health_interval: DEFAULT_HEALTH_INTERVAL,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
            max_layer_lag: DEFAULT_MAX_LAYER_LAG,
            failback_after: DEFAULT_FAILBACK_AFTER,
            per_try_timeout: DEFAULT_PER_TRY_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry_budget_ratio: DEFAULT_RETRY_BUDGET_RATIO,
            retry_budget_min_per_second: DEFAULT_RETRY_BUDGET_MIN_PER_SECOND,
            retry_budget_ttl: DEFAULT_RETRY_BUDGET_TTL,
            eject_after: DEFAULT_EJECT_AFTER,
            eject_base: DEFAULT_EJECT_BASE,
            eject_max: DEFAULT_EJECT_MAX,
            status_addresses: Vec::new(),
            ca_cert: None,
        }
    }
}

/// `api.*`: smesher's listeners. `None` = that listener is off (go-spacemesh's empty string).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiSection {
    /// `grpc-public-listener`.
    pub grpc_public_listener: Option<SocketAddr>,
    /// `grpc-private-listener`.
    pub grpc_private_listener: Option<SocketAddr>,
    /// `grpc-post-listener`: where post-services connect.
    pub grpc_post_listener: Option<SocketAddr>,
    /// `grpc-json-listener`: the v2 JSON gateway.
    pub grpc_json_listener: Option<SocketAddr>,
    /// `grpc-cors-allowed-origins` of the JSON listener.
    pub grpc_cors_allowed_origins: Vec<String>,
    /// `grpc-tls-*`: the mutual-TLS listener, when `grpc-tls-listener` is set.
    pub grpc_tls: Option<TlsSection>,
    /// `grpc-send-msg-size`: largest gRPC message sent, in bytes.
    pub grpc_send_msg_size: usize,
    /// `grpc-recv-msg-size`: largest gRPC message accepted, in bytes.
    pub grpc_recv_msg_size: usize,
}

/// The `api.grpc-tls-*` keys.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsSection {
    /// `grpc-tls-listener`.
    pub listener: SocketAddr,
    /// `grpc-tls-ca-cert`: CA that client certificates must chain to.
    pub ca_cert: PathBuf,
    /// `grpc-tls-cert`: the server certificate.
    pub cert: PathBuf,
    /// `grpc-tls-key`: the server key.
    pub key: PathBuf,
    /// `grpc-tls-services`: services served on the TLS listener.
    pub services: Vec<String>,
}

/// One entry of `main.poet-servers`.
#[derive(Clone, Debug, PartialEq)]
pub struct PoetServer {
    /// `address`.
    pub address: Url,
    /// `pubkey` (ed25519, base64 in the file); `None` when the file gives none.
    pub pubkey: Option<[u8; 32]>,
}

/// `poet.*`.
#[derive(Clone, Debug, PartialEq)]
pub struct PoetSection {
    /// `phase-shift`: PoET round start relative to the epoch start.
    pub phase_shift: Duration,
    /// `cycle-gap`: gap between the end of a round and the start of the next epoch's.
    pub cycle_gap: Duration,
    /// `grace-period`: how long before the round starts challenges are submitted.
    pub grace_period: Duration,
    /// `poet-request-timeout`.
    pub poet_request_timeout: Duration,
    /// `retry-delay`: wait between PoET request retries.
    pub retry_delay: Duration,
    /// `retry-max`: retries of one PoET request.
    pub retry_max: u32,
    /// `positioning-atx-selection-timeout`.
    pub positioning_atx_selection_timeout: Duration,
    /// `info-cache-ttl`: how long a PoET's info is cached.
    pub info_cache_ttl: Duration,
    /// `pow-params-cache-ttl`: how long a PoET's PoW parameters are cached.
    pub pow_params_cache_ttl: Duration,
    /// `poet-proofs-cache`: PoET proofs kept in memory.
    pub poet_proofs_cache: u32,
}

/// `post.*`: the network's PoST parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct PostSection {
    /// `post-min-numunits`.
    pub post_min_numunits: u32,
    /// `post-max-numunits`.
    pub post_max_numunits: u32,
    /// `post-labels-per-unit`.
    pub post_labels_per_unit: u64,
    /// `post-k1`.
    pub post_k1: u32,
    /// `post-k2`.
    pub post_k2: u32,
    /// `post-k3`.
    pub post_k3: u32,
    /// `post-pow-difficulty` (64 hex digits in the file).
    pub post_pow_difficulty: [u8; 32],
}

/// `smeshing.*`.
#[derive(Clone, Debug, PartialEq)]
pub struct SmeshingSection {
    /// `smeshing-start`: build ATXs and do the duties.
    pub smeshing_start: bool,
    /// `smeshing-coinbase`: bech32 address rewards go to; required when smeshing starts.
    pub smeshing_coinbase: Option<String>,
    /// `smeshing-opts.*`: PoST data options.
    pub opts: SmeshingOpts,
    /// `smeshing-proving-opts.*`.
    pub proving_opts: ProvingOpts,
}

/// `smeshing.smeshing-opts.*` (keys prefixed `smeshing-opts-`).
#[derive(Clone, Debug, PartialEq)]
pub struct SmeshingOpts {
    /// `datadir`: where the PoST data lives; `None` = not set.
    pub datadir: Option<PathBuf>,
    /// `numunits`: space units of PoST data.
    pub numunits: u32,
    /// `maxfilesize`: bytes per PoST data file.
    pub maxfilesize: u64,
    /// `provider`: compute provider id for initialization; `None` = not set.
    pub provider: Option<u32>,
    /// `throttle`: throttle initialization when the machine is busy.
    pub throttle: bool,
    /// `compute-batch-size`: labels per initialization batch.
    pub compute_batch_size: u64,
    /// `scrypt.{n,r,p}`: label scrypt parameters.
    pub scrypt: Scrypt,
}

/// scrypt parameters of the labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scrypt {
    /// N.
    pub n: u64,
    /// r.
    pub r: u32,
    /// p.
    pub p: u32,
}

/// `smeshing.smeshing-proving-opts.*` (keys prefixed `smeshing-opts-proving-`).
#[derive(Clone, Debug, PartialEq)]
pub struct ProvingOpts {
    /// `threads`: proving threads; 0 = let the prover choose.
    pub threads: u32,
    /// `nonces`: nonces tried per pass (a multiple of 16).
    pub nonces: u32,
    /// `randomx-mode`.
    pub randomx_mode: RandomxMode,
}

/// RandomX mode of the k2pow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RandomxMode {
    /// `fast`: 2 GiB dataset, fast hashing.
    Fast,
    /// `light`: 256 MiB cache, slow hashing.
    Light,
}

/// `hare3.*` plus `hare-eligibility.eligibility-confidence-param`.
#[derive(Clone, Debug, PartialEq)]
pub struct Hare3Section {
    /// `enable`.
    pub enable: bool,
    /// `enable-layer`: first layer hare3 runs.
    pub enable_layer: u32,
    /// `disable-layer`: first layer hare3 no longer runs.
    pub disable_layer: u32,
    /// `committee`.
    pub committee: u32,
    /// `committeeupgrade.{layer,size}`: committee size from a layer on.
    pub committee_upgrade: Option<CommitteeUpgrade>,
    /// `leaders`.
    pub leaders: u32,
    /// `iterations-limit`.
    pub iterations_limit: u32,
    /// `preround-delay`: from layer start to the preround.
    pub preround_delay: Duration,
    /// `round-duration`.
    pub round_duration: Duration,
    /// `protocolname`: the p2p topic.
    pub protocol_name: String,
    /// `hare-eligibility.eligibility-confidence-param`: first layers of an epoch that use the previous active set.
    pub eligibility_confidence_param: u32,
}

/// A scheduled hare committee size change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitteeUpgrade {
    /// First layer of the new size.
    pub layer: u32,
    /// The new committee size.
    pub size: u32,
}

impl Hare3Section {
    /// The committee size that applies to `layer`.
    pub fn committee_for(&self, layer: u32) -> u32 {
        match self.committee_upgrade {
            Some(up) if layer >= up.layer => up.size,
            _ => self.committee,
        }
    }
}

/// `logging.*`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggingSection {
    /// `level` (or go-spacemesh's `app`): trace, debug, info, warn or error.
    pub level: String,
    /// `log-encoder` = "json": one JSON object per line instead of text.
    pub json: bool,
}

/// A loaded config and the keys it holds that smesher does not use.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The checked configuration.
    pub config: Config,
    /// Full paths of keys accepted for go-spacemesh compatibility but not used (the caller logs them once).
    pub ignored: Vec<String>,
}

/// One problem in the config, with the key path (or flag) it concerns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// Full key path such as `main.node-service-address[1]`, or a flag such as `--metrics-listener`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Every problem found while loading; `Display` prints one per line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", one_per_line(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn one_per_line(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigErrors {
    /// The exit status a process should end with on a bad config.
    pub const EXIT_STATUS: i32 = 2;
}

/// Collects problems so that loading goes on after the first one.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub Vec<ConfigError>);

impl Problems {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Loads the file named by `--config` (if any), lays the flags over it and checks the result.
pub fn load(args: &ConfigArgs) -> Result<Loaded, ConfigErrors> {
    match &args.config {
        None => load_value(None, args),
        Some(path) => {
            let text = read_file(path)?;
            from_json_str(&text, args)
        }
    }
}

/// Loads a config from JSON text (flags still apply; `--config` is not read).
pub fn from_json_str(text: &str, args: &ConfigArgs) -> Result<Loaded, ConfigErrors> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: "(file)".into(),
            message: format!("not valid JSON: {e}"),
        }])
    })?;
    load_value(Some(&value), args)
}

fn read_file(path: &Path) -> Result<String, ConfigErrors> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: "--config".into(),
            message: format!("cannot read {}: {e}", path.display()),
        }])
    })
}

fn load_value(
    value: Option<&serde_json::Value>,
    args: &ConfigArgs,
) -> Result<Loaded, ConfigErrors> {
    let mut problems = Problems::default();
    let mut ignored = Vec::new();
    let mut raw = match value {
        Some(v) => file::FileConfig::from_value(v, &mut problems, &mut ignored),
        None => file::FileConfig::default(),
    };
    flags::apply(args, &mut raw);
    let config = validate::validate(raw, &mut problems);
    // Grouped by section for the reader; within one path the order found is kept.
    problems.0.sort_by(|a, b| a.path.cmp(&b.path));
    if problems.0.is_empty() {
        Ok(Loaded { config, ignored })
    } else {
        Err(ConfigErrors(problems.0))
    }
}

#[cfg(test)]
mod tests;

//! The config file format: go-spacemesh's JSON sections walked key by key into typed, path-tagged settings.
//!
//! The file is first parsed into a `serde_json::Value` and then walked, rather than deserialized straight into
//! structs, because serde stops at the first problem while an operator migrating a node config wants to see every
//! one, and because thousands of go-spacemesh keys must be told apart from typos (see `known_keys`).

use std::time::Duration;

use serde_json::{Map, Value};

use super::known_keys::{self, Key, Shape};
use super::Problems;

/// A value read from the file or a flag, with the key path (or flag name) that later errors must name.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Setting<T> {
    pub value: T,
    pub path: String,
}

impl<T> Setting<T> {
    pub fn new(value: T, path: impl Into<String>) -> Self {
        Setting {
            value,
            path: path.into(),
        }
    }
}

/// A list whose items each carry their own path (`main.node-service-address[1]`).
pub(crate) type List = Vec<Setting<String>>;

/// Everything smesher reads from the file, type-checked but not yet range-checked; `None` = not given.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileConfig {
    pub preset: Option<Setting<String>>,
    pub main: MainFile,
    pub genesis: GenesisFile,
    pub api: ApiFile,
    pub poet: PoetFile,
    pub post: PostFile,
    pub smeshing: SmeshingFile,
    pub hare3: Hare3File,
    pub hare_eligibility_confidence_param: Option<Setting<u64>>,
    pub certificate_committee_size: Option<Setting<u64>>,
    pub logging: LoggingFile,
    pub gateway: GatewayFile,
    pub metrics: MetricsFile,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct MainFile {
    pub data_folder: Option<Setting<String>>,
    pub node_service_address: Option<List>,
    pub proxy_api_v2_address: Option<List>,
    pub proxy_api_v2_grpc_address: Option<List>,
    pub layer_duration: Option<Setting<Duration>>,
    pub layers_per_epoch: Option<Setting<u64>>,
    pub layer_average_size: Option<Setting<u64>>,
    pub tick_size: Option<Setting<u64>>,
    pub network_hrp: Option<Setting<String>>,
    pub poet_servers: Option<Vec<PoetServerFile>>,
    pub metrics: Option<Setting<bool>>,
    pub metrics_port: Option<Setting<u64>>,
    pub publish_to_all: Option<Setting<bool>>,
    pub regossip_atx_interval: Option<Setting<Duration>>,
}

#[derive(Clone, Debug)]
pub(crate) struct PoetServerFile {
    pub path: String,
    pub address: Option<Setting<String>>,
    pub pubkey: Option<Setting<String>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct GenesisFile {
    pub genesis_time: Option<Setting<String>>,
    pub genesis_extra_data: Option<Setting<String>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ApiFile {
    pub grpc_public_listener: Option<Setting<String>>,
    pub grpc_private_listener: Option<Setting<String>>,
    pub grpc_post_listener: Option<Setting<String>>,
    pub grpc_json_listener: Option<Setting<String>>,
    pub grpc_cors_allowed_origins: Option<List>,
    pub grpc_tls_listener: Option<Setting<String>>,
    pub grpc_tls_services: Option<List>,
    pub grpc_tls_ca_cert: Option<Setting<String>>,
    pub grpc_tls_cert: Option<Setting<String>>,
    pub grpc_tls_key: Option<Setting<String>>,
    pub grpc_send_msg_size: Option<Setting<u64>>,
    pub grpc_recv_msg_size: Option<Setting<u64>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct PoetFile {
    pub phase_shift: Option<Setting<Duration>>,
    pub cycle_gap: Option<Setting<Duration>>,
    pub grace_period: Option<Setting<Duration>>,
    pub poet_request_timeout: Option<Setting<Duration>>,
    pub retry_delay: Option<Setting<Duration>>,
    pub retry_max: Option<Setting<u64>>,
    pub positioning_atx_selection_timeout: Option<Setting<Duration>>,
    pub info_cache_ttl: Option<Setting<Duration>>,
    pub pow_params_cache_ttl: Option<Setting<Duration>>,
    pub poet_proofs_cache: Option<Setting<u64>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct PostFile {
    pub min_numunits: Option<Setting<u64>>,
    pub max_numunits: Option<Setting<u64>>,
    pub labels_per_unit: Option<Setting<u64>>,
    pub k1: Option<Setting<u64>>,
    pub k2: Option<Setting<u64>>,
    pub k3: Option<Setting<u64>>,
    pub pow_difficulty: Option<Setting<String>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct SmeshingFile {
    pub start: Option<Setting<bool>>,
    pub coinbase: Option<Setting<String>>,
    pub datadir: Option<Setting<String>>,
    pub numunits: Option<Setting<u64>>,
    pub maxfilesize: Option<Setting<u64>>,
    pub provider: Option<Setting<u64>>,
    pub throttle: Option<Setting<bool>>,
    pub compute_batch_size: Option<Setting<u64>>,
    pub scrypt_n: Option<Setting<u64>>,
    pub scrypt_r: Option<Setting<u64>>,
    pub scrypt_p: Option<Setting<u64>>,
    pub proving_threads: Option<Setting<u64>>,
    pub proving_nonces: Option<Setting<u64>>,
    pub proving_randomx_mode: Option<Setting<String>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Hare3File {
    pub enable: Option<Setting<bool>>,
    pub enable_layer: Option<Setting<u64>>,
    pub disable_layer: Option<Setting<u64>>,
    pub committee: Option<Setting<u64>>,
    pub committee_upgrade_layer: Option<Setting<u64>>,
    pub committee_upgrade_size: Option<Setting<u64>>,
    /// Set when the file gives `committeeupgrade` at all (`null` removes the preset's upgrade).
    pub committee_upgrade_given: Option<Setting<bool>>,
    pub leaders: Option<Setting<u64>>,
    pub iterations_limit: Option<Setting<u64>>,
    pub preround_delay: Option<Setting<Duration>>,
    pub round_duration: Option<Setting<Duration>>,
    pub protocol_name: Option<Setting<String>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct LoggingFile {
    pub level: Option<Setting<String>>,
    /// go-spacemesh's `logging.app`, used when `level` is not given.
    pub app: Option<Setting<String>>,
    pub log_encoder: Option<Setting<String>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct GatewayFile {
    pub health_interval: Option<Setting<Duration>>,
    pub probe_timeout: Option<Setting<Duration>>,
    pub rise: Option<Setting<u64>>,
    pub fall: Option<Setting<u64>>,
    pub max_layer_lag: Option<Setting<u64>>,
    pub failback_after: Option<Setting<Duration>>,
    pub per_try_timeout: Option<Setting<Duration>>,
    pub request_timeout: Option<Setting<Duration>>,
    pub max_response_bytes: Option<Setting<u64>>,
    pub retry_budget_ratio: Option<Setting<f64>>,
    pub retry_budget_min_per_second: Option<Setting<u64>>,
    pub retry_budget_ttl: Option<Setting<Duration>>,
    pub eject_after: Option<Setting<u64>>,
    pub eject_base: Option<Setting<Duration>>,
    pub eject_max: Option<Setting<Duration>>,
    pub status_addresses: Option<List>,
    pub ca_cert: Option<Setting<String>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct MetricsFile {
    pub metrics: Option<Setting<bool>>,
    pub metrics_port: Option<Setting<u64>>,
    pub metrics_listener: Option<Setting<String>>,
}

/// The walk's state: where problems and ignored keys go.
struct Walk<'a> {
    pub problems: &'a mut Problems,
    pub ignored: &'a mut Vec<String>,
}

impl Walk<'_> {
    /// Decodes one scalar; `null` counts as not given, a bad value is recorded and also gives `None`.
    fn take<T>(
        &mut self,
        path: &str,
        v: &Value,
        decode: fn(&Value) -> Result<T, String>,
    ) -> Option<Setting<T>> {
        if v.is_null() {
            return None;
        }
        match decode(v) {
            Ok(value) => Some(Setting::new(value, path)),
            Err(message) => {
                self.problems.push(path, message);
                None
            }
        }
    }

    /// Handles a key smesher does not read: known to go-spacemesh = ignored (listed once), else an error.
    fn other(
        &mut self,
        keys: &'static [Key],
        own: &[&'static str],
        key: &str,
        v: &Value,
        path: &str,
    ) {
        match known_keys::lookup(keys, key) {
            None => {
                let hint = suggestion(keys, own, key)
                    .map(|s| format!(" (did you mean \"{s}\"?)"))
                    .unwrap_or_default();
                self.problems.push(path, format!("unknown key{hint}"));
            }
            Some(Key {
                shape: Shape::Section(sub),
                ..
            }) => match v {
                Value::Object(obj) if !obj.is_empty() => {
                    for (k, v) in obj {
                        self.other(sub, &[], k, v, &format!("{path}.{k}"));
                    }
                }
                Value::Object(_) | Value::Null => self.ignored.push(path.to_string()),
                other => self
                    .problems
                    .push(path, format!("expected an object, found {}", kind(other))),
            },
            Some(Key {
                shape: Shape::Rejected(why),
                ..
            }) => self.problems.push(path, *why),
            Some(_) => self.ignored.push(path.to_string()),
        }
    }

    /// The keys of a section smesher reads; `null` counts as absent and anything but an object is an error.
    fn section<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(obj) => Some(obj),
            Value::Null => None,
            other => {
                self.problems
                    .push(path, format!("expected an object, found {}", kind(other)));
                None
            }
        }
    }
}

/// The closest known key name, for "did you mean" hints on typos.
fn suggestion(keys: &'static [Key], own: &[&'static str], key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase();
    keys.iter()
        .map(|k| k.name)
        .chain(own.iter().copied())
        .map(|name| (edit_distance(&key, &name.to_ascii_lowercase()), name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

impl FileConfig {
    /// Walks a parsed config file; problems and ignored key paths are appended to the given lists.
    pub fn from_value(
        root: &Value,
        problems: &mut Problems,
        ignored: &mut Vec<String>,
    ) -> FileConfig {
        let mut f = FileConfig::default();
        same_key_twice(root, "", problems);
        let mut w = Walk { problems, ignored };
        let Value::Object(obj) = root else {
            w.problems.push(
                "(file)",
                format!("expected a JSON object, found {}", kind(root)),
            );
            return f;
        };
        for (key, v) in obj {
            let path = key.as_str();
            match key.to_ascii_lowercase().as_str() {
                "preset" => f.preset = w.take(path, v, string),
                "main" => walk_main(&mut f.main, &mut w, path, v),
                "genesis" => walk_genesis(&mut f.genesis, &mut w, path, v),
                "api" => walk_api(&mut f.api, &mut w, path, v),
                "poet" => walk_poet(&mut f.poet, &mut w, path, v),
                "post" => walk_post(&mut f.post, &mut w, path, v),
                "smeshing" => walk_smeshing(&mut f.smeshing, &mut w, path, v),
                "hare3" => walk_hare3(&mut f.hare3, &mut w, path, v),
                "hare-eligibility" => {
                    for (k, v) in w.section(path, v).into_iter().flatten() {
                        let p = format!("{path}.{k}");
                        match k.to_ascii_lowercase().as_str() {
                            "eligibility-confidence-param" => {
                                f.hare_eligibility_confidence_param = w.take(&p, v, uint)
                            }
                            _ => {
                                w.other(known_keys::section_keys("hare-eligibility"), &[], k, v, &p)
                            }
                        }
                    }
                }
                "certificate" => {
                    for (k, v) in w.section(path, v).into_iter().flatten() {
                        let p = format!("{path}.{k}");
                        match k.to_ascii_lowercase().as_str() {
                            "committee-size" => f.certificate_committee_size = w.take(&p, v, uint),
                            _ => w.other(known_keys::section_keys("certificate"), &[], k, v, &p),
                        }
                    }
                }
                "logging" => walk_logging(&mut f.logging, &mut w, path, v),
                "gateway" => walk_gateway(&mut f.gateway, &mut w, path, v),
                "metrics" => walk_metrics(&mut f.metrics, &mut w, path, v),
                _ => w.other(known_keys::ROOT, ROOT_OWN, key, v, path),
            }
        }
        f
    }
}

/// Keys match without regard to case, so `"Rise"` next to `"rise"` would make one silently win: refuse that.
fn same_key_twice(v: &Value, path: &str, problems: &mut Problems) {
    match v {
        Value::Object(obj) => {
            let mut seen: Vec<(String, &str)> = Vec::with_capacity(obj.len());
            for (k, v) in obj {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let lower = k.to_ascii_lowercase();
                match seen.iter().find(|(l, _)| *l == lower) {
                    Some((_, first)) => problems.push(
                        &p,
                        format!("same key as \"{first}\" (keys match without regard to case)"),
                    ),
                    None => seen.push((lower, k)),
                }
                same_key_twice(v, &p, problems);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                same_key_twice(item, &format!("{path}[{i}]"), problems);
            }
        }
        _ => {}
    }
}

fn walk_main(f: &mut MainFile, w: &mut Walk<'_>, path: &str, v: &Value) {
    for (k, v) in w.section(path, v).into_iter().flatten() {
        let p = format!("{path}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "data-folder" => f.data_folder = w.take(&p, v, string),
            "node-service-address" => f.node_service_address = list(w, &p, v),
            "proxy-api-v2-address" => f.proxy_api_v2_address = list(w, &p, v),
            "proxy-api-v2-grpc-address" => f.proxy_api_v2_grpc_address = list(w, &p, v),
            "layer-duration" => f.layer_duration = w.take(&p, v, duration),
            "layers-per-epoch" => f.layers_per_epoch = w.take(&p, v, uint),
            "layer-average-size" => f.layer_average_size = w.take(&p, v, uint),
            "tick-size" => f.tick_size = w.take(&p, v, uint),
            "network-hrp" => f.network_hrp = w.take(&p, v, string),
            "poet-servers" => f.poet_servers = poet_servers(w, &p, v),
            "metrics" => f.metrics = w.take(&p, v, boolean),
            "metrics-port" => f.metrics_port = w.take(&p, v, uint),
            "publish-to-all" => f.publish_to_all = w.take(&p, v, boolean),
            "regossip-atx-interval" => f.regossip_atx_interval = w.take(&p, v, duration),
            _ => w.other(known_keys::section_keys("main"), MAIN_OWN, k, v, &p),
        }
    }
}

fn walk_genesis(f: &mut GenesisFile, w: &mut Walk<'_>, path: &str, v: &Value) {
    for (k, v) in w.section(path, v).into_iter().flatten() {
        let p = format!("{path}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "genesis-time" => f.genesis_time = w.take(&p, v, string),
            "genesis-extra-data" => f.genesis_extra_data = w.take(&p, v, string),
            _ => w.other(known_keys::section_keys("genesis"), &[], k, v, &p),
        }
    }
}

fn walk_api(f: &mut ApiFile, w: &mut Walk<'_>, path: &str, v: &Value) {
    for (k, v) in w.section(path, v).into_iter().flatten() {
        let p = format!("{path}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "grpc-public-listener" => f.grpc_public_listener = w.take(&p, v, string),
            "grpc-private-listener" => f.grpc_private_listener = w.take(&p, v, string),
            "grpc-post-listener" => f.grpc_post_listener = w.take(&p, v, string),
            "grpc-json-listener" => f.grpc_json_listener = w.take(&p, v, string),
            "grpc-cors-allowed-origins" => f.grpc_cors_allowed_origins = list(w, &p, v),
            "grpc-tls-listener" => f.grpc_tls_listener = w.take(&p, v, string),
            "grpc-tls-services" => f.grpc_tls_services = list(w, &p, v),
            "grpc-tls-ca-cert" => f.grpc_tls_ca_cert = w.take(&p, v, string),
            "grpc-tls-cert" => f.grpc_tls_cert = w.take(&p, v, string),
            "grpc-tls-key" => f.grpc_tls_key = w.take(&p, v, string),
            "grpc-send-msg-size" => f.grpc_send_msg_size = w.take(&p, v, uint),
            "grpc-recv-msg-size" => f.grpc_recv_msg_size = w.take(&p, v, uint),
            _ => w.other(known_keys::section_keys("api"), &[], k, v, &p),
        }
    }
}

fn walk_poet(f: &mut PoetFile, w: &mut Walk<'_>, path: &str, v: &Value) {
    for (k, v) in w.section(path, v).into_iter().flatten() {
        let p = format!("{path}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "phase-shift" => f.phase_shift = w.take(&p, v, duration),
            "cycle-gap" => f.cycle_gap = w.take(&p, v, duration),
            "grace-period" => f.grace_period = w.take(&p, v, duration),
            "poet-request-timeout" => f.poet_request_timeout = w.take(&p, v, duration),
            "retry-delay" => f.retry_delay = w.take(&p, v, duration),
            "retry-max" => f.retry_max = w.take(&p, v, uint),
            "positioning-atx-selection-timeout" => {
                f.positioning_atx_selection_timeout = w.take(&p, v, duration)
            }
            "info-cache-ttl" => f.info_cache_ttl = w.take(&p, v, duration),
            "pow-params-cache-ttl" => f.pow_params_cache_ttl = w.take(&p, v, duration),
            "poet-proofs-cache" => f.poet_proofs_cache = w.take(&p, v, uint),
            _ => w.other(known_keys::section_keys("poet"), &[], k, v, &p),
        }
    }
}

fn walk_post(f: &mut PostFile, w: &mut Walk<'_>, path: &str, v: &Value) {
    for (k, v) in w.section(path, v).into_iter().flatten() {
        let p = format!("{path}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "post-min-numunits" => f.min_numunits = w.take(&p, v, uint),
            "post-max-numunits" => f.max_numunits = w.take(&p, v, uint),
            "post-labels-per-unit" => f.labels_per_unit = w.take(&p, v, uint),
            "post-k1" => f.k1 = w.take(&p, v, uint),
            "post-k2" => f.k2 = w.take(&p, v, uint),
            "post-k3" => f.k3 = w.take(&p, v, uint),
            "post-pow-difficulty" => f.pow_difficulty = w.take(&p, v, string),
            _ => w.other(known_keys::section_keys("post"), &[], k, v, &p),
        }
    }
}

fn walk_smeshing(f: &mut SmeshingFile, w: &mut Walk<'_>, path: &str, v: &Value) {
    let keys = known_keys::section_keys("smeshing");
    let sub_keys = |name: &str| match known_keys::lookup(keys, name).map(|k| &k.shape) {
        Some(Shape::Section(sub)) => *sub,
        _ => &[],
    };
    for (k, v) in w.section(path, v).into_iter().flatten() {
        let p = format!("{path}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "smeshing-start" => f.start = w.take(&p, v, boolean),
            "smeshing-coinbase" => f.coinbase = w.take(&p, v, string),
            "smeshing-opts" => {
                for (k, v) in w.section(&p, v).into_iter().flatten() {
                    let p = format!("{p}.{k}");
                    match k.to_ascii_lowercase().as_str() {
                        "smeshing-opts-datadir" => f.datadir = w.take(&p, v, string),
                        "smeshing-opts-numunits" => f.numunits = w.take(&p, v, uint),
                        "smeshing-opts-maxfilesize" => f.maxfilesize = w.take(&p, v, uint),
                        "smeshing-opts-provider" => f.provider = w.take(&p, v, uint),
                        "smeshing-opts-throttle" => f.throttle = w.take(&p, v, boolean),
                        "smeshing-opts-compute-batch-size" => {
                            f.compute_batch_size = w.take(&p, v, uint)
                        }
                        "smeshing-opts-scrypt" => {
                            for (k, v) in w.section(&p, v).into_iter().flatten() {
                                let p = format!("{p}.{k}");
                                match k.to_ascii_lowercase().as_str() {
                                    "n" => f.scrypt_n = w.take(&p, v, uint),
                                    "r" => f.scrypt_r = w.take(&p, v, uint),
                                    "p" => f.scrypt_p = w.take(&p, v, uint),
                                    _ => w.problems.push(&p, "unknown key (expected N, R or P)"),
                                }
                            }
                        }
                        _ => w.other(sub_keys("smeshing-opts"), &[], k, v, &p),
                    }
                }
            }
            "smeshing-proving-opts" => {
                for (k, v) in w.section(&p, v).into_iter().flatten() {
                    let p = format!("{p}.{k}");
                    match k.to_ascii_lowercase().as_str() {
                        "smeshing-opts-proving-threads" => f.proving_threads = w.take(&p, v, uint),
                        "smeshing-opts-proving-nonces" => f.proving_nonces = w.take(&p, v, uint),
                        "smeshing-opts-proving-randomx-mode" => {
                            f.proving_randomx_mode = w.take(&p, v, string)
                        }
                        _ => w.other(sub_keys("smeshing-proving-opts"), &[], k, v, &p),
                    }
                }
            }
            _ => w.other(keys, &[], k, v, &p),
        }
    }
}

fn walk_hare3(f: &mut Hare3File, w: &mut Walk<'_>, path: &str, v: &Value) {
    for (k, v) in w.section(path, v).into_iter().flatten() {
        let p = format!("{path}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "enable" => f.enable = w.take(&p, v, boolean),
            "enable-layer" => f.enable_layer = w.take(&p, v, uint),
            "disable-layer" => f.disable_layer = w.take(&p, v, uint),
            "committee" => f.committee = w.take(&p, v, uint),
            "committeeupgrade" => {
                f.committee_upgrade_given = Some(Setting::new(!v.is_null(), &p));
                for (k, v) in w.section(&p, v).into_iter().flatten() {
                    let p = format!("{p}.{k}");
                    match k.to_ascii_lowercase().as_str() {
                        "layer" => f.committee_upgrade_layer = w.take(&p, v, uint),
                        "size" => f.committee_upgrade_size = w.take(&p, v, uint),
                        _ => w.problems.push(&p, "unknown key (expected layer or size)"),
                    }
                }
            }
            "leaders" => f.leaders = w.take(&p, v, uint),
            "iterations-limit" => f.iterations_limit = w.take(&p, v, uint),
            "preround-delay" => f.preround_delay = w.take(&p, v, duration),
            "round-duration" => f.round_duration = w.take(&p, v, duration),
            "protocolname" => f.protocol_name = w.take(&p, v, string),
            _ => w.other(known_keys::section_keys("hare3"), HARE3_OWN, k, v, &p),
        }
    }
}

fn walk_logging(f: &mut LoggingFile, w: &mut Walk<'_>, path: &str, v: &Value) {
    for (k, v) in w.section(path, v).into_iter().flatten() {
        let p = format!("{path}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "level" => f.level = w.take(&p, v, string),
            "app" => f.app = w.take(&p, v, string),
            "log-encoder" => f.log_encoder = w.take(&p, v, string),
            _ => w.other(known_keys::section_keys("logging"), LOGGING_OWN, k, v, &p),
        }
    }
}

fn walk_gateway(f: &mut GatewayFile, w: &mut Walk<'_>, path: &str, v: &Value) {
    for (k, v) in w.section(path, v).into_iter().flatten() {
        let p = format!("{path}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "health-interval" => f.health_interval = w.take(&p, v, duration),
            "probe-timeout" => f.probe_timeout = w.take(&p, v, duration),
            "rise" => f.rise = w.take(&p, v, uint),
            "fall" => f.fall = w.take(&p, v, uint),
            "max-layer-lag" => f.max_layer_lag = w.take(&p, v, uint),
            "failback-after" => f.failback_after = w.take(&p, v, duration),
            "per-try-timeout" => f.per_try_timeout = w.take(&p, v, duration),
            "request-timeout" => f.request_timeout = w.take(&p, v, duration),
            "max-response-bytes" => f.max_response_bytes = w.take(&p, v, uint),
            "retry-budget-ratio" => f.retry_budget_ratio = w.take(&p, v, float),
            "retry-budget-min-per-second" => f.retry_budget_min_per_second = w.take(&p, v, uint),
            "retry-budget-ttl" => f.retry_budget_ttl = w.take(&p, v, duration),
            "eject-after" => f.eject_after = w.take(&p, v, uint),
            "eject-base" => f.eject_base = w.take(&p, v, duration),
            "eject-max" => f.eject_max = w.take(&p, v, duration),
            "status-addresses" => f.status_addresses = list(w, &p, v),
            "ca-cert" => f.ca_cert = w.take(&p, v, string),
            _ => w.other(&[], GATEWAY_OWN, k, v, &p),
        }
    }
}

fn walk_metrics(f: &mut MetricsFile, w: &mut Walk<'_>, path: &str, v: &Value) {
    for (k, v) in w.section(path, v).into_iter().flatten() {
        let p = format!("{path}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "metrics" => f.metrics = w.take(&p, v, boolean),
            "metrics-port" => f.metrics_port = w.take(&p, v, uint),
            "metrics-listener" => f.metrics_listener = w.take(&p, v, string),
            _ => w.other(&[], METRICS_OWN, k, v, &p),
        }
    }
}

/// smesher's own keys (unknown to go-spacemesh), offered in "did you mean" hints next to go-spacemesh's.
const ROOT_OWN: &[&str] = &["gateway", "metrics"];
const MAIN_OWN: &[&str] = &[
    "proxy-api-v2-address",
    "proxy-api-v2-grpc-address",
    "publish-to-all",
];
const HARE3_OWN: &[&str] = &["committeeupgrade"];
const LOGGING_OWN: &[&str] = &["level"];
const GATEWAY_OWN: &[&str] = &[
    "health-interval",
    "probe-timeout",
    "rise",
    "fall",
    "max-layer-lag",
    "failback-after",
    "per-try-timeout",
    "request-timeout",
    "max-response-bytes",
    "retry-budget-ratio",
    "retry-budget-min-per-second",
    "retry-budget-ttl",
    "eject-after",
    "eject-base",
    "eject-max",
    "status-addresses",
    "ca-cert",
];
const METRICS_OWN: &[&str] = &["metrics", "metrics-port", "metrics-listener"];

/// `main.poet-servers`: a list of `{"address": URL, "pubkey": base64}`.
fn poet_servers(w: &mut Walk<'_>, path: &str, v: &Value) -> Option<Vec<PoetServerFile>> {
    let items = match v {
        Value::Null => return None,
        Value::Array(items) => items,
        other => {
            w.problems.push(
                path,
                format!(
                    "expected a list of {{\"address\", \"pubkey\"}}, found {}",
                    kind(other)
                ),
            );
            return None;
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let Some(obj) = w.section(&ip, item) else {
            continue;
        };
        let mut server = PoetServerFile {
            path: ip.clone(),
            address: None,
            pubkey: None,
        };
        for (k, v) in obj {
            let p = format!("{ip}.{k}");
            match k.to_ascii_lowercase().as_str() {
                "address" => server.address = w.take(&p, v, string),
                "pubkey" => server.pubkey = w.take(&p, v, string),
                _ => w
                    .problems
                    .push(&p, "unknown key (expected address or pubkey)"),
            }
        }
        out.push(server);
    }
    Some(out)
}

/// A list of strings given as a JSON list, one string, or one comma-separated string.
fn list(w: &mut Walk<'_>, path: &str, v: &Value) -> Option<List> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(split_list(s, path)),
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match item {
                    Value::String(s) => out.push(Setting::new(s.trim().to_string(), p)),
                    other => w
                        .problems
                        .push(p, format!("expected a string, found {}", kind(other))),
                }
            }
            Some(out)
        }
        other => {
            w.problems.push(
                path,
                format!(
                    "expected a string or a list of strings, found {}",
                    kind(other)
                ),
            );
            None
        }
    }
}

/// Splits `a, b,c` into items named `path[0]`, `path[1]`, …; empty items are dropped.
pub(crate) fn split_list(s: &str, path: &str) -> List {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, s)| Setting::new(s.to_string(), format!("{path}[{i}]")))
        .collect()
}

/// What a JSON value is, for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(format!("expected a string, found {}", kind(other))),
    }
}

fn boolean(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!("expected true or false, found {}", kind(other))),
    }
}

/// A non-negative whole number; the range of the target type is checked in `validate`.
fn uint(v: &Value) -> Result<u64, String> {
    let Value::Number(n) = v else {
        return Err(format!("expected a whole number, found {}", kind(v)));
    };
    if let Some(u) = n.as_u64() {
        Ok(u)
    } else if n.as_i64().is_some() {
        Err(format!("must not be negative, found {n}"))
    } else {
        match n.as_f64() {
            Some(f) if f < 0.0 => Err(format!("must not be negative, found {n}")),
            _ => Err(format!("expected a whole number, found {n}")),
        }
    }
}

fn float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| format!("{n} is not a representable number")),
        other => Err(format!("expected a number, found {}", kind(other))),
    }
}

/// A duration: a string like "5m", "1h30m" or "1.5s", or (as go-spacemesh's decoder allows) whole nanoseconds.
fn duration(v: &Value) -> Result<Duration, String> {
    match v {
        Value::String(s) => parse_duration(s),
        Value::Number(n) => match n.as_u64() {
            Some(ns) => Ok(Duration::from_nanos(ns)),
            None => Err(format!(
                "a duration must be a non-negative string like \"5m\" (or whole nanoseconds), found {n}"
            )),
        },
        other => Err(format!(
            "expected a duration string like \"5m\", found {}",
            kind(other)
        )),
    }
}

/// Parses humantime strings ("2m 30s", "5min") and Go's `time.Duration` strings ("1h0m0s", "1.5h", "300ms"),
/// since go-spacemesh configs are written in the latter.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!("\"{s}\" is negative; a duration must not be"));
    }
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if let Ok(d) = humantime::parse_duration(t) {
        return Ok(d);
    }
    parse_go_duration(t.strip_prefix('+').unwrap_or(t)).ok_or_else(|| {
        format!("\"{s}\" is not a duration (expected e.g. \"10s\", \"5m\", \"1h30m\")")
    })
}

/// Go's `time.ParseDuration` grammar: one or more `<decimal><unit>` with units ns, us, µs, ms, s, m, h.
fn parse_go_duration(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let nanos_per = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * nanos_per;
        rest = tail;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(total.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_humantime_and_go_forms() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h0m0s"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("2m 30s"), Ok(Duration::from_secs(150)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn numbers_are_checked_for_sign_and_wholeness() {
        assert_eq!(uint(&serde_json::json!(7)), Ok(7));
        assert!(uint(&serde_json::json!(-1))
            .unwrap_err()
            .contains("negative"));
        assert!(uint(&serde_json::json!(1.5)).unwrap_err().contains("whole"));
        assert!(uint(&serde_json::json!("7"))
            .unwrap_err()
            .contains("a string"));
    }

    #[test]
    fn lists_split_on_commas_and_name_each_item() {
        let items = split_list("http://a, http://b,,", "main.x");
        assert_eq!(
            items,
            vec![
                Setting::new("http://a".to_string(), "main.x[0]"),
                Setting::new("http://b".to_string(), "main.x[1]"),
            ]
        );
    }

    #[test]
    fn typo_gets_a_hint() {
        assert_eq!(
            suggestion(known_keys::section_keys("main"), MAIN_OWN, "layer-durtion"),
            Some("layer-duration")
        );
        assert_eq!(
            suggestion(known_keys::section_keys("main"), MAIN_OWN, "zzzzzzzz"),
            None
        );
    }
}

//! `validate()`: the file's settings, over a preset's defaults, checked into the runtime [`Config`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use url::Url;

use super::file::{FileConfig, List, Setting};
use super::{
    presets, CommitteeUpgrade, Config, PoetServer, Problems, RandomxMode, TlsSection,
    DEFAULT_METRICS_PORT,
};

/// Checks every setting, reporting each problem with its path; the returned config is only meaningful when no
/// problem was recorded.
pub(crate) fn validate(f: FileConfig, problems: &mut Problems) -> Config {
    // go-spacemesh writes no preset as "", so an empty name means none too.
    let preset = f.preset.as_ref().filter(|s| !s.value.trim().is_empty());
    let mut c = match preset {
        None => Config::mainnet(),
        Some(s) => match presets::by_name(s.value.trim()) {
            Some(c) => c,
            None => {
                problems.push(
                    &s.path,
                    format!(
                        "unknown preset \"{}\" (known: {}, {})",
                        s.value,
                        presets::MAINNET,
                        presets::DEVNET
                    ),
                );
                Config::mainnet()
            }
        },
    };
    c.preset = preset.map(|s| s.value.trim().to_ascii_lowercase());
    let mut v = Check { problems };

    main(&f, &mut c, &mut v);
    genesis(&f, &mut c, &mut v);
    api(&f, &mut c, &mut v);
    metrics(&f, &mut c, &mut v);
    poet(&f, &mut c, &mut v);
    post(&f, &mut c, &mut v);
    smeshing(&f, &mut c, &mut v);
    hare3(&f, &mut c, &mut v);
    logging(&f, &mut c, &mut v);
    gateway(&f, &mut c, &mut v);
    c
}

/// Where problems go while settings are checked one by one.
struct Check<'a> {
    problems: &'a mut Problems,
}

impl Check<'_> {
    /// Converts a given setting with `convert` into `target`; a failure is recorded under the setting's path.
    fn set<T, U>(
        &mut self,
        s: &Option<Setting<T>>,
        target: &mut U,
        convert: impl FnOnce(&T) -> Result<U, String>,
    ) {
        if let Some(s) = s {
            match convert(&s.value) {
                Ok(u) => *target = u,
                Err(message) => self.problems.push(&s.path, message),
            }
        }
    }

    /// Converts each item of a given list, recording each bad item.
    fn list<U>(
        &mut self,
        l: &Option<List>,
        target: &mut Vec<U>,
        convert: impl Fn(&str) -> Result<U, String>,
    ) {
        if let Some(items) = l {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match convert(&item.value) {
                    Ok(u) => out.push(u),
                    Err(message) => self.problems.push(&item.path, message),
                }
            }
            *target = out;
        }
    }

    fn push(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(path, message);
    }
}

/// The unsigned integer types settings are stored in, with their largest value for error messages.
trait Unsigned: TryFrom<u64> {
    const MAX: u64;
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Unsigned for $t {
            const MAX: u64 = <$t>::MAX as u64;
        }
    )*};
}
unsigned!(u8, u16, u32, u64, usize);

fn fits<T: Unsigned>(n: &u64) -> Result<T, String> {
    T::try_from(*n).map_err(|_| format!("{n} is too large (at most {})", T::MAX))
}

fn positive<T: Unsigned>(n: &u64) -> Result<T, String> {
    if *n == 0 {
        return Err("must be at least 1".into());
    }
    fits(n)
}

fn any_duration(d: &Duration) -> Result<Duration, String> {
    Ok(*d)
}

fn positive_duration(d: &Duration) -> Result<Duration, String> {
    if d.is_zero() {
        Err("must be longer than zero".into())
    } else {
        Ok(*d)
    }
}

fn boolean(b: &bool) -> Result<bool, String> {
    Ok(*b)
}

/// An absolute http(s) URL with a host.
pub(crate) fn http_url(s: &str) -> Result<Url, String> {
    match Url::parse(s) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => Ok(u),
        _ => Err(format!("\"{}\" is not an http(s) URL", hide_userinfo(s))),
    }
}

/// Masks `user:password@` in a URL-like string, so an error message never carries credentials.
pub(crate) fn hide_userinfo(s: &str) -> String {
    let Some(start) = s.find("://").map(|i| i + 3) else {
        return s.to_string();
    };
    let authority_end = s[start..]
        .find(['/', '?', '#'])
        .map_or(s.len(), |i| start + i);
    match s[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &s[..start], &s[start + at..]),
        None => s.to_string(),
    }
}

/// A listen address: "ip:port", "[ipv6]:port", ":port" (all interfaces) or "localhost:port"; "" = off.
pub(crate) fn listen_addr(s: &str) -> Result<Option<SocketAddr>, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(Some(a));
    }
    let bad =
        || format!("\"{s}\" is not a listen address (expected host:port, e.g. \"127.0.0.1:9093\")");
    let (host, port) = t.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let ip = match host {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        h if h.eq_ignore_ascii_case("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => return Err(bad()),
    };
    Ok(Some(SocketAddr::new(ip, port)))
}

/// `~` or `~/x` relative to `$HOME`; other paths as given.
pub(crate) fn expand_home(s: &str) -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match (s.strip_prefix('~'), home) {
        (Some(""), Some(h)) => h,
        (Some(rest), Some(h)) if rest.starts_with('/') => h.join(rest.trim_start_matches('/')),
        (Some(rest), None) if rest.is_empty() || rest.starts_with('/') => {
            PathBuf::from(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(s),
    }
}

/// A base64 ed25519 public key.
pub(crate) fn decode_pubkey(s: &str) -> Result<[u8; 32], String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| format!("\"{s}\" is not base64: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "\"{s}\" decodes to {} bytes, a public key has 32",
            bytes.len()
        )
    })
}

/// RFC 3339 time, with `Z` or a `±hh:mm` offset.
pub(crate) fn rfc3339(s: &str) -> Result<SystemTime, String> {
    let bad = || format!("\"{s}\" is not an RFC 3339 time (e.g. \"2023-07-14T08:00:00Z\")");
    let t = s.trim();
    // humantime reads only UTC ("…Z"), so an offset is split off and applied by hand.
    let (utc, offset_secs) = if t.ends_with('Z') || t.ends_with('z') {
        (format!("{}Z", &t[..t.len() - 1]), 0i64)
    } else if t.len() > 6 && t.is_char_boundary(t.len() - 6) {
        let (head, off) = t.split_at(t.len() - 6);
        let b = off.as_bytes();
        if !(b[0] == b'+' || b[0] == b'-') || b[3] != b':' {
            return Err(bad());
        }
        let hh: i64 = off[1..3].parse().map_err(|_| bad())?;
        let mm: i64 = off[4..6].parse().map_err(|_| bad())?;
        if hh > 23 || mm > 59 {
            return Err(bad());
        }
        let sign = if b[0] == b'-' { -1 } else { 1 };
        (format!("{head}Z"), sign * (hh * 3600 + mm * 60))
    } else {
        return Err(bad());
    };
    let local = humantime::parse_rfc3339(&utc.to_ascii_uppercase()).map_err(|_| bad())?;
    // Local time minus the offset is UTC.
    let shifted = if offset_secs >= 0 {
        local.checked_sub(Duration::from_secs(offset_secs as u64))
    } else {
        local.checked_add(Duration::from_secs(offset_secs.unsigned_abs()))
    };
    shifted.ok_or_else(bad)
}

fn main(f: &FileConfig, c: &mut Config, v: &mut Check<'_>) {
    let m = &f.main;
    v.set(&m.data_folder, &mut c.data_folder, |s| {
        if s.trim().is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(expand_home(s.trim()))
        }
    });
    v.list(&m.node_service_address, &mut c.node_service, http_url);
    v.list(&m.proxy_api_v2_address, &mut c.proxy_api_v2, http_url);
    no_repeats(&m.node_service_address, v);
    no_repeats(&m.proxy_api_v2_address, v);
    v.list(
        &m.proxy_api_v2_grpc_address,
        &mut c.proxy_api_v2_grpc,
        http_url,
    );
    no_repeats(&m.proxy_api_v2_grpc_address, v);
    if !c.proxy_api_v2_grpc.is_empty() && c.proxy_api_v2_grpc.len() != c.proxy_api_v2.len() {
        v.push(
            "main.proxy-api-v2-grpc-address",
            format!(
                "{} gRPC addresses for {} proxy-api-v2-address nodes: give one per node, in the same order",
                c.proxy_api_v2_grpc.len(),
                c.proxy_api_v2.len()
            ),
        );
    }
    v.set(&m.layer_duration, &mut c.layer_duration, positive_duration);
    v.set(&m.layers_per_epoch, &mut c.layers_per_epoch, positive);
    v.set(&m.layer_average_size, &mut c.layer_average_size, positive);
    v.set(&m.tick_size, &mut c.tick_size, positive);
    v.set(&m.publish_to_all, &mut c.publish_to_all, boolean);
    v.set(
        &m.regossip_atx_interval,
        &mut c.regossip_atx_interval,
        any_duration,
    );
    v.set(&m.network_hrp, &mut c.network_hrp, |s| {
        let ok = !s.is_empty()
            && s.len() <= 83
            && s.bytes()
                .all(|b| (33..=126).contains(&b) && !b.is_ascii_uppercase());
        if ok {
            Ok(s.clone())
        } else {
            Err(format!(
                "\"{s}\" is not a bech32 prefix (1–83 lowercase printable characters)"
            ))
        }
    });
    if let Some(servers) = &m.poet_servers {
        let mut out = Vec::with_capacity(servers.len());
        for s in servers {
            let address = match &s.address {
                None => {
                    v.push(&format!("{}.address", s.path), "missing");
                    None
                }
                Some(a) => match http_url(&a.value) {
                    Ok(u) => Some(u),
                    Err(e) => {
                        v.push(&a.path, e);
                        None
                    }
                },
            };
            let pubkey = match &s.pubkey {
                Some(p) if !p.value.is_empty() => match decode_pubkey(&p.value) {
                    Ok(k) => Some(k),
                    Err(e) => {
                        v.push(&p.path, e);
                        None
                    }
                },
                _ => None,
            };
            if let Some(address) = address {
                out.push(PoetServer { address, pubkey });
            }
        }
        c.poet_servers = out;
    }
}

/// A URL listed twice would count one node twice in health and failover decisions.
fn no_repeats(list: &Option<List>, v: &mut Check<'_>) {
    let mut seen: Vec<(Url, &str)> = Vec::new();
    for item in list.iter().flatten() {
        let Ok(url) = http_url(&item.value) else {
            continue;
        };
        match seen.iter().find(|(u, _)| *u == url) {
            Some((_, first)) => v.push(
                &item.path,
                format!(
                    "\"{}\" is listed twice (also {first})",
                    hide_userinfo(url.as_str())
                ),
            ),
            None => seen.push((url, &item.path)),
        }
    }
}

fn genesis(f: &FileConfig, c: &mut Config, v: &mut Check<'_>) {
    v.set(&f.genesis.genesis_time, &mut c.genesis_time, |s| rfc3339(s));
    v.set(
        &f.genesis.genesis_extra_data,
        &mut c.genesis_extra_data,
        |s| {
            // The genesis ID hashes it as a string; go-spacemesh bounds it to 1–255 characters.
            match s.chars().count() {
                1..=255 => Ok(s.clone()),
                n => Err(format!("must be 1 to 255 characters, found {n}")),
            }
        },
    );
}

fn api(f: &FileConfig, c: &mut Config, v: &mut Check<'_>) {
    let a = &f.api;
    let listener = |s: &String| listen_addr(s);
    v.set(
        &a.grpc_public_listener,
        &mut c.api.grpc_public_listener,
        listener,
    );
    v.set(
        &a.grpc_private_listener,
        &mut c.api.grpc_private_listener,
        listener,
    );
    v.set(
        &a.grpc_post_listener,
        &mut c.api.grpc_post_listener,
        listener,
    );
    v.set(
        &a.grpc_json_listener,
        &mut c.api.grpc_json_listener,
        listener,
    );
    v.list(
        &a.grpc_cors_allowed_origins,
        &mut c.api.grpc_cors_allowed_origins,
        |s| Ok(s.to_string()),
    );
    v.set(
        &a.grpc_send_msg_size,
        &mut c.api.grpc_send_msg_size,
        positive,
    );
    v.set(
        &a.grpc_recv_msg_size,
        &mut c.api.grpc_recv_msg_size,
        positive,
    );

    let mut tls_listener = None;
    v.set(&a.grpc_tls_listener, &mut tls_listener, listener);
    if let Some(listener) = tls_listener {
        let tls_path = a
            .grpc_tls_listener
            .as_ref()
            .map(|s| s.path.as_str())
            .unwrap_or("api.grpc-tls-listener");
        let mut file = |s: &Option<Setting<String>>, key: &str| match s {
            Some(s) if !s.value.trim().is_empty() => Some(PathBuf::from(s.value.trim())),
            _ => {
                v.push(
                    &format!("api.{key}"),
                    format!("required when {tls_path} is set"),
                );
                None
            }
        };
        let ca_cert = file(&a.grpc_tls_ca_cert, "grpc-tls-ca-cert");
        let cert = file(&a.grpc_tls_cert, "grpc-tls-cert");
        let key = file(&a.grpc_tls_key, "grpc-tls-key");
        // go-spacemesh serves the post services on the TLS listener unless told otherwise.
        let mut services = vec!["post".to_string(), "postInfo".to_string()];
        v.list(&a.grpc_tls_services, &mut services, |s| Ok(s.to_string()));
        if let (Some(ca_cert), Some(cert), Some(key)) = (ca_cert, cert, key) {
            c.api.grpc_tls = Some(TlsSection {
                listener,
                ca_cert,
                cert,
                key,
                services,
            });
        }
    }
}

fn metrics(f: &FileConfig, c: &mut Config, v: &mut Check<'_>) {
    // smesher's `metrics` section wins over go-spacemesh's `main.metrics*` keys.
    let enabled = f.metrics.metrics.as_ref().or(f.main.metrics.as_ref());
    let port = f
        .metrics
        .metrics_port
        .as_ref()
        .or(f.main.metrics_port.as_ref());
    let mut port_value = DEFAULT_METRICS_PORT;
    v.set(&port.cloned(), &mut port_value, fits);
    let mut on = false;
    v.set(&enabled.cloned(), &mut on, boolean);
    c.metrics_listener = if on {
        Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port_value,
        ))
    } else {
        None
    };
    v.set(&f.metrics.metrics_listener, &mut c.metrics_listener, |s| {
        listen_addr(s)
    });
}

fn poet(f: &FileConfig, c: &mut Config, v: &mut Check<'_>) {
    let (p, t) = (&f.poet, &mut c.poet);
    v.set(&p.phase_shift, &mut t.phase_shift, any_duration);
    v.set(&p.cycle_gap, &mut t.cycle_gap, any_duration);
    v.set(&p.grace_period, &mut t.grace_period, any_duration);
    v.set(
        &p.poet_request_timeout,
        &mut t.poet_request_timeout,
        positive_duration,
    );
    v.set(&p.retry_delay, &mut t.retry_delay, any_duration);
    v.set(&p.retry_max, &mut t.retry_max, fits);
    v.set(
        &p.positioning_atx_selection_timeout,
        &mut t.positioning_atx_selection_timeout,
        any_duration,
    );
    v.set(&p.info_cache_ttl, &mut t.info_cache_ttl, any_duration);
    v.set(
        &p.pow_params_cache_ttl,
        &mut t.pow_params_cache_ttl,
        any_duration,
    );
    v.set(&p.poet_proofs_cache, &mut t.poet_proofs_cache, fits);
}

fn post(f: &FileConfig, c: &mut Config, v: &mut Check<'_>) {
    let (p, t) = (&f.post, &mut c.post);
    v.set(&p.min_numunits, &mut t.post_min_numunits, positive);
    v.set(&p.max_numunits, &mut t.post_max_numunits, positive);
    v.set(&p.labels_per_unit, &mut t.post_labels_per_unit, positive);
    v.set(&p.k1, &mut t.post_k1, positive);
    v.set(&p.k2, &mut t.post_k2, positive);
    v.set(&p.k3, &mut t.post_k3, positive);
    v.set(&p.pow_difficulty, &mut t.post_pow_difficulty, |s| {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out)
            .map(|()| out)
            .map_err(|_| format!("\"{s}\" is not 64 hex digits"))
    });
    if t.post_min_numunits > t.post_max_numunits {
        let path = p
            .min_numunits
            .as_ref()
            .or(p.max_numunits.as_ref())
            .map_or("post.post-min-numunits", |s| &s.path);
        v.push(
            path,
            format!(
                "post-min-numunits ({}) is above post-max-numunits ({})",
                t.post_min_numunits, t.post_max_numunits
            ),
        );
    }
    if t.post_k3 > t.post_k2 {
        let path =
            p.k3.as_ref()
                .or(p.k2.as_ref())
                .map_or("post.post-k3", |s| &s.path);
        v.push(
            path,
            format!("post-k3 ({}) is above post-k2 ({})", t.post_k3, t.post_k2),
        );
    }
}

fn smeshing(f: &FileConfig, c: &mut Config, v: &mut Check<'_>) {
    let (s, t) = (&f.smeshing, &mut c.smeshing);
    v.set(&s.start, &mut t.smeshing_start, boolean);
    let hrp = c.network_hrp.clone();
    v.set(&s.coinbase, &mut t.smeshing_coinbase, |a| {
        if a.trim().is_empty() {
            Ok(None)
        } else {
            check_address(a.trim(), &hrp).map(|()| Some(a.trim().to_string()))
        }
    });
    // A coinbase that was given but is bad has been reported already; only a missing one is reported here.
    let coinbase_given = s
        .coinbase
        .as_ref()
        .is_some_and(|a| !a.value.trim().is_empty());
    if t.smeshing_start && !coinbase_given {
        let start = s
            .start
            .as_ref()
            .map_or("smeshing.smeshing-start", |s| s.path.as_str());
        v.push(
            "smeshing.smeshing-coinbase",
            format!("required when {start} is true"),
        );
    }
    let o = &mut t.opts;
    v.set(&s.datadir, &mut o.datadir, |d| {
        Ok((!d.trim().is_empty()).then(|| expand_home(d.trim())))
    });
    v.set(&s.numunits, &mut o.numunits, positive);
    v.set(&s.maxfilesize, &mut o.maxfilesize, positive);
    v.set(&s.provider, &mut o.provider, |n| fits(n).map(Some));
    v.set(&s.throttle, &mut o.throttle, boolean);
    v.set(&s.compute_batch_size, &mut o.compute_batch_size, positive);
    v.set(&s.scrypt_n, &mut o.scrypt.n, |n| {
        if *n >= 2 && n.is_power_of_two() {
            Ok(*n)
        } else {
            Err(format!("{n} is not a power of two above 1"))
        }
    });
    v.set(&s.scrypt_r, &mut o.scrypt.r, positive);
    v.set(&s.scrypt_p, &mut o.scrypt.p, positive);
    let p = &mut t.proving_opts;
    v.set(&s.proving_threads, &mut p.threads, fits);
    v.set(&s.proving_nonces, &mut p.nonces, |n| {
        // The prover works on groups of 16 nonces.
        if *n == 0 || n % 16 != 0 {
            Err(format!("{n} is not a positive multiple of 16"))
        } else {
            fits(n)
        }
    });
    v.set(&s.proving_randomx_mode, &mut p.randomx_mode, |m| {
        match m.to_ascii_lowercase().as_str() {
            "fast" => Ok(RandomxMode::Fast),
            "light" => Ok(RandomxMode::Light),
            _ => Err(format!("\"{m}\" is not a RandomX mode (fast or light)")),
        }
    });
}

fn hare3(f: &FileConfig, c: &mut Config, v: &mut Check<'_>) {
    let (h, t) = (&f.hare3, &mut c.hare3);
    v.set(&h.enable, &mut t.enable, boolean);
    v.set(&h.enable_layer, &mut t.enable_layer, fits);
    v.set(&h.disable_layer, &mut t.disable_layer, fits);
    // go-spacemesh holds committee and leaders in 16 bits and the iteration limit in 8.
    v.set(&h.committee, &mut t.committee, |n| {
        positive::<u16>(n).map(u32::from)
    });
    v.set(&h.leaders, &mut t.leaders, |n| {
        positive::<u16>(n).map(u32::from)
    });
    v.set(&h.iterations_limit, &mut t.iterations_limit, |n| {
        positive::<u8>(n).map(u32::from)
    });
    v.set(&h.preround_delay, &mut t.preround_delay, any_duration);
    v.set(&h.round_duration, &mut t.round_duration, positive_duration);
    v.set(&h.protocol_name, &mut t.protocol_name, |s| {
        if s.is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(s.clone())
        }
    });
    if let Some(given) = &h.committee_upgrade_given {
        if !given.value {
            t.committee_upgrade = None;
        } else {
            let mut layer = None;
            let mut size = None;
            v.set(&h.committee_upgrade_layer, &mut layer, |n| {
                fits::<u32>(n).map(Some)
            });
            v.set(&h.committee_upgrade_size, &mut size, |n| {
                positive::<u16>(n).map(|s| Some(u32::from(s)))
            });
            match (
                layer,
                size,
                &h.committee_upgrade_layer,
                &h.committee_upgrade_size,
            ) {
                (Some(layer), Some(size), _, _) => {
                    t.committee_upgrade = Some(CommitteeUpgrade { layer, size })
                }
                (_, _, None, _) => v.push(&format!("{}.layer", given.path), "missing"),
                (_, _, _, None) => v.push(&format!("{}.size", given.path), "missing"),
                // A bad layer or size is already reported.
                _ => {}
            }
        }
    }
    v.set(
        &f.hare_eligibility_confidence_param,
        &mut t.eligibility_confidence_param,
        fits,
    );
    v.set(
        &f.certificate_committee_size,
        &mut c.certificate_committee_size,
        positive,
    );
}

fn logging(f: &FileConfig, c: &mut Config, v: &mut Check<'_>) {
    let level = f.logging.level.as_ref().or(f.logging.app.as_ref()).cloned();
    v.set(&level, &mut c.logging.level, |l| {
        match l.trim().to_ascii_lowercase().as_str() {
            lvl @ ("trace" | "debug" | "info" | "warn" | "error") => Ok(lvl.to_string()),
            "warning" => Ok("warn".into()),
            // zap's levels above error all mean "errors only" here.
            "dpanic" | "panic" | "fatal" => Ok("error".into()),
            _ => Err(format!(
                "\"{l}\" is not a log level (trace, debug, info, warn, error)"
            )),
        }
    });
    v.set(&f.logging.log_encoder, &mut c.logging.json, |e| {
        match e.to_ascii_lowercase().as_str() {
            "json" => Ok(true),
            "console" => Ok(false),
            _ => Err(format!("\"{e}\" is not a log encoder (console or json)")),
        }
    });
}

fn gateway(f: &FileConfig, c: &mut Config, v: &mut Check<'_>) {
    let (g, t) = (&f.gateway, &mut c.gateway);
    v.set(
        &g.health_interval,
        &mut t.health_interval,
        positive_duration,
    );
    v.set(&g.probe_timeout, &mut t.probe_timeout, positive_duration);
    v.set(&g.rise, &mut t.rise, positive);
    v.set(&g.fall, &mut t.fall, positive);
    v.set(&g.max_layer_lag, &mut t.max_layer_lag, fits);
    v.set(&g.failback_after, &mut t.failback_after, any_duration);
    v.set(
        &g.per_try_timeout,
        &mut t.per_try_timeout,
        positive_duration,
    );
    v.set(
        &g.request_timeout,
        &mut t.request_timeout,
        positive_duration,
    );
    v.set(&g.max_response_bytes, &mut t.max_response_bytes, positive);
    v.set(&g.retry_budget_ratio, &mut t.retry_budget_ratio, |r| {
        // The range tower's retry budget accepts.
        if r.is_finite() && (0.0..=1000.0).contains(r) {
            Ok(*r)
        } else {
            Err(format!("{r} is outside 0 to 1000"))
        }
    });
    v.set(
        &g.retry_budget_min_per_second,
        &mut t.retry_budget_min_per_second,
        fits,
    );
    v.set(&g.retry_budget_ttl, &mut t.retry_budget_ttl, |d| {
        // tower's retry budget only works with a window of 1 to 60 seconds.
        if (Duration::from_secs(1)..=Duration::from_secs(60)).contains(d) {
            Ok(*d)
        } else {
            Err(format!(
                "{} is outside 1s to 60s",
                humantime::format_duration(*d)
            ))
        }
    });
    v.set(&g.eject_after, &mut t.eject_after, positive);
    v.set(&g.eject_base, &mut t.eject_base, positive_duration);
    v.set(&g.eject_max, &mut t.eject_max, positive_duration);
    v.list(&g.status_addresses, &mut t.status_addresses, http_url);
    v.set(&g.ca_cert, &mut t.ca_cert, |path| {
        if path.is_empty() {
            Ok(None)
        } else {
            Ok(Some(PathBuf::from(path)))
        }
    });

    if t.per_try_timeout > t.request_timeout {
        let path = g
            .per_try_timeout
            .as_ref()
            .or(g.request_timeout.as_ref())
            .map_or("gateway.per-try-timeout", |s| &s.path);
        v.push(
            path,
            "per-try-timeout is longer than request-timeout, so no retry could ever happen"
                .to_string(),
        );
    }
    if t.eject_max < t.eject_base {
        let path = g
            .eject_max
            .as_ref()
            .or(g.eject_base.as_ref())
            .map_or("gateway.eject-max", |s| &s.path);
        v.push(path, "eject-max is shorter than eject-base".to_string());
    }
    if t.probe_timeout > t.health_interval {
        let path = g
            .probe_timeout
            .as_ref()
            .or(g.health_interval.as_ref())
            .map_or("gateway.probe-timeout", |s| &s.path);
        v.push(
            path,
            "probe-timeout is longer than health-interval, so probes would overlap".to_string(),
        );
    }
    if !t.status_addresses.is_empty() && t.status_addresses.len() != c.node_service.len() {
        let path = g
            .status_addresses
            .as_ref()
            .and_then(|l| l.first())
            .map_or("gateway.status-addresses".to_string(), |s| {
                s.path.trim_end_matches("[0]").to_string()
            });
        v.push(
            &path,
            format!(
                "has {} entries but node-service-address has {}; give one per node (or none)",
                t.status_addresses.len(),
                c.node_service.len()
            ),
        );
    }
}

/// Checks a bech32 account address: prefix `hrp`, valid checksum, 24 bytes whose first 4 (reserved) are zero.
pub(crate) fn check_address(addr: &str, hrp: &str) -> Result<(), String> {
    let data =
        bech32_decode(addr, hrp).map_err(|e| format!("\"{addr}\" is not a valid address: {e}"))?;
    if data.len() != 24 {
        return Err(format!(
            "\"{addr}\" holds {} bytes, an address has 24",
            data.len()
        ));
    }
    if data[..4] != [0, 0, 0, 0] {
        return Err(format!(
            "\"{addr}\" is not an account address (reserved bytes are not zero)"
        ));
    }
    Ok(())
}

/// The 24 bytes of a checked bech32 account address (the ATX coinbase).
pub fn decode_address(addr: &str, hrp: &str) -> Result<[u8; 24], String> {
    check_address(addr, hrp)?;
    let data =
        bech32_decode(addr, hrp).map_err(|e| format!("\"{addr}\" is not a valid address: {e}"))?;
    data.try_into()
        .map_err(|_| format!("\"{addr}\" is not 24 bytes"))
}

const BECH32_CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn bech32_polymod(values: impl Iterator<Item = u8>) -> u32 {
    const GEN: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x1ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// Decodes original bech32 (BIP-173, the variant go-spacemesh uses) and returns the 8-bit payload.
fn bech32_decode(s: &str, want_hrp: &str) -> Result<Vec<u8>, String> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) && s.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err("mixed case".into());
    }
    let s = s.to_ascii_lowercase();
    let (hrp, data) = s.rsplit_once('1').ok_or("no separator '1'")?;
    if hrp != want_hrp {
        return Err(format!(
            "prefix is \"{hrp}\", this network's is \"{want_hrp}\""
        ));
    }
    if data.len() < 6 {
        return Err("too short".into());
    }
    let values: Vec<u8> = data
        .bytes()
        .map(|b| BECH32_CHARSET.iter().position(|&c| c == b).map(|p| p as u8))
        .collect::<Option<_>>()
        .ok_or("character outside the bech32 alphabet")?;
    let expanded = hrp
        .bytes()
        .map(|b| b >> 5)
        .chain(std::iter::once(0))
        .chain(hrp.bytes().map(|b| b & 31))
        .chain(values.iter().copied());
    if bech32_polymod(expanded) != 1 {
        return Err("checksum mismatch".into());
    }
    let payload = &values[..values.len() - 6];
    let mut out = Vec::with_capacity(payload.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in payload {
        acc = (acc << 5) | u32::from(*v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 5 || acc != 0 {
        return Err("bad padding".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A genesis account of mainnet (go-spacemesh `config/mainnet_accounts.go`).
    const MAINNET_ACCOUNT: &str = "sm1qqqqqqylyl2l0zsmmax0wnutt4dwnrkcwef5eeq3xladz";

    #[test]
    fn a_real_mainnet_address_passes_and_damaged_ones_do_not() {
        assert_eq!(check_address(MAINNET_ACCOUNT, "sm"), Ok(()));
        assert!(check_address(MAINNET_ACCOUNT, "stest")
            .unwrap_err()
            .contains("prefix"));
        let mut flipped = MAINNET_ACCOUNT.to_string();
        flipped.replace_range(
            20..21,
            if &MAINNET_ACCOUNT[20..21] == "q" {
                "p"
            } else {
                "q"
            },
        );
        assert!(check_address(&flipped, "sm")
            .unwrap_err()
            .contains("checksum"));
        assert!(check_address("sm1qqqq", "sm").is_err());
        assert!(check_address("smqqqqqq", "sm").is_err());
        assert!(check_address("sm1qqqqqqylyl2l0zsmmax0wnutt4dwnrkcwef5eeq3xladb", "sm").is_err());
    }

    #[test]
    fn rfc3339_with_zone_or_offset() {
        let mainnet = SystemTime::UNIX_EPOCH + Duration::from_secs(1_689_321_600);
        assert_eq!(rfc3339("2023-07-14T08:00:00Z"), Ok(mainnet));
        assert_eq!(rfc3339("2023-07-14T10:00:00+02:00"), Ok(mainnet));
        assert_eq!(rfc3339("2023-07-14T03:30:00-04:30"), Ok(mainnet));
        assert_eq!(
            rfc3339("2023-07-14T08:00:00.5Z"),
            Ok(mainnet + Duration::from_millis(500))
        );
        assert!(rfc3339("2023-07-14 08:00").is_err());
        assert!(rfc3339("yesterday").is_err());
        assert!(rfc3339("2023-13-14T08:00:00Z").is_err());
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            listen_addr("127.0.0.1:0"),
            Ok(Some("127.0.0.1:0".parse().unwrap()))
        );
        assert_eq!(
            listen_addr("[::1]:9093"),
            Ok(Some("[::1]:9093".parse().unwrap()))
        );
        assert_eq!(
            listen_addr(":9092"),
            Ok(Some("0.0.0.0:9092".parse().unwrap()))
        );
        assert_eq!(
            listen_addr("localhost:6060"),
            Ok(Some("127.0.0.1:6060".parse().unwrap()))
        );
        assert_eq!(listen_addr(""), Ok(None));
        assert!(listen_addr("example.com:80").is_err());
        assert!(listen_addr("127.0.0.1").is_err());
        assert!(listen_addr("127.0.0.1:99999").is_err());
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(http_url("https://node-a:9099/").is_ok());
        assert_eq!(
            http_url("ftp://x"),
            Err("\"ftp://x\" is not an http(s) URL".to_string())
        );
        assert!(http_url("node-a:9099").is_err());
        assert!(http_url("/relative").is_err());
    }

    #[test]
    fn credentials_never_reach_error_messages() {
        let e = http_url("ftp://user:secret@host/x").unwrap_err();
        assert_eq!(e, "\"ftp://***@host/x\" is not an http(s) URL");
        assert_eq!(
            hide_userinfo("https://a:b@h:1/p?q=@x"),
            "https://***@h:1/p?q=@x"
        );
        assert_eq!(hide_userinfo("https://h/p@x"), "https://h/p@x");
        assert_eq!(hide_userinfo("no scheme"), "no scheme");
    }

    #[test]
    fn home_is_expanded() {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        if let Some(home) = home {
            assert_eq!(expand_home("~/spacemesh"), home.join("spacemesh"));
        }
        assert_eq!(expand_home("/var/lib/x"), PathBuf::from("/var/lib/x"));
        assert_eq!(expand_home("~other/x"), PathBuf::from("~other/x"));
    }

    #[test]
    fn pubkeys_are_32_bytes_of_base64() {
        assert!(decode_pubkey("cFnqCS5oER7GOX576oPtahlxB/1y95aDibdK7RHQFVg=").is_ok());
        assert!(decode_pubkey("AAAA").unwrap_err().contains("3 bytes"));
        assert!(decode_pubkey("not base64!").is_err());
    }
}

//! Every key go-spacemesh's node config accepts, so a go-spacemesh config loads and what smesher ignores is listed.
//!
//! Source: spacemeshos/go-spacemesh `develop` at cc65f271f (Oct 2024) — `config/config.go`, `config/genesis.go`,
//! `config/logging.go`, `config/mainnet.go`, `config/presets/*.go`, and the `Config` structs' mapstructure tags in
//! `activation/{activation,certifier,post,post_supervisor}.go`, `api/grpcserver/config.go`, `beacon/config.go`,
//! `blocks/certifier.go`, `bootstrap/updater.go`, `checkpoint/recovery.go`, `common/types/poet.go`,
//! `datastore/store.go`, `fetch/fetch.go`, `genvm/vm.go`, `hare3/hare.go`, `hare3/eligibility/oracle.go`,
//! `hare4/hare.go`, `miner/proposal_builder.go`, `p2p/host.go`, `p2p/server/server.go`, `syncer/syncer.go`,
//! `syncer/atxsync/syncer.go`, `syncer/malsync/syncer.go`, `timesync/config/config.go`, `timesync/peersync/sync.go`,
//! `tortoise/algorithm.go`; plus the node-split branches (`smeshing-service`, `proposal-building`,
//! `node-split/node-service`): `main.node-service-address`, `api.node-service-listener`.
//!
//! go-spacemesh decodes the file with viper and mapstructure set to match keys without regard to case, to skip
//! struct fields without a tag (so `hare3.CommitteeUpgrade` or `api.PublicServices` cannot be set from a file) and
//! to refuse unknown keys (`node/node.go`: `WithIgnoreUntagged`, `WithErrorUnused`). This table is therefore the
//! tagged keys only, matched without regard to case.

/// What a known key holds, as far as checking key names goes.
#[derive(Debug)]
pub(crate) enum Shape {
    /// A value whose inside is not checked (scalar or list).
    Leaf,
    /// An object with free-form keys (e.g. `genesis.accounts`): its keys are not checked.
    Map,
    /// An object whose keys are all known.
    Section(&'static [Key]),
    /// A key go-spacemesh knows but refuses; the text says what to do instead.
    Rejected(&'static str),
}

/// One key of go-spacemesh's config and its shape.
#[derive(Debug)]
pub(crate) struct Key {
    pub name: &'static str,
    pub shape: Shape,
}

const fn leaf(name: &'static str) -> Key {
    Key {
        name,
        shape: Shape::Leaf,
    }
}

const fn map(name: &'static str) -> Key {
    Key {
        name,
        shape: Shape::Map,
    }
}

const fn rejected(name: &'static str, why: &'static str) -> Key {
    Key {
        name,
        shape: Shape::Rejected(why),
    }
}

const fn section(name: &'static str, keys: &'static [Key]) -> Key {
    Key {
        name,
        shape: Shape::Section(keys),
    }
}

/// Finds `name` among `keys` the way viper does: ASCII case does not matter.
pub(crate) fn lookup(keys: &'static [Key], name: &str) -> Option<&'static Key> {
    keys.iter().find(|k| k.name.eq_ignore_ascii_case(name))
}

/// The keys of the go-spacemesh section `name` at the top level (empty when go-spacemesh has no such section).
pub(crate) fn section_keys(name: &str) -> &'static [Key] {
    match lookup(ROOT, name) {
        Some(Key {
            shape: Shape::Section(keys),
            ..
        }) => keys,
        _ => &[],
    }
}

/// The top level of a go-spacemesh node config.
pub(crate) static ROOT: &[Key] = &[
    leaf("preset"),
    section("main", MAIN),
    section("genesis", GENESIS),
    section("public-metrics", PUBLIC_METRICS),
    section("tortoise", TORTOISE),
    section("p2p", P2P),
    section("api", API),
    section("hare3", HARE),
    section("hare4", HARE),
    section("hare-eligibility", &[leaf("eligibility-confidence-param")]),
    section("certificate", CERTIFICATE),
    section("beacon", BEACON),
    section("time", TIME),
    // go-spacemesh's `vm` section has no tagged keys left, so only an empty object is valid.
    section("vm", &[]),
    section("certifier", CERTIFIER),
    section("post", POST),
    section("poet", POET),
    section("smeshing", SMESHING),
    section("logging", LOGGING),
    section("fetch", FETCH),
    section("bootstrap", BOOTSTRAP),
    section("syncer", SYNCER),
    section("recovery", RECOVERY),
    section("cache", &[leaf("atx-size"), leaf("malfeasance-size")]),
    section(
        "active-set-preparation",
        &[leaf("window"), leaf("retry-interval"), leaf("tries")],
    ),
];

static MAIN: &[Key] = &[
    leaf("data-folder"),
    leaf("filelock"),
    leaf("standalone"),
    leaf("metrics"),
    leaf("metrics-port"),
    leaf("profiler-name"),
    leaf("profiler-url"),
    leaf("layer-duration"),
    leaf("layer-average-size"),
    leaf("layers-per-epoch"),
    rejected(
        "poet-server",
        "deprecated and refused by go-spacemesh too; use main.poet-servers",
    ),
    leaf("poet-servers"),
    leaf("pprof-server"),
    leaf("pprof-listener"),
    leaf("pprof-mutex-profile"),
    leaf("pprof-block-profile"),
    leaf("txs-per-proposal"),
    leaf("block-gas-limit"),
    leaf("optimistic-filtering-threshold"),
    leaf("tick-size"),
    leaf("db-connections"),
    leaf("db-latency-metering"),
    leaf("db-size-metering-interval"),
    leaf("db-prune-interval"),
    leaf("db-vacuum-state"),
    leaf("db-skip-migrations"),
    leaf("db-query-cache"),
    section(
        "db-query-cache-sizes",
        &[
            leaf("epoch-atxs"),
            leaf("atx-blob"),
            leaf("active-set-blob"),
        ],
    ),
    leaf("db-allow-schema-drift"),
    leaf("prune-activesets-from"),
    leaf("network-hrp"),
    leaf("miner-good-atxs-percent"),
    leaf("regossip-atx-interval"),
    leaf("atx-grade-delay"),
    leaf("post-valid-delay"),
    leaf("no-main-override"),
    map("atx-versions"),
    leaf("node-service-address"),
];

static GENESIS: &[Key] = &[
    leaf("genesis-time"),
    leaf("genesis-extra-data"),
    map("accounts"),
];

static PUBLIC_METRICS: &[Key] = &[
    leaf("metrics-url"),
    leaf("metrics-push-period"),
    leaf("metrics-push-user"),
    leaf("metrics-push-pass"),
    map("metrics-push-header"),
];

static TORTOISE: &[Key] = &[
    leaf("tortoise-hdist"),
    leaf("tortoise-zdist"),
    leaf("tortoise-window-size"),
    leaf("tortoise-max-exceptions"),
    leaf("tortoise-delay-layers"),
    leaf("tortoise-enable-tracer"),
    leaf("tortoise-collect-details"),
];

static P2P: &[Key] = &[
    leaf("gracepeersshutdown"),
    leaf("maxmessagesize"),
    leaf("disable-reuseport"),
    leaf("disable-natport"),
    leaf("disable-connection-manager"),
    leaf("disable-resource-manager"),
    leaf("disable-dht"),
    leaf("disable-pubsub"),
    leaf("flood"),
    leaf("listen"),
    leaf("bootnodes"),
    leaf("direct"),
    leaf("min-peers"),
    leaf("low-peers"),
    leaf("high-peers"),
    leaf("inbound-fraction"),
    leaf("outbound-fraction"),
    leaf("autoscale-peers"),
    leaf("advertise-address"),
    leaf("p2p-accept-queue"),
    leaf("p2p-metrics"),
    leaf("p2p-bootnode"),
    leaf("p2p-reachability"),
    leaf("force-dht-server"),
    leaf("p2p-holepunching"),
    leaf("p2p-private-network"),
    section(
        "relay-server",
        &[
            leaf("enable"),
            leaf("reservations"),
            leaf("ttl"),
            leaf("conn-duration-limit"),
            leaf("conn-data-limit"),
            leaf("max-circuits"),
            leaf("buffer-size"),
            leaf("max-reservations-per-peer"),
            leaf("max-reservations-per-ip"),
            leaf("max-reservations-per-asn"),
        ],
    ),
    leaf("ip4-blocklist"),
    leaf("ip6-blocklist"),
    leaf("gossip-queue-size"),
    leaf("gossip-peer-outbound-queue-size"),
    leaf("gossip-validation-throttle"),
    leaf("gossip-atx-validation-throttle"),
    leaf("gossip-eviction-strategy"),
    leaf("ping-peers"),
    leaf("ping-interval"),
    leaf("relay"),
    leaf("static-relays"),
    leaf("enable-tcp-transport"),
    leaf("enable-quic-transport"),
    leaf("enable-routing-discovery"),
    leaf("routing-discovery-advertise"),
    section(
        "discovery-timings",
        &[
            leaf("advertise-delay"),
            leaf("advertise-interval"),
            leaf("advertise-interval-spread"),
            leaf("advertise-retry-delay"),
            leaf("find-peers-retry-delay"),
            leaf("min-backoff"),
            leaf("max-backoff"),
            leaf("min-conn-backoff"),
            leaf("max-conn-backoff"),
            leaf("dial-timeout"),
        ],
    ),
    section(
        "auto-nat-server",
        &[leaf("global-max"), leaf("peer-max"), leaf("reset-period")],
    ),
];

static API: &[Key] = &[
    leaf("grpc-public-listener"),
    leaf("grpc-private-listener"),
    leaf("grpc-post-listener"),
    leaf("grpc-tls-services"),
    leaf("grpc-tls-listener"),
    leaf("grpc-tls-ca-cert"),
    leaf("grpc-tls-cert"),
    leaf("grpc-tls-key"),
    leaf("grpc-send-msg-size"),
    leaf("grpc-recv-msg-size"),
    leaf("grpc-json-listener"),
    leaf("grpc-cors-allowed-origins"),
    leaf("smesherstreaminterval"),
    leaf("db-connections"),
    leaf("node-service-listener"),
];

/// hare3 and hare4 share their key set.
static HARE: &[Key] = &[
    leaf("enable"),
    leaf("enable-layer"),
    leaf("disable-layer"),
    leaf("committee"),
    leaf("leaders"),
    leaf("iterations-limit"),
    leaf("preround-delay"),
    leaf("round-duration"),
    leaf("log-stats"),
    leaf("protocolname"),
];

static CERTIFICATE: &[Key] = &[leaf("committee-size")];

static BEACON: &[Key] = &[
    leaf("beacon-kappa"),
    leaf("beacon-q"),
    leaf("beacon-rounds-number"),
    leaf("beacon-grace-period-duration"),
    leaf("beacon-proposal-duration"),
    leaf("beacon-first-voting-round-duration"),
    leaf("beacon-voting-round-duration"),
    leaf("beacon-weak-coin-round-duration"),
    leaf("beacon-theta"),
    leaf("beacon-votes-limit"),
    leaf("beacon-sync-weight-units"),
];

static TIME: &[Key] = &[section(
    "peersync",
    &[
        leaf("disable"),
        leaf("round-retry-interval"),
        leaf("round-interval"),
        leaf("round-timeout"),
        leaf("max-clock-offset"),
        leaf("max-offset-errors"),
        leaf("required-responses"),
    ],
)];

static CERTIFIER: &[Key] = &[section(
    "client",
    &[
        leaf("retry-delay"),
        leaf("max-retry-delay"),
        leaf("max-retries"),
    ],
)];

static POST: &[Key] = &[
    leaf("post-min-numunits"),
    leaf("post-max-numunits"),
    leaf("post-labels-per-unit"),
    leaf("post-k1"),
    leaf("post-k2"),
    leaf("post-k3"),
    leaf("post-pow-difficulty"),
];

static POET: &[Key] = &[
    leaf("phase-shift"),
    leaf("cycle-gap"),
    leaf("grace-period"),
    leaf("poet-request-timeout"),
    leaf("retry-delay"),
    leaf("positioning-atx-selection-timeout"),
    leaf("info-cache-ttl"),
    leaf("pow-params-cache-ttl"),
    leaf("retry-max"),
    leaf("poet-proofs-cache"),
];

static SMESHING: &[Key] = &[
    leaf("smeshing-start"),
    leaf("smeshing-coinbase"),
    section(
        "smeshing-opts",
        &[
            leaf("smeshing-opts-datadir"),
            leaf("smeshing-opts-numunits"),
            leaf("smeshing-opts-maxfilesize"),
            leaf("smeshing-opts-provider"),
            leaf("smeshing-opts-throttle"),
            // `ScryptParams` has untagged fields, so go-spacemesh takes only an empty object here.
            section("smeshing-opts-scrypt", &[]),
            leaf("smeshing-opts-compute-batch-size"),
        ],
    ),
    section(
        "smeshing-proving-opts",
        &[
            leaf("smeshing-opts-proving-threads"),
            leaf("smeshing-opts-proving-nonces"),
            leaf("smeshing-opts-proving-randomx-mode"),
        ],
    ),
    section(
        "smeshing-verifying-opts",
        &[
            leaf("smeshing-opts-verifying-disable"),
            leaf("smeshing-opts-verifying-workers"),
            leaf("smeshing-opts-verifying-min-workers"),
            leaf("smeshing-opts-verifying-powflags"),
        ],
    ),
];

static LOGGING: &[Key] = &[
    leaf("log-encoder"),
    leaf("app"),
    leaf("clock"),
    leaf("p2p"),
    leaf("post"),
    leaf("postService"),
    leaf("stateDb"),
    leaf("beacon"),
    leaf("cachedDb"),
    leaf("poetDb"),
    leaf("trtl"),
    leaf("atxHandler"),
    leaf("atxBuilder"),
    leaf("mesh"),
    leaf("sync"),
    leaf("hareOracle"),
    leaf("hare"),
    leaf("blockCert"),
    leaf("blockGenerator"),
    leaf("blockHandler"),
    leaf("txHandler"),
    leaf("proposalStore"),
    leaf("proposalBuilder"),
    leaf("proposalListener"),
    leaf("nipostBuilder"),
    leaf("nipostValidator"),
    leaf("fetcher"),
    leaf("timesync"),
    leaf("vm"),
    leaf("grpc"),
    leaf("conState"),
    leaf("executor"),
    leaf("malfeasance"),
    leaf("bootstrap"),
];

static FETCH: &[Key] = &[
    leaf("batchtimeout"),
    leaf("batchsize"),
    leaf("queuesize"),
    leaf("maxretriesforrequest"),
    leaf("request-timeout"),
    leaf("request-hard-timeout"),
    leaf("servers-metrics"),
    map("servers"),
    leaf("streaming"),
    leaf("getatxsconcurrency"),
    section(
        "decaying-tag",
        &[leaf("interval"), leaf("inc"), leaf("dec"), leaf("cap")],
    ),
    leaf("log-peer-stats-interval"),
];

static BOOTSTRAP: &[Key] = &[leaf("bootstrap-url"), leaf("bootstrap-version")];

static SYNCER: &[Key] = &[
    leaf("interval"),
    leaf("epochendfraction"),
    leaf("maxstaleduration"),
    leaf("gossipduration"),
    leaf("disable-mesh-agreement"),
    leaf("out-of-sync-threshold"),
    section(
        "atx-sync",
        &[
            leaf("epoch-info-request-interval"),
            leaf("epoch-info-peers"),
            leaf("requests-limit"),
            leaf("atxs-batch"),
            leaf("progress-every-fraction"),
            leaf("progress-on-time"),
        ],
    ),
    section(
        "malfeasance-sync",
        &[
            leaf("id-request-interval"),
            leaf("malfeasance-id-peers"),
            leaf("min-sync-peers"),
            leaf("max-epoch-fraction"),
            leaf("max-batch-size"),
            leaf("requests-limit"),
            leaf("retry-interval"),
        ],
    ),
];

static RECOVERY: &[Key] = &[
    leaf("recovery-uri"),
    leaf("recovery-layer"),
    leaf("preserve-own-atx"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_ascii_case_like_viper() {
        assert!(lookup(LOGGING, "postservice").is_some());
        assert!(lookup(LOGGING, "POSTSERVICE").is_some());
        assert!(lookup(ROOT, "P2P").is_some());
        assert!(lookup(ROOT, "p2q").is_none());
    }

    #[test]
    fn every_section_has_unique_key_names() {
        fn check(path: &str, keys: &'static [Key]) {
            for (i, k) in keys.iter().enumerate() {
                assert!(
                    !keys[..i]
                        .iter()
                        .any(|o| o.name.eq_ignore_ascii_case(k.name)),
                    "{path}.{} listed twice",
                    k.name
                );
                if let Shape::Section(sub) = k.shape {
                    check(&format!("{path}.{}", k.name), sub);
                }
            }
        }
        check("", ROOT);
    }

    #[test]
    fn section_keys_of_unknown_section_is_empty() {
        assert!(section_keys("gateway").is_empty());
        assert!(lookup(section_keys("main"), "tick-size").is_some());
    }
}

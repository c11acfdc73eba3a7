//! The presets a config starts from: mainnet (go-spacemesh's `config/mainnet.go`) and a local devnet.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use url::Url;

use super::{
    ApiSection, CommitteeUpgrade, Config, GatewaySection, Hare3Section, LoggingSection,
    PoetSection, PoetServer, PostSection, ProvingOpts, RandomxMode, Scrypt, SmeshingOpts,
    SmeshingSection, DEFAULT_GRPC_MSG_SIZE,
};

/// Name of the mainnet preset (also what no preset means).
pub const MAINNET: &str = "mainnet";
/// Name of the local devnet preset: 1 s layers, 10 layers per epoch, tiny PoST.
pub const DEVNET: &str = "devnet";

/// Mainnet genesis: 2023-07-14T08:00:00Z.
const MAINNET_GENESIS_UNIX: u64 = 1_689_321_600;
const MAINNET_GENESIS_EXTRA_DATA: &str =
    "00000000000000000001a6bc150307b5c1998045752b3c87eccf3c013036f3cc";
/// Mainnet `post-pow-difficulty`.
const MAINNET_POW_DIFFICULTY: &str =
    "000dfb23b0979b4b000000000000000000000000000000000000000000000000";
const MAINNET_POET_SERVERS: &[(&str, &str)] = &[
    (
        "https://mainnet-poet-0.spacemesh.network",
        "cFnqCS5oER7GOX576oPtahlxB/1y95aDibdK7RHQFVg=",
    ),
    (
        "https://mainnet-poet-1.spacemesh.network",
        "Qh1efxY4YhoYBEXKPTiHJ/a7n1GsllRSyweQKO3j7m0=",
    ),
    (
        "https://poet-110.spacemesh.network",
        "8Qqgid+37eyY7ik+EA47Nd5TrQjXolbv2Mdgir243No=",
    ),
    (
        "https://poet-111.spacemesh.network",
        "caIV0Ym59L3RqbVAL6UrCPwr+z+lwe2TBj57QWnAgtM=",
    ),
    (
        "https://poet-112.spacemesh.network",
        "5p/mPvmqhwdvf8U0GVrNq/9IN/HmZj5hCkFLAN04g1E=",
    ),
];

/// The devnet's fixed genesis, 2024-01-01T00:00:00Z; the devnet command normally sets `genesis-time` to "now".
const DEVNET_GENESIS_UNIX: u64 = 1_704_067_200;

/// The defaults of a preset, `None` for a name smesher does not know.
pub(crate) fn by_name(name: &str) -> Option<Config> {
    match name.to_ascii_lowercase().as_str() {
        MAINNET => Some(Config::mainnet()),
        DEVNET => Some(Config::devnet()),
        _ => None,
    }
}

/// `~/spacemesh`, like go-spacemesh; relative to the working directory when there is no home.
pub(crate) fn default_data_folder() -> PathBuf {
    super::validate::expand_home("~/spacemesh")
}

fn listener(a: [u8; 4], port: u16) -> Option<SocketAddr> {
    Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(a), port)))
}

impl Config {
    /// Mainnet values (PROTOCOL §2.1), with smesher's defaults for everything else; what no config gives.
    pub fn mainnet() -> Config {
        let mut pow_difficulty = [0u8; 32];
        hex::decode_to_slice(MAINNET_POW_DIFFICULTY, &mut pow_difficulty)
            .expect("constant is 64 hex digits");
        Config {
            data_folder: default_data_folder(),
            node_service: Vec::new(),
            proxy_api_v2: Vec::new(),
            proxy_api_v2_grpc: Vec::new(),
            gateway: GatewaySection::default(),
            genesis_time: SystemTime::UNIX_EPOCH + Duration::from_secs(MAINNET_GENESIS_UNIX),
            genesis_extra_data: MAINNET_GENESIS_EXTRA_DATA.to_string(),
            layer_duration: Duration::from_secs(5 * 60),
            layers_per_epoch: 4032,
            layer_average_size: 50,
            tick_size: 9_331_200,
            publish_to_all: false,
            network_hrp: "sm".to_string(),
            regossip_atx_interval: crate::atx::MAINNET_REGOSSIP_INTERVAL,
            metrics_listener: None,
            api: ApiSection {
                grpc_public_listener: listener([0, 0, 0, 0], 9092),
                grpc_private_listener: listener([127, 0, 0, 1], 9093),
                grpc_post_listener: listener([127, 0, 0, 1], 0),
                grpc_json_listener: None,
                grpc_cors_allowed_origins: vec!["*".to_string()],
                grpc_tls: None,
                grpc_send_msg_size: DEFAULT_GRPC_MSG_SIZE,
                grpc_recv_msg_size: DEFAULT_GRPC_MSG_SIZE,
            },
            poet_servers: MAINNET_POET_SERVERS
                .iter()
                .map(|(address, pubkey)| PoetServer {
                    address: Url::parse(address).expect("constant URL"),
                    pubkey: Some(super::validate::decode_pubkey(pubkey).expect("constant key")),
                })
                .collect(),
            poet: PoetSection {
                phase_shift: Duration::from_secs(240 * 3600),
                cycle_gap: Duration::from_secs(12 * 3600),
                grace_period: Duration::from_secs(3600),
                poet_request_timeout: Duration::from_secs(1100),
                retry_delay: Duration::from_secs(10),
                retry_max: 10,
                positioning_atx_selection_timeout: Duration::from_secs(50 * 60),
                info_cache_ttl: Duration::from_secs(5 * 60),
                pow_params_cache_ttl: Duration::from_secs(5 * 60),
                poet_proofs_cache: 200,
            },
            post: PostSection {
                post_min_numunits: 4,
                post_max_numunits: u32::MAX,
                post_labels_per_unit: 1 << 32,
                post_k1: 26,
                post_k2: 37,
                post_k3: 1,
                post_pow_difficulty: pow_difficulty,
            },
            smeshing: SmeshingSection {
                smeshing_start: false,
                smeshing_coinbase: None,
                opts: SmeshingOpts {
                    datadir: None,
                    numunits: 4,
                    maxfilesize: 4 << 30,
                    provider: None,
                    throttle: false,
                    compute_batch_size: 1 << 20,
                    scrypt: Scrypt {
                        n: 8192,
                        r: 1,
                        p: 1,
                    },
                },
                proving_opts: ProvingOpts {
                    threads: 0,
                    nonces: 288,
                    randomx_mode: RandomxMode::Fast,
                },
            },
            hare3: Hare3Section {
                enable: true,
                enable_layer: 35117,
                disable_layer: u32::MAX,
                committee: 400,
                committee_upgrade: Some(CommitteeUpgrade {
                    layer: 105_720,
                    size: 50,
                }),
                leaders: 5,
                iterations_limit: 4,
                preround_delay: Duration::from_secs(25),
                round_duration: Duration::from_secs(12),
                protocol_name: "/h/3.0".to_string(),
                eligibility_confidence_param: 200,
            },
            certificate_committee_size: 200,
            logging: LoggingSection {
                level: "info".to_string(),
                json: false,
            },
            preset: None,
        }
    }

    /// The local devnet: 1 s layers, 10 layers per epoch, PoET rounds that fit an epoch, a tiny PoST.
    pub fn devnet() -> Config {
        let mut c = Config::mainnet();
        c.data_folder = std::env::temp_dir().join("smesher-devnet");
        c.genesis_time = SystemTime::UNIX_EPOCH + Duration::from_secs(DEVNET_GENESIS_UNIX);
        c.genesis_extra_data = DEVNET.to_string();
        c.layer_duration = Duration::from_secs(1);
        c.layers_per_epoch = 10;
        c.layer_average_size = 5;
        c.tick_size = 1;
        c.network_hrp = "stest".to_string();
        // The devnet's PoET is a local fake whose address the devnet command passes in.
        c.poet_servers = Vec::new();
        c.poet = PoetSection {
            phase_shift: Duration::from_secs(5),
            cycle_gap: Duration::from_secs(2),
            grace_period: Duration::from_secs(1),
            poet_request_timeout: Duration::from_secs(2),
            retry_delay: Duration::from_millis(100),
            retry_max: 3,
            positioning_atx_selection_timeout: Duration::from_millis(500),
            info_cache_ttl: Duration::from_secs(10),
            pow_params_cache_ttl: Duration::from_secs(10),
            poet_proofs_cache: 20,
        };
        c.post = PostSection {
            post_min_numunits: 1,
            post_max_numunits: 4,
            post_labels_per_unit: 64,
            post_k1: 12,
            post_k2: 4,
            post_k3: 1,
            post_pow_difficulty: [0xff; 32],
        };
        c.smeshing.opts.numunits = 1;
        c.smeshing.opts.maxfilesize = 1 << 20;
        c.smeshing.proving_opts.nonces = 16;
        c.smeshing.proving_opts.randomx_mode = RandomxMode::Light;
        c.hare3 = Hare3Section {
            enable: true,
            enable_layer: 0,
            disable_layer: u32::MAX,
            committee: 50,
            committee_upgrade: None,
            leaders: 5,
            iterations_limit: 4,
            preround_delay: Duration::from_millis(200),
            round_duration: Duration::from_millis(50),
            protocol_name: "/h/3.0".to_string(),
            eligibility_confidence_param: 2,
        };
        c.certificate_committee_size = 10;
        c.preset = Some(DEVNET.to_string());
        c
    }
}

//! Harness for the ATX tests: three simnet nodes, two fake PoETs, identities with fake
//! post-services, and the real service in compressed time (400 ms layers, 4 s epochs).
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use simnet::{ChainConfig, FakePoet, FakePostService, Network, Node, PoetSettings};
use smesher::config::{self, Config, ConfigArgs};
use smesher::service::Service;

pub const LAYER: Duration = Duration::from_millis(400);
pub const LAYERS_PER_EPOCH: u32 = 10;
pub const PHASE_SHIFT: Duration = Duration::from_millis(2000);
pub const CYCLE_GAP: Duration = Duration::from_millis(1600);
pub const GRACE: Duration = Duration::from_millis(800);
pub const POW_DIFFICULTY: u32 = 6;
/// How long a fake post-service takes for one proof.
pub const PROOF_DELAY: Duration = Duration::from_millis(100);

pub fn seeds(n: usize) -> Vec<[u8; 32]> {
    (0..n).map(|i| [i as u8 + 41; 32]).collect()
}

pub fn node_id(seed: &[u8; 32]) -> [u8; 32] {
    *signing::Identity::from_seed(seed, "x").node_id().as_bytes()
}

pub struct AtxNet {
    pub network: Network,
    pub nodes: Vec<Node>,
    pub poets: Vec<FakePoet>,
    pub seeds: Vec<[u8; 32]>,
    pub data: tempfile::TempDir,
}

impl AtxNet {
    /// Three nodes, `poets` PoETs (the second one gives better proofs), `identities` keys.
    pub async fn start(identities: usize, poets: usize) -> AtxNet {
        let network = Network::new(ChainConfig::new(LAYER, LAYERS_PER_EPOCH).starting_at_layer(25))
            .expect("chain");
        let nodes = network.spawn_nodes(3).await;
        let mut list = Vec::new();
        for i in 0..poets {
            let settings = PoetSettings {
                phase_shift: PHASE_SHIFT,
                cycle_gap: CYCLE_GAP,
                pow_difficulty: POW_DIFFICULTY,
                leaves: 1000 + i as u64 * 100,
            };
            list.push(
                FakePoet::start(&network, settings, i as u8)
                    .await
                    .expect("poet"),
            );
        }
        let seeds = seeds(identities);
        let data = tempfile::tempdir().expect("tempdir");
        let dir = data.path().join("identities");
        std::fs::create_dir_all(&dir).expect("dir");
        for (i, seed) in seeds.iter().enumerate() {
            let id = signing::Identity::from_seed(seed, format!("id{i}.key"));
            signing::identity::write_key_file(&dir, &id).expect("key file");
        }
        AtxNet {
            network,
            nodes,
            poets: list,
            seeds,
            data,
        }
    }

    pub fn node_ids(&self) -> Vec<[u8; 32]> {
        self.seeds.iter().map(node_id).collect()
    }

    pub fn config_json(&self) -> Value {
        let chain = self.network.config();
        let urls: Vec<String> = self.nodes.iter().map(Node::url).collect();
        let poets: Vec<Value> = self
            .poets
            .iter()
            .map(|p| {
                json!({
                    "address": p.url(),
                    "pubkey": base64::engine::general_purpose::STANDARD.encode(p.pubkey()),
                })
            })
            .collect();
        json!({
            "main": {
                "data-folder": self.data.path().to_str().expect("utf-8 path"),
                "node-service-address": urls,
                "layer-duration": simnet::clock::proto_duration(chain.layer_duration),
                "layers-per-epoch": chain.layers_per_epoch,
                "poet-servers": poets,
            },
            "genesis": {
                "genesis-time": simnet::clock::rfc3339(chain.genesis),
                "genesis-extra-data": chain.genesis_extra_data,
            },
            "poet": {
                "phase-shift": "2000ms",
                "cycle-gap": "1600ms",
                "grace-period": "800ms",
                "poet-request-timeout": "1s",
                "retry-delay": "100ms",
                "retry-max": 5,
            },
            "smeshing": {
                "smeshing-start": true,
                "smeshing-coinbase": "sm1qqqqqqylyl2l0zsmmax0wnutt4dwnrkcwef5eeq3xladz",
            },
            "hare3": { "enable": false },
            "gateway": {
                "health-interval": "100ms",
                "probe-timeout": "100ms",
                "rise": 2,
                "fall": 2,
                "max-layer-lag": 2,
                "failback-after": "0s",
                "per-try-timeout": "250ms",
                "request-timeout": "2s",
                "eject-after": 3,
                "eject-base": "300ms",
                "eject-max": "1s"
            },
            "api": { "grpc-post-listener": "127.0.0.1:0" },
            "logging": { "level": "warn" }
        })
    }

    pub fn config(&self) -> Config {
        let v = self.config_json();
        match config::from_json_str(&v.to_string(), &ConfigArgs::default()) {
            Ok(loaded) => loaded.config,
            Err(errors) => panic!("test config rejected:\n{errors}\n{v:#}"),
        }
    }

    /// Starts the service and one fake post-service per identity.
    pub async fn start_service(&self) -> (Service, Vec<FakePostService>) {
        self.start_service_with(PROOF_DELAY).await
    }

    /// Like `start_service`, with post-services that take `delay` per proof.
    pub async fn start_service_with(&self, delay: Duration) -> (Service, Vec<FakePostService>) {
        let service = Service::start(&self.config(), None, prometheus::Registry::new())
            .await
            .expect("service starts");
        let addr = service.post_listener_addr().expect("post listener");
        let posts = self
            .node_ids()
            .into_iter()
            .map(|id| FakePostService::start(addr, id, delay))
            .collect();
        (service, posts)
    }

    /// Publish epochs of the accepted ATXs of `node`.
    pub fn atx_epochs(&self, node: &[u8; 32]) -> Vec<u32> {
        self.network
            .accepted_atxs()
            .iter()
            .filter(|a| &a.atx.smesher_id.0 == node)
            .map(|a| a.atx.inner.challenge.publish_epoch)
            .collect()
    }

    /// Waits (up to `limit`) until every identity has an accepted ATX in `epochs` more
    /// epochs than it had; returns false on timeout.
    pub async fn wait_for_atxs(&self, per_identity: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self
                .node_ids()
                .iter()
                .all(|n| self.atx_epochs(n).len() >= per_identity)
            {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every accepted ATX's publish epochs are consecutive per identity (one per epoch).
    pub fn assert_one_per_epoch(&self) {
        assert!(
            self.network.atx_violations().is_empty(),
            "ATX violations: {:#?}",
            self.network.atx_violations()
        );
        for n in self.node_ids() {
            let epochs = self.atx_epochs(&n);
            for w in epochs.windows(2) {
                assert_eq!(
                    w[1],
                    w[0] + 1,
                    "identity {} skipped an epoch: {epochs:?}",
                    hex::encode(n)
                );
            }
        }
    }
}

//! Harness for the duty tests: a simnet network of three nodes, several identities with
//! weight, and the real service doing its per-layer duties in compressed time; plus the
//! oracle that says which hare rounds each identity is eligible in.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use eligibility::hare::{calc_eligibility, Committees, HareRound};
use eligibility::VrfSecretKey;
use serde_json::{json, Value};
use simnet::{ChainConfig, CheckSettings, MessageSlot, Network, Node};
use smesher::config::{self, Config, ConfigArgs};
use smesher::service::Service;
use tokio::net::TcpListener;

/// Compressed hare timing: 1 s layers, preround 200 ms after the layer start, 120 ms rounds,
/// so iteration 1 (and certification) begins after the layer's block exists.
pub const LAYER: Duration = Duration::from_secs(1);
pub const PREROUND_DELAY_MS: u64 = 200;
pub const ROUND_MS: u64 = 120;
pub const COMMITTEE: u32 = 20;
pub const LEADERS: u32 = 5;
pub const CERTIFY_COMMITTEE: u32 = 10;
/// Absolute rounds with a message in iterations 0 and 1 (a session certifies in iteration 1
/// and ends at the hardlock of iteration 2).
pub const MESSAGE_ROUNDS: [(u8, u8); 7] = [(0, 0), (0, 3), (0, 6), (0, 7), (1, 3), (1, 6), (1, 7)];

pub fn committees() -> Committees {
    Committees {
        committee: COMMITTEE,
        upgrade: None,
        leaders: LEADERS,
    }
}

pub fn seeds(n: usize) -> Vec<[u8; 32]> {
    (0..n).map(|i| [i as u8 + 1; 32]).collect()
}

pub fn node_id(seed: &[u8; 32]) -> [u8; 32] {
    *signing::Identity::from_seed(seed, "x").node_id().as_bytes()
}

/// The service's config for the duty tests.
pub fn duty_config(
    network: &Network,
    urls: &[String],
    data: &std::path::Path,
    extra: Value,
) -> Value {
    let chain = network.config();
    let mut v = json!({
        "main": {
            "data-folder": data.to_str().unwrap(),
            "node-service-address": urls,
            "layer-duration": simnet::clock::proto_duration(chain.layer_duration),
            "layers-per-epoch": chain.layers_per_epoch,
        },
        "genesis": {
            "genesis-time": simnet::clock::rfc3339(chain.genesis),
            "genesis-extra-data": chain.genesis_extra_data,
        },
        "smeshing": {
            "smeshing-start": true,
            "smeshing-coinbase": "sm1qqqqqqylyl2l0zsmmax0wnutt4dwnrkcwef5eeq3xladz",
        },
        "hare3": {
            "enable-layer": 0,
            "committee": COMMITTEE,
            "committeeupgrade": null,
            "leaders": LEADERS,
            "iterations-limit": 4,
            "preround-delay": format!("{PREROUND_DELAY_MS}ms"),
            "round-duration": format!("{ROUND_MS}ms"),
        },
        "hare-eligibility": { "eligibility-confidence-param": 0 },
        "certificate": { "committee-size": CERTIFY_COMMITTEE },
        "gateway": {
            "health-interval": "100ms",
            "probe-timeout": "100ms",
            "rise": 2,
            "fall": 2,
            "max-layer-lag": 2,
            "failback-after": "0s",
            "per-try-timeout": "250ms",
            "request-timeout": "3s",
            "eject-after": 3,
            "eject-base": "500ms",
            "eject-max": "2s"
        },
        "logging": { "level": "warn" }
    });
    if let (Some(base), Some(over)) = (v["main"].as_object_mut(), extra.as_object()) {
        for (k, val) in over {
            base.insert(k.clone(), val.clone());
        }
    }
    v
}

pub fn parse(value: &Value) -> Config {
    match config::from_json_str(&value.to_string(), &ConfigArgs::default()) {
        Ok(loaded) => loaded.config,
        Err(errors) => panic!("test config rejected:\n{errors}\n{value:#}"),
    }
}

/// A network whose chain starts at layer 100 of 10-layer epochs, with `ids` identities of
/// equal weight known to it, and the check settings of the duty config.
pub fn network(ids: &[[u8; 32]]) -> Network {
    let net = Network::new(ChainConfig::new(LAYER, 10).starting_at_layer(100)).expect("chain");
    for seed in ids {
        net.set_weight(node_id(seed), 100);
    }
    net.set_check_settings(CheckSettings {
        committees: committees(),
        certify_committee: CERTIFY_COMMITTEE,
        confidence_param: 0,
    });
    net
}

/// Writes the identities' key files into `data/identities`.
pub fn write_keys(data: &std::path::Path, seeds: &[[u8; 32]]) {
    let dir = data.join("identities");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, seed) in seeds.iter().enumerate() {
        let id = signing::Identity::from_seed(seed, format!("id{i}.key"));
        signing::identity::write_key_file(&dir, &id).unwrap();
    }
}

pub struct Duty {
    pub network: Network,
    pub nodes: Vec<Node>,
    pub service: Service,
    pub seeds: Vec<[u8; 32]>,
    pub data: tempfile::TempDir,
}

impl Duty {
    pub async fn start(identities: usize, extra: Value) -> Duty {
        let seeds = seeds(identities);
        let network = network(&seeds);
        let nodes = network.spawn_nodes(3).await;
        let urls: Vec<String> = nodes.iter().map(Node::url).collect();
        let data = tempfile::tempdir().unwrap();
        write_keys(data.path(), &seeds);
        let config = parse(&duty_config(&network, &urls, data.path(), extra));
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let service = Service::start(&config, Some(admin), prometheus::Registry::new())
            .await
            .expect("service starts");
        assert_eq!(service.identities().len(), identities);
        Duty {
            network,
            nodes,
            service,
            seeds,
            data,
        }
    }

    pub fn active(&self) -> Option<usize> {
        self.service
            .gateway()
            .status()
            .iter()
            .find(|s| s.active)
            .map(|s| s.priority)
    }

    pub async fn wait_until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the wall clock is in `layer`.
    pub async fn wait_for_layer(&self, layer: u32) {
        self.network.clock().wait_for_layer(layer).await;
    }
}

/// (identity, layer, absolute round) of every hare message the identities must send in
/// iterations 0 and 1 of `layers`, by the eligibility oracle and simnet's weights.
pub fn expected_hare(
    net: &Network,
    seeds: &[[u8; 32]],
    layers: std::ops::RangeInclusive<u32>,
) -> BTreeSet<([u8; 32], u32, u32)> {
    let mut out = BTreeSet::new();
    for layer in layers {
        let epoch = net.clock().epoch_of(layer);
        let total = net.total_weight(epoch);
        for seed in seeds {
            let key = VrfSecretKey::from_seed(seed);
            let id = key.public_key();
            let weight = net.miner_weight(epoch, &id);
            for (iter, round) in MESSAGE_ROUNDS {
                let abs = u32::from(iter) * 7 + u32::from(round);
                let proof = HareRound {
                    beacon: net.beacon(epoch),
                    layer,
                    round: abs,
                }
                .prove(&key);
                let committee = committees().for_round(layer, codec::hare::Round(round));
                if calc_eligibility(&proof, weight, total, committee).unwrap() > 0 {
                    out.insert((id, layer, abs));
                }
            }
        }
    }
    out
}

/// Identities eligible to certify `layer`.
pub fn expected_certifiers(net: &Network, seeds: &[[u8; 32]], layer: u32) -> BTreeSet<[u8; 32]> {
    let epoch = net.clock().epoch_of(layer);
    seeds
        .iter()
        .map(VrfSecretKey::from_seed)
        .filter(|key| {
            let proof = HareRound::certify(net.beacon(epoch), layer).prove(key);
            let id = key.public_key();
            calc_eligibility(
                &proof,
                net.miner_weight(epoch, &id),
                net.total_weight(epoch),
                CERTIFY_COMMITTEE,
            )
            .unwrap()
                > 0
        })
        .map(|k| k.public_key())
        .collect()
}

/// The hare messages simnet accepted for `layers`, as (identity, layer, absolute round).
pub fn accepted_hare(
    net: &Network,
    layers: std::ops::RangeInclusive<u32>,
) -> BTreeSet<([u8; 32], u32, u32)> {
    net.accepted()
        .into_iter()
        .filter_map(|a| match a.slot {
            MessageSlot::Hare { layer, round } if layers.contains(&layer) => {
                Some((a.node_id, layer, round))
            }
            _ => None,
        })
        .collect()
}

/// `smesher_duty_messages_total{duty, outcome}` in a registry (0 when absent).
pub fn metric(registry: &prometheus::Registry, duty: &str, outcome: &str) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == "smesher_duty_messages_total")
        .flat_map(|f| f.get_metric())
        .filter(|m| {
            let label = |k: &str| {
                m.get_label()
                    .iter()
                    .find(|l| l.name() == k)
                    .map(|l| l.value().to_owned())
            };
            label("duty").as_deref() == Some(duty) && label("outcome").as_deref() == Some(outcome)
        })
        .map(|m| m.get_counter().get_value())
        .sum()
}

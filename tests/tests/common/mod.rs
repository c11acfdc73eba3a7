//! Shared harness for the integration tests: a simnet network, the real service wired to it
//! in-process on loopback, and small helpers to drive load and wait for conditions.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use simnet::{ChainConfig, Network, Node};
use smesher::config::{self, Config, ConfigArgs};
use smesher::node::NodeError;
use smesher::service::Service;
use tokio::net::TcpListener;

/// Gateway settings tuned for compressed time: probes every 100 ms, short timeouts.
pub fn fast_gateway() -> Value {
    json!({
        "health-interval": "100ms",
        "probe-timeout": "100ms",
        "rise": 2,
        "fall": 2,
        "max-layer-lag": 2,
        "failback-after": "0s",
        "per-try-timeout": "250ms",
        "request-timeout": "3s",
        "max-response-bytes": 1048576,
        "retry-budget-ratio": 0.2,
        "retry-budget-min-per-second": 10,
        "retry-budget-ttl": "10s",
        "eject-after": 3,
        "eject-base": "500ms",
        "eject-max": "2s"
    })
}

/// A simnet network of `n` nodes and a service in front of them.
pub struct Harness {
    pub network: Network,
    pub nodes: Vec<Node>,
    pub service: Service,
    pub config: Config,
    pub data: tempfile::TempDir,
}

pub fn chain() -> ChainConfig {
    // 1-second layers; genesis 100 layers ago so epochs and layers are past the start.
    ChainConfig::new(Duration::from_secs(1), 10).starting_at_layer(100)
}

/// The service's config for these nodes, with `gateway` overrides merged over the fast settings.
pub fn config_json(
    network: &Network,
    urls: &[String],
    gateway: Value,
    data: &std::path::Path,
) -> Value {
    let chain = network.config();
    let mut gw = fast_gateway();
    if let (Some(base), Some(over)) = (gw.as_object_mut(), gateway.as_object()) {
        for (k, v) in over {
            base.insert(k.clone(), v.clone());
        }
    }
    json!({
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
        "gateway": gw,
        "metrics": { "metrics-listener": "127.0.0.1:0" },
        "logging": { "level": "warn" }
    })
}

pub fn parse_config(value: &Value) -> Config {
    match config::from_json_str(&value.to_string(), &ConfigArgs::default()) {
        Ok(loaded) => loaded.config,
        Err(errors) => panic!("test config rejected:\n{errors}\n{value:#}"),
    }
}

impl Harness {
    pub async fn start(n: usize, gateway: Value) -> Harness {
        let network = Network::new(chain()).expect("chain config");
        let mut nodes = Vec::new();
        for _ in 0..n {
            nodes.push(network.spawn_node().await);
        }
        let urls: Vec<String> = nodes.iter().map(Node::url).collect();
        let data = tempfile::tempdir().unwrap();
        let config = parse_config(&config_json(&network, &urls, gateway, data.path()));
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let service = Service::start(&config, Some(admin), prometheus::Registry::new())
            .await
            .expect("service starts");
        let h = Harness {
            network,
            nodes,
            service,
            config,
            data,
        };
        h.wait_until("every node is healthy", || h.healthy() == n)
            .await;
        h
    }

    /// Redacted URL of node `i` as the gateway shows it.
    pub fn node_label(&self, i: usize) -> String {
        gateway::redact(&url::Url::parse(&self.nodes[i].url()).unwrap())
    }

    /// Index of the active upstream, if any.
    pub fn active(&self) -> Option<usize> {
        self.service
            .gateway()
            .status()
            .iter()
            .find(|s| s.active)
            .map(|s| s.priority)
    }

    pub fn healthy(&self) -> usize {
        self.service.gateway().healthy_count()
    }

    pub fn is_healthy(&self, i: usize) -> bool {
        self.service.gateway().status()[i].healthy
    }

    /// Polls `cond` every 10 ms for up to 10 s; panics with `what` if it never holds.
    pub async fn wait_until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The value of one metric sample in the service's registry, by name and labels.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        metric_value(&self.service.registry().gather(), name, labels)
    }

    /// Runs `workers` tasks that call `beacon` back to back until `stop` is set; returns the
    /// counters of successes and failures (with the first failure's text).
    pub fn load(&self, workers: usize) -> Load {
        let load = Load::default();
        for _ in 0..workers {
            let node = self.service.node().clone();
            let load = load.clone();
            let epoch = self.network.clock().current_epoch();
            tokio::spawn(async move {
                while !load.stop.load(Ordering::Relaxed) {
                    load.record(node.beacon(epoch).await.map(drop));
                }
            });
        }
        load
    }
}

/// Counters of a running load.
#[derive(Clone, Default)]
pub struct Load {
    pub ok: Arc<AtomicU64>,
    pub failed: Arc<AtomicU64>,
    pub first_error: Arc<std::sync::Mutex<Option<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Load {
    pub fn record(&self, result: Result<(), NodeError>) {
        match result {
            Ok(()) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.first_error
                    .lock()
                    .unwrap()
                    .get_or_insert(e.to_string());
            }
        }
    }

    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Waits until `n` more calls succeeded (bounded by 10 s).
    pub async fn wait_for_more(&self, n: u64) {
        let target = self.ok() + n;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.ok() < target {
            assert!(
                Instant::now() < deadline,
                "load stalled: {} ok, {} failed, first error: {:?}",
                self.ok(),
                self.failed(),
                self.first_error.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn assert_no_failures(&self) {
        assert_eq!(
            self.failed(),
            0,
            "{} calls failed (of {}); first error: {:?}",
            self.failed(),
            self.ok() + self.failed(),
            self.first_error.lock().unwrap()
        );
    }
}

/// Finds a sample in gathered metric families.
pub fn metric_value(
    families: &[prometheus::proto::MetricFamily],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    let family = families.iter().find(|f| f.name() == name)?;
    family
        .get_metric()
        .iter()
        .find(|m| {
            labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            })
        })
        .map(|m| match family.get_field_type() {
            prometheus::proto::MetricType::COUNTER => m.get_counter().get_value(),
            prometheus::proto::MetricType::GAUGE => m.get_gauge().get_value(),
            _ => m.get_histogram().get_sample_count() as f64,
        })
}

/// Runs `f` with a deadline so a stuck test fails instead of hanging the suite.
pub async fn within<T>(secs: u64, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test step took too long")
}

//! Benchmarks of the node-service gateway, printed (never asserted):
//! - the latency the fail-over stack adds over a direct call to the same simnet node;
//! - the time from killing the active node to the first successful call on the next one, for a
//!   refused connection and for a node that hangs;
//! - signatures per second through signer and guard against raw ed25519-dalek;
//! - hare messages signed and recorded per second for 1, 100 and 1000 identities in a round.
//!
//! Run with `cargo run --release -p bench`. Figures depend on the machine; each is measured
//! against its baseline in the same run.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use simnet::{ChainConfig, Fault, Network, Node};
use smesher::config::{self, ConfigArgs};
use smesher::service::Service;

mod hare;
mod signing;

const CALLS: usize = 5_000;
const FAILOVER_ROUNDS: usize = 20;
const PER_TRY_TIMEOUT_MS: u64 = 200;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    println!("== node-service gateway");
    latency().await?;
    failover(Fault::Stop, "refused").await?;
    failover(Fault::Hang, "hang").await?;
    signing::run()?;
    hare::run()?;
    Ok(())
}

struct Setup {
    network: Network,
    nodes: Vec<Node>,
    service: Service,
    _data: tempfile::TempDir,
}

async fn setup(failback: &str) -> anyhow::Result<Setup> {
    let network = Network::new(ChainConfig::new(Duration::from_secs(1), 10).starting_at_layer(100))
        .context("chain")?;
    let nodes = network.spawn_nodes(3).await;
    let data = tempfile::tempdir()?;
    let chain = network.config();
    let file = json!({
        "main": {
            "data-folder": data.path(),
            "node-service-address": nodes.iter().map(Node::url).collect::<Vec<_>>(),
            "layer-duration": "1s",
            "layers-per-epoch": chain.layers_per_epoch,
        },
        "genesis": {
            "genesis-time": simnet::clock::rfc3339(chain.genesis),
            "genesis-extra-data": chain.genesis_extra_data,
        },
        "gateway": {
            "health-interval": "100ms", "probe-timeout": "100ms",
            "per-try-timeout": format!("{PER_TRY_TIMEOUT_MS}ms"),
            "failback-after": failback,
        },
        "logging": { "level": "error" }
    });
    let loaded = config::from_json_str(&file.to_string(), &ConfigArgs::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let service = Service::start(&loaded.config, None, prometheus::Registry::new()).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while service.gateway().healthy_count() < 3 {
        anyhow::ensure!(Instant::now() < deadline, "nodes never became healthy");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(Setup {
        network,
        nodes,
        service,
        _data: data,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn latency() -> anyhow::Result<()> {
    let s = setup("0s").await?;
    let direct_client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let url = format!("{}beacon/1", s.nodes[0].url());
    let mut direct = Vec::with_capacity(CALLS);
    let mut via = Vec::with_capacity(CALLS);
    // Interleave the two so machine noise hits both alike; warm both paths first.
    for i in 0..CALLS + 200 {
        let t = Instant::now();
        let resp = direct_client
            .request(http::Request::get(&url).body(Empty::new())?)
            .await?;
        resp.into_body().collect().await?;
        let d = t.elapsed();
        let t = Instant::now();
        s.service.node().beacon(1).await?;
        let v = t.elapsed();
        if i >= 200 {
            direct.push(d);
            via.push(v);
        }
    }
    direct.sort();
    via.sort();
    println!("-- added latency, {CALLS} sequential GET /beacon/1 (direct to the node vs through the gateway)");
    println!(
        "{:>6} {:>12} {:>12} {:>12}",
        "", "direct µs", "gateway µs", "added µs"
    );
    for (name, p) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)] {
        let (d, v) = (percentile(&direct, p), percentile(&via, p));
        println!(
            "{name:>6} {:>12.1} {:>12.1} {:>12.1}",
            us(d),
            us(v),
            us(v) - us(d)
        );
    }
    s.service.shutdown().await;
    drop(s.network);
    Ok(())
}

async fn failover(fault: Fault, name: &str) -> anyhow::Result<()> {
    let mut times = Vec::with_capacity(FAILOVER_ROUNDS);
    for _ in 0..FAILOVER_ROUNDS {
        let s = setup("0s").await?;
        s.service.node().beacon(1).await?; // node 0 is active
        s.nodes[0].set_fault(fault);
        let t = Instant::now();
        s.service.node().beacon(1).await?;
        times.push(t.elapsed());
        s.service.shutdown().await;
    }
    times.sort();
    println!(
        "-- fail-over ({name}): kill of the active node → first successful call on the next, {FAILOVER_ROUNDS} rounds, per-try timeout {PER_TRY_TIMEOUT_MS} ms"
    );
    println!(
        "   min {:.2} ms, p50 {:.2} ms, max {:.2} ms",
        times[0].as_secs_f64() * 1e3,
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    Ok(())
}

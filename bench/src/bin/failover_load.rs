//! Fail-over under open-loop load on the node-service path, printed (never asserted).
//!
//! Three simnet nodes behind `smesher`'s node-service client (active-passive, per-try timeout
//! 200 ms). Calls (`GET /beacon/1`) are started on a fixed schedule (`RATE` per second,
//! whatever the answers do: open loop, each call its own task, so a stall delays no later
//! call), each one's latency measured from its release by the schedule. After `KILL_AT` the
//! active node is killed: its listener closed (refused) or, in a second run, left accepting and
//! never answering (hang). Reported: failed calls, the time from the kill to the first success
//! of a call started after it, and p50/p99/max of the calls started before the kill and of
//! those started in the switch window (kill .. kill + 500 ms).
//!
//! Run with `cargo run --release -p bench --bin failover_load`; `bench/run.sh` runs it too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use simnet::{ChainConfig, Fault, Network, Node};
use smesher::config::{self, ConfigArgs};
use smesher::service::Service;
use tokio::time::Instant;

const RATE: u64 = 1_000;
const RUN: Duration = Duration::from_secs(3);
const KILL_AT: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_millis(500);
const PER_TRY_TIMEOUT_MS: u64 = 200;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    println!(
        "== fail-over under open-loop load: {RATE} calls/s of GET /beacon/1 for {} s, active node killed at {} s, per-try timeout {PER_TRY_TIMEOUT_MS} ms",
        RUN.as_secs(),
        KILL_AT.as_secs()
    );
    for (fault, name) in [(Fault::Stop, "refused"), (Fault::Hang, "hang")] {
        run(fault, name).await?;
    }
    Ok(())
}

/// One finished call: scheduled start (from the run's start), latency, success.
type Sample = (Duration, Duration, bool);

async fn run(fault: Fault, name: &str) -> anyhow::Result<()> {
    let network = Network::new(ChainConfig::new(Duration::from_secs(1), 10).starting_at_layer(100))
        .context("chain")?;
    let nodes = network.spawn_nodes(3).await;
    let data = tempfile::tempdir()?;
    let service = start(&network, &nodes, data.path()).await?;
    service.node().beacon(1).await?; // node 0 is active
    let client = service.node().clone();
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::new(Mutex::new(Vec::new()));
    let period = Duration::from_nanos(1_000_000_000 / RATE);
    let total = RUN.as_nanos() as u64 / period.as_nanos() as u64;
    let start = Instant::now();
    let mut killed = None;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + period * i as u32;
        if killed.is_none() && due >= start + KILL_AT {
            nodes[0].set_fault(fault);
            killed = Some(Instant::now() - start);
        }
        tokio::time::sleep_until(due).await;
        // The loop never waits for an answer, so a stalled call delays no later call; the
        // latency counts from the moment the loop released the call (tokio's timer wakes up
        // to 1 ms after `due`; that lag is the generator's, not the gateway's).
        let released = Instant::now();
        let (client, samples) = (client.clone(), samples.clone());
        tasks.spawn(async move {
            let ok = client.beacon(1).await.is_ok();
            let latency = released.elapsed();
            samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((due - start, latency, ok));
        });
    }
    while tasks.join_next().await.is_some() {}
    let kill = killed.context("the run ended before the kill")?;
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|e| e.into_inner()));
    let failed = samples.iter().filter(|s| !s.2).count();
    let first_ok = samples
        .iter()
        .filter(|(at, _, ok)| *ok && *at >= kill)
        .map(|(at, lat, _)| *at + *lat - kill)
        .min();
    let before: Vec<Duration> = samples.iter().filter(|s| s.0 < kill).map(|s| s.1).collect();
    let window: Vec<Duration> = samples
        .iter()
        .filter(|s| s.0 >= kill && s.0 < kill + WINDOW)
        .map(|s| s.1)
        .collect();
    let (b, w) = (stats(before), stats(window));
    println!(
        "failover {name}: calls {} failed {failed} first_success_after_kill_ms {:.2} before_p50_ms {:.3} before_p99_ms {:.3} switch_p50_ms {:.3} switch_p99_ms {:.3} switch_max_ms {:.3} added_p99_ms {:.3}",
        samples.len(),
        first_ok.map_or(f64::NAN, ms),
        b.0,
        b.1,
        w.0,
        w.1,
        w.2,
        w.1 - b.1
    );
    service.shutdown().await;
    drop(network);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// p50, p99 and max in milliseconds.
fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort();
    let p = |q: f64| ms(v[((v.len() as f64 - 1.0) * q).round() as usize]);
    (p(0.5), p(0.99), ms(v[v.len() - 1]))
}

async fn start(
    network: &Network,
    nodes: &[Node],
    data: &std::path::Path,
) -> anyhow::Result<Service> {
    let chain = network.config();
    let file = json!({
        "main": {
            "data-folder": data,
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
            "failback-after": "0s",
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
    Ok(service)
}

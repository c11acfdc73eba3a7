//! `devnet`: a local network to try the service on: three simnet nodes with 1-second layers and
//! the real `smesher` service wired to them, in one process. Prints the URLs and the upstream
//! table, then runs until Ctrl-C.

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use serde_json::json;
use simnet::{ChainConfig, Network};
use smesher::config::{self, ConfigArgs};
use smesher::service::Service;
use tokio::net::TcpListener;

#[derive(Parser, Debug)]
#[command(about = "Three simnet nodes and the smeshing service in front of them")]
struct Args {
    /// Number of simnet nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Layer duration of the simulated chain.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    layer_duration: Duration,
    /// Layers per epoch of the simulated chain.
    #[arg(long, default_value_t = 10)]
    layers_per_epoch: u32,
    /// Where the service's metrics and upstream table are served.
    #[arg(long, default_value = "127.0.0.1:0")]
    metrics_listener: String,
    /// Where the v2 JSON API (smesher-app, integrations) is served.
    #[arg(long, default_value = "127.0.0.1:0")]
    json_listener: String,
    /// Data folder of the service (a fresh temporary folder by default).
    #[arg(long)]
    data_folder: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let network = Network::new(ChainConfig::new(args.layer_duration, args.layers_per_epoch))
        .context("chain parameters")?;
    let mut nodes = Vec::new();
    for _ in 0..args.nodes {
        nodes.push(
            network
                .try_spawn_node()
                .await
                .context("starting a simnet node")?,
        );
    }
    let temp = tempfile::tempdir().context("creating a data folder")?;
    let data = args
        .data_folder
        .clone()
        .unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(data.join("identities")).context("creating identities/")?;
    let identity = signing::identity::generate(&data.join("identities"), "local")
        .context("creating a fresh identity")?;

    let chain = network.config();
    let file = json!({
        "main": {
            "data-folder": data,
            "node-service-address": nodes.iter().map(|n| n.url()).collect::<Vec<_>>(),
            // simnet nodes also answer the v2 JSON status/info calls the relay forwards.
            "proxy-api-v2-address": nodes.iter().map(|n| n.url()).collect::<Vec<_>>(),
            "layer-duration": simnet::clock::proto_duration(chain.layer_duration),
            "layers-per-epoch": chain.layers_per_epoch,
        },
        "genesis": {
            "genesis-time": simnet::clock::rfc3339(chain.genesis),
            "genesis-extra-data": chain.genesis_extra_data,
        },
        "gateway": { "health-interval": "500ms", "probe-timeout": "400ms", "failback-after": "10s" },
        "metrics": { "metrics-listener": args.metrics_listener },
        "api": {
            "grpc-json-listener": args.json_listener,
            "grpc-public-listener": "127.0.0.1:0",
            "grpc-private-listener": "127.0.0.1:0",
        },
    });
    let loaded = config::from_json_str(&file.to_string(), &ConfigArgs::default())
        .map_err(|e| anyhow::anyhow!("devnet config:\n{e}"))?;
    smesher::logging::init(&loaded.config.logging);
    let admin = TcpListener::bind(
        loaded
            .config
            .metrics_listener
            .context("the devnet config has a metrics listener")?,
    )
    .await
    .context("binding the metrics listener")?;
    let service =
        Service::start_serving_api(&loaded.config, Some(admin), prometheus::Registry::new())
            .await?;
    let admin = service.admin_addr().context("admin listener")?;

    println!(
        "devnet: {} simnet nodes, {:?} layers, {} layers per epoch",
        nodes.len(),
        args.layer_duration,
        args.layers_per_epoch
    );
    for (i, node) in nodes.iter().enumerate() {
        println!("  node {i}: {}", node.url());
    }
    println!("  identity: {} ({})", identity.hex(), identity.file_name());
    println!("  data folder: {}", data.display());
    if let Some(json) = service.api().and_then(|api| api.json_addr()) {
        println!("  v2 JSON API: http://{json}/spacemesh.v2beta1.SmeshingIdentitiesService/States");
        println!("               http://{json}/spacemesh.v2beta1.NodeService/Status (relayed)");
    }
    println!("  metrics: http://{admin}/metrics");
    println!("  upstream table: http://{admin}/status  (or: smesher status --metrics-address http://{admin})");
    // Let the first probes land so the table shows real states.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    println!();
    print!(
        "{}",
        smesher::status::fetch(&format!("http://{admin}")).await?
    );
    println!("\nCtrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    service.shutdown().await;
    Ok(())
}

//! `devnet`: a local network to try the service on: three simnet nodes with 1-second layers and
//! the real `smesher` service wired to them, in one process. Prints the URLs and the upstream
//! table, then runs until Ctrl-C. The identity smeshes: a fake PoET and the service's built-in
//! post-service, proving for real on tiny PoST data (`--post fake`: a fake post-service), take
//! it through the ATX cycle every epoch, and every state it reaches is printed. With real
//! proofs the simnet nodes verify the PoST of every ATX they receive.

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use serde_json::json;
use simnet::{
    ChainConfig, FakePoet, FakePostService, Network, PoetSettings, PostChecker, PostParams,
};
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
    /// Who proves: the built-in post-service on tiny real data, or a fake post-service.
    #[arg(long, value_enum, default_value = "builtin")]
    post: PostMode,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PostMode {
    Builtin,
    Fake,
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

    // PoET rounds sized to the epoch: registration in the middle of an epoch, the round ending
    // a tenth into the next one, the rest of that epoch for the PoST and the publish.
    let epoch = args.layer_duration * args.layers_per_epoch;
    let (phase_shift, cycle_gap, grace) = (epoch / 2, epoch * 2 / 5, epoch / 5);
    let poet = FakePoet::start(
        &network,
        PoetSettings {
            phase_shift,
            cycle_gap,
            pow_difficulty: 8,
            leaves: 1000,
        },
        0,
    )
    .await
    .context("starting the fake PoET")?;

    let chain = network.config();
    let mut file = json!({
        "main": {
            "data-folder": data,
            "node-service-address": nodes.iter().map(|n| n.url()).collect::<Vec<_>>(),
            // simnet nodes also answer the v2 JSON status/info calls the relay forwards.
            "proxy-api-v2-address": nodes.iter().map(|n| n.url()).collect::<Vec<_>>(),
            "layer-duration": simnet::clock::proto_duration(chain.layer_duration),
            "layers-per-epoch": chain.layers_per_epoch,
            "poet-servers": [{
                "address": poet.url(),
                "pubkey": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, poet.pubkey()),
            }],
        },
        "poet": {
            "phase-shift": simnet::clock::proto_duration(phase_shift),
            "cycle-gap": simnet::clock::proto_duration(cycle_gap),
            "grace-period": simnet::clock::proto_duration(grace),
            "poet-request-timeout": "2s",
            "retry-delay": "200ms",
        },
        "smeshing": {
            "smeshing-start": true,
            "smeshing-coinbase": "sm1qqqqqqylyl2l0zsmmax0wnutt4dwnrkcwef5eeq3xladz",
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
    let post_dir = data.join("post");
    if args.post == PostMode::Builtin {
        let params = PostParams::tiny();
        let node_id = *identity.node_id().as_bytes();
        simnet::real_post::init_data(&post_dir, &params, node_id, network.golden_atx(), 1)
            .context("initializing tiny PoST data")?;
        let checker = PostChecker::new(params).context("RandomX for the PoST check")?;
        network.verify_post(std::sync::Arc::new(checker));
        simnet::real_post::merge(
            &mut file,
            &simnet::real_post::config_keys(&params, Some(&post_dir)),
        );
    }
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
    let post_listener = service.post_listener_addr().context("post listener")?;
    let _post = (args.post == PostMode::Fake).then(|| {
        FakePostService::start(
            post_listener,
            *identity.node_id().as_bytes(),
            Duration::from_millis(300),
        )
    });

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
    if args.post == PostMode::Builtin {
        println!(
            "  PoST: built-in post-service on tiny data in {}, every ATX's PoST verified",
            post_dir.display()
        );
    }
    if let Some(json) = service.api().and_then(|api| api.json_addr()) {
        println!("  v2 JSON API: http://{json}/spacemesh.v2beta1.SmeshingIdentitiesService/States");
        println!("               http://{json}/spacemesh.v2beta1.NodeService/Status (relayed)");
    }
    println!("  PoET: {}   post listener: {post_listener}", poet.url());
    println!("  metrics: http://{admin}/metrics");
    println!("  upstream table: http://{admin}/status  (or: smesher status --metrics-address http://{admin})");
    // Let the first probes land so the table shows real states.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    println!();
    print!(
        "{}",
        smesher::status::fetch(&format!("http://{admin}")).await?
    );
    println!("\nIdentity states (Ctrl-C to stop):");
    let states = service.identity_states().clone();
    let printer = tokio::spawn(async move {
        let mut seen = 0;
        loop {
            let all = states.states(&smesher::api::store::StatesQuery::default());
            for s in all.iter().skip(seen) {
                println!(
                    "  {}  {}  epoch {:>3}  {}",
                    humantime::format_rfc3339_millis(s.time),
                    &hex::encode(s.smesher)[..8],
                    s.publish_epoch.map_or("-".to_string(), |e| e.to_string()),
                    describe(&s.detail)
                );
            }
            seen = all.len();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    printer.abort();
    service.shutdown().await;
    Ok(())
}

/// One line for a state: its `IdentityState` name and the metadata worth seeing.
fn describe(d: &smesher::api::StateDetail) -> String {
    use smesher::api::StateDetail as S;
    match d {
        S::WaitForAtxSynced => "WAIT_FOR_ATX_SYNCED".into(),
        S::Retrying { message } => format!("RETRYING: {message}"),
        S::WaitingForPoetRegistrationWindow => "WAITING_FOR_POET_REGISTRATION_WINDOW".into(),
        S::PoetChallengeReady => "POET_CHALLENGE_READY".into(),
        S::PoetRegistered { registrations } => format!(
            "POET_REGISTERED: {}",
            registrations
                .iter()
                .map(|r| format!("{} round {}", r.address, r.round_id))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        S::WaitForPoetRoundEnd { round_end, .. } => format!(
            "WAIT_FOR_POET_ROUND_END until {}",
            humantime::format_rfc3339_millis(*round_end)
        ),
        S::PoetProofReceived { poet_url } => format!("POET_PROOF_RECEIVED from {poet_url}"),
        S::GeneratingPostProof => "GENERATING_POST_PROOF".into(),
        S::PostProofReady => "POST_PROOF_READY".into(),
        S::AtxReady => "ATX_READY".into(),
        S::AtxBroadcasted { atx_id } => format!("ATX_BROADCASTED {}", hex::encode(atx_id)),
        other => format!("{other:?}"),
    }
}

//! The `smesher` binary doing its per-layer duties against in-process simnet nodes is killed
//! with SIGKILL in the middle of layers and restarted while the nodes' templates change:
//! simnet never sees a second, different message for any slot, and the restarted service
//! re-sends what it recorded before the kill byte for byte.

#[path = "../../tests/tests/duties_common/mod.rs"]
mod duties_common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use duties_common::{duty_config, network, seeds, write_keys};
use serde_json::json;
use simnet::{MessageSlot, Node};

const BIN: &str = env!("CARGO_BIN_EXE_smesher");

fn spawn(config: &Path) -> Child {
    Command::new(BIN)
        .arg("-c")
        .arg(config)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("smesher starts")
}

/// Kills with SIGKILL (what `Child::kill` sends on Unix) and reaps the process.
fn sigkill(child: &mut Child) {
    child.kill().expect("SIGKILL delivered");
    child.wait().expect("process reaped");
}

async fn sleep_until(at: std::time::SystemTime) {
    if let Ok(left) = at.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(left).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_layer_and_restart_never_sends_a_second_different_message() {
    let seeds = seeds(4);
    let net = network(&seeds);
    let nodes = net.spawn_nodes(3).await;
    let urls: Vec<String> = nodes.iter().map(Node::url).collect();
    let data = tempfile::tempdir().unwrap();
    write_keys(data.path(), &seeds);
    let mut config = duty_config(&net, &urls, data.path(), json!({}));
    config["api"] = json!({ "grpc-public-listener": "", "grpc-private-listener": "" });
    let config_path = data.path().join("config.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    let clock = net.clock().clone();
    let mut child = spawn(&config_path);
    let mut layer = clock.current_layer() + 2;
    // Kill at different points of a layer: during the preround, mid-iteration, right after
    // the proposals went out. Each restart meets nodes whose templates changed.
    for (k, offset_ms) in [300u64, 650, 60].into_iter().enumerate() {
        sleep_until(clock.layer_start(layer) + Duration::from_millis(offset_ms)).await;
        sigkill(&mut child);
        net.set_template_salt(k as u64 + 1);
        child = spawn(&config_path);
        layer += 2;
    }
    let resumed = layer - 1;
    sleep_until(clock.layer_start(layer + 2)).await;
    sigkill(&mut child);

    let violations = net.violations();
    assert!(
        violations.is_empty(),
        "simnet flagged after SIGKILL and restart: {violations:#?}"
    );
    let accepted = net.accepted();
    let hare_after = accepted
        .iter()
        .filter(|a| matches!(a.slot, MessageSlot::Hare { layer, .. } if layer >= resumed))
        .count();
    assert!(
        hare_after > 0,
        "the restarted service goes on with the hare"
    );
    let resent = accepted.iter().filter(|a| a.copies >= 2).count();
    assert!(
        resent > 0,
        "a restart within a layer re-sends the recorded messages of that layer"
    );
}

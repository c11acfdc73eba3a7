//! The `smesher` binary doing the ATX cycle against simnet nodes, fake PoETs and fake
//! post-services is killed with SIGKILL at each step of the cycle and restarted: the cycle
//! resumes from its database and no identity publishes a second, different ATX.

#[path = "../../tests/tests/atx_common/mod.rs"]
mod atx_common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use atx_common::{AtxNet, PROOF_DELAY};
use serde_json::json;
use simnet::FakePostService;

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

/// SIGKILL (what `Child::kill` sends on Unix), then reap.
fn sigkill(child: &mut Child) {
    child.kill().expect("SIGKILL delivered");
    child.wait().expect("process reaped");
}

/// A free port for the post listener, so post-services can dial the child across restarts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn wait(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The built ATX no node has accepted yet, from the service's ATX database.
fn unsent_atx(db: &Path) -> Option<(u32, Vec<u8>)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.query_row(
        "SELECT publish_epoch, atx FROM published_atx WHERE broadcast = 0",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .ok()
}

/// Which step the child is killed at.
#[derive(Debug, Clone, Copy)]
enum Step {
    InitialPost,
    PoetRegistered,
    WaitingForRoundEnd,
    PoetProofFetched,
    Proving,
    /// The ATX is built and signed, but every node is down so it cannot be sent.
    SignedNotPublished,
    Published,
}

async fn kill_at(step: Step) {
    let net = AtxNet::start(1, 2).await;
    let port = free_port();
    let mut config = net.config_json();
    config["api"] = json!({
        "grpc-public-listener": "",
        "grpc-private-listener": "",
        "grpc-post-listener": format!("127.0.0.1:{port}"),
    });
    let config_path = net.data.path().join("config.json");
    std::fs::write(
        &config_path,
        serde_json::to_vec_pretty(&config).expect("json"),
    )
    .expect("write");
    let node = net.node_ids()[0];
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    let post = FakePostService::start(addr, node, PROOF_DELAY);
    let mut child = spawn(&config_path);

    let limit = Duration::from_secs(15);
    let poets = &net.poets;
    match step {
        Step::InitialPost => wait("the initial PoST", limit, || post.proofs() >= 1).await,
        Step::PoetRegistered => {
            wait("a PoET registration", limit, || {
                poets.iter().any(|p| p.submits() >= 1)
            })
            .await
        }
        Step::WaitingForRoundEnd => {
            wait("a PoET registration", limit, || {
                poets.iter().all(|p| p.submits() >= 1)
            })
            .await;
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        Step::PoetProofFetched => {
            wait("a PoET proof", limit, || {
                poets.iter().any(|p| p.proofs_served() >= 1)
            })
            .await
        }
        Step::Proving => {
            wait("a PoST request for the PoET proof", limit, || {
                post.challenges() >= 2
            })
            .await
        }
        Step::SignedNotPublished => {
            // Nodes go down while the NIPoST's PoST is being made, so the ATX built from it
            // cannot be sent.
            wait("a PoST request for the PoET proof", limit, || {
                post.challenges() >= 2
            })
            .await;
            for n in &net.nodes {
                n.set_fault(simnet::Fault::Stop);
            }
            let db = net.data.path().join("smesher-atx.sqlite");
            wait("the signed ATX in the database", limit, || {
                unsent_atx(&db).is_some()
            })
            .await;
        }
        Step::Published => {
            wait("a published ATX", limit, || {
                !net.network.published_on("ax1").is_empty()
            })
            .await
        }
    }
    sigkill(&mut child);
    // The ATX signed before the kill and never sent, as its database holds it.
    let unsent: Option<(u32, Vec<u8>)> = match step {
        Step::SignedNotPublished => Some(
            unsent_atx(&net.data.path().join("smesher-atx.sqlite")).expect("a built, unsent ATX"),
        ),
        _ => None,
    };
    for n in &net.nodes {
        if n.fault() == simnet::Fault::Stop {
            n.restart().await.expect("node restarts");
        }
    }
    let child_restarted = spawn(&config_path);
    let mut child = child_restarted;
    let done = net.wait_for_atxs(2, Duration::from_secs(20)).await;
    sigkill(&mut child);

    let violations = net.network.atx_violations();
    assert!(violations.is_empty(), "killed at {step:?}: {violations:#?}");
    assert!(
        done,
        "killed at {step:?}: ATXs of epochs {:?} only",
        net.atx_epochs(&node)
    );
    if let Some((epoch, bytes)) = unsent {
        let sent: Vec<_> = net
            .network
            .published_on("ax1")
            .into_iter()
            .filter(|p| {
                codec::from_slice::<codec::ActivationTxV1>(&p.bytes)
                    .is_ok_and(|a| a.inner.challenge.publish_epoch == epoch)
            })
            .collect();
        assert!(!sent.is_empty(), "the ATX of epoch {epoch} was never sent");
        assert!(
            sent.iter().all(|p| p.bytes.as_ref() == bytes.as_slice()),
            "after the restart a different ATX was sent for epoch {epoch}"
        );
    }
    // Every ATX blob sent for one epoch is the same bytes.
    let mut by_epoch = std::collections::HashMap::new();
    for p in net.network.published_on("ax1") {
        let atx: codec::ActivationTxV1 = codec::from_slice(&p.bytes).expect("decodes");
        let first = by_epoch
            .entry(atx.inner.challenge.publish_epoch)
            .or_insert_with(|| p.bytes.clone());
        assert_eq!(
            *first, p.bytes,
            "killed at {step:?}: two different ATX blobs in one epoch"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_initial_post_resumes() {
    kill_at(Step::InitialPost).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_poet_registration_resumes() {
    kill_at(Step::PoetRegistered).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_waiting_for_round_end_resumes() {
    kill_at(Step::WaitingForRoundEnd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_poet_proof_fetched_resumes() {
    kill_at(Step::PoetProofFetched).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_proving_resumes() {
    kill_at(Step::Proving).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_right_after_publish_sends_the_same_atx() {
    kill_at(Step::Published).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_a_signed_atx_not_yet_published_sends_it_after_restart() {
    kill_at(Step::SignedNotPublished).await;
}

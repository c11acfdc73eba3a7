//! The ATX duty end to end: three identities publish one valid ATX per epoch through node
//! restarts, a PoET that is down, and report their states in order.

mod atx_common;

use std::time::Duration;

use atx_common::AtxNet;
use simnet::{Fault, PoetFault};
use smesher::api::store::{Order, StatesQuery};
use smesher::api::StateDetail;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_identity_publishes_one_valid_atx_per_epoch_through_node_restarts() {
    let net = AtxNet::start(3, 2).await;
    let (service, _posts) = net.start_service().await;

    // Kill the active node every few layers and bring it back.
    let killer = async {
        loop {
            tokio::time::sleep(Duration::from_millis(900)).await;
            let active = service
                .gateway()
                .status()
                .iter()
                .find(|s| s.active)
                .map(|s| s.priority);
            if let Some(i) = active {
                net.nodes[i].set_fault(Fault::Stop);
                tokio::time::sleep(Duration::from_millis(400)).await;
                net.nodes[i].restart().await.expect("restart");
            }
        }
    };
    let done = tokio::select! {
        ok = net.wait_for_atxs(3, Duration::from_secs(40)) => ok,
        _ = killer => unreachable!("the killer loops forever"),
    };
    assert!(
        done,
        "not every identity got three ATXs: {:?}",
        net.node_ids()
            .iter()
            .map(|n| net.atx_epochs(n))
            .collect::<Vec<_>>()
    );
    net.assert_one_per_epoch();
    // Each ATX arrived with its PoET proof.
    let atxs = net.network.published_on("ax1");
    // The current epoch's ATXs are regossiped (the same bytes, on `ax1`).
    let regossiped: Vec<_> = atxs
        .iter()
        .filter(|p| p.kind == simnet::PublishKind::Gossip)
        .collect();
    assert!(!regossiped.is_empty(), "no ATX was regossiped");
    assert!(regossiped.iter().all(|g| atxs
        .iter()
        .any(|p| p.kind != simnet::PublishKind::Gossip && p.bytes == g.bytes)));
    assert!(atxs.iter().any(|p| p.kind
        == simnet::PublishKind::Atx {
            with_poet_proof: true
        }));

    // States: each identity went through the cycle in order, with metadata.
    for node in net.node_ids() {
        let states = service.identity_states().states(&StatesQuery {
            smeshers: vec![node.to_vec()],
            order: Order::default(),
            ..StatesQuery::default()
        });
        let names: Vec<i32> = states.iter().map(|s| s.detail.state_number()).collect();
        // WAITING_FOR_POET_REGISTRATION_WINDOW … ATX_BROADCASTED, once per epoch, in order.
        let cycle = [3, 4, 5, 6, 7, 8, 9, 10, 11];
        let full_cycles = names.windows(cycle.len()).filter(|w| *w == cycle).count();
        assert!(full_cycles >= 2, "states out of order: {names:?}");
        // Every state of a cycle names its publish epoch (the initial PoST comes before one).
        assert!(states
            .iter()
            .filter(|s| matches!(s.detail.state_number(), 3..=7 | 10 | 11))
            .all(|s| s.publish_epoch.is_some()));
        let regs = states
            .iter()
            .find_map(|s| match &s.detail {
                StateDetail::PoetRegistered { registrations } => Some(registrations.clone()),
                _ => None,
            })
            .expect("registrations");
        assert_eq!(regs.len(), 2, "registered with both PoETs");
        assert!(regs
            .iter()
            .all(|r| r.challenge_hash.len() == 32 && !r.round_id.is_empty()));
        let ids: Vec<[u8; 32]> = states
            .iter()
            .filter_map(|s| match &s.detail {
                StateDetail::AtxBroadcasted { atx_id } => Some(*atx_id),
                _ => None,
            })
            .collect();
        let accepted: Vec<[u8; 32]> = net
            .network
            .accepted_atxs()
            .iter()
            .filter(|a| a.atx.smesher_id.0 == node)
            .map(|a| a.id)
            .collect();
        assert!(
            ids.iter().all(|id| accepted.contains(id)),
            "broadcast IDs are the accepted ATXs"
        );
        // The better PoET (more leaves) was chosen.
        assert!(states.iter().any(|s| matches!(&s.detail,
            StateDetail::PoetProofReceived { poet_url } if poet_url.trim_end_matches('/') == net.poets[1].url())));
    }
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_poet_down_for_a_round_still_gives_an_atx() {
    let net = AtxNet::start(1, 2).await;
    net.poets[1].set_fault(PoetFault::Down);
    let (service, _posts) = net.start_service().await;
    assert!(
        net.wait_for_atxs(1, Duration::from_secs(20)).await,
        "no ATX with one PoET down"
    );
    assert_eq!(net.poets[1].submits(), 0);
    assert!(net.poets[0].submits() >= 1);
    net.poets[1].set_fault(PoetFault::None);
    assert!(
        net.wait_for_atxs(2, Duration::from_secs(20)).await,
        "no second ATX"
    );
    net.assert_one_per_epoch();
    // The counter moves once the node's answer is back, just after simnet saw the ATX.
    let published = || {
        service
            .registry()
            .gather()
            .iter()
            .find(|f| f.name() == "smesher_atx_published_total")
            .map(|f| f.get_metric()[0].get_counter().get_value())
            .unwrap_or(0.0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while published() < 2.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "published counter {}",
            published()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_poet_answers_are_clear_errors_and_the_cycle_retries() {
    let net = AtxNet::start(1, 1).await;
    net.poets[0].set_fault(PoetFault::Garbage);
    let (service, _posts) = net.start_service().await;
    let node = net.node_ids()[0];
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let message = loop {
        let retrying = service.identity_states().states(&StatesQuery {
            smeshers: vec![node.to_vec()],
            states: vec![2],
            ..StatesQuery::default()
        });
        if let Some(m) = retrying.iter().find_map(|s| match &s.detail {
            StateDetail::Retrying { message } if message.contains("malformed") => {
                Some(message.clone())
            }
            _ => None,
        }) {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no RETRYING with a malformed-answer message"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        message.contains("PoET") && message.contains("info"),
        "{message}"
    );
    net.poets[0].set_fault(PoetFault::None);
    assert!(
        net.wait_for_atxs(1, Duration::from_secs(20)).await,
        "no ATX once the PoET recovered"
    );
    net.assert_one_per_epoch();
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn post_service_disconnected_while_proving_shows_retrying_and_completes() {
    let net = AtxNet::start(1, 1).await;
    // Proofs take a second, so the disconnect lands while the NIPoST's PoST is being made.
    let (service, posts) = net.start_service_with(Duration::from_secs(1)).await;
    let node = net.node_ids()[0];
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    // The all-zero challenge of the initial PoST, then the PoET proof reference.
    while posts[0].challenges() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no PoST request for the PoET proof"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        net.atx_epochs(&node).is_empty(),
        "disconnected before the first ATX"
    );
    posts[0].disconnect();
    let message = loop {
        let retrying = service.identity_states().states(&StatesQuery {
            smeshers: vec![node.to_vec()],
            states: vec![2],
            ..StatesQuery::default()
        });
        if let Some(m) = retrying.iter().find_map(|s| match &s.detail {
            StateDetail::Retrying { message } if message.contains("post-service") => {
                Some(message.clone())
            }
            _ => None,
        }) {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no RETRYING naming the post-service"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(message.contains(&hex::encode(node)), "{message}");
    posts[0].reconnect();
    assert!(
        net.wait_for_atxs(1, Duration::from_secs(20)).await,
        "no ATX after the post-service came back"
    );
    net.assert_one_per_epoch();
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_node_answers_are_clear_errors_and_the_cycle_retries() {
    let net = AtxNet::start(1, 1).await;
    for n in &net.nodes {
        n.set_fault(Fault::Garbage(simnet::GarbageKind::InvalidJson));
    }
    let (service, _posts) = net.start_service().await;
    let node = net.node_ids()[0];
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let message = loop {
        let retrying = service.identity_states().states(&StatesQuery {
            smeshers: vec![node.to_vec()],
            states: vec![2],
            ..StatesQuery::default()
        });
        if let Some(m) = retrying.iter().find_map(|s| match &s.detail {
            StateDetail::Retrying { message } if message.contains("node-service") => {
                Some(message.clone())
            }
            _ => None,
        }) {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no RETRYING naming the node-service"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!message.is_empty());
    for n in &net.nodes {
        n.set_fault(Fault::None);
    }
    assert!(
        net.wait_for_atxs(1, Duration::from_secs(20)).await,
        "no ATX once the nodes answered properly"
    );
    net.assert_one_per_epoch();
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_while_proving_returns_promptly() {
    let net = AtxNet::start(1, 1).await;
    let (service, posts) = net.start_service_with(Duration::from_secs(600)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while posts[0].challenges() < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "no PoST request for the initial PoST"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), service.shutdown())
        .await
        .expect("shutdown while a PoST is being proven");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registration_through_the_poets_certifier() {
    let net = AtxNet::start(1, 1).await;
    net.poets[0].enable_certifier();
    let (service, _posts) = net.start_service().await;
    assert!(
        net.wait_for_atxs(2, Duration::from_secs(20)).await,
        "no ATXs with a certifier"
    );
    net.assert_one_per_epoch();
    assert!(
        net.poets[0].certified_submits() >= 2,
        "registrations were not certified"
    );
    assert_eq!(
        net.poets[0].certifications(),
        1,
        "the certificate is cached across epochs"
    );
    service.shutdown().await;
}

/// `GET path` on the JSON listener, the body as JSON.
async fn get_json(addr: std::net::SocketAddr, path: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    serde_json::from_str(body).expect("JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn states_over_the_json_api_show_the_cycle_with_metadata() {
    let net = AtxNet::start(1, 2).await;
    let json = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let listeners = smesher::api::ApiListeners {
        json: Some(json),
        ..Default::default()
    };
    let service = smesher::service::Service::start_with_api(
        &net.config(),
        None,
        listeners,
        prometheus::Registry::new(),
    )
    .await
    .expect("service starts");
    let addr = service.api().and_then(|a| a.json_addr()).expect("JSON API");
    let post = simnet::FakePostService::start(
        service.post_listener_addr().expect("post listener"),
        net.node_ids()[0],
        atx_common::PROOF_DELAY,
    );
    assert!(
        net.wait_for_atxs(1, Duration::from_secs(20)).await,
        "no ATX"
    );

    // ATX_BROADCASTED is recorded once the node's answer is back, just after simnet saw it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let answer = loop {
        let answer = get_json(
            addr,
            "/spacemesh.v2beta1.SmeshingIdentitiesService/States?order=ASC",
        )
        .await;
        let done = answer["states"]
            .as_array()
            .is_some_and(|v| v.iter().any(|s| s["state"] == "ATX_BROADCASTED"));
        if done {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no ATX_BROADCASTED: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let states = answer["states"].as_array().expect("states");
    let names: Vec<&str> = states.iter().filter_map(|s| s["state"].as_str()).collect();
    let cycle = [
        "WAITING_FOR_POET_REGISTRATION_WINDOW",
        "POET_CHALLENGE_READY",
        "POET_REGISTERED",
        "WAIT_FOR_POET_ROUND_END",
        "POET_PROOF_RECEIVED",
        "GENERATING_POST_PROOF",
        "POST_PROOF_READY",
        "ATX_READY",
        "ATX_BROADCASTED",
    ];
    assert!(
        names.windows(cycle.len()).any(|w| w == cycle),
        "no full cycle in order: {names:?}"
    );
    let find = |state: &str| {
        states
            .iter()
            .find(|s| s["state"] == state)
            .cloned()
            .expect(state)
    };
    let registered = find("POET_REGISTERED");
    let regs = registered["poetRegistered"]["registrations"]
        .as_array()
        .expect("registrations");
    assert_eq!(regs.len(), 2);
    assert!(regs.iter().all(|r| r["roundId"].is_string()
        && r["roundEnd"].is_string()
        && r["challengeHash"].is_string()));
    assert!(find("WAIT_FOR_POET_ROUND_END")["waitForPoetRoundEnd"]["publishEpochEnd"].is_string());
    let broadcast = find("ATX_BROADCASTED");
    let id = broadcast["atxBroadcasted"]["atxId"]
        .as_str()
        .expect("atxId");
    let accepted = net.network.accepted_atxs();
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(id)
            .expect("base64"),
        accepted[0].id.to_vec()
    );
    assert_eq!(
        broadcast["publishEpoch"].as_u64(),
        Some(u64::from(accepted[0].atx.inner.challenge.publish_epoch))
    );
    drop(post);
    service.shutdown().await;
}

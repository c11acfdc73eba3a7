//! Tests of a running fake node seen from an HTTP client: every route, the 503 gate, each fault, restart, gossip.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::{
    route, Atx, ChainConfig, Fault, GarbageKind, Network, Node, PublishKind, NOT_SYNCED_BODY,
};

const ID: [u8; 32] = [0x11; 32];
const ATX_ID: [u8; 32] = [0xa1; 32];

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        assert_eq!(
            self.ct(),
            Some("application/json"),
            "status {}",
            self.status
        );
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn ct(&self) -> Option<&str> {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn connect(addr: SocketAddr) -> std::io::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn send_on(
    sender: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Resp, hyper::Error> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    let res = sender.send_request(req).await?;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await?.to_bytes();
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// One request on a fresh connection.
async fn call(node: &Node, method: &str, path: &str, body: &[u8]) -> Resp {
    let mut s = connect(node.addr()).await.expect("connect");
    send_on(&mut s, method, path, body).await.expect("request")
}

async fn get(node: &Node, path: &str) -> Resp {
    call(node, "GET", path, b"").await
}

fn b64_len(v: &Value) -> usize {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_else(|| panic!("not a string: {v}")))
        .unwrap()
        .len()
}

/// A network at layer 25 (epoch 2) with one active identity and one ATX.
async fn setup() -> (Network, Node) {
    let net =
        Network::new(ChainConfig::new(Duration::from_secs(2), 10).starting_at_layer(25)).unwrap();
    net.set_weight(ID, 40);
    net.insert_atx(Atx {
        id: ATX_ID,
        smesher_id: ID,
        publish_epoch: 1,
        num_units: 4,
        tick_count: 10,
        weight: 40,
        sequence: 0,
    });
    let node = net.spawn_node().await;
    (net, node)
}

#[tokio::test]
async fn activation_routes() {
    let (net, node) = setup().await;
    let r = get(&node, &format!("/activation/atx/{}", hex::encode(ATX_ID))).await;
    assert_eq!(r.status, 200);
    assert!(r.body.ends_with(b"}\n"), "Go encoder newline");
    let v = r.json();
    assert_eq!(b64_len(&v["ID"]), 32);
    assert_eq!(b64_len(&v["SmesherID"]), 32);
    assert_eq!(v["ID"].as_str().unwrap().len(), 44);
    for (k, n) in [
        ("PublishEpoch", 1),
        ("NumUnits", 4),
        ("TickCount", 10),
        ("Weight", 40),
        ("Sequence", 0),
    ] {
        assert_eq!(v[k], n, "{k}");
    }
    let r = get(
        &node,
        &format!("/activation/atx/{}", hex::encode([9u8; 32])),
    )
    .await;
    assert_eq!((r.status, r.ct(), r.body.len()), (404, None, 0));
    let r = get(&node, "/activation/atx/xyz").await;
    assert_eq!((r.status, r.ct()), (400, Some("plain/text")));
    assert!(r.text().contains("atx_id"), "{}", r.text());

    let r = get(&node, &format!("/activation/last_atx/{}", hex::encode(ID))).await;
    assert_eq!(
        r.json()["ID"],
        base64::engine::general_purpose::STANDARD.encode(ATX_ID)
    );
    assert_eq!(
        get(
            &node,
            &format!("/activation/last_atx/{}", hex::encode([2u8; 32]))
        )
        .await
        .status,
        404
    );
    assert_eq!(get(&node, "/activation/last_atx/00").await.status, 400);

    let golden = base64::engine::general_purpose::STANDARD.encode(net.golden_atx());
    assert_eq!(
        get(&node, "/activation/positioning_atx/0").await.json()["ID"],
        golden
    );
    assert_eq!(
        b64_len(&get(&node, "/activation/positioning_atx/3").await.json()["ID"]),
        32
    );
    let r = get(&node, "/activation/positioning_atx/-1").await;
    assert_eq!((r.status, r.ct()), (400, Some("text/plain; charset=utf-8")));
    assert!(r
        .text()
        .starts_with("Invalid format for parameter publish_epoch"));
}

#[tokio::test]
async fn chain_routes() {
    let (net, node) = setup().await;
    let layer = net.clock().current_layer();
    let v = get(&node, "/beacon/2").await.json();
    assert_eq!(v["beacon"].as_str().unwrap().len(), 8);
    assert_eq!(b64_len(&v["beacon"]), 4);

    assert_eq!(
        b64_len(&get(&node, &format!("/blockids/{}", layer - 1)).await.json()["BlockID"]),
        20
    );
    let r = get(&node, &format!("/blockids/{}", layer + 5)).await;
    assert_eq!((r.status, r.body.len()), (404, 0));

    let v = get(&node, &format!("/eligibility/slots/{}/2", hex::encode(ID)))
        .await
        .json();
    assert!(v["nonce"].is_u64());
    assert_eq!(v["slots"], 500);
    assert_eq!(get(&node, "/eligibility/slots/zz/2").await.status, 500);

    assert_eq!(
        get(&node, &format!("/weights/miner/{}/2", hex::encode(ID)))
            .await
            .json()["weight"],
        40
    );
    assert_eq!(
        get(
            &node,
            &format!("/weights/miner/{}/2", hex::encode([3u8; 32]))
        )
        .await
        .json()["weight"],
        0
    );
    assert_eq!(
        get(&node, "/weights/miner/abc/2").await.ct(),
        Some("plain/text")
    );
    assert_eq!(get(&node, "/weights/total/2").await.json()["weight"], 40);
    assert_eq!(get(&node, "/weights/total/x").await.status, 400);
}

#[tokio::test]
async fn hare_and_proposal_routes() {
    let (net, node) = setup().await;
    let layer = net.clock().current_layer();
    let v = get(&node, &format!("/hare/round_template/{layer}/0/0"))
        .await
        .json();
    assert_eq!(b64_len(&v["Proposals"][0]), 20);
    assert!(v.get("Reference").is_none());
    let v = get(&node, &format!("/hare/round_template/{layer}/1/6"))
        .await
        .json();
    assert!(v["Proposals"].is_null());
    assert_eq!(b64_len(&v["Reference"]), 32);
    for path in [
        format!("/hare/round_template/{layer}/0/1"),
        format!("/hare/round_template/{}/0/3", layer + 3),
    ] {
        let r = get(&node, &path).await;
        assert_eq!((r.status, r.body.len(), r.ct()), (204, 0, None), "{path}");
    }
    assert_eq!(
        get(&node, &format!("/hare/round_template/{layer}/256/0"))
            .await
            .status,
        400
    );

    let v = get(&node, &format!("/proposal/{layer}/{}", hex::encode(ID)))
        .await
        .json();
    let ballot = &v["Ballot"];
    assert_eq!(b64_len(&ballot["AtxID"]), 32);
    assert_eq!(b64_len(&ballot["EpochData"]["Beacon"]), 4);
    assert_eq!(ballot["EpochData"]["EligibilityCount"], 500);
    assert_eq!(b64_len(&ballot["Votes"]["Base"]), 20);
    assert_eq!(b64_len(&ballot["Votes"]["Support"][0]["ID"]), 20);
    assert!(ballot["Votes"]["Against"].as_array().unwrap().is_empty());
    assert!(v["TxIDs"].as_array().unwrap().is_empty());
    assert_eq!(b64_len(&v["MeshHash"]), 32);
    assert!(v["VrfNonce"].is_u64());
    assert_eq!(
        get(
            &node,
            &format!("/proposal/{layer}/{}", hex::encode([5u8; 32]))
        )
        .await
        .status,
        204
    );
    assert_eq!(
        get(&node, &format!("/proposal/{layer}/nothex")).await.ct(),
        Some("plain/text")
    );
}

#[tokio::test]
async fn publish_routes_record_gossip_once_per_call() {
    let (net, node) = setup().await;
    let other = net.spawn_node().await;
    let r = call(&node, "POST", "/publish/hare3", b"hare-msg").await;
    assert_eq!((r.status, r.body.len()), (200, 0));
    call(&other, "POST", "/publish/pp1", b"proposal").await;
    let blob = base64::engine::general_purpose::STANDARD.encode(b"atx-bytes");
    let body = format!(
        r#"{{"AtxBlob":"{blob}","PoetProof":{{"Statement":"{}"}}}}"#,
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    );
    assert_eq!(
        call(&node, "POST", "/activation/publish", body.as_bytes())
            .await
            .status,
        200
    );
    let r = call(&node, "POST", "/activation/publish", b"{not json").await;
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("can't decode JSON body"));

    let mine = node.published();
    assert_eq!(mine.len(), 2);
    assert_eq!(
        (mine[0].protocol.as_str(), &mine[0].bytes[..]),
        ("/h/3.0", &b"hare-msg"[..])
    );
    assert_eq!(
        mine[1].kind,
        PublishKind::Atx {
            with_poet_proof: true
        }
    );
    assert_eq!(&mine[1].bytes[..], b"atx-bytes");
    assert_eq!(other.published()[0].protocol, "pp1");
    assert_eq!(net.published().len(), 3);
    assert_eq!(net.published_on("ax1").len(), 1);
    assert_eq!(node.requests(route::PUBLISH_ATX), 2);
    assert_eq!(node.requests(route::PUBLISH), 1);
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let (_net, node) = setup().await;
    let r = get(&node, "/nothing/here").await;
    assert_eq!((r.status, r.text().as_str()), (404, "404 page not found\n"));
    let r = call(&node, "POST", "/beacon/1", b"").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow").unwrap(), "GET, HEAD");
    let r = get(&node, "/spacemesh.v2alpha1.NodeService/Status").await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (405, Some(12)));
    assert_eq!(node.requests(route::UNKNOWN), 1);
    assert_eq!(node.total_requests(), 3);
}

#[tokio::test]
async fn v2_status_and_info() {
    let (net, node) = setup().await;
    for (m, p) in [
        ("GET", "/spacemesh.v2beta1.NodeService/Status"),
        ("POST", "/spacemesh.v2alpha1.NodeService/Status"),
    ] {
        let v = call(&node, m, p, b"{}").await.json();
        assert_eq!(v["status"], "SYNC_STATUS_SYNCED");
        assert_eq!(v["connectedPeers"], "8");
        assert!(v["currentLayer"].as_u64().unwrap() >= 25);
    }
    for (m, p) in [
        ("GET", "/spacemesh.v2beta1.NetworkService/Info"),
        ("POST", "/spacemesh.v2alpha1.NetworkService/Info"),
    ] {
        let v = call(&node, m, p, b"{}").await.json();
        assert_eq!(v["layerDuration"], "2s");
        assert_eq!(v["layersPerEpoch"], 10);
        assert_eq!(v["hrp"], "sm");
        assert_eq!(v["labelsPerUnit"], "4294967296");
        assert_eq!(b64_len(&v["genesisId"]), 20);
        assert!(v["genesisTime"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            v["genesisId"],
            base64::engine::general_purpose::STANDARD.encode(net.genesis_id())
        );
    }
    assert_eq!(node.requests(route::V2_STATUS), 2);
    assert_eq!(node.requests(route::V2_INFO), 2);
}

#[tokio::test]
async fn unsynced_gates_every_node_service_route() {
    let (net, node) = setup().await;
    node.set_fault(Fault::Unsynced);
    let id = hex::encode(ID);
    for (m, p) in [
        ("GET", format!("/activation/atx/{id}")),
        ("GET", format!("/activation/last_atx/{id}")),
        ("GET", "/activation/positioning_atx/1".to_string()),
        ("POST", "/activation/publish".to_string()),
        ("GET", "/beacon/1".to_string()),
        ("GET", "/blockids/1".to_string()),
        ("GET", format!("/eligibility/slots/{id}/1")),
        ("GET", "/hare/round_template/1/0/0".to_string()),
        ("GET", format!("/proposal/1/{id}")),
        ("POST", "/publish/pp1".to_string()),
        ("GET", format!("/weights/miner/{id}/1")),
        ("GET", "/weights/total/1".to_string()),
        // Hex IDs are checked after the gate.
        ("GET", "/activation/atx/bad".to_string()),
    ] {
        let body: &[u8] = if p == "/activation/publish" {
            br#"{"AtxBlob":"YQ=="}"#
        } else {
            b"x"
        };
        let r = call(&node, m, &p, body).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (503, NOT_SYNCED_BODY),
            "{m} {p}"
        );
        assert_eq!(r.ct(), Some("text/plain; charset=utf-8"));
    }
    assert!(net.published().is_empty());
    // Bad integers and malformed JSON are rejected before the gate.
    assert_eq!(get(&node, "/beacon/x").await.status, 400);
    assert_eq!(
        call(&node, "POST", "/activation/publish", b"{")
            .await
            .status,
        400
    );
    let v = get(&node, "/spacemesh.v2beta1.NodeService/Status")
        .await
        .json();
    assert_eq!(v["status"], "SYNC_STATUS_SYNCING");
    assert!(v["currentLayer"].as_u64().unwrap() + 10 <= u64::from(net.clock().current_layer()));
    node.set_fault(Fault::None);
    assert_eq!(get(&node, "/beacon/1").await.status, 200);
}

#[tokio::test]
async fn lagging_node_serves_but_reports_an_old_layer() {
    let (net, node) = setup().await;
    node.set_fault(Fault::Lagging(6));
    let v = get(&node, "/spacemesh.v2beta1.NodeService/Status")
        .await
        .json();
    assert_eq!(v["status"], "SYNC_STATUS_SYNCED");
    let wall = u64::from(net.clock().current_layer());
    assert!((wall - 7..=wall - 6).contains(&v["currentLayer"].as_u64().unwrap()));
    assert_eq!(get(&node, "/beacon/1").await.status, 200);
}

#[tokio::test]
async fn stop_refuses_connections_and_a_later_fault_listens_again() {
    let (_net, node) = setup().await;
    let mut kept = connect(node.addr()).await.unwrap();
    assert_eq!(
        send_on(&mut kept, "GET", "/beacon/1", b"")
            .await
            .unwrap()
            .status,
        200
    );
    node.set_fault(Fault::Stop);
    let err = TcpStream::connect(node.addr()).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(
        send_on(&mut kept, "GET", "/beacon/1", b"").await.is_err(),
        "open connection dropped"
    );
    node.set_fault(Fault::None);
    assert_eq!(get(&node, "/beacon/1").await.status, 200);
}

#[tokio::test]
async fn restart_keeps_port_and_state() {
    let (net, node) = setup().await;
    let addr = node.addr();
    call(&node, "POST", "/publish/bc1", b"cert").await;
    let mut kept = connect(addr).await.unwrap();
    assert_eq!(
        send_on(&mut kept, "GET", "/weights/total/2", b"")
            .await
            .unwrap()
            .status,
        200
    );
    node.set_fault(Fault::Slow(Duration::from_millis(1)));
    node.restart().await.unwrap();
    assert_eq!(node.addr(), addr);
    assert!(send_on(&mut kept, "GET", "/weights/total/2", b"")
        .await
        .is_err());
    assert_eq!(get(&node, "/weights/total/2").await.json()["weight"], 40);
    assert_eq!(node.fault(), Fault::Slow(Duration::from_millis(1)));
    assert_eq!(node.published().len(), 1);
    assert_eq!(node.requests(route::WEIGHTS_TOTAL), 2);
    node.set_fault(Fault::Stop);
    node.restart().await.unwrap();
    assert_eq!(node.fault(), Fault::None);
    assert_eq!(get(&node, "/beacon/1").await.status, 200);
    drop(node);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "dropping the node closes it"
    );
    drop(net);
}

#[tokio::test]
async fn hang_accepts_but_never_answers() {
    let (_net, node) = setup().await;
    node.set_fault(Fault::Hang);
    let mut s = connect(node.addr()).await.expect("hang still accepts");
    let r = tokio::time::timeout(
        Duration::from_millis(200),
        send_on(&mut s, "GET", "/beacon/1", b""),
    )
    .await;
    assert!(r.is_err(), "client timed out");
    assert_eq!(node.requests(route::BEACON), 1, "request was read");
    node.set_fault(Fault::None);
    assert_eq!(get(&node, "/beacon/1").await.status, 200);
}

#[tokio::test]
async fn slow_adds_latency_and_status_overrides_every_route() {
    let (_net, node) = setup().await;
    node.set_fault(Fault::Slow(Duration::from_millis(150)));
    let t = Instant::now();
    assert_eq!(get(&node, "/beacon/1").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    node.set_fault(Fault::Status(502));
    for p in [
        "/beacon/1",
        "/weights/total/1",
        "/spacemesh.v2beta1.NodeService/Status",
        "/nope",
    ] {
        assert_eq!(get(&node, p).await.status, 502, "{p}");
    }
    node.set_fault(Fault::Status(500));
    assert_eq!(call(&node, "POST", "/publish/pp1", b"x").await.status, 500);
}

#[tokio::test]
async fn garbage_breaks_json_answers_only() {
    let (_net, node) = setup().await;
    let path = format!("/activation/atx/{}", hex::encode(ATX_ID));
    let good = get(&node, &path).await.body;

    node.set_fault(Fault::Garbage(GarbageKind::InvalidJson));
    let r = get(&node, &path).await;
    assert_eq!((r.status, r.ct()), (200, Some("application/json")));
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    // Non-JSON answers are untouched.
    assert_eq!(get(&node, "/blockids/99999").await.status, 404);

    node.set_fault(Fault::Garbage(GarbageKind::TruncatedJson));
    let r = get(&node, "/spacemesh.v2beta1.NodeService/Status").await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    assert_eq!(get(&node, &path).await.body, good.slice(..good.len() / 2));

    node.set_fault(Fault::Garbage(GarbageKind::Oversized(3 << 20)));
    let r = get(&node, &path).await;
    assert_eq!(r.body.len(), good.len() + (3 << 20));
    assert_eq!(
        r.headers.get("content-length").unwrap(),
        &(good.len() + (3 << 20)).to_string()
    );
}

#[tokio::test]
async fn keep_alive_serves_many_requests_on_one_connection() {
    let (_net, node) = setup().await;
    let mut s = connect(node.addr()).await.unwrap();
    for _ in 0..5 {
        assert_eq!(
            send_on(&mut s, "GET", "/weights/total/2", b"")
                .await
                .unwrap()
                .status,
            200
        );
    }
    assert_eq!(node.requests(route::WEIGHTS_TOTAL), 5);
}

#[tokio::test]
async fn wait_requests_sees_traffic_from_another_task() {
    let (_net, node) = setup().await;
    let addr = node.addr();
    let client = tokio::spawn(async move {
        let mut s = connect(addr).await.unwrap();
        for _ in 0..3 {
            send_on(&mut s, "GET", "/beacon/3", b"").await.unwrap();
        }
    });
    assert_eq!(
        node.wait_requests(route::BEACON, 3, Duration::from_secs(5))
            .await,
        3
    );
    client.await.unwrap();
    assert_eq!(
        node.wait_requests(route::PROPOSAL, 1, Duration::from_millis(30))
            .await,
        0
    );
}

#[tokio::test]
async fn dropping_a_node_ends_all_its_tasks() {
    let (_net, node) = setup().await;
    let alive = node.liveness();
    node.set_fault(Fault::Hang);
    let mut hung = connect(node.addr()).await.unwrap();
    let pending =
        tokio::spawn(async move { send_on(&mut hung, "GET", "/beacon/1", b"").await.is_err() });
    node.wait_requests(route::BEACON, 1, Duration::from_secs(5))
        .await;
    node.set_fault(Fault::Stop);
    node.set_fault(Fault::None);
    drop(node);
    assert!(
        pending.await.unwrap(),
        "the hung request fails once the node is gone"
    );
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(alive.upgrade().is_none(), "a task still holds the node");
}

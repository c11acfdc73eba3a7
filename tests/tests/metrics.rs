//! `/metrics`, `/status` and `/healthz` scraped over HTTP from the admin listener.

mod common;

use bytes::Bytes;
use common::{within, Harness};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use simnet::Fault;

async fn get(url: String) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let resp = client
        .request(http::Request::get(url).body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_requests_latency_health_lag_active_and_failovers() {
    let h = Harness::start(3, json!({})).await;
    for _ in 0..5 {
        within(5, h.service.node().beacon(1)).await.unwrap();
    }
    h.nodes[0].set_fault(Fault::Stop);
    within(5, h.service.node().beacon(1)).await.unwrap();
    h.wait_until("node 0 is seen down", || !h.is_healthy(0))
        .await;

    let admin = h.service.admin_addr().unwrap();
    let (status, text) = get(format!("http://{admin}/metrics")).await;
    assert_eq!(status, 200);
    let n0 = h.node_label(0);
    let n1 = h.node_label(1);
    let expect = [
        format!(
            r#"smesher_upstream_requests_total{{code="200",pool="node-service",upstream="{n0}"}} 5"#
        ),
        format!(
            r#"smesher_upstream_requests_total{{code="200",pool="node-service",upstream="{n1}"}} 1"#
        ),
        format!(
            r#"smesher_upstream_requests_total{{code="error",pool="node-service",upstream="{n0}"}} 1"#
        ),
        format!(
            r#"smesher_upstream_request_duration_seconds_bucket{{pool="node-service",upstream="{n0}",le="0.0001"}}"#
        ),
        format!(r#"smesher_upstream_healthy{{pool="node-service",upstream="{n0}"}} 0"#),
        format!(r#"smesher_upstream_healthy{{pool="node-service",upstream="{n1}"}} 1"#),
        format!(r#"smesher_upstream_sync_lag_layers{{pool="node-service",upstream="{n1}"}} 0"#),
        format!(r#"smesher_upstream_active{{pool="node-service",upstream="{n1}"}} 1"#),
        format!(r#"smesher_upstream_active{{pool="node-service",upstream="{n0}"}} 0"#),
        r#"smesher_failovers_total{pool="node-service",reason="transport"} 1"#.to_owned(),
        r#"smesher_healthy_upstreams{pool="node-service"} 2"#.to_owned(),
    ];
    for line in &expect {
        assert!(
            text.lines().any(|l| l.starts_with(line.as_str())),
            "/metrics lacks {line}\n---\n{text}"
        );
    }

    let (status, body) = get(format!("http://{admin}/status")).await;
    assert_eq!(status, 200);
    let table: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rows = table["node_service"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["url"], n0.as_str());
    assert_eq!(rows[0]["healthy"], false);
    assert_eq!(rows[1]["active"], true);
    let rendered = smesher::admin::render_table(&table);
    assert!(
        rendered.contains(&n1) && rendered.contains("healthy"),
        "{rendered}"
    );

    let (status, _) = get(format!("http://{admin}/healthz")).await;
    assert_eq!(status, 200);
    for node in &h.nodes {
        node.set_fault(Fault::Stop);
    }
    h.wait_until("no node is healthy", || h.healthy() == 0)
        .await;
    let (status, _) = get(format!("http://{admin}/healthz")).await;
    assert_eq!(status, 503);
}

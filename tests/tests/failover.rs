//! The node-service gateway against three simnet nodes with real faults: kill, hang, unsynced,
//! lagging, garbage, total outage, fail-back, reload under load.

mod common;

use std::time::{Duration, Instant};

use common::{within, Harness};
use serde_json::json;
use simnet::{Fault, GarbageKind};
use smesher::node::NodeError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_active_node_under_load_fails_no_call() {
    let h = Harness::start(3, json!({})).await;
    within(5, h.service.node().beacon(1)).await.unwrap();
    assert_eq!(h.active(), Some(0), "the first node is active");
    let load = h.load(4);
    load.wait_for_more(200).await;

    h.nodes[0].set_fault(Fault::Stop);
    load.wait_for_more(300).await;
    load.stop();
    load.assert_no_failures();
    assert_eq!(h.active(), Some(1), "the next node by priority took over");
    let failovers: f64 = ["transport", "down", "ejected", "timeout"]
        .iter()
        .filter_map(|r| h.metric("smesher_failovers_total", &[("reason", r)]))
        .sum();
    assert_eq!(failovers, 1.0, "exactly one fail-over is counted");
    assert_eq!(
        h.metric("smesher_failovers_total", &[("reason", "transport")]),
        Some(1.0),
        "the fail-over is counted with its reason (connection refused = transport)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_active_node_costs_one_per_try_timeout_and_no_failure() {
    let h = Harness::start(3, json!({})).await;
    let load = h.load(4);
    load.wait_for_more(100).await;
    h.nodes[0].set_fault(Fault::Hang);
    let started = Instant::now();
    load.wait_for_more(300).await;
    load.stop();
    load.assert_no_failures();
    assert_ne!(h.active(), Some(0), "the hanging node is no longer active");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "calls moved on after the per-try timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsynced_node_is_left_after_fall_probes_and_taken_back_after_rise() {
    let h = Harness::start(3, json!({ "failback-after": "1ms" })).await;
    h.nodes[0].set_fault(Fault::Unsynced);
    h.wait_until("node 0 is seen unsynced", || !h.is_healthy(0))
        .await;
    let state = &h.service.gateway().status()[0];
    assert_eq!(
        state.state.as_str(),
        "unsynced",
        "unsynced, not dead: {state:?}"
    );
    // A call now goes to node 1 without error.
    within(5, h.service.node().beacon(1)).await.unwrap();
    assert_eq!(h.active(), Some(1));
    assert_eq!(
        h.nodes[0].requests(simnet::route::BEACON),
        0,
        "no call reached the unsynced node"
    );

    h.nodes[0].set_fault(Fault::None);
    h.wait_until("node 0 is healthy again", || h.is_healthy(0))
        .await;
    // With fail-back after 1 ms the calls go back to node 0.
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.active() != Some(0) {
        assert!(Instant::now() < deadline, "node 0 was never taken back");
        within(5, h.service.node().beacon(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_node_is_not_chosen() {
    let h = Harness::start(3, json!({ "max-layer-lag": 2 })).await;
    h.nodes[0].set_fault(Fault::Lagging(5));
    h.wait_until("node 0 is seen lagging", || !h.is_healthy(0))
        .await;
    let state = &h.service.gateway().status()[0];
    assert!(
        state.sync_lag.unwrap_or(0) >= 5,
        "lag is reported: {state:?}"
    );
    within(5, h.service.node().beacon(1)).await.unwrap();
    assert_eq!(h.active(), Some(1));
    // Within the allowed lag the node is fine.
    h.nodes[1].set_fault(Fault::Lagging(1));
    within(5, h.service.node().beacon(1)).await.unwrap();
    assert!(h.is_healthy(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_back_waits_for_failback_after() {
    let h = Harness::start(3, json!({ "failback-after": "1500ms" })).await;
    h.nodes[0].set_fault(Fault::Stop);
    within(5, h.service.node().beacon(1)).await.unwrap();
    assert_eq!(h.active(), Some(1));
    h.wait_until("node 0 is seen down", || !h.is_healthy(0))
        .await;

    h.nodes[0].set_fault(Fault::None);
    h.wait_until("node 0 is healthy again", || h.is_healthy(0))
        .await;
    let healthy_since = Instant::now();
    // Calls keep going to node 1 until node 0 has been healthy for 1.5 s.
    loop {
        within(5, h.service.node().beacon(1)).await.unwrap();
        if h.active() == Some(0) {
            break;
        }
        assert!(
            healthy_since.elapsed() < Duration::from_secs(8),
            "never failed back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        healthy_since.elapsed() >= Duration::from_millis(1300),
        "failed back after {:?}, before failback-after",
        healthy_since.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_failback_after_zero_the_primary_is_never_taken_back() {
    let h = Harness::start(2, json!({ "failback-after": "0s" })).await;
    h.nodes[0].set_fault(Fault::Stop);
    within(5, h.service.node().beacon(1)).await.unwrap();
    h.nodes[0].set_fault(Fault::None);
    h.wait_until("node 0 is healthy again", || h.is_healthy(0))
        .await;
    for _ in 0..30 {
        within(5, h.service.node().beacon(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        h.active(),
        Some(1),
        "sticky: no fail-back with failback-after 0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_nodes_down_fails_fast_naming_every_node_then_recovers() {
    let h = Harness::start(3, json!({})).await;
    for node in &h.nodes {
        node.set_fault(Fault::Stop);
    }
    h.wait_until("no node is healthy", || h.healthy() == 0)
        .await;
    assert_eq!(
        h.metric("smesher_healthy_upstreams", &[("pool", "node-service")]),
        Some(0.0)
    );
    let started = Instant::now();
    let err = within(5, h.service.node().beacon(1)).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "fails fast: {:?}",
        started.elapsed()
    );
    let text = err.to_string();
    for i in 0..3 {
        assert!(
            text.contains(&h.node_label(i)),
            "error names node {i}: {text}"
        );
    }
    assert!(matches!(err, NodeError::Failed(_)), "{err:?}");

    h.nodes[2].set_fault(Fault::None);
    h.wait_until("node 2 is healthy", || h.is_healthy(2)).await;
    within(5, h.service.node().beacon(1)).await.unwrap();
    assert_eq!(h.active(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_unsynced_is_reported_as_not_synced() {
    let h = Harness::start(2, json!({})).await;
    for node in &h.nodes {
        node.set_fault(Fault::Unsynced);
    }
    // Before the probes notice, the calls meet 503s; after, they fail fast. Either way the
    // caller learns that no node is in sync.
    let err = within(5, h.service.node().beacon(1)).await.unwrap_err();
    assert!(matches!(err, NodeError::NotSynced(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_and_oversized_bodies_fail_over() {
    for garbage in [
        GarbageKind::InvalidJson,
        GarbageKind::TruncatedJson,
        GarbageKind::Oversized(64 << 20),
    ] {
        let h = Harness::start(3, json!({ "max-response-bytes": 65536 })).await;
        h.nodes[0].set_fault(Fault::Garbage(garbage));
        for _ in 0..20 {
            let beacon = within(5, h.service.node().beacon(1)).await.unwrap();
            assert_eq!(
                beacon,
                h.network.beacon(1),
                "{garbage:?}: the answer is the real one"
            );
        }
        assert!(
            h.nodes[1].requests(simnet::route::BEACON) > 0,
            "{garbage:?}: node 1 served the calls"
        );
        let status = &h.service.gateway().status()[0];
        assert!(
            status.last_error.as_deref().unwrap_or("").contains("call:"),
            "{garbage:?}: the failure is recorded against node 0: {status:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stay_inside_the_budget_under_a_total_outage() {
    // Probes disabled in effect (long interval), so every call meets three 500s.
    let h = Harness::start(
        3,
        json!({ "health-interval": "1h", "eject-after": 1000000 }),
    )
    .await;
    for node in &h.nodes {
        node.set_fault(Fault::Status(500));
        node.reset_requests();
    }
    let calls = 300u64;
    let started = Instant::now();
    for _ in 0..calls {
        let _ = h.service.node().beacon(1).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let tries: u64 = h
        .nodes
        .iter()
        .map(|n| n.requests(simnet::route::BEACON))
        .sum();
    let retries = tries.saturating_sub(calls) as f64;
    // ratio 0.2 per request plus 10 per second over the 10 s window, plus the initial deposit.
    let allowed = 0.2 * calls as f64 + 10.0 * elapsed.max(10.0) + 1.0;
    assert!(
        retries <= allowed,
        "{retries} retries for {calls} calls exceed the budget of {allowed}"
    );
    assert!(
        h.metric(
            "smesher_retry_budget_exhausted_total",
            &[("pool", "node-service")]
        )
        .unwrap_or(0.0)
            > 0.0,
        "budget exhaustion is counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_the_upstream_list_under_load_fails_no_call() {
    let h = Harness::start(3, json!({})).await;
    let load = h.load(4);
    load.wait_for_more(100).await;
    // Drop node 0, reorder the rest, then add node 0 back at the end.
    let urls = |idx: &[usize]| -> Vec<String> { idx.iter().map(|&i| h.nodes[i].url()).collect() };
    for order in [vec![2, 1], vec![1, 2, 0], vec![0, 1, 2]] {
        let value = common::config_json(&h.network, &urls(&order), json!({}), h.data.path());
        h.service.reload(&common::parse_config(&value)).unwrap();
        load.wait_for_more(100).await;
    }
    load.stop();
    load.assert_no_failures();
    assert_eq!(h.service.gateway().status().len(), 3);
    assert_eq!(
        h.metric("smesher_config_reloads_total", &[("result", "success")]),
        Some(3.0)
    );
}

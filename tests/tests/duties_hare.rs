//! The hare and certification duties against three simnet nodes in compressed time, while
//! the active node is killed, hung and made unsynced in turn: every round in which an
//! identity is eligible is published exactly once and passes simnet's checks.

#[path = "duties_common/mod.rs"]
mod duties_common;

use std::collections::BTreeSet;

use duties_common::{accepted_hare, expected_certifiers, expected_hare, Duty};
use serde_json::json;
use simnet::{Fault, MessageSlot};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_eligible_round_is_published_once_through_kill_hang_and_unsynced() {
    let d = Duty::start(6, json!({})).await;
    let clock = d.network.clock().clone();
    let first = clock.current_layer() + 1;
    d.wait_for_layer(first + 1).await;

    for fault in [Fault::Stop, Fault::Hang, Fault::Unsynced] {
        let victim = d.active().expect("an active node");
        d.nodes[victim].set_fault(fault);
        d.wait_for_layer(clock.current_layer() + 2).await;
        d.wait_until("the faulty node is left", || d.active() != Some(victim))
            .await;
        d.nodes[victim].set_fault(Fault::None);
    }
    let last = clock.current_layer();
    // Let the sessions of the checked layers end (2 iterations after the layer's start).
    d.wait_for_layer(last + 3).await;

    let violations = d.network.violations();
    assert!(violations.is_empty(), "simnet flagged: {violations:#?}");

    let layers = first..=last;
    let expected = expected_hare(&d.network, &d.seeds, layers.clone());
    let got = accepted_hare(&d.network, layers.clone());
    assert!(
        expected.len() > 10 * (last - first) as usize,
        "the test exercises many eligible rounds: {}",
        expected.len()
    );
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "layers {first}..={last}: missing {missing:?}, not eligible but sent {extra:?}"
    );

    // Each message reached the network once: a fail-over retries only what no node took.
    let resent: Vec<_> = d
        .network
        .accepted()
        .into_iter()
        .filter(|a| a.copies != 1)
        .map(|a| (a.slot, a.copies))
        .collect();
    assert!(resent.is_empty(), "sent more than once: {resent:?}");

    for layer in layers {
        let certified: BTreeSet<[u8; 32]> = d
            .network
            .accepted()
            .into_iter()
            .filter(|a| a.slot == MessageSlot::Certify { layer })
            .map(|a| a.node_id)
            .collect();
        assert_eq!(
            certified,
            expected_certifiers(&d.network, &d.seeds, layer),
            "certificates of layer {layer}"
        );
    }
    let metric =
        |duty: &str, outcome: &str| duties_common::metric(d.service.registry(), duty, outcome);
    assert_eq!(metric("hare", "publish_failed"), 0.0);
    assert!(metric("hare", "published") >= expected.len() as f64);
    assert!(metric("certify", "published") > 0.0);
    d.service.shutdown().await;
}

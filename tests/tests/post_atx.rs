//! Real PoSTs in the ATX cycle: the built-in post-service (smeshing-opts-datadir) and remote
//! real post-services prove on tiny data, and simnet verifies the PoST of every published ATX;
//! proofs that are only well-formed are refused.

mod atx_common;

use std::sync::Arc;
use std::time::Duration;

use atx_common::AtxNet;
use simnet::real_post::{config_keys, init_data, merge};
use simnet::{FakePostService, PostChecker, PostParams, RealPostService};
use smesher::config::{self, Config, ConfigArgs};
use smesher::service::Service;

fn config_with(net: &AtxNet, params: &PostParams, datadir: Option<&std::path::Path>) -> Config {
    let mut v = net.config_json();
    merge(&mut v, &config_keys(params, datadir));
    match config::from_json_str(&v.to_string(), &ConfigArgs::default()) {
        Ok(loaded) => loaded.config,
        Err(errors) => panic!("test config rejected:\n{errors}\n{v:#}"),
    }
}

fn checker(net: &AtxNet, params: PostParams) -> Arc<PostChecker> {
    let checker = Arc::new(PostChecker::new(params).expect("RandomX light"));
    net.network.verify_post(checker.clone());
    checker
}

/// The built-in post-service dials the configured post listener, or with the listener off a
/// private loopback one on the same registry.
async fn builtin(listener_off: bool) {
    let net = AtxNet::start(1, 1).await;
    let params = PostParams::tiny();
    let checker = checker(&net, params);
    let id = net.node_ids()[0];
    let dir = net.data.path().join("post");
    init_data(&dir, &params, id, net.network.golden_atx(), 2).expect("tiny data");

    let mut config = config_with(&net, &params, Some(&dir));
    if listener_off {
        config.api.grpc_post_listener = None;
    }
    let registry = prometheus::Registry::new();
    let service = Service::start(&config, None, registry.clone())
        .await
        .expect("service starts");
    let ok = net.wait_for_atxs(2, Duration::from_secs(40)).await;
    assert!(
        ok,
        "ATXs: {:?}, violations: {:#?}",
        net.atx_epochs(&id),
        net.network.atx_violations()
    );
    net.assert_one_per_epoch();
    // Initial PoST + NIPoST PoST of the first ATX, the NIPoST PoST of the second.
    assert!(checker.verified() >= 3, "verified {}", checker.verified());
    assert_eq!(service.post_listener_addr().is_none(), listener_off);
    // Proving is visible in the metrics: proofs counted with their duration, the last pass's
    // position at its end.
    let families = registry.gather();
    let value = |name: &str| -> Option<f64> {
        let family = families.iter().find(|f| f.name() == name)?;
        let m = family.get_metric().first()?;
        Some(match family.get_field_type() {
            prometheus::proto::MetricType::COUNTER => m.get_counter().get_value(),
            prometheus::proto::MetricType::GAUGE => m.get_gauge().get_value(),
            _ => m.get_histogram().get_sample_count() as f64,
        })
    };
    assert!(value("smesher_post_proofs_total").unwrap_or(0.0) >= 3.0);
    assert!(value("smesher_post_proof_duration_seconds").unwrap_or(0.0) >= 3.0);
    let total = value("smesher_post_proving_total_bytes").unwrap_or(0.0);
    assert!(total > 0.0, "the data size of a pass is reported");
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builtin_post_service_proves_and_simnet_verifies_every_post() {
    builtin(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builtin_post_service_proves_with_the_post_listener_off() {
    builtin(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_builtin_data_stops_the_service_naming_the_file() {
    let net = AtxNet::start(1, 1).await;
    let params = PostParams::tiny();
    let dir = net.data.path().join("post");
    // Data of another identity.
    init_data(&dir, &params, [0xee; 32], net.network.golden_atx(), 1).expect("tiny data");
    let config = config_with(&net, &params, Some(&dir));
    let err = Service::start(&config, None, prometheus::Registry::new())
        .await
        .expect_err("the service refuses the data");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("postdata_metadata.json") && msg.contains("not an identity"),
        "{msg}"
    );
    // A truncated data file.
    let other = net.data.path().join("post2");
    init_data(
        &other,
        &params,
        net.node_ids()[0],
        net.network.golden_atx(),
        1,
    )
    .expect("tiny data");
    let file = other.join("postdata_0.bin");
    std::fs::write(&file, b"short").unwrap();
    let config = config_with(&net, &params, Some(&other));
    let err = Service::start(&config, None, prometheus::Registry::new())
        .await
        .expect_err("the service refuses the data");
    let msg = format!("{err:#}");
    assert!(msg.contains("postdata_0.bin"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_real_post_services_prove_and_fake_proofs_are_refused() {
    let net = AtxNet::start(2, 1).await;
    let params = PostParams::tiny();
    let checker = checker(&net, params);
    let ids = net.node_ids();
    let config = config_with(&net, &params, None);
    let service = Service::start(&config, None, prometheus::Registry::new())
        .await
        .expect("service starts");
    let addr = service.post_listener_addr().expect("post listener");

    // The first identity proves for real; the second one only sends well-formed proofs.
    let dir = net.data.path().join("post0");
    init_data(&dir, &params, ids[0], net.network.golden_atx(), 1).expect("tiny data");
    let _real = RealPostService::start(addr, &dir, &params).expect("real post-service");
    let _fake = FakePostService::start(addr, ids[1], Duration::from_millis(100));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let refused = net
            .network
            .atx_violations()
            .iter()
            .any(|v| v.smesher == Some(ids[1]) && v.reason.contains("PoST"));
        if net.atx_epochs(&ids[0]).len() >= 2 && refused {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "real: {:?}, violations: {:#?}",
            net.atx_epochs(&ids[0]),
            net.network.atx_violations()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(net
        .network
        .atx_violations()
        .iter()
        .all(|v| v.smesher == Some(ids[1])));
    assert!(net.atx_epochs(&ids[1]).is_empty());
    assert!(checker.verified() >= 3, "verified {}", checker.verified());
    service.shutdown().await;
}

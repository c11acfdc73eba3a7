//! Node-service upstreams over `https://` (behind a TLS-terminating proxy, as the hosted
//! node-service is), trusted through `gateway.ca-cert`.

mod common;

use common::{config_json, parse_config, within};
use serde_json::json;
use simnet::tls_front::TlsFront;
use simnet::v2upstream::TestCa;
use simnet::Network;
use smesher::service::Service;

/// A service over `urls` trusting `ca_file`; its data folder is the CA file's (temporary) folder.
async fn start(
    network: &Network,
    urls: &[String],
    ca_file: &std::path::Path,
) -> anyhow::Result<Service> {
    let data = ca_file.parent().expect("the CA file is in a folder");
    let config = parse_config(&config_json(
        network,
        urls,
        json!({ "ca-cert": ca_file.to_str().unwrap() }),
        data,
    ));
    Service::start(&config, None, prometheus::Registry::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_node_services_signed_by_the_configured_ca_work_and_fail_over() {
    let network = Network::new(common::chain()).unwrap();
    let nodes = network.spawn_nodes(2).await;
    let ca = TestCa::new("operator CA").unwrap();
    let fronts = [
        TlsFront::start(&ca, nodes[0].addr()).await.unwrap(),
        TlsFront::start(&ca, nodes[1].addr()).await.unwrap(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let urls: Vec<String> = fronts.iter().map(TlsFront::url).collect();
    let service = start(&network, &urls, &ca_file).await.unwrap();

    let beacon = within(5, service.node().beacon(1)).await.unwrap();
    assert_eq!(beacon, network.beacon(1));
    assert!(
        nodes[0].requests(simnet::route::BEACON) > 0,
        "served by node 0 over TLS"
    );

    // Fail-over works the same over TLS.
    nodes[0].set_fault(simnet::Fault::Stop);
    within(5, service.node().beacon(2)).await.unwrap();
    assert!(nodes[1].requests(simnet::route::BEACON) > 0);
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_certificate_of_another_ca_is_refused_naming_the_reason() {
    let network = Network::new(common::chain()).unwrap();
    let node = network.spawn_node().await;
    let (ours, theirs) = (TestCa::new("ours").unwrap(), TestCa::new("theirs").unwrap());
    let front = TlsFront::start(&theirs, node.addr()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ours.pem()).unwrap();
    let service = start(&network, &[front.url()], &ca_file).await.unwrap();
    let err = within(5, service.node().beacon(1)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("certificate") || text.contains("UnknownIssuer"),
        "the TLS failure is named: {text}"
    );
    assert_eq!(node.requests(simnet::route::BEACON), 0);
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_or_invalid_ca_file_stops_start_up_naming_it() {
    let network = Network::new(common::chain()).unwrap();
    let node = network.spawn_node().await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let err = start(&network, &[node.url()], &missing).await.unwrap_err();
    assert!(format!("{err:#}").contains("missing.pem"), "{err:#}");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let err = start(&network, &[node.url()], &garbage).await.unwrap_err();
    assert!(format!("{err:#}").contains("garbage.pem"), "{err:#}");
}

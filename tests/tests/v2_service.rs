//! The whole service with its v2 API: listeners passed to `Service::start_with_api`, loaded
//! identities visible through `States` from start-up on, other calls relayed to the
//! `proxy-api-v2-address` upstreams of the config.

mod common;
mod v2_support;

use http::StatusCode;
use simnet::v2upstream::V2Upstream;
use simnet::Network;
use smesher::api::ApiListeners;
use smesher::service::Service;
use tokio::net::TcpListener;

#[tokio::test]
async fn the_service_serves_local_states_and_relays_the_rest() {
    let network = Network::new(common::chain()).unwrap();
    let node = network.spawn_node().await;
    let up = V2Upstream::spawn("v2-a").await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut json = common::config_json(&network, &[node.url()], serde_json::json!({}), data.path());
    json["main"]["proxy-api-v2-address"] = serde_json::json!([up.url()]);
    json["api"] = serde_json::json!({ "grpc-cors-allowed-origins": ["https://app.example"] });
    let config = common::parse_config(&json);
    let listeners = ApiListeners {
        json: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        ..ApiListeners::default()
    };
    let service = Service::start_with_api(&config, None, listeners, prometheus::Registry::new())
        .await
        .unwrap();
    let api = service.api().expect("the API is served");
    let base = format!("http://{}", api.json_addr().unwrap());
    assert!(
        api.grpc_public_addr().is_none(),
        "only the listeners passed in are served"
    );

    let states = v2_support::get(&format!(
        "{base}/spacemesh.v2beta1.SmeshingIdentitiesService/States"
    ))
    .await;
    assert_eq!(states.status, StatusCode::OK, "{}", states.text());
    let v = states.json();
    let list = v["states"].as_array().unwrap();
    assert_eq!(list.len(), service.identities().len());
    assert_eq!(list[0]["state"], "WAIT_FOR_ATX_SYNCED");
    assert_eq!(list[0]["waitForAtxSynced"], serde_json::json!({}));
    use base64::Engine as _;
    let id = base64::engine::general_purpose::STANDARD
        .encode(service.identities()[0].node_id().as_bytes());
    assert_eq!(list[0]["smesher"], id);

    let poet = v2_support::get(&format!(
        "{base}/spacemesh.v2beta1.SmeshingIdentitiesService/PoetInfo"
    ))
    .await
    .json();
    assert!(poet["config"]["phaseShift"]
        .as_str()
        .unwrap()
        .ends_with('s'));

    let relayed = v2_support::call(
        &v2_support::client(),
        http::Method::GET,
        &format!("{base}/spacemesh.v2beta1.NetworkService/Info"),
        &[("origin", "https://app.example")],
        "",
    )
    .await;
    assert_eq!(relayed.status, StatusCode::OK, "{}", relayed.text());
    assert_eq!(relayed.json()["upstream"], "v2-a");
    assert_eq!(
        relayed.headers["access-control-allow-origin"],
        "https://app.example"
    );
    service.shutdown().await;
}

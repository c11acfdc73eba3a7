//! The whole path: a running smeshing service with its post listener on mutual TLS, the
//! `smesher post-service` binary proving for its identity over it, ATXs published to simnet
//! nodes that verify every PoST.

#[path = "../../tests/tests/atx_common/mod.rs"]
mod atx_common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use atx_common::AtxNet;
use serde_json::json;
use simnet::real_post::{config_keys, init_data, merge};
use simnet::{PostChecker, PostParams};
use smesher::config::{self, ConfigArgs};
use smesher::service::Service;

/// A CA, a server certificate for localhost and a client certificate, as PEM files.
fn certificates(dir: &std::path::Path) -> [std::path::PathBuf; 5] {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let ca_path = dir.join("ca.crt");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let (c, k) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    };
    let (server_cert, server_key) = leaf("server");
    let (client_cert, client_key) = leaf("client");
    [ca_path, server_cert, server_key, client_cert, client_key]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_proves_over_mtls_for_a_running_service_and_simnet_verifies() {
    let net = AtxNet::start(1, 1).await;
    let params = PostParams::tiny();
    let checker = Arc::new(PostChecker::new(params).expect("RandomX light"));
    net.network.verify_post(checker.clone());
    let id = net.node_ids()[0];
    let dir = net.data.path().join("post");
    init_data(&dir, &params, id, net.network.golden_atx(), 2).expect("tiny data");

    let [ca, server_cert, server_key, client_cert, client_key] = certificates(net.data.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut v = net.config_json();
    merge(&mut v, &config_keys(&params, None));
    merge(
        &mut v,
        &json!({ "api": {
            "grpc-post-listener": "",
            "grpc-tls-listener": format!("127.0.0.1:{port}"),
            "grpc-tls-ca-cert": ca.to_str().unwrap(),
            "grpc-tls-cert": server_cert.to_str().unwrap(),
            "grpc-tls-key": server_key.to_str().unwrap(),
        }}),
    );
    let config = match config::from_json_str(&v.to_string(), &ConfigArgs::default()) {
        Ok(loaded) => loaded.config,
        Err(errors) => panic!("test config rejected:\n{errors}\n{v:#}"),
    };
    let service = Service::start(&config, None, prometheus::Registry::new())
        .await
        .expect("service starts");
    assert_eq!(service.post_listener_addr(), None, "plaintext listener off");

    let log = net.data.path().join("post-service.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_smesher"))
        .arg("post-service")
        .args(["--dir", dir.to_str().unwrap()])
        .args(["--address", &format!("https://localhost:{port}")])
        .args(["--ca-cert", ca.to_str().unwrap()])
        .args(["--cert", client_cert.to_str().unwrap()])
        .args(["--key", client_key.to_str().unwrap()])
        .args(["--reconnect-interval", "200ms", "--min-num-units", "1"])
        .args([
            "--k1",
            &params.k1.to_string(),
            "--k2",
            &params.k2.to_string(),
        ])
        .args(["--pow-difficulty", &hex::encode(params.pow_difficulty)])
        .args([
            "-n",
            "16",
            "--threads",
            "1",
            "--nonces",
            "16",
            "--randomx-mode",
            "light",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    let ok = net.wait_for_atxs(2, Duration::from_secs(40)).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        ok,
        "ATXs: {:?}, violations: {:#?}\npost-service log:\n{}",
        net.atx_epochs(&id),
        net.network.atx_violations(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    net.assert_one_per_epoch();
    assert!(checker.verified() >= 3, "verified {}", checker.verified());
    service.shutdown().await;
}

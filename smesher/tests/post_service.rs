//! `smesher post-service` (the binary) proving through a post listener on loopback, plaintext
//! and mutual TLS; a second registration refused; a disconnect mid-proof; bad data folders.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;
use std::time::Duration;

use post::{
    InitConfig, InitOptions, PostMetadata, ProofConfig, RandomX, RandomXMode, ScryptParams,
    Verifier, VerifyMode,
};
use proto::spacemesh::v1 as pb;
use smesher::post::registry::ALREADY_REGISTERED;
use smesher::post::{PostListener, PostRegistry, RegistryOptions, TlsFiles};
use tokio::net::TcpListener;

const LABELS_PER_UNIT: u64 = 1024;
const K1: u32 = 20;
const K2: u32 = 24;

/// An easy k2pow threshold: about 1 in 4 hashes passes before scaling by units.
fn easy_pow() -> [u8; 32] {
    let mut d = [0xff; 32];
    d[0] = 0x3f;
    d
}

fn scrypt() -> ScryptParams {
    ScryptParams::new(16, 1, 1).unwrap()
}

/// Tiny PoST data for identity `[seed; 32]`.
fn data(dir: &Path, seed: u8) -> PostMetadata {
    post::init(
        dir,
        &InitOptions {
            node_id: [seed; 32],
            commitment_atx_id: [seed ^ 0x55; 32],
            labels_per_unit: LABELS_PER_UNIT,
            num_units: 2,
            max_file_size: 4096,
            scrypt: scrypt(),
            threads: 1,
        },
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap()
}

fn randomx() -> &'static RandomX {
    static POOL: OnceLock<RandomX> = OnceLock::new();
    POOL.get_or_init(|| RandomX::new(RandomXMode::Light, 1).unwrap())
}

/// A running `smesher post-service`, killed on drop; its stderr goes to a file.
struct Binary {
    child: Child,
    log: PathBuf,
}

impl Binary {
    fn start(dir: &Path, address: &str, log: PathBuf, extra: &[&str]) -> Binary {
        let stderr = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_smesher"))
            .arg("post-service")
            .args(["--dir", dir.to_str().unwrap(), "--address", address])
            .args(["--reconnect-interval", "200ms", "--min-num-units", "1"])
            .args(["--k1", &K1.to_string(), "--k2", &K2.to_string()])
            .args(["--pow-difficulty", &hex::encode(easy_pow())])
            .args(["-n", "16", "--threads", "1", "--nonces", "16"])
            .args(["--randomx-mode", "light"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        Binary { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry(query_interval: Duration) -> PostRegistry {
    PostRegistry::new(RegistryOptions {
        query_interval,
        ..RegistryOptions::default()
    })
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Waits for `meta`'s identity, asks for a proof and checks it with the verifier.
async fn prove_and_verify(registry: &PostRegistry, meta: &PostMetadata, binary: &Binary) {
    let client = registry
        .wait_for(&meta.node_id, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("the post-service never registered:\n{}", binary.log()));
    assert_eq!(client.info().num_units, meta.num_units);
    assert_eq!(client.info().nonce, meta.nonce);
    let challenge = [0xc5; 32];
    let (proof, info) = tokio::time::timeout(
        Duration::from_secs(40),
        registry.prove(&meta.node_id, challenge),
    )
    .await
    .expect("proof within 40 s")
    .unwrap_or_else(|e| panic!("{e}\n{}", binary.log()));
    assert_eq!(info.node_id, meta.node_id);
    assert_eq!(info.commitment_atx_id, meta.commitment_atx_id);
    let cfg = ProofConfig {
        k1: K1,
        k2: K2,
        pow_difficulty: easy_pow(),
    };
    let init = InitConfig {
        min_num_units: 1,
        max_num_units: 100,
        labels_per_unit: LABELS_PER_UNIT,
        scrypt: scrypt(),
    };
    let verifier = Verifier::new(randomx());
    verifier
        .verify(
            &proof,
            &info.proof_metadata(challenge),
            &cfg,
            &init,
            VerifyMode::All,
        )
        .expect("the proof verifies");
    let mut other = challenge;
    other[0] ^= 1;
    assert!(verifier
        .verify(
            &proof,
            &info.proof_metadata(other),
            &cfg,
            &init,
            VerifyMode::All
        )
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_proof_from_the_binary_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = data(&tmp.path().join("data"), 1);
    let registry = registry(Duration::from_millis(100));
    let listener = PostListener::start(registry.clone(), Some(bind().await), None).unwrap();
    let address = format!("http://{}", listener.addr().unwrap());
    let operator = free_port();
    let binary = Binary::start(
        &tmp.path().join("data"),
        &address,
        tmp.path().join("log"),
        &["--operator-address", &operator],
    );
    prove_and_verify(&registry, &meta, &binary).await;
    assert_eq!(http_get(&operator, "/status").await, "\"Idle\"");
    // Idle again: a second proof for another challenge is a new proof.
    let (proof, _) = registry.prove(&meta.node_id, [7; 32]).await.unwrap();
    assert!(!proof.indices.is_empty());
    listener.shutdown().await;
}

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// The body of `GET path` on `addr`.
async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files.
fn certificates(dir: &Path) -> (TlsFiles, TlsFiles) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |names: Vec<String>, name: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let cert_path = dir.join(format!("{name}.crt"));
        let key_path = dir.join(format!("{name}.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    };
    let ca_path = dir.join("ca.crt");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let (server_cert, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()], "server");
    let (client_cert, client_key) = leaf(vec!["post-service".into()], "client");
    (
        TlsFiles {
            ca_cert: ca_path.clone(),
            cert: server_cert,
            key: server_key,
        },
        TlsFiles {
            ca_cert: ca_path,
            cert: client_cert,
            key: client_key,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_proof_from_the_binary_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = data(&tmp.path().join("data"), 2);
    let (server, client) = certificates(tmp.path());
    let registry = registry(Duration::from_millis(100));
    let config = smesher::post::tls::server_config(&server).unwrap();
    let listener =
        PostListener::start(registry.clone(), None, Some((bind().await, config))).unwrap();
    let port = listener.tls_addr().unwrap().port();

    // Without a client certificate the handshake fails and nothing registers.
    let plain = Binary::start(
        &tmp.path().join("data"),
        &format!("http://127.0.0.1:{port}"),
        tmp.path().join("plain.log"),
        &["--max-retries", "1"],
    );
    assert!(registry
        .wait_for(&meta.node_id, Duration::from_millis(800))
        .await
        .is_none());
    drop(plain);

    let binary = Binary::start(
        &tmp.path().join("data"),
        &format!("https://localhost:{port}"),
        tmp.path().join("tls.log"),
        &[
            "--ca-cert",
            client.ca_cert.to_str().unwrap(),
            "--cert",
            client.cert.to_str().unwrap(),
            "--key",
            client.key.to_str().unwrap(),
        ],
    );
    prove_and_verify(&registry, &meta, &binary).await;
    listener.shutdown().await;
}

/// Opens a raw `Register` stream and answers the metadata request for `meta`; returns what
/// the server sends next.
async fn register_raw(
    address: &str,
    meta: &PostMetadata,
) -> Result<Option<pb::NodeRequest>, tonic::Status> {
    let channel = smesher::post::post_service::connect(&address.parse().unwrap(), None)
        .await
        .unwrap();
    let mut client = pb::post_service_client::PostServiceClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let outbound = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut inbound = client.register(outbound).await?.into_inner();
    let first = inbound.message().await?.expect("a first request");
    assert!(matches!(
        first.kind,
        Some(pb::node_request::Kind::Metadata(_))
    ));
    let info = smesher::post::PostInfo::from_post(meta).to_proto();
    tx.send(pb::ServiceResponse {
        kind: Some(pb::service_response::Kind::Metadata(pb::MetadataResponse {
            meta: Some(info),
        })),
    })
    .await
    .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), inbound.message()).await;
    drop(tx);
    match next {
        Ok(r) => r,
        Err(_) => Ok(None),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_registration_of_the_same_identity_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = data(&tmp.path().join("data"), 3);
    let registry = registry(Duration::from_millis(100));
    let listener = PostListener::start(registry.clone(), Some(bind().await), None).unwrap();
    let address = format!("http://{}", listener.addr().unwrap());
    let binary = Binary::start(
        &tmp.path().join("data"),
        &address,
        tmp.path().join("log"),
        &[],
    );
    registry
        .wait_for(&meta.node_id, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("never registered:\n{}", binary.log()));
    let status = register_raw(&address, &meta).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::AlreadyExists);
    assert_eq!(status.message(), ALREADY_REGISTERED);
    // The first one still proves.
    prove_and_verify(&registry, &meta, &binary).await;
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_without_coinbase_or_for_other_identities_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = data(&tmp.path().join("data"), 4);
    let refusing = PostRegistry::new(RegistryOptions {
        accept: false,
        ..RegistryOptions::default()
    });
    let listener = PostListener::start(refusing, Some(bind().await), None).unwrap();
    let status = register_raw(&format!("http://{}", listener.addr().unwrap()), &meta)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(status.message().contains("no coinbase"), "{status}");
    listener.shutdown().await;

    let others = PostRegistry::new(RegistryOptions {
        identities: Some(vec![([9; 32], "other".into())]),
        ..RegistryOptions::default()
    });
    let listener = PostListener::start(others.clone(), Some(bind().await), None).unwrap();
    let status = register_raw(&format!("http://{}", listener.addr().unwrap()), &meta)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert!(
        status.message().contains(&hex::encode(meta.node_id)),
        "{status}"
    );
    assert!(others.connected().is_empty());
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_mid_proof_reconnects_and_delivers_the_proof() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = data(&tmp.path().join("data"), 5);
    // A long query interval: the first request starts the proof, then the listener goes away.
    let first = registry(Duration::from_secs(3600));
    let socket = bind().await;
    let addr = socket.local_addr().unwrap();
    let listener = PostListener::start(first.clone(), Some(socket), None).unwrap();
    let binary = Binary::start(
        &tmp.path().join("data"),
        &format!("http://{addr}"),
        tmp.path().join("log"),
        &[],
    );
    first
        .wait_for(&meta.node_id, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("never registered:\n{}", binary.log()));
    let challenge = [0x42; 32];
    let asking = {
        let first = first.clone();
        let id = meta.node_id;
        tokio::spawn(async move { first.prove(&id, challenge).await })
    };
    // Let the first request reach the post-service, then drop the connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    listener.shutdown().await;
    let err = asking.await.unwrap().unwrap_err();
    assert!(
        matches!(err, smesher::post::PostError::Disconnected(_)),
        "{err}"
    );

    // The same port again: the post-service reconnects and hands over the proof it made.
    let second = registry(Duration::from_millis(100));
    let listener = PostListener::start(
        second.clone(),
        Some(TcpListener::bind(addr).await.unwrap()),
        None,
    )
    .unwrap();
    prove_and_verify_challenge(&second, &meta, &binary, challenge).await;
    assert!(binary.log().contains("proving started"));
    assert_eq!(
        binary.log().matches("proving started").count(),
        1,
        "{}",
        binary.log()
    );
    listener.shutdown().await;
}

async fn prove_and_verify_challenge(
    registry: &PostRegistry,
    meta: &PostMetadata,
    binary: &Binary,
    challenge: [u8; 32],
) {
    registry
        .wait_for(&meta.node_id, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("never reconnected:\n{}", binary.log()));
    let (proof, info) = tokio::time::timeout(
        Duration::from_secs(40),
        registry.prove(&meta.node_id, challenge),
    )
    .await
    .expect("proof within 40 s")
    .unwrap_or_else(|e| panic!("{e}\n{}", binary.log()));
    Verifier::new(randomx())
        .verify(
            &proof,
            &info.proof_metadata(challenge),
            &ProofConfig {
                k1: K1,
                k2: K2,
                pow_difficulty: easy_pow(),
            },
            &InitConfig {
                min_num_units: 1,
                max_num_units: 100,
                labels_per_unit: LABELS_PER_UNIT,
                scrypt: scrypt(),
            },
            VerifyMode::All,
        )
        .expect("the proof verifies");
}

/// Runs the binary on `dir` against a port nobody listens on; it must fail at once, naming
/// `culprit`, without a panic.
fn fails_naming(dir: &Path, culprit: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_smesher"))
        .args(["post-service", "--dir", dir.to_str().unwrap()])
        .args(["--address", "http://127.0.0.1:9", "--min-num-units", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(culprit), "{culprit} not named in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_data_folders_are_clear_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // Missing folder / metadata.
    fails_naming(&dir, "postdata_metadata.json");
    data(&dir, 6);
    // Truncated data file.
    let file = dir.join("postdata_1.bin");
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 16)
        .unwrap();
    fails_naming(&dir, "postdata_1.bin");
    // Missing data file.
    std::fs::remove_file(&file).unwrap();
    fails_naming(&dir, "postdata_1.bin");
    // Garbled metadata.
    std::fs::write(dir.join("postdata_metadata.json"), b"{\"NodeId\": 1").unwrap();
    fails_naming(&dir, "postdata_metadata.json");

    // Metadata of another identity: the built-in post-service refuses the folder.
    let other = tmp.path().join("other");
    data(&other, 7);
    let options = smesher::post::PostServiceOptions {
        dir: other.clone(),
        address: "http://127.0.0.1:9".parse().unwrap(),
        tls: None,
        reconnect_interval: Duration::from_secs(1),
        max_retries: None,
        proof: ProofConfig {
            k1: K1,
            k2: K2,
            pow_difficulty: easy_pow(),
        },
        init: InitConfig {
            min_num_units: 1,
            max_num_units: 100,
            labels_per_unit: LABELS_PER_UNIT,
            scrypt: scrypt(),
        },
        proving: post::ProvingOptions::default(),
        randomx_mode: RandomXMode::Light,
        identities: Some(vec![[8; 32]]),
    };
    let err = smesher::post::Prover::open(options.clone()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("postdata_metadata.json"), "{msg}");
    assert!(msg.contains("not an identity"), "{msg}");
    // Units outside the network's limits.
    let err = smesher::post::Prover::open(smesher::post::PostServiceOptions {
        identities: None,
        init: InitConfig {
            min_num_units: 4,
            ..options.init
        },
        ..options
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("NumUnits 2"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_init_makes_data_the_post_service_proves_from() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let node_id = [0x11; 32];
    let init = |num_units: &str| {
        Command::new(env!("CARGO_BIN_EXE_smesher"))
            .args(["post", "init", "--dir", dir.to_str().unwrap()])
            .args(["--node-id", &hex::encode(node_id)])
            .args(["--commitment-atx", &hex::encode([0x22; 32])])
            .args(["--num-units", num_units, "--labels-per-unit", "1024"])
            .args([
                "--max-file-size",
                "4096",
                "--scrypt-n",
                "16",
                "--threads",
                "1",
            ])
            .output()
            .unwrap()
    };
    let out = init("2");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PoST data ready"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("100.0%"));
    let meta = PostMetadata::load(&dir).unwrap();
    assert_eq!(meta.node_id, node_id);
    assert_eq!(meta.num_units, 2);
    assert!(meta.nonce.is_some() && meta.last_position.is_none());

    // Other parameters over existing data: refused, naming the metadata file.
    let out = init("3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("postdata_metadata.json") && stderr.contains("NumUnits"),
        "{stderr}"
    );

    let registry = registry(Duration::from_millis(100));
    let listener = PostListener::start(registry.clone(), Some(bind().await), None).unwrap();
    let address = format!("http://{}", listener.addr().unwrap());
    let binary = Binary::start(&dir, &address, tmp.path().join("log"), &[]);
    prove_and_verify(&registry, &meta, &binary).await;
    listener.shutdown().await;
}

#[test]
fn bad_flags_are_usage_errors_not_panics() {
    let out = Command::new(env!("CARGO_BIN_EXE_smesher"))
        .args(["post", "init", "--dir", "/nonexistent/x", "--node-id", "zz"])
        .args(["--commitment-atx", "00", "--num-units", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--node-id"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_smesher"))
        .args([
            "post-service",
            "--dir",
            "/tmp",
            "--address",
            "http://127.0.0.1:1",
        ])
        .args(["--cert", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn gen_proof(challenge: [u8; 32]) -> pb::NodeRequest {
    pb::NodeRequest {
        kind: Some(pb::node_request::Kind::GenProof(pb::GenProofRequest {
            challenge: challenge.to_vec(),
        })),
    }
}

fn proof_status(r: &pb::ServiceResponse) -> (i32, Option<Vec<u8>>) {
    match &r.kind {
        Some(pb::service_response::Kind::GenProof(g)) => {
            (g.status, g.metadata.as_ref().map(|m| m.challenge.clone()))
        }
        other => panic!("not a proof response: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_challenge_is_refused_while_proving_and_replaces_an_uncollected_proof() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    data(&dir, 9);
    let prover = smesher::post::Prover::open(smesher::post::PostServiceOptions {
        dir,
        address: "http://127.0.0.1:9".parse().unwrap(),
        tls: None,
        reconnect_interval: Duration::from_secs(1),
        max_retries: None,
        proof: ProofConfig {
            k1: K1,
            k2: K2,
            pow_difficulty: easy_pow(),
        },
        init: InitConfig {
            min_num_units: 1,
            max_num_units: 100,
            labels_per_unit: LABELS_PER_UNIT,
            scrypt: scrypt(),
        },
        proving: post::ProvingOptions {
            nonces: 16,
            threads: 1,
            ..post::ProvingOptions::default()
        },
        randomx_mode: RandomXMode::Light,
        identities: None,
    })
    .unwrap();
    let ok = pb::GenProofStatus::Ok as i32;
    let error = pb::GenProofStatus::Error as i32;
    let (a, b) = ([0xa; 32], [0xb; 32]);
    assert_eq!(
        prover.status(),
        smesher::post::post_service::OperatorStatus::Idle
    );
    assert_eq!(proof_status(&prover.answer(gen_proof(a)).await), (ok, None));
    assert!(matches!(
        prover.status(),
        smesher::post::post_service::OperatorStatus::Proving { .. }
    ));
    // While A runs, B is an error; once A is done and uncollected, B starts.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut refused = 0;
    loop {
        let (status, proof) = proof_status(&prover.answer(gen_proof(b)).await);
        assert_eq!(proof, None);
        if status == ok {
            break;
        }
        assert_eq!(status, error);
        refused += 1;
        assert!(std::time::Instant::now() < deadline, "A never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused > 0, "B was accepted while A was still running");
    let json = prover.status().to_json().to_string();
    assert!(json.starts_with("{\"Proving\":{\"nonces\":"), "{json}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, challenge) = proof_status(&prover.answer(gen_proof(b)).await);
        assert_eq!(status, ok);
        if let Some(c) = challenge {
            assert_eq!(c, b.to_vec());
            break;
        }
        if prover.status() == smesher::post::post_service::OperatorStatus::DoneProving {
            // Done but not collected yet: the next request collects it.
            continue;
        }
        assert!(std::time::Instant::now() < deadline, "B never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A request without a kind, or with a short challenge, is an error.
    let none = prover.answer(pb::NodeRequest { kind: None }).await;
    assert_eq!(proof_status(&none).0, error);
    let short = prover
        .answer(pb::NodeRequest {
            kind: Some(pb::node_request::Kind::GenProof(pb::GenProofRequest {
                challenge: vec![1; 31],
            })),
        })
        .await;
    assert_eq!(proof_status(&short).0, error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_states_name_the_identities_idle_until_a_proof_is_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = data(&tmp.path().join("data"), 10);
    let registry = PostRegistry::new(RegistryOptions {
        identities: Some(vec![
            (meta.node_id, "id10.key".into()),
            ([0; 32], "other.key".into()),
        ]),
        query_interval: Duration::from_millis(100),
        ..RegistryOptions::default()
    });
    let listener = PostListener::start(registry.clone(), Some(bind().await), None).unwrap();
    let address = format!("http://{}", listener.addr().unwrap());
    let channel = smesher::post::post_service::connect(&address.parse().unwrap(), None)
        .await
        .unwrap();
    let mut info = pb::post_info_service_client::PostInfoServiceClient::new(channel);
    let states = info
        .post_states(pb::PostStatesRequest {})
        .await
        .unwrap()
        .into_inner()
        .states;
    assert_eq!(states.len(), 2);
    assert!(states
        .iter()
        .all(|s| s.state == pb::post_state::State::Idle as i32));
    assert!(states
        .iter()
        .any(|s| s.name == "id10.key" && s.id == meta.node_id.to_vec()));
    let binary = Binary::start(
        &tmp.path().join("data"),
        &address,
        tmp.path().join("log"),
        &[],
    );
    registry
        .wait_for(&meta.node_id, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("never registered:\n{}", binary.log()));
    let proving = {
        let registry = registry.clone();
        let id = meta.node_id;
        tokio::spawn(async move { registry.prove(&id, [3; 32]).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let states = registry.states();
    let mine = states
        .iter()
        .find(|s| s.id == meta.node_id.to_vec())
        .unwrap();
    assert_eq!(mine.state, pb::post_state::State::Proving as i32);
    proving.await.unwrap().unwrap();
    assert!(registry
        .states()
        .iter()
        .all(|s| s.state == pb::post_state::State::Idle as i32));
    listener.shutdown().await;
}

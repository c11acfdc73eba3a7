//! A fake v2 API upstream (what `proxy-api-v2-address` points at): JSON over HTTP/1.1 and gRPC
//! over HTTP/2 on one port, optionally behind TLS, that says who answered, counts calls, can
//! stream, stall and be killed mid-call; plus a test CA ([`TestCa`]) for `https://` upstreams.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio::task::{JoinHandle, JoinSet};

/// The unary gRPC path the fake answers with an [`Echo`] naming itself.
pub const GRPC_UNARY: &str = "/spacemesh.v2beta1.NodeService/Version";
/// The server-streaming path: the request's `text` is the number of messages wanted.
pub const GRPC_STREAM: &str = "/spacemesh.v2alpha1.LayerStreamService/Stream";
/// A JSON path that the relay must never send twice.
pub const SUBMIT_TX: &str = "/spacemesh.v2beta1.TransactionService/SubmitTransaction";

/// The message of every fake gRPC call: field 1, a string.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Echo {
    #[prost(string, tag = "1")]
    pub text: String,
}

/// How the fake misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum V2Fault {
    #[default]
    None,
    /// Streams stop after this many messages and hang until the upstream is killed.
    StallStreamAfter(usize),
    /// Read the request, then close the connection without an answer.
    DropAfterRequest,
}

/// A running fake upstream. Dropping it kills it.
#[derive(Debug)]
pub struct V2Upstream {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: bool,
    accept: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    name: String,
    fault: Mutex<V2Fault>,
    calls: Mutex<HashMap<String, u64>>,
    counted: Notify,
    conns: Mutex<JoinSet<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl V2Upstream {
    /// Starts a plain-HTTP fake on 127.0.0.1:0 named `name`.
    pub async fn spawn(name: &str) -> std::io::Result<V2Upstream> {
        Self::start(name, None).await
    }

    /// Starts a TLS fake serving `cert_pem`/`key_pem` (ALPN h2 and http/1.1).
    pub async fn spawn_tls(
        name: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> anyhow::Result<V2Upstream> {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()?;
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self::start(
            name,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
        .await?)
    }

    async fn start(
        name: &str,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<V2Upstream> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            fault: Mutex::new(V2Fault::None),
            calls: Mutex::new(HashMap::new()),
            counted: Notify::new(),
            conns: Mutex::new(JoinSet::new()),
        });
        let is_tls = tls.is_some();
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s2 = s.clone();
                let tls = tls.clone();
                lock(&s.conns).spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let s = s2.clone();
                        async move { Ok::<_, Infallible>(s.answer(req).await) }
                    });
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        Ok(V2Upstream {
            shared,
            addr,
            tls: is_tls,
            accept,
        })
    }

    /// `http://127.0.0.1:PORT/` (or `https://localhost:PORT/` with TLS, for the certificate name).
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}/", self.addr.port())
        } else {
            format!("http://{}/", self.addr)
        }
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub fn set_fault(&self, fault: V2Fault) {
        *lock(&self.shared.fault) = fault;
    }

    /// Calls received on `path` (status probes included when asked for).
    pub fn calls(&self, path: &str) -> u64 {
        lock(&self.shared.calls).get(path).copied().unwrap_or(0)
    }

    /// Calls on every path but the health probe's.
    pub fn relayed_calls(&self) -> u64 {
        lock(&self.shared.calls)
            .iter()
            .filter(|(p, _)| p.as_str() != STATUS_PATH)
            .map(|(_, n)| n)
            .sum()
    }

    /// Waits until `path` has had `n` calls.
    pub async fn wait_calls(&self, path: &str, n: u64) {
        loop {
            let notified = self.shared.counted.notified();
            if self.calls(path) >= n {
                return;
            }
            notified.await;
        }
    }

    /// Closes the listener and every connection at once, mid-call included.
    pub fn kill(&self) {
        self.accept.abort();
        lock(&self.shared.conns).abort_all();
    }
}

impl Drop for V2Upstream {
    fn drop(&mut self) {
        self.kill();
    }
}

const STATUS_PATH: &str = "/spacemesh.v2beta1.NodeService/Status";

impl Shared {
    async fn answer(self: &Arc<Self>, req: Request<Incoming>) -> Response<SimBody> {
        let path = req.uri().path().to_owned();
        let grpc = req
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        let method = req.method().to_string();
        let query = req.uri().query().unwrap_or("").to_owned();
        let forwarded_connection = req.headers().contains_key(header::CONNECTION)
            || req.headers().contains_key("keep-alive")
            || req.headers().contains_key("x-hop");
        let body = match Limited::new(req.into_body(), 16 << 20).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        *lock(&self.calls).entry(path.clone()).or_insert(0) += 1;
        self.counted.notify_waiters();
        let fault = *lock(&self.fault);
        if fault == V2Fault::DropAfterRequest && path != STATUS_PATH {
            // Never answer; the connection task is aborted below by the caller's kill, or the
            // client times out. Closing it ourselves: abort this connection's future.
            std::future::pending::<()>().await;
        }
        if grpc {
            return self.grpc(&path, &body, fault);
        }
        if path == STATUS_PATH {
            return json(
                StatusCode::OK,
                r#"{"connectedPeers":"1","status":"SYNC_STATUS_SYNCED"}"#.into(),
            );
        }
        let echo = serde_json::json!({
            "upstream": self.name,
            "method": method,
            "path": path,
            "query": query,
            "body": String::from_utf8_lossy(&body),
            "hopByHopSeen": forwarded_connection,
        });
        json(StatusCode::OK, echo.to_string())
    }

    fn grpc(self: &Arc<Self>, path: &str, body: &[u8], fault: V2Fault) -> Response<SimBody> {
        let request = decode_frame(body).unwrap_or_default();
        match path {
            GRPC_STREAM => {
                let n: usize = request.text.parse().unwrap_or(0);
                let (tx, rx) = mpsc::channel(16);
                let name = self.name.clone();
                tokio::spawn(async move {
                    for i in 0..n {
                        if fault == V2Fault::StallStreamAfter(i) {
                            std::future::pending::<()>().await;
                        }
                        let msg = Echo {
                            text: format!("{name}:{i}"),
                        };
                        if tx.send(Frame::data(encode_frame(&msg))).await.is_err() {
                            return;
                        }
                    }
                    let _ = tx.send(Frame::trailers(grpc_ok())).await;
                });
                grpc_response(SimBody::Channel(rx))
            }
            _ => {
                let msg = Echo {
                    text: format!("{}:{}", self.name, request.text),
                };
                let (tx, rx) = mpsc::channel(2);
                let _ = tx.try_send(Frame::data(encode_frame(&msg)));
                let _ = tx.try_send(Frame::trailers(grpc_ok()));
                grpc_response(SimBody::Channel(rx))
            }
        }
    }
}

fn grpc_ok() -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from_static("0"));
    t
}

fn grpc_response(body: SimBody) -> Response<SimBody> {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    r
}

fn json(status: StatusCode, text: String) -> Response<SimBody> {
    let mut r = Response::new(SimBody::Full(Full::new(Bytes::from(text))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// One gRPC length-prefixed message.
pub fn encode_frame<M: prost::Message>(m: &M) -> Bytes {
    let payload = m.encode_to_vec();
    let mut out = BytesMut::with_capacity(5 + payload.len());
    out.put_u8(0);
    out.put_u32(payload.len() as u32);
    out.put_slice(&payload);
    out.freeze()
}

/// The first gRPC message of a body, if it is a whole uncompressed one.
pub fn decode_frame(mut body: &[u8]) -> Option<Echo> {
    if body.len() < 5 || body[0] != 0 {
        return None;
    }
    body.advance(1);
    let len = body.get_u32() as usize;
    prost::Message::decode(body.get(..len)?).ok()
}

/// The body of a fake answer.
#[derive(Debug)]
pub enum SimBody {
    Full(Full<Bytes>),
    Channel(mpsc::Receiver<Frame<Bytes>>),
}

impl http_body::Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            SimBody::Full(b) => Pin::new(b).poll_frame(cx),
            SimBody::Channel(rx) => rx.poll_recv(cx).map(|f| f.map(Ok)),
        }
    }
}

/// A throw-away certificate authority for `https://` upstreams in tests.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

impl TestCa {
    pub fn new(name: &str) -> anyhow::Result<TestCa> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(TestCa { cert, key })
    }

    /// The CA certificate as PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for `localhost` and 127.0.0.1: `(cert_pem, key_pem)`.
    pub fn issue(&self) -> anyhow::Result<(String, String)> {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let key = rcgen::KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

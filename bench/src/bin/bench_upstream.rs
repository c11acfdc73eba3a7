//! A small fast v2 upstream for the load bench (`bench/run.sh`): one process serving HTTP/1.1
//! and HTTP/2 (auto-detected) on several loopback ports, each port one "node". It answers
//! - `GET /spacemesh.v2beta1.NodeService/Status` with a synced status (the relay's health probe);
//! - any gRPC call (`content-type: application/grpc*`) with one echo message and `grpc-status: 0`;
//! - any other request with a fixed small JSON document (about the size of `NetworkService/Info`).
//!
//! Every answer except the probe waits `--delay-ms` first (0 = answer at once), the upstream's
//! "service time". The process exits by itself after `--for-secs`, so a bench never leaves it
//! behind.
//!
//! `bench_upstream --listen 127.0.0.1:18101,127.0.0.1:18102 --delay-ms 1 --for-secs 600`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use bytes::{BufMut, Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

const STATUS_PATH: &str = "/spacemesh.v2beta1.NodeService/Status";
const STATUS_BODY: &str = r#"{"connectedPeers":"1","status":"SYNC_STATUS_SYNCED"}"#;
const INFO_BODY: &str = r#"{"genesisTime":"2026-11-26T00:00:00Z","layerDuration":"300s","genesisId":"9eebff023abb17ccb775c602daade8ed708f0a50","hrp":"sm","effectiveGenesisLayer":7,"layersPerEpoch":4032}"#;

struct Args {
    listen: Vec<SocketAddr>,
    delay: Duration,
    for_secs: u64,
    threads: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        listen: Vec::new(),
        delay: Duration::ZERO,
        for_secs: 600,
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => {
                for s in value.split(',') {
                    a.listen
                        .push(s.parse().with_context(|| format!("--listen {s}"))?);
                }
            }
            "--delay-ms" => a.delay = Duration::from_millis(value.parse().context("--delay-ms")?),
            "--for-secs" => a.for_secs = value.parse().context("--for-secs")?,
            "--threads" => a.threads = value.parse().context("--threads")?,
            other => anyhow::bail!(
                "unknown flag {other}; usage: bench_upstream --listen ADDR[,ADDR…] [--delay-ms N] [--for-secs N] [--threads N]"
            ),
        }
    }
    anyhow::ensure!(!a.listen.is_empty(), "--listen ADDR[,ADDR…] is required");
    Ok(a)
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        for addr in &a.listen {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            tokio::spawn(serve(listener, a.delay));
        }
        println!("bench_upstream: listening on {:?}", a.listen);
        tokio::time::sleep(Duration::from_secs(a.for_secs)).await;
        Ok(())
    })
}

async fn serve(listener: TcpListener, delay: Duration) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| answer(req, delay));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(req: Request<Incoming>, delay: Duration) -> Result<Response<Answer>, Infallible> {
    let grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if req.uri().path() == STATUS_PATH {
        return Ok(json(STATUS_BODY));
    }
    // Read the request to its end (a unary gRPC request has a body) before answering.
    let _ = http_body_util::BodyExt::collect(req.into_body()).await;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if grpc {
        let mut r = Response::new(Answer::Grpc(Some(echo_frame()), true));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        return Ok(r);
    }
    Ok(json(INFO_BODY))
}

fn json(body: &'static str) -> Response<Answer> {
    let mut r = Response::new(Answer::Json(Some(Bytes::from_static(body.as_bytes()))));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// One gRPC message: field 1 (string) = "bench".
fn echo_frame() -> Bytes {
    let payload = [0x0a, 5, b'b', b'e', b'n', b'c', b'h'];
    let mut out = BytesMut::with_capacity(5 + payload.len());
    out.put_u8(0);
    out.put_u32(payload.len() as u32);
    out.put_slice(&payload);
    out.freeze()
}

/// A whole JSON body, or one gRPC message followed by `grpc-status: 0` trailers.
enum Answer {
    Json(Option<Bytes>),
    Grpc(Option<Bytes>, bool),
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        Poll::Ready(match this {
            Answer::Json(data) => data.take().map(|d| Ok(Frame::data(d))),
            Answer::Grpc(data, trailers) => {
                if let Some(d) = data.take() {
                    Some(Ok(Frame::data(d)))
                } else if std::mem::take(trailers) {
                    let mut t = HeaderMap::new();
                    t.insert("grpc-status", HeaderValue::from_static("0"));
                    Some(Ok(Frame::trailers(t)))
                } else {
                    None
                }
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Answer::Json(d) => d.is_none(),
            Answer::Grpc(d, t) => d.is_none() && !t,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Answer::Json(Some(d)) => SizeHint::with_exact(d.len() as u64),
            Answer::Json(None) => SizeHint::with_exact(0),
            Answer::Grpc(..) => SizeHint::default(),
        }
    }
}

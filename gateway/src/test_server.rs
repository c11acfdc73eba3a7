//! A real hyper HTTP/1.1 server on 127.0.0.1:0 for the crate's tests, with replies that
//! misbehave on purpose (hang, stall, lie about the length, never end, break off).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub(crate) enum Reply {
    Full {
        status: u16,
        body: Bytes,
    },
    /// Never answers.
    Hang,
    /// Sends headers, then never sends the body.
    StallAfterHeaders,
    /// Announces `content_length` bytes and sends none.
    Claim {
        content_length: u64,
    },
    /// A chunked body that never ends.
    Endless,
    /// The reply once this future is done (to hold a call in flight).
    After(Pin<Box<dyn Future<Output = Reply> + Send>>),
}

impl Reply {
    pub(crate) fn ok(body: impl Into<Bytes>) -> Reply {
        Reply::status(200, body)
    }

    pub(crate) fn status(status: u16, body: impl Into<Bytes>) -> Reply {
        Reply::Full {
            status,
            body: body.into(),
        }
    }
}

pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    endless_sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub(crate) fn url(&self) -> url::Url {
        format!("http://{}/", self.addr).parse().unwrap()
    }

    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub(crate) fn endless_bytes_sent(&self) -> u64 {
        self.endless_sent.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Dropping the accept task drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

pub(crate) async fn serve<F>(handler: F) -> TestServer
where
    F: Fn(&http::Request<Incoming>) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let endless_sent = Arc::new(AtomicU64::new(0));
    let handler = Arc::new(handler);
    let task = {
        let connections = connections.clone();
        let endless_sent = endless_sent.clone();
        tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                connections.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                let endless_sent = endless_sent.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req: http::Request<Incoming>| {
                        let reply = handler(&req);
                        let endless_sent = endless_sent.clone();
                        async move { Ok::<_, Infallible>(respond(reply, endless_sent).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
    };
    TestServer {
        addr,
        connections,
        endless_sent,
        task,
    }
}

/// A server that answers every request with `raw` bytes and closes the connection, for
/// replies hyper would refuse to produce (a body shorter than its Content-Length).
pub(crate) async fn serve_raw(raw: &'static [u8]) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            conns.spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(raw).await;
            });
        }
    });
    TestServer {
        addr,
        connections: Arc::default(),
        endless_sent: Arc::default(),
        task,
    }
}

async fn respond(mut reply: Reply, endless_sent: Arc<AtomicU64>) -> http::Response<TestBody> {
    loop {
        let (status, length, body) = match reply {
            Reply::After(next) => {
                reply = next.await;
                continue;
            }
            Reply::Full { status, body } => (status, None, TestBody::Full(Some(body))),
            Reply::Hang => {
                reply = std::future::pending::<Reply>().await;
                continue;
            }
            Reply::StallAfterHeaders => (200, None, TestBody::Pending),
            Reply::Claim { content_length } => (200, Some(content_length), TestBody::Pending),
            Reply::Endless => (200, None, TestBody::Endless(endless_sent)),
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
        if let Some(n) = length {
            response
                .headers_mut()
                .insert(http::header::CONTENT_LENGTH, n.into());
        }
        return response;
    }
}

static CHUNK: [u8; 16 * 1024] = [b'x'; 16 * 1024];

pub(crate) enum TestBody {
    Full(Option<Bytes>),
    Pending,
    Endless(Arc<AtomicU64>),
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            TestBody::Full(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            TestBody::Pending => Poll::Pending,
            TestBody::Endless(sent) => {
                sent.fetch_add(CHUNK.len() as u64, Ordering::SeqCst);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, TestBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            TestBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            TestBody::Full(None) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

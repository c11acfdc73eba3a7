//! The HTTP/1.1 client (hyper-util's pooled keep-alive client) and `HttpTry`, one try on one
//! upstream: per-try timeout over headers and body, body size limit.

use std::error::Error as StdError;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use http::header::{AUTHORIZATION, CONTENT_LENGTH};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower::Service;

use crate::error::TryError;
use crate::failover::TryRequest;
use crate::settings::Settings;

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Bounds on one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Covers connecting, sending, the response headers and the whole body.
    pub per_try_timeout: Duration,
    /// Largest body accepted; no more than this plus one frame is read.
    pub max_response_bytes: u64,
}

impl From<&Settings> for Limits {
    fn from(s: &Settings) -> Self {
        Limits {
            per_try_timeout: s.per_try_timeout,
            max_response_bytes: s.max_response_bytes,
        }
    }
}

/// A pooled HTTP client whose responses come back with their body collected under a limit.
/// Generic over the connector so a TLS connector can be slotted in; clones share the pool.
#[derive(Clone, Debug)]
pub struct HttpClient<C = HttpConnector> {
    client: Client<C, Full<Bytes>>,
}

impl HttpClient<HttpConnector> {
    /// Plain HTTP (`http://` URLs only).
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self::with_connector(connector)
    }
}

impl Default for HttpClient<HttpConnector> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> HttpClient<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    pub fn with_connector(connector: C) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        HttpClient { client }
    }

    /// Sends `request` (absolute URI) and collects the answer, all within `limits`.
    pub async fn send(
        &self,
        request: http::Request<Bytes>,
        limits: Limits,
    ) -> Result<http::Response<Bytes>, TryError> {
        let request = request.map(Full::new);
        tokio::time::timeout(limits.per_try_timeout, async {
            let response = self.client.request(request).await.map_err(|e| {
                // hyper-util's own text ("client error (Connect)") adds nothing to its cause.
                let text = e.source().map_or_else(|| e.to_string(), error_chain);
                if e.is_connect() {
                    TryError::Connect(text)
                } else {
                    TryError::Transport(text)
                }
            })?;
            let (parts, body) = response.into_parts();
            let body = collect_limited(body, &parts.headers, limits.max_response_bytes).await?;
            Ok(http::Response::from_parts(parts, body))
        })
        .await
        .unwrap_or(Err(TryError::Timeout(limits.per_try_timeout)))
    }
}

/// Reads a body to its end, refusing one that announces or reaches more than `limit` bytes.
/// Dropping the body early closes the connection rather than returning it to the pool.
pub async fn collect_limited<B>(
    mut body: B,
    headers: &http::HeaderMap,
    limit: u64,
) -> Result<Bytes, TryError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: StdError + 'static,
{
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = announced.filter(|&n| n > limit) {
        return Err(TryError::BodyTooLarge {
            limit,
            content_length: Some(n),
        });
    }
    let mut collected = BytesMut::with_capacity(announced.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| TryError::Body(error_chain(&e)))?;
        if let Ok(data) = frame.into_data() {
            if collected.len() as u64 + data.len() as u64 > limit {
                return Err(TryError::BodyTooLarge {
                    limit,
                    content_length: announced,
                });
            }
            collected.extend_from_slice(&data);
        }
    }
    Ok(collected.freeze())
}

/// `outer: inner: innermost`, with the repeats hyper's errors tend to have removed.
fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// One try on one upstream over `HttpClient`.
#[derive(Clone, Debug)]
pub struct HttpTry<C = HttpConnector> {
    client: HttpClient<C>,
    limits: Limits,
}

impl<C> HttpTry<C> {
    pub fn new(client: HttpClient<C>, limits: Limits) -> Self {
        HttpTry { client, limits }
    }
}

impl<C> Service<TryRequest> for HttpTry<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    type Response = http::Response<Bytes>;
    type Error = TryError;
    type Future = BoxFuture<'static, Result<http::Response<Bytes>, TryError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), TryError>> {
        // The pooled client queues internally.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: TryRequest) -> Self::Future {
        let client = self.client.clone();
        let limits = self.limits;
        Box::pin(async move {
            let TryRequest {
                upstream,
                mut request,
            } = req;
            // The gateway checks request URIs before routing, so this cannot fail for a call
            // that got here through it.
            *request.uri_mut() = upstream
                .join(request.uri())
                .map_err(|e| TryError::Transport(e.to_string()))?;
            if let Some(auth) = upstream.authorization() {
                request.headers_mut().insert(AUTHORIZATION, auth.clone());
            }
            client.send(request, limits).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{serve, serve_raw, Reply};
    use crate::upstream::Upstream;
    use tower::ServiceExt;

    fn limits(timeout_ms: u64, max: u64) -> Limits {
        Limits {
            per_try_timeout: Duration::from_millis(timeout_ms),
            max_response_bytes: max,
        }
    }

    async fn try_once(
        base: &str,
        path: &str,
        l: Limits,
    ) -> Result<http::Response<Bytes>, TryError> {
        let upstream = Upstream::new(base.parse().unwrap()).unwrap();
        let request = http::Request::builder()
            .uri(path)
            .body(Bytes::new())
            .unwrap();
        HttpTry::new(HttpClient::new(), l)
            .oneshot(TryRequest { upstream, request })
            .await
    }

    #[tokio::test]
    async fn joins_the_path_prefix_and_sends_basic_auth() {
        let server = serve(|req| {
            let auth = req
                .headers()
                .get(AUTHORIZATION)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            Reply::ok(format!("{} {auth}", req.uri()))
        })
        .await;
        let base = format!("http://u:p@{}/api/", server.addr);
        let response = try_once(&base, "/beacon/5?x=1", limits(2000, 1024))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body(), "/api/beacon/5?x=1 Basic dTpw");
    }

    #[tokio::test]
    async fn connection_refused_is_a_connect_error() {
        // Bind, learn the port, close: nothing listens there now.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = try_once(&format!("http://{addr}/"), "/", limits(2000, 1024))
            .await
            .unwrap_err();
        assert!(matches!(err, TryError::Connect(_)), "{err:?}");
        assert!(err.to_string().starts_with("tcp connect error: "), "{err}");
        assert!(
            err.to_string()
                .to_lowercase()
                .contains("connection refused"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let server = serve(|_| Reply::Hang).await;
        let started = std::time::Instant::now();
        let err = try_once(&format!("http://{}/", server.addr), "/", limits(200, 1024))
            .await
            .unwrap_err();
        assert_eq!(err, TryError::Timeout(Duration::from_millis(200)));
        assert_eq!(err.to_string(), "timed out after 200ms");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_body_that_stalls_times_out_too() {
        let server = serve(|_| Reply::StallAfterHeaders).await;
        let err = try_once(&format!("http://{}/", server.addr), "/", limits(200, 1024))
            .await
            .unwrap_err();
        assert_eq!(err, TryError::Timeout(Duration::from_millis(200)));
    }

    #[tokio::test]
    async fn a_huge_announced_body_is_refused_before_reading() {
        let server = serve(|_| Reply::Claim {
            content_length: 600 << 20,
        })
        .await;
        let started = std::time::Instant::now();
        let err = try_once(
            &format!("http://{}/", server.addr),
            "/",
            limits(5000, 16 << 20),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err,
            TryError::BodyTooLarge {
                limit: 16 << 20,
                content_length: Some(600 << 20)
            }
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(err.reason().as_str(), "invalid_response");
    }

    #[tokio::test]
    async fn an_endless_chunked_body_stops_at_the_limit() {
        let server = serve(|_| Reply::Endless).await;
        let err = try_once(
            &format!("http://{}/", server.addr),
            "/",
            limits(5000, 64 << 10),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err,
            TryError::BodyTooLarge {
                limit: 64 << 10,
                content_length: None
            }
        );
        let sent = server.endless_bytes_sent();
        assert!(
            sent < 64 << 20,
            "the client stopped reading early, the server only got {sent} bytes out"
        );
    }

    #[tokio::test]
    async fn a_body_exactly_at_the_limit_is_fine() {
        let server = serve(|_| Reply::ok("x".repeat(1024))).await;
        let response = try_once(&format!("http://{}/", server.addr), "/", limits(2000, 1024))
            .await
            .unwrap();
        assert_eq!(response.body().len(), 1024);
        let err = try_once(&format!("http://{}/", server.addr), "/", limits(2000, 1023))
            .await
            .unwrap_err();
        assert!(matches!(err, TryError::BodyTooLarge { .. }));
    }

    #[tokio::test]
    async fn a_truncated_body_is_a_body_error() {
        let server = serve_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789").await;
        let err = try_once(&format!("http://{}/", server.addr), "/", limits(2000, 1024))
            .await
            .unwrap_err();
        assert!(matches!(err, TryError::Body(_)), "{err:?}");
        assert_eq!(err.reason().as_str(), "invalid_response");
    }

    #[tokio::test]
    async fn connections_are_reused() {
        let server = serve(|_| Reply::ok("hi")).await;
        let client = HttpTry::new(HttpClient::new(), limits(2000, 1024));
        let upstream = Upstream::new(format!("http://{}/", server.addr).parse().unwrap()).unwrap();
        for _ in 0..5 {
            let request = http::Request::new(Bytes::new());
            let request = {
                let mut r = request;
                *r.uri_mut() = "/".parse().unwrap();
                r
            };
            client
                .clone()
                .oneshot(TryRequest {
                    upstream: upstream.clone(),
                    request,
                })
                .await
                .unwrap();
        }
        assert_eq!(server.connections(), 1);
    }
}

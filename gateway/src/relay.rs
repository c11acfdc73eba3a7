//! `Relay`: forwards whole HTTP requests to a round-robin pool, JSON over HTTP/1.1 or gRPC over
//! HTTP/2 (unary and server-streaming), and streams the answer back. A request is tried on the
//! next upstream only while nothing of the answer has reached the client, and after it may have
//! reached an upstream only when the caller says it is safe to repeat.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;
use url::Url;

use crate::error::{ErrorOrigin, FailureReason, GatewayError, TryError, UpstreamFailure};
use crate::h1::{H1Body, H1Client};
use crate::metrics::RelayTrySeries;
use crate::pool::Member;
use crate::round_robin::RoundRobin;
use crate::settings::Settings;
use crate::tls::{self, TlsError, TlsRoots, UpstreamConnector};
use crate::upstream::Upstream;

/// Errors inside relayed bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of a relayed answer.
pub type RelayBody = UnsyncBoxBody<Bytes, BoxError>;

/// gRPC status UNAVAILABLE.
const GRPC_UNAVAILABLE: &str = "14";

/// What the relay speaks to its upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (the v2 JSON API).
    Http1,
    /// gRPC: HTTP/2 with prior knowledge on `http://`, ALPN `h2` on `https://`.
    Grpc,
}

/// Limits and TLS roots of a relay.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Largest request body accepted (it is buffered so it can be sent again).
    pub max_request_bytes: usize,
    pub connect_timeout: Duration,
    pub roots: TlsRoots,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            max_request_bytes: 4 * 1024 * 1024,
            connect_timeout: Duration::from_secs(2),
            roots: TlsRoots::platform_and(None),
        }
    }
}

/// Why a relayed call got no upstream answer.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("request body exceeds the limit of {limit} bytes")]
    RequestTooLarge { limit: usize },
    #[error("reading the request body: {0}")]
    RequestBody(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("no {pool} upstream answered: {}", list(failures))]
    AllFailed {
        pool: String,
        failures: Vec<UpstreamFailure>,
    },
    #[error(
        "{upstream} failed after the request was sent, and the call is not safe to repeat: {error}"
    )]
    NotReplayed { upstream: String, error: TryError },
}

impl RelayError {
    pub fn origin(&self) -> ErrorOrigin {
        match self {
            RelayError::RequestTooLarge { .. }
            | RelayError::RequestBody(_)
            | RelayError::InvalidRequest(_) => ErrorOrigin::Client,
            RelayError::AllFailed { .. } | RelayError::NotReplayed { .. } => ErrorOrigin::Upstream,
        }
    }
}

fn list(failures: &[UpstreamFailure]) -> String {
    if failures.is_empty() {
        return "the pool has no upstream".into();
    }
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Relays requests to one pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Relay {
    pool: RoundRobin,
    protocol: Protocol,
    client: Client<UpstreamConnector, Full<Bytes>>,
    /// JSON to plain `http://` upstreams goes through this lean client instead of `client`.
    h1: Option<Arc<H1Client>>,
    /// Metric series of answered tries, by upstream.
    series: Arc<RelayTrySeries>,
    max_request_bytes: usize,
    /// Where a pool member's requests really go, when that differs from the member itself
    /// (e.g. a node's gRPC port next to the JSON port the pool probes), by member URL.
    targets: Option<Arc<HashMap<String, Upstream>>>,
}

impl Relay {
    pub fn new(
        pool: RoundRobin,
        protocol: Protocol,
        options: &RelayOptions,
    ) -> Result<Relay, TlsError> {
        let http2 = protocol == Protocol::Grpc;
        let connector = tls::connector(&options.roots, http2, options.connect_timeout)?;
        let client = Client::builder(TokioExecutor::new())
            .http2_only(http2)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Relay {
            pool,
            protocol,
            client,
            h1: (protocol == Protocol::Http1)
                .then(|| Arc::new(H1Client::new(options.connect_timeout))),
            series: Arc::default(),
            max_request_bytes: options.max_request_bytes,
            targets: None,
        })
    }

    /// Sends what would go to pool member `from` to `to` instead, for each pair: the member's
    /// health and turn still decide, the request goes to the other address of the same node.
    pub fn with_targets(
        mut self,
        pairs: impl IntoIterator<Item = (Url, Url)>,
    ) -> Result<Relay, GatewayError> {
        let mut targets = HashMap::new();
        for (from, to) in pairs {
            targets.insert(from.as_str().to_owned(), Upstream::new(to)?);
        }
        self.targets = Some(Arc::new(targets));
        Ok(self)
    }

    pub fn pool(&self) -> &RoundRobin {
        &self.pool
    }

    /// Sends `request` (URI = path and query) to the next usable upstream and returns its
    /// answer as it streams. Tries the next upstream when a try fails before any answer, but
    /// after the request may have reached an upstream only if `replay_safe`.
    pub async fn forward<B>(
        &self,
        request: Request<B>,
        replay_safe: bool,
    ) -> Result<Response<RelayBody>, RelayError>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        // Most relayed calls are GETs without a body: nothing to collect.
        let body = if body.is_end_stream() {
            Bytes::new()
        } else {
            Limited::new(body, self.max_request_bytes)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<LengthLimitError>().is_some() {
                        RelayError::RequestTooLarge {
                            limit: self.max_request_bytes,
                        }
                    } else {
                        RelayError::RequestBody(e.to_string())
                    }
                })?
                .to_bytes()
        };
        // `Upstream::join` reads only the path and the query, so the request's own URI (origin
        // form on HTTP/1.1, absolute on HTTP/2) serves as it is: no copy, no second parse.
        if parts.uri.path_and_query().is_none() {
            return Err(RelayError::InvalidRequest("the request has no path".into()));
        }
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers, self.protocol == Protocol::Grpc);
        headers.remove(header::HOST);

        let plan = self.pool.plan();
        let mut failures = Vec::new();
        let count = plan.members.len();
        for (i, member) in plan.members.into_iter().enumerate() {
            let last = i + 1 == count;
            let target = self
                .targets
                .as_ref()
                .and_then(|t| t.get(member.upstream.url().as_str()))
                .unwrap_or(&member.upstream);
            let started = Instant::now();
            let timeout = plan.settings.per_try_timeout;
            let outcome = match &self.h1 {
                Some(h1) if target.url().scheme() == "http" => {
                    let sent = h1.send(
                        target,
                        &parts.method,
                        &parts.uri,
                        &headers,
                        &body,
                        replay_safe,
                    );
                    match tokio::time::timeout(timeout, sent).await {
                        Ok(outcome) => outcome.map(|r| r.map(UpstreamBody::H1)),
                        Err(_) => Err(TryError::Timeout(timeout)),
                    }
                }
                _ => {
                    let uri = target
                        .join(&parts.uri)
                        .map_err(|e| RelayError::InvalidRequest(e.to_string()))?;
                    let mut req = Request::new(Full::new(body.clone()));
                    *req.method_mut() = parts.method.clone();
                    *req.uri_mut() = uri;
                    *req.version_mut() = match self.protocol {
                        Protocol::Http1 => Version::HTTP_11,
                        Protocol::Grpc => Version::HTTP_2,
                    };
                    *req.headers_mut() = if last {
                        std::mem::take(&mut headers)
                    } else {
                        headers.clone()
                    };
                    if let Some(auth) = target.authorization() {
                        req.headers_mut()
                            .insert(header::AUTHORIZATION, auth.clone());
                    }
                    match tokio::time::timeout(timeout, self.client.request(req)).await {
                        Ok(Ok(response)) => Ok(response.map(UpstreamBody::Hyper)),
                        Ok(Err(e)) => Err(classify(&e)),
                        Err(_) => Err(TryError::Timeout(timeout)),
                    }
                }
            };
            let latency = started.elapsed();
            let status = outcome.as_ref().map(|r| r.status()).ok();
            let code = match (&status, &outcome) {
                (Some(status), _) => status.as_str(),
                (None, Err(TryError::Timeout(_))) => "timeout",
                (None, _) => "error",
            };
            self.pool.gateway().metrics().record_relay_try_cached(
                &self.series,
                self.pool.gateway().pool(),
                member.upstream.redacted(),
                code,
                latency.as_secs_f64(),
            );
            let error = match outcome {
                Ok(response) => match self.refused(&response) {
                    Some(error) if replay_safe && !last => {
                        member.on_try_failure(&error, latency, &plan.settings, Instant::now());
                        error
                    }
                    _ => {
                        member.on_try_success(latency);
                        return Ok(self.relay_response(response, member, plan.settings));
                    }
                },
                Err(error) => {
                    member.on_try_failure(&error, latency, &plan.settings, Instant::now());
                    error
                }
            };
            tracing::debug!(upstream = %member.upstream, %error, "relay try failed");
            if error.may_have_reached_upstream() && !replay_safe {
                return Err(RelayError::NotReplayed {
                    upstream: member.upstream.redacted().to_owned(),
                    error,
                });
            }
            failures.push(UpstreamFailure {
                upstream: member.upstream.redacted().to_owned(),
                reason: FailureReason::Failed(error),
            });
        }
        failures.extend(plan.skipped);
        Err(RelayError::AllFailed {
            pool: self.pool.gateway().pool().to_owned(),
            failures,
        })
    }

    /// An answer that says the upstream could not serve the call (so another may): HTTP
    /// 502/503/504, or a gRPC trailers-only UNAVAILABLE.
    fn refused<B>(&self, response: &Response<B>) -> Option<TryError> {
        let status = response.status();
        let unavailable = match self.protocol {
            Protocol::Http1 => matches!(status.as_u16(), 502..=504),
            Protocol::Grpc => {
                matches!(status.as_u16(), 502..=504)
                    || response.headers().get("grpc-status").map(|v| v.as_bytes())
                        == Some(GRPC_UNAVAILABLE.as_bytes())
            }
        };
        unavailable.then(|| TryError::Status {
            status,
            body: response
                .headers()
                .get("grpc-message")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        })
    }

    fn relay_response(
        &self,
        response: Response<UpstreamBody>,
        member: Arc<Member>,
        settings: Arc<Settings>,
    ) -> Response<RelayBody> {
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        let grpc = self.protocol == Protocol::Grpc;
        let status_in_headers = parts.headers.contains_key("grpc-status");
        let body = Relayed {
            inner: body,
            grpc,
            member,
            settings,
            needs_status: grpc && !status_in_headers,
            done: false,
        };
        Response::from_parts(parts, body.boxed_unsync())
    }
}

/// `Connection`, the headers it names, and the other hop-by-hop headers of RFC 9110 §7.6.1.
/// gRPC keeps `te: trailers`, which HTTP/2 allows and gRPC servers require.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_te_trailers: bool) {
    // Most requests and answers carry none of them: one pass over the few names present is
    // cheaper than nine hashed removals.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    let te_trailers = keep_te_trailers
        && headers
            .get(header::TE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// `Connection` (which may name more), or one of the fixed hop-by-hop headers.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == header::PROXY_AUTHENTICATE
        || name == header::PROXY_AUTHORIZATION
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

fn classify(e: &hyper_util::client::legacy::Error) -> TryError {
    let mut chain = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if chain.last() != Some(&text) {
            chain.push(text);
        }
        source = s.source();
    }
    let detail = if chain.is_empty() {
        e.to_string()
    } else {
        chain.join(": ")
    };
    if e.is_connect() {
        TryError::Connect(format!("connect failed: {detail}"))
    } else {
        TryError::Transport(detail)
    }
}

/// Percent-encodes a `grpc-message` value as the gRPC spec asks.
pub fn grpc_message(text: &str) -> HeaderValue {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static("relay error"))
}

/// An upstream answer's body as the client that fetched it gives it.
enum UpstreamBody {
    Hyper(Incoming),
    H1(H1Body),
}

impl UpstreamBody {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self {
            UpstreamBody::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            UpstreamBody::H1(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Hyper(b) => b.size_hint(),
            UpstreamBody::H1(b) => b.size_hint(),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Hyper(b) => b.is_end_stream(),
            UpstreamBody::H1(b) => b.is_end_stream(),
        }
    }
}

/// An upstream answer on its way to the client. A broken gRPC stream ends with status
/// UNAVAILABLE naming the upstream, so the client sees an error, never a silent end.
struct Relayed {
    inner: UpstreamBody,
    grpc: bool,
    member: Arc<Member>,
    settings: Arc<Settings>,
    // gRPC: no status yet (none in the headers, no trailers so far).
    needs_status: bool,
    done: bool,
}

impl Body for Relayed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => {
                if frame.is_trailers() {
                    this.needs_status = false;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                let error = TryError::Body(e.to_string());
                this.member
                    .on_try_failure(&error, Duration::ZERO, &this.settings, Instant::now());
                let text = format!(
                    "upstream {} failed mid-stream: {e}",
                    this.member.upstream.redacted()
                );
                tracing::warn!("{text}");
                if this.grpc {
                    this.done = true;
                    Poll::Ready(Some(Ok(Frame::trailers(status_trailers(&text)))))
                } else {
                    Poll::Ready(Some(Err(text.into())))
                }
            }
            None if this.needs_status => {
                this.done = true;
                let text = format!(
                    "upstream {} ended the call without a gRPC status",
                    this.member.upstream.redacted()
                );
                Poll::Ready(Some(Ok(Frame::trailers(status_trailers(&text)))))
            }
            None => {
                this.done = true;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || (!self.grpc && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.grpc {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}

fn status_trailers(text: &str) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static(GRPC_UNAVAILABLE));
    trailers.insert("grpc-message", grpc_message(text));
    trailers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_and_te_trailers_stays_for_grpc() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        let mut grpc = h.clone();
        strip_hop_by_hop(&mut grpc, true);
        assert_eq!(
            grpc.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["content-type", "te"]
        );
        strip_hop_by_hop(&mut h, false);
        assert_eq!(
            h.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["content-type"]
        );
    }

    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(grpc_message("a 100% é\n"), "a 100%25 %C3%A9%0A");
    }
}

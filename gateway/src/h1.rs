//! `H1Client`: the JSON relay's HTTP/1.1 client for plain `http://` upstreams.
//!
//! A relayed JSON call is one small request and, nearly always, one small answer with a
//! `Content-Length`. This client does that exchange inside the task that serves the client's
//! connection: it writes the request head (and body) with one write on a pooled keep-alive
//! connection, reads the answer head, and when the answer is small reads it whole and puts the
//! connection back in the pool before the answer is handed on. There is no connection task,
//! no dispatch channel and no body channel between the two sides, so a call costs no wake-up
//! of another task. Large, chunked and close-delimited answers stream from the connection as
//! the client reads them, and the connection goes back to the pool at their end.
//!
//! TLS upstreams and gRPC keep going through hyper's client.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use url::Host;

use crate::error::TryError;
use crate::relay::BoxError;
use crate::upstream::Upstream;

/// Largest answer head accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header lines in an answer head.
const MAX_HEADERS: usize = 96;
/// Room made in the read buffer when less than `MIN_READ_ROOM` is left.
const READ_CHUNK: usize = 16 * 1024;
const MIN_READ_ROOM: usize = 2 * 1024;
/// Answers with a `Content-Length` up to this are read whole before they are handed on.
const READ_WHOLE_BYTES: u64 = 256 * 1024;
/// A request body up to this is copied behind the head, so both go out in one write.
const COPY_BODY_BYTES: usize = 16 * 1024;
/// Longest chunk-size or trailer line of a chunked answer.
const MAX_LINE_BYTES: usize = 4 * 1024;
/// Idle connections kept per upstream.
const MAX_IDLE_PER_UPSTREAM: usize = 256;
/// An idle connection older than this is closed rather than used.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A call that is not safe to repeat only reuses a connection idle for less than this.
const RECENT_IDLE: Duration = Duration::from_secs(1);

/// Pooled keep-alive HTTP/1.1 connections, by upstream. Shared by clones of a relay.
#[derive(Debug)]
pub(crate) struct H1Client {
    idle: Mutex<Idle>,
    connect_timeout: Duration,
}

#[derive(Debug)]
struct Idle {
    /// By upstream URL, most recently used last.
    conns: HashMap<String, Vec<Conn>>,
    /// When connections idle too long were last closed, for upstreams no call uses anymore
    /// (e.g. removed by a reload).
    swept: Instant,
}

#[derive(Debug)]
struct Conn {
    io: TcpStream,
    /// Bytes read and not yet used; empty whenever the connection is idle.
    buf: BytesMut,
    /// The request being written (head, and a small body).
    out: BytesMut,
    idle_since: Instant,
}

/// How an answer's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection.
    Close,
}

/// A failed exchange, and whether the upstream can have seen the request.
struct Failed {
    error: TryError,
    /// The connection failed before a byte of an answer arrived: on a reused connection this
    /// is the upstream closing an idle connection as the request went out.
    nothing_received: bool,
}

impl H1Client {
    pub(crate) fn new(connect_timeout: Duration) -> Self {
        H1Client {
            idle: Mutex::new(Idle {
                conns: HashMap::new(),
                swept: Instant::now(),
            }),
            connect_timeout,
        }
    }

    /// Sends one request to `target` and returns the answer. `path_and_query` is the
    /// request's own URI (its path must start with `/`); `headers` are sent as they are,
    /// except `Host`, `Content-Length` and `Expect`, which this client writes itself.
    /// A pooled connection that turns out to be closed is replaced once by a new one when
    /// `replay_safe`.
    pub(crate) async fn send(
        self: &Arc<Self>,
        target: &Upstream,
        method: &Method,
        path_and_query: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
        replay_safe: bool,
    ) -> Result<Response<H1Body>, TryError> {
        let copy_body = body.len() <= COPY_BODY_BYTES;
        let rest = if copy_body { &[][..] } else { &body[..] };
        let key = target.url().as_str();
        let mut fresh_only = false;
        loop {
            // A call that must not be sent twice only takes a connection used moments ago:
            // one idle longer may be closed by the node just as the request goes out, and
            // could not be retried.
            let max_idle = if replay_safe {
                IDLE_TIMEOUT
            } else {
                RECENT_IDLE
            };
            let pooled = if fresh_only {
                None
            } else {
                self.checkout(key, max_idle)
            };
            let reused = pooled.is_some();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => self.connect(target).await?,
            };
            // The connection's own buffer: no allocation per call once it has grown.
            conn.out.clear();
            encode_request(
                &mut conn.out,
                target,
                method,
                path_and_query,
                headers,
                body.len(),
            );
            if copy_body {
                conn.out.extend_from_slice(body);
            }
            match exchange(&mut conn, rest, method == Method::HEAD).await {
                Ok((response, framing, keep_alive)) => {
                    return self.finish(key, conn, response, framing, keep_alive).await;
                }
                Err(failed) if reused && failed.nothing_received && replay_safe => {
                    tracing::debug!(upstream = %target, error = %failed.error, "pooled connection was closed, using a new one");
                    fresh_only = true;
                }
                Err(failed) => return Err(failed.error),
            }
        }
    }

    /// Builds the answer: a small `Content-Length` body is read whole and the connection
    /// pooled at once; any other body streams from the connection.
    async fn finish(
        self: &Arc<Self>,
        key: &str,
        mut conn: Conn,
        response: Response<()>,
        framing: Framing,
        keep_alive: bool,
    ) -> Result<Response<H1Body>, TryError> {
        let whole = match framing {
            Framing::Empty => Some(Bytes::new()),
            Framing::Length(n) if n <= READ_WHOLE_BYTES => {
                let n = n as usize;
                while conn.buf.len() < n {
                    conn.buf.reserve(n - conn.buf.len());
                    match conn.io.read_buf(&mut conn.buf).await {
                        Ok(0) => return Err(TryError::Body(cut_short(conn.buf.len(), n))),
                        Ok(_) => {}
                        Err(e) => return Err(TryError::Body(e.to_string())),
                    }
                }
                Some(conn.buf.split_to(n).freeze())
            }
            _ => None,
        };
        match whole {
            Some(bytes) => {
                if keep_alive {
                    self.checkin(key, conn);
                }
                Ok(response.map(|()| H1Body(Inner::Whole(Some(bytes)))))
            }
            None => {
                let (state, remaining) = match framing {
                    Framing::Length(n) => (State::Length, n),
                    Framing::Chunked => (State::ChunkSize, 0),
                    _ => (State::UntilClose, 0),
                };
                let stream = Streaming {
                    conn: Some(conn),
                    client: self.clone(),
                    key: key.to_owned(),
                    keep_alive,
                    state,
                    remaining,
                    announced: match framing {
                        Framing::Length(n) => Some(n),
                        _ => None,
                    },
                };
                Ok(response.map(|()| H1Body(Inner::Streaming(Box::new(stream)))))
            }
        }
    }

    /// The most recently used idle connection to `key` that is still open.
    /// The most recently used idle connection to `key` that is still open and has been idle
    /// less than `max_idle`.
    fn checkout(&self, key: &str, max_idle: Duration) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.conns.get_mut(key)?;
        let now = Instant::now();
        while let Some(last) = conns.last() {
            let idle_for = now.saturating_duration_since(last.idle_since);
            if idle_for >= IDLE_TIMEOUT {
                // The rest are older still.
                conns.clear();
                return None;
            }
            if idle_for >= max_idle {
                // Too old for this call, not for others.
                return None;
            }
            let mut conn = conns.pop()?;
            // An idle connection has nothing to read: readable means closed (or garbage).
            // Without a readiness event this costs no system call.
            let mut probe = [0u8; 1];
            match conn.io.try_read(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.buf.clear();
                    return Some(conn);
                }
                _ => continue,
            }
        }
        None
    }

    fn checkin(&self, key: &str, mut conn: Conn) {
        if !conn.buf.is_empty() {
            // More than the answer arrived: the connection's state is unknown.
            return;
        }
        let now = Instant::now();
        conn.idle_since = now;
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        match idle.conns.get_mut(key) {
            Some(conns) if conns.len() < MAX_IDLE_PER_UPSTREAM => conns.push(conn),
            Some(_) => {}
            None => {
                idle.conns.insert(key.to_owned(), vec![conn]);
            }
        }
        if now.saturating_duration_since(idle.swept) >= IDLE_TIMEOUT {
            idle.swept = now;
            for conns in idle.conns.values_mut() {
                conns.retain(|c| now.saturating_duration_since(c.idle_since) < IDLE_TIMEOUT);
            }
            idle.conns.retain(|_, conns| !conns.is_empty());
        }
    }

    async fn connect(&self, target: &Upstream) -> Result<Conn, TryError> {
        let url = target.url();
        let port = url.port_or_known_default().unwrap_or(80);
        let connecting = async {
            match url.host() {
                Some(Host::Ipv4(ip)) => TcpStream::connect(SocketAddr::from((ip, port))).await,
                Some(Host::Ipv6(ip)) => TcpStream::connect(SocketAddr::from((ip, port))).await,
                Some(Host::Domain(name)) => TcpStream::connect((name, port)).await,
                None => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the upstream URL has no host",
                )),
            }
        };
        let io = match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(Ok(io)) => io,
            Ok(Err(e)) => {
                return Err(TryError::Connect(format!(
                    "connect failed: tcp connect error: {e}"
                )))
            }
            Err(_) => {
                return Err(TryError::Connect(format!(
                    "connect failed: no connection within {:?}",
                    self.connect_timeout
                )))
            }
        };
        let _ = io.set_nodelay(true);
        Ok(Conn {
            io,
            buf: BytesMut::new(),
            out: BytesMut::with_capacity(1024),
            idle_since: Instant::now(),
        })
    }
}

/// The request head: request line, `Host`, the caller's headers, `Content-Length` when there
/// is a body (or the method expects one), the upstream's own `Authorization`.
fn encode_request(
    out: &mut BytesMut,
    target: &Upstream,
    method: &Method,
    path_and_query: &Uri,
    headers: &HeaderMap,
    body_len: usize,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.extend_from_slice(b" ");
    target.write_origin_form(path_and_query, out);
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(target.host_header().as_bytes());
    out.extend_from_slice(b"\r\n");
    let auth = target.authorization();
    for (name, value) in headers {
        if name == header::HOST
            || name == header::CONTENT_LENGTH
            || name == header::EXPECT
            || (auth.is_some() && name == header::AUTHORIZATION)
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if body_len > 0 || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        // Writing to a BytesMut cannot fail.
        let _ = write!(out, "content-length: {body_len}\r\n");
    }
    if let Some(auth) = auth {
        out.extend_from_slice(b"authorization: ");
        out.extend_from_slice(auth.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the request and reads the answer head (informational answers skipped).
async fn exchange(
    conn: &mut Conn,
    body: &[u8],
    head_request: bool,
) -> Result<(Response<()>, Framing, bool), Failed> {
    let sent = async {
        conn.io.write_all(&conn.out).await?;
        if !body.is_empty() {
            conn.io.write_all(body).await?;
        }
        Ok::<_, io::Error>(())
    };
    if let Err(e) = sent.await {
        return Err(Failed {
            error: TryError::Transport(format!("sending the request: {e}")),
            nothing_received: true,
        });
    }
    let mut received = false;
    loop {
        if !conn.buf.is_empty() {
            received = true;
            match parse_head(&mut conn.buf, head_request) {
                Ok(Some(Parsed::Final(response, framing, keep_alive))) => {
                    return Ok((response, framing, keep_alive))
                }
                Ok(Some(Parsed::Informational)) => continue,
                Ok(None) if conn.buf.len() >= MAX_HEAD_BYTES => {
                    return Err(Failed {
                        error: TryError::Invalid(format!(
                            "the answer head exceeds {MAX_HEAD_BYTES} bytes"
                        )),
                        nothing_received: false,
                    })
                }
                Ok(None) => {}
                Err(error) => {
                    return Err(Failed {
                        error,
                        nothing_received: false,
                    })
                }
            }
        }
        make_room(&mut conn.buf);
        match conn.io.read_buf(&mut conn.buf).await {
            Ok(0) => {
                return Err(Failed {
                    error: TryError::Transport(
                        "the connection closed before the answer was complete".into(),
                    ),
                    nothing_received: !received,
                })
            }
            Ok(_) => {}
            Err(e) => {
                return Err(Failed {
                    error: TryError::Transport(format!("reading the answer: {e}")),
                    nothing_received: !received,
                })
            }
        }
    }
}

enum Parsed {
    /// The answer head, how its body is framed, and whether the connection stays open.
    Final(Response<()>, Framing, bool),
    /// A 1xx answer, removed from the buffer.
    Informational,
}

/// Parses an answer head at the start of `buf`, removing it; `None` while it is incomplete.
fn parse_head(buf: &mut BytesMut, head_request: bool) -> Result<Option<Parsed>, TryError> {
    // Offsets into `buf` of each header's name and value, so the values can share the
    // buffer's bytes once the head is split off.
    let mut spans = [(0usize, 0usize, 0usize, 0usize); MAX_HEADERS];
    let (len, status, minor, count) = {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut answer = httparse::Response::new(&mut headers);
        let len = match answer.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(TryError::Invalid(format!("an unreadable answer head: {e}"))),
        };
        let base = buf.as_ptr() as usize;
        let count = answer.headers.len();
        for (span, h) in spans.iter_mut().zip(answer.headers.iter()) {
            let name = h.name.as_ptr() as usize - base;
            let value = h.value.as_ptr() as usize - base;
            *span = (name, name + h.name.len(), value, value + h.value.len());
        }
        (
            len,
            answer.code.unwrap_or(0),
            answer.version.unwrap_or(1),
            count,
        )
    };
    let status = StatusCode::from_u16(status)
        .map_err(|_| TryError::Invalid(format!("an invalid status code {status}")))?;
    if status.is_informational() {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(TryError::Invalid(
                "the upstream switched protocols, which a relayed call cannot follow".into(),
            ));
        }
        buf.advance(len);
        return Ok(Some(Parsed::Informational));
    }
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(count);
    for &(n0, n1, v0, v1) in &spans[..count] {
        let name = HeaderName::from_bytes(&head[n0..n1])
            .map_err(|_| TryError::Invalid("an invalid header name in the answer".into()))?;
        let value = HeaderValue::from_maybe_shared(head.slice(v0..v1))
            .map_err(|_| TryError::Invalid(format!("an invalid value of header {name}")))?;
        headers.append(name, value);
    }
    let mut keep_alive = minor == 1;
    for value in headers.get_all(header::CONNECTION) {
        for token in value.as_bytes().split(|&b| b == b',') {
            let token = token.trim_ascii();
            if token.eq_ignore_ascii_case(b"close") {
                keep_alive = false;
            } else if token.eq_ignore_ascii_case(b"keep-alive") && minor == 0 {
                keep_alive = true;
            }
        }
    }
    let framing =
        if head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            Framing::Empty
        } else if headers.contains_key(header::TRANSFER_ENCODING) {
            // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and a body not chunked
            // last runs until the connection closes.
            let chunked_last = headers
                .get_all(header::TRANSFER_ENCODING)
                .iter()
                .next_back()
                .and_then(|v| v.as_bytes().rsplit(|&b| b == b',').next())
                .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            headers.remove(header::CONTENT_LENGTH);
            if chunked_last {
                Framing::Chunked
            } else {
                Framing::Close
            }
        } else if headers.contains_key(header::CONTENT_LENGTH) {
            let mut length = None;
            for value in headers.get_all(header::CONTENT_LENGTH) {
                for part in value.as_bytes().split(|&b| b == b',') {
                    let n = std::str::from_utf8(part.trim_ascii())
                        .ok()
                        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|s| s.parse::<u64>().ok());
                    match (n, length) {
                        (Some(n), None) => length = Some(n),
                        (Some(n), Some(m)) if n == m => {}
                        _ => {
                            return Err(TryError::Invalid(format!(
                                "an invalid Content-Length {:?}",
                                String::from_utf8_lossy(value.as_bytes())
                            )))
                        }
                    }
                }
            }
            Framing::Length(length.unwrap_or(0))
        } else {
            Framing::Close
        };
    let keep_alive = keep_alive && framing != Framing::Close;
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = if minor == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    *response.headers_mut() = headers;
    Ok(Some(Parsed::Final(response, framing, keep_alive)))
}

/// Room for the next read. The buffer's earlier bytes are usually still shared with the last
/// answer's head and body, so it only grows when little room is left.
fn make_room(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < MIN_READ_ROOM {
        buf.reserve(READ_CHUNK);
    }
}

fn cut_short(got: usize, announced: usize) -> String {
    format!("the connection closed after {got} of {announced} announced bytes")
}

/// The body of an answer from `H1Client`.
#[derive(Debug)]
pub(crate) struct H1Body(Inner);

#[derive(Debug)]
enum Inner {
    Whole(Option<Bytes>),
    Streaming(Box<Streaming>),
}

#[derive(Debug)]
struct Streaming {
    /// `None` once the body has ended (and the connection went back to the pool or closed).
    conn: Option<Conn>,
    client: Arc<H1Client>,
    key: String,
    keep_alive: bool,
    state: State,
    /// Bytes left of the body (`Length`) or of the current chunk (`ChunkData`).
    remaining: u64,
    announced: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length,
    UntilClose,
    ChunkSize,
    ChunkData,
    ChunkEnd,
    Trailers,
}

impl Streaming {
    /// Reads more into the buffer; `Ok(0)` at the end of the connection.
    fn poll_fill(conn: &mut Conn, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        loop {
            make_room(&mut conn.buf);
            match conn.io.try_read_buf(&mut conn.buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(conn.io.poll_read_ready(cx))?;
                }
                other => return Poll::Ready(other),
            }
        }
    }

    fn end(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.keep_alive {
                self.client.checkin(&self.key, conn);
            }
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, String>>> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match self.state {
                State::Length | State::ChunkData if self.remaining == 0 => {
                    if self.state == State::Length {
                        self.end();
                        return Poll::Ready(None);
                    }
                    self.state = State::ChunkEnd;
                }
                State::Length | State::ChunkData | State::UntilClose => {
                    if !conn.buf.is_empty() {
                        let take = if self.state == State::UntilClose {
                            conn.buf.len()
                        } else {
                            (conn.buf.len() as u64).min(self.remaining) as usize
                        };
                        if self.state != State::UntilClose {
                            self.remaining -= take as u64;
                        }
                        return Poll::Ready(Some(Ok(conn.buf.split_to(take).freeze())));
                    }
                    match ready!(Self::poll_fill(conn, cx)) {
                        Ok(0) if self.state == State::UntilClose => {
                            self.conn = None;
                            return Poll::Ready(None);
                        }
                        Ok(0) => {
                            self.conn = None;
                            return Poll::Ready(Some(Err(match (self.state, self.announced) {
                                (State::Length, Some(n)) => {
                                    cut_short((n - self.remaining) as usize, n as usize)
                                }
                                _ => "the connection closed inside a chunk".into(),
                            })));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            self.conn = None;
                            return Poll::Ready(Some(Err(e.to_string())));
                        }
                    }
                }
                State::ChunkSize | State::ChunkEnd | State::Trailers => {
                    let Some(end) = conn.buf.iter().position(|&b| b == b'\n') else {
                        if conn.buf.len() > MAX_LINE_BYTES {
                            self.conn = None;
                            return Poll::Ready(Some(Err("a chunk line is too long".into())));
                        }
                        match ready!(Self::poll_fill(conn, cx)) {
                            Ok(0) => {
                                self.conn = None;
                                return Poll::Ready(Some(Err(
                                    "the connection closed inside a chunked body".into(),
                                )));
                            }
                            Ok(_) => continue,
                            Err(e) => {
                                self.conn = None;
                                return Poll::Ready(Some(Err(e.to_string())));
                            }
                        }
                    };
                    let line = conn.buf.split_to(end + 1);
                    let line = line.strip_suffix(b"\n").unwrap_or(&line);
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    match self.state {
                        State::ChunkSize => {
                            let size = line.split(|&b| b == b';').next().unwrap_or_default();
                            let size = std::str::from_utf8(size.trim_ascii())
                                .ok()
                                .filter(|s| !s.is_empty())
                                .and_then(|s| u64::from_str_radix(s, 16).ok());
                            match size {
                                Some(0) => self.state = State::Trailers,
                                Some(n) => {
                                    self.remaining = n;
                                    self.state = State::ChunkData;
                                }
                                None => {
                                    self.conn = None;
                                    return Poll::Ready(Some(Err(format!(
                                        "an invalid chunk size {:?}",
                                        String::from_utf8_lossy(line)
                                    ))));
                                }
                            }
                        }
                        State::ChunkEnd if line.is_empty() => self.state = State::ChunkSize,
                        State::ChunkEnd => {
                            self.conn = None;
                            return Poll::Ready(Some(Err("a chunk overruns its size".into())));
                        }
                        // Trailers of a relayed JSON answer are dropped; an empty line ends them.
                        _ if line.is_empty() => {
                            self.end();
                            return Poll::Ready(None);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().0 {
            Inner::Whole(bytes) => Poll::Ready(
                bytes
                    .take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            Inner::Streaming(s) => match ready!(s.poll_next(cx)) {
                Some(Ok(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
                Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
                None => Poll::Ready(None),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Whole(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Inner::Streaming(s) => s.conn.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Whole(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Inner::Streaming(s) if s.state == State::Length => SizeHint::with_exact(s.remaining),
            Inner::Streaming(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

    /// A loopback server that answers the n-th request with `answers[n]` (the last one
    /// repeats), closes the connection after an answer when `close_after` says so, and
    /// keeps every request it read, raw.
    struct Scripted {
        url: url::Url,
        requests: Arc<Mutex<Vec<Vec<u8>>>>,
        connections: Arc<AtomicUsize>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Scripted {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn scripted(answers: Vec<&'static [u8]>, close_after: bool) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicUsize::new(0));
        let (reqs, conns) = (requests.clone(), connections.clone());
        let task = tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            while let Ok((mut io, _)) = listener.accept().await {
                conns.fetch_add(1, Ordering::SeqCst);
                let (reqs, answers, served) = (reqs.clone(), answers.clone(), served.clone());
                tasks.spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        // One request: the head, then Content-Length bytes of body.
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            let mut chunk = [0u8; 4096];
                            match io.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        while buf.len() < head_end + length {
                            let mut chunk = [0u8; 4096];
                            match io.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let request: Vec<u8> = buf.drain(..head_end + length).collect();
                        reqs.lock().unwrap().push(request);
                        let n = served.fetch_add(1, Ordering::SeqCst);
                        let answer = answers[n.min(answers.len() - 1)];
                        if io.write_all(answer).await.is_err() {
                            return;
                        }
                        if close_after {
                            return;
                        }
                    }
                });
            }
        });
        Scripted {
            url,
            requests,
            connections,
            task,
        }
    }

    fn client() -> Arc<H1Client> {
        Arc::new(H1Client::new(Duration::from_secs(2)))
    }

    async fn get(
        client: &Arc<H1Client>,
        url: &url::Url,
        method: Method,
        path: &str,
    ) -> Result<(Response<()>, Bytes), TryError> {
        let upstream = Upstream::new(url.clone()).unwrap();
        let response = client
            .send(
                &upstream,
                &method,
                &path.parse().unwrap(),
                &HeaderMap::new(),
                &Bytes::new(),
                true,
            )
            .await?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| TryError::Body(e.to_string()))?
            .to_bytes();
        Ok((Response::from_parts(parts, ()), body))
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";

    #[tokio::test]
    async fn requests_are_written_as_origin_form_with_host_length_and_credentials() {
        let server = scripted(vec![OK], false).await;
        let mut base = server.url.clone();
        base.set_path("/api/");
        base.set_query(Some("key=k"));
        base.set_username("u").unwrap();
        base.set_password(Some("p")).unwrap();
        let upstream = Upstream::new(base).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-request", HeaderValue::from_static("1"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        // The client's own length, host, expectation and credentials are replaced.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
        headers.insert(header::HOST, HeaderValue::from_static("elsewhere"));
        headers.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        let response = client()
            .send(
                &upstream,
                &Method::POST,
                &"/spacemesh.v2beta1.AccountService/List?x=1"
                    .parse()
                    .unwrap(),
                &headers,
                &Bytes::from_static(b"{\"a\":1}"),
                true,
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let request = String::from_utf8(server.requests.lock().unwrap()[0].clone()).unwrap();
        let port = server.url.port().unwrap();
        assert_eq!(
            request,
            format!(
                "POST /api/spacemesh.v2beta1.AccountService/List?key=k&x=1 HTTP/1.1\r\n\
                 host: 127.0.0.1:{port}\r\n\
                 x-request: 1\r\n\
                 x-multi: a\r\n\
                 x-multi: b\r\n\
                 content-length: 7\r\n\
                 authorization: Basic dTpw\r\n\
                 \r\n\
                 {{\"a\":1}}"
            )
        );
    }

    #[tokio::test]
    async fn a_large_request_body_goes_out_whole() {
        let server = scripted(vec![OK], false).await;
        let upstream = Upstream::new(server.url.clone()).unwrap();
        let body = Bytes::from(vec![b'x'; 3 * COPY_BODY_BYTES + 17]);
        client()
            .send(
                &upstream,
                &Method::POST,
                &"/big".parse().unwrap(),
                &HeaderMap::new(),
                &body,
                true,
            )
            .await
            .unwrap();
        let request = server.requests.lock().unwrap()[0].clone();
        assert!(request.ends_with(&body), "the body arrived whole");
    }

    #[tokio::test]
    async fn a_small_answer_is_read_whole_and_the_connection_reused() {
        let server = scripted(vec![OK], false).await;
        let c = client();
        for _ in 0..5 {
            let (head, body) = get(&c, &server.url, Method::GET, "/a").await.unwrap();
            assert_eq!(head.status(), 200);
            assert_eq!(head.headers()[header::CONTENT_TYPE], "application/json");
            assert_eq!(body, "{\"ok\":true}");
        }
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_chunked_answer_is_decoded_and_its_trailers_dropped() {
        let server = scripted(
            vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nx-trailer: 1\r\n\r\n"],
            false,
        )
        .await;
        let c = client();
        for _ in 0..2 {
            let (head, body) = get(&c, &server.url, Method::GET, "/").await.unwrap();
            assert!(!head.headers().contains_key(header::CONTENT_LENGTH));
            assert_eq!(body, "Wikipedia in\r\n\r\nchunks.");
        }
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_answer_without_length_runs_to_the_close_and_is_not_reused() {
        let server = scripted(vec![b"HTTP/1.1 200 OK\r\n\r\nuntil the end"], true).await;
        let c = client();
        for _ in 0..2 {
            let (_, body) = get(&c, &server.url, Method::GET, "/").await.unwrap();
            assert_eq!(body, "until the end");
        }
        assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn connection_close_and_http_1_0_are_not_reused() {
        let server = scripted(
            vec![
                b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\na",
                b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nb",
            ],
            false,
        )
        .await;
        let c = client();
        assert_eq!(get(&c, &server.url, Method::GET, "/").await.unwrap().1, "a");
        assert_eq!(get(&c, &server.url, Method::GET, "/").await.unwrap().1, "b");
        assert_eq!(get(&c, &server.url, Method::GET, "/").await.unwrap().1, "b");
        assert_eq!(server.connections.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn head_204_and_informational_answers_have_no_body() {
        let server = scripted(
            vec![
                b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n",
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            ],
            false,
        )
        .await;
        let c = client();
        let (head, body) = get(&c, &server.url, Method::HEAD, "/").await.unwrap();
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "50");
        assert!(body.is_empty());
        let (head, body) = get(&c, &server.url, Method::GET, "/").await.unwrap();
        assert_eq!(head.status(), 204);
        assert!(body.is_empty());
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_large_answer_streams_and_then_the_connection_is_reused() {
        static BIG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let big = BIG.get_or_init(|| {
            let n = READ_WHOLE_BYTES as usize * 3 + 5;
            let mut v = format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n").into_bytes();
            v.extend(std::iter::repeat_n(b'z', n));
            v
        });
        let server = scripted(vec![big.as_slice()], false).await;
        let c = client();
        for _ in 0..2 {
            let upstream = Upstream::new(server.url.clone()).unwrap();
            let response = c
                .send(
                    &upstream,
                    &Method::GET,
                    &"/".parse().unwrap(),
                    &HeaderMap::new(),
                    &Bytes::new(),
                    true,
                )
                .await
                .unwrap();
            let n = READ_WHOLE_BYTES * 3 + 5;
            assert_eq!(response.body().size_hint().exact(), Some(n));
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body.len() as u64, n);
            assert!(body.iter().all(|&b| b == b'z'));
        }
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn broken_answers_are_errors_that_say_what_is_wrong() {
        let cases: [(&'static [u8], &str); 6] = [
            (b"garbage\r\n\r\n", "unreadable answer head"),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
                "closed after 5 of 10",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\nab",
                "invalid Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                "invalid chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
                "overruns",
            ),
            (
                b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                "switched protocols",
            ),
        ];
        for (answer, expected) in cases {
            let server = scripted(vec![answer], true).await;
            let err = get(&client(), &server.url, Method::GET, "/")
                .await
                .unwrap_err();
            assert!(err.to_string().contains(expected), "{err} for {answer:?}");
            assert!(err.may_have_reached_upstream());
        }
    }

    #[tokio::test]
    async fn a_closed_idle_connection_is_replaced_without_an_error() {
        // Keep-alive answers, but the server drops each connection right after answering.
        let server = scripted(vec![OK], true).await;
        let c = client();
        for _ in 0..3 {
            let (_, body) = get(&c, &server.url, Method::GET, "/").await.unwrap();
            assert_eq!(body, "{\"ok\":true}");
            // Let the close reach this side (or not: the retry covers the race).
            tokio::task::yield_now().await;
        }
        assert_eq!(server.connections.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_are_closed_after_the_idle_timeout() {
        let a = scripted(vec![OK], false).await;
        let b = scripted(vec![OK], false).await;
        let c = client();
        get(&c, &a.url, Method::GET, "/").await.unwrap();
        tokio::time::advance(IDLE_TIMEOUT).await;
        // A call to b sweeps a's connection, which nothing uses anymore.
        get(&c, &b.url, Method::GET, "/").await.unwrap();
        {
            let idle = c.idle.lock().unwrap();
            assert!(!idle.conns.contains_key(a.url.as_str()));
            assert_eq!(idle.conns[b.url.as_str()].len(), 1);
        }
        // An idle connection too old is not used: a new one is made.
        tokio::time::advance(IDLE_TIMEOUT).await;
        get(&c, &b.url, Method::GET, "/").await.unwrap();
        assert_eq!(b.connections.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_not_safe_to_repeat_only_reuses_a_connection_used_moments_ago() {
        let server = scripted(vec![OK], false).await;
        let upstream = Upstream::new(server.url.clone()).unwrap();
        let c = client();
        let send = |replay_safe| {
            let (c, upstream) = (c.clone(), upstream.clone());
            async move {
                c.send(
                    &upstream,
                    &Method::POST,
                    &"/tx".parse().unwrap(),
                    &HeaderMap::new(),
                    &Bytes::from_static(b"{}"),
                    replay_safe,
                )
                .await
                .unwrap()
                .into_body()
                .collect()
                .await
                .unwrap();
            }
        };
        send(true).await;
        send(false).await;
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
        tokio::time::advance(RECENT_IDLE).await;
        send(false).await;
        assert_eq!(server.connections.load(Ordering::SeqCst), 2);
        // Both stay pooled; calls that may be repeated reuse them.
        send(true).await;
        send(true).await;
        assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url: url::Url = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        drop(listener);
        let err = get(&client(), &url, Method::GET, "/").await.unwrap_err();
        assert!(matches!(err, TryError::Connect(_)), "{err:?}");
        assert!(!err.may_have_reached_upstream());
        assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
    }
}

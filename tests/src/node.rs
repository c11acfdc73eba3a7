//! One fake full node: an HTTP/1.1 server on 127.0.0.1 answering from the shared chain, with switchable faults.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::chain::{Network, Published};
use crate::fault::{Fault, SimBody};
use crate::routes::{self, Call, Reply, Resolved};
use crate::v2;

/// Request bodies above this are refused (500, as a failed body read in Go).
const MAX_REQUEST_BODY: usize = 16 << 20;

/// One simulated node. Dropping it closes its listener and every open connection.
#[derive(Debug)]
pub struct Node {
    shared: Arc<NodeShared>,
}

#[derive(Debug)]
struct NodeShared {
    network: Network,
    index: usize,
    addr: SocketAddr,
    runtime: tokio::runtime::Handle,
    fault: Mutex<Fault>,
    counters: Mutex<HashMap<&'static str, u64>>,
    /// Woken on every request, for tests that wait for traffic instead of sleeping.
    counted: tokio::sync::Notify,
    server: Mutex<Option<Server>>,
}

/// A listening server; taking it apart closes everything at once.
#[derive(Debug)]
struct Server {
    /// Shared with the accept task, which polls it under the lock, so that stopping can
    /// close the socket synchronously (clients are refused the moment `stop` returns).
    listener: Arc<Mutex<Option<TcpListener>>>,
    accept: JoinHandle<()>,
    conns: Arc<Mutex<JoinSet<()>>>,
}

impl Server {
    fn shut(self) {
        drop(lock(&self.listener).take());
        self.accept.abort();
        // Aborting marks every connection task cancelled: none is polled again, so no
        // request on an open connection is answered after this.
        lock(&self.conns).abort_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Network {
    /// Starts a node on `127.0.0.1:0`. Panics only if the loopback interface cannot be bound;
    /// use [`Network::try_spawn_node`] to handle that.
    pub async fn spawn_node(&self) -> Node {
        match self.try_spawn_node().await {
            Ok(n) => n,
            Err(e) => panic!("simnet: cannot listen on 127.0.0.1:0: {e}"),
        }
    }

    /// Starts `n` nodes; see [`Network::spawn_node`].
    pub async fn spawn_nodes(&self, n: usize) -> Vec<Node> {
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            nodes.push(self.spawn_node().await);
        }
        nodes
    }

    pub async fn try_spawn_node(&self) -> io::Result<Node> {
        let listener = bind("127.0.0.1:0".parse().map_err(io::Error::other)?)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(NodeShared {
            network: self.clone(),
            index: self.next_node_index(),
            addr,
            runtime: tokio::runtime::Handle::current(),
            fault: Mutex::new(Fault::None),
            counters: Mutex::new(HashMap::new()),
            counted: tokio::sync::Notify::new(),
            server: Mutex::new(None),
        });
        start(&shared, listener);
        tracing::debug!(node = shared.index, %addr, "simnet node listening");
        Ok(Node { shared })
    }
}

/// Binds with SO_REUSEADDR so that a restart gets the same port back at once.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

fn start(shared: &Arc<NodeShared>, listener: TcpListener) {
    let listener = Arc::new(Mutex::new(Some(listener)));
    let conns = Arc::new(Mutex::new(JoinSet::new()));
    let accept = shared
        .runtime
        .spawn(accept_loop(shared.clone(), listener.clone(), conns.clone()));
    let old = lock(&shared.server).replace(Server {
        listener,
        accept,
        conns,
    });
    if let Some(old) = old {
        old.shut();
    }
}

async fn accept_loop(
    shared: Arc<NodeShared>,
    listener: Arc<Mutex<Option<TcpListener>>>,
    conns: Arc<Mutex<JoinSet<()>>>,
) {
    loop {
        let accepted = poll_fn(|cx| match lock(&listener).as_ref() {
            Some(l) => l.poll_accept(cx).map(Some),
            None => Poll::Ready(None),
        })
        .await;
        match accepted {
            None => return,
            Some(Ok((stream, _))) => {
                let mut set = lock(&conns);
                while set.try_join_next().is_some() {}
                set.spawn(serve_connection(shared.clone(), stream));
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Some(Err(e)) => {
                tracing::warn!(node = shared.index, error = %e, "simnet accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

async fn serve_connection(shared: Arc<NodeShared>, stream: TcpStream) {
    let svc = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
    });
    // Errors here are clients going away mid-request, which tests do on purpose.
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc)
        .await;
}

async fn handle(shared: &NodeShared, req: Request<Incoming>) -> Response<SimBody> {
    let resolved = routes::resolve(req.method(), req.uri().path());
    let route = match &resolved {
        Resolved::Call(c) => c.name(),
        Resolved::WrongMethod { name, .. } => name,
        Resolved::NotFound => routes::name::UNKNOWN,
    };
    *lock(&shared.counters).entry(route).or_default() += 1;
    shared.counted.notify_waiters();
    tracing::debug!(node = shared.index, method = %req.method(), path = req.uri().path(), "simnet request");

    let fault = *lock(&shared.fault);
    match fault {
        // A request racing a stop gets no answer either; the connection is being torn down.
        Fault::Hang | Fault::Stop => std::future::pending::<()>().await,
        Fault::Slow(d) => tokio::time::sleep(d).await,
        Fault::Status(code) => {
            let reply = Reply::go_error(code, &format!("simnet: injected status {code}"));
            return response(reply, fault);
        }
        _ => {}
    }

    let reply = match resolved {
        Resolved::NotFound => Reply::not_found(),
        Resolved::WrongMethod { allow, v2, .. } => {
            let mut r = if v2 {
                v2::method_not_allowed()
            } else {
                Reply::go_error(405, "Method Not Allowed")
            };
            r.allow = Some(allow);
            r
        }
        Resolved::Call(Call::V2Status) => v2::status(&shared.network, fault),
        Resolved::Call(Call::V2Info) => v2::info(&shared.network),
        Resolved::Call(call) => match Limited::new(req.into_body(), MAX_REQUEST_BODY)
            .collect()
            .await
        {
            Ok(body) => routes::node_service(
                &shared.network,
                shared.index,
                &call,
                &body.to_bytes(),
                fault != Fault::Unsynced,
            ),
            Err(e) => Reply::go_error(500, &format!("reading request body: {e}")),
        },
    };
    response(reply, fault)
}

/// Turns a reply into the wire response, breaking JSON 200 bodies under `Fault::Garbage`.
fn response(reply: Reply, fault: Fault) -> Response<SimBody> {
    let body = match fault {
        Fault::Garbage(kind) if reply.json && reply.status == 200 => {
            SimBody::garbled(reply.body, kind)
        }
        _ => SimBody::full(reply.body),
    };
    let mut b = Response::builder().status(reply.status);
    if let Some(ct) = reply.content_type {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    if let Some(allow) = reply.allow {
        b = b.header(header::ALLOW, allow);
    }
    // Only an out-of-range status from `Fault::Status` can fail here; answer 500 then.
    b.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(SimBody::full(Bytes::from_static(
            b"simnet: bad injected status\n",
        )));
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

impl Node {
    /// Base URL with a trailing slash, e.g. `http://127.0.0.1:41234/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.shared.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Position of this node in its network (0, 1, …); `Published::node` refers to it.
    pub fn index(&self) -> usize {
        self.shared.index
    }

    pub fn network(&self) -> &Network {
        &self.shared.network
    }

    pub fn fault(&self) -> Fault {
        *lock(&self.shared.fault)
    }

    /// Switches the fault at once. `Stop` closes the listener and every connection before
    /// returning; any other fault on a stopped node listens again on the same port.
    pub fn set_fault(&self, fault: Fault) {
        *lock(&self.shared.fault) = fault;
        let running = lock(&self.shared.server).is_some();
        if fault == Fault::Stop {
            self.stop();
        } else if !running {
            if let Err(e) = self.listen() {
                tracing::warn!(node = self.shared.index, addr = %self.shared.addr, error = %e,
                    "simnet node cannot listen again; it stays stopped");
            }
        }
    }

    fn stop(&self) {
        let server = lock(&self.shared.server).take();
        if let Some(s) = server {
            s.shut();
        }
    }

    fn listen(&self) -> io::Result<()> {
        let _ctx = self.shared.runtime.enter();
        let listener = bind(self.shared.addr)?;
        start(&self.shared, listener);
        Ok(())
    }

    /// Stops and listens again on the same port; chain state and counters are kept, a
    /// `Stop` fault is cleared, any other fault stays.
    pub async fn restart(&self) -> io::Result<()> {
        self.stop();
        // Let the aborted tasks run their drops before the port is taken again.
        tokio::task::yield_now().await;
        {
            let mut f = lock(&self.shared.fault);
            if *f == Fault::Stop {
                *f = Fault::None;
            }
        }
        self.listen()
    }

    /// Requests received on one route (see [`routes::name`]), faults included.
    pub fn requests(&self, route: &str) -> u64 {
        lock(&self.shared.counters).get(route).copied().unwrap_or(0)
    }

    pub fn total_requests(&self) -> u64 {
        lock(&self.shared.counters).values().sum()
    }

    /// Waits until `route` has seen at least `count` requests; returns the count reached,
    /// which is below `count` if `timeout` passed first.
    pub async fn wait_requests(
        &self,
        route: &str,
        count: u64,
        timeout: std::time::Duration,
    ) -> u64 {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.shared.counted.notified();
            let now = self.requests(route);
            if now >= count || tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.requests(route);
            }
        }
    }

    pub fn reset_requests(&self) {
        lock(&self.shared.counters).clear();
    }

    /// Blobs published through this node, oldest first.
    pub fn published(&self) -> Vec<Published> {
        self.shared.network.published_by_node(self.shared.index)
    }
}

#[cfg(test)]
impl Node {
    /// Lets a test check that no task outlives the node.
    pub(crate) fn liveness(&self) -> std::sync::Weak<impl std::fmt::Debug> {
        Arc::downgrade(&self.shared)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

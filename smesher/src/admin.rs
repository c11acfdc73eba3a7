//! The admin listener: Prometheus `/metrics`, the upstream table as JSON at `/status`, and a
//! `/healthz` that says whether any node-service is usable.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use gateway::{Gateway, UpstreamStatus};
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus::{Encoder as _, Registry, TextEncoder};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the admin listener serves from.
#[derive(Clone, Debug)]
pub struct AdminState {
    pub registry: Registry,
    pub node_service: Gateway,
}

/// Serves the admin routes on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, state: AdminState, mut shutdown: watch::Receiver<bool>) {
    let state = Arc::new(state);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let (stream, _) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "admin listener: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&state, req)) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "admin connection ended with an error");
            }
        });
    }
}

fn route(state: &AdminState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served here\n");
    }
    match req.uri().path() {
        "/metrics" => {
            let mut buf = Vec::new();
            let families = state.registry.gather();
            match TextEncoder::new().encode(&families, &mut buf) {
                Ok(()) => Response::builder()
                    .header(header::CONTENT_TYPE, TextEncoder::new().format_type())
                    .body(Full::new(Bytes::from(buf)))
                    .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "encoding\n")),
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
            }
        }
        "/status" => {
            let body = json!({ "node_service": status_json(&state.node_service.status()) });
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "encoding\n"))
        }
        "/healthz" => {
            if state.node_service.healthy_count() > 0 {
                text(StatusCode::OK, "ok\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "no healthy node-service\n")
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /status or /healthz\n",
        ),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The upstream table as JSON (what `smesher status` prints).
pub fn status_json(rows: &[UpstreamStatus]) -> serde_json::Value {
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    rows.iter()
        .map(|s| {
            json!({
                "url": s.url,
                "priority": s.priority,
                "state": s.state.as_str(),
                "healthy": s.healthy,
                "active": s.active,
                "sync_lag": s.sync_lag,
                "last_probe_ms": ms(s.last_probe_latency),
                "last_call_ms": ms(s.last_call_latency),
                "consecutive_failures": s.consecutive_failures,
                "ejected_for_ms": ms(s.ejected_for),
                "last_error": s.last_error,
            })
        })
        .collect()
}

/// Renders the JSON of `/status` as a table for a terminal.
pub fn render_table(status: &serde_json::Value) -> String {
    let mut out = String::new();
    let rows = status["node_service"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    out.push_str(&format!(
        "{:<3} {:<40} {:<9} {:<6} {:>4} {:>9} {:>5}  {}\n",
        "#", "NODE-SERVICE", "STATE", "ACTIVE", "LAG", "LAST(ms)", "FAILS", "LAST ERROR"
    ));
    for row in rows {
        let lag = row["sync_lag"]
            .as_u64()
            .map_or_else(|| "-".to_owned(), |l| l.to_string());
        let last = row["last_call_ms"]
            .as_f64()
            .or_else(|| row["last_probe_ms"].as_f64())
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.2}"));
        out.push_str(&format!(
            "{:<3} {:<40} {:<9} {:<6} {:>4} {:>9} {:>5}  {}\n",
            row["priority"].as_u64().unwrap_or_default(),
            row["url"].as_str().unwrap_or("?"),
            row["state"].as_str().unwrap_or("?"),
            if row["active"].as_bool().unwrap_or(false) {
                "*"
            } else {
                ""
            },
            lag,
            last,
            row["consecutive_failures"].as_u64().unwrap_or_default(),
            row["last_error"].as_str().unwrap_or(""),
        ));
    }
    out
}

/// The address the admin listener is reachable at, for printing.
pub fn url_of(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

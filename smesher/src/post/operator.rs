//! The post-service's operator endpoint (`--operator-address`): plain HTTP `GET /status`
//! answering `"Idle"`, `{"Proving":{"nonces":{"start","end"},"position":N}}` or
//! `"DoneProving"`, as post-rs's does, so scripts that start and stop post-services work as is.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::post_service::Prover;

fn respond(prover: &Prover, req: &http::Request<Incoming>) -> http::Response<Full<Bytes>> {
    let (status, body) = if req.method() == http::Method::GET && req.uri().path() == "/status" {
        (http::StatusCode::OK, prover.status().to_json().to_string())
    } else {
        (http::StatusCode::NOT_FOUND, "\"not found\"".to_string())
    };
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves the endpoint on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, prover: Arc<Prover>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("operator endpoint accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let prover = prover.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let response = respond(&prover, &req);
                async move { Ok::<_, Infallible>(response) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, "operator connection ended: {e}");
            }
        });
    }
}

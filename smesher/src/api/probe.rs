//! The health probe of the v2 pool (`proxy-api-v2-address`): v2 JSON `NodeService/Status` over
//! the relay's own TLS setup, so `https://` upstreams with a private CA are probed too.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use gateway::{Probe, ProbeError, ProbeReport, TlsRoots, Upstream, UpstreamConnector};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::clock::LayerClock;

const STATUS_PATH: &str = "/spacemesh.v2beta1.NodeService/Status";
const MAX_PROBE_BODY: usize = 64 * 1024;

/// Probes v2 API upstreams (see the module docs).
#[derive(Clone, Debug)]
pub struct V2Probe {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client<UpstreamConnector, Full<Bytes>>,
    clock: LayerClock,
}

impl V2Probe {
    pub fn new(clock: LayerClock, roots: &TlsRoots) -> Result<Self, gateway::TlsError> {
        let connector = gateway::tls_connector(roots, false, Duration::from_secs(2))?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(V2Probe {
            inner: Arc::new(Inner { client, clock }),
        })
    }
}

impl Probe for V2Probe {
    fn probe(&self, upstream: &Upstream) -> BoxFuture<'static, Result<ProbeReport, ProbeError>> {
        let inner = self.inner.clone();
        let upstream = upstream.clone();
        Box::pin(async move { inner.probe(&upstream).await })
    }
}

impl Inner {
    async fn probe(&self, upstream: &Upstream) -> Result<ProbeReport, ProbeError> {
        let wall_layer = self.clock.current_layer();
        let uri = upstream
            .join(&http::Uri::from_static(STATUS_PATH))
            .map_err(ProbeError::failed)?;
        let mut req = http::Request::get(uri)
            .body(Full::new(Bytes::new()))
            .map_err(ProbeError::failed)?;
        if let Some(auth) = upstream.authorization() {
            req.headers_mut()
                .insert(http::header::AUTHORIZATION, auth.clone());
        }
        let resp = self.client.request(req).await.map_err(|e| {
            ProbeError::failed(format!(
                "{}: {}",
                upstream.redacted(),
                crate::node::probe::error_chain(&e)
            ))
        })?;
        let code = resp.status();
        let body = Limited::new(resp.into_body(), MAX_PROBE_BODY)
            .collect()
            .await
            .map_err(|e| ProbeError::failed(format!("reading the status answer: {e}")))?
            .to_bytes();
        if !code.is_success() {
            return Err(ProbeError::failed(format!(
                "GET {STATUS_PATH} answered HTTP {code}: {}",
                String::from_utf8_lossy(&body[..body.len().min(120)])
            )));
        }
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| ProbeError::failed(format!("status answer is not JSON: {e}")))?;
        let status = v.get("status").and_then(|s| s.as_str()).unwrap_or("");
        let current = v
            .get("currentLayer")
            .and_then(|l| l.as_u64())
            .and_then(|l| u32::try_from(l).ok());
        Ok(ProbeReport {
            synced: status == "SYNC_STATUS_SYNCED",
            current_layer: current,
            wall_layer: current.map(|_| wall_layer),
        })
    }
}

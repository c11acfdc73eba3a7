//! The health probe for node-service upstreams: is the node reachable, synced, and how far behind?
//!
//! Two questions per probe. Readiness: a cheap node-service route (`GET /blockids/{layer}`), which
//! every G3 node-service gates with `503` while it is not in sync (PROTOCOL.md §1.2.5), so this is
//! the same answer a duty's call would get. Lag: the node's v2 `NodeService/Status`, read from the
//! node's `status-address` when one is configured, else from the node-service URL itself (simnet
//! serves both on one port). A node whose status route is unknown (404/405) is judged on
//! readiness alone, so a plain node-service port still works.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use gateway::{Probe, ProbeError, ProbeReport, TlsError, TlsRoots, Upstream, UpstreamConnector};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use url::Url;

use super::model::{self, NodeStatus};
use crate::clock::LayerClock;

/// Largest probe answer we read; a status body is a few hundred bytes.
const MAX_PROBE_BODY: usize = 64 * 1024;
const STATUS_PATH: &str = "spacemesh.v2beta1.NodeService/Status";

/// Probes node-service upstreams (see the module docs).
#[derive(Clone, Debug)]
pub struct NodeProbe {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client<UpstreamConnector, Full<Bytes>>,
    clock: LayerClock,
    /// node-service base URL → where its v2 status is read; swapped on reload.
    status_urls: ArcSwap<HashMap<String, Url>>,
}

impl NodeProbe {
    /// `status_urls` pairs node-service URLs with the v2 JSON base URL of the same node;
    /// `roots` are trusted for `https://` nodes.
    pub fn new(
        clock: LayerClock,
        status_urls: impl IntoIterator<Item = (Url, Url)>,
        roots: &TlsRoots,
    ) -> Result<Self, TlsError> {
        let connector = gateway::tls_connector(roots, false, Duration::from_secs(2))?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                clock,
                status_urls: ArcSwap::from_pointee(index(status_urls)),
            }),
        })
    }

    /// Replaces the status addresses (config reload).
    pub fn set_status_urls(&self, status_urls: impl IntoIterator<Item = (Url, Url)>) {
        self.inner.status_urls.store(Arc::new(index(status_urls)));
    }
}

fn index(pairs: impl IntoIterator<Item = (Url, Url)>) -> HashMap<String, Url> {
    pairs
        .into_iter()
        .map(|(node, status)| (node.as_str().to_owned(), status))
        .collect()
}

impl Probe for NodeProbe {
    fn probe(&self, upstream: &Upstream) -> BoxFuture<'static, Result<ProbeReport, ProbeError>> {
        let inner = self.inner.clone();
        let node_url = upstream.url().clone();
        Box::pin(async move { inner.probe(node_url).await })
    }
}

impl Inner {
    async fn probe(&self, node_url: Url) -> Result<ProbeReport, ProbeError> {
        let wall_layer = self.clock.current_layer();
        // Readiness on the node-service API itself: what the duties will meet.
        let ready_url = join(
            &node_url,
            &format!("blockids/{}", wall_layer.saturating_sub(1)),
        )?;
        let (status, body) = self.get(&ready_url).await?;
        let ready = match status {
            200 | 404 => true,
            503 => false,
            other => {
                return Err(ProbeError::failed(format!(
                    "GET {} answered HTTP {other}: {}",
                    ready_url.path(),
                    snippet(&body)
                )))
            }
        };
        let status_base = self
            .status_urls
            .load()
            .get(node_url.as_str())
            .cloned()
            .unwrap_or(node_url);
        let status_url = join(&status_base, STATUS_PATH)?;
        let (code, body) = self.get(&status_url).await?;
        match code {
            200 => {
                let status: NodeStatus = model::parse(&body).map_err(ProbeError::failed)?;
                Ok(ProbeReport {
                    synced: ready && status.status == "SYNC_STATUS_SYNCED",
                    current_layer: Some(status.current_layer),
                    wall_layer: Some(wall_layer),
                })
            }
            // No v2 API on this port: readiness alone decides.
            404 | 405 => Ok(ProbeReport {
                synced: ready,
                current_layer: None,
                wall_layer: None,
            }),
            other => Err(ProbeError::failed(format!(
                "GET {} answered HTTP {other}: {}",
                status_url.path(),
                snippet(&body)
            ))),
        }
    }

    async fn get(&self, url: &Url) -> Result<(u16, Bytes), ProbeError> {
        let req = http::Request::get(url.as_str())
            .body(Full::new(Bytes::new()))
            .map_err(ProbeError::failed)?;
        let resp = self.client.request(req).await.map_err(|e| {
            ProbeError::failed(format!("{}: {}", gateway::redact(url), error_chain(&e)))
        })?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_PROBE_BODY)
            .collect()
            .await
            .map_err(|e| ProbeError::failed(format!("reading probe answer: {e}")))?
            .to_bytes();
        Ok((status, body))
    }
}

fn join(base: &Url, path: &str) -> Result<Url, ProbeError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let with_slash = format!("{}/", base.path());
        base.set_path(&with_slash);
    }
    base.join(path).map_err(ProbeError::failed)
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    text.trim().to_owned()
}

/// `hyper_util`'s errors hide the cause (e.g. "connection refused") one level down.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

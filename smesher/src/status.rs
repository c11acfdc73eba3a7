//! `smesher status`: reads `/status` from a running service and renders the upstream table.

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Fetches the upstream table from the metrics listener at `base` and renders it.
pub async fn fetch(base: &str) -> anyhow::Result<String> {
    let base = url::Url::parse(base).with_context(|| format!("{base:?} is not a URL"))?;
    let url = base.join("/status").context("building the status URL")?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let req = http::Request::get(url.as_str())
        .body(Empty::new())
        .context("building the request")?;
    let resp = tokio::time::timeout(std::time::Duration::from_secs(5), client.request(req))
        .await
        .with_context(|| format!("{url} did not answer within 5s"))?
        .with_context(|| format!("cannot reach {url}"))?;
    anyhow::ensure!(
        resp.status().is_success(),
        "{url} answered HTTP {}",
        resp.status()
    );
    let body = http_body_util::Limited::new(resp.into_body(), 1 << 20)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading {url}: {e}"))?
        .to_bytes();
    let json: serde_json::Value =
        serde_json::from_slice(&body).with_context(|| format!("{url} did not answer JSON"))?;
    Ok(crate::admin::render_table(&json))
}

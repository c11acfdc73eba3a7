//! `Gateway::broadcast`: one request to every healthy upstream at once (no fail-over, no
//! retry), for messages that spread faster when every node gossips them.

use bytes::Bytes;
use tower::ServiceExt;

use crate::error::TryError;
use crate::failover::TryRequest;
use crate::gateway::Gateway;

/// What one upstream answered to a broadcast.
#[derive(Debug)]
pub struct Delivery {
    /// The upstream, redacted as in logs and metrics.
    pub upstream: String,
    /// Its answer (any status), or why there was none.
    pub result: Result<http::Response<Bytes>, TryError>,
}

impl Delivery {
    /// A 2xx answer.
    pub fn is_success(&self) -> bool {
        matches!(&self.result, Ok(r) if r.status().is_success())
    }
}

/// A copy of a request whose body is already in memory.
fn copy(parts: &http::request::Parts, body: &Bytes) -> http::Request<Bytes> {
    let mut req = http::Request::new(body.clone());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.headers_mut() = parts.headers.clone();
    req
}

impl Gateway {
    /// Sends `request` (a path and query, as for `call`) to every healthy upstream
    /// concurrently, each with the per-try timeout; one `Delivery` per upstream in priority
    /// order. Empty when no upstream is healthy. Unhealthy upstreams are not tried.
    pub async fn broadcast(&self, request: http::Request<Bytes>) -> Vec<Delivery> {
        let (upstreams, one_try, per_try) = self.healthy_upstreams();
        let (parts, body) = request.into_parts();
        let sends = upstreams.into_iter().map(|upstream| {
            let request = copy(&parts, &body);
            let service = one_try.clone();
            async move {
                let label = upstream.redacted().to_owned();
                let call = service.oneshot(TryRequest { upstream, request });
                let result = match tokio::time::timeout(per_try, call).await {
                    Ok(result) => result,
                    Err(_) => Err(TryError::Timeout(per_try)),
                };
                Delivery {
                    upstream: label,
                    result,
                }
            }
        });
        futures_util::future::join_all(sends).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use futures_util::future::BoxFuture;
    use prometheus::Registry;

    use crate::health::{Probe, ProbeError, ProbeReport};
    use crate::settings::Settings;
    use crate::test_server::{serve, Reply, TestServer};
    use crate::upstream::Upstream;
    use crate::Gateway;

    /// Synced unless the URL is listed as down.
    #[derive(Clone, Default)]
    struct Probes(Arc<Mutex<HashSet<String>>>);

    impl Probe for Probes {
        fn probe(&self, u: &Upstream) -> BoxFuture<'static, Result<ProbeReport, ProbeError>> {
            let down = self.0.lock().unwrap().contains(u.url().as_str());
            Box::pin(async move {
                if down {
                    Err(ProbeError::Failed("down".into()))
                } else {
                    Ok(ProbeReport::synced())
                }
            })
        }
    }

    async fn counting(hits: &Arc<AtomicUsize>) -> TestServer {
        let hits = hits.clone();
        serve(move |_| {
            hits.fetch_add(1, Ordering::SeqCst);
            Reply::ok("")
        })
        .await
    }

    #[tokio::test]
    async fn reaches_every_healthy_upstream_once_and_skips_the_others() {
        let hits: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::default()).collect();
        let a = counting(&hits[0]).await;
        let b = counting(&hits[1]).await;
        let c = counting(&hits[2]).await;
        let probes = Probes::default();
        probes.0.lock().unwrap().insert(c.url().to_string());
        let gw = Gateway::new(
            "node-service",
            vec![a.url(), b.url(), c.url()],
            Settings {
                health_interval: Duration::from_secs(3600),
                rise: 1,
                fall: 1,
                ..Settings::default()
            },
            Arc::new(probes),
            &Registry::new(),
        )
        .unwrap();
        gw.wait_until_probed().await;
        assert_eq!(gw.healthy_count(), 2);

        let req = http::Request::post("/publish/hare3")
            .body(bytes::Bytes::from_static(b"blob"))
            .unwrap();
        let out = gw.broadcast(req).await;
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out.iter().all(|d| d.is_success()), "{out:?}");
        let counts: Vec<usize> = hits.iter().map(|h| h.load(Ordering::SeqCst)).collect();
        assert_eq!(counts, vec![1, 1, 0], "the unhealthy upstream is not tried");

        // A healthy upstream that dies meanwhile is reported, the others still get it.
        drop(a);
        let req = http::Request::post("/publish/hare3")
            .body(bytes::Bytes::from_static(b"blob"))
            .unwrap();
        let out = gw.broadcast(req).await;
        assert_eq!(out.len(), 2);
        assert!(!out[0].is_success() && out[1].is_success(), "{out:?}");
        assert_eq!(hits[1].load(Ordering::SeqCst), 2);
    }
}

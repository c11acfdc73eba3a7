//! `Gateway`: the façade the smesher uses. It composes the tower stack, runs the health
//! checker, and swaps upstreams and settings on reload.

use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};
use tracing::Instrument;
use url::Url;

use crate::checker::{Checker, Rounds};
use crate::client::{HttpClient, HttpTry, Limits};
use crate::error::GatewayError;
use crate::failover::{ActivePassive, ActivePassiveLayer, Call, ResponseCheck, Routing};
use crate::health::Probe;
use crate::metrics::{GatewayMetrics, TryMetrics, TryMetricsLayer};
use crate::pool::{ActiveSlot, Member, UpstreamStatus};
use crate::retry_budget::RetryBudget;
use crate::settings::Settings;
use crate::timeout::{Timeout, TimeoutLayer};
use crate::tls::{TlsRoots, UpstreamConnector};
use crate::upstream::Upstream;

type Stack = Timeout<ActivePassive<TryMetrics<HttpTry<UpstreamConnector>>>>;

/// The routing stack, top to bottom. Every layer reads the settings of one snapshot, so a
/// reload builds a new stack and calls in flight finish on the one they started with.
fn stack(
    pool: &Arc<str>,
    members: &Arc<[Arc<Member>]>,
    settings: &Arc<Settings>,
    active: &Arc<ActiveSlot>,
    budget: &Arc<RetryBudget>,
    metrics: &GatewayMetrics,
    client: &HttpClient<UpstreamConnector>,
) -> Stack {
    let routing = Routing::new(
        pool.clone(),
        members.clone(),
        settings.clone(),
        active.clone(),
        budget.clone(),
        metrics.clone(),
    );
    ServiceBuilder::new()
        // A duty must learn in time that its call failed, however many tries it takes.
        .layer(TimeoutLayer::new(pool.clone(), settings.request_timeout))
        // Stay on the active node, switch at once when it is unusable, and retry a failed try
        // on the next usable node while the retry budget allows.
        .layer(ActivePassiveLayer::new(routing))
        // Count and time each try per upstream; it sits here because the labels name the
        // upstream, which only exists per try.
        .layer(TryMetricsLayer::new(pool.clone(), metrics.clone()))
        // One try: pooled keep-alive HTTP/1.1 (TLS for https:// upstreams), one timeout over
        // headers and body, and a body size limit so a broken node cannot exhaust memory.
        .service(HttpTry::new(client.clone(), Limits::from(&**settings)))
}

/// One configuration: upstreams with their records, settings, and the stack built on them.
struct Snapshot {
    members: Arc<[Arc<Member>]>,
    settings: Arc<Settings>,
    budget: Arc<RetryBudget>,
    stack: Stack,
}

/// Routes calls for one pool of upstreams (e.g. "node-service"). Cheap to clone; the health
/// checker stops when the last clone is dropped or on `shutdown()`.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Arc<str>,
    current: Arc<ArcSwap<Snapshot>>,
    client: HttpClient<UpstreamConnector>,
    metrics: GatewayMetrics,
    active: Arc<ActiveSlot>,
    rounds: watch::Receiver<Rounds>,
    reprobe: Arc<Notify>,
    shutdown: watch::Sender<bool>,
    reload: Mutex<()>,
}

impl Gateway {
    /// Registers the gateway metrics in `registry` and starts the pool. Must be called inside a
    /// tokio runtime. For several pools on one registry, register `GatewayMetrics` once and
    /// use `with_metrics`.
    pub fn new(
        pool: &str,
        upstreams: Vec<Url>,
        settings: Settings,
        probe: Arc<dyn Probe>,
        registry: &prometheus::Registry,
    ) -> Result<Gateway, GatewayError> {
        // Everything that can fail is checked before registering, so a failure leaves no trace.
        let upstreams = check_config(&upstreams, &settings)?;
        let client = tls_client(&TlsRoots::platform_and(None))?;
        let runtime = current_runtime()?;
        let metrics = GatewayMetrics::register(registry)?;
        Ok(Self::start(
            pool, upstreams, settings, probe, metrics, runtime, client,
        ))
    }

    /// Like `new`, with metrics registered by the caller (shared between pools) and the
    /// platform's TLS roots for `https://` upstreams.
    pub fn with_metrics(
        pool: &str,
        upstreams: Vec<Url>,
        settings: Settings,
        probe: Arc<dyn Probe>,
        metrics: GatewayMetrics,
    ) -> Result<Gateway, GatewayError> {
        Self::with_metrics_and_tls(
            pool,
            upstreams,
            settings,
            probe,
            metrics,
            &TlsRoots::platform_and(None),
        )
    }

    /// Like `with_metrics`, trusting `roots` (e.g. the platform's plus an operator's CA) for
    /// `https://` upstreams.
    pub fn with_metrics_and_tls(
        pool: &str,
        upstreams: Vec<Url>,
        settings: Settings,
        probe: Arc<dyn Probe>,
        metrics: GatewayMetrics,
        roots: &TlsRoots,
    ) -> Result<Gateway, GatewayError> {
        let upstreams = check_config(&upstreams, &settings)?;
        let client = tls_client(roots)?;
        let runtime = current_runtime()?;
        Ok(Self::start(
            pool, upstreams, settings, probe, metrics, runtime, client,
        ))
    }

    /// Like `with_metrics`, for a pool whose calls go through `Relay` (which has its own TLS
    /// connector); only the health checker and status of this gateway are used.
    pub fn with_metrics_for_relay(
        pool: &str,
        upstreams: Vec<Url>,
        settings: Settings,
        probe: Arc<dyn Probe>,
        metrics: GatewayMetrics,
    ) -> Result<Gateway, GatewayError> {
        Self::with_metrics(pool, upstreams, settings, probe, metrics)
    }

    fn start(
        pool: &str,
        upstreams: Vec<Upstream>,
        settings: Settings,
        probe: Arc<dyn Probe>,
        metrics: GatewayMetrics,
        runtime: tokio::runtime::Handle,
        client: HttpClient<UpstreamConnector>,
    ) -> Gateway {
        let pool: Arc<str> = pool.into();
        let settings = Arc::new(settings);
        let members: Arc<[Arc<Member>]> = upstreams.into_iter().map(Member::new).collect();
        let active = Arc::new(ActiveSlot::default());
        let budget = Arc::new(budget_for(&settings));
        let snapshot = Snapshot {
            stack: stack(
                &pool, &members, &settings, &active, &budget, &metrics, &client,
            ),
            members,
            settings,
            budget,
        };
        metrics.publish_health(&pool, &snapshot.members, Instant::now());
        let current = Arc::new(ArcSwap::from_pointee(snapshot));
        let (rounds_tx, rounds) = watch::channel(Rounds::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let reprobe = Arc::new(Notify::new());
        let checker = Checker {
            pool: pool.clone(),
            probe,
            metrics: metrics.clone(),
            load: {
                let current = current.clone();
                move || {
                    let s = current.load();
                    (s.members.clone(), s.settings.clone())
                }
            },
            rounds: rounds_tx,
            reprobe: reprobe.clone(),
            shutdown: shutdown_rx,
        };
        runtime.spawn(checker.run());
        tracing::info!(pool = %pool, upstreams = %list(&current.load().members), "gateway started");
        Gateway {
            shared: Arc::new(Shared {
                pool,
                current,
                client,
                metrics,
                active,
                rounds,
                reprobe,
                shutdown,
                reload: Mutex::new(()),
            }),
        }
    }

    /// Sends `request` (its URI is just a path and query, e.g. `/beacon/5`) to the active
    /// upstream, failing over and retrying as configured. `check` may reject an answer, which
    /// then counts as a failure of that upstream.
    pub async fn call(
        &self,
        request: http::Request<Bytes>,
        check: Option<ResponseCheck>,
    ) -> Result<http::Response<Bytes>, GatewayError> {
        let uri = request.uri();
        if uri.scheme().is_some() || uri.authority().is_some() || !uri.path().starts_with('/') {
            return Err(GatewayError::InvalidRequest(format!(
                "the URI must be a path and query such as /beacon/5, got {uri}"
            )));
        }
        let span = tracing::debug_span!(
            "gateway_call",
            pool = %self.shared.pool,
            method = %request.method(),
            path = %uri.path(),
        );
        let stack = self.shared.current.load().stack.clone();
        stack
            .oneshot(Call { request, check })
            .instrument(span)
            .await
    }

    /// Replaces the upstreams and settings. Calls in flight finish on the old snapshot; health
    /// history is kept for URLs that stay; removed upstreams stop being probed and lose their
    /// metric series; new ones are probed at once. On error nothing changes.
    pub fn reload(&self, upstreams: Vec<Url>, settings: Settings) -> Result<(), GatewayError> {
        let upstreams = check_config(&upstreams, &settings)?;
        let shared = &self.shared;
        let _one_at_a_time = shared.reload.lock().unwrap_or_else(|e| e.into_inner());
        let old = shared.current.load_full();
        let members: Arc<[Arc<Member>]> = upstreams
            .into_iter()
            .map(|u| {
                old.members
                    .iter()
                    .find(|m| m.upstream == u)
                    .cloned()
                    .unwrap_or_else(|| Member::new(u))
            })
            .collect();
        let settings = Arc::new(settings);
        let budget = if budget_params(&settings) == budget_params(&old.settings) {
            old.budget.clone()
        } else {
            Arc::new(budget_for(&settings))
        };
        let snapshot = Snapshot {
            stack: stack(
                &shared.pool,
                &members,
                &settings,
                &shared.active,
                &budget,
                &shared.metrics,
                &shared.client,
            ),
            members,
            settings,
            budget,
        };
        let new = Arc::new(snapshot);
        shared.current.store(new.clone());
        for gone in old
            .members
            .iter()
            .filter(|m| !new.members.iter().any(|n| n.upstream == m.upstream))
        {
            shared
                .metrics
                .forget_upstream(&shared.pool, gone.upstream.redacted());
        }
        shared
            .metrics
            .publish_health(&shared.pool, &new.members, Instant::now());
        shared.reprobe.notify_one();
        tracing::info!(pool = %shared.pool, upstreams = %list(&new.members), "gateway reloaded");
        Ok(())
    }

    /// The healthy upstreams of the current snapshot in priority order, with a one-try service
    /// and its per-try timeout (what `broadcast` sends through).
    pub(crate) fn healthy_upstreams(
        &self,
    ) -> (
        Vec<Upstream>,
        HttpTry<UpstreamConnector>,
        std::time::Duration,
    ) {
        let snapshot = self.shared.current.load();
        let now = Instant::now();
        let upstreams = snapshot
            .members
            .iter()
            .filter(|m| m.is_healthy(now))
            .map(|m| m.upstream.clone())
            .collect();
        let one_try = HttpTry::new(
            self.shared.client.clone(),
            Limits::from(&*snapshot.settings),
        );
        (upstreams, one_try, snapshot.settings.per_try_timeout)
    }

    /// The upstream table, in priority order.
    pub fn status(&self) -> Vec<UpstreamStatus> {
        let snapshot = self.shared.current.load();
        let active = self.shared.active.get();
        let now = Instant::now();
        snapshot
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| m.status(i, active.as_ref() == Some(&m.upstream), now))
            .collect()
    }

    /// Upstreams that are healthy by their probes and not ejected.
    pub fn healthy_count(&self) -> usize {
        let now = Instant::now();
        let snapshot = self.shared.current.load();
        snapshot
            .members
            .iter()
            .filter(|m| m.is_healthy(now))
            .count()
    }

    /// Waits until every current upstream has been probed at least once (returns at once if
    /// the checker has stopped).
    pub async fn wait_until_probed(&self) {
        let mut rounds = self.shared.rounds.clone();
        loop {
            if self
                .shared
                .current
                .load()
                .members
                .iter()
                .all(|m| m.probed())
            {
                return;
            }
            if rounds.changed().await.is_err() {
                return;
            }
        }
    }

    /// Runs a probe round now and waits until it is done (returns at once if the checker has
    /// stopped). Lets tests step the health state machine without sleeping.
    pub async fn probe_now(&self) {
        let mut rounds = self.shared.rounds.clone();
        let begun = rounds.borrow_and_update().started;
        self.shared.reprobe.notify_one();
        while rounds.borrow_and_update().finished <= begun {
            if rounds.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stops the health checker; calls keep working on the last known health.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }

    pub fn pool(&self) -> &str {
        &self.shared.pool
    }

    pub fn settings(&self) -> Settings {
        (*self.shared.current.load().settings).clone()
    }

    /// The metrics this pool reports to (also used by `Relay`).
    pub(crate) fn metrics(&self) -> &GatewayMetrics {
        &self.shared.metrics
    }

    /// The current members and settings, for routers other than active-passive
    /// (`RoundRobin`), which share this pool's health checker and ejection.
    pub(crate) fn members(&self) -> (Arc<[Arc<Member>]>, Arc<Settings>) {
        let snapshot = self.shared.current.load();
        (snapshot.members.clone(), snapshot.settings.clone())
    }
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("pool", &self.shared.pool)
            .field("upstreams", &list(&self.shared.current.load().members))
            .finish()
    }
}

/// How long a TCP connect may take; the per-try timeout bounds each try anyway.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The pooled HTTP/1.1 client of a pool: plain for `http://`, rustls for `https://`.
fn tls_client(roots: &TlsRoots) -> Result<HttpClient<UpstreamConnector>, GatewayError> {
    let connector = crate::tls::connector(roots, false, CONNECT_TIMEOUT)
        .map_err(|e| GatewayError::InvalidSettings(vec![format!("TLS: {e}")]))?;
    Ok(HttpClient::with_connector(connector))
}

fn current_runtime() -> Result<tokio::runtime::Handle, GatewayError> {
    tokio::runtime::Handle::try_current().map_err(|_| GatewayError::NoRuntime)
}

/// Settings checked, URLs checked, non-empty and without repeats.
fn check_config(urls: &[Url], settings: &Settings) -> Result<Vec<Upstream>, GatewayError> {
    settings.validate().map_err(GatewayError::InvalidSettings)?;
    if urls.is_empty() {
        return Err(GatewayError::InvalidUpstreamList("no upstreams".into()));
    }
    let mut upstreams: Vec<Upstream> = Vec::with_capacity(urls.len());
    for url in urls {
        let upstream = Upstream::new(url.clone())?;
        if upstreams.contains(&upstream) {
            return Err(GatewayError::InvalidUpstreamList(format!(
                "{upstream} is listed twice"
            )));
        }
        upstreams.push(upstream);
    }
    Ok(upstreams)
}

fn budget_params(s: &Settings) -> (std::time::Duration, u32, f64) {
    (
        s.retry_budget_ttl,
        s.retry_budget_min_per_second,
        s.retry_budget_ratio,
    )
}

fn budget_for(s: &Settings) -> RetryBudget {
    RetryBudget::new(
        s.retry_budget_ttl,
        s.retry_budget_min_per_second,
        s.retry_budget_ratio,
    )
}

fn list(members: &[Arc<Member>]) -> String {
    members
        .iter()
        .map(|m| m.upstream.redacted())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use futures_util::future::BoxFuture;
    use prometheus::Registry;
    use tokio::sync::oneshot;

    use super::*;
    use crate::error::FailureReason;
    use crate::health::{HealthState, ProbeError, ProbeReport};
    use crate::metrics::tests::value;
    use crate::test_server::{serve, Reply, TestServer};

    /// Probe results set by the test, per URL; synced by default. Dropping the last clone
    /// fires `dropped`, which tells that the checker let go of it.
    #[derive(Clone, Default)]
    struct FakeProbe {
        results: Arc<Mutex<HashMap<String, Result<ProbeReport, ProbeError>>>>,
        hang: bool,
        _dropped: Option<Arc<DropSignal>>,
    }

    struct DropSignal(Mutex<Option<oneshot::Sender<()>>>);

    impl Drop for DropSignal {
        fn drop(&mut self) {
            if let Some(tx) = self.0.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
    }

    impl FakeProbe {
        fn set(&self, url: &Url, result: Result<ProbeReport, ProbeError>) {
            self.results.lock().unwrap().insert(url.to_string(), result);
        }

        /// A probe plus a receiver that completes when the probe is dropped everywhere.
        fn watched() -> (FakeProbe, oneshot::Receiver<()>) {
            let (tx, rx) = oneshot::channel();
            let probe = FakeProbe {
                _dropped: Some(Arc::new(DropSignal(Mutex::new(Some(tx))))),
                ..FakeProbe::default()
            };
            (probe, rx)
        }
    }

    impl Probe for FakeProbe {
        fn probe(
            &self,
            upstream: &Upstream,
        ) -> BoxFuture<'static, Result<ProbeReport, ProbeError>> {
            if self.hang {
                return Box::pin(std::future::pending());
            }
            let result = self
                .results
                .lock()
                .unwrap()
                .get(upstream.url().as_str())
                .cloned()
                .unwrap_or(Ok(ProbeReport::synced()));
            Box::pin(async move { result })
        }
    }

    /// Probes only when asked (`probe_now`), so tests step the health state machine.
    fn settings() -> Settings {
        Settings {
            health_interval: Duration::from_secs(3600),
            per_try_timeout: Duration::from_millis(500),
            failback_after: Duration::ZERO,
            ..Settings::default()
        }
    }

    fn get(path: &str) -> http::Request<Bytes> {
        http::Request::builder()
            .uri(path)
            .body(Bytes::new())
            .unwrap()
    }

    async fn body(gw: &Gateway) -> Result<String, GatewayError> {
        let response = gw.call(get("/beacon/5"), None).await?;
        Ok(String::from_utf8(response.body().to_vec()).unwrap())
    }

    async fn named(text: &'static str) -> TestServer {
        serve(move |_| Reply::ok(text)).await
    }

    fn start(servers: &[&TestServer], probe: &FakeProbe) -> (Gateway, Registry) {
        let registry = Registry::new();
        let urls = servers.iter().map(|s| s.url()).collect();
        let gw = Gateway::new(
            "node-service",
            urls,
            settings(),
            Arc::new(probe.clone()),
            &registry,
        )
        .unwrap();
        (gw, registry)
    }

    #[tokio::test]
    async fn routes_to_the_first_node_and_fails_over_when_it_dies() {
        let a = named("a").await;
        let b = named("b").await;
        let probe = FakeProbe::default();
        let (gw, registry) = start(&[&a, &b], &probe);
        gw.wait_until_probed().await;
        assert_eq!(gw.healthy_count(), 2);
        assert_eq!(value(&registry, "smesher_healthy_upstreams", &[]), 2.0);
        assert_eq!(body(&gw).await.unwrap(), "a");

        let a_url = a.url();
        drop(a);
        assert_eq!(body(&gw).await.unwrap(), "b", "the duty does not see A die");
        let status = gw.status();
        assert!(!status[0].active && status[1].active);
        assert_eq!(status[0].consecutive_failures, 1);
        // The pooled keep-alive connection to A breaks (reset or refused, by timing).
        assert!(
            status[0]
                .last_error
                .as_deref()
                .unwrap()
                .starts_with("call: "),
            "{status:?}"
        );
        assert_eq!(
            value(
                &registry,
                "smesher_failovers_total",
                &[("reason", "transport")]
            ),
            1.0
        );
        let a_label = a_url.as_str();
        assert_eq!(
            value(
                &registry,
                "smesher_upstream_requests_total",
                &[("upstream", a_label), ("code", "error")]
            ),
            1.0
        );
        assert_eq!(
            value(
                &registry,
                "smesher_upstream_requests_total",
                &[("upstream", b.url().as_str()), ("code", "200")]
            ),
            1.0
        );

        drop(b);
        let err = body(&gw).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("all node-service upstreams failed: "),
            "{text}"
        );
        let GatewayError::AllFailed { failures, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(failures.len(), 2);
        for (failure, url) in failures
            .iter()
            .zip([a_url.as_str(), status[1].url.as_str()])
        {
            assert_eq!(failure.upstream, url);
            assert!(
                matches!(&failure.reason, FailureReason::Failed(e) if e.reason().as_str() == "transport"),
                "{text}"
            );
            assert!(text.contains(&format!("{url}: ")), "{text}");
        }
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn probes_drive_fail_over_before_any_call_fails() {
        let a = named("a").await;
        let b = named("b").await;
        let probe = FakeProbe::default();
        let (gw, registry) = start(&[&a, &b], &probe);
        gw.wait_until_probed().await;
        assert_eq!(body(&gw).await.unwrap(), "a");

        let lagging = ProbeReport {
            synced: true,
            current_layer: Some(100),
            wall_layer: Some(110),
        };
        probe.set(&a.url(), Ok(lagging));
        gw.probe_now().await;
        assert_eq!(gw.status()[0].state, HealthState::Healthy, "fall = 2");
        gw.probe_now().await;
        let status = gw.status();
        assert_eq!(status[0].state, HealthState::Unsynced);
        assert_eq!(status[0].sync_lag, Some(10));
        assert_eq!(
            value(
                &registry,
                "smesher_upstream_sync_lag_layers",
                &[("upstream", a.url().as_str())]
            ),
            10.0
        );
        assert_eq!(
            value(
                &registry,
                "smesher_upstream_state",
                &[("upstream", a.url().as_str()), ("state", "unsynced")]
            ),
            1.0
        );
        assert_eq!(body(&gw).await.unwrap(), "b");
        assert_eq!(a.connections(), 1, "A was not tried again");
        assert_eq!(
            value(
                &registry,
                "smesher_failovers_total",
                &[("reason", "unsynced")]
            ),
            1.0
        );
    }

    #[tokio::test]
    async fn a_hanging_node_costs_one_per_try_timeout() {
        let a = serve(|_| Reply::Hang).await;
        let b = named("b").await;
        let (gw, registry) = start(&[&a, &b], &FakeProbe::default());
        gw.wait_until_probed().await;
        let started = std::time::Instant::now();
        assert_eq!(body(&gw).await.unwrap(), "b");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(500), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert_eq!(
            value(
                &registry,
                "smesher_failovers_total",
                &[("reason", "timeout")]
            ),
            1.0
        );
        assert_eq!(
            value(
                &registry,
                "smesher_upstream_requests_total",
                &[("upstream", a.url().as_str()), ("code", "timeout")]
            ),
            1.0
        );
    }

    #[tokio::test]
    async fn an_unsynced_node_answering_503_is_routed_around() {
        let a =
            serve(|_| Reply::status(503, "service not ready: not in sync with the network")).await;
        let b = named("b").await;
        let (gw, _registry) = start(&[&a, &b], &FakeProbe::default());
        assert_eq!(body(&gw).await.unwrap(), "b");
        assert_eq!(
            gw.status()[0].last_error.as_deref(),
            Some("call: HTTP 503 Service Unavailable: service not ready: not in sync with the network")
        );
    }

    #[tokio::test]
    async fn request_timeout_bounds_the_whole_call() {
        let a = serve(|_| Reply::Hang).await;
        let b = serve(|_| Reply::Hang).await;
        let registry = Registry::new();
        let s = Settings {
            per_try_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_millis(300),
            ..settings()
        };
        let gw = Gateway::new(
            "node-service",
            vec![a.url(), b.url()],
            s,
            Arc::new(FakeProbe::default()),
            &registry,
        )
        .unwrap();
        let err = body(&gw).await.unwrap_err();
        assert!(matches!(err, GatewayError::Timeout { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "node-service request timed out after 300ms (all tries)"
        );
    }

    #[tokio::test]
    async fn reload_keeps_in_flight_calls_and_health_history() {
        let (release, released) = oneshot::channel::<()>();
        let released = Arc::new(Mutex::new(Some(released)));
        let a = serve(move |_| match released.lock().unwrap().take() {
            Some(rx) => Reply::After(Box::pin(async move {
                let _ = rx.await;
                Reply::ok("a, late")
            })),
            None => Reply::ok("a"),
        })
        .await;
        let b = named("b").await;
        let c = named("c").await;
        let probe = FakeProbe::default();
        let (gw, registry) = start(&[&a, &b], &probe);
        gw.wait_until_probed().await;

        // B goes unsynced (two probes, fall = 2).
        probe.set(
            &b.url(),
            Ok(ProbeReport {
                synced: false,
                current_layer: None,
                wall_layer: None,
            }),
        );
        gw.probe_now().await;
        gw.probe_now().await;
        assert_eq!(gw.status()[1].state, HealthState::Unsynced);

        let in_flight = tokio::spawn({
            let gw = gw.clone();
            async move { body(&gw).await }
        });
        while a.connections() == 0 {
            tokio::task::yield_now().await;
        }

        gw.reload(vec![b.url(), c.url()], settings()).unwrap();
        release.send(()).unwrap();
        assert_eq!(
            in_flight.await.unwrap().unwrap(),
            "a, late",
            "the old snapshot finished the call"
        );

        let status = gw.status();
        assert_eq!(status.len(), 2);
        assert_eq!(status[0].url, b.url().as_str());
        assert_eq!(
            status[0].state,
            HealthState::Unsynced,
            "B's history is kept"
        );
        gw.wait_until_probed().await;
        assert_eq!(
            gw.status()[1].state,
            HealthState::Healthy,
            "C was probed at once"
        );
        assert_eq!(body(&gw).await.unwrap(), "c");

        // A is gone: no more probes, no gauges saying it is healthy or active.
        let a_label = a.url().to_string();
        let left: Vec<String> = registry
            .gather()
            .iter()
            .filter(|f| {
                !matches!(
                    f.name(),
                    "smesher_upstream_requests_total" | "smesher_upstream_request_duration_seconds"
                )
            })
            .filter(|f| {
                f.get_metric()
                    .iter()
                    .any(|m| m.get_label().iter().any(|l| l.value() == a_label))
            })
            .map(|f| f.name().to_string())
            .collect();
        assert!(left.is_empty(), "series of a removed upstream: {left:?}");
    }

    #[tokio::test]
    async fn a_bad_reload_changes_nothing() {
        let a = named("a").await;
        let (gw, _registry) = start(&[&a], &FakeProbe::default());
        let bad = Settings {
            rise: 0,
            ..settings()
        };
        let err = gw.reload(vec![a.url()], bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid gateway settings: rise: must be at least 1"
        );
        let err = gw.reload(vec![a.url(), a.url()], settings()).unwrap_err();
        assert!(matches!(err, GatewayError::InvalidUpstreamList(_)), "{err}");
        let err = gw.reload(vec![], settings()).unwrap_err();
        assert!(matches!(err, GatewayError::InvalidUpstreamList(_)), "{err}");
        assert_eq!(gw.status().len(), 1);
        assert_eq!(body(&gw).await.unwrap(), "a");
    }

    #[tokio::test]
    async fn the_checker_stops_when_the_gateway_is_dropped() {
        let a = named("a").await;
        let (probe, dropped) = FakeProbe::watched();
        let (gw, _registry) = start(&[&a], &probe);
        drop(probe);
        gw.wait_until_probed().await;
        let clone = gw.clone();
        drop(gw);
        assert_eq!(body(&clone).await.unwrap(), "a", "a clone keeps it alive");
        drop(clone);
        tokio::time::timeout(Duration::from_secs(5), dropped)
            .await
            .expect("the checker let go of its probe")
            .unwrap();
    }

    #[tokio::test]
    async fn shutdown_stops_the_checker_and_calls_still_work() {
        let a = named("a").await;
        let (probe, dropped) = FakeProbe::watched();
        let (gw, _registry) = start(&[&a], &probe);
        drop(probe);
        gw.shutdown();
        tokio::time::timeout(Duration::from_secs(5), dropped)
            .await
            .expect("the checker stopped")
            .unwrap();
        gw.probe_now().await;
        gw.wait_until_probed().await;
        assert_eq!(body(&gw).await.unwrap(), "a");
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_hangs_marks_the_node_down() {
        let probe = FakeProbe {
            hang: true,
            ..FakeProbe::default()
        };
        let registry = Registry::new();
        let gw = Gateway::new(
            "node-service",
            vec!["http://127.0.0.1:9/".parse().unwrap()],
            Settings::default(),
            Arc::new(probe),
            &registry,
        )
        .unwrap();
        gw.wait_until_probed().await;
        let status = &gw.status()[0];
        assert_eq!(status.state, HealthState::Down);
        assert_eq!(
            status.last_error.as_deref(),
            Some("probe: timed out after 1s")
        );
        assert_eq!(status.consecutive_probe_failures, 1);
        let err = body(&gw).await.unwrap_err();
        let GatewayError::AllFailed { failures, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(
            failures[0].reason,
            FailureReason::Down {
                last_error: Some("probe: timed out after 1s".into())
            }
        );
        assert_eq!(
            err.to_string(),
            "all node-service upstreams failed: http://127.0.0.1:9/: down (probe: timed out after 1s)"
        );
    }

    #[tokio::test]
    async fn garbage_from_a_node_fails_over() {
        let a = named("<html>oops").await;
        let b = named("{\"beacon\":\"AAAAAA==\"}").await;
        let (gw, registry) = start(&[&a, &b], &FakeProbe::default());
        let check: ResponseCheck = Arc::new(|r: &http::Response<Bytes>| {
            r.body()
                .starts_with(b"{")
                .then_some(())
                .ok_or_else(|| "not JSON".to_string())
        });
        let response = gw.call(get("/beacon/5"), Some(check)).await.unwrap();
        assert_eq!(response.body(), "{\"beacon\":\"AAAAAA==\"}");
        assert_eq!(
            value(
                &registry,
                "smesher_failovers_total",
                &[("reason", "invalid_response")]
            ),
            1.0
        );
    }

    #[tokio::test]
    async fn an_oversized_answer_fails_over() {
        let a = serve(|_| Reply::Claim {
            content_length: 600 << 20,
        })
        .await;
        let b = named("b").await;
        let (gw, _registry) = start(&[&a, &b], &FakeProbe::default());
        assert_eq!(body(&gw).await.unwrap(), "b");
        assert_eq!(
            gw.status()[0].last_error.as_deref(),
            Some("call: response body exceeds the limit of 16777216 bytes (Content-Length 629145600)")
        );
    }

    #[tokio::test]
    async fn requests_must_be_paths() {
        let a = named("a").await;
        let (gw, _registry) = start(&[&a], &FakeProbe::default());
        let err = gw.call(get("http://elsewhere/x"), None).await.unwrap_err();
        assert!(matches!(err, GatewayError::InvalidRequest(_)), "{err}");
        assert!(!err.is_retryable());
        assert_eq!(a.connections(), 0);
    }

    #[tokio::test]
    async fn two_pools_share_one_registry() {
        let a = named("a").await;
        let registry = Registry::new();
        let probe: Arc<dyn Probe> = Arc::new(FakeProbe::default());
        let _first = Gateway::new(
            "node-service",
            vec![a.url()],
            settings(),
            probe.clone(),
            &registry,
        )
        .unwrap();
        let err =
            Gateway::new("v2", vec![a.url()], settings(), probe.clone(), &registry).unwrap_err();
        assert!(matches!(err, GatewayError::Metrics(_)), "{err}");

        let shared = GatewayMetrics::register(&Registry::new()).unwrap();
        let one = Gateway::with_metrics(
            "node-service",
            vec![a.url()],
            settings(),
            probe.clone(),
            shared.clone(),
        )
        .unwrap();
        let two = Gateway::with_metrics("v2", vec![a.url()], settings(), probe, shared).unwrap();
        assert_eq!(body(&one).await.unwrap(), "a");
        assert_eq!(body(&two).await.unwrap(), "a");
    }

    #[test]
    fn new_needs_a_runtime() {
        let err = Gateway::new(
            "node-service",
            vec!["http://127.0.0.1:1/".parse().unwrap()],
            settings(),
            Arc::new(FakeProbe::default()),
            &Registry::new(),
        )
        .unwrap_err();
        assert!(matches!(err, GatewayError::NoRuntime), "{err}");
    }

    #[tokio::test]
    async fn bad_urls_are_refused_with_their_secrets_redacted() {
        let err = Gateway::new(
            "node-service",
            vec!["ftp://u:hunter2@node/".parse().unwrap()],
            settings(),
            Arc::new(FakeProbe::default()),
            &Registry::new(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid upstream ftp://u:***@node/: the scheme must be http or https"
        );
        // https upstreams are accepted: the pool's client speaks TLS.
        assert!(Gateway::new(
            "node-service",
            vec!["https://node/?key=secret".parse().unwrap()],
            settings(),
            Arc::new(FakeProbe::default()),
            &Registry::new(),
        )
        .is_ok());
    }
}

//! Shared setup of the v2 API tests: the API server on loopback with a v2 pool of fake
//! upstreams, and a small HTTP client.
#![allow(dead_code)] // each test binary uses a different part

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use smesher::api::{
    ApiListeners, ApiServer, ApiSettings, BuildInfo, IdentityStates, LocalServices, PoetSettings,
    V2Upstreams,
};
use smesher::clock::LayerClock;
use tokio::net::TcpListener;

/// Pool settings for tests: probe every 100 ms, one probe decides, eject after 2 failures.
pub fn pool_settings() -> gateway::Settings {
    gateway::Settings {
        health_interval: Duration::from_millis(100),
        probe_timeout: Duration::from_secs(2),
        rise: 1,
        fall: 1,
        per_try_timeout: Duration::from_millis(500),
        eject_after: 2,
        eject_base: Duration::from_secs(30),
        eject_max: Duration::from_secs(60),
        ..gateway::Settings::default()
    }
}

/// Settings for tests that count turns exactly: a slow probe or try on a loaded machine must
/// not take an upstream out of the rotation; a dead upstream is still ejected after 2 failures.
pub fn steady_settings() -> gateway::Settings {
    gateway::Settings {
        probe_timeout: Duration::from_secs(5),
        fall: 3,
        per_try_timeout: Duration::from_secs(5),
        ..pool_settings()
    }
}

pub struct Api {
    pub server: ApiServer,
    pub registry: prometheus::Registry,
    pub json: String,
    pub grpc: String,
}

pub struct Options {
    pub cors: Vec<String>,
    pub max_request_bytes: usize,
    pub roots: gateway::TlsRoots,
    pub settings: gateway::Settings,
    /// gRPC addresses of the upstreams, in order (empty: the upstreams themselves).
    pub grpc_upstreams: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cors: vec!["*".into()],
            max_request_bytes: 64 * 1024,
            roots: gateway::TlsRoots::default(),
            settings: pool_settings(),
            grpc_upstreams: Vec::new(),
        }
    }
}

pub fn local(store: IdentityStates) -> LocalServices {
    LocalServices::new(
        store,
        PoetSettings {
            servers: vec![
                "https://poet-1.example/".into(),
                "https://poet-2.example/".into(),
            ],
            phase_shift: Duration::from_secs(864_000),
            cycle_gap: Duration::from_millis(43_200_500),
        },
        BuildInfo {
            version: "v0.1.0-test".into(),
            build: "0123456789abcdef".into(),
        },
    )
}

/// Starts the API with `store` and a pool over `upstreams` (may be empty).
pub async fn start(store: IdentityStates, upstreams: &[String], opts: Options) -> Api {
    let json = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let registry = prometheus::Registry::new();
    let metrics = gateway::GatewayMetrics::register(&registry).unwrap();
    let clock = LayerClock::new(
        SystemTime::now() - Duration::from_secs(1000),
        Duration::from_secs(1),
        10,
    );
    let pool = V2Upstreams::start(
        upstreams.iter().map(|u| u.parse().unwrap()).collect(),
        opts.grpc_upstreams
            .iter()
            .map(|u| u.parse().unwrap())
            .collect(),
        opts.settings,
        clock,
        metrics,
        opts.roots,
        opts.max_request_bytes,
    )
    .unwrap();
    let settings = ApiSettings {
        cors_allowed_origins: opts.cors,
        max_request_bytes: opts.max_request_bytes,
        grpc_send_msg_size: 10 << 20,
    };
    let listeners = ApiListeners {
        json: Some(json),
        grpc_public: Some(grpc),
        grpc_private: None,
    };
    let server = ApiServer::start(listeners, &settings, local(store), pool).unwrap();
    Api {
        json: format!("http://{}", server.json_addr().unwrap()),
        grpc: format!("http://{}", server.grpc_public_addr().unwrap()),
        server,
        registry,
    }
}

/// A fixed instant: 2024-01-02T03:04:05Z plus `nanos`.
pub fn at(offset_secs: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(1_704_164_645 + offset_secs, nanos)
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub async fn call(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{url}: {e:?}"));
    let (parts, body) = resp.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub async fn get(url: &str) -> Answer {
    call(&client(), Method::GET, url, &[], Bytes::new()).await
}

/// Sum of `smesher_upstream_requests_total` for `pool` and `code` over every upstream.
pub fn relayed_tries(registry: &prometheus::Registry, pool: &str, code: &str) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == "smesher_upstream_requests_total")
        .flat_map(|f| f.get_metric())
        .filter(|m| {
            let has = |k: &str, v: &str| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == k && l.value() == v)
            };
            has("pool", pool) && has("code", code)
        })
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
}

//! The v2 API the smesher serves (PROTOCOL.md §5): its own `SmeshingIdentitiesService` and
//! `SmeshingService`, and a relay of every other v2 call to the `proxy-api-v2-address` pool.
//!
//! Map of the module:
//! - [`store`]: the identity-state store the duties write and `States` reads.
//! - [`local`]: the local services (tonic), also called by the JSON listener.
//! - [`json`]: the grpc-gateway JSON mapping and error bodies.
//! - `json_listener`, `grpc_listener`: routing of one request on each kind of listener.
//! - [`cors`]: which origins may call the JSON listener (`grpc-cors-allowed-origins`).
//! - [`probe`]: health of the v2 pool.
//!
//! [`ApiServer::start`] serves already-bound listeners, so tests run it on `127.0.0.1:0`.

pub mod cors;
mod grpc_listener;
pub mod json;
mod json_listener;
pub mod local;
pub mod probe;
pub mod store;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use gateway::{Gateway, GatewayMetrics, Protocol, Relay, RelayOptions, RoundRobin, TlsRoots};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tonic::service::Routes;
use tracing::Instrument;
use url::Url;

use crate::clock::LayerClock;
use crate::config::{ApiSection, Config};
pub use cors::Cors;
pub use local::{BuildInfo, LocalServices, PoetSettings};
pub use probe::V2Probe;
pub use store::{IdentityStates, Retention, StateDetail, StateRecord};

/// The pool name of the v2 upstreams in metrics and errors.
pub const V2_POOL: &str = "v2-api";

/// The API listeners, bound before the service starts.
#[derive(Debug, Default)]
pub struct ApiListeners {
    pub json: Option<TcpListener>,
    pub grpc_public: Option<TcpListener>,
    pub grpc_private: Option<TcpListener>,
}

impl ApiListeners {
    /// Binds the listeners the config names (each one that is set).
    pub async fn bind(api: &ApiSection) -> anyhow::Result<ApiListeners> {
        async fn one(addr: Option<SocketAddr>, key: &str) -> anyhow::Result<Option<TcpListener>> {
            match addr {
                Some(a) => Ok(Some(
                    TcpListener::bind(a)
                        .await
                        .with_context(|| format!("binding api.{key} {a}"))?,
                )),
                None => Ok(None),
            }
        }
        Ok(ApiListeners {
            json: one(api.grpc_json_listener, "grpc-json-listener").await?,
            grpc_public: one(api.grpc_public_listener, "grpc-public-listener").await?,
            grpc_private: one(api.grpc_private_listener, "grpc-private-listener").await?,
        })
    }
}

/// Listener settings.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub cors_allowed_origins: Vec<String>,
    /// Largest request body (JSON) or message (gRPC) accepted.
    pub max_request_bytes: usize,
    pub grpc_send_msg_size: usize,
}

impl ApiSettings {
    pub fn from_config(api: &ApiSection) -> Self {
        ApiSettings {
            cors_allowed_origins: api.grpc_cors_allowed_origins.clone(),
            max_request_bytes: api.grpc_recv_msg_size,
            grpc_send_msg_size: api.grpc_send_msg_size,
        }
    }
}

/// The v2 pool and its two relays (JSON and gRPC share the upstreams, turns and health).
#[derive(Debug, Clone)]
pub struct V2Upstreams {
    pub gateway: Gateway,
    pub json: Relay,
    pub grpc: Relay,
}

impl V2Upstreams {
    /// Starts the v2 pool over `urls` (none: `Ok(None)`), probed with [`V2Probe`]. gRPC goes to
    /// the same URLs, or, when `grpc_urls` is not empty, to `grpc_urls[i]` for `urls[i]` (a
    /// node's gRPC port next to its JSON port; the JSON port's health decides for both).
    pub fn start(
        urls: Vec<Url>,
        grpc_urls: Vec<Url>,
        settings: gateway::Settings,
        clock: LayerClock,
        metrics: GatewayMetrics,
        roots: TlsRoots,
        max_request_bytes: usize,
    ) -> anyhow::Result<Option<V2Upstreams>> {
        if urls.is_empty() {
            return Ok(None);
        }
        let grpc_pairs: Vec<(Url, Url)> = if grpc_urls.is_empty() {
            Vec::new()
        } else {
            anyhow::ensure!(
                grpc_urls.len() == urls.len(),
                "{} gRPC addresses for {} v2 upstreams: give one per upstream, in the same order",
                grpc_urls.len(),
                urls.len()
            );
            urls.iter().cloned().zip(grpc_urls).collect()
        };
        let probe = V2Probe::new(clock, &roots).context("TLS for the v2 upstreams")?;
        let gateway =
            Gateway::with_metrics_for_relay(V2_POOL, urls, settings, Arc::new(probe), metrics)
                .context("starting the v2 upstream pool")?;
        let pool = RoundRobin::new(gateway.clone());
        let options = RelayOptions {
            max_request_bytes,
            roots,
            ..RelayOptions::default()
        };
        let json = Relay::new(pool.clone(), Protocol::Http1, &options)
            .context("TLS for the v2 upstreams")?;
        let mut grpc =
            Relay::new(pool, Protocol::Grpc, &options).context("TLS for the v2 upstreams")?;
        if !grpc_pairs.is_empty() {
            grpc = grpc
                .with_targets(grpc_pairs)
                .context("the gRPC addresses of the v2 upstreams")?;
        }
        Ok(Some(V2Upstreams {
            gateway,
            json,
            grpc,
        }))
    }
}

/// The local services of a config: its PoET servers and timing, this build.
pub fn local_services(config: &Config, store: IdentityStates) -> LocalServices {
    LocalServices::new(
        store,
        PoetSettings {
            servers: config
                .poet_servers
                .iter()
                .map(|p| p.address.to_string())
                .collect(),
            phase_shift: config.poet.phase_shift,
            cycle_gap: config.poet.cycle_gap,
        },
        BuildInfo::default(),
    )
}

/// What every request handler reads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) local: LocalServices,
    pub(crate) routes: Routes,
    pub(crate) cors: Cors,
    pub(crate) json_relay: Option<Relay>,
    pub(crate) grpc_relay: Option<Relay>,
    pub(crate) max_request_bytes: usize,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Json,
    Grpc,
}

/// The running API listeners.
#[derive(Debug)]
pub struct ApiServer {
    json_addr: Option<SocketAddr>,
    grpc_public_addr: Option<SocketAddr>,
    grpc_private_addr: Option<SocketAddr>,
    local: LocalServices,
    upstreams: Option<V2Upstreams>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ApiServer {
    /// Serves `listeners`: local services from `local`, the rest relayed to `upstreams`.
    pub fn start(
        listeners: ApiListeners,
        settings: &ApiSettings,
        local: LocalServices,
        upstreams: Option<V2Upstreams>,
    ) -> anyhow::Result<ApiServer> {
        let shared = Arc::new(Shared {
            routes: grpc_listener::local_routes(
                &local,
                settings.grpc_send_msg_size,
                settings.max_request_bytes,
            ),
            local: local.clone(),
            cors: Cors::new(&settings.cors_allowed_origins),
            json_relay: upstreams.as_ref().map(|u| u.json.clone()),
            grpc_relay: upstreams.as_ref().map(|u| u.grpc.clone()),
            max_request_bytes: settings.max_request_bytes,
        });
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut spawn = |l: Option<TcpListener>, kind: Kind| -> anyhow::Result<_> {
            let Some(l) = l else { return Ok(None) };
            let addr = l.local_addr().context("API listener address")?;
            tasks.push(tokio::spawn(serve(
                l,
                shared.clone(),
                kind,
                stopped.clone(),
            )));
            Ok(Some(addr))
        };
        let json_addr = spawn(listeners.json, Kind::Json)?;
        let grpc_public_addr = spawn(listeners.grpc_public, Kind::Grpc)?;
        let grpc_private_addr = spawn(listeners.grpc_private, Kind::Grpc)?;
        tracing::info!(json = ?json_addr, grpc_public = ?grpc_public_addr, grpc_private = ?grpc_private_addr, "v2 API listening");
        Ok(ApiServer {
            json_addr,
            grpc_public_addr,
            grpc_private_addr,
            local,
            upstreams,
            stop,
            tasks,
        })
    }

    pub fn json_addr(&self) -> Option<SocketAddr> {
        self.json_addr
    }

    pub fn grpc_public_addr(&self) -> Option<SocketAddr> {
        self.grpc_public_addr
    }

    pub fn grpc_private_addr(&self) -> Option<SocketAddr> {
        self.grpc_private_addr
    }

    /// The identity-state store behind `States`.
    pub fn store(&self) -> &IdentityStates {
        self.local.store()
    }

    /// The v2 pool, when `proxy-api-v2-address` is set.
    pub fn upstreams(&self) -> Option<&V2Upstreams> {
        self.upstreams.as_ref()
    }

    /// Stops accepting, drops open connections and stops the pool's health checker.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Some(u) = &self.upstreams {
            u.gateway.shutdown();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    kind: Kind,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off a little instead of spinning.
                tracing::warn!("API listener accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let shared = shared.clone();
                let span = tracing::debug_span!("v2_api", %peer, method = %req.method(), path = %req.uri().path());
                async move {
                    let response = match kind {
                        Kind::Json => json_listener::handle(&shared, req).await,
                        Kind::Grpc => grpc_listener::handle(&shared, req).await,
                    };
                    Ok::<_, Infallible>(response)
                }
                .instrument(span)
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, "API connection ended: {e}");
            }
        });
    }
    connections.abort_all();
}

//! The running service: builds the node-service gateway, the typed client and the admin listener
//! from a checked config, applies reloads, and shuts down cleanly.
//!
//! Everything that touches the outside world (listeners, registry) is passed in, so a test runs
//! the whole service in-process on `127.0.0.1:0`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use gateway::{Gateway, GatewayMetrics, Settings};
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use crate::admin::{self, AdminState};
use crate::api::{
    self, ApiListeners, ApiServer, ApiSettings, IdentityStates, StateDetail, V2Upstreams,
};
use crate::atx::{AtxBuilder, AtxSettings, AtxStore};
use crate::clock::LayerClock;
use crate::config::{Config, GatewaySection};
use crate::duties::{Duties, DutyMetrics, DutySettings};
use crate::node::{NodeClient, NodeProbe};
use crate::post::{PostListener, PostRegistry, RegistryOptions};
use signing::identity;
use signing::{Guard, GuardMetrics, Identity};

/// The pool name in metrics and errors.
pub const NODE_SERVICE_POOL: &str = "node-service";

/// The gateway settings of the config's `gateway` section.
pub fn gateway_settings(section: &GatewaySection) -> Settings {
    Settings {
        health_interval: section.health_interval,
        probe_timeout: section.probe_timeout,
        rise: section.rise,
        fall: section.fall,
        max_layer_lag: section.max_layer_lag,
        failback_after: section.failback_after,
        per_try_timeout: section.per_try_timeout,
        request_timeout: section.request_timeout,
        max_response_bytes: section.max_response_bytes as u64,
        retry_budget_ratio: section.retry_budget_ratio,
        retry_budget_min_per_second: section.retry_budget_min_per_second,
        retry_budget_ttl: section.retry_budget_ttl,
        eject_after: section.eject_after,
        eject_base: section.eject_base,
        eject_max: section.eject_max,
    }
}

/// Node-service URL → where that node's v2 status is read (`gateway.status-addresses`).
fn status_pairs(config: &Config) -> Vec<(Url, Url)> {
    config
        .node_service
        .iter()
        .cloned()
        .zip(config.gateway.status_addresses.iter().cloned())
        .collect()
}

/// The layer clock of a config.
pub fn clock_of(config: &Config) -> LayerClock {
    LayerClock::new(
        config.genesis_time,
        config.layer_duration,
        config.layers_per_epoch,
    )
}

/// Loads `identities/*.key`; with none, creates `identities/local.key` as go-spacemesh does.
pub fn load_identities(data_folder: &std::path::Path) -> anyhow::Result<Vec<Identity>> {
    let dir = data_folder.join("identities");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let identities = identity::load_data_folder(data_folder)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("loading identities")?;
    if !identities.is_empty() {
        tracing::info!(count = identities.len(), "identities loaded");
        return Ok(identities);
    }
    let created = identity::generate(&dir, "local")
        .with_context(|| format!("creating a first identity in {}", dir.display()))?;
    tracing::info!(
        node_id = %created.hex(),
        file = %dir.join(created.file_name()).display(),
        "no identity found: created a new one"
    );
    Ok(vec![created])
}

/// The TLS roots for `https://` upstreams: the platform's, plus `gateway.ca-cert` if set.
pub fn tls_roots(config: &Config) -> anyhow::Result<gateway::TlsRoots> {
    let extra = match &config.gateway.ca_cert {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("reading gateway.ca-cert {}", path.display()))?,
        ),
        None => None,
    };
    let roots = gateway::TlsRoots::platform_and(extra);
    // Parse now so a bad file stops start-up naming it, not the first https call.
    gateway::client_config(&roots).with_context(|| {
        format!(
            "gateway.ca-cert {}",
            config
                .gateway
                .ca_cert
                .as_deref()
                .map_or_else(String::new, |p| p.display().to_string())
        )
    })?;
    Ok(roots)
}

/// A started service.
#[derive(Debug)]
pub struct Service {
    guard: Arc<Guard>,
    identities: Arc<Vec<Identity>>,
    node: NodeClient,
    probe: NodeProbe,
    metrics: GatewayMetrics,
    clock: LayerClock,
    registry: Registry,
    admin_addr: Option<SocketAddr>,
    api: Option<ApiServer>,
    states: IdentityStates,
    post: Option<PostListener>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Service {
    /// Starts the service. `admin` is the already-bound metrics/status listener, if any.
    /// Serves no v2 API; see `start_with_api`.
    pub async fn start(
        config: &Config,
        admin: Option<TcpListener>,
        registry: Registry,
    ) -> anyhow::Result<Service> {
        Self::start_with_api(config, admin, ApiListeners::default(), registry).await
    }

    /// Starts the service and serves the v2 API on `api` (bound by the caller, e.g. with
    /// `ApiListeners::bind(&config.api)`): local smeshing services, the rest relayed to
    /// `proxy-api-v2-address`. With no API listener, no v2 pool is started either.
    pub async fn start_with_api(
        config: &Config,
        admin: Option<TcpListener>,
        api: ApiListeners,
        registry: Registry,
    ) -> anyhow::Result<Service> {
        Self::start_inner(config, admin, Some(api), registry).await
    }

    /// Like `start_with_api`, binding the API listeners the config names (`api.grpc-*-listener`)
    /// once the data folder is held, so a second process on the same folder is refused for the
    /// folder rather than for a port.
    pub async fn start_serving_api(
        config: &Config,
        admin: Option<TcpListener>,
        registry: Registry,
    ) -> anyhow::Result<Service> {
        Self::start_inner(config, admin, None, registry).await
    }

    async fn start_inner(
        config: &Config,
        admin: Option<TcpListener>,
        api: Option<ApiListeners>,
        registry: Registry,
    ) -> anyhow::Result<Service> {
        anyhow::ensure!(
            !config.node_service.is_empty(),
            "no node-service is configured: set main.node-service-address (or --node-service-address) to 1-3 full nodes"
        );
        // The guard first: its lock is what keeps a second process off this data folder.
        let genesis = crate::commands::genesis_of(config)?;
        let guard_metrics = GuardMetrics::register(&registry).context("registering metrics")?;
        let guard = Guard::open(&config.data_folder, genesis.genesis_id(), guard_metrics)
            .with_context(|| {
                format!(
                    "opening the signing guard in {}",
                    config.data_folder.display()
                )
            })?;
        let identities = load_identities(&config.data_folder)?;
        let api = match api {
            Some(listeners) => listeners,
            None => ApiListeners::bind(&config.api).await?,
        };

        let clock = clock_of(config);
        let roots = tls_roots(config)?;
        let probe = NodeProbe::new(clock.clone(), status_pairs(config), &roots)
            .context("setting up the node-service health probe")?;
        // One registration for every pool of this process; reloads are counted here, once per
        // config reload, not per pool.
        let metrics = GatewayMetrics::register(&registry).context("registering metrics")?;
        let gateway = Gateway::with_metrics_and_tls(
            NODE_SERVICE_POOL,
            config.node_service.clone(),
            gateway_settings(&config.gateway),
            Arc::new(probe.clone()),
            metrics.clone(),
            &roots,
        )
        .context("starting the node-service gateway")?;
        let node = NodeClient::new(gateway.clone());

        let store = IdentityStates::default();
        let api = start_api(config, api, &identities, &clock, &metrics, store.clone())?;
        let guard = Arc::new(guard);
        let identities = Arc::new(identities);

        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let admin_addr = match admin {
            Some(listener) => {
                let addr = listener.local_addr().context("admin listener address")?;
                let state = AdminState {
                    registry: registry.clone(),
                    node_service: gateway.clone(),
                };
                tasks.push(tokio::spawn(admin::serve(listener, state, stopped.clone())));
                Some(addr)
            }
            None => None,
        };
        if config.smeshing.smeshing_start {
            let duty_metrics = DutyMetrics::register(&registry).context("registering metrics")?;
            let duties = Duties::new(
                node.clone(),
                guard.clone(),
                identities.clone(),
                clock.clone(),
                store.clone(),
                DutySettings::from_config(config),
                duty_metrics,
            );
            tasks.push(tokio::spawn(duties.run(stopped.clone())));
        }
        let post = if config.smeshing.smeshing_start {
            let (listener, atx) = start_atx(
                config,
                genesis.golden_atx(),
                node.clone(),
                guard.clone(),
                identities.clone(),
                clock.clone(),
                store.clone(),
                &roots,
                &registry,
            )
            .await?;
            // The built-in post-service, when a PoST data folder is configured.
            let ids: Vec<[u8; 32]> = identities.iter().map(|i| *i.node_id().as_bytes()).collect();
            if let Some(task) =
                crate::post::builtin::start(config, &ids, &listener, &registry, stopped.clone())
                    .await?
            {
                tasks.push(task);
            }
            tasks.push(tokio::spawn(atx.run(stopped.clone())));
            Some(listener)
        } else {
            None
        };
        tracing::info!(
            node_services = ?config.node_service.iter().map(gateway::redact).collect::<Vec<_>>(),
            admin = ?admin_addr,
            "smeshing service started"
        );
        Ok(Service {
            guard,
            identities,
            node,
            probe,
            metrics,
            clock,
            registry,
            admin_addr,
            api,
            states: store,
            post,
            stop,
            tasks,
        })
    }

    /// Where post-services dial in (`api.grpc-post-listener`), when smeshing.
    pub fn post_listener_addr(&self) -> Option<SocketAddr> {
        self.post.as_ref().and_then(|p| p.addr())
    }

    /// The connected post-services, when smeshing.
    pub fn post_registry(&self) -> Option<&PostRegistry> {
        self.post.as_ref().map(|p| p.registry())
    }

    /// The v2 API server, when an API listener was given.
    pub fn api(&self) -> Option<&ApiServer> {
        self.api.as_ref()
    }

    /// What the identities are doing: the store the v2 `SmeshingIdentitiesService` answers from.
    pub fn identity_states(&self) -> &IdentityStates {
        &self.states
    }

    /// The identities whose keys this service holds.
    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    /// The never-sign-twice guard every duty signs through.
    pub fn guard(&self) -> &Arc<Guard> {
        &self.guard
    }

    /// The node-service API through the fail-over gateway.
    pub fn node(&self) -> &NodeClient {
        &self.node
    }

    /// The node-service gateway (status table, health).
    pub fn gateway(&self) -> &Gateway {
        self.node.gateway()
    }

    pub fn clock(&self) -> &LayerClock {
        &self.clock
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Where `/metrics` and `/status` are served.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Applies a reloaded config: upstream list and gateway settings. In-flight calls finish on
    /// the old snapshot. Settings that need a restart (listeners, data folder) are logged.
    pub fn reload(&self, config: &Config) -> Result<(), gateway::GatewayError> {
        self.probe.set_status_urls(status_pairs(config));
        if let Err(e) = self.gateway().reload(
            config.node_service.clone(),
            gateway_settings(&config.gateway),
        ) {
            self.metrics.record_config_reload(false);
            tracing::error!("configuration not reloaded: {e}");
            return Err(e);
        }
        self.metrics.record_config_reload(true);
        tracing::info!(
            node_services = ?config.node_service.iter().map(gateway::redact).collect::<Vec<_>>(),
            "configuration reloaded"
        );
        Ok(())
    }

    /// Counts a reload that failed before reaching the service (e.g. the file has errors).
    pub fn reload_failed(&self) {
        self.metrics.record_config_reload(false);
    }

    /// Stops the admin listener and the health checker.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.gateway().shutdown();
        if let Some(api) = self.api {
            api.shutdown().await;
        }
        if let Some(post) = self.post {
            post.shutdown().await;
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts the v2 API on `listeners` (nothing when none is bound). Each loaded identity starts
/// in `WAIT_FOR_ATX_SYNCED`, the first state of its ATX cycle, so `States` is never empty.
fn start_api(
    config: &Config,
    listeners: ApiListeners,
    identities: &[Identity],
    clock: &LayerClock,
    metrics: &GatewayMetrics,
    store: IdentityStates,
) -> anyhow::Result<Option<ApiServer>> {
    if listeners.json.is_none()
        && listeners.grpc_public.is_none()
        && listeners.grpc_private.is_none()
    {
        return Ok(None);
    }
    let settings = ApiSettings::from_config(&config.api);
    let now = std::time::SystemTime::now();
    for identity in identities {
        store.record_now(
            *identity.node_id().as_bytes(),
            None,
            now,
            StateDetail::WaitForAtxSynced,
        );
    }
    let upstreams = V2Upstreams::start(
        config.proxy_api_v2.clone(),
        config.proxy_api_v2_grpc.clone(),
        gateway_settings(&config.gateway),
        clock.clone(),
        metrics.clone(),
        tls_roots(config)?,
        settings.max_request_bytes,
    )?;
    let local = api::local_services(config, store);
    Ok(Some(ApiServer::start(
        listeners, &settings, local, upstreams,
    )?))
}

/// The ATX duty: the post listener post-services register with, the cycle's database, a
/// client per configured PoET, and the builder that runs every identity's cycle.
#[allow(clippy::too_many_arguments)]
async fn start_atx(
    config: &Config,
    golden_atx: [u8; 32],
    node: NodeClient,
    guard: Arc<Guard>,
    identities: Arc<Vec<Identity>>,
    clock: LayerClock,
    store: IdentityStates,
    roots: &gateway::TlsRoots,
    metrics: &Registry,
) -> anyhow::Result<(PostListener, Arc<AtxBuilder>)> {
    let metrics = crate::atx::AtxMetrics::register(metrics).context("registering metrics")?;
    let settings = AtxSettings::from_config(config, golden_atx).map_err(anyhow::Error::msg)?;
    let registry = PostRegistry::new(RegistryOptions {
        identities: Some(
            identities
                .iter()
                .map(|i| (*i.node_id().as_bytes(), i.name().to_string()))
                .collect(),
        ),
        // Asked again every 2 s as go-spacemesh does, or every layer in compressed time.
        query_interval: crate::post::registry::DEFAULT_QUERY_INTERVAL.min(config.layer_duration),
        ..RegistryOptions::default()
    });
    let plain = match config.api.grpc_post_listener {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding api.grpc-post-listener {addr}"))?,
        ),
        None => None,
    };
    let tls = match &config.api.grpc_tls {
        Some(t) => {
            let files = crate::post::TlsFiles {
                ca_cert: t.ca_cert.clone(),
                cert: t.cert.clone(),
                key: t.key.clone(),
            };
            let server = crate::post::tls::server_config(&files).context("api.grpc-tls-*")?;
            let listener = TcpListener::bind(t.listener)
                .await
                .with_context(|| format!("binding api.grpc-tls-listener {}", t.listener))?;
            Some((listener, server))
        }
        None => None,
    };
    let listener = PostListener::start(registry.clone(), plain, tls)?;
    let db = AtxStore::open(&config.data_folder).with_context(|| {
        format!(
            "opening the ATX database in {}",
            config.data_folder.display()
        )
    })?;
    // An in-flight cycle migrated from a go-spacemesh local.sql carries on here.
    for identity in identities.iter() {
        let node_id = identity.node_id();
        let rows = |table: &str| {
            signing::migrate::migrated_rows(&guard, table, &node_id).map_err(|e| e.to_string())
        };
        match crate::atx::import::import(
            &db,
            node_id.as_bytes(),
            config.post.post_labels_per_unit,
            rows,
        ) {
            Ok(done) if !done.is_empty() => {
                tracing::info!(node_id = %identity.hex(), imported = ?done, "migrated ATX cycle taken over")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(node_id = %identity.hex(), "migrated ATX cycle not taken over: {e}")
            }
        }
    }
    let poets = config
        .poet_servers
        .iter()
        .map(|p| {
            crate::atx::poet::PoetClient::new(
                p.address.clone(),
                p.pubkey,
                roots,
                settings.request_timeout,
            )
            .map(|c| {
                c.with_cache_ttls(config.poet.info_cache_ttl, config.poet.pow_params_cache_ttl)
            })
            .with_context(|| format!("PoET client for {}", gateway::redact(&p.address)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let builder = AtxBuilder::new(
        node,
        guard,
        identities,
        clock,
        store,
        Arc::new(db),
        poets,
        registry,
        settings,
        metrics,
    );
    Ok((listener, builder))
}

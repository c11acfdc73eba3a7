//! Spacemesh-agnostic routing to a small pool of HTTP upstreams: a call never fails while a
//! healthy upstream exists, and upstreams that die, hang, fall out of sync or send garbage are
//! routed around.
//!
//! Map of the crate, top of the stack first:
//!
//! | file | holds |
//! |---|---|
//! | `gateway.rs` | `Gateway`: the façade, the one function that composes the stack, reload, status |
//! | `timeout.rs` | `Timeout`: bound on a whole call (`request-timeout`) |
//! | `failover.rs` | `ActivePassive`: sticky active upstream, fail-over, fail-back, retries; `Call`, `ResponseCheck` |
//! | `retry_budget.rs` | `RetryBudget`: retries as a fraction of requests plus a floor, over a window |
//! | `metrics.rs` | `GatewayMetrics` (explicit registry) and `TryMetrics`, per-try counts and latency |
//! | `client.rs` | `HttpClient`, `HttpTry`: pooled HTTP/1.1, per-try timeout, body size limit |
//! | `checker.rs` | the health checker task |
//! | `health.rs` | `Probe` (implemented by the embedding crate), `ProbeReport`, rise/fall state machine |
//! | `eject.rs` | passive ejection after failed calls, doubling, capped |
//! | `pool.rs` | per-upstream live record shared by checker, router and status; `UpstreamStatus` |
//! | `upstream.rs` | `Upstream`: base URL, path joining, redaction of secrets |
//! | `settings.rs` | `Settings` and its defaults |
//! | `round_robin.rs` | `RoundRobin`: turn-by-turn routing over the usable upstreams of a pool |
//! | `relay.rs` | `Relay`: whole-request relay (JSON over HTTP/1.1, gRPC over HTTP/2, streaming), safe retries, hop-by-hop headers |
//! | `tls.rs` | rustls client config (platform roots + extra CA) and connectors |
//! | `error.rs` | `TryError` (one try), `GatewayError` (what callers see) |
//!
//! HTTPS: `Relay` speaks TLS through `tls.rs` (rustls, ring); the active-passive `HttpClient`
//! does not yet, but it is generic over the connector, so `tls::connector` can be plugged in
//! without touching the routing.

mod broadcast;
mod checker;
mod client;
mod eject;
mod error;
mod failover;
mod gateway;
mod h1;
mod health;
mod metrics;
mod pool;
mod relay;
mod retry_budget;
mod round_robin;
mod settings;
mod timeout;
mod tls;
mod upstream;

#[cfg(test)]
mod test_server;

pub use broadcast::Delivery;
pub use client::{collect_limited, HttpClient, HttpTry, Limits};
pub use error::{
    ErrorOrigin, FailoverReason, FailureReason, GatewayError, TryError, UpstreamFailure,
};
pub use failover::{ActivePassive, ActivePassiveLayer, Call, ResponseCheck, TryRequest};
pub use gateway::Gateway;
pub use health::{HealthState, Probe, ProbeError, ProbeReport};
pub use metrics::{GatewayMetrics, TryMetrics, TryMetricsLayer, LATENCY_BUCKETS};
pub use pool::UpstreamStatus;
pub use relay::{
    grpc_message, strip_hop_by_hop, BoxError, Protocol, Relay, RelayBody, RelayError, RelayOptions,
};
pub use retry_budget::RetryBudget;
pub use round_robin::RoundRobin;
pub use settings::*;
pub use timeout::{Timeout, TimeoutLayer};
pub use tls::{client_config, connector as tls_connector, TlsError, TlsRoots, UpstreamConnector};
pub use upstream::{redact, Upstream};

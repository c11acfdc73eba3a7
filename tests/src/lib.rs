//! simnet: a simulated Spacemesh network of fake node-services for tests, benches and the local devnet.
//!
//! Map of the crate:
//! - [`clock`]: chain parameters ([`ChainConfig`]), the layer clock ([`SimClock`]), golden ATX / genesis ID.
//! - [`chain`]: the shared in-memory chain ([`Network`]): weights, beacons, ATXs, templates, blocks, gossip.
//! - [`checks`]: what every received hare message, proposal and certificate is checked for.
//! - [`node`]: one fake node ([`Node`]), an HTTP/1.1 server spawned with [`Network::spawn_node`].
//! - [`routes`]: the G3 node-service route table and handlers; route names for request counters.
//! - [`v2`]: the v2 `NodeService/Status` and `NetworkService/Info` JSON calls.
//! - [`v2upstream`]: a fake v2 API upstream (JSON + gRPC on one port, TLS optional) and a test CA.
//! - [`atx_checks`]: what every published ATX is checked for; good ones join the chain.
//! - [`poet`]: a fake PoET server ([`FakePoet`]) with rounds on the network's clock.
//! - [`post_service`]: a fake post-service ([`FakePostService`]) dialing a post listener.
//! - [`post_checks`]: the PoST check of published ATXs ([`Network::verify_post`]).
//! - [`real_post`]: a post-service proving for real on tiny data ([`RealPostService`]).
//! - [`fault`]: [`Fault`]s a node can be switched into at run time.
//! - [`model`]: the G3 JSON bodies.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use simnet::{route, ChainConfig, Fault, Network};
//!
//! let net = Network::new(ChainConfig::new(Duration::from_millis(500), 10).starting_at_layer(25))?;
//! net.set_weight([7; 32], 100);
//! let nodes = net.spawn_nodes(3).await;
//! let urls: Vec<String> = nodes.iter().map(|n| n.url()).collect();
//! // … start the service against `urls` …
//! nodes[0].set_fault(Fault::Stop);
//! assert!(nodes[1].wait_requests(route::PROPOSAL, 1, Duration::from_secs(5)).await >= 1);
//! let hare = net.wait_published("/h/3.0", 1, Duration::from_secs(5)).await;
//! # let _ = (urls, hare); Ok(()) }
//! ```

pub mod atx_checks;
pub mod chain;
pub mod checks;
pub mod clock;
pub mod fault;
pub mod model;
pub mod node;
pub mod poet;
pub mod post_checks;
pub mod post_service;
pub mod real_post;
pub mod routes;
pub mod tls_front;
pub mod v2;
pub mod v2upstream;

pub use atx_checks::{AcceptedAtx, AtxViolation};
pub use chain::{Atx, HareTemplate, Network, NodeId, PublishKind, Published};
pub use checks::{Accepted, CheckSettings, MessageSlot, Violation};
pub use clock::{ChainConfig, ChainConfigError, SimClock};
pub use fault::{Fault, GarbageKind};
pub use node::Node;
pub use poet::{FakePoet, PoetFault, PoetSettings};
pub use post_checks::{PostChecker, PostParams};
pub use post_service::FakePostService;
pub use real_post::RealPostService;
pub use routes::{name as route, NOT_SYNCED_BODY};

#[cfg(test)]
mod node_tests;

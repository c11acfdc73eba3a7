//! simnet: a simulated Spacemesh network of fake node-services for tests, benches and the local devnet.
//!
//! Map of the crate:
//! - [`clock`]: chain parameters ([`ChainConfig`]), the layer clock ([`SimClock`]), golden ATX / genesis ID.
//! - [`chain`]: the shared in-memory chain ([`Network`]): weights, beacons, ATXs, templates, blocks, gossip.
//! - [`node`]: one fake node ([`Node`]), an HTTP/1.1 server spawned with [`Network::spawn_node`].
//! - [`routes`]: the G3 node-service route table and handlers; route names for request counters.
//! - [`v2`]: the v2 `NodeService/Status` and `NetworkService/Info` JSON calls.
//! - [`fault`]: [`Fault`]s a node can be switched into at run time.
//! - [`model`]: the G3 JSON bodies.

pub mod chain;
pub mod clock;
pub mod fault;
pub mod model;
pub mod node;
pub mod routes;
pub mod v2;

pub use chain::{Atx, HareTemplate, Network, NodeId, PublishKind, Published};
pub use clock::{ChainConfig, ChainConfigError, SimClock};
pub use fault::{Fault, GarbageKind};
pub use node::Node;
pub use routes::{name as route, NOT_SYNCED_BODY};

#[cfg(test)]
mod node_tests;

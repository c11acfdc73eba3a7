//! The smeshing service: holds the identities' keys, does the duties, and fronts the full nodes.
//!
//! Map of the crate:
//! - [`config`]: the go-spacemesh-shaped config file and flags, checked into one runtime struct.
//! - [`clock`]: layers and epochs from genesis; every duty reads time through it.
//! - [`node`]: the typed node-service client over the fail-over gateway, and its health probe.
//! - [`atx`]: the ATX duty: PoET client, NIPoST cycle per identity, publish and regossip.
//! - [`duties`]: per-layer duties: hare rounds, proposals, block certificates.
//! - [`service`]: wiring of one running service (gateway, client, admin listener, reload).
//! - [`admin`]: `/metrics`, `/status`, `/healthz`; [`status`]: the `smesher status` command.
//! - [`commands`]: `keys`, `guard`, `migrate` on a stopped service's data folder.
//! - [`logging`]: tracing output.
//! - [`post`]: the post listener, the typed proof client and the post-service.
//! - [`api`]: the v2 API: local smeshing services, JSON mapping, relay to the v2 pool, CORS.
pub mod admin;
pub mod api;
pub mod atx;
pub mod clock;
pub mod commands;
pub mod config;
pub mod duties;
pub mod logging;
pub mod node;
pub mod post;
pub mod service;
pub mod status;

//! Proving: the post listener that post-services register with, the typed client the ATX
//! duty asks for proofs, and the post-service itself (standalone and built-in).
//!
//! Map of the module:
//! - [`registry`]: `spacemesh.v1.PostService.Register` streams by node ID; [`PostClient::prove`].
//! - [`listener`]: serves the registry on `api.grpc-post-listener` and the mutual-TLS listener.
//! - [`post_service`]: the post-service: dials a listener, answers from one PoST data folder.
//! - [`builtin`]: the in-process post-service for `smeshing-opts-datadir`.
//! - [`cli`]: the `post-service` and `post init` commands.
//! - [`operator`]: the post-service's `GET /status` endpoint.
//! - [`tls`]: rustls configs from the PEM files.
//!
//! The built-in post-service is the same [`post_service`] dialing this process's own post
//! listener, so the duties cannot tell it from a remote one.

pub mod builtin;
pub mod cli;
pub mod listener;
pub mod metrics;
pub mod operator;
pub mod post_service;
pub mod registry;
pub mod tls;

pub use listener::PostListener;
pub use metrics::ProvingMetrics;
pub use post_service::{ClientTls, PostServiceOptions, Prover};
pub use registry::{PostClient, PostError, PostInfo, PostRegistry, RegistryOptions};
pub use tls::TlsFiles;

//! The smeshing service: holds the identities' keys, does the duties, and fronts the full nodes.
//!
//! Map of the crate:
//! - [`config`]: the go-spacemesh-shaped config file and flags, checked into one runtime struct.
pub mod config;

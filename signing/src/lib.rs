//! Identities, genesis ID, domain signing and verification, and the never-sign-twice guard.
//!
//! Map of the crate:
//! - [`identity`]: go-spacemesh key files (`identities/*.key`), node IDs, key generation.
//! - [`genesis`]: golden ATX and genesis ID (the signing prefix).
//! - [`signer`] / [`verifier`]: Ed25519 over `prefix ‖ domain ‖ message`, verification with
//!   go-spacemesh's exact acceptance rules, batch verification.
//! - [`guard`]: the SQLite slashing-protection database; every duty signature goes through it.
//! - [`interchange`]: JSON export/import of the guard history.
//! - [`migrate`]: import of a go-spacemesh `local.sql` and its key files.

pub mod genesis;
pub mod guard;
pub mod identity;
pub mod interchange;
pub mod migrate;
pub mod signer;
pub mod verifier;

pub use genesis::{Genesis, GenesisError, GenesisId};
pub use guard::{
    decide, Decision, Guard, GuardError, GuardMetrics, SignRequest, Signed, Slot, SlotEntry,
    SlotKind, SlotRecord,
};
pub use identity::{Identity, KeyFileError, LoadError, NodeId};
pub use interchange::{Interchange, InterchangeError};
pub use migrate::{MigrateError, MigrationReport};
pub use signer::{Domain, Signature, Signer};
pub use verifier::Verifier;

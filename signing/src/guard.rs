//! The never-sign-twice guard: an SQLite record of every slot an identity has signed for.
//!
//! A slot is what an honest smesher signs at most one message for (one ATX per publish epoch,
//! one ballot/proposal/certificate per layer, one hare message per round, one PoET registration
//! challenge per publish epoch). Before a signature leaves this module the slot, the digest of
//! the full signed preimage and the signature are committed in one transaction; a later request
//! for the same slot gets the stored signature back if the digest is equal and is refused if it
//! differs. The database lives in its own file (never go-spacemesh's `local.sql`), in WAL mode
//! with `synchronous=FULL`, and an exclusive OS lock on a lock file keeps a second process out.

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use prometheus::{IntCounterVec, Opts, Registry};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::genesis::GenesisId;
use crate::identity::{Identity, NodeId};
use crate::signer::{preimage, Domain, Signature};

/// Database file of the guard inside the data folder.
pub const GUARD_DB_FILE: &str = "smesher-guard.sqlite";
/// Lock file held exclusively while a guard is open.
pub const GUARD_LOCK_FILE: &str = "smesher-guard.lock";
/// Schema version written to `guard_meta`; a newer one is refused.
pub const SCHEMA_VERSION: i64 = 1;

/// BLAKE3-256 of a full signed preimage (`prefix ‖ domain ‖ message`).
pub type Digest = [u8; 32];

/// Digest of what would be signed for `prefix ‖ domain ‖ msg`.
pub fn digest_of(prefix: &[u8], domain: Domain, msg: &[u8]) -> Digest {
    *blake3::hash(&preimage(prefix, domain, msg)).as_bytes()
}

/// The kinds of slot; each has exactly one signing domain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum SlotKind {
    /// ATX, per publish epoch.
    Atx,
    /// Ballot, per layer.
    Ballot,
    /// Proposal, per layer.
    Proposal,
    /// Hare message, per layer and absolute round.
    Hare,
    /// Block certification, per layer.
    Certify,
    /// PoET registration challenge, per publish epoch.
    PoetRegistration,
}

impl SlotKind {
    /// Every kind.
    pub const ALL: [SlotKind; 6] = [
        SlotKind::Atx,
        SlotKind::Ballot,
        SlotKind::Proposal,
        SlotKind::Hare,
        SlotKind::Certify,
        SlotKind::PoetRegistration,
    ];

    /// Stable name, used in the database, the interchange format and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotKind::Atx => "atx",
            SlotKind::Ballot => "ballot",
            SlotKind::Proposal => "proposal",
            SlotKind::Hare => "hare",
            SlotKind::Certify => "certify",
            SlotKind::PoetRegistration => "poet_registration",
        }
    }

    /// Parses `as_str` output.
    pub fn parse(s: &str) -> Option<SlotKind> {
        SlotKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The domain a message for this kind of slot is signed in.
    pub fn domain(self) -> Domain {
        match self {
            SlotKind::Atx => Domain::ATX,
            SlotKind::Ballot => Domain::BALLOT,
            SlotKind::Proposal => Domain::PROPOSAL,
            // Block certification is signed in the hare domain.
            SlotKind::Hare | SlotKind::Certify => Domain::HARE,
            SlotKind::PoetRegistration => Domain::POET,
        }
    }
}

impl fmt::Display for SlotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One signing slot of an identity (the identity is given separately).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Slot {
    /// The ATX published in `publish_epoch`.
    Atx {
        /// Publish epoch.
        publish_epoch: u32,
    },
    /// The ballot of `layer`.
    Ballot {
        /// Layer.
        layer: u32,
    },
    /// The proposal of `layer`.
    Proposal {
        /// Layer.
        layer: u32,
    },
    /// The hare message of `layer` in absolute round `round` (= iteration·7 + round).
    Hare {
        /// Layer.
        layer: u32,
        /// Absolute round.
        round: u32,
    },
    /// The block certification of `layer`.
    Certify {
        /// Layer.
        layer: u32,
    },
    /// The PoET registration challenge for the ATX published in `publish_epoch`.
    PoetRegistration {
        /// Publish epoch.
        publish_epoch: u32,
    },
}

/// Hare rounds per iteration; the absolute round is `iteration * 7 + round`.
pub const HARE_ROUNDS_PER_ITERATION: u32 = 7;

impl Slot {
    /// The hare slot for `layer`, `iteration` and in-iteration `round` (0..7). Absurdly large
    /// iterations saturate, which can only merge slots (more refusals), never split one.
    pub fn hare(layer: u32, iteration: u32, round: u32) -> Slot {
        Slot::Hare {
            layer,
            round: iteration
                .saturating_mul(HARE_ROUNDS_PER_ITERATION)
                .saturating_add(round),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> SlotKind {
        match self {
            Slot::Atx { .. } => SlotKind::Atx,
            Slot::Ballot { .. } => SlotKind::Ballot,
            Slot::Proposal { .. } => SlotKind::Proposal,
            Slot::Hare { .. } => SlotKind::Hare,
            Slot::Certify { .. } => SlotKind::Certify,
            Slot::PoetRegistration { .. } => SlotKind::PoetRegistration,
        }
    }

    /// The domain its message is signed in.
    pub fn domain(&self) -> Domain {
        self.kind().domain()
    }

    /// The two numbers stored in the database (second is 0 except for hare).
    fn numbers(&self) -> (i64, i64) {
        match *self {
            Slot::Atx { publish_epoch: n }
            | Slot::PoetRegistration { publish_epoch: n }
            | Slot::Ballot { layer: n }
            | Slot::Proposal { layer: n }
            | Slot::Certify { layer: n } => (i64::from(n), 0),
            Slot::Hare { layer, round } => (i64::from(layer), i64::from(round)),
        }
    }

    fn from_parts(kind: &str, n1: i64, n2: i64) -> Option<Slot> {
        let n1 = u32::try_from(n1).ok()?;
        let n2 = u32::try_from(n2).ok()?;
        let kind = SlotKind::parse(kind)?;
        if kind != SlotKind::Hare && n2 != 0 {
            return None;
        }
        Some(match kind {
            SlotKind::Atx => Slot::Atx { publish_epoch: n1 },
            SlotKind::Ballot => Slot::Ballot { layer: n1 },
            SlotKind::Proposal => Slot::Proposal { layer: n1 },
            SlotKind::Hare => Slot::Hare {
                layer: n1,
                round: n2,
            },
            SlotKind::Certify => Slot::Certify { layer: n1 },
            SlotKind::PoetRegistration => Slot::PoetRegistration { publish_epoch: n1 },
        })
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Slot::Atx { publish_epoch } => write!(f, "atx(publish epoch {publish_epoch})"),
            Slot::Ballot { layer } => write!(f, "ballot(layer {layer})"),
            Slot::Proposal { layer } => write!(f, "proposal(layer {layer})"),
            Slot::Hare { layer, round } => write!(f, "hare(layer {layer}, round {round})"),
            Slot::Certify { layer } => write!(f, "certify(layer {layer})"),
            Slot::PoetRegistration { publish_epoch } => {
                write!(f, "poet_registration(publish epoch {publish_epoch})")
            }
        }
    }
}

/// An (identity, slot, digest) triple: a recorded signature or a request for one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SlotEntry {
    /// The identity.
    pub node_id: NodeId,
    /// The slot.
    pub slot: Slot,
    /// Digest of the signed preimage.
    pub digest: Digest,
}

/// What the rules say about a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Decision {
    /// The slot is free: sign and record.
    Sign,
    /// The same bytes were signed for this slot: hand back the stored signature.
    Replay,
    /// Different bytes were signed for this slot: refuse.
    Refuse {
        /// What is recorded for the slot.
        stored: Digest,
    },
}

/// The signing rules as a pure function of the recorded history (which holds at most one entry
/// per identity and slot) and a request.
pub fn decide<'a>(
    history: impl IntoIterator<Item = &'a SlotEntry>,
    request: &SlotEntry,
) -> Decision {
    match history
        .into_iter()
        .find(|e| e.node_id == request.node_id && e.slot == request.slot)
    {
        None => Decision::Sign,
        Some(e) if e.digest == request.digest => Decision::Replay,
        Some(e) => Decision::Refuse { stored: e.digest },
    }
}

/// A signature the guard handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The signature.
    pub signature: Signature,
    /// Digest of the signed preimage.
    pub digest: Digest,
    /// True when this is the stored signature of an earlier identical request.
    pub replayed: bool,
    /// The published payload recorded for the slot, if any (`Guard::record_payload`).
    pub payload: Option<Vec<u8>>,
}

/// Everything recorded for one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRecord {
    /// The identity.
    pub node_id: NodeId,
    /// The slot.
    pub slot: Slot,
    /// Domain signed in.
    pub domain: Domain,
    /// Digest of the signed preimage.
    pub digest: Digest,
    /// The signature (absent for entries imported without one).
    pub signature: Option<Signature>,
    /// The signed message (without prefix and domain), when known.
    pub message: Option<Vec<u8>>,
    /// The published payload, when recorded.
    pub payload: Option<Vec<u8>>,
    /// Unix seconds when first recorded.
    pub recorded_at: i64,
    /// Where the entry came from: `signed`, `import` or `migrate`.
    pub origin: String,
}

/// One item of a batch.
#[derive(Clone, Copy, Debug)]
pub struct SignRequest<'a> {
    /// Who signs.
    pub identity: &'a Identity,
    /// For which slot.
    pub slot: Slot,
    /// Domain (must be the slot's).
    pub domain: Domain,
    /// Message without prefix and domain.
    pub message: &'a [u8],
}

/// Guard failures. `Conflict` is the refusal; the others are operational.
#[derive(Debug, Error)]
pub enum GuardError {
    /// Another guard (this or another process) holds the folder.
    #[error("signing guard in {} is held by another process (or another guard in this one); stop it first", folder.display())]
    Locked {
        /// The data folder.
        folder: PathBuf,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock {}: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A different message was already signed for this slot.
    #[error("refusing to sign: {node_id} already signed a different message for {slot} (stored digest {}, requested {})", hex::encode(stored_digest), hex::encode(requested_digest))]
    Conflict {
        /// The identity.
        node_id: NodeId,
        /// The slot.
        slot: Slot,
        /// Digest recorded for the slot.
        stored_digest: Digest,
        /// Digest of the refused request.
        requested_digest: Digest,
    },
    /// The domain does not belong to the slot kind.
    #[error("domain {got} cannot sign {slot}; that slot is signed in domain {expected}")]
    WrongDomain {
        /// The slot.
        slot: Slot,
        /// Its domain.
        expected: Domain,
        /// The domain given.
        got: Domain,
    },
    /// A payload was offered for a slot nothing was signed for.
    #[error("no signature recorded for {node_id} {slot}; sign before recording its payload")]
    NotSigned {
        /// The identity.
        node_id: NodeId,
        /// The slot.
        slot: Slot,
    },
    /// A different payload is already recorded; published bytes never change.
    #[error(
        "a different payload is already recorded for {node_id} {slot}; re-send the recorded one"
    )]
    PayloadConflict {
        /// The identity.
        node_id: NodeId,
        /// The slot.
        slot: Slot,
    },
    /// The database belongs to another network.
    #[error("guard database {} was created for genesis id {stored}, not {given}", path.display())]
    GenesisMismatch {
        /// The database file.
        path: PathBuf,
        /// Genesis ID recorded in it.
        stored: String,
        /// Genesis ID given.
        given: String,
    },
    /// The database was written by a newer version.
    #[error("guard database {} has schema version {found}; this build supports up to {SCHEMA_VERSION}", path.display())]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// Version found.
        found: i64,
    },
    /// The database holds something this code never writes.
    #[error("guard database is corrupt: {0}")]
    Corrupt(String),
    /// Creating the data folder failed.
    #[error("cannot create data folder {}: {source}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("guard database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Prometheus metrics of the guard.
#[derive(Clone, Debug)]
pub struct GuardMetrics {
    signatures: IntCounterVec,
    refusals: IntCounterVec,
    replays: IntCounterVec,
}

impl GuardMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let signatures = IntCounterVec::new(
            Opts::new(
                "smesher_signatures_total",
                "New signatures produced through the guard, by domain.",
            ),
            &["domain"],
        )?;
        let refusals = IntCounterVec::new(
            Opts::new(
                "smesher_guard_refusals_total",
                "Signing requests refused because a different message was signed for the slot.",
            ),
            &["kind"],
        )?;
        let replays = IntCounterVec::new(
            Opts::new(
                "smesher_guard_replays_total",
                "Signing requests answered with the stored signature of an identical earlier request.",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(signatures.clone()))?;
        registry.register(Box::new(refusals.clone()))?;
        registry.register(Box::new(replays.clone()))?;
        Ok(GuardMetrics {
            signatures,
            refusals,
            replays,
        })
    }

    /// New signatures so far in `domain`.
    pub fn signatures(&self, domain: Domain) -> u64 {
        self.signatures.with_label_values(&[domain.name()]).get()
    }

    /// Refusals so far for `kind`.
    pub fn refusals(&self, kind: SlotKind) -> u64 {
        self.refusals.with_label_values(&[kind.as_str()]).get()
    }

    /// Replays so far for `kind`.
    pub fn replays(&self, kind: SlotKind) -> u64 {
        self.replays.with_label_values(&[kind.as_str()]).get()
    }
}

/// The open guard. Holding it means holding the data folder's signing lock.
pub struct Guard {
    conn: Mutex<Connection>,
    genesis_id: GenesisId,
    folder: PathBuf,
    metrics: GuardMetrics,
    // Held for the lifetime of the guard; the OS drops the lock when the process dies.
    _lock: File,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("folder", &self.folder)
            .field("genesis_id", &self.genesis_id)
            .finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS guard_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS guard_slots (
    node_id     BLOB    NOT NULL CHECK (length(node_id) = 32),
    kind        TEXT    NOT NULL,
    n1          INTEGER NOT NULL,
    n2          INTEGER NOT NULL,
    domain      INTEGER NOT NULL,
    digest      BLOB    NOT NULL CHECK (length(digest) = 32),
    signature   BLOB    CHECK (signature IS NULL OR length(signature) = 64),
    message     BLOB,
    payload     BLOB,
    recorded_at INTEGER NOT NULL,
    origin      TEXT    NOT NULL,
    PRIMARY KEY (node_id, kind, n1, n2)
) WITHOUT ROWID;
-- The database itself refuses to weaken the record: no deletes, no changed digests.
CREATE TRIGGER IF NOT EXISTS guard_slots_no_delete BEFORE DELETE ON guard_slots
BEGIN SELECT RAISE(ABORT, 'guard entries are never deleted'); END;
CREATE TRIGGER IF NOT EXISTS guard_slots_digest_fixed
BEFORE UPDATE OF node_id, kind, n1, n2, domain, digest ON guard_slots
BEGIN SELECT RAISE(ABORT, 'guard slot digests never change'); END;
";

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Guard {
    /// Opens (creating if needed) the guard of `data_folder` for the network `genesis_id`.
    ///
    /// Fails with [`GuardError::Locked`] when another guard holds the folder.
    pub fn open(
        data_folder: &Path,
        genesis_id: GenesisId,
        metrics: GuardMetrics,
    ) -> Result<Guard, GuardError> {
        fs::create_dir_all(data_folder).map_err(|source| GuardError::Folder {
            path: data_folder.to_owned(),
            source,
        })?;
        let lock_path = data_folder.join(GUARD_LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|source| GuardError::Lock {
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(GuardError::Locked {
                    folder: data_folder.to_owned(),
                })
            }
            Err(TryLockError::Error(source)) => {
                return Err(GuardError::Lock {
                    path: lock_path,
                    source,
                })
            }
        }
        let db_path = data_folder.join(GUARD_DB_FILE);
        let conn = Connection::open(&db_path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(GuardError::Corrupt(format!(
                "{} refused WAL mode (journal_mode={mode})",
                db_path.display()
            )));
        }
        // Every commit reaches the disk before the signature leaves the guard.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Self::check_meta(&conn, &db_path, genesis_id)?;
        Ok(Guard {
            conn: Mutex::new(conn),
            genesis_id,
            folder: data_folder.to_owned(),
            metrics,
            _lock: lock,
        })
    }

    fn check_meta(
        conn: &Connection,
        db_path: &Path,
        genesis_id: GenesisId,
    ) -> Result<(), GuardError> {
        let get = |key: &str| -> Result<Option<String>, rusqlite::Error> {
            conn.query_row("SELECT value FROM guard_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
        };
        match get("schema_version")? {
            None => {
                conn.execute(
                    "INSERT INTO guard_meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(v) => {
                let found: i64 = v
                    .parse()
                    .map_err(|_| GuardError::Corrupt(format!("schema_version {v:?}")))?;
                if found > SCHEMA_VERSION {
                    return Err(GuardError::SchemaTooNew {
                        path: db_path.to_owned(),
                        found,
                    });
                }
            }
        }
        match get("genesis_id")? {
            None => {
                conn.execute(
                    "INSERT INTO guard_meta (key, value) VALUES ('genesis_id', ?1)",
                    [genesis_id.to_hex()],
                )?;
            }
            Some(stored) if stored == genesis_id.to_hex() => {}
            Some(stored) => {
                return Err(GuardError::GenesisMismatch {
                    path: db_path.to_owned(),
                    stored,
                    given: genesis_id.to_hex(),
                })
            }
        }
        Ok(())
    }

    /// The data folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The genesis ID (signing prefix).
    pub fn genesis_id(&self) -> GenesisId {
        self.genesis_id
    }

    /// The metrics handle.
    pub fn metrics(&self) -> &GuardMetrics {
        &self.metrics
    }

    /// The connection; a panic in another thread never leaves a transaction open (rusqlite
    /// rolls back on drop), so a poisoned lock is safe to take over.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Signs `msg` in `domain` for `slot` of `identity`, unless a different message was signed
    /// for that slot. The record is committed before this returns.
    pub fn sign(
        &self,
        identity: &Identity,
        slot: Slot,
        domain: Domain,
        msg: &[u8],
    ) -> Result<Signed, GuardError> {
        let outcome = {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let outcome = self.sign_in_tx(&tx, identity, slot, domain, msg)?;
            if outcome.is_ok() {
                tx.commit()?;
            }
            outcome
        };
        self.report(identity.node_id(), slot, domain, &outcome);
        outcome
    }

    /// Signs many requests (e.g. one hare round for hundreds of identities) in one transaction.
    /// Each request gets its own answer; a database failure fails the whole batch and nothing of
    /// it is recorded or returned.
    pub fn sign_batch(
        &self,
        requests: &[SignRequest<'_>],
    ) -> Result<Vec<Result<Signed, GuardError>>, GuardError> {
        let out = {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut out = Vec::with_capacity(requests.len());
            for r in requests {
                out.push(self.sign_in_tx(&tx, r.identity, r.slot, r.domain, r.message)?);
            }
            tx.commit()?;
            out
        };
        for (r, outcome) in requests.iter().zip(&out) {
            self.report(r.identity.node_id(), r.slot, r.domain, outcome);
        }
        Ok(out)
    }

    /// The per-request work inside a transaction. The outer `Result` is a database failure,
    /// the inner one the answer to the request.
    #[allow(clippy::type_complexity)]
    fn sign_in_tx(
        &self,
        tx: &Transaction<'_>,
        identity: &Identity,
        slot: Slot,
        domain: Domain,
        msg: &[u8],
    ) -> Result<Result<Signed, GuardError>, GuardError> {
        if domain != slot.domain() {
            return Ok(Err(GuardError::WrongDomain {
                slot,
                expected: slot.domain(),
                got: domain,
            }));
        }
        let node_id = identity.node_id();
        let (n1, n2) = slot.numbers();
        let pre = preimage(self.genesis_id.as_bytes(), domain, msg);
        let digest = *blake3::hash(&pre).as_bytes();
        let stored: Option<(Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>)> = tx
            .query_row(
                "SELECT digest, signature, payload FROM guard_slots
                 WHERE node_id = ?1 AND kind = ?2 AND n1 = ?3 AND n2 = ?4",
                params![node_id.as_bytes(), slot.kind().as_str(), n1, n2],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let history = match &stored {
            Some((d, _, _)) => vec![SlotEntry {
                node_id,
                slot,
                digest: to_digest(d)?,
            }],
            None => Vec::new(),
        };
        let request = SlotEntry {
            node_id,
            slot,
            digest,
        };
        match decide(&history, &request) {
            Decision::Sign => {
                let signature = identity.sign_preimage(&pre);
                tx.execute(
                    "INSERT INTO guard_slots
                     (node_id, kind, n1, n2, domain, digest, signature, message, payload,
                      recorded_at, origin)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, 'signed')",
                    params![
                        node_id.as_bytes(),
                        slot.kind().as_str(),
                        n1,
                        n2,
                        domain.byte(),
                        &digest[..],
                        &signature.0[..],
                        msg,
                        now_unix()
                    ],
                )?;
                Ok(Ok(Signed {
                    signature,
                    digest,
                    replayed: false,
                    payload: None,
                }))
            }
            Decision::Replay => {
                let (_, sig, payload) = stored.unwrap_or_default();
                let signature = match sig {
                    Some(s) => to_signature(&s)?,
                    None => {
                        // Imported without a signature: Ed25519 is deterministic, so signing
                        // again yields the one signature these bytes can have.
                        let signature = identity.sign_preimage(&pre);
                        tx.execute(
                            "UPDATE guard_slots SET signature = ?5, message = ?6
                             WHERE node_id = ?1 AND kind = ?2 AND n1 = ?3 AND n2 = ?4",
                            params![
                                node_id.as_bytes(),
                                slot.kind().as_str(),
                                n1,
                                n2,
                                &signature.0[..],
                                msg
                            ],
                        )?;
                        signature
                    }
                };
                Ok(Ok(Signed {
                    signature,
                    digest,
                    replayed: true,
                    payload,
                }))
            }
            Decision::Refuse { stored } => Ok(Err(GuardError::Conflict {
                node_id,
                slot,
                stored_digest: stored,
                requested_digest: digest,
            })),
        }
    }

    fn report(
        &self,
        node_id: NodeId,
        slot: Slot,
        domain: Domain,
        outcome: &Result<Signed, GuardError>,
    ) {
        match outcome {
            Ok(s) if s.replayed => {
                self.metrics
                    .replays
                    .with_label_values(&[slot.kind().as_str()])
                    .inc();
                tracing::debug!(%node_id, %slot, "same message signed before; returning the stored signature");
            }
            Ok(_) => {
                self.metrics
                    .signatures
                    .with_label_values(&[domain.name()])
                    .inc();
            }
            Err(
                e @ GuardError::Conflict {
                    stored_digest,
                    requested_digest,
                    ..
                },
            ) => {
                self.metrics
                    .refusals
                    .with_label_values(&[slot.kind().as_str()])
                    .inc();
                tracing::error!(
                    %node_id,
                    %slot,
                    stored_digest = %hex::encode(stored_digest),
                    requested_digest = %hex::encode(requested_digest),
                    "{e}"
                );
            }
            Err(e) => tracing::error!(%node_id, %slot, "{e}"),
        }
    }

    /// Records the bytes published for a signed slot so a retry or fail-over re-sends exactly
    /// them. Recording the same bytes again is a no-op; different bytes are refused.
    pub fn record_payload(
        &self,
        node_id: &NodeId,
        slot: Slot,
        payload: &[u8],
    ) -> Result<(), GuardError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (n1, n2) = slot.numbers();
        let current: Option<Option<Vec<u8>>> = tx
            .query_row(
                "SELECT payload FROM guard_slots
                 WHERE node_id = ?1 AND kind = ?2 AND n1 = ?3 AND n2 = ?4",
                params![node_id.as_bytes(), slot.kind().as_str(), n1, n2],
                |r| r.get(0),
            )
            .optional()?;
        match current {
            None => Err(GuardError::NotSigned {
                node_id: *node_id,
                slot,
            }),
            Some(Some(p)) if p == payload => Ok(()),
            Some(Some(_)) => Err(GuardError::PayloadConflict {
                node_id: *node_id,
                slot,
            }),
            Some(None) => {
                tx.execute(
                    "UPDATE guard_slots SET payload = ?5
                     WHERE node_id = ?1 AND kind = ?2 AND n1 = ?3 AND n2 = ?4",
                    params![node_id.as_bytes(), slot.kind().as_str(), n1, n2, payload],
                )?;
                tx.commit()?;
                Ok(())
            }
        }
    }

    /// `record_payload` for many slots in one transaction (a hare round of many identities):
    /// one answer per item; a database failure fails the whole batch and records nothing.
    pub fn record_payloads(
        &self,
        items: &[(NodeId, Slot, &[u8])],
    ) -> Result<Vec<Result<(), GuardError>>, GuardError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(items.len());
        for (node_id, slot, payload) in items {
            let (n1, n2) = slot.numbers();
            let current: Option<Option<Vec<u8>>> = tx
                .query_row(
                    "SELECT payload FROM guard_slots
                     WHERE node_id = ?1 AND kind = ?2 AND n1 = ?3 AND n2 = ?4",
                    params![node_id.as_bytes(), slot.kind().as_str(), n1, n2],
                    |r| r.get(0),
                )
                .optional()?;
            out.push(match current {
                None => Err(GuardError::NotSigned {
                    node_id: *node_id,
                    slot: *slot,
                }),
                Some(Some(p)) if p == *payload => Ok(()),
                Some(Some(_)) => Err(GuardError::PayloadConflict {
                    node_id: *node_id,
                    slot: *slot,
                }),
                Some(None) => {
                    tx.execute(
                        "UPDATE guard_slots SET payload = ?5
                         WHERE node_id = ?1 AND kind = ?2 AND n1 = ?3 AND n2 = ?4",
                        params![node_id.as_bytes(), slot.kind().as_str(), n1, n2, payload],
                    )?;
                    Ok(())
                }
            });
        }
        tx.commit()?;
        Ok(out)
    }

    /// What is recorded for a slot, if anything.
    pub fn signed(&self, node_id: &NodeId, slot: Slot) -> Result<Option<SlotRecord>, GuardError> {
        let conn = self.conn();
        let (n1, n2) = slot.numbers();
        let mut stmt = conn.prepare_cached(&format!(
            "{SELECT_RECORD} WHERE node_id = ?1 AND kind = ?2 AND n1 = ?3 AND n2 = ?4"
        ))?;
        let mut rows = stmt.query(params![node_id.as_bytes(), slot.kind().as_str(), n1, n2])?;
        match rows.next()? {
            Some(row) => Ok(Some(record_from_row(row)?)),
            None => Ok(None),
        }
    }

    /// Every recorded slot, ordered by identity, kind and numbers.
    pub fn history(&self) -> Result<Vec<SlotRecord>, GuardError> {
        let conn = self.conn();
        read_history(&conn)
    }
}

pub(crate) const SELECT_RECORD: &str = "SELECT node_id, kind, n1, n2, domain, digest, signature,
    message, payload, recorded_at, origin FROM guard_slots";

pub(crate) fn read_history(conn: &Connection) -> Result<Vec<SlotRecord>, GuardError> {
    let mut stmt = conn.prepare(&format!("{SELECT_RECORD} ORDER BY node_id, kind, n1, n2"))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(record_from_row(row)?);
    }
    Ok(out)
}

fn record_from_row(row: &rusqlite::Row<'_>) -> Result<SlotRecord, GuardError> {
    let node_id: Vec<u8> = row.get(0)?;
    let kind: String = row.get(1)?;
    let n1: i64 = row.get(2)?;
    let n2: i64 = row.get(3)?;
    let domain: i64 = row.get(4)?;
    let digest: Vec<u8> = row.get(5)?;
    let signature: Option<Vec<u8>> = row.get(6)?;
    let slot = Slot::from_parts(&kind, n1, n2)
        .ok_or_else(|| GuardError::Corrupt(format!("slot ({kind:?}, {n1}, {n2})")))?;
    let node_id: [u8; 32] = node_id
        .try_into()
        .map_err(|_| GuardError::Corrupt("node id length".into()))?;
    let domain =
        u8::try_from(domain).map_err(|_| GuardError::Corrupt(format!("domain {domain}")))?;
    Ok(SlotRecord {
        node_id: NodeId(node_id),
        slot,
        domain: Domain(domain),
        digest: to_digest(&digest)?,
        signature: signature.as_deref().map(to_signature).transpose()?,
        message: row.get(7)?,
        payload: row.get(8)?,
        recorded_at: row.get(9)?,
        origin: row.get(10)?,
    })
}

fn to_digest(bytes: &[u8]) -> Result<Digest, GuardError> {
    bytes
        .try_into()
        .map_err(|_| GuardError::Corrupt(format!("digest of {} bytes", bytes.len())))
}

fn to_signature(bytes: &[u8]) -> Result<Signature, GuardError> {
    let arr: [u8; 64] = bytes
        .try_into()
        .map_err(|_| GuardError::Corrupt(format!("signature of {} bytes", bytes.len())))?;
    Ok(Signature(arr))
}

/// Inserts an entry recorded elsewhere (import, migration) unless the slot holds one already.
/// Returns whether it was new; a different digest for an existing slot is a `Conflict`.
pub(crate) fn insert_foreign(
    tx: &Transaction<'_>,
    entry: &SlotEntry,
    signature: Option<&Signature>,
    message: Option<&[u8]>,
    origin: &str,
) -> Result<bool, GuardError> {
    let (n1, n2) = entry.slot.numbers();
    let stored: Option<Vec<u8>> = tx
        .query_row(
            "SELECT digest FROM guard_slots
             WHERE node_id = ?1 AND kind = ?2 AND n1 = ?3 AND n2 = ?4",
            params![entry.node_id.as_bytes(), entry.slot.kind().as_str(), n1, n2],
            |r| r.get(0),
        )
        .optional()?;
    let history = match stored {
        Some(d) => vec![SlotEntry {
            digest: to_digest(&d)?,
            ..*entry
        }],
        None => Vec::new(),
    };
    match decide(&history, entry) {
        Decision::Replay => Ok(false),
        Decision::Refuse { stored } => Err(GuardError::Conflict {
            node_id: entry.node_id,
            slot: entry.slot,
            stored_digest: stored,
            requested_digest: entry.digest,
        }),
        Decision::Sign => {
            tx.execute(
                "INSERT INTO guard_slots
                 (node_id, kind, n1, n2, domain, digest, signature, message, payload,
                  recorded_at, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?10)",
                params![
                    entry.node_id.as_bytes(),
                    entry.slot.kind().as_str(),
                    n1,
                    n2,
                    entry.slot.domain().byte(),
                    &entry.digest[..],
                    signature.map(|s| s.0.to_vec()),
                    message,
                    now_unix(),
                    origin
                ],
            )?;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis() -> GenesisId {
        GenesisId([7; 20])
    }

    fn open(dir: &Path) -> Guard {
        Guard::open(
            dir,
            genesis(),
            GuardMetrics::register(&Registry::new()).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn sign_replay_refuse_and_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let guard = open(dir.path());
        let id = Identity::from_seed(&[1; 32], "a.key");
        let slot = Slot::Ballot { layer: 9 };
        let first = guard.sign(&id, slot, Domain::BALLOT, b"one").unwrap();
        assert!(!first.replayed);
        let again = guard.sign(&id, slot, Domain::BALLOT, b"one").unwrap();
        assert!(again.replayed);
        assert_eq!(again.signature, first.signature);
        let err = guard.sign(&id, slot, Domain::BALLOT, b"two").unwrap_err();
        match err {
            GuardError::Conflict {
                stored_digest,
                requested_digest,
                ..
            } => {
                assert_eq!(stored_digest, first.digest);
                assert_eq!(
                    requested_digest,
                    digest_of(&genesis().0, Domain::BALLOT, b"two")
                );
            }
            other => panic!("{other}"),
        }
        let m = guard.metrics();
        assert_eq!(m.signatures(Domain::BALLOT), 1);
        assert_eq!(m.replays(SlotKind::Ballot), 1);
        assert_eq!(m.refusals(SlotKind::Ballot), 1);
        // The signature verifies under the genesis prefix.
        assert!(crate::Verifier::new(&genesis().0).verify(
            Domain::BALLOT,
            &id.node_id(),
            b"one",
            &first.signature
        ));
    }

    #[test]
    fn wrong_domain_is_refused_before_signing() {
        let dir = tempfile::tempdir().unwrap();
        let guard = open(dir.path());
        let id = Identity::from_seed(&[1; 32], "a.key");
        let err = guard
            .sign(&id, Slot::Certify { layer: 1 }, Domain::BALLOT, b"x")
            .unwrap_err();
        assert!(matches!(err, GuardError::WrongDomain { .. }), "{err}");
        assert!(guard
            .signed(&id.node_id(), Slot::Certify { layer: 1 })
            .unwrap()
            .is_none());
        guard
            .sign(&id, Slot::Certify { layer: 1 }, Domain::HARE, b"x")
            .unwrap();
    }

    #[test]
    fn payload_is_recorded_once_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::from_seed(&[2; 32], "b.key");
        let slot = Slot::Atx { publish_epoch: 3 };
        {
            let guard = open(dir.path());
            assert!(matches!(
                guard.record_payload(&id.node_id(), slot, b"atx"),
                Err(GuardError::NotSigned { .. })
            ));
            guard.sign(&id, slot, Domain::ATX, b"meta").unwrap();
            guard.record_payload(&id.node_id(), slot, b"atx").unwrap();
            guard.record_payload(&id.node_id(), slot, b"atx").unwrap();
            assert!(matches!(
                guard.record_payload(&id.node_id(), slot, b"other"),
                Err(GuardError::PayloadConflict { .. })
            ));
        }
        let guard = open(dir.path());
        let rec = guard.signed(&id.node_id(), slot).unwrap().unwrap();
        assert_eq!(rec.payload.as_deref(), Some(&b"atx"[..]));
        assert_eq!(rec.message.as_deref(), Some(&b"meta"[..]));
        let again = guard.sign(&id, slot, Domain::ATX, b"meta").unwrap();
        assert_eq!(again.payload.as_deref(), Some(&b"atx"[..]));
    }

    #[test]
    fn payloads_of_a_round_are_recorded_in_one_batch_with_one_answer_each() {
        let dir = tempfile::tempdir().unwrap();
        let guard = open(dir.path());
        let a = Identity::from_seed(&[4; 32], "a.key");
        let b = Identity::from_seed(&[5; 32], "b.key");
        let c = Identity::from_seed(&[6; 32], "c.key");
        let slot = Slot::hare(9, 0, 3);
        for id in [&a, &b] {
            guard.sign(id, slot, Domain::HARE, b"meta").unwrap();
        }
        guard.record_payload(&b.node_id(), slot, b"old").unwrap();
        let out = guard
            .record_payloads(&[
                (a.node_id(), slot, &b"msg-a"[..]),
                (b.node_id(), slot, &b"msg-b"[..]),
                (c.node_id(), slot, &b"msg-c"[..]),
            ])
            .unwrap();
        assert!(out[0].is_ok());
        assert!(matches!(out[1], Err(GuardError::PayloadConflict { .. })));
        assert!(matches!(out[2], Err(GuardError::NotSigned { .. })));
        let rec = guard.signed(&a.node_id(), slot).unwrap().unwrap();
        assert_eq!(rec.payload.as_deref(), Some(&b"msg-a"[..]));
        let rec = guard.signed(&b.node_id(), slot).unwrap().unwrap();
        assert_eq!(rec.payload.as_deref(), Some(&b"old"[..]));
        let again = guard
            .record_payloads(&[(a.node_id(), slot, &b"msg-a"[..])])
            .unwrap();
        assert!(again[0].is_ok(), "the same bytes again are a no-op");
    }

    #[test]
    fn genesis_mismatch_and_triggers() {
        let dir = tempfile::tempdir().unwrap();
        {
            let guard = open(dir.path());
            let id = Identity::from_seed(&[3; 32], "c.key");
            guard
                .sign(&id, Slot::Proposal { layer: 1 }, Domain::PROPOSAL, b"p")
                .unwrap();
            let conn = guard.conn();
            assert!(conn.execute("DELETE FROM guard_slots", []).is_err());
            assert!(conn
                .execute("UPDATE guard_slots SET digest = zeroblob(32)", [])
                .is_err());
        }
        let err = Guard::open(
            dir.path(),
            GenesisId([8; 20]),
            GuardMetrics::register(&Registry::new()).unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err, GuardError::GenesisMismatch { .. }), "{err}");
    }

    #[test]
    fn second_guard_in_process_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let guard = open(dir.path());
        let err = Guard::open(
            dir.path(),
            genesis(),
            GuardMetrics::register(&Registry::new()).unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err, GuardError::Locked { .. }));
        assert!(err.to_string().contains(&dir.path().display().to_string()));
        drop(guard);
        open(dir.path());
    }

    #[test]
    fn slot_serde_and_hare_round() {
        assert_eq!(
            Slot::hare(5, 2, 3),
            Slot::Hare {
                layer: 5,
                round: 17
            }
        );
        let json = serde_json::to_string(&Slot::Hare {
            layer: 5,
            round: 17,
        })
        .unwrap();
        assert_eq!(json, r#"{"kind":"hare","layer":5,"round":17}"#);
        for kind in SlotKind::ALL {
            assert_eq!(SlotKind::parse(kind.as_str()), Some(kind));
        }
        assert!(Slot::from_parts("ballot", 1, 2).is_none());
        assert!(Slot::from_parts("ballot", -1, 0).is_none());
    }
}

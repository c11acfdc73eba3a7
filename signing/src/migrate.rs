//! Migration from a go-spacemesh node: its `local.sql` (schema versions 9 and 10) is read
//! without ever being written, the in-flight NIPoST state is copied into tables of the guard's
//! own database, the identities' published ATXs and PoET registrations become guard entries,
//! and `identities/*.key` are copied.
//!
//! Guard entries written here:
//! - ATX slot (publish epoch from `atx_blobs.epoch`): the blob's trailing `SmesherID ‖
//!   Signature` is checked against the V1 message (`compact32(epoch) ‖ ATX ID`) and the V2
//!   message (the ATX ID). When one verifies, the entry holds the real digest of
//!   `genesis id ‖ 0x00 ‖ message`, the message and the signature, so re-signing the same ATX is
//!   a replay. Otherwise the digest is `BLAKE3("smesher/migrated-atx/v1" ‖ ATX ID)`, which no
//!   signed preimage has: every new ATX signature for that epoch is refused, which is right
//!   because the identity already published one.
//! - PoET registration slot (publish epoch from the `challenge` row of the same identity):
//!   digest of `genesis id ‖ 0x04 ‖ poet_registration.hash`, exactly what was signed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use thiserror::Error;

use crate::guard::{digest_of, insert_foreign, Digest, Guard, GuardError, Slot, SlotEntry};
use crate::identity::{self, KeyFileError, LoadError, NodeId, IDENTITIES_DIR};
use crate::signer::{preimage, Domain, Signature};
use crate::verifier::verify_raw;

/// File name of the go-spacemesh local database in its data folder.
pub const LOCAL_SQL: &str = "local.sql";
/// Schema versions this migration reads.
pub const SUPPORTED_VERSIONS: [i64; 2] = [9, 10];
/// Prefix of the tables that hold the copied rows in the guard database.
pub const MIGRATED_PREFIX: &str = "migrated_";
/// Domain tag of the digest recorded for an ATX whose signature could not be checked.
const UNVERIFIED_ATX_TAG: &[u8] = b"smesher/migrated-atx/v1";

/// A `local.sql` table copied by the migration.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    /// Name in `local.sql`.
    pub name: &'static str,
    /// Columns copied (missing ones are stored as NULL).
    pub columns: &'static [&'static str],
    /// Primary key columns (the first is the node ID).
    pub key: &'static [&'static str],
    /// Whether the table may be absent (it was added by a later migration).
    pub optional: bool,
}

/// The tables that carry an in-flight ATX cycle, keyed by node ID.
pub const TABLES: [TableSpec; 6] = [
    TableSpec {
        name: "post",
        columns: &[
            "id",
            "post_nonce",
            "post_indices",
            "post_pow",
            "num_units",
            "commit_atx",
            "vrf_nonce",
            "challenge",
        ],
        key: &["id"],
        optional: false,
    },
    TableSpec {
        name: "challenge",
        columns: &[
            "id",
            "epoch",
            "sequence",
            "prev_atx",
            "pos_atx",
            "commit_atx",
            "post_nonce",
            "post_indices",
            "post_pow",
            "poet_proof_ref",
            "poet_proof_membership",
        ],
        key: &["id"],
        optional: false,
    },
    TableSpec {
        name: "poet_registration",
        columns: &["id", "hash", "address", "round_id", "round_end"],
        key: &["id", "address"],
        optional: false,
    },
    TableSpec {
        name: "nipost",
        columns: &[
            "id",
            "post_nonce",
            "post_indices",
            "post_pow",
            "num_units",
            "vrf_nonce",
            "poet_proof_membership",
            "poet_proof_ref",
            "labels_per_unit",
        ],
        key: &["id"],
        optional: false,
    },
    TableSpec {
        name: "poet_certificates",
        columns: &["node_id", "certifier_id", "certificate", "signature"],
        key: &["node_id", "certifier_id"],
        optional: true,
    },
    TableSpec {
        name: "atx_blobs",
        columns: &["pubkey", "id", "epoch", "atx", "version"],
        key: &["pubkey", "id"],
        optional: true,
    },
];

/// What a migration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// `PRAGMA user_version` of the source.
    pub schema_version: i64,
    /// Rows newly copied, per table.
    pub rows_copied: BTreeMap<String, usize>,
    /// Rows already present with the same contents, per table.
    pub rows_unchanged: BTreeMap<String, usize>,
    /// ATX guard entries with a verified signature (real digest).
    pub atx_verified: usize,
    /// ATX guard entries recorded with the unverifiable-ATX digest.
    pub atx_unverified: usize,
    /// PoET registration guard entries.
    pub poet_registrations: usize,
    /// Key files copied.
    pub keys_copied: Vec<String>,
    /// Key files already present with the same key.
    pub keys_present: Vec<String>,
}

/// Why a migration failed. Nothing is written unless all checks pass.
#[derive(Debug, Error)]
pub enum MigrateError {
    /// No `local.sql` in the source folder.
    #[error("{}: no go-spacemesh local.sql here", path.display())]
    MissingLocalSql {
        /// Path looked at.
        path: PathBuf,
    },
    /// Opening or reading the source failed.
    #[error("{}: cannot read: {source}", path.display())]
    Source {
        /// The source database.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Copying the source snapshot failed.
    #[error("{}: cannot snapshot the source: {source}", path.display())]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Unsupported schema version.
    #[error("{}: schema version {found} is not supported (supported: 9, 10)", path.display())]
    SchemaVersion {
        /// The source database.
        path: PathBuf,
        /// `user_version` found.
        found: i64,
    },
    /// A required table is missing.
    #[error("{}: table {table} is missing", path.display())]
    MissingTable {
        /// The source database.
        path: PathBuf,
        /// The table.
        table: &'static str,
    },
    /// A value of an unexpected shape.
    #[error("{}: table {table}: {reason}", path.display())]
    BadRow {
        /// The source database.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The guard database already holds a different row for the same key.
    #[error(
        "table {table}: a different row for key {key} was migrated before; nothing was migrated"
    )]
    RowConflict {
        /// The table.
        table: &'static str,
        /// The key values, rendered.
        key: String,
    },
    /// Source key files are bad.
    #[error("source identities: {0}")]
    Keys(LoadError),
    /// A key file of the same name with a different key exists at the destination.
    #[error("{}: a different key already exists here; refusing to overwrite it (source {})", dest.display(), source_path.display())]
    KeyConflict {
        /// The existing destination file.
        dest: PathBuf,
        /// The source file.
        source_path: PathBuf,
    },
    /// Writing a key file failed.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The guard refused or failed (a `Conflict` names the slot).
    #[error("guard: {0}")]
    Guard(#[from] GuardError),
}

/// SCALE compact encoding of a u32 (go-scale `EncodeCompact32`).
fn compact32(v: u32) -> Vec<u8> {
    if v < 1 << 6 {
        vec![(v << 2) as u8]
    } else if v < 1 << 14 {
        (((v << 2) | 1) as u16).to_le_bytes().to_vec()
    } else if v < 1 << 30 {
        ((v << 2) | 2).to_le_bytes().to_vec()
    } else {
        let mut out = vec![3u8];
        out.extend_from_slice(&v.to_le_bytes());
        out
    }
}

/// Percent-encodes the characters that end or escape a path in an SQLite URI.
fn uri_path(path: &Path) -> String {
    let mut out = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' | ' ' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The source, opened so that nothing is ever written to it.
struct Source {
    conn: Connection,
    path: PathBuf,
    // A private copy used when the source has un-checkpointed WAL content; removed on drop.
    snapshot: Option<PathBuf>,
}

impl Drop for Source {
    fn drop(&mut self) {
        if let Some(dir) = &self.snapshot {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn open_source(path: &Path, scratch: &Path) -> Result<Source, MigrateError> {
    let source_err = |source| MigrateError::Source {
        path: path.to_owned(),
        source,
    };
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let wal_len = fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    if wal_len == 0 {
        // immutable=1: SQLite takes no locks and creates no -wal/-shm files, so the source
        // folder is not touched at all.
        let conn = Connection::open_with_flags(
            format!("{}?immutable=1", uri_path(path)),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(source_err)?;
        return Ok(Source {
            conn,
            path: path.to_owned(),
            snapshot: None,
        });
    }
    // The node left committed transactions in its WAL; an immutable open would not see them,
    // and a normal read-only open may write the -shm file. Read a private copy instead.
    let dir = scratch.join(format!(".migrate-snapshot-{}", std::process::id()));
    let snap_err = |p: &Path| {
        let p = p.to_owned();
        move |source| MigrateError::Snapshot { path: p, source }
    };
    fs::create_dir_all(&dir).map_err(snap_err(&dir))?;
    let copy = dir.join(LOCAL_SQL);
    fs::copy(path, &copy).map_err(snap_err(path))?;
    fs::copy(&wal, dir.join(format!("{LOCAL_SQL}-wal"))).map_err(snap_err(&wal))?;
    let result = Connection::open(&copy).map_err(source_err);
    let conn = match result {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    Ok(Source {
        conn,
        path: path.to_owned(),
        snapshot: Some(dir),
    })
}

fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
}

fn columns_of(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info(\"{table}\")"))?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names)
}

/// Reads the rows of one table, in `spec.columns` order (NULL for columns the source lacks).
fn read_table(src: &Source, spec: &TableSpec) -> Result<Option<Vec<Vec<Value>>>, MigrateError> {
    let err = |source| MigrateError::Source {
        path: src.path.clone(),
        source,
    };
    if !table_exists(&src.conn, spec.name).map_err(err)? {
        if spec.optional {
            return Ok(None);
        }
        return Err(MigrateError::MissingTable {
            path: src.path.clone(),
            table: spec.name,
        });
    }
    let present = columns_of(&src.conn, spec.name).map_err(err)?;
    let select: Vec<String> = spec
        .columns
        .iter()
        .map(|c| {
            if present.iter().any(|p| p == c) {
                format!("\"{c}\"")
            } else {
                "NULL".to_owned()
            }
        })
        .collect();
    let sql = format!("SELECT {} FROM \"{}\"", select.join(", "), spec.name);
    let mut stmt = src.conn.prepare(&sql).map_err(err)?;
    let n = spec.columns.len();
    let rows = stmt
        .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .map_err(err)?
        .collect::<Result<Vec<Vec<Value>>, _>>()
        .map_err(err)?;
    Ok(Some(rows))
}

fn create_migrated_table(conn: &Connection, spec: &TableSpec) -> rusqlite::Result<()> {
    // Untyped columns keep every value with the storage class it had in local.sql.
    let cols: Vec<String> = spec.columns.iter().map(|c| format!("\"{c}\"")).collect();
    let key: Vec<String> = spec.key.iter().map(|c| format!("\"{c}\"")).collect();
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS \"{MIGRATED_PREFIX}{}\" ({}, PRIMARY KEY ({}))",
        spec.name,
        cols.join(", "),
        key.join(", ")
    ))
}

fn render_key(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| match v {
            Value::Blob(b) => hex::encode(b),
            Value::Text(t) => t.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Real(f) => f.to_string(),
            Value::Null => "NULL".into(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn blob32(
    src: &Source,
    table: &'static str,
    what: &str,
    v: &Value,
) -> Result<[u8; 32], MigrateError> {
    match v {
        Value::Blob(b) if b.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(b);
            Ok(out)
        }
        other => Err(MigrateError::BadRow {
            path: src.path.clone(),
            table,
            reason: format!("{what} is not a 32-byte blob: {other:?}"),
        }),
    }
}

fn int(src: &Source, table: &'static str, what: &str, v: &Value) -> Result<u32, MigrateError> {
    match v {
        Value::Integer(i) => u32::try_from(*i).map_err(|_| MigrateError::BadRow {
            path: src.path.clone(),
            table,
            reason: format!("{what} {i} out of range"),
        }),
        other => Err(MigrateError::BadRow {
            path: src.path.clone(),
            table,
            reason: format!("{what} is not an integer: {other:?}"),
        }),
    }
}

/// The guard entry for one published ATX (see the module note).
fn atx_entry(
    prefix: &[u8],
    node_id: NodeId,
    epoch: u32,
    atx_id: [u8; 32],
    blob: Option<&[u8]>,
) -> (SlotEntry, Option<(Vec<u8>, Signature)>) {
    let slot = Slot::Atx {
        publish_epoch: epoch,
    };
    if let Some(blob) = blob.filter(|b| b.len() >= 96) {
        let n = blob.len();
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&blob[n - 64..]);
        if blob[n - 96..n - 64] == node_id.0 {
            let mut v1 = compact32(epoch);
            v1.extend_from_slice(&atx_id);
            for msg in [v1, atx_id.to_vec()] {
                if verify_raw(&node_id.0, &preimage(prefix, Domain::ATX, &msg), &sig) {
                    let entry = SlotEntry {
                        node_id,
                        slot,
                        digest: digest_of(prefix, Domain::ATX, &msg),
                    };
                    return (entry, Some((msg, Signature(sig))));
                }
            }
        }
    }
    let mut h = blake3::Hasher::new();
    h.update(UNVERIFIED_ATX_TAG);
    h.update(&atx_id);
    let digest: Digest = *h.finalize().as_bytes();
    (
        SlotEntry {
            node_id,
            slot,
            digest,
        },
        None,
    )
}

/// Key files to copy: (source path, destination path), after checking that none would replace
/// a different key.
fn plan_keys(
    from: &Path,
    to: &Path,
    report: &mut MigrationReport,
) -> Result<Vec<(PathBuf, PathBuf)>, MigrateError> {
    let src_dir = from.join(IDENTITIES_DIR);
    if !src_dir.is_dir() {
        return Ok(Vec::new());
    }
    // Every source key must parse; this reports all bad files at once.
    let sources = identity::load_dir(&src_dir).map_err(MigrateError::Keys)?;
    let dest_dir = to.join(IDENTITIES_DIR);
    let existing = if dest_dir.is_dir() {
        identity::load_dir(&dest_dir).map_err(MigrateError::Keys)?
    } else {
        Vec::new()
    };
    let mut plan = Vec::new();
    for id in sources {
        let src = src_dir.join(id.file_name());
        let dest = dest_dir.join(id.file_name());
        if let Some(same) = existing.iter().find(|e| e.node_id() == id.node_id()) {
            report.keys_present.push(same.file_name().to_owned());
            continue;
        }
        if dest.exists() {
            return Err(MigrateError::KeyConflict {
                dest,
                source_path: src,
            });
        }
        plan.push((src, dest));
    }
    Ok(plan)
}

/// Migrates the go-spacemesh data folder `from` into the folder of `guard` (holding the guard
/// means the smesher using that folder is stopped). Safe to run again: identical rows and
/// entries are left as they are.
pub fn migrate(guard: &Guard, from: &Path) -> Result<MigrationReport, MigrateError> {
    let mut report = MigrationReport::default();
    let local = from.join(LOCAL_SQL);
    if !local.is_file() {
        return Err(MigrateError::MissingLocalSql { path: local });
    }
    let key_plan = plan_keys(from, guard.folder(), &mut report)?;

    let src = open_source(&local, guard.folder())?;
    let version: i64 = src
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| MigrateError::Source {
            path: local.clone(),
            source,
        })?;
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(MigrateError::SchemaVersion {
            path: local,
            found: version,
        });
    }
    report.schema_version = version;
    let mut tables: Vec<(TableSpec, Vec<Vec<Value>>)> = Vec::new();
    for spec in TABLES {
        if let Some(rows) = read_table(&src, &spec)? {
            tables.push((spec, rows));
        }
    }

    // Guard entries derived from the source, computed before the write transaction.
    let prefix = guard.genesis_id();
    let mut entries: Vec<(SlotEntry, Option<Vec<u8>>, Option<Signature>)> = Vec::new();
    let rows_of = |name: &str| tables.iter().find(|(s, _)| s.name == name).map(|(_, r)| r);
    if let Some(rows) = rows_of("atx_blobs") {
        for row in rows {
            let node_id = NodeId(blob32(&src, "atx_blobs", "pubkey", &row[0])?);
            let atx_id = blob32(&src, "atx_blobs", "id", &row[1])?;
            let epoch = int(&src, "atx_blobs", "epoch", &row[2])?;
            let blob = match &row[3] {
                Value::Blob(b) => Some(b.as_slice()),
                _ => None,
            };
            let (entry, signed) = atx_entry(prefix.as_bytes(), node_id, epoch, atx_id, blob);
            match signed {
                Some((msg, sig)) => {
                    report.atx_verified += 1;
                    entries.push((entry, Some(msg), Some(sig)));
                }
                None => {
                    report.atx_unverified += 1;
                    entries.push((entry, None, None));
                }
            }
        }
    }
    if let (Some(regs), Some(challenges)) = (rows_of("poet_registration"), rows_of("challenge")) {
        for reg in regs {
            let node_id = blob32(&src, "poet_registration", "id", &reg[0])?;
            let hash = blob32(&src, "poet_registration", "hash", &reg[1])?;
            let Some(challenge) = challenges
                .iter()
                .find(|c| c[0] == Value::Blob(node_id.to_vec()))
            else {
                tracing::warn!(node_id = %hex::encode(node_id), "PoET registration without a challenge row; no guard entry for it");
                continue;
            };
            let epoch = int(&src, "challenge", "epoch", &challenge[1])?;
            let entry = SlotEntry {
                node_id: NodeId(node_id),
                slot: Slot::PoetRegistration {
                    publish_epoch: epoch,
                },
                digest: digest_of(prefix.as_bytes(), Domain::POET, &hash),
            };
            // One registration per PoET server, all with the same challenge: record it once.
            if !entries.iter().any(|(e, _, _)| *e == entry) {
                report.poet_registrations += 1;
                entries.push((entry, Some(hash.to_vec()), None));
            }
        }
    }
    drop(src);

    {
        let mut conn = guard.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(GuardError::from)?;
        for (spec, rows) in &tables {
            create_migrated_table(&tx, spec).map_err(GuardError::from)?;
            let table = format!("\"{MIGRATED_PREFIX}{}\"", spec.name);
            let key_idx: Vec<usize> = spec
                .key
                .iter()
                .map(|k| spec.columns.iter().position(|c| c == k).unwrap_or(0))
                .collect();
            let cols: Vec<String> = spec.columns.iter().map(|c| format!("\"{c}\"")).collect();
            let cond: Vec<String> = spec
                .key
                .iter()
                .enumerate()
                .map(|(i, k)| format!("\"{k}\" IS ?{}", i + 1))
                .collect();
            let select = format!(
                "SELECT {} FROM {table} WHERE {}",
                cols.join(", "),
                cond.join(" AND ")
            );
            let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
            let insert = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                cols.join(", "),
                marks.join(", ")
            );
            for row in rows {
                let key: Vec<&Value> = key_idx.iter().map(|i| &row[*i]).collect();
                let existing: Option<Vec<Value>> = tx
                    .query_row(&select, params_from_iter(key.iter()), |r| {
                        (0..cols.len()).map(|i| r.get::<_, Value>(i)).collect()
                    })
                    .optional()
                    .map_err(GuardError::from)?;
                match existing {
                    Some(old) if old == *row => {
                        *report.rows_unchanged.entry(spec.name.into()).or_default() += 1;
                    }
                    Some(_) => {
                        let key: Vec<Value> = key.into_iter().cloned().collect();
                        return Err(MigrateError::RowConflict {
                            table: spec.name,
                            key: render_key(&key),
                        });
                    }
                    None => {
                        tx.execute(&insert, params_from_iter(row.iter()))
                            .map_err(GuardError::from)?;
                        *report.rows_copied.entry(spec.name.into()).or_default() += 1;
                    }
                }
            }
        }
        for (entry, message, signature) in &entries {
            insert_foreign(
                &tx,
                entry,
                signature.as_ref(),
                message.as_deref(),
                "migrate",
            )?;
        }
        tx.commit().map_err(GuardError::from)?;
    }

    for (src, dest) in key_plan {
        let content =
            zeroize::Zeroizing::new(fs::read(&src).map_err(|source| KeyFileError::Unreadable {
                path: src.clone(),
                source,
            })?);
        identity::write_new_file(&dest, &content)?;
        report.keys_copied.push(
            dest.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
    }
    Ok(report)
}

/// The migrated rows of `table` (a `local.sql` table name from [`TABLES`]) for one identity,
/// as column name → value, in key order. Empty when nothing was migrated.
pub fn migrated_rows(
    guard: &Guard,
    table: &str,
    node_id: &NodeId,
) -> Result<Vec<BTreeMap<String, Value>>, MigrateError> {
    let Some(spec) = TABLES.iter().find(|t| t.name == table) else {
        return Ok(Vec::new());
    };
    let conn = guard.conn();
    let name = format!("{MIGRATED_PREFIX}{}", spec.name);
    if !table_exists(&conn, &name).map_err(GuardError::from)? {
        return Ok(Vec::new());
    }
    let cols: Vec<String> = spec.columns.iter().map(|c| format!("\"{c}\"")).collect();
    let order: Vec<String> = spec.key.iter().map(|c| format!("\"{c}\"")).collect();
    let sql = format!(
        "SELECT {} FROM \"{name}\" WHERE \"{}\" = ?1 ORDER BY {}",
        cols.join(", "),
        spec.key[0],
        order.join(", ")
    );
    let mut stmt = conn.prepare(&sql).map_err(GuardError::from)?;
    let rows = stmt
        .query_map([node_id.as_bytes().to_vec()], |r| {
            spec.columns
                .iter()
                .enumerate()
                .map(|(i, c)| Ok(((*c).to_owned(), r.get::<_, Value>(i)?)))
                .collect::<rusqlite::Result<BTreeMap<String, Value>>>()
        })
        .map_err(GuardError::from)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(GuardError::from)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact32_matches_go_scale() {
        assert_eq!(compact32(0), [0x00]);
        assert_eq!(compact32(1), [0x04]);
        assert_eq!(compact32(63), [0xfc]);
        assert_eq!(compact32(64), [0x01, 0x01]);
        assert_eq!(compact32(16383), [0xfd, 0xff]);
        assert_eq!(compact32(16384), [0x02, 0x00, 0x01, 0x00]);
        assert_eq!(compact32(u32::MAX), [0x03, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn uri_escapes_query_characters() {
        assert_eq!(
            uri_path(Path::new("/a b/c?d#e%f")),
            "file:/a%20b/c%3Fd%23e%25f"
        );
    }
}

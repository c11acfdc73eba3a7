//! Migration from a go-spacemesh `local.sql` (schema 9 and 10) built here from the documented
//! schema: rows copied faithfully, ATX and PoET guard entries, keys copied, source untouched.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use prometheus::Registry;
use rusqlite::types::Value;
use rusqlite::{params, Connection};
use signing::guard::digest_of;
use signing::migrate::{migrate, migrated_rows, MigrateError};
use signing::{Domain, GenesisId, Guard, GuardError, GuardMetrics, Identity, Signer, Slot};

const GENESIS: GenesisId = GenesisId([0x9e; 20]);

/// The go-spacemesh local database tables a migration reads (schema version 9).
const SCHEMA_V9: &str = "
CREATE TABLE atx_sync_requests (epoch INT NOT NULL, timestamp INT NOT NULL, total INTEGER,
    downloaded INTEGER, PRIMARY KEY (epoch)) WITHOUT ROWID;
CREATE TABLE atx_sync_state (epoch INT NOT NULL, id CHAR(32) NOT NULL,
    requests INT NOT NULL DEFAULT 0, PRIMARY KEY (epoch, id)) WITHOUT ROWID;
CREATE TABLE challenge (id CHAR(32) PRIMARY KEY, epoch UNSIGNED INT NOT NULL,
    sequence UNSIGNED INT NOT NULL, prev_atx CHAR(32) NOT NULL, pos_atx CHAR(32) NOT NULL,
    commit_atx CHAR(32), post_nonce UNSIGNED INT, post_indices VARCHAR,
    post_pow UNSIGNED LONG INT, poet_proof_ref CHAR(32), poet_proof_membership VARCHAR)
    WITHOUT ROWID;
CREATE TABLE malfeasance_sync_state (id INT NOT NULL PRIMARY KEY, timestamp INT NOT NULL);
CREATE TABLE nipost (id CHAR(32) PRIMARY KEY, post_nonce UNSIGNED INT NOT NULL,
    post_indices VARCHAR NOT NULL, post_pow UNSIGNED LONG INT NOT NULL,
    num_units UNSIGNED INT NOT NULL, vrf_nonce UNSIGNED LONG INT NOT NULL,
    poet_proof_membership VARCHAR NOT NULL, poet_proof_ref CHAR(32) NOT NULL,
    labels_per_unit UNSIGNED INT NOT NULL) WITHOUT ROWID;
CREATE TABLE poet_certificates (node_id BLOB NOT NULL, certifier_id BLOB NOT NULL,
    certificate BLOB NOT NULL, signature BLOB NOT NULL);
CREATE UNIQUE INDEX idx_poet_certificates ON poet_certificates (node_id, certifier_id);
CREATE TABLE poet_registration (id CHAR(32) NOT NULL, hash CHAR(32) NOT NULL,
    address VARCHAR NOT NULL, round_id VARCHAR NOT NULL, round_end INT NOT NULL,
    PRIMARY KEY (id, address)) WITHOUT ROWID;
CREATE TABLE post (id CHAR(32) PRIMARY KEY, post_nonce UNSIGNED INT NOT NULL,
    post_indices VARCHAR NOT NULL, post_pow UNSIGNED LONG INT NOT NULL,
    num_units UNSIGNED INT NOT NULL, commit_atx CHAR(32) NOT NULL,
    vrf_nonce UNSIGNED LONG INT NOT NULL,
    challenge BLOB NOT NULL DEFAULT x'0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE prepared_activeset (kind UNSIGNED INT NOT NULL, epoch UNSIGNED INT NOT NULL,
    id CHAR(32) NOT NULL, weight UNSIGNED INT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (kind, epoch)) WITHOUT ROWID;
PRAGMA user_version = 9;
";

/// Migration 0010 (PoC): published ATX blobs.
const MIGRATION_V10: &str = "
CREATE TABLE atx_blobs (id CHAR(32), pubkey CHAR(32) NOT NULL, epoch INT NOT NULL, atx BLOB,
    version INTEGER);
CREATE UNIQUE INDEX atx_blobs_id ON atx_blobs (id);
CREATE UNIQUE INDEX atx_blobs_epoch_pubkey ON atx_blobs (epoch, pubkey);
PRAGMA user_version = 10;
";

fn compact32(v: u32) -> Vec<u8> {
    // Small values only (what the fixtures use): single-byte mode.
    assert!(v < 64);
    vec![(v << 2) as u8]
}

struct Fixture {
    a: Arc<Identity>,
    b: Arc<Identity>,
    /// (node, epoch, signed message, signature) of the verifiable ATXs.
    atxs: Vec<(usize, u32, Vec<u8>, [u8; 64])>,
    hash: [u8; 32],
}

fn build_local_sql(dir: &Path, version: i64, wal_leftover: bool) -> (Fixture, Option<Connection>) {
    let a = Arc::new(Identity::from_seed(&[0x0a; 32], "local.key"));
    let b = Arc::new(Identity::from_seed(&[0x0b; 32], "second.key"));
    let conn = Connection::open(dir.join("local.sql")).unwrap();
    if wal_leftover {
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
            .unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    }
    conn.execute_batch(SCHEMA_V9).unwrap();
    if version >= 10 {
        conn.execute_batch(MIGRATION_V10).unwrap();
    }
    let a_id = a.node_id().0.to_vec();
    let b_id = b.node_id().0.to_vec();
    conn.execute(
        "INSERT INTO post VALUES (?1, 7, x'0102ff', -5, 4, ?2, ?3, ?4)",
        params![a_id, vec![0xc0u8; 32], i64::MIN, vec![0u8; 32]],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO challenge VALUES (?1, 12, 3, ?2, ?3, NULL, NULL, NULL, NULL, ?4, x'00aa')",
        params![a_id, vec![1u8; 32], vec![2u8; 32], vec![3u8; 32]],
    )
    .unwrap();
    let hash = [0x77u8; 32];
    for (addr, round) in [
        ("https://poet-1.example", "41"),
        ("http://poet-2.example:80", "17"),
    ] {
        conn.execute(
            "INSERT INTO poet_registration VALUES (?1, ?2, ?3, ?4, 1700000000)",
            params![a_id, hash.to_vec(), addr, round],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO nipost VALUES (?1, 1, x'09', 2, 4, 99, x'beef', ?2, 1024)",
        params![b_id, vec![5u8; 32]],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO poet_certificates VALUES (?1, ?2, x'c3', x'5159')",
        params![a_id, vec![8u8; 32]],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO prepared_activeset VALUES (0, 12, x'00', 1, x'00')",
        [],
    )
    .unwrap();
    let mut atxs = Vec::new();
    if version >= 10 {
        // A V1 ATX by a (signed over compact32(epoch) ‖ id), a V2-style one by b (signed over
        // the id), and an unverifiable blob by a.
        for (who, epoch, v2) in [(0usize, 11u32, false), (1, 11, true)] {
            let id = if who == 0 { &a } else { &b };
            let inner = format!("inner atx of {who} for epoch {epoch}").into_bytes();
            let atx_id = *blake3::hash(&inner).as_bytes();
            let msg = if v2 {
                atx_id.to_vec()
            } else {
                [compact32(epoch), atx_id.to_vec()].concat()
            };
            let sig = Signer::new(id.clone(), &GENESIS.0).sign(Domain::ATX, &msg);
            let blob = [inner, id.node_id().0.to_vec(), sig.0.to_vec()].concat();
            conn.execute(
                "INSERT INTO atx_blobs VALUES (?1, ?2, ?3, ?4, NULL)",
                params![atx_id.to_vec(), id.node_id().0.to_vec(), epoch, blob],
            )
            .unwrap();
            atxs.push((who, epoch, msg, sig.0));
        }
        conn.execute(
            "INSERT INTO atx_blobs VALUES (?1, ?2, 10, x'00112233', NULL)",
            params![vec![0xeeu8; 32], a_id],
        )
        .unwrap();
    }
    // Key files as go-spacemesh writes them.
    let ids_dir = dir.join("identities");
    std::fs::create_dir_all(&ids_dir).unwrap();
    signing::identity::write_key_file(&ids_dir, &a).unwrap();
    signing::identity::write_key_file(&ids_dir, &b).unwrap();
    let fixture = Fixture { a, b, atxs, hash };
    if wal_leftover {
        (fixture, Some(conn))
    } else {
        drop(conn);
        (fixture, None)
    }
}

fn open_guard(dir: &Path) -> Guard {
    Guard::open(
        dir,
        GENESIS,
        GuardMetrics::register(&Registry::new()).unwrap(),
    )
    .unwrap()
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in walk(dir) {
        out.insert(
            entry.strip_prefix(dir).unwrap().display().to_string(),
            std::fs::read(&entry).unwrap(),
        );
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn run(version: i64) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let (fx, _) = build_local_sql(src.path(), version, false);
    let before = snapshot(src.path());

    let guard = open_guard(dst.path());
    let report = migrate(&guard, src.path()).unwrap();
    assert_eq!(report.schema_version, version);
    assert_eq!(report.rows_copied.get("post"), Some(&1));
    assert_eq!(report.rows_copied.get("challenge"), Some(&1));
    assert_eq!(report.rows_copied.get("poet_registration"), Some(&2));
    assert_eq!(report.rows_copied.get("nipost"), Some(&1));
    assert_eq!(report.rows_copied.get("poet_certificates"), Some(&1));
    assert_eq!(
        report.rows_copied.get("atx_blobs").copied(),
        (version >= 10).then_some(3)
    );
    assert_eq!(report.keys_copied, vec!["local.key", "second.key"]);
    assert_eq!(report.poet_registrations, 1);

    // The source folder is byte-for-byte what it was, with no -wal/-shm files added.
    assert_eq!(snapshot(src.path()), before);

    // Rows are stored faithfully, storage classes included.
    let a = fx.a.node_id();
    let post = migrated_rows(&guard, "post", &a).unwrap();
    assert_eq!(post.len(), 1);
    assert_eq!(post[0]["post_indices"], Value::Blob(vec![1, 2, 0xff]));
    assert_eq!(post[0]["post_pow"], Value::Integer(-5));
    assert_eq!(post[0]["vrf_nonce"], Value::Integer(i64::MIN));
    assert_eq!(post[0]["commit_atx"], Value::Blob(vec![0xc0; 32]));
    let ch = migrated_rows(&guard, "challenge", &a).unwrap();
    assert_eq!(ch[0]["epoch"], Value::Integer(12));
    assert_eq!(ch[0]["commit_atx"], Value::Null);
    assert_eq!(ch[0]["poet_proof_membership"], Value::Blob(vec![0, 0xaa]));
    let regs = migrated_rows(&guard, "poet_registration", &a).unwrap();
    assert_eq!(regs.len(), 2);
    assert_eq!(
        regs[0]["address"],
        Value::Text("http://poet-2.example:80".into())
    );
    assert_eq!(regs[1]["round_id"], Value::Text("41".into()));
    let nipost = migrated_rows(&guard, "nipost", &fx.b.node_id()).unwrap();
    assert_eq!(nipost[0]["labels_per_unit"], Value::Integer(1024));
    assert!(migrated_rows(&guard, "nipost", &a).unwrap().is_empty());

    // PoET registration: the same challenge replays, another one is refused.
    let poet = Slot::PoetRegistration { publish_epoch: 12 };
    let rec = guard.signed(&a, poet).unwrap().unwrap();
    assert_eq!(rec.digest, digest_of(&GENESIS.0, Domain::POET, &fx.hash));
    assert!(
        guard
            .sign(&fx.a, poet, Domain::POET, &fx.hash)
            .unwrap()
            .replayed
    );
    assert!(matches!(
        guard.sign(&fx.a, poet, Domain::POET, &[0x78; 32]),
        Err(GuardError::Conflict { .. })
    ));

    if version >= 10 {
        assert_eq!((report.atx_verified, report.atx_unverified), (2, 1));
        for (who, epoch, msg, sig) in &fx.atxs {
            let id = if *who == 0 { &fx.a } else { &fx.b };
            let slot = Slot::Atx {
                publish_epoch: *epoch,
            };
            let rec = guard.signed(&id.node_id(), slot).unwrap().unwrap();
            assert_eq!(rec.digest, digest_of(&GENESIS.0, Domain::ATX, msg));
            assert_eq!(rec.signature.map(|s| s.0), Some(*sig));
            let again = guard.sign(id, slot, Domain::ATX, msg).unwrap();
            assert!(again.replayed);
            assert_eq!(&again.signature.0, sig);
            assert!(matches!(
                guard.sign(id, slot, Domain::ATX, b"another atx"),
                Err(GuardError::Conflict { .. })
            ));
        }
        // The unverifiable ATX still blocks its epoch.
        let slot = Slot::Atx { publish_epoch: 10 };
        assert!(guard.signed(&a, slot).unwrap().unwrap().signature.is_none());
        assert!(matches!(
            guard.sign(&fx.a, slot, Domain::ATX, b"anything"),
            Err(GuardError::Conflict { .. })
        ));
    } else {
        assert_eq!((report.atx_verified, report.atx_unverified), (0, 0));
    }

    // Keys were copied byte for byte with mode 0600.
    for name in ["local.key", "second.key"] {
        let copied = dst.path().join("identities").join(name);
        assert_eq!(
            std::fs::read(&copied).unwrap(),
            std::fs::read(src.path().join("identities").join(name)).unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&copied).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    // Running again changes nothing.
    let again = migrate(&guard, src.path()).unwrap();
    assert!(again.rows_copied.is_empty());
    assert_eq!(again.rows_unchanged.get("poet_registration"), Some(&2));
    assert_eq!(again.keys_present.len(), 2);
    assert_eq!(snapshot(src.path()), before);
}

#[test]
fn migrates_schema_9() {
    run(9);
}

#[test]
fn migrates_schema_10() {
    run(10);
}

#[test]
fn never_overwrites_a_different_key_and_applies_nothing() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    build_local_sql(src.path(), 10, false);
    let other = Identity::from_seed(&[0x33; 32], "local.key");
    signing::identity::write_key_file(&dst.path().join("identities"), &other).unwrap();
    let guard = open_guard(dst.path());
    let err = migrate(&guard, src.path()).unwrap_err();
    assert!(matches!(err, MigrateError::KeyConflict { .. }), "{err}");
    assert!(err.to_string().contains("local.key"), "{err}");
    assert!(guard.history().unwrap().is_empty());
    assert!(!dst.path().join("identities/second.key").exists());
}

#[test]
fn refuses_unknown_schema_versions_and_missing_files() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let guard = open_guard(dst.path());
    assert!(matches!(
        migrate(&guard, src.path()),
        Err(MigrateError::MissingLocalSql { .. })
    ));
    let conn = Connection::open(src.path().join("local.sql")).unwrap();
    conn.execute_batch(SCHEMA_V9).unwrap();
    conn.pragma_update(None, "user_version", 11).unwrap();
    drop(conn);
    let err = migrate(&guard, src.path()).unwrap_err();
    assert!(
        matches!(err, MigrateError::SchemaVersion { found: 11, .. }),
        "{err}"
    );
}

#[test]
fn reads_committed_rows_still_in_the_wal() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    // The writer stays open, as a running or killed node would leave it: rows live in -wal.
    let (fx, writer) = build_local_sql(src.path(), 10, true);
    let wal = src.path().join("local.sql-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    let before = snapshot(src.path());
    let guard = open_guard(dst.path());
    let report = migrate(&guard, src.path()).unwrap();
    assert_eq!(report.rows_copied.get("post"), Some(&1));
    assert_eq!(report.atx_verified, 2);
    assert_eq!(
        migrated_rows(&guard, "post", &fx.a.node_id())
            .unwrap()
            .len(),
        1
    );
    assert_eq!(snapshot(src.path()), before);
    // The private snapshot was cleaned up.
    assert!(!std::fs::read_dir(dst.path()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".migrate-snapshot")));
    drop(writer);
}

//! The ATX cycle's own SQLite database (`smesher-atx.sqlite` in the data folder, never
//! go-spacemesh's `local.sql`): initial PoST, current challenge, PoET registrations, the chosen
//! PoET proof, the finished NIPoST and the published ATXs, keyed by identity, so a restart at
//! any moment resumes the cycle where it stopped.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use codec::{from_slice, to_vec, MerkleProofV1, NIPostChallengeV1, PoetProofMessage, PostV1};
use rusqlite::{params, Connection, OptionalExtension};

/// File name inside the data folder.
pub const ATX_DB_FILE: &str = "smesher-atx.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS initial_post (
    node_id BLOB PRIMARY KEY NOT NULL,
    post BLOB NOT NULL,
    commitment_atx BLOB NOT NULL,
    num_units INTEGER NOT NULL,
    vrf_nonce INTEGER NOT NULL,
    labels_per_unit INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS challenge (
    node_id BLOB PRIMARY KEY NOT NULL,
    publish_epoch INTEGER NOT NULL,
    challenge BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS poet_registration (
    node_id BLOB NOT NULL,
    address TEXT NOT NULL,
    hash BLOB NOT NULL,
    round_id TEXT NOT NULL,
    round_end_ms INTEGER NOT NULL,
    PRIMARY KEY (node_id, address)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS poet_proof (
    node_id BLOB PRIMARY KEY NOT NULL,
    address TEXT NOT NULL,
    message BLOB NOT NULL,
    membership BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nipost (
    node_id BLOB PRIMARY KEY NOT NULL,
    post BLOB NOT NULL,
    num_units INTEGER NOT NULL,
    vrf_nonce INTEGER NOT NULL,
    labels_per_unit INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS poet_certificate (
    node_id BLOB NOT NULL,
    certifier BLOB NOT NULL,
    data BLOB NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (node_id, certifier)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS published_atx (
    node_id BLOB NOT NULL,
    publish_epoch INTEGER NOT NULL,
    atx_id BLOB NOT NULL,
    atx BLOB NOT NULL,
    vrf_nonce INTEGER NOT NULL,
    broadcast INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, publish_epoch)
) WITHOUT ROWID;
";

/// Database errors; the text names the table.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("ATX database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("ATX database: corrupt {table} row: {reason}")]
    Corrupt { table: &'static str, reason: String },
}

/// A PoST with the metadata it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPost {
    pub post: PostV1,
    pub commitment_atx: [u8; 32],
    pub num_units: u32,
    pub vrf_nonce: u64,
    pub labels_per_unit: u64,
}

/// One PoET registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub address: String,
    pub hash: [u8; 32],
    pub round_id: String,
    pub round_end: SystemTime,
}

/// An ATX this service published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedAtx {
    pub publish_epoch: u32,
    pub atx_id: [u8; 32],
    pub atx: Vec<u8>,
    pub vrf_nonce: u64,
    pub broadcast: bool,
}

/// A PoET certificate: the certified data and the certifier's signature.
pub type Certificate = (Vec<u8>, Vec<u8>);

/// post, commitment ATX, num units, VRF nonce, labels per unit.
type PostRow = (Vec<u8>, Vec<u8>, u32, i64, i64);

/// The open database.
#[derive(Debug)]
pub struct AtxStore {
    conn: Mutex<Connection>,
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn from_ms(v: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

fn arr32(table: &'static str, v: Vec<u8>) -> Result<[u8; 32], StoreError> {
    v.try_into().map_err(|v: Vec<u8>| StoreError::Corrupt {
        table,
        reason: format!("{} bytes where 32 belong", v.len()),
    })
}

fn decode<T: codec::Decode>(table: &'static str, v: &[u8]) -> Result<T, StoreError> {
    from_slice(v).map_err(|e| StoreError::Corrupt {
        table,
        reason: e.to_string(),
    })
}

impl AtxStore {
    /// Opens (creating) the database of `data_folder`.
    pub fn open(data_folder: &Path) -> Result<AtxStore, StoreError> {
        let conn = Connection::open(data_folder.join(ATX_DB_FILE))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(AtxStore {
            conn: Mutex::new(conn),
        })
    }

    /// An in-memory database (tests).
    pub fn in_memory() -> Result<AtxStore, StoreError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(AtxStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn post_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PostRow> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    }

    pub fn initial_post(&self, node: &[u8; 32]) -> Result<Option<StoredPost>, StoreError> {
        const T: &str = "initial_post";
        let row = self
            .conn()
            .query_row(
                "SELECT post, commitment_atx, num_units, vrf_nonce, labels_per_unit FROM initial_post WHERE node_id = ?1",
                params![node.as_slice()],
                Self::post_row,
            )
            .optional()?;
        row.map(|(post, commit, num_units, nonce, lpu)| {
            Ok(StoredPost {
                post: decode(T, &post)?,
                commitment_atx: arr32(T, commit)?,
                num_units,
                vrf_nonce: nonce as u64,
                labels_per_unit: lpu as u64,
            })
        })
        .transpose()
    }

    pub fn set_initial_post(&self, node: &[u8; 32], p: &StoredPost) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO initial_post VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                node.as_slice(),
                to_vec(&p.post),
                p.commitment_atx.as_slice(),
                p.num_units,
                p.vrf_nonce as i64,
                p.labels_per_unit as i64
            ],
        )?;
        Ok(())
    }

    pub fn challenge(&self, node: &[u8; 32]) -> Result<Option<NIPostChallengeV1>, StoreError> {
        let row: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT challenge FROM challenge WHERE node_id = ?1",
                params![node.as_slice()],
                |r| r.get(0),
            )
            .optional()?;
        row.map(|b| decode("challenge", &b)).transpose()
    }

    pub fn set_challenge(&self, node: &[u8; 32], c: &NIPostChallengeV1) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO challenge VALUES (?1, ?2, ?3)",
            params![node.as_slice(), c.publish_epoch, to_vec(c)],
        )?;
        Ok(())
    }

    pub fn registrations(&self, node: &[u8; 32]) -> Result<Vec<Registration>, StoreError> {
        const T: &str = "poet_registration";
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT address, hash, round_id, round_end_ms FROM poet_registration WHERE node_id = ?1 ORDER BY address",
        )?;
        let rows = stmt
            .query_map(params![node.as_slice()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(address, hash, round_id, end)| {
                Ok(Registration {
                    address,
                    hash: arr32(T, hash)?,
                    round_id,
                    round_end: from_ms(end),
                })
            })
            .collect()
    }

    pub fn add_registration(&self, node: &[u8; 32], r: &Registration) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO poet_registration VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                node.as_slice(),
                r.address,
                r.hash.as_slice(),
                r.round_id,
                ms(r.round_end)
            ],
        )?;
        Ok(())
    }

    pub fn poet_proof(
        &self,
        node: &[u8; 32],
    ) -> Result<Option<(String, PoetProofMessage, MerkleProofV1)>, StoreError> {
        const T: &str = "poet_proof";
        let row: Option<(String, Vec<u8>, Vec<u8>)> = self
            .conn()
            .query_row(
                "SELECT address, message, membership FROM poet_proof WHERE node_id = ?1",
                params![node.as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(a, m, p)| Ok((a, decode(T, &m)?, decode(T, &p)?)))
            .transpose()
    }

    pub fn set_poet_proof(
        &self,
        node: &[u8; 32],
        address: &str,
        message: &PoetProofMessage,
        membership: &MerkleProofV1,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO poet_proof VALUES (?1, ?2, ?3, ?4)",
            params![
                node.as_slice(),
                address,
                to_vec(message),
                to_vec(membership)
            ],
        )?;
        Ok(())
    }

    pub fn nipost(&self, node: &[u8; 32]) -> Result<Option<StoredPost>, StoreError> {
        const T: &str = "nipost";
        let row = self
            .conn()
            .query_row(
                "SELECT post, x'', num_units, vrf_nonce, labels_per_unit FROM nipost WHERE node_id = ?1",
                params![node.as_slice()],
                Self::post_row,
            )
            .optional()?;
        row.map(|(post, _, num_units, nonce, lpu)| {
            Ok(StoredPost {
                post: decode(T, &post)?,
                commitment_atx: [0; 32],
                num_units,
                vrf_nonce: nonce as u64,
                labels_per_unit: lpu as u64,
            })
        })
        .transpose()
    }

    pub fn set_nipost(&self, node: &[u8; 32], p: &StoredPost) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO nipost VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                node.as_slice(),
                to_vec(&p.post),
                p.num_units,
                p.vrf_nonce as i64,
                p.labels_per_unit as i64
            ],
        )?;
        Ok(())
    }

    /// The cached certificate of `node` from the certifier with key `certifier`.
    pub fn certificate(
        &self,
        node: &[u8; 32],
        certifier: &[u8; 32],
    ) -> Result<Option<Certificate>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT data, signature FROM poet_certificate WHERE node_id = ?1 AND certifier = ?2",
                params![node.as_slice(), certifier.as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    pub fn set_certificate(
        &self,
        node: &[u8; 32],
        certifier: &[u8; 32],
        data: &[u8],
        signature: &[u8],
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO poet_certificate VALUES (?1, ?2, ?3, ?4)",
            params![node.as_slice(), certifier.as_slice(), data, signature],
        )?;
        Ok(())
    }

    /// Drops a certificate a PoET refused.
    pub fn delete_certificate(
        &self,
        node: &[u8; 32],
        certifier: &[u8; 32],
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM poet_certificate WHERE node_id = ?1 AND certifier = ?2",
            params![node.as_slice(), certifier.as_slice()],
        )?;
        Ok(())
    }

    /// Records a built ATX (before it is sent), so a restart re-sends the same bytes.
    pub fn add_published(&self, node: &[u8; 32], p: &PublishedAtx) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO published_atx VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                node.as_slice(),
                p.publish_epoch,
                p.atx_id.as_slice(),
                p.atx,
                p.vrf_nonce as i64,
                p.broadcast
            ],
        )?;
        Ok(())
    }

    /// Marks an ATX accepted by a node and drops the in-flight rows of its cycle, in one
    /// transaction.
    pub fn finish_cycle(&self, node: &[u8; 32], publish_epoch: u32) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE published_atx SET broadcast = 1 WHERE node_id = ?1 AND publish_epoch = ?2",
            params![node.as_slice(), publish_epoch],
        )?;
        for table in ["challenge", "poet_registration", "poet_proof", "nipost"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE node_id = ?1"),
                params![node.as_slice()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Drops a challenge that can no longer make it (and what hangs on it).
    pub fn reset_cycle(&self, node: &[u8; 32]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for table in ["challenge", "poet_registration", "poet_proof", "nipost"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE node_id = ?1"),
                params![node.as_slice()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn published(
        &self,
        node: &[u8; 32],
        publish_epoch: u32,
    ) -> Result<Option<PublishedAtx>, StoreError> {
        const T: &str = "published_atx";
        let row: Option<(Vec<u8>, Vec<u8>, i64, bool)> = self
            .conn()
            .query_row(
                "SELECT atx_id, atx, vrf_nonce, broadcast FROM published_atx WHERE node_id = ?1 AND publish_epoch = ?2",
                params![node.as_slice(), publish_epoch],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        row.map(|(id, atx, nonce, broadcast)| {
            Ok(PublishedAtx {
                publish_epoch,
                atx_id: arr32(T, id)?,
                atx,
                vrf_nonce: nonce as u64,
                broadcast,
            })
        })
        .transpose()
    }

    /// The newest ATX of `node` a node-service accepted from this service.
    pub fn last_published(&self, node: &[u8; 32]) -> Result<Option<PublishedAtx>, StoreError> {
        let epoch: Option<u32> = self.conn().query_row(
            "SELECT max(publish_epoch) FROM published_atx WHERE node_id = ?1 AND broadcast = 1",
            params![node.as_slice()],
            |r| r.get(0),
        )?;
        match epoch {
            Some(e) => self.published(node, e),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_cycle_cleanup() {
        let s = AtxStore::in_memory().expect("db");
        let node = [7u8; 32];
        assert_eq!(s.challenge(&node).expect("read"), None);
        let post = StoredPost {
            post: PostV1 {
                nonce: 3,
                indices: vec![1, 2, 3],
                pow: 9,
            },
            commitment_atx: [4; 32],
            num_units: 4,
            vrf_nonce: 77,
            labels_per_unit: 1 << 32,
        };
        s.set_initial_post(&node, &post).expect("write");
        assert_eq!(s.initial_post(&node).expect("read"), Some(post.clone()));
        let c = NIPostChallengeV1 {
            publish_epoch: 5,
            sequence: 1,
            ..Default::default()
        };
        s.set_challenge(&node, &c).expect("write");
        let r = Registration {
            address: "http://poet".into(),
            hash: c.poet_challenge_hash().0,
            round_id: "4".into(),
            round_end: SystemTime::UNIX_EPOCH + Duration::from_millis(12_345),
        };
        s.add_registration(&node, &r).expect("write");
        s.set_nipost(&node, &post).expect("write");
        assert_eq!(s.challenge(&node).expect("read"), Some(c));
        assert_eq!(s.registrations(&node).expect("read"), vec![r]);
        assert_eq!(
            s.nipost(&node).expect("read").map(|p| p.post),
            Some(post.post.clone())
        );
        let atx = PublishedAtx {
            publish_epoch: 5,
            atx_id: [1; 32],
            atx: vec![9; 10],
            vrf_nonce: 77,
            broadcast: false,
        };
        s.add_published(&node, &atx).expect("write");
        // Built but not yet accepted by a node: not a previous ATX to build on.
        assert_eq!(s.last_published(&node).expect("read"), None);
        s.finish_cycle(&node, 5).expect("finish");
        assert_eq!(s.challenge(&node).expect("read"), None);
        assert!(s.registrations(&node).expect("read").is_empty());
        assert_eq!(s.nipost(&node).expect("read"), None);
        let last = s.last_published(&node).expect("read").expect("row");
        assert!(last.broadcast);
        assert_eq!(last.atx, vec![9; 10]);
        // Certificates are cached until refused.
        s.set_certificate(&node, &[3; 32], b"data", b"sig")
            .expect("write");
        assert_eq!(
            s.certificate(&node, &[3; 32]).expect("read"),
            Some((b"data".to_vec(), b"sig".to_vec()))
        );
        s.delete_certificate(&node, &[3; 32]).expect("delete");
        assert_eq!(s.certificate(&node, &[3; 32]).expect("read"), None);
        // The initial PoST stays: it is the identity's, not the cycle's.
        assert!(s.initial_post(&node).expect("read").is_some());
    }
}

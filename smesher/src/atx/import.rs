//! Takes over an in-flight ATX cycle of a go-spacemesh node: the `post`, `challenge` and
//! `poet_registration` rows that `smesher migrate` copied from its `local.sql` become the
//! cycle's initial PoST, challenge and PoET registrations (once per identity). The chosen PoET
//! proof and a finished NIPoST are not taken over: the proof is fetched again from the
//! registered PoETs and the PoST asked for again, which both give the same ATX challenge.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use codec::{AtxId, NIPostChallengeV1, PostV1};
use rusqlite::types::Value;

use super::store::{AtxStore, Registration, StoreError, StoredPost};

/// One migrated row: column → value.
pub type Row = BTreeMap<String, Value>;

/// Why a migrated row could not be taken over.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("migrated {table} row: {reason}")]
    Row { table: &'static str, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn bad(table: &'static str, reason: impl Into<String>) -> ImportError {
    ImportError::Row {
        table,
        reason: reason.into(),
    }
}

fn int(table: &'static str, row: &Row, col: &str) -> Result<Option<i64>, ImportError> {
    match row.get(col) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Integer(i)) => Ok(Some(*i)),
        Some(other) => Err(bad(table, format!("{col} is {other:?}, not an integer"))),
    }
}

fn blob(table: &'static str, row: &Row, col: &str) -> Result<Option<Vec<u8>>, ImportError> {
    match row.get(col) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Blob(b)) => Ok(Some(b.clone())),
        Some(Value::Text(t)) => Ok(Some(t.as_bytes().to_vec())),
        Some(other) => Err(bad(table, format!("{col} is {other:?}, not a blob"))),
    }
}

fn id32(table: &'static str, row: &Row, col: &str) -> Result<Option<[u8; 32]>, ImportError> {
    blob(table, row, col)?
        .map(|b| {
            let len = b.len();
            b.try_into()
                .map_err(|_| bad(table, format!("{col} has {len} bytes, not 32")))
        })
        .transpose()
}

fn need<T>(table: &'static str, col: &str, v: Option<T>) -> Result<T, ImportError> {
    v.ok_or_else(|| bad(table, format!("{col} is missing")))
}

/// A PoST from its three columns, if `post_nonce` is set.
fn post(table: &'static str, row: &Row) -> Result<Option<PostV1>, ImportError> {
    let Some(nonce) = int(table, row, "post_nonce")? else {
        return Ok(None);
    };
    Ok(Some(PostV1 {
        nonce: u32::try_from(nonce).map_err(|_| bad(table, "post_nonce out of range"))?,
        indices: need(table, "post_indices", blob(table, row, "post_indices")?)?,
        // u64 values are stored bit-cast to i64.
        pow: need(table, "post_pow", int(table, row, "post_pow")?)? as u64,
    }))
}

/// Imports the rows of one identity (`rows(table)` gives the migrated rows of a `local.sql`
/// table) unless its cycle already holds state. Returns what was imported.
pub fn import(
    store: &AtxStore,
    node: &[u8; 32],
    labels_per_unit: u64,
    rows: impl Fn(&str) -> Result<Vec<Row>, String>,
) -> Result<Vec<&'static str>, ImportError> {
    let mut done = Vec::new();
    let read = |t: &'static str| rows(t).map_err(|e| bad(t, e));
    if store.initial_post(node)?.is_none() {
        if let Some(row) = read("post")?.first() {
            const T: &str = "post";
            let stored = StoredPost {
                post: need(T, "post_nonce", post(T, row)?)?,
                commitment_atx: need(T, "commit_atx", id32(T, row, "commit_atx")?)?,
                num_units: u32::try_from(need(T, "num_units", int(T, row, "num_units")?)?)
                    .map_err(|_| bad(T, "num_units out of range"))?,
                vrf_nonce: need(T, "vrf_nonce", int(T, row, "vrf_nonce")?)? as u64,
                labels_per_unit,
            };
            store.set_initial_post(node, &stored)?;
            done.push(T);
        }
    }
    if store.challenge(node)?.is_none() {
        if let Some(row) = read("challenge")?.first() {
            const T: &str = "challenge";
            let epoch = need(T, "epoch", int(T, row, "epoch")?)?;
            let challenge = NIPostChallengeV1 {
                publish_epoch: u32::try_from(epoch).map_err(|_| bad(T, "epoch out of range"))?,
                sequence: need(T, "sequence", int(T, row, "sequence")?)? as u64,
                prev_atx_id: AtxId(id32(T, row, "prev_atx")?.unwrap_or_default()),
                positioning_atx_id: AtxId(need(T, "pos_atx", id32(T, row, "pos_atx")?)?),
                commitment_atx_id: id32(T, row, "commit_atx")?.map(AtxId),
                initial_post: post(T, row)?,
            };
            store.set_challenge(node, &challenge)?;
            done.push(T);
            const R: &str = "poet_registration";
            let hash = challenge.poet_challenge_hash().0;
            for row in read(R)? {
                let reg_hash = need(R, "hash", id32(R, &row, "hash")?)?;
                if reg_hash != hash {
                    tracing::warn!(
                        node_id = %hex::encode(node),
                        "a migrated PoET registration is for another challenge; not taken over"
                    );
                    continue;
                }
                let address = match row.get("address") {
                    Some(Value::Text(a)) => a.clone(),
                    _ => return Err(bad(R, "address is not text")),
                };
                let round_id = match row.get("round_id") {
                    Some(Value::Text(a)) => a.clone(),
                    _ => return Err(bad(R, "round_id is not text")),
                };
                let end = need(R, "round_end", int(R, &row, "round_end")?)?;
                store.add_registration(
                    node,
                    &Registration {
                        address,
                        hash,
                        round_id,
                        round_end: SystemTime::UNIX_EPOCH
                            + Duration::from_secs(u64::try_from(end).unwrap_or(0)),
                    },
                )?;
                if !done.contains(&R) {
                    done.push(R);
                }
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, Value)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn an_in_flight_go_cycle_is_taken_over_once() {
        let store = AtxStore::in_memory().expect("db");
        let node = [9u8; 32];
        let challenge = NIPostChallengeV1 {
            publish_epoch: 7,
            sequence: 0,
            prev_atx_id: AtxId::default(),
            positioning_atx_id: AtxId([2; 32]),
            commitment_atx_id: Some(AtxId([3; 32])),
            initial_post: Some(PostV1 {
                nonce: 5,
                indices: vec![1, 2],
                pow: u64::MAX,
            }),
        };
        let hash = challenge.poet_challenge_hash().0;
        let rows = |t: &str| -> Result<Vec<Row>, String> {
            Ok(match t {
                "post" => vec![row(&[
                    ("id", Value::Blob(node.to_vec())),
                    ("post_nonce", Value::Integer(5)),
                    ("post_indices", Value::Blob(vec![1, 2])),
                    ("post_pow", Value::Integer(-1)),
                    ("num_units", Value::Integer(4)),
                    ("commit_atx", Value::Blob(vec![3; 32])),
                    ("vrf_nonce", Value::Integer(99)),
                ])],
                "challenge" => vec![row(&[
                    ("epoch", Value::Integer(7)),
                    ("sequence", Value::Integer(0)),
                    ("prev_atx", Value::Blob(vec![0; 32])),
                    ("pos_atx", Value::Blob(vec![2; 32])),
                    ("commit_atx", Value::Blob(vec![3; 32])),
                    ("post_nonce", Value::Integer(5)),
                    ("post_indices", Value::Blob(vec![1, 2])),
                    ("post_pow", Value::Integer(-1)),
                ])],
                "poet_registration" => vec![
                    row(&[
                        ("hash", Value::Blob(hash.to_vec())),
                        ("address", Value::Text("https://poet-1".into())),
                        ("round_id", Value::Text("12".into())),
                        ("round_end", Value::Integer(1_700_000_000)),
                    ]),
                    row(&[
                        ("hash", Value::Blob(vec![8; 32])),
                        ("address", Value::Text("https://poet-2".into())),
                        ("round_id", Value::Text("12".into())),
                        ("round_end", Value::Integer(1_700_000_000)),
                    ]),
                ],
                _ => Vec::new(),
            })
        };
        let done = import(&store, &node, 1 << 32, rows).expect("import");
        assert_eq!(done, vec!["post", "challenge", "poet_registration"]);
        assert_eq!(store.challenge(&node).expect("read"), Some(challenge));
        let regs = store.registrations(&node).expect("read");
        assert_eq!(
            regs.len(),
            1,
            "the registration of another challenge is left out"
        );
        assert_eq!(regs[0].round_id, "12");
        let post = store.initial_post(&node).expect("read").expect("post");
        assert_eq!(
            (post.vrf_nonce, post.post.pow, post.num_units),
            (99, u64::MAX, 4)
        );
        // A second start imports nothing again.
        assert!(import(&store, &node, 1 << 32, rows)
            .expect("import")
            .is_empty());
        // A malformed row is a clear error.
        let broken = |_: &str| -> Result<Vec<Row>, String> {
            Ok(vec![row(&[("post_nonce", Value::Text("x".into()))])])
        };
        let other = [1u8; 32];
        let e = import(&store, &other, 1, broken).expect_err("bad row");
        assert!(e.to_string().contains("post_nonce"), "{e}");
    }
}

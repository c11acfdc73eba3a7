//! Export and import of the guard history as a versioned JSON document, so an identity can move
//! between machines without losing what it has signed.
//!
//! Both directions take a `&Guard`: holding it means holding the data folder's lock, so the
//! service that signs with that folder is stopped. Import merges: a slot already recorded with
//! the same digest is left alone, a slot recorded with a different digest is an error naming
//! it, and nothing of a failed import is applied.
//!
//! ```json
//! {
//!   "format": "smesher-signing-guard",
//!   "version": 1,
//!   "genesis_id": "9eebff023abb17ccb775c602daade8ed708f0a50",
//!   "identities": [{
//!     "node_id": "8a88e3dd…",
//!     "entries": [
//!       { "slot": { "kind": "atx", "publish_epoch": 12 }, "digest": "…" },
//!       { "slot": { "kind": "hare", "layer": 50123, "round": 9 }, "digest": "…",
//!         "message": "…", "signature": "…" }
//!     ]
//!   }]
//! }
//! ```
//!
//! Slot kinds: `atx`/`poet_registration` (`publish_epoch`), `ballot`/`proposal`/`certify`
//! (`layer`), `hare` (`layer`, `round` = iteration·7 + round). A signature is kept on import only
//! with its message and only if it verifies; otherwise just the digest is recorded.

use std::collections::HashMap;

use rusqlite::TransactionBehavior;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::guard::{
    digest_of, insert_foreign, read_history, Digest, Guard, GuardError, Slot, SlotEntry,
};
use crate::identity::NodeId;
use crate::signer::{preimage, Signature};
use crate::verifier::verify_raw;

/// Value of the `format` field.
pub const FORMAT: &str = "smesher-signing-guard";
/// Current document version.
pub const VERSION: u32 = 1;

/// The whole document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interchange {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// Hex genesis ID the digests were computed with.
    pub genesis_id: String,
    /// Per identity, its recorded slots.
    pub identities: Vec<IdentityHistory>,
}

/// The recorded slots of one identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityHistory {
    /// Hex node ID.
    pub node_id: String,
    /// Its slots.
    pub entries: Vec<Entry>,
}

/// One recorded slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The slot, e.g. `{"kind":"hare","layer":5,"round":9}`.
    pub slot: Slot,
    /// Hex BLAKE3 digest of the signed preimage (`genesis id ‖ domain ‖ message`).
    pub digest: String,
    /// Hex signed message (optional; exported together with the signature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Hex signature (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Slots newly recorded.
    pub added: usize,
    /// Slots already recorded with the same digest.
    pub unchanged: usize,
    /// Signatures dropped because they came without a message or did not verify (the digest
    /// is still recorded; the guard re-signs the same bytes deterministically when asked).
    pub signatures_dropped: usize,
}

/// Why an export or import failed.
#[derive(Debug, Error)]
pub enum InterchangeError {
    /// Not JSON of this shape.
    #[error("interchange document is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// Wrong `format`.
    #[error("interchange document format is {found:?}, expected {FORMAT:?}")]
    Format {
        /// Value found.
        found: String,
    },
    /// Unsupported `version`.
    #[error("interchange document version {found} is not supported (this build reads {VERSION})")]
    Version {
        /// Value found.
        found: u32,
    },
    /// Exported from another network.
    #[error("interchange document is for genesis id {document}, this guard for {guard}")]
    GenesisMismatch {
        /// Genesis ID in the document.
        document: String,
        /// Genesis ID of the guard.
        guard: String,
    },
    /// A malformed field; `at` is its JSON path.
    #[error("{at}: {reason}")]
    Invalid {
        /// Where, e.g. `identities[0].entries[3].digest`.
        at: String,
        /// What is wrong.
        reason: String,
    },
    /// The document, or the document and the guard, hold different digests for one slot.
    #[error(
        "conflicting digests for {node_id} {slot}: recorded {}, imported {}; nothing was imported",
        hex::encode(recorded),
        hex::encode(imported)
    )]
    Conflict {
        /// The identity.
        node_id: NodeId,
        /// The slot.
        slot: Slot,
        /// Digest already recorded (in the guard or earlier in the document).
        recorded: Digest,
        /// Digest in the document.
        imported: Digest,
    },
    /// The guard failed.
    #[error(transparent)]
    Guard(#[from] GuardError),
}

impl Interchange {
    /// Parses a document.
    pub fn from_json(text: &str) -> Result<Self, InterchangeError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Renders the document as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and enums cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Exports everything the guard recorded. With `with_signatures`, each entry also carries its
/// message and signature where known.
pub fn export(guard: &Guard, with_signatures: bool) -> Result<Interchange, InterchangeError> {
    let records = {
        let conn = guard.conn();
        read_history(&conn)?
    };
    let mut identities: Vec<IdentityHistory> = Vec::new();
    for rec in records {
        let node_id = rec.node_id.to_hex();
        if identities.last().map(|h| &h.node_id) != Some(&node_id) {
            identities.push(IdentityHistory {
                node_id,
                entries: Vec::new(),
            });
        }
        let (message, signature) = if with_signatures {
            (
                rec.message.as_ref().map(hex::encode),
                rec.signature.map(|s| s.to_hex()),
            )
        } else {
            (None, None)
        };
        if let Some(last) = identities.last_mut() {
            last.entries.push(Entry {
                slot: rec.slot,
                digest: hex::encode(rec.digest),
                message,
                signature,
            });
        }
    }
    Ok(Interchange {
        format: FORMAT.to_owned(),
        version: VERSION,
        genesis_id: guard.genesis_id().to_hex(),
        identities,
    })
}

fn decode_fixed<const N: usize>(at: String, text: &str) -> Result<[u8; N], InterchangeError> {
    let bytes = hex::decode(text).map_err(|e| InterchangeError::Invalid {
        at: at.clone(),
        reason: format!("not hex: {e}"),
    })?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| InterchangeError::Invalid {
            at,
            reason: format!("{} bytes, expected {N}", b.len()),
        })
}

/// A checked document entry.
struct Checked {
    entry: SlotEntry,
    message: Option<Vec<u8>>,
    signature: Option<Signature>,
}

/// Imports `doc` into the guard in one transaction (see the module note for the merge rules).
pub fn import(guard: &Guard, doc: &Interchange) -> Result<ImportSummary, InterchangeError> {
    if doc.format != FORMAT {
        return Err(InterchangeError::Format {
            found: doc.format.clone(),
        });
    }
    if doc.version != VERSION {
        return Err(InterchangeError::Version { found: doc.version });
    }
    let genesis = guard.genesis_id();
    if !doc.genesis_id.eq_ignore_ascii_case(&genesis.to_hex()) {
        return Err(InterchangeError::GenesisMismatch {
            document: doc.genesis_id.clone(),
            guard: genesis.to_hex(),
        });
    }
    let mut summary = ImportSummary::default();
    let mut checked: Vec<Checked> = Vec::new();
    let mut seen: HashMap<(NodeId, Slot), Digest> = HashMap::new();
    for (i, identity) in doc.identities.iter().enumerate() {
        let node_id = NodeId(decode_fixed(
            format!("identities[{i}].node_id"),
            &identity.node_id,
        )?);
        for (j, e) in identity.entries.iter().enumerate() {
            let at = |field: &str| format!("identities[{i}].entries[{j}].{field}");
            let digest: Digest = decode_fixed(at("digest"), &e.digest)?;
            let domain = e.slot.domain();
            let message = e
                .message
                .as_deref()
                .map(|m| {
                    hex::decode(m).map_err(|err| InterchangeError::Invalid {
                        at: at("message"),
                        reason: format!("not hex: {err}"),
                    })
                })
                .transpose()?;
            if let Some(m) = &message {
                if digest_of(genesis.as_bytes(), domain, m) != digest {
                    return Err(InterchangeError::Invalid {
                        at: at("message"),
                        reason: "message does not hash to the digest".into(),
                    });
                }
            }
            let signature = match (&e.signature, &message) {
                (None, _) => None,
                (Some(s), Some(m)) => {
                    let sig = Signature(decode_fixed(at("signature"), s)?);
                    let pre = preimage(genesis.as_bytes(), domain, m);
                    if verify_raw(node_id.as_bytes(), &pre, &sig.0) {
                        Some(sig)
                    } else {
                        summary.signatures_dropped += 1;
                        None
                    }
                }
                (Some(s), None) => {
                    // Without the message it cannot be checked, so it is not kept.
                    decode_fixed::<64>(at("signature"), s)?;
                    summary.signatures_dropped += 1;
                    None
                }
            };
            let entry = SlotEntry {
                node_id,
                slot: e.slot,
                digest,
            };
            match seen.get(&(node_id, e.slot)) {
                Some(d) if *d != digest => {
                    return Err(InterchangeError::Conflict {
                        node_id,
                        slot: e.slot,
                        recorded: *d,
                        imported: digest,
                    })
                }
                Some(_) => continue,
                None => {
                    seen.insert((node_id, e.slot), digest);
                }
            }
            checked.push(Checked {
                entry,
                message,
                signature,
            });
        }
    }

    let mut conn = guard.conn();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(GuardError::from)?;
    for c in &checked {
        let added = insert_foreign(
            &tx,
            &c.entry,
            c.signature.as_ref(),
            c.message.as_deref(),
            "import",
        )
        .map_err(|e| match e {
            GuardError::Conflict {
                node_id,
                slot,
                stored_digest,
                requested_digest,
            } => InterchangeError::Conflict {
                node_id,
                slot,
                recorded: stored_digest,
                imported: requested_digest,
            },
            other => other.into(),
        })?;
        if added {
            summary.added += 1;
        } else {
            summary.unchanged += 1;
        }
    }
    tx.commit().map_err(GuardError::from)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::GenesisId;
    use crate::guard::GuardMetrics;
    use crate::identity::Identity;
    use crate::signer::Domain;
    use prometheus::Registry;

    const G: GenesisId = GenesisId([0x11; 20]);

    fn open(dir: &std::path::Path) -> Guard {
        Guard::open(dir, G, GuardMetrics::register(&Registry::new()).unwrap()).unwrap()
    }

    #[test]
    fn round_trip_between_machines() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let id = Identity::from_seed(&[4; 32], "x.key");
        let other = Identity::from_seed(&[5; 32], "y.key");
        let source = open(a.path());
        let hare = Slot::hare(10, 1, 2);
        let s1 = source.sign(&id, hare, Domain::HARE, b"hare msg").unwrap();
        source
            .sign(&other, Slot::Atx { publish_epoch: 4 }, Domain::ATX, b"atx")
            .unwrap();
        source
            .sign(
                &id,
                Slot::PoetRegistration { publish_epoch: 4 },
                Domain::POET,
                &[9; 32],
            )
            .unwrap();

        for with_signatures in [false, true] {
            let doc = export(&source, with_signatures).unwrap();
            let text = doc.to_json();
            assert_eq!(text.contains("\"signature\""), with_signatures);
            let parsed = Interchange::from_json(&text).unwrap();
            assert_eq!(parsed, doc);
            let dir = tempfile::tempdir().unwrap();
            let target = open(dir.path());
            let summary = import(&target, &parsed).unwrap();
            assert_eq!(summary.added, 3);
            assert_eq!(summary.signatures_dropped, 0);
            // The imported history refuses what the source refuses and replays what it signed.
            assert!(matches!(
                target.sign(&id, hare, Domain::HARE, b"other msg"),
                Err(GuardError::Conflict { .. })
            ));
            let again = target.sign(&id, hare, Domain::HARE, b"hare msg").unwrap();
            assert!(again.replayed);
            assert_eq!(again.signature, s1.signature);
            // Importing twice changes nothing.
            let summary = import(&target, &parsed).unwrap();
            assert_eq!((summary.added, summary.unchanged), (0, 3));
        }

        // A conflicting entry is an error naming the slot, and nothing of the document applies.
        let target = open(b.path());
        target.sign(&id, hare, Domain::HARE, b"different").unwrap();
        let doc = export(&source, true).unwrap();
        let err = import(&target, &doc).unwrap_err();
        assert!(err.to_string().contains("hare(layer 10, round 9)"), "{err}");
        assert_eq!(target.history().unwrap().len(), 1);
    }

    #[test]
    fn bad_documents_are_rejected_with_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let guard = open(dir.path());
        let node = hex::encode([1u8; 32]);
        let doc = |entries: &str| {
            format!(
                r#"{{"format":"{FORMAT}","version":1,"genesis_id":"{}","identities":[{{"node_id":"{node}","entries":[{entries}]}}]}}"#,
                G.to_hex()
            )
        };
        let ok = format!(
            r#"{{"slot":{{"kind":"ballot","layer":1}},"digest":"{}"}}"#,
            "ab".repeat(32)
        );
        let short = r#"{"slot":{"kind":"ballot","layer":1},"digest":"abcd"}"#;
        let err = import(&guard, &Interchange::from_json(&doc(short)).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("identities[0].entries[0].digest"),
            "{err}"
        );
        let dup = format!(
            r#"{ok},{{"slot":{{"kind":"ballot","layer":1}},"digest":"{}"}}"#,
            "cd".repeat(32)
        );
        let err = import(&guard, &Interchange::from_json(&doc(&dup)).unwrap()).unwrap_err();
        assert!(matches!(err, InterchangeError::Conflict { .. }), "{err}");
        assert!(guard.history().unwrap().is_empty());
        let unknown = r#"{"slot":{"kind":"vote","layer":1},"digest":"ab"}"#;
        assert!(Interchange::from_json(&doc(unknown)).is_err());
        let mut wrong = Interchange::from_json(&doc(&ok)).unwrap();
        wrong.genesis_id = hex::encode([0u8; 20]);
        assert!(matches!(
            import(&guard, &wrong),
            Err(InterchangeError::GenesisMismatch { .. })
        ));
        wrong.genesis_id = G.to_hex();
        wrong.version = 2;
        assert!(matches!(
            import(&guard, &wrong),
            Err(InterchangeError::Version { found: 2 })
        ));
        let good = Interchange::from_json(&doc(&ok)).unwrap();
        assert_eq!(import(&guard, &good).unwrap().added, 1);
    }
}

//! The pure `decide` rules checked exhaustively against the SQLite guard: every sequence of four
//! requests over 2 identities × 2 slots × 2 messages, one request at a time and as one batch.

use prometheus::Registry;
use signing::guard::{decide, digest_of, Decision, SignRequest, SlotEntry};
use signing::{Domain, GenesisId, Guard, GuardError, GuardMetrics, Identity, Signature, Slot};

const GENESIS: GenesisId = GenesisId([0x9e; 20]);
const LEN: u32 = 4;
const MESSAGES: [&[u8]; 2] = [b"message zero", b"message one"];

/// Request `r` (0..8) of sequence `seq`: identity, slot, message. The layer is unique per
/// sequence (and per mode), so every sequence starts from an empty history; the two slots
/// differ only in the hare round.
fn request(r: u32, layer: u32) -> (usize, Slot, &'static [u8]) {
    let identity = (r & 1) as usize;
    let slot = Slot::Hare {
        layer,
        round: (r >> 1) & 1,
    };
    (identity, slot, MESSAGES[((r >> 2) & 1) as usize])
}

fn check(
    decision: Decision,
    entry: &SlotEntry,
    got: &Result<signing::Signed, GuardError>,
    first_signature: Option<Signature>,
    what: &str,
) {
    match (decision, got) {
        (Decision::Sign, Ok(s)) => {
            assert!(!s.replayed, "{what}");
            assert_eq!(s.digest, entry.digest, "{what}");
        }
        (Decision::Replay, Ok(s)) => {
            assert!(s.replayed, "{what}");
            assert_eq!(Some(s.signature), first_signature, "{what}");
        }
        (
            Decision::Refuse { stored },
            Err(GuardError::Conflict {
                stored_digest,
                requested_digest,
                slot,
                node_id,
            }),
        ) => {
            assert_eq!(*stored_digest, stored, "{what}");
            assert_eq!(*requested_digest, entry.digest, "{what}");
            assert_eq!(*slot, entry.slot, "{what}");
            assert_eq!(*node_id, entry.node_id, "{what}");
        }
        (d, g) => panic!("{what}: model says {d:?}, guard answered {g:?}"),
    }
}

#[test]
fn decide_matches_sqlite_guard_exhaustively() {
    // Thousands of commits, each fsynced: on a RAM file system when there is one, since this
    // test is about the rules (the SIGKILL test covers durability on the ordinary temp dir).
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let registry = Registry::new();
    let guard = Guard::open(
        dir.path(),
        GENESIS,
        GuardMetrics::register(&registry).unwrap(),
    )
    .unwrap();
    let identities = [
        Identity::from_seed(&[1; 32], "a.key"),
        Identity::from_seed(&[2; 32], "b.key"),
    ];
    let alphabet = 8u32;
    let sequences = alphabet.pow(LEN);
    let (mut signs, mut replays, mut refusals) = (0u64, 0u64, 0u64);
    for seq in 0..sequences {
        let requests: Vec<u32> = (0..LEN)
            .map(|i| (seq / alphabet.pow(i)) % alphabet)
            .collect();
        for batch in [false, true] {
            let layer = seq + if batch { sequences } else { 0 };
            let mut model: Vec<SlotEntry> = Vec::new();
            let mut signatures: Vec<(SlotEntry, Signature)> = Vec::new();
            let parts: Vec<(usize, Slot, &[u8])> =
                requests.iter().map(|r| request(*r, layer)).collect();
            let entries: Vec<SlotEntry> = parts
                .iter()
                .map(|(i, slot, msg)| SlotEntry {
                    node_id: identities[*i].node_id(),
                    slot: *slot,
                    digest: digest_of(&GENESIS.0, Domain::HARE, msg),
                })
                .collect();
            let answers: Vec<Result<signing::Signed, GuardError>> = if batch {
                let reqs: Vec<SignRequest<'_>> = parts
                    .iter()
                    .map(|(i, slot, msg)| SignRequest {
                        identity: &identities[*i],
                        slot: *slot,
                        domain: Domain::HARE,
                        message: msg,
                    })
                    .collect();
                guard.sign_batch(&reqs).unwrap()
            } else {
                parts
                    .iter()
                    .map(|(i, slot, msg)| guard.sign(&identities[*i], *slot, Domain::HARE, msg))
                    .collect()
            };
            for (step, (entry, got)) in entries.iter().zip(&answers).enumerate() {
                let decision = decide(&model, entry);
                let first = signatures
                    .iter()
                    .find(|(e, _)| e.node_id == entry.node_id && e.slot == entry.slot)
                    .map(|(_, s)| *s);
                let what = format!("sequence {requests:?} batch={batch} step {step}");
                check(decision, entry, got, first, &what);
                match decision {
                    Decision::Sign => {
                        signs += 1;
                        model.push(*entry);
                        signatures.push((*entry, got.as_ref().unwrap().signature));
                    }
                    Decision::Replay => replays += 1,
                    Decision::Refuse { .. } => refusals += 1,
                }
            }
            // What the database holds afterwards is exactly the model's history.
            for identity in &identities {
                for round in 0..2 {
                    let slot = Slot::Hare { layer, round };
                    let stored = guard.signed(&identity.node_id(), slot).unwrap();
                    let modeled = model
                        .iter()
                        .find(|e| e.node_id == identity.node_id() && e.slot == slot);
                    assert_eq!(
                        stored.map(|r| r.digest),
                        modeled.map(|e| e.digest),
                        "sequence {requests:?} batch={batch} {slot}"
                    );
                }
            }
        }
    }
    // Every outcome was exercised, and the metrics counted them.
    assert!(signs > 0 && replays > 0 && refusals > 0);
    let m = guard.metrics();
    assert_eq!(m.signatures(Domain::HARE), signs);
    assert_eq!(m.replays(signing::SlotKind::Hare), replays);
    assert_eq!(m.refusals(signing::SlotKind::Hare), refusals);
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(text.contains("smesher_guard_refusals_total{kind=\"hare\"}"));
    assert!(text.contains("smesher_signatures_total{domain=\"HARE\"}"));
}

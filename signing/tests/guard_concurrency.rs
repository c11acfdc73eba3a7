//! Ten threads asking at once to sign for one slot: exactly one wins.

use std::sync::{Arc, Barrier};

use prometheus::Registry;
use signing::{Domain, GenesisId, Guard, GuardError, GuardMetrics, Identity, Slot};

const THREADS: usize = 10;

fn race(
    guard: &Arc<Guard>,
    identity: &Arc<Identity>,
    slot: Slot,
    same_message: bool,
) -> Vec<Result<signing::Signed, GuardError>> {
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (guard, identity, barrier) = (guard.clone(), identity.clone(), barrier.clone());
            std::thread::spawn(move || {
                let msg = if same_message {
                    vec![0xaa; 8]
                } else {
                    vec![i as u8; 8]
                };
                barrier.wait();
                guard.sign(&identity, slot, slot.domain(), &msg)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn conflicting_threads_get_exactly_one_signature() {
    let dir = tempfile::tempdir().unwrap();
    let guard = Arc::new(
        Guard::open(
            dir.path(),
            GenesisId([3; 20]),
            GuardMetrics::register(&Registry::new()).unwrap(),
        )
        .unwrap(),
    );
    let identity = Arc::new(Identity::from_seed(&[9; 32], "a.key"));
    for layer in 0..20u32 {
        let slot = if layer.is_multiple_of(2) {
            Slot::Proposal { layer }
        } else {
            Slot::Hare { layer, round: 2 }
        };
        let results = race(&guard, &identity, slot, false);
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "layer {layer}: {results:?}");
        let winner = winners[0];
        assert!(!winner.replayed);
        for r in &results {
            match r {
                Ok(_) => {}
                Err(GuardError::Conflict { stored_digest, .. }) => {
                    assert_eq!(*stored_digest, winner.digest)
                }
                Err(e) => panic!("layer {layer}: {e}"),
            }
        }
        let rec = guard.signed(&identity.node_id(), slot).unwrap().unwrap();
        assert_eq!(rec.digest, winner.digest);
        assert_eq!(rec.signature, Some(winner.signature));
    }
    assert_eq!(
        guard.metrics().refusals(signing::SlotKind::Proposal),
        10 * 9
    );
    assert_eq!(guard.metrics().refusals(signing::SlotKind::Hare), 10 * 9);
    assert_eq!(guard.metrics().signatures(Domain::PROPOSAL), 10);
}

#[test]
fn identical_threads_share_one_signature() {
    let dir = tempfile::tempdir().unwrap();
    let guard = Arc::new(
        Guard::open(
            dir.path(),
            GenesisId([3; 20]),
            GuardMetrics::register(&Registry::new()).unwrap(),
        )
        .unwrap(),
    );
    let identity = Arc::new(Identity::from_seed(&[9; 32], "a.key"));
    let results = race(&guard, &identity, Slot::Certify { layer: 7 }, true);
    let signed: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(signed.iter().filter(|s| !s.replayed).count(), 1);
    assert!(signed.iter().all(|s| s.signature == signed[0].signature));
}

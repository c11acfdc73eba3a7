//! The proposal duty against three simnet nodes in compressed time: one proposal per identity
//! and eligible layer, with the epoch's eligibility proofs, that simnet accepts; the v2
//! `Eligibilities` and `Proposals` answers match what was published; `publish-to-all` sends
//! every message through every healthy node.

#[path = "duties_common/mod.rs"]
mod duties_common;
#[path = "v2_support/mod.rs"]
mod v2_support;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use duties_common::Duty;
use eligibility::proposal::EpochSlots;
use eligibility::VrfSecretKey;
use serde_json::json;
use simnet::MessageSlot;
use smesher::api::StateDetail;

/// (layer → slots in it) of an identity in `epoch`, by the oracle.
fn expected_slots(d: &Duty, seed: &[u8; 32], epoch: u32) -> BTreeMap<u32, u32> {
    let key = VrfSecretKey::from_seed(seed);
    let (nonce, slots) = d.network.eligibility_slots(&key.public_key(), epoch);
    let mut out = BTreeMap::new();
    for s in (EpochSlots {
        beacon: d.network.beacon(epoch),
        epoch,
        nonce,
        slots,
        layers_per_epoch: d.network.clock().layers_per_epoch(),
    })
    .compute(&key)
    .unwrap()
    {
        *out.entry(s.layer).or_insert(0) += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_are_published_per_eligible_layer_and_answered_by_the_api() {
    let d = Duty::start(4, json!({})).await;
    let clock = d.network.clock().clone();
    let first = clock.current_layer() + 1;
    let last = first + 4;
    d.wait_for_layer(last + 1).await;
    // Proposals are built at the layer start; give the last one a moment to land.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let violations = d.network.violations();
    assert!(violations.is_empty(), "simnet flagged: {violations:#?}");
    let accepted: Vec<_> = d
        .network
        .accepted()
        .into_iter()
        .filter(|a| matches!(a.slot, MessageSlot::Proposal { .. }))
        .collect();

    let api = v2_support::start(
        d.service.identity_states().clone(),
        &[],
        v2_support::Options::default(),
    )
    .await;
    let eligibilities = v2_support::get(&format!(
        "{}/spacemesh.v2beta1.SmeshingIdentitiesService/Eligibilities",
        api.json
    ))
    .await
    .json();
    let proposals = v2_support::get(&format!(
        "{}/spacemesh.v2beta1.SmeshingIdentitiesService/Proposals",
        api.json
    ))
    .await
    .json();

    let mut with_ref_ballot = 0;
    for seed in &d.seeds {
        let id = VrfSecretKey::from_seed(seed).public_key();
        let hex_id = hex::encode(id);
        let epoch = clock.epoch_of(first);
        let slots = expected_slots(&d, seed, epoch);
        // Published: one proposal per eligible layer, carrying that layer's slots.
        for layer in first..=last {
            if clock.epoch_of(layer) != epoch {
                continue;
            }
            let mine: Vec<_> = accepted
                .iter()
                .filter(|a| a.node_id == id && a.slot == MessageSlot::Proposal { layer })
                .collect();
            match slots.get(&layer) {
                Some(&n) => {
                    assert_eq!(mine.len(), 1, "one proposal of {hex_id} in layer {layer}");
                    assert_eq!(mine[0].count, n, "its eligibility proofs");
                    let p: codec::Proposal = codec::from_slice(&mine[0].bytes).unwrap();
                    if p.inner.ballot.inner.epoch_data.is_none() {
                        with_ref_ballot += 1;
                    }
                }
                None => assert!(mine.is_empty(), "{hex_id} has no slot in layer {layer}"),
            }
        }
        // Eligibilities: the epoch's (layer, count) pairs.
        let answered: BTreeMap<u32, u32> = eligibilities["identities"][&hex_id]["epochs"]
            [epoch.to_string()]["eligibilities"]
            .as_array()
            .unwrap_or_else(|| panic!("no eligibilities of {hex_id}: {eligibilities}"))
            .iter()
            .map(|e| {
                (
                    e["layer"].as_u64().unwrap() as u32,
                    e["count"].as_u64().unwrap() as u32,
                )
            })
            .collect();
        assert_eq!(answered, slots, "Eligibilities of {hex_id}");
        // Proposals: (layer, proposal ID) of everything published.
        let answered: BTreeSet<(u32, Vec<u8>)> = proposals["proposals"][&hex_id]["proposals"]
            .as_array()
            .unwrap_or_else(|| panic!("no proposals of {hex_id}: {proposals}"))
            .iter()
            .map(|p| {
                (
                    p["layer"].as_u64().unwrap() as u32,
                    base64::engine::general_purpose::STANDARD
                        .decode(p["proposal"].as_str().unwrap())
                        .unwrap(),
                )
            })
            .collect();
        let published: BTreeSet<(u32, Vec<u8>)> = accepted
            .iter()
            .filter(|a| a.node_id == id)
            .map(|a| {
                let p: codec::Proposal = codec::from_slice(&a.bytes).unwrap();
                (p.inner.ballot.inner.layer, p.id().0.to_vec())
            })
            .collect();
        assert!(!published.is_empty());
        assert_eq!(answered, published, "Proposals of {hex_id}");
        // States: one ELIGIBLE for the epoch, one PROPOSAL_PUBLISHED per proposal.
        let states = d
            .service
            .identity_states()
            .states(&smesher::api::store::StatesQuery {
                smeshers: vec![id.to_vec()],
                ..Default::default()
            });
        let eligible: Vec<_> = states
            .iter()
            .filter_map(|s| match &s.detail {
                StateDetail::Eligible { layers } => Some(layers.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            eligible,
            vec![slots.clone().into_iter().collect::<Vec<_>>()],
            "ELIGIBLE of {hex_id}"
        );
        let published_states: BTreeSet<(u32, Vec<u8>)> = states
            .iter()
            .filter_map(|s| match &s.detail {
                StateDetail::ProposalPublished { proposal, layer } => {
                    Some((*layer, proposal.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            published_states, published,
            "PROPOSAL_PUBLISHED of {hex_id}"
        );
        assert!(
            !states.iter().any(|s| matches!(
                s.detail,
                StateDetail::ProposalBuildFailed { .. } | StateDetail::ProposalPublishFailed { .. }
            )),
            "no failed proposal of {hex_id}"
        );
    }
    assert!(
        with_ref_ballot > 0,
        "later ballots of the epoch refer to the first one"
    );
    d.service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_to_all_sends_every_message_through_every_healthy_node() {
    let d = Duty::start(3, json!({ "publish-to-all": true })).await;
    // Until the first probes every node is unknown, and a message goes the fail-over way.
    d.wait_until("every node is healthy", || {
        d.service.gateway().healthy_count() == 3
    })
    .await;
    let all_healthy = std::time::SystemTime::now();
    let clock = d.network.clock().clone();
    let first = clock.current_layer() + 1;
    d.wait_for_layer(first + 3).await;
    let violations = d.network.violations();
    assert!(violations.is_empty(), "simnet flagged: {violations:#?}");
    // Blobs first seen well before this snapshot (a broadcast in flight may be half-way).
    let settled = std::time::SystemTime::now() - std::time::Duration::from_millis(500);
    let published = d.network.published();
    let mut first_seen: BTreeMap<Vec<u8>, std::time::SystemTime> = BTreeMap::new();
    for p in &published {
        first_seen.entry(p.bytes.to_vec()).or_insert(p.at);
    }
    let mut nodes_per_blob: BTreeMap<Vec<u8>, BTreeSet<usize>> = BTreeMap::new();
    for p in published.iter().filter(|p| {
        let first = first_seen[&p.bytes.to_vec()];
        p.protocol != "ax1" && first > all_healthy && first < settled
    }) {
        nodes_per_blob
            .entry(p.bytes.to_vec())
            .or_default()
            .insert(p.node);
    }
    assert!(nodes_per_blob.len() > 10, "messages were published");
    for (blob, nodes) in &nodes_per_blob {
        assert_eq!(
            nodes.len(),
            3,
            "a message of {} bytes reached nodes {nodes:?} only",
            blob.len()
        );
    }
    d.service.shutdown().await;
}

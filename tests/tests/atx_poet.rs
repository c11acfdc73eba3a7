//! The PoET client against simnet's fake PoET: info and the phase-shift and key checks, the
//! PoW search accepted by a real check, submit, proof fetch with the member tree checked, and
//! clear errors for every malformed or refused answer.

use std::time::{Duration, SystemTime};

use simnet::{ChainConfig, FakePoet, Network, PoetFault, PoetSettings};
use smesher::atx::membership;
use smesher::atx::poet::{Auth, PoetClient, PoetError, Submission};
use url::Url;

const PHASE_SHIFT: Duration = Duration::from_millis(500);
const CYCLE_GAP: Duration = Duration::from_millis(300);

async fn setup() -> (Network, FakePoet) {
    let net = Network::new(ChainConfig::new(Duration::from_millis(100), 10).starting_at_layer(25))
        .expect("chain");
    let poet = FakePoet::start(
        &net,
        PoetSettings {
            phase_shift: PHASE_SHIFT,
            cycle_gap: CYCLE_GAP,
            pow_difficulty: 10,
            leaves: 4242,
        },
        7,
    )
    .await
    .expect("poet");
    (net, poet)
}

fn client(poet: &FakePoet, key: Option<[u8; 32]>) -> PoetClient {
    PoetClient::new(
        Url::parse(&poet.url()).expect("url"),
        key,
        &gateway::TlsRoots::platform_and(None),
        Duration::from_secs(2),
    )
    .expect("client")
}

/// A signed, PoW-authorised submission of `challenge` by a fresh identity.
async fn submission(net: &Network, c: &PoetClient, challenge: [u8; 32]) -> Submission {
    let identity = signing::Identity::random("poet-test.key");
    let node = *identity.node_id().as_bytes();
    let mut prefix = net.genesis_id().to_vec();
    prefix.push(signing::Domain::POET.byte());
    let signer = signing::Signer::new(std::sync::Arc::new(identity), &net.genesis_id());
    let signature = signer.sign(signing::Domain::POET, &challenge).to_bytes();
    let params = c.pow_params().await.expect("pow params");
    assert_eq!(params.difficulty, 10);
    let nonce =
        smesher::atx::pow::find_nonce(&params.challenge, &node, &challenge, params.difficulty)
            .expect("nonce");
    Submission {
        prefix,
        challenge,
        node_id: node,
        signature,
        deadline: SystemTime::now() + Duration::from_secs(60),
        auth: Auth::Pow { nonce, params },
    }
}

#[tokio::test]
async fn info_is_checked_against_our_phase_shift_and_the_configured_key() {
    let (_net, poet) = setup().await;
    let info = client(&poet, Some(poet.pubkey()))
        .info(PHASE_SHIFT)
        .await
        .expect("info");
    assert_eq!(info.service_pubkey, poet.pubkey());
    assert_eq!((info.phase_shift, info.cycle_gap), (PHASE_SHIFT, CYCLE_GAP));
    assert!(info.certifier.is_none());

    let e = client(&poet, None)
        .info(Duration::from_secs(1))
        .await
        .expect_err("other phase shift");
    assert!(matches!(e, PoetError::PhaseShift { .. }), "{e}");
    assert!(e.to_string().contains("phase shift"), "{e}");

    let e = client(&poet, Some([1; 32]))
        .info(PHASE_SHIFT)
        .await
        .expect_err("other key");
    assert!(matches!(e, PoetError::WrongKey { .. }), "{e}");
}

#[tokio::test]
async fn submit_then_fetch_a_proof_whose_statement_is_the_member_root() {
    let (net, poet) = setup().await;
    let c = client(&poet, None);
    let ours = [0xab; 32];
    let other = [0xcd; 32];
    let first = c
        .submit(&submission(&net, &c, other).await)
        .await
        .expect("submit other");
    let reg = c
        .submit(&submission(&net, &c, ours).await)
        .await
        .expect("submit ours");
    assert_eq!(first.round_id, reg.round_id);
    // The open round ends within one epoch (1 s) plus a round.
    assert!(reg.round_end < Duration::from_secs(2));

    // Before the round ends the proof is "not ready", a transient error.
    let e = c.proof(&reg.round_id, &ours).await.expect_err("not ready");
    assert!(
        matches!(e, PoetError::NotReady { .. }) && e.is_transient(),
        "{e}"
    );

    tokio::time::sleep(reg.round_end + Duration::from_millis(50)).await;
    let proof = c.proof(&reg.round_id, &ours).await.expect("proof");
    assert_eq!(proof.leaves(), 4242);
    assert_eq!(proof.message.round_id, reg.round_id);
    assert_eq!(proof.message.poet_service_id, poet.pubkey().to_vec());
    let members = poet.members(reg.round_id.parse().expect("round number"));
    assert_eq!(members, vec![other, ours]);
    assert_eq!(Some(proof.message.statement.0), membership::root(&members));
    assert_eq!(proof.membership.leaf_index, 1);
    assert!(membership::verify(
        &ours,
        &proof.membership,
        &proof.message.statement.0
    ));

    // A challenge that is not among the members is refused with a clear error.
    let e = c
        .proof(&reg.round_id, &[0xee; 32])
        .await
        .expect_err("not a member");
    assert!(matches!(e, PoetError::NotMember { .. }), "{e}");
}

#[tokio::test]
async fn refused_and_malformed_answers_are_clear_errors() {
    let (net, poet) = setup().await;
    let c = client(&poet, None);

    // A bad signature: the PoET refuses (401), not a transient error.
    let mut s = submission(&net, &c, [1; 32]).await;
    s.signature[0] ^= 1;
    let e = c.submit(&s).await.expect_err("bad signature");
    assert!(
        matches!(e, PoetError::Status { status: 401, .. }) && !e.is_transient(),
        "{e}"
    );

    // A wrong PoW nonce is refused too.
    let mut s = submission(&net, &c, [2; 32]).await;
    if let Auth::Pow { nonce, .. } = &mut s.auth {
        *nonce = nonce.wrapping_add(1);
    }
    if let Ok(r) = c.submit(&s).await {
        // The next nonce may happen to solve the PoW as well; then it is rightly accepted.
        assert!(!r.round_id.is_empty());
    }

    poet.set_fault(PoetFault::Garbage);
    for e in [
        c.info(PHASE_SHIFT).await.expect_err("garbage info"),
        c.pow_params()
            .await
            .map(|_| ())
            .expect_err("garbage pow params"),
        c.proof("3", &[1; 32])
            .await
            .map(|_| ())
            .expect_err("garbage proof"),
    ] {
        assert!(matches!(e, PoetError::Malformed { .. }), "{e}");
        assert!(e.to_string().contains("malformed answer"), "{e}");
    }

    poet.set_fault(PoetFault::Down);
    let e = c.info(PHASE_SHIFT).await.expect_err("down");
    assert!(
        matches!(e, PoetError::Status { status: 503, .. }) && e.is_transient(),
        "{e}"
    );

    // Nothing listening: a transport error naming the PoET.
    drop(poet);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let e = c.info(PHASE_SHIFT).await.expect_err("gone");
    assert!(e.is_transient(), "{e}");
}

#[tokio::test]
async fn info_and_pow_params_are_cached_for_their_ttl() {
    let (_net, poet) = setup().await;
    let cached =
        client(&poet, None).with_cache_ttls(Duration::from_secs(60), Duration::from_secs(60));
    let uncached = client(&poet, None);
    cached.info(PHASE_SHIFT).await.expect("info");
    cached.pow_params().await.expect("pow params");
    uncached.info(PHASE_SHIFT).await.expect("info");
    poet.set_fault(PoetFault::Down);
    cached.info(PHASE_SHIFT).await.expect("cached info");
    cached.pow_params().await.expect("cached pow params");
    // The phase-shift check applies to a cached answer too.
    assert!(matches!(
        cached.info(Duration::from_secs(9)).await,
        Err(PoetError::PhaseShift { .. })
    ));
    assert!(uncached.info(PHASE_SHIFT).await.is_err());
}

#[tokio::test]
async fn a_certificate_from_the_advertised_certifier_authorises_a_submission() {
    let (net, poet) = setup().await;
    poet.enable_certifier();
    let c = client(&poet, None);
    let info = c.info(PHASE_SHIFT).await.expect("info");
    let certifier = info.certifier.expect("the PoET advertises a certifier");
    let identity = signing::Identity::random("cert-test.key");
    let node = *identity.node_id().as_bytes();
    let post = codec::PostV1 {
        nonce: 3,
        indices: vec![1, 2, 3],
        pow: 7,
    };
    let (data, cert_sig) = c
        .certify(&certifier, &post, &node, &[5; 32], 4)
        .await
        .expect("certificate");
    let challenge = [0x77; 32];
    let signer = signing::Signer::new(std::sync::Arc::new(identity), &net.genesis_id());
    let mut prefix = net.genesis_id().to_vec();
    prefix.push(signing::Domain::POET.byte());
    let submission = Submission {
        prefix,
        challenge,
        node_id: node,
        signature: signer.sign(signing::Domain::POET, &challenge).to_bytes(),
        deadline: SystemTime::now() + Duration::from_secs(60),
        auth: Auth::Certificate {
            data: data.clone(),
            signature: cert_sig.clone(),
        },
    };
    c.submit(&submission).await.expect("certified submit");
    assert_eq!(poet.certified_submits(), 1);

    // A certificate for another identity is refused.
    let mut forged = submission.clone();
    forged.auth = Auth::Certificate {
        data: {
            let mut d = data;
            d[1] ^= 1;
            d
        },
        signature: cert_sig,
    };
    let e = c.submit(&forged).await.expect_err("forged certificate");
    assert!(matches!(e, PoetError::Status { status: 401, .. }), "{e}");

    // A certifier answering with a key the PoET does not advertise is refused by the client.
    let other = smesher::atx::poet::CertifierInfo {
        url: certifier.url.clone(),
        pubkey: [9; 32],
    };
    let e = c
        .certify(&other, &post, &node, &[5; 32], 4)
        .await
        .expect_err("wrong certifier key");
    assert!(matches!(e, PoetError::Certifier { .. }), "{e}");
}

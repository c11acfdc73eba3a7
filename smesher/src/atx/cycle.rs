//! The per-identity NIPoST cycle and the regossip loop.
//!
//! [`AtxBuilder::cycle`] runs one cycle from whatever the database holds: a step whose result
//! is stored is skipped, so after a failure (reported as `RETRYING` with the reason) or a
//! restart the same function picks up at the first unfinished step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use codec::{
    from_slice, try_to_vec, ActivationTxV1, Address, AtxId, EdSignature, InnerActivationTxV1,
    NIPostChallengeV1, NIPostV1, NodeId, PoetProofMessage, PostMetadataV1, PostV1,
};
use rand::Rng as _;
use signing::{Domain, Guard, GuardError, Identity, Slot};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::poet::{self, Auth, PoetClient, PoetError, Submission};
use super::store::{AtxStore, PublishedAtx, Registration, StoreError, StoredPost};
use super::{AtxMetrics, AtxSettings, RoundTimes};
use crate::api::store::PoetRegistration;
use crate::api::{IdentityStates, StateDetail};
use crate::clock::LayerClock;
use crate::node::model::{MerkleProofBody, PoetProofBody, PublishAtxBody};
use crate::node::{NodeClient, NodeError};
use crate::post::{PostError, PostRegistry};

/// Why one pass of the cycle stopped short; the text is the `RETRYING` message.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("node-service: {0}")]
    Node(#[from] NodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing guard: {0}")]
    Guard(#[from] GuardError),
    #[error("post-service: {0}")]
    Post(#[from] PostError),
    #[error("no PoET registration: {0}")]
    NoRegistration(String),
    #[error("no PoET proof: {0}")]
    NoProof(String),
    #[error("challenge for publish epoch {0} expired: starting over")]
    Expired(u32),
    #[error("{0}")]
    Invalid(String),
    #[error("stopping")]
    Stopped,
}

/// The last state recorded for an identity: publish epoch and detail.
type LastState = (Option<u32>, StateDetail);

impl CycleError {
    /// A word for the retries metric.
    pub fn reason(&self) -> &'static str {
        match self {
            CycleError::Node(_) => "node_service",
            CycleError::Store(_) => "database",
            CycleError::Guard(_) => "guard",
            CycleError::Post(_) => "post_service",
            CycleError::NoRegistration(_) => "poet_registration",
            CycleError::NoProof(_) => "poet_proof",
            CycleError::Expired(_) => "expired",
            CycleError::Invalid(_) => "invalid",
            CycleError::Stopped => "stopped",
        }
    }
}

/// The ATX duty of all identities.
pub struct AtxBuilder {
    node: NodeClient,
    guard: Arc<Guard>,
    identities: Arc<Vec<Identity>>,
    clock: LayerClock,
    times: RoundTimes,
    states: IdentityStates,
    store: Arc<AtxStore>,
    poets: Vec<PoetClient>,
    post: PostRegistry,
    settings: AtxSettings,
    metrics: AtxMetrics,
    /// Last state recorded per identity, so a retried pass does not repeat it.
    last_state: Mutex<HashMap<[u8; 32], LastState>>,
}

impl std::fmt::Debug for AtxBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtxBuilder")
            .field("identities", &self.identities.len())
            .field(
                "poets",
                &self.poets.iter().map(|p| p.address()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The previous ATX a challenge builds on.
#[derive(Debug, Clone, Copy)]
struct Prev {
    id: [u8; 32],
    sequence: u64,
    publish_epoch: u32,
}

impl AtxBuilder {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        node: NodeClient,
        guard: Arc<Guard>,
        identities: Arc<Vec<Identity>>,
        clock: LayerClock,
        states: IdentityStates,
        store: Arc<AtxStore>,
        poets: Vec<PoetClient>,
        post: PostRegistry,
        settings: AtxSettings,
        metrics: AtxMetrics,
    ) -> Arc<AtxBuilder> {
        Arc::new(AtxBuilder {
            times: RoundTimes::new(clock.clone(), &settings),
            node,
            guard,
            identities,
            clock,
            states,
            store,
            poets,
            post,
            settings,
            metrics,
            last_state: Mutex::new(HashMap::new()),
        })
    }

    /// Runs every identity's cycle and the regossip loop until `stop` turns true.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let mut tasks = JoinSet::new();
        for index in 0..self.identities.len() {
            let me = self.clone();
            let stop = stop.clone();
            let span = tracing::info_span!("atx", node_id = %self.identities[index].hex());
            tasks.spawn(async move { me.run_identity(index, stop).await }.instrument(span));
        }
        if !self.settings.regossip_interval.is_zero() {
            let me = self.clone();
            let stop2 = stop.clone();
            tasks.spawn(async move { me.regossip(stop2).await });
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn run_identity(&self, index: usize, mut stop: watch::Receiver<bool>) {
        let node = *self.identities[index].node_id().as_bytes();
        loop {
            if *stop.borrow() {
                return;
            }
            // Every step's result is stored before the next starts, so dropping a pass at a stop
            // (a PoST request or a node call in flight) loses nothing.
            let mut pass_stop = stop.clone();
            let pass = tokio::select! {
                r = self.cycle(index, &mut pass_stop) => r,
                _ = stop.wait_for(|s| *s) => Err(CycleError::Stopped),
            };
            match pass {
                Ok(epoch) => tracing::info!(publish_epoch = epoch, "ATX cycle done"),
                Err(CycleError::Stopped) => return,
                Err(e) => {
                    tracing::warn!("ATX cycle: {e}");
                    self.metrics.retry(e.reason());
                    let epoch = self
                        .store
                        .challenge(&node)
                        .ok()
                        .flatten()
                        .map(|c| c.publish_epoch);
                    let detail = match e {
                        // Nodes answer 503 until they are in sync: wait for that, as go-spacemesh
                        // waits for its ATX sync.
                        CycleError::Node(NodeError::NotSynced(_)) => StateDetail::WaitForAtxSynced,
                        _ => StateDetail::Retrying {
                            message: e.to_string(),
                        },
                    };
                    self.emit(&node, epoch, detail);
                    let wait = self.settings.retry_delay.max(Duration::from_millis(50));
                    if sleep_or_stop(wait, &mut stop).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    fn emit(&self, node: &[u8; 32], epoch: Option<u32>, detail: StateDetail) {
        let mut last = self.last_state.lock().unwrap_or_else(|p| p.into_inner());
        let entry = (epoch, detail.clone());
        if last.get(node) == Some(&entry) {
            return;
        }
        last.insert(*node, entry);
        self.states
            .record_now(*node, epoch, SystemTime::now(), detail);
    }

    /// One cycle, from the first unfinished step to the published ATX. Returns the publish epoch.
    pub async fn cycle(
        &self,
        index: usize,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<u32, CycleError> {
        let identity = &self.identities[index];
        let node = *identity.node_id().as_bytes();

        // A stored challenge that can no longer make it is dropped.
        if let Some(c) = self.store.challenge(&node)? {
            let p = c.publish_epoch;
            let published = self.store.published(&node, p)?;
            let expired = SystemTime::now() >= self.times.epoch_start(p.saturating_add(1));
            let unregistered = self.store.registrations(&node)?.is_empty()
                && SystemTime::now() >= self.times.round_start(p);
            if published.as_ref().is_some_and(|a| a.broadcast) {
                self.store.finish_cycle(&node, p)?;
            } else if published.is_none() && (expired || unregistered) {
                self.store.reset_cycle(&node)?;
                return Err(CycleError::Expired(p));
            }
        }

        let challenge = match self.store.challenge(&node)? {
            Some(c) => c,
            None => self.new_challenge(identity, stop).await?,
        };
        let p = challenge.publish_epoch;

        // An ATX built but not yet accepted by a node: send the same bytes again.
        if let Some(atx) = self.store.published(&node, p)? {
            return self.publish(&node, p, atx, stop).await;
        }

        let registrations = self.register(identity, &challenge).await?;
        self.emit(
            &node,
            Some(p),
            StateDetail::PoetRegistered {
                registrations: registrations
                    .iter()
                    .map(|r| PoetRegistration {
                        challenge_hash: r.hash.to_vec(),
                        address: r.address.clone(),
                        round_id: r.round_id.clone(),
                        round_end: r.round_end,
                    })
                    .collect(),
            },
        );

        let (poet_url, message, membership) = match self.store.poet_proof(&node)? {
            Some(stored) => stored,
            None => {
                let round_end = registrations
                    .iter()
                    .map(|r| r.round_end)
                    .max()
                    .unwrap_or_else(|| self.times.round_end(p));
                self.emit(
                    &node,
                    Some(p),
                    StateDetail::WaitForPoetRoundEnd {
                        round_end,
                        publish_epoch_end: self.times.epoch_start(p.saturating_add(1)),
                    },
                );
                // go-spacemesh waits a jitter of 0.02–0.04 % of the cycle gap after the round end.
                let jitter = self
                    .settings
                    .cycle_gap
                    .mul_f64(rand::thread_rng().gen_range(0.0002..0.0004));
                sleep_until(round_end + jitter, stop).await?;
                let (url, fetched) = self
                    .fetch_proof(&node, &challenge, &registrations, stop)
                    .await?;
                self.store
                    .set_poet_proof(&node, &url, &fetched.message, &fetched.membership)?;
                (url, fetched.message, fetched.membership)
            }
        };
        self.emit(&node, Some(p), StateDetail::PoetProofReceived { poet_url });

        let nipost = match self.store.nipost(&node)? {
            Some(n) => n,
            None => {
                self.emit(&node, Some(p), StateDetail::GeneratingPostProof);
                let reference = message.reference().0;
                let post = self.prove(&node, reference).await?;
                self.store.set_nipost(&node, &post)?;
                post
            }
        };
        self.emit(&node, Some(p), StateDetail::PostProofReady);

        let atx = self.build(identity, &challenge, &message, &membership, &nipost)?;
        self.emit(&node, Some(p), StateDetail::AtxReady);
        self.publish(&node, p, atx, stop).await
    }

    /// The previous ATX: the node's answer or our own newer record, whichever is newer.
    async fn prev(&self, node: &[u8; 32]) -> Result<Option<Prev>, CycleError> {
        let from_node = match self.node.last_atx(node).await {
            Ok(a) => Some(Prev {
                id: a.id,
                sequence: a.sequence.unwrap_or(0),
                publish_epoch: a.publish_epoch,
            }),
            Err(NodeError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let own = match self.store.last_published(node)? {
            Some(p) => {
                let atx: ActivationTxV1 = from_slice(&p.atx).map_err(|e| {
                    CycleError::Invalid(format!(
                        "stored ATX of epoch {} does not decode: {e}",
                        p.publish_epoch
                    ))
                })?;
                Some(Prev {
                    id: p.atx_id,
                    sequence: atx.inner.challenge.sequence,
                    publish_epoch: p.publish_epoch,
                })
            }
            None => None,
        };
        Ok(match (from_node, own) {
            // Our own record knows the sequence exactly (a node may leave it out).
            (Some(n), Some(o)) if o.publish_epoch >= n.publish_epoch => Some(o),
            (Some(n), _) => Some(n),
            (None, o) => o,
        })
    }

    /// Steps 0 and 3: the initial PoST if there is no ATX yet, then the challenge, built once
    /// the registration window opens, and stored.
    async fn new_challenge(
        &self,
        identity: &Identity,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<NIPostChallengeV1, CycleError> {
        let node = *identity.node_id().as_bytes();
        let prev = self.prev(&node).await?;
        let initial = match prev {
            Some(_) => None,
            None => Some(self.initial_post(&node).await?),
        };
        let publish = self
            .times
            .next_publish_epoch(SystemTime::now(), prev.map(|p| p.publish_epoch));
        self.emit(
            &node,
            Some(publish),
            StateDetail::WaitingForPoetRegistrationWindow,
        );
        sleep_until(self.times.registration_opens(publish), stop).await?;

        let candidate = self.node.positioning_atx(publish - 1).await?;
        let challenge = match (prev, initial) {
            (Some(prev), _) => NIPostChallengeV1 {
                publish_epoch: publish,
                sequence: prev.sequence.saturating_add(1),
                prev_atx_id: AtxId(prev.id),
                positioning_atx_id: AtxId(if candidate == self.settings.golden_atx {
                    prev.id
                } else {
                    candidate
                }),
                commitment_atx_id: None,
                initial_post: None,
            },
            (None, Some(post)) => NIPostChallengeV1 {
                publish_epoch: publish,
                sequence: 0,
                prev_atx_id: AtxId::default(),
                positioning_atx_id: AtxId(candidate),
                commitment_atx_id: Some(AtxId(post.commitment_atx)),
                initial_post: Some(post.post),
            },
            (None, None) => {
                return Err(CycleError::Invalid(
                    "no previous ATX and no initial PoST".into(),
                ))
            }
        };
        self.store.set_challenge(&node, &challenge)?;
        self.emit(&node, Some(publish), StateDetail::PoetChallengeReady);
        Ok(challenge)
    }

    /// Step 0: the stored initial PoST, or a new one for the all-zero challenge.
    async fn initial_post(&self, node: &[u8; 32]) -> Result<StoredPost, CycleError> {
        if let Some(p) = self.store.initial_post(node)? {
            return Ok(p);
        }
        self.emit(node, None, StateDetail::GeneratingPostProof);
        let post = self.prove(node, [0u8; 32]).await?;
        self.store.set_initial_post(node, &post)?;
        self.emit(node, None, StateDetail::PostProofReady);
        Ok(post)
    }

    /// A PoST for `challenge` from the identity's connected post-service.
    async fn prove(&self, node: &[u8; 32], challenge: [u8; 32]) -> Result<StoredPost, CycleError> {
        let client = self
            .post
            .wait_for(node, self.settings.post_wait)
            .await
            .ok_or_else(|| PostError::NotConnected(hex::encode(node)))?;
        let started = std::time::Instant::now();
        let (proof, info) = client.prove(challenge).await?;
        self.metrics.proved(started.elapsed().as_secs_f64());
        if &info.node_id != node {
            return Err(CycleError::Invalid(format!(
                "post-service answered for identity {} instead of {}",
                hex::encode(info.node_id),
                hex::encode(node)
            )));
        }
        if proof.indices.len() > 800 {
            return Err(CycleError::Invalid(format!(
                "post-service proof has {} index bytes, at most 800",
                proof.indices.len()
            )));
        }
        let vrf_nonce = match info.nonce {
            Some(n) => n,
            None => match self.store.initial_post(node)? {
                Some(p) => p.vrf_nonce,
                None => {
                    return Err(CycleError::Invalid(
                        "post-service metadata has no VRF nonce".into(),
                    ))
                }
            },
        };
        Ok(StoredPost {
            post: PostV1 {
                nonce: proof.nonce,
                indices: proof.indices,
                pow: proof.pow,
            },
            commitment_atx: info.commitment_atx_id,
            num_units: info.num_units,
            vrf_nonce,
            labels_per_unit: info.labels_per_unit,
        })
    }

    /// Step 4: registers the challenge at every PoET not yet registered with. At least one
    /// registration is needed; a PoET that fails while another succeeded is left out.
    async fn register(
        &self,
        identity: &Identity,
        challenge: &NIPostChallengeV1,
    ) -> Result<Vec<Registration>, CycleError> {
        let node = *identity.node_id().as_bytes();
        let p = challenge.publish_epoch;
        let mut done = self.store.registrations(&node)?;
        let deadline = self.times.round_start(p);
        if !done.is_empty() || SystemTime::now() >= deadline {
            if done.is_empty() {
                self.store.reset_cycle(&node)?;
                return Err(CycleError::Expired(p));
            }
            return Ok(done);
        }
        let hash = challenge.poet_challenge_hash().0;
        let signed = self.guard.sign(
            identity,
            Slot::PoetRegistration { publish_epoch: p },
            Domain::POET,
            &hash,
        )?;
        let mut failures = Vec::new();
        for poet in &self.poets {
            match self
                .register_one(poet, &node, &hash, signed.signature.to_bytes(), p)
                .await
            {
                Ok(r) => {
                    let reg = Registration {
                        address: poet.address().to_string(),
                        hash,
                        round_id: r.round_id,
                        round_end: SystemTime::now() + r.round_end,
                    };
                    self.store.add_registration(&node, &reg)?;
                    done.push(reg);
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    failures.push(e);
                }
            }
        }
        if done.is_empty() {
            if self.poets.is_empty() {
                failures.push("no PoET server is configured (main.poet-servers)".into());
            }
            return Err(CycleError::NoRegistration(failures.join("; ")));
        }
        Ok(done)
    }

    async fn register_one(
        &self,
        poet: &PoetClient,
        node: &[u8; 32],
        hash: &[u8; 32],
        signature: [u8; 64],
        publish: u32,
    ) -> Result<poet::Registered, String> {
        let info = poet
            .info(self.settings.phase_shift)
            .await
            .map_err(|e| e.to_string())?;
        let mut prefix = self.guard.genesis_id().as_bytes().to_vec();
        prefix.push(Domain::POET.byte());
        let submission = |auth| Submission {
            prefix: prefix.clone(),
            challenge: *hash,
            node_id: *node,
            signature,
            deadline: self.times.submit_deadline(publish),
            auth,
        };
        let initial = self.store.initial_post(node).map_err(|e| e.to_string())?;
        match (&info.certifier, initial) {
            (Some(certifier), Some(post)) => {
                let key = certifier.pubkey;
                let cached = self
                    .store
                    .certificate(node, &key)
                    .map_err(|e| e.to_string())?;
                let fresh = cached.is_none();
                let (data, sig) = match cached {
                    Some(c) => c,
                    None => self.certify(poet, certifier, &post, node).await?,
                };
                let auth = Auth::Certificate {
                    data,
                    signature: sig,
                };
                match poet.submit(&submission(auth)).await {
                    // A refused cached certificate: certify again and resubmit once.
                    Err(PoetError::Status { status: 401, .. }) if !fresh => {
                        self.store
                            .delete_certificate(node, &key)
                            .map_err(|e| e.to_string())?;
                        let (data, sig) = self.certify(poet, certifier, &post, node).await?;
                        let auth = Auth::Certificate {
                            data,
                            signature: sig,
                        };
                        poet.submit(&submission(auth))
                            .await
                            .map_err(|e| e.to_string())
                    }
                    other => other.map_err(|e| e.to_string()),
                }
            }
            _ => {
                let params = poet.pow_params().await.map_err(|e| e.to_string())?;
                let (c, n, h, d) = (params.challenge.clone(), *node, *hash, params.difficulty);
                let nonce =
                    tokio::task::spawn_blocking(move || super::pow::find_nonce(&c, &n, &h, d))
                        .await
                        .ok()
                        .flatten()
                        .ok_or_else(|| {
                            format!("PoET {}: no nonce solves difficulty {d}", poet.address())
                        })?;
                poet.submit(&submission(Auth::Pow { nonce, params }))
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// A certificate for the initial PoST, cached in the database.
    async fn certify(
        &self,
        poet: &PoetClient,
        certifier: &poet::CertifierInfo,
        post: &StoredPost,
        node: &[u8; 32],
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let (data, sig) = poet
            .certify(
                certifier,
                &post.post,
                node,
                &post.commitment_atx,
                post.num_units,
            )
            .await
            .map_err(|e| e.to_string())?;
        self.store
            .set_certificate(node, &certifier.pubkey, &data, &sig)
            .map_err(|e| e.to_string())?;
        Ok((data, sig))
    }

    /// Step 5: proofs from every registration, with retries while not ready; the best one
    /// that contains our challenge.
    async fn fetch_proof(
        &self,
        node: &[u8; 32],
        challenge: &NIPostChallengeV1,
        registrations: &[Registration],
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(String, poet::FetchedProof), CycleError> {
        let hash = challenge.poet_challenge_hash().0;
        let p = challenge.publish_epoch;
        let mut found = Vec::new();
        let mut failures = Vec::new();
        for reg in registrations {
            let Some(client) = self
                .poets
                .iter()
                .find(|c| same_address(c.address(), &reg.address))
            else {
                failures.push(format!(
                    "registered PoET {} is no longer configured",
                    reg.address
                ));
                continue;
            };
            let mut tries = 0;
            loop {
                tries += 1;
                match client.proof(&reg.round_id, &hash).await {
                    Ok(proof) => {
                        found.push((reg.address.clone(), proof));
                        break;
                    }
                    Err(e) if e.is_transient() && tries < self.settings.retry_max.max(1) => {
                        tracing::debug!("{e}; trying again");
                        sleep_or_stop(self.settings.retry_delay, stop).await?;
                    }
                    Err(e) => {
                        failures.push(e.to_string());
                        break;
                    }
                }
            }
        }
        match poet::best(found) {
            Some(best) => Ok(best),
            None => {
                if SystemTime::now() >= self.times.epoch_start(p.saturating_add(1)) {
                    self.store.reset_cycle(node)?;
                    return Err(CycleError::Expired(p));
                }
                Err(CycleError::NoProof(failures.join("; ")))
            }
        }
    }

    /// Step 7: the ATX, signed through the guard, its bytes recorded with the guard and stored
    /// before anything is sent.
    fn build(
        &self,
        identity: &Identity,
        challenge: &NIPostChallengeV1,
        message: &PoetProofMessage,
        membership: &codec::MerkleProofV1,
        nipost: &StoredPost,
    ) -> Result<PublishedAtx, CycleError> {
        let node = *identity.node_id().as_bytes();
        let p = challenge.publish_epoch;
        let slot = Slot::Atx { publish_epoch: p };
        let initial = challenge.prev_atx_id == AtxId::default();
        let prev_nonce = self
            .store
            .last_published(&node)?
            .filter(|a| a.publish_epoch < p)
            .map(|a| a.vrf_nonce);
        let vrf_nonce =
            (initial || prev_nonce != Some(nipost.vrf_nonce)).then_some(nipost.vrf_nonce);
        let inner = InnerActivationTxV1 {
            challenge: challenge.clone(),
            coinbase: Address(self.settings.coinbase),
            num_units: nipost.num_units,
            nipost: Some(NIPostV1 {
                membership: membership.clone(),
                post: Some(nipost.post.clone()),
                post_metadata: Some(PostMetadataV1 {
                    challenge: message.reference().0.to_vec(),
                    labels_per_unit: nipost.labels_per_unit,
                }),
            }),
            node_id: initial.then_some(NodeId(node)),
            vrf_nonce,
        };
        let bytes = match self.guard.sign(identity, slot, Domain::ATX, &inner.signed_bytes()) {
            Ok(signed) => {
                let atx = ActivationTxV1 {
                    inner,
                    smesher_id: NodeId(node),
                    signature: EdSignature(signed.signature.to_bytes()),
                };
                try_to_vec(&atx).map_err(|e| CycleError::Invalid(format!("ATX does not encode: {e}")))?
            }
            // Something else was signed for this epoch before (e.g. before a lost database):
            // only the bytes recorded with it may be sent.
            Err(GuardError::Conflict { .. }) => match self.guard.signed(&identity.node_id(), slot)? {
                Some(rec) if rec.payload.is_some() => rec.payload.unwrap_or_default(),
                _ => {
                    return Err(CycleError::Invalid(format!(
                        "a different ATX was signed for epoch {p} and its bytes are unknown; not signing another"
                    )))
                }
            },
            Err(e) => return Err(e.into()),
        };
        self.guard
            .record_payload(&identity.node_id(), slot, &bytes)?;
        let atx: ActivationTxV1 = from_slice(&bytes)
            .map_err(|e| CycleError::Invalid(format!("recorded ATX does not decode: {e}")))?;
        let published = PublishedAtx {
            publish_epoch: p,
            atx_id: atx.id().0,
            vrf_nonce: nipost.vrf_nonce,
            atx: bytes,
            broadcast: false,
        };
        self.store.add_published(&node, &published)?;
        // A row stored earlier wins (INSERT OR IGNORE): return what is stored.
        Ok(self.store.published(&node, p)?.unwrap_or(published))
    }

    /// Step 8 and 9: publishes (from the first layer of the publish epoch on) until a node
    /// accepts, then marks the ATX broadcast and drops the cycle's rows.
    async fn publish(
        &self,
        node: &[u8; 32],
        p: u32,
        atx: PublishedAtx,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<u32, CycleError> {
        sleep_until(self.times.epoch_start(p), stop).await?;
        let poet_proof = self.store.poet_proof(node)?.map(|(_, m, _)| PoetProofBody {
            leafs: m.poet_proof.leaf_count,
            proof: MerkleProofBody {
                root: m.poet_proof.merkle_proof.root.clone(),
                proven_leaves: m.poet_proof.merkle_proof.proven_leaves.clone(),
                proof_nodes: m.poet_proof.merkle_proof.proof_nodes.clone(),
            },
            statement: m.statement.0,
            id: m.poet_service_id.clone(),
            round: m.round_id.clone(),
        });
        let body = PublishAtxBody {
            atx_blob: atx.atx.clone(),
            poet_proof,
        };
        if let Err(e) = self.node.publish_atx(&body).await {
            if SystemTime::now() >= self.times.epoch_start(p.saturating_add(1)) {
                tracing::error!(
                    publish_epoch = p,
                    "ATX not published before its epoch ended: {e}"
                );
                // It never reached the network: the next ATX must not build on it.
                self.store.reset_cycle(node)?;
            }
            return Err(e.into());
        }
        self.store.finish_cycle(node, p)?;
        self.metrics.published();
        self.emit(
            node,
            Some(p),
            StateDetail::AtxBroadcasted { atx_id: atx.atx_id },
        );
        Ok(p)
    }

    /// Publishes every identity's ATX of the current epoch again, every regossip interval.
    async fn regossip(&self, mut stop: watch::Receiver<bool>) {
        loop {
            if sleep_or_stop(self.settings.regossip_interval, &mut stop)
                .await
                .is_err()
            {
                return;
            }
            let epoch = self.clock.current_epoch();
            for identity in self.identities.iter() {
                let node = *identity.node_id().as_bytes();
                if let Ok(Some(atx)) = self.store.published(&node, epoch) {
                    if atx.broadcast {
                        if let Err(e) = self.node.publish("ax1", atx.atx.into()).await {
                            tracing::debug!(node_id = %identity.hex(), "regossip: {e}");
                        }
                    }
                }
            }
        }
    }
}

/// Sleeps until `at` (wall clock), or fails with `Stopped`.
async fn sleep_until(at: SystemTime, stop: &mut watch::Receiver<bool>) -> Result<(), CycleError> {
    let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
    sleep_or_stop(wait, stop).await
}

async fn sleep_or_stop(wait: Duration, stop: &mut watch::Receiver<bool>) -> Result<(), CycleError> {
    if *stop.borrow() {
        return Err(CycleError::Stopped);
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => Ok(()),
        _ = stop.wait_for(|s| *s) => Err(CycleError::Stopped),
    }
}

/// PoET addresses compare equal up to a trailing slash (`url` adds one to a bare host; a
/// migrated `local.sql` row may have none).
fn same_address(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_match_up_to_a_trailing_slash() {
        assert!(same_address(
            "https://poet-1.example/",
            "https://poet-1.example"
        ));
        assert!(same_address("http://127.0.0.1:80", "http://127.0.0.1:80"));
        assert!(!same_address(
            "https://poet-1.example",
            "https://poet-2.example"
        ));
    }

    #[test]
    fn retry_reasons_are_a_fixed_set_of_words() {
        let e = CycleError::Expired(3);
        assert_eq!(e.reason(), "expired");
        assert_eq!(
            e.to_string(),
            "challenge for publish epoch 3 expired: starting over"
        );
        let e = CycleError::Post(PostError::NotConnected("ab".into()));
        assert_eq!(e.reason(), "post_service");
        assert!(e.to_string().starts_with("post-service: "), "{e}");
    }
}

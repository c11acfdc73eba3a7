//! The PoST check simnet nodes run on every published ATX v1 once a network has PoST
//! parameters ([`crate::Network::verify_post`]): the NIPoST's PoST against its metadata's
//! challenge, and in an initial ATX the initial PoST (all-zero challenge) and the VRF nonce,
//! all with the `post` crate's verifier (RandomX light mode).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use codec::{ActivationTxV1, PostV1};
use post::{
    InitConfig, ProofConfig, ProofMetadata, RandomX, RandomXMode, ScryptParams, Verifier,
    VerifyMode,
};

/// The network's PoST parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostParams {
    pub labels_per_unit: u64,
    pub min_num_units: u32,
    pub max_num_units: u32,
    pub k1: u32,
    pub k2: u32,
    pub pow_difficulty: [u8; 32],
    pub scrypt_n: u64,
}

impl PostParams {
    /// Tiny data for tests: 1024 labels per unit, scrypt N = 16, an easy k2pow.
    pub fn tiny() -> PostParams {
        let mut pow_difficulty = [0xff; 32];
        pow_difficulty[0] = 0x3f;
        PostParams {
            labels_per_unit: 1024,
            min_num_units: 1,
            max_num_units: 16,
            k1: 20,
            k2: 24,
            pow_difficulty,
            scrypt_n: 16,
        }
    }

    pub fn scrypt(&self) -> ScryptParams {
        ScryptParams::new(self.scrypt_n, 1, 1).unwrap_or(ScryptParams::MAINNET)
    }

    pub fn proof_config(&self) -> ProofConfig {
        ProofConfig {
            k1: self.k1,
            k2: self.k2,
            pow_difficulty: self.pow_difficulty,
        }
    }

    pub fn init_config(&self) -> InitConfig {
        InitConfig {
            min_num_units: self.min_num_units,
            max_num_units: self.max_num_units,
            labels_per_unit: self.labels_per_unit,
            scrypt: self.scrypt(),
        }
    }
}

/// Verifies the PoSTs of ATXs; remembers each identity's commitment ATX from its initial ATX.
#[derive(Debug)]
pub struct PostChecker {
    params: PostParams,
    verifier: Verifier<Arc<RandomX>>,
    commitments: Mutex<HashMap<[u8; 32], [u8; 32]>>,
    verified: Mutex<u64>,
}

impl PostChecker {
    /// Builds the RandomX light-mode verifier (a 256 MiB cache; takes a moment).
    pub fn new(params: PostParams) -> Result<PostChecker, post::PowError> {
        Ok(PostChecker {
            params,
            verifier: Verifier::new(Arc::new(RandomX::new(RandomXMode::Light, 1)?)),
            commitments: Mutex::default(),
            verified: Mutex::new(0),
        })
    }

    pub fn params(&self) -> &PostParams {
        &self.params
    }

    /// PoSTs verified so far (an initial ATX counts two).
    pub fn verified(&self) -> u64 {
        *self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn verify(&self, what: &str, post: &PostV1, meta: ProofMetadata) -> Result<(), String> {
        let proof = post::Proof {
            nonce: post.nonce,
            indices: post.indices.clone(),
            pow: post.pow,
        };
        self.verifier
            .verify(
                &proof,
                &meta,
                &self.params.proof_config(),
                &self.params.init_config(),
                VerifyMode::All,
            )
            .map_err(|e| format!("{what} does not verify: {e}"))?;
        *self.verified.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Ok(())
    }

    /// Checks the PoSTs of one decoded ATX.
    pub fn check(&self, atx: &ActivationTxV1) -> Result<(), String> {
        let smesher = atx.smesher_id.0;
        let c = &atx.inner.challenge;
        let num_units = atx.inner.num_units;
        let commitment = match c.commitment_atx_id {
            Some(id) => id.0,
            None => self
                .commitments
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&smesher)
                .copied()
                .ok_or("no commitment ATX known for this identity (no initial ATX seen)")?,
        };
        if let Some(initial) = &c.initial_post {
            self.verify(
                "initial PoST",
                initial,
                ProofMetadata {
                    node_id: smesher,
                    commitment_atx_id: commitment,
                    challenge: [0; 32],
                    num_units,
                },
            )?;
            let nonce = atx.inner.vrf_nonce.ok_or("initial ATX without VRF nonce")?;
            let total = self.params.labels_per_unit * u64::from(num_units);
            let commit = post::commitment(&smesher, &commitment);
            if !post::vrf_nonce_is_valid(&commit, self.params.scrypt(), nonce, total) {
                return Err(format!("VRF nonce {nonce} is not valid for the data"));
            }
        }
        let nipost = atx.inner.nipost.as_ref().ok_or("no NIPoST")?;
        let meta = nipost.post_metadata.as_ref().ok_or("no PoST metadata")?;
        if meta.labels_per_unit != self.params.labels_per_unit {
            return Err(format!(
                "PoST metadata says {} labels per unit, the network has {}",
                meta.labels_per_unit, self.params.labels_per_unit
            ));
        }
        let challenge: [u8; 32] = meta
            .challenge
            .clone()
            .try_into()
            .map_err(|_| "PoST challenge is not 32 bytes".to_string())?;
        let post = nipost.post.as_ref().ok_or("no PoST")?;
        self.verify(
            "NIPoST PoST",
            post,
            ProofMetadata {
                node_id: smesher,
                commitment_atx_id: commitment,
                challenge,
                num_units,
            },
        )?;
        if c.commitment_atx_id.is_some() {
            self.commitments
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(smesher, commitment);
        }
        Ok(())
    }
}

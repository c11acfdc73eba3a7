//! The typed node-service client: one function per G3 route (PROTOCOL.md §1.2.2), over the
//! fail-over gateway.
//!
//! Each call hands the gateway a check that parses the body, so a node that answers garbage is a
//! failed try of that node and the call moves on to the next one; the caller only ever sees a
//! well-formed answer, `NotFound`, `NotSynced` (every node said 503), `Rejected` (the node refused
//! the request itself, e.g. 400) or `Failed` (no node could answer).

pub mod model;
pub mod probe;

use std::sync::Arc;

use bytes::Bytes;
use gateway::{FailoverReason, FailureReason, Gateway, GatewayError, TryError};
use http::{Method, Request, Response, StatusCode};
use serde::de::DeserializeOwned;

pub use model::{
    ActivationTx, EligibilitySlots, HareRoundTemplate, PartialProposal, PoetProofBody,
    PublishAtxBody,
};
pub use probe::NodeProbe;

/// What a node-service call can end in, besides an answer.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node has no such object (404 on the ATX routes).
    #[error("not found")]
    NotFound,
    /// Every node answered 503: none is in sync with the network.
    #[error("no node-service is in sync: {0}")]
    NotSynced(GatewayError),
    /// A node understood the request and refused it (4xx); another node would say the same.
    #[error("node-service refused the request: HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// No node could answer.
    #[error(transparent)]
    Failed(GatewayError),
    /// An answer passed the gateway's check but not the typed reading (a bug, never garbage).
    #[error("invalid node-service answer: {0}")]
    Invalid(String),
}

impl From<GatewayError> for NodeError {
    fn from(e: GatewayError) -> Self {
        if all_unsynced(&e) {
            NodeError::NotSynced(e)
        } else {
            NodeError::Failed(e)
        }
    }
}

/// True when every node was skipped as unsynced or answered 503 (PROTOCOL.md §1.2.5).
fn all_unsynced(e: &GatewayError) -> bool {
    match e {
        GatewayError::AllFailed { failures, .. } => {
            !failures.is_empty()
                && failures.iter().all(|f| match &f.reason {
                    FailureReason::Unsynced { .. } => true,
                    FailureReason::Failed(TryError::Status { status, .. }) => {
                        *status == StatusCode::SERVICE_UNAVAILABLE
                    }
                    // Given up on while waiting because its probes found it unsynced.
                    FailureReason::Failed(TryError::Abandoned(FailoverReason::Unsynced)) => true,
                    _ => false,
                })
        }
        _ => false,
    }
}

/// The node-service API of the full nodes behind the gateway.
#[derive(Clone, Debug)]
pub struct NodeClient {
    gateway: Gateway,
}

fn hex32(id: &[u8; 32]) -> String {
    hex::encode(id)
}

impl NodeClient {
    pub fn new(gateway: Gateway) -> Self {
        Self { gateway }
    }

    /// The gateway underneath (status, reload).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// `GET /activation/atx/{atx_id}`.
    pub async fn atx(&self, id: &[u8; 32]) -> Result<ActivationTx, NodeError> {
        self.get_json(format!("/activation/atx/{}", hex32(id)), true)
            .await?
            .ok_or(NodeError::NotFound)
    }

    /// `GET /activation/last_atx/{node_id}`.
    pub async fn last_atx(&self, node_id: &[u8; 32]) -> Result<ActivationTx, NodeError> {
        self.get_json(format!("/activation/last_atx/{}", hex32(node_id)), true)
            .await?
            .ok_or(NodeError::NotFound)
    }

    /// `GET /activation/positioning_atx/{publish_epoch}`: the ATX ID to position on.
    pub async fn positioning_atx(&self, publish_epoch: u32) -> Result<[u8; 32], NodeError> {
        let body: Option<model::AtxIdBody> = self
            .get_json(
                format!("/activation/positioning_atx/{publish_epoch}"),
                false,
            )
            .await?;
        Ok(body.ok_or(NodeError::NotFound)?.id)
    }

    /// `POST /activation/publish` with the ATX blob and, optionally, its PoET proof.
    pub async fn publish_atx(&self, body: &PublishAtxBody) -> Result<(), NodeError> {
        let json = serde_json::to_vec(body).map_err(|e| NodeError::Invalid(e.to_string()))?;
        let req = Request::builder()
            .method(Method::POST)
            .uri("/activation/publish")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(json))
            .expect("static request parts are valid");
        self.expect_ok(req).await
    }

    /// `POST /publish/{protocol}`: gossip a scale-encoded message (`pp1`, `bc1`, `hare3`, `ax1`).
    pub async fn publish(&self, protocol: &str, blob: Bytes) -> Result<(), NodeError> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/publish/{protocol}"))
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .body(blob)
            .map_err(|e| NodeError::Rejected {
                status: 0,
                message: format!("bad protocol name {protocol:?}: {e}"),
            })?;
        self.expect_ok(req).await
    }

    /// `GET /beacon/{epoch}`.
    pub async fn beacon(&self, epoch: u32) -> Result<[u8; 4], NodeError> {
        let body: Option<model::BeaconBody> =
            self.get_json(format!("/beacon/{epoch}"), false).await?;
        Ok(body.ok_or(NodeError::NotFound)?.beacon)
    }

    /// `GET /blockids/{layer}`: `None` while the hare has not produced a block.
    pub async fn block_id(&self, layer: u32) -> Result<Option<[u8; 20]>, NodeError> {
        let check = Arc::new(|resp: &Response<Bytes>| -> Result<(), String> {
            if resp.status() == StatusCode::OK {
                let body: model::BlockIdBody =
                    model::parse(resp.body()).map_err(|e| e.to_string())?;
                if body.block_id.len() < 20 {
                    return Err(format!(
                        "block ID has {} bytes, expected at least 20",
                        body.block_id.len()
                    ));
                }
            }
            Ok(())
        });
        let resp = self.call(get(format!("/blockids/{layer}")), check).await?;
        match resp.status() {
            StatusCode::OK => {
                let body: model::BlockIdBody = parse_checked(resp.body())?;
                let mut id = [0; 20];
                id.copy_from_slice(&body.block_id[..20]);
                Ok(Some(id))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(rejected(&resp)),
        }
    }

    /// `GET /eligibility/slots/{node}/{epoch}`.
    pub async fn eligibility_slots(
        &self,
        node_id: &[u8; 32],
        epoch: u32,
    ) -> Result<EligibilitySlots, NodeError> {
        self.get_json(
            format!("/eligibility/slots/{}/{epoch}", hex32(node_id)),
            false,
        )
        .await?
        .ok_or(NodeError::NotFound)
    }

    /// `GET /hare/round_template/{layer}/{iter}/{round}`: `None` when the node has no output.
    pub async fn hare_round_template(
        &self,
        layer: u32,
        iter: u8,
        round: u8,
    ) -> Result<Option<HareRoundTemplate>, NodeError> {
        self.get_json_or_no_content(format!("/hare/round_template/{layer}/{iter}/{round}"))
            .await
    }

    /// `GET /proposal/{layer}/{node}`: `None` when the identity has no proposal this layer.
    pub async fn proposal(
        &self,
        layer: u32,
        node_id: &[u8; 32],
    ) -> Result<Option<PartialProposal>, NodeError> {
        self.get_json_or_no_content(format!("/proposal/{layer}/{}", hex32(node_id)))
            .await
    }

    /// `GET /weights/miner/{node_id}/{epoch}` (0 when the identity is not active).
    pub async fn miner_weight(&self, node_id: &[u8; 32], epoch: u32) -> Result<u64, NodeError> {
        let body: Option<model::WeightBody> = self
            .get_json(format!("/weights/miner/{}/{epoch}", hex32(node_id)), false)
            .await?;
        Ok(body.ok_or(NodeError::NotFound)?.weight)
    }

    /// `GET /weights/total/{epoch}`.
    pub async fn total_weight(&self, epoch: u32) -> Result<u64, NodeError> {
        let body: Option<model::WeightBody> = self
            .get_json(format!("/weights/total/{epoch}"), false)
            .await?;
        Ok(body.ok_or(NodeError::NotFound)?.weight)
    }

    async fn call(
        &self,
        req: Request<Bytes>,
        check: gateway::ResponseCheck,
    ) -> Result<Response<Bytes>, NodeError> {
        Ok(self.gateway.call(req, Some(check)).await?)
    }

    /// A JSON GET; with `not_found_is_none`, 404 is `Ok(None)`, else it is an error.
    async fn get_json<T: DeserializeOwned>(
        &self,
        path: String,
        not_found_is_none: bool,
    ) -> Result<Option<T>, NodeError> {
        let resp = self.call(get(path), json_check::<T>()).await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(parse_checked(resp.body())?)),
            StatusCode::NOT_FOUND if not_found_is_none => Ok(None),
            _ => Err(rejected(&resp)),
        }
    }

    /// A JSON GET where 204 means "nothing for you".
    async fn get_json_or_no_content<T: DeserializeOwned>(
        &self,
        path: String,
    ) -> Result<Option<T>, NodeError> {
        let resp = self.call(get(path), json_check::<T>()).await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(parse_checked(resp.body())?)),
            StatusCode::NO_CONTENT => Ok(None),
            _ => Err(rejected(&resp)),
        }
    }

    async fn expect_ok(&self, req: Request<Bytes>) -> Result<(), NodeError> {
        let resp = self
            .call(req, Arc::new(|_: &Response<Bytes>| Ok(())))
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(rejected(&resp))
        }
    }
}

fn get(path: String) -> Request<Bytes> {
    Request::get(path)
        .body(Bytes::new())
        .expect("paths built from numbers and hex are valid URIs")
}

/// The check the gateway runs on every try: a 200 must carry a well-formed `T`.
fn json_check<T: DeserializeOwned>() -> gateway::ResponseCheck {
    Arc::new(|resp: &Response<Bytes>| {
        if resp.status() == StatusCode::OK {
            model::parse::<T>(resp.body())
                .map(drop)
                .map_err(|e| e.to_string())
        } else {
            Ok(())
        }
    })
}

/// Parses a body that the gateway's check already accepted.
fn parse_checked<T: DeserializeOwned>(body: &[u8]) -> Result<T, NodeError> {
    model::parse(body).map_err(|e| NodeError::Invalid(e.to_string()))
}

fn rejected(resp: &Response<Bytes>) -> NodeError {
    let text = String::from_utf8_lossy(&resp.body()[..resp.body().len().min(512)]);
    NodeError::Rejected {
        status: resp.status().as_u16(),
        message: text.trim().to_owned(),
    }
}

//! The services the smesher answers itself: `SmeshingIdentitiesService` (from the identity-state
//! store) and `SmeshingService` (this build), as tonic services; the JSON listener calls the
//! same methods.
// `tonic::Status` is large, but it is the error tonic's service traits return; boxing it
// here would only mean unboxing it again at every call site.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use proto::spacemesh::v2beta1 as v2;
use tonic::{Request, Response, Status};

use super::json;
use super::store::{IdentityStates, Order, StateDetail, StateRecord, StatesQuery};

/// What `PoetInfo` reports: the configured PoET servers and round timing.
#[derive(Debug, Clone, Default)]
pub struct PoetSettings {
    pub servers: Vec<String>,
    pub phase_shift: Duration,
    pub cycle_gap: Duration,
}

/// What `SmeshingService` reports about this build.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: String,
    /// Git commit of the build, when the build recorded it.
    pub build: String,
}

impl Default for BuildInfo {
    fn default() -> Self {
        BuildInfo {
            version: format!("v{}", env!("CARGO_PKG_VERSION")),
            build: option_env!("SMESHER_GIT_COMMIT").unwrap_or("").to_owned(),
        }
    }
}

/// Both local services over one store.
#[derive(Debug, Clone)]
pub struct LocalServices {
    store: IdentityStates,
    poet: PoetSettings,
    build: BuildInfo,
}

impl LocalServices {
    pub fn new(store: IdentityStates, poet: PoetSettings, build: BuildInfo) -> Self {
        LocalServices { store, poet, build }
    }

    pub fn store(&self) -> &IdentityStates {
        &self.store
    }

    pub fn states(
        &self,
        req: v2::IdentityStatesRequest,
    ) -> Result<v2::IdentityStatesResponse, Status> {
        let time = |t: &Option<prost_types::Timestamp>, name: &str| {
            t.as_ref()
                .map(|t| {
                    json::system_time(t).ok_or_else(|| {
                        Status::invalid_argument(format!("{name}: timestamp out of range"))
                    })
                })
                .transpose()
        };
        let order = match v2::SortOrder::try_from(req.order) {
            Ok(v2::SortOrder::Asc) => Order::Ascending,
            Ok(v2::SortOrder::Desc) => Order::Descending,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "order: unknown SortOrder {}",
                    req.order
                )))
            }
        };
        if let Some(bad) = req
            .states
            .iter()
            .find(|s| v2::IdentityState::try_from(**s).is_err())
        {
            return Err(Status::invalid_argument(format!(
                "states: unknown IdentityState {bad}"
            )));
        }
        let query = StatesQuery {
            states: req.states,
            smeshers: req.smeshers,
            from: time(&req.from, "from")?,
            to: time(&req.to, "to")?,
            limit: usize::try_from(req.limit).unwrap_or(usize::MAX),
            order,
        };
        Ok(v2::IdentityStatesResponse {
            states: self
                .store
                .states(&query)
                .into_iter()
                .map(state_info)
                .collect(),
        })
    }

    pub fn poet_info(&self) -> v2::PoetInfoResponse {
        v2::PoetInfoResponse {
            poets: self.poet.servers.clone(),
            config: Some(v2::PoetConfig {
                phase_shift: Some(json::duration(self.poet.phase_shift)),
                cycle_gap: Some(json::duration(self.poet.cycle_gap)),
            }),
        }
    }

    pub fn eligibilities(&self) -> v2::EligibilitiesResponse {
        v2::EligibilitiesResponse {
            identities: self
                .store
                .eligibilities()
                .into_iter()
                .map(|(id, epochs)| {
                    let epochs = epochs
                        .into_iter()
                        .map(|(epoch, layers)| {
                            let eligibilities = layers
                                .into_iter()
                                .map(|(layer, count)| v2::ProposalEligibility { layer, count })
                                .collect();
                            (epoch, v2::Eligibilities { eligibilities })
                        })
                        .collect();
                    (hex::encode(id), v2::EpochEligibilities { epochs })
                })
                .collect(),
        }
    }

    pub fn proposals(&self) -> v2::ProposalsResponse {
        v2::ProposalsResponse {
            proposals: self
                .store
                .proposals()
                .into_iter()
                .map(|(id, list)| {
                    let proposals = list
                        .into_iter()
                        .map(|(layer, proposal)| v2::Proposal { layer, proposal })
                        .collect();
                    (hex::encode(id), v2::Proposals { proposals })
                })
                .collect(),
        }
    }

    pub fn version(&self) -> v2::SmeshingVersionResponse {
        v2::SmeshingVersionResponse {
            version: self.build.version.clone(),
        }
    }

    pub fn build(&self) -> v2::SmeshingBuildResponse {
        v2::SmeshingBuildResponse {
            build: self.build.build.clone(),
        }
    }
}

/// A stored state as the API message.
pub fn state_info(r: StateRecord) -> v2::IdentityStateInfo {
    use v2::identity_state_info::Metadata as M;
    let ts = json::timestamp;
    let metadata = match r.detail.clone() {
        StateDetail::WaitForAtxSynced => M::WaitForAtxSynced(v2::WaitForAtxSyncedState {}),
        StateDetail::Retrying { message } => M::Retrying(v2::RetryingState { message }),
        StateDetail::WaitingForPoetRegistrationWindow => {
            M::WaitingForPoetRegistrationWindow(v2::WaitingForPoetRegistrationWindowState {})
        }
        StateDetail::PoetChallengeReady => M::PoetChallengeReady(v2::PoetChallengeReadyState {}),
        StateDetail::PoetRegistered { registrations } => {
            M::PoetRegistered(v2::PoetRegisteredState {
                registrations: registrations
                    .into_iter()
                    .map(|p| v2::PoEtRegistration {
                        challenge_hash: p.challenge_hash,
                        address: p.address,
                        round_id: p.round_id,
                        round_end: Some(ts(p.round_end)),
                    })
                    .collect(),
            })
        }
        StateDetail::WaitForPoetRoundEnd {
            round_end,
            publish_epoch_end,
        } => M::WaitForPoetRoundEnd(v2::WaitForPoetRoundEndState {
            round_end: Some(ts(round_end)),
            publish_epoch_end: Some(ts(publish_epoch_end)),
        }),
        StateDetail::PoetProofReceived { poet_url } => {
            M::PoetProofReceived(v2::PoetProofReceivedState { poet_url })
        }
        StateDetail::GeneratingPostProof => M::GeneratingPostProof(v2::GeneratingPostProofState {}),
        StateDetail::PostProofReady => M::PostProofReady(v2::PostProofReadyState {}),
        StateDetail::AtxReady => M::AtxReady(v2::AtxReadyState {}),
        StateDetail::AtxBroadcasted { atx_id } => M::AtxBroadcasted(v2::AtxBroadcastedState {
            atx_id: atx_id.to_vec(),
        }),
        StateDetail::ProposalBuildFailed { message, layer } => {
            M::ProposalBuildFailed(v2::ProposalBuildFailedState { message, layer })
        }
        StateDetail::ProposalPublishFailed {
            message,
            proposal,
            layer,
        } => M::ProposalPublishFailed(v2::ProposalPublishFailedState {
            message,
            proposal,
            layer,
        }),
        StateDetail::ProposalPublished { proposal, layer } => {
            M::ProposalPublished(v2::ProposalPublishedState { proposal, layer })
        }
        StateDetail::Eligible { layers } => M::Eligible(v2::Eligible {
            layers: layers
                .into_iter()
                .map(|(layer, count)| v2::Eligibility { layer, count })
                .collect(),
        }),
    };
    v2::IdentityStateInfo {
        smesher: r.smesher.to_vec(),
        state: r.detail.state_number(),
        publish_epoch: r.publish_epoch,
        time: Some(ts(r.time)),
        metadata: Some(metadata),
    }
}

#[tonic::async_trait]
impl v2::smeshing_identities_service_server::SmeshingIdentitiesService for LocalServices {
    async fn states(
        &self,
        request: Request<v2::IdentityStatesRequest>,
    ) -> Result<Response<v2::IdentityStatesResponse>, Status> {
        LocalServices::states(self, request.into_inner()).map(Response::new)
    }

    async fn poet_info(
        &self,
        _: Request<v2::PoetInfoRequest>,
    ) -> Result<Response<v2::PoetInfoResponse>, Status> {
        Ok(Response::new(LocalServices::poet_info(self)))
    }

    async fn eligibilities(
        &self,
        _: Request<v2::EligibilitiesRequest>,
    ) -> Result<Response<v2::EligibilitiesResponse>, Status> {
        Ok(Response::new(LocalServices::eligibilities(self)))
    }

    async fn proposals(
        &self,
        _: Request<v2::ProposalsRequest>,
    ) -> Result<Response<v2::ProposalsResponse>, Status> {
        Ok(Response::new(LocalServices::proposals(self)))
    }
}

#[tonic::async_trait]
impl v2::smeshing_service_server::SmeshingService for LocalServices {
    async fn version(
        &self,
        _: Request<v2::SmeshingVersionRequest>,
    ) -> Result<Response<v2::SmeshingVersionResponse>, Status> {
        Ok(Response::new(LocalServices::version(self)))
    }

    async fn build(
        &self,
        _: Request<v2::SmeshingBuildRequest>,
    ) -> Result<Response<v2::SmeshingBuildResponse>, Status> {
        Ok(Response::new(LocalServices::build(self)))
    }
}

/// A JSON call to a local method: the request message's full name and how to answer it.
pub(crate) fn json_call(
    services: &LocalServices,
    method: &str,
    query: Option<&str>,
    body: Option<&[u8]>,
) -> Option<Result<String, Status>> {
    fn decode<M: prost::Message + Default>(
        name: &str,
        query: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<M, Status> {
        let full = format!("spacemesh.v2beta1.{name}");
        match body {
            Some(b) => json::from_body(b, &full),
            None => json::from_query(query, &full),
        }
    }
    fn encode<M: prost::Message>(m: &M, name: &str) -> Result<String, Status> {
        json::to_json(m, &format!("spacemesh.v2beta1.{name}"))
    }
    Some(match method {
        "SmeshingIdentitiesService/States" => {
            decode::<v2::IdentityStatesRequest>("IdentityStatesRequest", query, body)
                .and_then(|r| services.states(r))
                .and_then(|r| encode(&r, "IdentityStatesResponse"))
        }
        "SmeshingIdentitiesService/PoetInfo" => {
            decode::<v2::PoetInfoRequest>("PoetInfoRequest", query, body)
                .and_then(|_| encode(&services.poet_info(), "PoetInfoResponse"))
        }
        "SmeshingIdentitiesService/Eligibilities" => {
            decode::<v2::EligibilitiesRequest>("EligibilitiesRequest", query, body)
                .and_then(|_| encode(&services.eligibilities(), "EligibilitiesResponse"))
        }
        "SmeshingIdentitiesService/Proposals" => {
            decode::<v2::ProposalsRequest>("ProposalsRequest", query, body)
                .and_then(|_| encode(&services.proposals(), "ProposalsResponse"))
        }
        "SmeshingService/Version" => {
            decode::<v2::SmeshingVersionRequest>("SmeshingVersionRequest", query, body)
                .and_then(|_| encode(&services.version(), "SmeshingVersionResponse"))
        }
        "SmeshingService/Build" => {
            decode::<v2::SmeshingBuildRequest>("SmeshingBuildRequest", query, body)
                .and_then(|_| encode(&services.build(), "SmeshingBuildResponse"))
        }
        _ => return None,
    })
}

//! The `grpc-public-listener` and `grpc-private-listener`: gRPC over HTTP/2. The local services
//! run as tonic services; every other call is relayed, streams included.

use bytes::Bytes;
use gateway::{RelayBody, RelayError};
use http::header::{self, HeaderValue};
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use proto::spacemesh::v2beta1 as v2;
use tonic::service::Routes;
use tonic::Code;
use tower::ServiceExt;

use super::local::LocalServices;
use super::Shared;

/// The v2alpha1 path the docs cite, served with the v2beta1 messages.
const V2ALPHA1_STATES: &str = "/spacemesh.v2alpha1.SmeshingIdentitiesService/States";
const V2BETA1_STATES: &str = "/spacemesh.v2beta1.SmeshingIdentitiesService/States";

/// The tonic router of the local services, with the configured message size limits.
pub(crate) fn local_routes(local: &LocalServices, send: usize, recv: usize) -> Routes {
    let identities =
        v2::smeshing_identities_service_server::SmeshingIdentitiesServiceServer::new(local.clone())
            .max_decoding_message_size(recv)
            .max_encoding_message_size(send);
    let smeshing = v2::smeshing_service_server::SmeshingServiceServer::new(local.clone())
        .max_decoding_message_size(recv)
        .max_encoding_message_size(send);
    Routes::new(identities).add_service(smeshing)
}

fn is_local(path: &str) -> bool {
    path.starts_with("/spacemesh.v2beta1.SmeshingIdentitiesService/")
        || path.starts_with("/spacemesh.v2beta1.SmeshingService/")
}

/// Answers one gRPC call.
pub(crate) async fn handle<B>(shared: &Shared, mut request: Request<B>) -> Response<RelayBody>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<gateway::BoxError>,
{
    if request.uri().path() == V2ALPHA1_STATES {
        *request.uri_mut() = Uri::from_static(V2BETA1_STATES);
    }
    let path = request.uri().path().to_owned();
    if is_local(&path) {
        return match shared.routes.clone().oneshot(request).await {
            Ok(r) => r.map(|b| b.map_err(gateway::BoxError::from).boxed_unsync()),
            Err(never) => match never {},
        };
    }
    let Some(relay) = &shared.grpc_relay else {
        return status(
            Code::Unavailable,
            &format!(
                "{path} is relayed to the full nodes, but no proxy-api-v2-address is configured"
            ),
        );
    };
    // Only transaction submission has an effect that must not happen twice.
    let replay_safe = !path.ends_with("/SubmitTransaction");
    match relay.forward(request, replay_safe).await {
        Ok(r) => r,
        Err(e @ RelayError::RequestTooLarge { .. }) => {
            status(Code::ResourceExhausted, &e.to_string())
        }
        Err(e @ (RelayError::RequestBody(_) | RelayError::InvalidRequest(_))) => {
            status(Code::InvalidArgument, &e.to_string())
        }
        Err(e) => status(Code::Unavailable, &e.to_string()),
    }
}

/// A trailers-only gRPC answer with `code` and `message`.
pub(crate) fn status(code: Code, message: &str) -> Response<RelayBody> {
    let mut r = Response::new(
        http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(code as i32));
    h.insert("grpc-message", gateway::grpc_message(message));
    r
}

//! The `grpc-json-listener`: grpc-gateway style JSON over HTTP/1.1. Local methods are answered
//! here; every other `/spacemesh.v2alpha1.*` and `/spacemesh.v2beta1.*` call is relayed.

use bytes::Bytes;
use gateway::{RelayBody, RelayError};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use tonic::Code;

use super::cors::Verdict;
use super::json::{error_body, http_status};
use super::local::json_call;
use super::Shared;

/// Answers one JSON request.
pub(crate) async fn handle<B>(shared: &Shared, request: Request<B>) -> Response<RelayBody>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<gateway::BoxError>,
{
    let verdict = shared.cors.check(request.headers());
    if let Verdict::Refused(why) = &verdict {
        return error(Code::PermissionDenied, why);
    }
    let mut response = if request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        shared
            .cors
            .preflight(request.headers(), &verdict, r.headers_mut());
        return r;
    } else {
        route(shared, request).await
    };
    shared.cors.decorate(response.headers_mut(), &verdict);
    response
}

async fn route<B>(shared: &Shared, request: Request<B>) -> Response<RelayBody>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<gateway::BoxError>,
{
    let path = request.uri().path();
    let local_method = path
        .strip_prefix("/spacemesh.v2beta1.")
        .filter(|m| {
            m.starts_with("SmeshingIdentitiesService/") || m.starts_with("SmeshingService/")
        })
        .or_else(|| {
            (path == "/spacemesh.v2alpha1.SmeshingIdentitiesService/States")
                .then_some("SmeshingIdentitiesService/States")
        });
    if let Some(method) = local_method {
        let method = method.to_owned();
        return local(shared, &method, request).await;
    }
    if path.starts_with("/spacemesh.v2alpha1.") || path.starts_with("/spacemesh.v2beta1.") {
        let Some(relay) = &shared.json_relay else {
            return error(
                Code::Unavailable,
                &format!("{path} is relayed to the full nodes, but no proxy-api-v2-address is configured"),
            );
        };
        // Reads change nothing; of the POST calls only transaction submission has an effect
        // that must not happen twice.
        let replay_safe = request.method() == Method::GET
            || request.method() == Method::HEAD
            || (request.method() == Method::POST && !path.ends_with("/SubmitTransaction"));
        return match relay.forward(request, replay_safe).await {
            Ok(response) => response,
            Err(e) => relay_error(&e),
        };
    }
    error(Code::NotFound, "Not Found")
}

async fn local<B>(shared: &Shared, method: &str, request: Request<B>) -> Response<RelayBody>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<gateway::BoxError>,
{
    let query = request.uri().query().map(str::to_owned);
    let result = match *request.method() {
        Method::GET | Method::HEAD => json_call(&shared.local, method, query.as_deref(), None),
        // The body is JSON whatever its Content-Type (browsers send text/plain to avoid a
        // preflight).
        Method::POST => {
            let limit = shared.max_request_bytes;
            let body = match Limited::new(request.into_body(), limit).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                    return too_large(limit);
                }
                Err(e) => {
                    return error(
                        Code::InvalidArgument,
                        &format!("reading the request body: {e}"),
                    )
                }
            };
            json_call(&shared.local, method, None, Some(&body))
        }
        _ => {
            let mut r = error(Code::Unimplemented, "Method Not Allowed");
            *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            return r;
        }
    };
    match result {
        Some(Ok(json)) => json_response(StatusCode::OK, json),
        Some(Err(status)) => error(status.code(), status.message()),
        None => error(Code::NotFound, "Not Found"),
    }
}

fn relay_error(e: &RelayError) -> Response<RelayBody> {
    match e {
        RelayError::RequestTooLarge { limit } => too_large(*limit),
        RelayError::RequestBody(_) | RelayError::InvalidRequest(_) => {
            error(Code::InvalidArgument, &e.to_string())
        }
        RelayError::AllFailed { .. } => error(Code::Unavailable, &e.to_string()),
        RelayError::NotReplayed { .. } => {
            let mut r = error(Code::Unavailable, &e.to_string());
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            r
        }
    }
}

/// 413 rather than grpc-gateway's 429 for RESOURCE_EXHAUSTED: the size is the problem, and
/// retrying later will not help.
fn too_large(limit: usize) -> Response<RelayBody> {
    let mut r = error(
        Code::ResourceExhausted,
        &format!("request body exceeds the limit of {limit} bytes"),
    );
    *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    r
}

/// A grpc-gateway error answer.
pub(crate) fn error(code: Code, message: &str) -> Response<RelayBody> {
    json_response(http_status(code), error_body(code, message))
}

fn json_response(status: StatusCode, json: String) -> Response<RelayBody> {
    let mut r = Response::new(
        Full::new(Bytes::from(json))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn empty() -> RelayBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed_unsync()
}

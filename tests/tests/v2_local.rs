//! The local v2 services over JSON and gRPC: golden files of every response (each
//! `IdentityStateInfo` variant, each mapping rule), gRPC decoding to the same values, `States`
//! paging, the v2alpha1 path, CORS, and bad requests.
//!
//! Golden files live in `tests/tests/golden/`; `UPDATE_GOLDEN=1` rewrites them.

mod v2_support;

use std::path::PathBuf;

use http::{Method, StatusCode};
use proto::spacemesh::v2beta1 as v2;
use smesher::api::json::to_json;
use smesher::api::store::PoetRegistration;
use smesher::api::{IdentityStates, StateDetail};
use v2_support::*;

const A: [u8; 32] = [0xaa; 32];
const B: [u8; 32] = [0x0b; 32];

/// One state of each of the 15 variants, times with 0, 3, 6 and 9 fraction digits, two
/// identities, an epoch set and unset, and two equal timestamps.
fn filled() -> IdentityStates {
    let s = IdentityStates::default();
    let variants = vec![
        (A, None, at(0, 0), StateDetail::WaitForAtxSynced),
        (
            A,
            Some(2),
            at(1, 500_000_000),
            StateDetail::WaitingForPoetRegistrationWindow,
        ),
        (
            A,
            Some(2),
            at(2, 123_456_000),
            StateDetail::PoetChallengeReady,
        ),
        (
            A,
            Some(2),
            at(3, 1),
            StateDetail::PoetRegistered {
                registrations: vec![PoetRegistration {
                    challenge_hash: vec![0xfb, 0xff, 0x01],
                    address: "https://poet-1.example/".into(),
                    round_id: "7".into(),
                    round_end: at(86_400, 0),
                }],
            },
        ),
        (
            A,
            Some(2),
            at(4, 0),
            StateDetail::WaitForPoetRoundEnd {
                round_end: at(86_400, 0),
                publish_epoch_end: at(172_800, 250_000_000),
            },
        ),
        (
            A,
            Some(2),
            at(5, 0),
            StateDetail::PoetProofReceived {
                poet_url: "https://poet-1.example/".into(),
            },
        ),
        (A, Some(2), at(6, 0), StateDetail::GeneratingPostProof),
        (A, Some(2), at(7, 0), StateDetail::PostProofReady),
        (A, Some(2), at(8, 0), StateDetail::AtxReady),
        (
            A,
            Some(2),
            at(9, 0),
            StateDetail::AtxBroadcasted { atx_id: [0x3e; 32] },
        ),
        (
            B,
            None,
            at(10, 0),
            StateDetail::ProposalBuildFailed {
                message: "no beacon for epoch 3 \"yet\"".into(),
                layer: 4_294_967_295,
            },
        ),
        (
            B,
            None,
            at(10, 0),
            StateDetail::ProposalPublishFailed {
                message: "publish: all nodes failed".into(),
                proposal: vec![1, 2, 3, 4],
                layer: 31,
            },
        ),
        (
            B,
            None,
            at(11, 0),
            StateDetail::ProposalPublished {
                proposal: vec![0xff; 5],
                layer: 32,
            },
        ),
        (
            B,
            Some(3),
            at(12, 0),
            StateDetail::Eligible {
                layers: vec![(30, 1), (35, 2)],
            },
        ),
        (
            B,
            None,
            at(13, 0),
            StateDetail::Retrying {
                message: "poet: unavailable".into(),
            },
        ),
    ];
    for (id, epoch, time, detail) in variants {
        s.record_now(id, epoch, time, detail);
    }
    s.set_eligibilities(B, 3, vec![(30, 1), (35, 2)]);
    s.set_eligibilities(B, 12, vec![(120, 1)]);
    s.set_eligibilities(A, 4, vec![]);
    s.record_proposal(B, 32, vec![0xff; 5]);
    s.record_proposal(B, 40, vec![]);
    s
}

fn golden(name: &str, actual: &str) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden", name]
        .iter()
        .collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(actual, expected, "{name} differs from its golden file");
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let s = base64::engine::general_purpose::STANDARD.encode(bytes);
    url_escape(&s)
}

fn url_escape(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[tokio::test]
async fn every_local_json_response_matches_its_golden_file_and_grpc_agrees() {
    let api = start(filled(), &[], Options::default()).await;
    let base = format!("{}/spacemesh.v2beta1.", api.json);
    let cases = [
        ("states_all.json", "SmeshingIdentitiesService/States".to_string()),
        (
            "states_filtered.json",
            format!(
                "SmeshingIdentitiesService/States?states=ELIGIBLE&states=13&smeshers={}&order=DESC&limit=2",
                b64(&B)
            ),
        ),
        (
            "states_window.json",
            "SmeshingIdentitiesService/States?from=2024-01-02T03:04:06.5Z&to=2024-01-02T03:04:09Z&publishEpoch=1"
                .to_string(),
        ),
        ("poet_info.json", "SmeshingIdentitiesService/PoetInfo".into()),
        ("eligibilities.json", "SmeshingIdentitiesService/Eligibilities".into()),
        ("proposals.json", "SmeshingIdentitiesService/Proposals".into()),
        ("version.json", "SmeshingService/Version".into()),
        ("build.json", "SmeshingService/Build".into()),
    ];
    for (file, path) in &cases {
        let a = get(&format!("{base}{path}")).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
        assert_eq!(a.headers["content-type"], "application/json");
        golden(file, &a.text());
    }
    // Every oneof variant appears in the unfiltered answer, each under its own key.
    let all = get(&format!("{base}SmeshingIdentitiesService/States"))
        .await
        .json();
    let states = all["states"].as_array().unwrap();
    assert_eq!(states.len(), 15);
    for key in [
        "waitForAtxSynced",
        "waitingForPoetRegistrationWindow",
        "poetChallengeReady",
        "poetRegistered",
        "waitForPoetRoundEnd",
        "poetProofReceived",
        "generatingPostProof",
        "postProofReady",
        "atxReady",
        "atxBroadcasted",
        "proposalBuildFailed",
        "proposalPublishFailed",
        "proposalPublished",
        "eligible",
        "retrying",
    ] {
        assert_eq!(
            states.iter().filter(|s| s.get(key).is_some()).count(),
            1,
            "{key}"
        );
    }

    // The same data over gRPC decodes to the same values: re-encoded, byte for byte the same.
    let channel = tonic::transport::Channel::from_shared(api.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut ids = v2::smeshing_identities_service_client::SmeshingIdentitiesServiceClient::new(
        channel.clone(),
    );
    let mut sm = v2::smeshing_service_client::SmeshingServiceClient::new(channel);
    let grpc_states = ids
        .states(v2::IdentityStatesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let filtered = ids
        .states(v2::IdentityStatesRequest {
            states: vec![15, 13],
            smeshers: vec![B.to_vec()],
            order: 1,
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let pairs = [
        (
            "states_all.json",
            to_json(&grpc_states, "spacemesh.v2beta1.IdentityStatesResponse"),
        ),
        (
            "states_filtered.json",
            to_json(&filtered, "spacemesh.v2beta1.IdentityStatesResponse"),
        ),
        (
            "poet_info.json",
            to_json(
                &ids.poet_info(v2::PoetInfoRequest {})
                    .await
                    .unwrap()
                    .into_inner(),
                "spacemesh.v2beta1.PoetInfoResponse",
            ),
        ),
        (
            "eligibilities.json",
            to_json(
                &ids.eligibilities(v2::EligibilitiesRequest {})
                    .await
                    .unwrap()
                    .into_inner(),
                "spacemesh.v2beta1.EligibilitiesResponse",
            ),
        ),
        (
            "proposals.json",
            to_json(
                &ids.proposals(v2::ProposalsRequest {})
                    .await
                    .unwrap()
                    .into_inner(),
                "spacemesh.v2beta1.ProposalsResponse",
            ),
        ),
        (
            "version.json",
            to_json(
                &sm.version(v2::SmeshingVersionRequest {})
                    .await
                    .unwrap()
                    .into_inner(),
                "spacemesh.v2beta1.SmeshingVersionResponse",
            ),
        ),
        (
            "build.json",
            to_json(
                &sm.build(v2::SmeshingBuildRequest {})
                    .await
                    .unwrap()
                    .into_inner(),
                "spacemesh.v2beta1.SmeshingBuildResponse",
            ),
        ),
    ];
    for (file, json) in pairs {
        golden(file, &json.unwrap());
    }
    assert_eq!(grpc_states.states[3].publish_epoch, Some(2));
    assert_eq!(grpc_states.states[0].publish_epoch, None);
    assert_eq!(grpc_states.states[3].time.unwrap().nanos, 1);
    api.server.shutdown().await;
}

#[tokio::test]
async fn post_bodies_text_plain_and_the_v2alpha1_path_answer_like_get() {
    let api = start(filled(), &[], Options::default()).await;
    let c = client();
    let get_filtered = get(&format!(
        "{}/spacemesh.v2beta1.SmeshingIdentitiesService/States?states=ELIGIBLE&states=13&smeshers={}&order=DESC&limit=2",
        api.json,
        b64(&B)
    ))
    .await;
    use base64::Engine as _;
    let body = format!(
        r#"{{"states":["ELIGIBLE",13],"smeshers":["{}"],"order":"DESC","limit":"2","unknownField":{{"x":1}}}}"#,
        base64::engine::general_purpose::STANDARD.encode(B)
    );
    for path in [
        "/spacemesh.v2beta1.SmeshingIdentitiesService/States",
        "/spacemesh.v2alpha1.SmeshingIdentitiesService/States",
    ] {
        let a = call(
            &c,
            Method::POST,
            &format!("{}{path}", api.json),
            &[("content-type", "text/plain;charset=UTF-8")],
            body.clone(),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
        assert_eq!(a.body, get_filtered.body, "{path}");
    }
    // An empty POST body is the empty request.
    let empty = call(
        &c,
        Method::POST,
        &format!("{}/spacemesh.v2beta1.SmeshingService/Version", api.json),
        &[],
        "",
    )
    .await;
    assert_eq!(empty.text(), r#"{"version":"v0.1.0-test"}"#);
    // The v2alpha1 path over gRPC too.
    let channel = tonic::transport::Channel::from_shared(api.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let answer: v2::IdentityStatesResponse = grpc
        .unary(
            tonic::Request::new(v2::IdentityStatesRequest {
                limit: 3,
                ..Default::default()
            }),
            http::uri::PathAndQuery::from_static(
                "/spacemesh.v2alpha1.SmeshingIdentitiesService/States",
            ),
            tonic::codec::ProstCodec::default(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.states.len(), 3);
    api.server.shutdown().await;
}

/// Pages as smesher-app does: ascending, `from` = newest time received (inclusive), so states
/// that share the boundary timestamp come again instead of being lost.
#[tokio::test]
async fn states_paging_follows_the_proto_including_equal_timestamps_at_a_boundary() {
    let store = IdentityStates::default();
    // Times: 0, 1, 1, 1, 2, 3 (three states share second 1).
    for (i, t) in [0u64, 1, 1, 1, 2, 3].iter().enumerate() {
        store.record_now(
            A,
            None,
            at(*t, 0),
            StateDetail::Retrying {
                message: format!("m{i}"),
            },
        );
    }
    let api = start(store, &[], Options::default()).await;
    let page = |query: String| {
        let url = format!(
            "{}/spacemesh.v2beta1.SmeshingIdentitiesService/States?{query}",
            api.json
        );
        async move {
            let v = get(&url).await.json();
            v["states"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["retrying"]["message"].as_str().unwrap().to_owned(),
                        s["time"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let names = |p: &[(String, String)]| p.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>();
    // Ascending, limit 2: m0 m1; next page from the last time (second 1, inclusive).
    let p1 = page("limit=2&order=0".into()).await;
    assert_eq!(names(&p1), ["m0", "m1"]);
    let p2 = page(format!("limit=2&order=ASC&from={}", p1[1].1)).await;
    assert_eq!(names(&p2), ["m1", "m2"]);
    let p3 = page(format!("limit=2&order=ASC&from={}", p2[1].1)).await;
    assert_eq!(
        names(&p3),
        ["m1", "m2"],
        "a page of equal times repeats; the client widens"
    );
    let p4 = page(format!("limit=4&order=ASC&from={}", p2[1].1)).await;
    assert_eq!(
        names(&p4),
        ["m1", "m2", "m3", "m4"],
        "nothing at the boundary is lost"
    );
    // `to` is exclusive: states at the `to` instant are not returned.
    let before = page(format!("to={}", p1[1].1)).await;
    assert_eq!(names(&before), ["m0"]);
    // Descending pages from the newest.
    let d1 = page("limit=3&order=DESC".into()).await;
    assert_eq!(names(&d1), ["m5", "m4", "m3"]);
    let d2 = page(format!("order=DESC&to={}", d1[2].1)).await;
    assert_eq!(
        names(&d2),
        ["m0"],
        "to is exclusive: m1 and m2 share m3's time"
    );
    let window = page(format!("from={}&to={}", p1[1].1, d1[0].1)).await;
    assert_eq!(names(&window), ["m1", "m2", "m3", "m4"]);
    // limit 0 means the whole (bounded) answer.
    assert_eq!(page("limit=0".into()).await.len(), 6);
    api.server.shutdown().await;
}

#[tokio::test]
async fn cors_allows_the_configured_origin_and_refuses_another() {
    let api = start(
        filled(),
        &[],
        Options {
            cors: vec!["https://app.example".into()],
            ..Options::default()
        },
    )
    .await;
    let c = client();
    let url = format!(
        "{}/spacemesh.v2beta1.SmeshingIdentitiesService/PoetInfo",
        api.json
    );
    let pre = call(
        &c,
        Method::OPTIONS,
        &url,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        "",
    )
    .await;
    assert_eq!(pre.status, StatusCode::NO_CONTENT);
    assert_eq!(
        pre.headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(pre.headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert_eq!(pre.headers["access-control-allow-headers"], "content-type");
    let get_ok = call(
        &c,
        Method::GET,
        &url,
        &[("origin", "https://app.example")],
        "",
    )
    .await;
    assert_eq!(get_ok.status, StatusCode::OK);
    assert_eq!(
        get_ok.headers["access-control-allow-origin"],
        "https://app.example"
    );
    let post_ok = call(
        &c,
        Method::POST,
        &url,
        &[
            ("origin", "https://app.example"),
            ("content-type", "text/plain"),
        ],
        "{}",
    )
    .await;
    assert_eq!(post_ok.status, StatusCode::OK);
    assert_eq!(
        post_ok.headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(post_ok.body, get_ok.body);
    // Errors carry the header too.
    let missing = call(
        &c,
        Method::GET,
        &format!("{}/nope", api.json),
        &[("origin", "https://app.example")],
        "",
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.headers["access-control-allow-origin"],
        "https://app.example"
    );
    for (method, extra) in [
        (
            Method::OPTIONS,
            Some(("access-control-request-method", "GET")),
        ),
        (Method::GET, None),
        (Method::POST, None),
    ] {
        let mut headers = vec![("origin", "https://evil.example")];
        headers.extend(extra);
        let refused = call(&c, method.clone(), &url, &headers, "{}").await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{method}");
        assert!(!refused.headers.contains_key("access-control-allow-origin"));
        assert_eq!(refused.json()["code"], 7);
        assert!(
            refused.text().contains("evil.example"),
            "{}",
            refused.text()
        );
    }
    // Without an Origin (not a browser) the call is served.
    assert_eq!(get(&url).await.status, StatusCode::OK);
    api.server.shutdown().await;

    // The default `*` answers every origin, errors included.
    let api = start(filled(), &[], Options::default()).await;
    let any = call(
        &c,
        Method::GET,
        &format!("{}/nope", api.json),
        &[("origin", "https://x.example")],
        "",
    )
    .await;
    assert_eq!(any.headers["access-control-allow-origin"], "*");
    api.server.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_the_right_status_and_error_body() {
    let api = start(
        filled(),
        &[],
        Options {
            max_request_bytes: 1024,
            ..Options::default()
        },
    )
    .await;
    let c = client();
    let states = format!(
        "{}/spacemesh.v2beta1.SmeshingIdentitiesService/States",
        api.json
    );
    let cases: Vec<(Method, String, &str, StatusCode, i64, &str)> = vec![
        (
            Method::GET,
            format!("{}/spacemesh.v2beta1.SmeshingService/Nope", api.json),
            "",
            StatusCode::NOT_FOUND,
            5,
            "Not Found",
        ),
        (
            Method::GET,
            format!("{}/other/path", api.json),
            "",
            StatusCode::NOT_FOUND,
            5,
            "Not Found",
        ),
        (
            Method::POST,
            states.clone(),
            "{\"limit\":",
            StatusCode::BAD_REQUEST,
            3,
            "invalid JSON request body",
        ),
        (
            Method::POST,
            states.clone(),
            "[1,2]",
            StatusCode::BAD_REQUEST,
            3,
            "invalid JSON request body",
        ),
        (
            Method::POST,
            states.clone(),
            "{\"limit\":true}",
            StatusCode::BAD_REQUEST,
            3,
            "invalid JSON request body",
        ),
        (
            Method::POST,
            states.clone(),
            "{\"states\":[\"NOT_A_STATE\"]}",
            StatusCode::BAD_REQUEST,
            3,
            "invalid JSON request body",
        ),
        (
            Method::POST,
            states.clone(),
            "{\"from\":\"yesterday\"}",
            StatusCode::BAD_REQUEST,
            3,
            "invalid JSON request body",
        ),
        (
            Method::GET,
            format!("{states}?limit=lots"),
            "",
            StatusCode::BAD_REQUEST,
            3,
            "invalid query parameter",
        ),
        (
            Method::GET,
            format!("{states}?order=SIDEWAYS"),
            "",
            StatusCode::BAD_REQUEST,
            3,
            "invalid query parameter",
        ),
        (
            Method::GET,
            format!("{states}?order=7"),
            "",
            StatusCode::BAD_REQUEST,
            3,
            "order: unknown SortOrder 7",
        ),
        (
            Method::GET,
            format!("{states}?smeshers=%%%"),
            "",
            StatusCode::BAD_REQUEST,
            3,
            "invalid query parameter",
        ),
        (
            Method::GET,
            format!("{states}?limit=1&limit=2"),
            "",
            StatusCode::BAD_REQUEST,
            3,
            "more than once",
        ),
        (
            Method::POST,
            states.clone(),
            "x",
            StatusCode::BAD_REQUEST,
            3,
            "invalid JSON request body",
        ),
        (
            Method::PUT,
            states.clone(),
            "{}",
            StatusCode::METHOD_NOT_ALLOWED,
            12,
            "Method Not Allowed",
        ),
    ];
    for (method, url, body, status, code, text) in cases {
        let a = call(&c, method.clone(), &url, &[], body.to_string()).await;
        assert_eq!(a.status, status, "{method} {url} {body}: {}", a.text());
        let v = a.json();
        assert_eq!(v["code"], code, "{url}");
        assert!(
            v["message"].as_str().unwrap().contains(text),
            "{url}: {}",
            a.text()
        );
        assert_eq!(v["details"], serde_json::json!([]));
        assert_eq!(v.as_object().unwrap().len(), 3);
    }
    let huge = call(&c, Method::POST, &states, &[], vec![b' '; 4096]).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.json()["code"], 8);
    assert!(huge.text().contains("1024 bytes"), "{}", huge.text());
    // Relayed paths without a pool say so.
    let relayed = get(&format!(
        "{}/spacemesh.v2beta1.NodeService/Status",
        api.json
    ))
    .await;
    assert_eq!(relayed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        relayed.text().contains("proxy-api-v2-address"),
        "{}",
        relayed.text()
    );
    // An unknown local gRPC method is UNIMPLEMENTED; the server still answers afterwards.
    let channel = tonic::transport::Channel::from_shared(api.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let e = grpc
        .unary::<_, v2::SmeshingVersionResponse, _>(
            tonic::Request::new(v2::SmeshingVersionRequest {}),
            http::uri::PathAndQuery::from_static("/spacemesh.v2beta1.SmeshingService/Nope"),
            tonic::codec::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unimplemented);
    let mut ids =
        v2::smeshing_identities_service_client::SmeshingIdentitiesServiceClient::new(channel);
    let e = ids
        .states(v2::IdentityStatesRequest {
            order: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        get(&format!(
            "{}/spacemesh.v2beta1.SmeshingService/Version",
            api.json
        ))
        .await
        .status,
        StatusCode::OK
    );
    api.server.shutdown().await;
}

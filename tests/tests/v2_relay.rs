//! The relay of every other v2 call to the `proxy-api-v2-address` pool: even round-robin over
//! healthy upstreams, one upstream down, no replay of transaction submission, hop-by-hop
//! headers, gRPC unary and server-streaming (pinned, in order, mid-stream death is an error),
//! and `https://` upstreams signed by a test CA.

mod v2_support;

use std::collections::HashMap;
use std::sync::Arc;

use http::uri::PathAndQuery;
use http::{Method, StatusCode};
use simnet::v2upstream::{Echo, TestCa, V2Fault, V2Upstream, GRPC_STREAM, GRPC_UNARY, SUBMIT_TX};
use smesher::api::IdentityStates;
use tonic::codec::ProstCodec;
use v2_support::*;

async fn upstreams(n: usize) -> Vec<V2Upstream> {
    let mut v = Vec::new();
    for i in 0..n {
        v.push(V2Upstream::spawn(&format!("up{i}")).await.unwrap());
    }
    v
}

fn urls(ups: &[V2Upstream]) -> Vec<String> {
    ups.iter().map(|u| u.url()).collect()
}

/// Sends `total` JSON calls (alternating GET and POST) with `concurrency` in flight; returns
/// how many answers each upstream gave and the failures.
async fn json_load(
    api: &Api,
    total: usize,
    concurrency: usize,
) -> (HashMap<String, usize>, Vec<String>) {
    let client = client();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let next = next.clone();
        let base = api.json.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = HashMap::new();
            let mut failed = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return (seen, failed);
                }
                let a = if i.is_multiple_of(2) {
                    call(
                        &client,
                        Method::GET,
                        &format!("{base}/spacemesh.v2beta1.LayerService/List?limit={i}"),
                        &[],
                        "",
                    )
                    .await
                } else {
                    call(
                        &client,
                        Method::POST,
                        &format!("{base}/spacemesh.v2alpha1.RewardService/List"),
                        &[("content-type", "text/plain")],
                        format!("{{\"offset\":{i}}}"),
                    )
                    .await
                };
                if a.status == StatusCode::OK {
                    *seen
                        .entry(a.json()["upstream"].as_str().unwrap().to_owned())
                        .or_insert(0) += 1;
                } else {
                    failed.push(a.text());
                }
            }
        }));
    }
    let mut seen = HashMap::new();
    let mut failed = Vec::new();
    for t in tasks {
        let (s, f) = t.await.unwrap();
        for (k, v) in s {
            *seen.entry(k).or_insert(0) += v;
        }
        failed.extend(f);
    }
    (seen, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_calls_spread_evenly_and_one_upstream_down_loses_none() {
    let ups = upstreams(3).await;
    let steady = Options {
        settings: steady_settings(),
        ..Options::default()
    };
    let api = start(IdentityStates::default(), &urls(&ups), steady).await;
    let pool = api.server.upstreams().unwrap().gateway.clone();
    pool.wait_until_probed().await;
    assert_eq!(pool.healthy_count(), 3);

    let (seen, failed) = json_load(&api, 3000, 8).await;
    assert!(failed.is_empty(), "{failed:?}");
    for u in &ups {
        let n = seen.get(u.name()).copied().unwrap_or(0);
        assert!(
            (999..=1001).contains(&n),
            "{}: {n} of 3000 ({seen:?})",
            u.name()
        );
        assert_eq!(
            u.relayed_calls() as usize,
            n,
            "{} counted its own calls",
            u.name()
        );
    }
    assert_eq!(relayed_tries(&api.registry, "v2-api", "200"), 3000);

    // One upstream dies without the health checker knowing yet: its turns fail over at once,
    // and once it is ejected or probed down it gets no turns at all.
    ups[1].kill();
    let (seen, failed) = json_load(&api, 3000, 8).await;
    assert!(
        failed.is_empty(),
        "{} failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(seen.get("up1"), None);
    let (a, c) = (seen["up0"], seen["up2"]);
    assert_eq!(a + c, 3000);
    assert!(a.abs_diff(c) <= 20, "up0 {a}, up2 {c}");
    api.server.shutdown().await;
}

#[tokio::test]
async fn transaction_submission_is_never_replayed_but_reads_are() {
    let ups = upstreams(2).await;
    let api = start(IdentityStates::default(), &urls(&ups), Options::default()).await;
    api.server
        .upstreams()
        .unwrap()
        .gateway
        .wait_until_probed()
        .await;
    for u in &ups {
        u.set_fault(V2Fault::DropAfterRequest);
    }
    let c = client();
    let submit = call(
        &c,
        Method::POST,
        &format!("{}{SUBMIT_TX}", api.json),
        &[],
        r#"{"transaction":"AAAA"}"#,
    )
    .await;
    assert_eq!(submit.status, StatusCode::BAD_GATEWAY, "{}", submit.text());
    assert!(
        submit.text().contains("not safe to repeat"),
        "{}",
        submit.text()
    );
    assert_eq!(
        ups.iter().map(|u| u.calls(SUBMIT_TX)).sum::<u64>(),
        1,
        "the submission reached exactly one upstream"
    );
    // A read that meets the same failure is tried on the other upstream.
    let read = get(&format!(
        "{}/spacemesh.v2beta1.NetworkService/Info",
        api.json
    ))
    .await;
    assert_eq!(
        read.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        read.text()
    );
    assert_eq!(
        ups.iter()
            .map(|u| u.calls("/spacemesh.v2beta1.NetworkService/Info"))
            .sum::<u64>(),
        2
    );
    assert!(read.text().contains("timed out"), "{}", read.text());
    api.server.shutdown().await;
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded_and_queries_and_bodies_are() {
    let ups = upstreams(1).await;
    let api = start(IdentityStates::default(), &urls(&ups), Options::default()).await;
    let c = client();
    let a = call(
        &c,
        Method::GET,
        &format!(
            "{}/spacemesh.v2beta1.AccountService/List?addresses=sm1x&limit=5",
            api.json
        ),
        &[
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
        ],
        "",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let v = a.json();
    assert_eq!(v["hopByHopSeen"], false);
    assert_eq!(v["query"], "addresses=sm1x&limit=5");
    assert_eq!(v["method"], "GET");
    let p = call(
        &c,
        Method::POST,
        &format!("{}/spacemesh.v2alpha1.RewardService/List", api.json),
        &[("content-type", "text/plain")],
        r#"{"limit":100}"#,
    )
    .await;
    assert_eq!(p.json()["body"], r#"{"limit":100}"#);
    // A body over the limit is refused before any upstream sees it.
    let huge = call(
        &c,
        Method::POST,
        &format!("{}/spacemesh.v2alpha1.RewardService/List", api.json),
        &[],
        vec![b'x'; 100 * 1024],
    )
    .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.json()["code"], 8);
    assert_eq!(ups[0].calls("/spacemesh.v2alpha1.RewardService/List"), 1);
    api.server.shutdown().await;
}

async fn grpc_client(api: &Api) -> tonic::client::Grpc<tonic::transport::Channel> {
    let channel = tonic::transport::Channel::from_shared(api.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut g = tonic::client::Grpc::new(channel);
    g.ready().await.unwrap();
    g
}

async fn unary(
    g: &mut tonic::client::Grpc<tonic::transport::Channel>,
    text: &str,
) -> Result<Echo, tonic::Status> {
    g.ready()
        .await
        .map_err(|e| tonic::Status::unknown(e.to_string()))?;
    g.unary(
        tonic::Request::new(Echo { text: text.into() }),
        PathAndQuery::from_static(GRPC_UNARY),
        ProstCodec::default(),
    )
    .await
    .map(|r| r.into_inner())
}

async fn stream(
    g: &mut tonic::client::Grpc<tonic::transport::Channel>,
    n: usize,
) -> tonic::Streaming<Echo> {
    g.ready().await.unwrap();
    g.server_streaming(
        tonic::Request::new(Echo {
            text: n.to_string(),
        }),
        PathAndQuery::from_static(GRPC_STREAM),
        ProstCodec::default(),
    )
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test]
async fn three_thousand_grpc_unary_calls_spread_evenly_and_streams_stay_on_one_upstream_in_order() {
    let ups = upstreams(3).await;
    let steady = Options {
        settings: steady_settings(),
        ..Options::default()
    };
    let api = start(IdentityStates::default(), &urls(&ups), steady).await;
    api.server
        .upstreams()
        .unwrap()
        .gateway
        .wait_until_probed()
        .await;
    let mut g = grpc_client(&api).await;
    // 3000 unary calls, 8 in flight on one multiplexed HTTP/2 connection.
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut g = g.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen: HashMap<String, usize> = HashMap::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= 3000 {
                    return seen;
                }
                let echo = unary(&mut g, &i.to_string()).await.unwrap();
                let (who, what) = echo.text.split_once(':').unwrap();
                assert_eq!(what, i.to_string());
                *seen.entry(who.to_owned()).or_default() += 1;
            }
        }));
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *seen.entry(k).or_default() += v;
        }
    }
    for u in &ups {
        let n = seen.get(u.name()).copied().unwrap_or(0);
        assert!(
            (999..=1001).contains(&n),
            "{}: {n} of 3000 ({seen:?})",
            u.name()
        );
        assert_eq!(u.calls(GRPC_UNARY) as usize, n);
    }

    for _ in 0..3 {
        let mut s = stream(&mut g, 200).await;
        let mut got = Vec::new();
        while let Some(m) = s.message().await.unwrap() {
            got.push(m.text);
        }
        assert_eq!(got.len(), 200);
        let who = got[0].split_once(':').unwrap().0.to_owned();
        let expected: Vec<String> = (0..200).map(|i| format!("{who}:{i}")).collect();
        assert_eq!(got, expected, "every message, in order, from one upstream");
    }
    api.server.shutdown().await;
}

#[tokio::test]
async fn an_upstream_dying_mid_stream_reaches_the_client_as_an_error() {
    let ups = upstreams(2).await;
    let api = start(IdentityStates::default(), &urls(&ups), Options::default()).await;
    api.server
        .upstreams()
        .unwrap()
        .gateway
        .wait_until_probed()
        .await;
    for u in &ups {
        u.set_fault(V2Fault::StallStreamAfter(3));
    }
    let mut g = grpc_client(&api).await;
    let mut s = stream(&mut g, 10).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(s.message().await.unwrap().unwrap().text);
    }
    let who = got[0].split_once(':').unwrap().0.to_owned();
    assert!(got.iter().all(|t| t.starts_with(&format!("{who}:"))));
    ups.iter().find(|u| u.name() == who).unwrap().kill();
    let err = s
        .message()
        .await
        .expect_err("a dead upstream must not look like the end of the stream");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(err.message().contains("mid-stream"), "{err:?}");
    // The survivor serves the next calls.
    let other = ups.iter().find(|u| u.name() != who).unwrap();
    other.set_fault(V2Fault::None);
    let echo = unary(&mut g, "after").await.unwrap();
    assert_eq!(echo.text, format!("{}:after", other.name()));
    api.server.shutdown().await;
}

#[tokio::test]
async fn https_upstreams_signed_by_the_configured_ca_work_and_a_wrong_ca_is_named() {
    let ca = TestCa::new("smesher test CA").unwrap();
    let (cert, key) = ca.issue().unwrap();
    let up = V2Upstream::spawn_tls("tls0", &cert, &key).await.unwrap();
    let trusted = Options {
        roots: gateway::TlsRoots {
            platform: false,
            extra_ca_pem: Some(ca.pem().into_bytes()),
        },
        ..Options::default()
    };
    let api = start(IdentityStates::default(), &[up.url()], trusted).await;
    let pool = api.server.upstreams().unwrap().gateway.clone();
    pool.wait_until_probed().await;
    assert_eq!(pool.healthy_count(), 1, "{:?}", pool.status());
    let a = get(&format!(
        "{}/spacemesh.v2beta1.NetworkService/Info",
        api.json
    ))
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["upstream"], "tls0");
    let mut g = grpc_client(&api).await;
    assert_eq!(unary(&mut g, "x").await.unwrap().text, "tls0:x");
    let mut s = stream(&mut g, 5).await;
    let mut n = 0;
    while s.message().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 5);
    api.server.shutdown().await;

    let other = TestCa::new("some other CA").unwrap();
    let wrong = Options {
        roots: gateway::TlsRoots {
            platform: false,
            extra_ca_pem: Some(other.pem().into_bytes()),
        },
        ..Options::default()
    };
    let api = start(IdentityStates::default(), &[up.url()], wrong).await;
    let a = get(&format!(
        "{}/spacemesh.v2beta1.NetworkService/Info",
        api.json
    ))
    .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.text());
    let text = a.text();
    assert!(
        text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
        "{text}"
    );
    assert!(
        text.contains(&up.url()),
        "the error names the upstream: {text}"
    );
    let e = unary(&mut grpc_client(&api).await, "x").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable);
    assert!(e.message().contains("invalid peer certificate"), "{e:?}");
    api.server.shutdown().await;
}

#[tokio::test]
async fn an_oversized_grpc_message_is_refused_before_any_upstream_sees_it() {
    let ups = upstreams(1).await;
    let api = start(IdentityStates::default(), &urls(&ups), Options::default()).await;
    let mut g = grpc_client(&api).await;
    let e = unary(&mut g, &"x".repeat(100 * 1024)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("65536 bytes"), "{e:?}");
    assert_eq!(ups[0].calls(GRPC_UNARY), 0);
    assert_eq!(unary(&mut g, "small").await.unwrap().text, "up0:small");
    api.server.shutdown().await;
}

/// A node serves gRPC on another port than JSON: with `proxy-api-v2-grpc-address`, gRPC goes to
/// node i's gRPC address while the JSON port's health and turn decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_goes_to_each_nodes_own_grpc_address_when_one_is_configured() {
    let json_ups = upstreams(2).await;
    let grpc_ups = upstreams(2).await;
    let opts = Options {
        settings: steady_settings(),
        grpc_upstreams: urls(&grpc_ups),
        ..Options::default()
    };
    let api = start(IdentityStates::default(), &urls(&json_ups), opts).await;
    api.server
        .upstreams()
        .unwrap()
        .gateway
        .wait_until_probed()
        .await;
    let mut g = grpc_client(&api).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for i in 0..100 {
        let echo = unary(&mut g, &i.to_string()).await.unwrap();
        let who = echo.text.split_once(':').unwrap().0.to_owned();
        *seen.entry(who).or_default() += 1;
    }
    for (j, g_up) in grpc_ups.iter().enumerate() {
        assert_eq!(
            seen.get(g_up.name()).copied(),
            Some(50),
            "node {j}'s gRPC address took its turns: {seen:?}"
        );
        assert_eq!(
            json_ups[j].calls(GRPC_UNARY),
            0,
            "no gRPC call reached a JSON address"
        );
    }
}

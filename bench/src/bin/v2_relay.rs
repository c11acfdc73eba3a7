//! Relay overhead of the v2 API, printed (never asserted): the latency the JSON listener and the
//! gRPC listener add over a direct call to the same simnet v2 upstream (p50/p99, measured in
//! the same run, direct and relayed calls interleaved), and throughput at a fixed concurrency
//! (direct and relayed rounds alternating).
//!
//! Run with `cargo run --release -p bench --bin v2_relay`.

use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use bytes::Bytes;
use http::uri::PathAndQuery;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use simnet::v2upstream::{Echo, V2Upstream, GRPC_UNARY};
use smesher::api::{
    ApiListeners, ApiServer, ApiSettings, BuildInfo, IdentityStates, LocalServices, PoetSettings,
    V2Upstreams,
};
use smesher::clock::LayerClock;
use tokio::net::TcpListener;
use tonic::codec::ProstCodec;
use tonic::transport::Channel;

const CALLS: usize = 3_000;
const THROUGHPUT_CALLS: usize = 4_000;
const ROUNDS: usize = 5;
const CONCURRENCY: usize = 16;
const JSON_PATH: &str = "/spacemesh.v2beta1.NetworkService/Info";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let upstream = V2Upstream::spawn("bench").await?;
    let api = start_api(&upstream).await?;
    let relayed_json = format!("http://{}", api.json_addr().context("json listener")?);
    let relayed_grpc = format!(
        "http://{}",
        api.grpc_public_addr().context("grpc listener")?
    );
    let direct = upstream.url().trim_end_matches('/').to_owned();

    println!("== v2 relay overhead ({CALLS} calls each, sequential, interleaved)");
    let http = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let (d, r) = interleaved(CALLS, |relayed| {
        let http = http.clone();
        let url = format!(
            "{}{JSON_PATH}",
            if relayed { &relayed_json } else { &direct }
        );
        async move { json_call(&http, &url).await }
    })
    .await?;
    report("JSON GET", &d, &r);

    let direct_grpc = grpc(&direct).await?;
    let relay_grpc = grpc(&relayed_grpc).await?;
    let (d, r) = interleaved(CALLS, |relayed| {
        let g = if relayed {
            relay_grpc.clone()
        } else {
            direct_grpc.clone()
        };
        async move { unary(g).await }
    })
    .await?;
    report("gRPC unary", &d, &r);

    println!("== throughput ({ROUNDS} alternating rounds of {THROUGHPUT_CALLS} calls, {CONCURRENCY} in flight; median round)");
    let (mut json_rates, mut grpc_rates) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for _ in 0..ROUNDS {
        for (i, relayed) in [false, true].into_iter().enumerate() {
            let url = format!(
                "{}{JSON_PATH}",
                if relayed { &relayed_json } else { &direct }
            );
            let http = http.clone();
            json_rates[i].push(
                throughput(move || {
                    let http = http.clone();
                    let url = url.clone();
                    async move { json_call(&http, &url).await }
                })
                .await?,
            );
            let g = if relayed {
                relay_grpc.clone()
            } else {
                direct_grpc.clone()
            };
            grpc_rates[i].push(throughput(move || unary(g.clone())).await?);
        }
    }
    for (name, rates) in [
        ("JSON GET", &mut json_rates),
        ("gRPC unary", &mut grpc_rates),
    ] {
        let [direct, relayed] = rates;
        println!(
            "{name:<10}: direct {:>8.0} calls/s, relayed {:>8.0} calls/s",
            median(direct),
            median(relayed)
        );
    }
    api.shutdown().await;
    Ok(())
}

async fn start_api(upstream: &V2Upstream) -> anyhow::Result<ApiServer> {
    let registry = prometheus::Registry::new();
    let metrics = gateway::GatewayMetrics::register(&registry)?;
    let clock = LayerClock::new(
        SystemTime::now() - Duration::from_secs(100),
        Duration::from_secs(1),
        10,
    );
    let pool = V2Upstreams::start(
        vec![upstream.url().parse()?],
        Vec::new(),
        gateway::Settings::default(),
        clock,
        metrics,
        gateway::TlsRoots::default(),
        4 << 20,
    )?;
    if let Some(p) = &pool {
        p.gateway.wait_until_probed().await;
    }
    let listeners = ApiListeners {
        json: Some(TcpListener::bind("127.0.0.1:0").await?),
        grpc_public: Some(TcpListener::bind("127.0.0.1:0").await?),
        grpc_private: None,
    };
    let settings = ApiSettings {
        cors_allowed_origins: vec!["*".into()],
        max_request_bytes: 4 << 20,
        grpc_send_msg_size: 10 << 20,
    };
    let local = LocalServices::new(
        IdentityStates::default(),
        PoetSettings::default(),
        BuildInfo::default(),
    );
    ApiServer::start(listeners, &settings, local, pool)
}

async fn json_call(http: &Client<HttpConnector, Empty<Bytes>>, url: &str) -> anyhow::Result<()> {
    let resp = http.get(url.parse()?).await?;
    anyhow::ensure!(resp.status().is_success(), "{url}: HTTP {}", resp.status());
    resp.into_body().collect().await?;
    Ok(())
}

async fn grpc(base: &str) -> anyhow::Result<tonic::client::Grpc<Channel>> {
    let channel = Channel::from_shared(base.to_owned())?.connect().await?;
    Ok(tonic::client::Grpc::new(channel))
}

async fn unary(mut g: tonic::client::Grpc<Channel>) -> anyhow::Result<()> {
    g.ready().await?;
    let _: tonic::Response<Echo> = g
        .unary(
            tonic::Request::new(Echo { text: "x".into() }),
            PathAndQuery::from_static(GRPC_UNARY),
            ProstCodec::default(),
        )
        .await?;
    Ok(())
}

/// `n` direct and `n` relayed calls, alternating, after a warm-up; the latencies of each.
async fn interleaved<F, Fut>(n: usize, call: F) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)>
where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for i in 0..200 {
        call(i % 2 == 0).await?;
    }
    let (mut direct, mut relayed) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        for relay in [false, true] {
            let t = Instant::now();
            call(relay).await?;
            if relay {
                relayed.push(t.elapsed());
            } else {
                direct.push(t.elapsed());
            }
        }
    }
    Ok((direct, relayed))
}

async fn throughput<F, Fut>(call: F) -> anyhow::Result<f64>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let call = call.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < THROUGHPUT_CALLS {
                call().await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(THROUGHPUT_CALLS as f64 / started.elapsed().as_secs_f64())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, direct: &[Duration], relayed: &[Duration]) {
    let (mut d, mut r) = (direct.to_vec(), relayed.to_vec());
    d.sort();
    r.sort();
    let us = |x: Duration| x.as_secs_f64() * 1e6;
    for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (dp, rp) = (percentile(&d, p), percentile(&r, p));
        println!(
            "{name:<10} {label}: direct {:>7.1} µs, relayed {:>7.1} µs, added {:>7.1} µs",
            us(dp),
            us(rp),
            us(rp) - us(dp)
        );
    }
}

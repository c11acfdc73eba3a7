//! Loader tests: defaults, go-spacemesh compatibility, error collection, flags, and the example files in `config/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::*;

fn load_str(text: &str) -> Result<Loaded, ConfigErrors> {
    from_json_str(text, &ConfigArgs::default())
}

fn paths(errors: &ConfigErrors) -> Vec<&str> {
    errors.0.iter().map(|e| e.path.as_str()).collect()
}

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config")
}

fn urls(list: &[Url]) -> Vec<&str> {
    list.iter().map(|u| u.as_str()).collect()
}

#[test]
fn gateway_defaults_are_the_documented_values() {
    let g = GatewaySection::default();
    assert_eq!(g.health_interval, Duration::from_secs(2));
    assert_eq!(g.probe_timeout, Duration::from_secs(1));
    assert_eq!(g.rise, 2);
    assert_eq!(g.fall, 2);
    assert_eq!(g.max_layer_lag, 2);
    assert_eq!(g.failback_after, Duration::from_secs(300));
    assert_eq!(g.per_try_timeout, Duration::from_secs(2));
    assert_eq!(g.request_timeout, Duration::from_secs(10));
    assert_eq!(g.max_response_bytes, 16_777_216);
    assert_eq!(g.retry_budget_ratio, 0.2);
    assert_eq!(g.retry_budget_min_per_second, 10);
    assert_eq!(g.retry_budget_ttl, Duration::from_secs(10));
    assert_eq!(g.eject_after, 5);
    assert_eq!(g.eject_base, Duration::from_secs(5));
    assert_eq!(g.eject_max, Duration::from_secs(120));
    assert!(g.status_addresses.is_empty());
    assert_eq!(DEFAULT_METRICS_PORT, 1010);
}

#[test]
fn nothing_given_means_mainnet_defaults() {
    let loaded = load(&ConfigArgs::default()).expect("no file, no flags loads");
    assert!(loaded.ignored.is_empty());
    let c = loaded.config;
    assert_eq!(c, Config::mainnet());
    assert!(c.node_service.is_empty());
    assert_eq!(c.preset, None);
    assert_eq!(
        c.genesis_time,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_689_321_600)
    );
    assert_eq!(
        c.genesis_extra_data,
        "00000000000000000001a6bc150307b5c1998045752b3c87eccf3c013036f3cc"
    );
    assert_eq!(c.layer_duration, Duration::from_secs(300));
    assert_eq!(c.layers_per_epoch, 4032);
    assert_eq!(c.tick_size, 9_331_200);
    assert_eq!(c.poet_servers.len(), 5);
    assert_eq!(c.poet.phase_shift, Duration::from_secs(240 * 3600));
    assert_eq!(c.hare3.committee_for(105_719), 400);
    assert_eq!(c.hare3.committee_for(105_720), 50);
    assert_eq!(c.post.post_pow_difficulty[..4], [0x00, 0x0d, 0xfb, 0x23]);
    assert_eq!(
        c.api.grpc_public_listener,
        Some("0.0.0.0:9092".parse().unwrap())
    );
    assert_eq!(
        c.api.grpc_private_listener,
        Some("127.0.0.1:9093".parse().unwrap())
    );
    assert_eq!(
        c.api.grpc_post_listener,
        Some("127.0.0.1:0".parse().unwrap())
    );
    assert_eq!(c.api.grpc_json_listener, None);
    assert_eq!(c.api.grpc_cors_allowed_origins, ["*"]);
    assert_eq!(c.metrics_listener, None);
    assert!(c.data_folder.ends_with("spacemesh"));
    // An empty file is the same as no file.
    assert_eq!(load_str("{}").unwrap().config, c);
}

#[test]
fn presets_select_defaults_and_unknown_is_an_error() {
    let c = load_str(r#"{"preset": "devnet"}"#).unwrap().config;
    assert_eq!(c.layer_duration, Duration::from_secs(1));
    assert_eq!(c.layers_per_epoch, 10);
    assert_eq!(c.preset.as_deref(), Some("devnet"));
    let c = load_str(r#"{"preset": "mainnet"}"#).unwrap().config;
    assert_eq!(c.layers_per_epoch, 4032);
    // go-spacemesh writes "no preset" as an empty string.
    assert_eq!(
        load_str(r#"{"preset": ""}"#).unwrap().config,
        Config::mainnet()
    );
    let err = load_str(r#"{"preset": "moon"}"#).unwrap_err();
    assert_eq!(paths(&err), ["preset"]);
    assert!(err.0[0].message.contains("unknown preset \"moon\""));
}

#[test]
fn address_keys_take_a_string_a_comma_string_or_a_list() {
    let one = load_str(r#"{"main": {"node-service-address": "http://a:9099"}}"#).unwrap();
    assert_eq!(urls(&one.config.node_service), ["http://a:9099/"]);

    let comma =
        load_str(r#"{"main": {"node-service-address": "http://a:9099, https://b:9099/x"}}"#)
            .unwrap();
    assert_eq!(
        urls(&comma.config.node_service),
        ["http://a:9099/", "https://b:9099/x"]
    );

    let list = load_str(
        r#"{"main": {"node-service-address": ["http://a:9099", "http://b:9099", "http://c:9099"],
                     "proxy-api-v2-address": ["http://a:9095"]}}"#,
    )
    .unwrap();
    assert_eq!(
        urls(&list.config.node_service),
        ["http://a:9099/", "http://b:9099/", "http://c:9099/"]
    );
    assert_eq!(urls(&list.config.proxy_api_v2), ["http://a:9095/"]);

    let empty = load_str(r#"{"main": {"node-service-address": []}}"#).unwrap();
    assert!(empty.config.node_service.is_empty());
}

#[test]
fn bad_address_names_its_item() {
    let err = load_str(r#"{"main": {"node-service-address": ["http://a:1", "ftp://x", 7]}}"#)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "main.node-service-address[1]: \"ftp://x\" is not an http(s) URL\n\
         main.node-service-address[2]: expected a string, found a number"
    );
    let err =
        load_str(r#"{"main": {"node-service-address": "http://a:1, http://b:1, http://a:1/"}}"#)
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "main.node-service-address[2]: \"http://a:1/\" is listed twice (also main.node-service-address[0])"
    );
    let err = load_str(r#"{"main": {"proxy-api-v2-address": "http://ok, nope"}}"#).unwrap_err();
    assert_eq!(paths(&err), ["main.proxy-api-v2-address[1]"]);
}

#[test]
fn the_atx_regossip_interval_is_read_and_zero_turns_it_off() {
    assert_eq!(
        load_str("{}").unwrap().config.regossip_atx_interval,
        Duration::from_secs(2 * 3600)
    );
    let c = load_str(r#"{"main": {"regossip-atx-interval": "30m"}}"#).unwrap();
    assert_eq!(c.config.regossip_atx_interval, Duration::from_secs(30 * 60));
    assert!(c.ignored.is_empty());
    let c = load_str(r#"{"main": {"regossip-atx-interval": "0s"}}"#).unwrap();
    assert_eq!(c.config.regossip_atx_interval, Duration::ZERO);
    let err = load_str(r#"{"main": {"regossip-atx-interval": "often"}}"#).unwrap_err();
    assert_eq!(paths(&err), ["main.regossip-atx-interval"]);
}

#[test]
fn every_mistake_is_reported_with_its_path() {
    let text = r#"{
        "main": {
            "layer-durtion": "5m",
            "layers-per-epoch": "many",
            "node-service-address": ["http://ok:1", "ftp://x"],
            "tick-size": -3
        },
        "gateway": {
            "health-interval": "soon",
            "rise": 1.5,
            "retry-budget-ttl": "5m",
            "nonsense": true
        },
        "poet": {"cycle-gap": 12},
        "api": {"grpc-json-listener": "somewhere"},
        "p2p": {"bootnodes": [], "not-a-p2p-key": 1},
        "bogus-section": {},
        "smeshing": {"smeshing-start": true, "smeshing-coinbase": "sm1notanaddress"}
    }"#;
    let err = load_str(text).unwrap_err();
    let mut got = paths(&err);
    got.sort_unstable();
    let mut want = vec![
        "main.layer-durtion",
        "main.layers-per-epoch",
        "main.node-service-address[1]",
        "main.tick-size",
        "gateway.health-interval",
        "gateway.rise",
        "gateway.retry-budget-ttl",
        "gateway.nonsense",
        "api.grpc-json-listener",
        "p2p.not-a-p2p-key",
        "bogus-section",
        "smeshing.smeshing-coinbase",
    ];
    want.sort_unstable();
    assert_eq!(got, want, "all errors:\n{err}");
    let text = err.to_string();
    assert_eq!(text.lines().count(), want.len());
    assert!(text.contains("main.layer-durtion: unknown key (did you mean \"layer-duration\"?)"));
    assert!(text.contains("main.tick-size: must not be negative, found -3"));
    assert!(text.contains("main.layers-per-epoch: expected a whole number, found a string"));
    assert!(text.contains("gateway.health-interval: \"soon\" is not a duration"));
    assert!(text.contains("gateway.rise: expected a whole number, found 1.5"));
    // go-spacemesh's decoder takes a bare number as nanoseconds, so `"cycle-gap": 12` is not a mistake.
    assert!(!text.contains("poet.cycle-gap"));
}

#[test]
fn not_json_and_not_an_object_are_errors_not_panics() {
    assert_eq!(paths(&load_str("{").unwrap_err()), ["(file)"]);
    assert_eq!(paths(&load_str("[1, 2]").unwrap_err()), ["(file)"]);
    assert_eq!(paths(&load_str(r#"{"main": 5}"#).unwrap_err()), ["main"]);
    assert_eq!(paths(&load_str(r#"{"p2p": "x"}"#).unwrap_err()), ["p2p"]);
}

#[test]
fn flags_override_the_file() {
    let file = r#"{
        "main": {"data-folder": "/from/file", "node-service-address": ["http://file:1"]},
        "api": {"grpc-json-listener": "0.0.0.0:9095"},
        "metrics": {"metrics-listener": "0.0.0.0:2000"}
    }"#;
    let args = ConfigArgs {
        data_folder: Some("/from/flag".into()),
        node_service_address: vec![
            "http://flag-a:1,http://flag-b:2".into(),
            "http://flag-c:3".into(),
        ],
        grpc_json_listener: Some("127.0.0.1:0".into()),
        metrics_listener: Some("127.0.0.1:0".into()),
        preset: Some("devnet".into()),
        ..ConfigArgs::default()
    };
    let c = from_json_str(file, &args).unwrap().config;
    assert_eq!(c.data_folder, PathBuf::from("/from/flag"));
    assert_eq!(
        urls(&c.node_service),
        ["http://flag-a:1/", "http://flag-b:2/", "http://flag-c:3/"]
    );
    assert_eq!(
        c.api.grpc_json_listener,
        Some("127.0.0.1:0".parse().unwrap())
    );
    assert_eq!(c.metrics_listener, Some("127.0.0.1:0".parse().unwrap()));
    assert_eq!(c.layer_duration, Duration::from_secs(1));

    let bad = ConfigArgs {
        node_service_address: vec!["http://ok:1".into(), "nope".into()],
        ..ConfigArgs::default()
    };
    let err = from_json_str(file, &bad).unwrap_err();
    assert_eq!(paths(&err), ["--node-service-address[1]"]);
}

#[test]
fn config_flag_reads_the_file_and_a_missing_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(&path, r#"{"main": {"layers-per-epoch": 7}}"#).unwrap();
    let args = ConfigArgs {
        config: Some(path),
        ..ConfigArgs::default()
    };
    assert_eq!(load(&args).unwrap().config.layers_per_epoch, 7);
    let missing = ConfigArgs {
        config: Some(dir.path().join("absent.json")),
        ..ConfigArgs::default()
    };
    let err = load(&missing).unwrap_err();
    assert_eq!(paths(&err), ["--config"]);
    assert!(err.to_string().contains("absent.json"));
}

#[test]
fn metrics_keys_in_main_or_metrics_section() {
    let c = load_str(r#"{"main": {"metrics": true}}"#).unwrap().config;
    assert_eq!(
        c.metrics_listener,
        Some(SocketAddr::from(([0, 0, 0, 0], 1010)))
    );
    let c = load_str(r#"{"main": {"metrics": true, "metrics-port": 2020}}"#)
        .unwrap()
        .config;
    assert_eq!(
        c.metrics_listener,
        Some(SocketAddr::from(([0, 0, 0, 0], 2020)))
    );
    let c = load_str(r#"{"metrics": {"metrics": true, "metrics-listener": "127.0.0.1:0"}}"#)
        .unwrap()
        .config;
    assert_eq!(
        c.metrics_listener,
        Some(SocketAddr::from(([127, 0, 0, 1], 0)))
    );
    let c = load_str(r#"{"main": {"metrics": false, "metrics-port": 2020}}"#)
        .unwrap()
        .config;
    assert_eq!(c.metrics_listener, None);
    let err = load_str(r#"{"metrics": {"metrics-port": 70000}}"#).unwrap_err();
    assert_eq!(paths(&err), ["metrics.metrics-port"]);
}

#[test]
fn smeshing_needs_a_coinbase_of_this_network() {
    let err = load_str(r#"{"smeshing": {"smeshing-start": true}}"#).unwrap_err();
    assert_eq!(paths(&err), ["smeshing.smeshing-coinbase"]);
    let ok = r#"{"smeshing": {"smeshing-start": true,
                 "smeshing-coinbase": "sm1qqqqqqylyl2l0zsmmax0wnutt4dwnrkcwef5eeq3xladz"}}"#;
    let c = load_str(ok).unwrap().config;
    assert!(c.smeshing.smeshing_start);
    let err = from_json_str(
        ok,
        &ConfigArgs {
            preset: Some("devnet".into()),
            ..ConfigArgs::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("prefix is \"sm\""), "{err}");
}

#[test]
fn gateway_cross_checks() {
    let err =
        load_str(r#"{"gateway": {"per-try-timeout": "20s", "eject-base": "5m"}}"#).unwrap_err();
    assert_eq!(
        paths(&err),
        ["gateway.eject-base", "gateway.per-try-timeout"]
    );
    let err = load_str(
        r#"{"main": {"node-service-address": ["http://a:1", "http://b:1"]},
            "gateway": {"status-addresses": ["http://a:9095"]}}"#,
    )
    .unwrap_err();
    assert_eq!(paths(&err), ["gateway.status-addresses"]);
    let c = load_str(
        r#"{"main": {"node-service-address": "http://a:1"},
            "gateway": {"status-addresses": "http://a:9095", "failback-after": "0s", "rise": 1}}"#,
    )
    .unwrap()
    .config;
    assert_eq!(urls(&c.gateway.status_addresses), ["http://a:9095/"]);
    assert_eq!(c.gateway.failback_after, Duration::ZERO);
    assert_eq!(c.gateway.rise, 1);
}

#[test]
fn keys_match_without_regard_to_case_like_viper() {
    let loaded =
        load_str(r#"{"MAIN": {"Layers-Per-Epoch": 9}, "logging": {"POSTSERVICE": "info"}}"#)
            .unwrap();
    assert_eq!(loaded.config.layers_per_epoch, 9);
    assert_eq!(loaded.ignored, ["logging.POSTSERVICE"]);
    // The same key twice in different case would let one silently win.
    let err = load_str(r#"{"gateway": {"rise": 1, "Rise": 3}}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "gateway.rise: same key as \"Rise\" (keys match without regard to case)"
    );
}

#[test]
fn tls_listener_needs_its_files() {
    let err = load_str(r#"{"api": {"grpc-tls-listener": "0.0.0.0:9094", "grpc-tls-cert": "/c"}}"#)
        .unwrap_err();
    assert_eq!(paths(&err), ["api.grpc-tls-ca-cert", "api.grpc-tls-key"]);
    let c = load_str(
        r#"{"api": {"grpc-tls-listener": "0.0.0.0:9094", "grpc-tls-cert": "/c", "grpc-tls-key": "/k",
                    "grpc-tls-ca-cert": "/ca"}}"#,
    )
    .unwrap()
    .config;
    let tls = c.api.grpc_tls.expect("tls configured");
    assert_eq!(tls.services, ["post", "postInfo"]);
    assert_eq!(tls.key, PathBuf::from("/k"));
}

#[test]
fn the_full_go_spacemesh_mainnet_node_config_loads_and_lists_what_it_ignores() {
    let path = example_dir().join("go-spacemesh-node-mainnet.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let loaded = load_str(&text).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
    let c = &loaded.config;
    // Typed mainnet values come through unchanged.
    let defaults = Config::mainnet();
    assert_eq!(c.genesis_time, defaults.genesis_time);
    assert_eq!(c.layers_per_epoch, defaults.layers_per_epoch);
    assert_eq!(c.poet_servers, defaults.poet_servers);
    assert_eq!(c.poet, defaults.poet);
    assert_eq!(c.post, defaults.post);
    assert_eq!(c.hare3, defaults.hare3);
    assert_eq!(
        c.api.grpc_json_listener,
        Some("0.0.0.0:9095".parse().unwrap())
    );
    // What only a full node uses is listed, once each, and nothing smesher reads is in the list.
    for key in [
        "p2p.bootnodes",
        "tortoise.tortoise-hdist",
        "beacon.beacon-kappa",
        "syncer.atx-sync.atxs-batch",
        "bootstrap.bootstrap-url",
        "recovery.preserve-own-atx",
        "time.peersync.disable",
        "main.txs-per-proposal",
        "api.smesherstreaminterval",
    ] {
        assert!(
            loaded.ignored.iter().any(|i| i == key),
            "{key} not listed as ignored"
        );
    }
    let mut unique = loaded.ignored.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), loaded.ignored.len(), "a key is listed twice");
    for read in [
        "main.layer-duration",
        "genesis.genesis-time",
        "api.grpc-public-listener",
        "poet.phase-shift",
        "main.regossip-atx-interval",
    ] {
        assert!(
            !loaded.ignored.iter().any(|i| i == read),
            "{read} is read, not ignored"
        );
    }
}

#[test]
fn every_example_in_the_config_folder_loads() {
    let mut seen = 0;
    for entry in std::fs::read_dir(example_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(e) = load_str(&text) {
            panic!("{} does not load:\n{e}", path.display());
        }
        seen += 1;
    }
    assert!(
        seen >= 3,
        "expected the three example configs, found {seen}"
    );
}

#[test]
fn example_files_say_what_they_claim() {
    let read =
        |name: &str| load_str(&std::fs::read_to_string(example_dir().join(name)).unwrap()).unwrap();
    let smeshing = read("mainnet-smeshing.json").config;
    assert!((2..=3).contains(&smeshing.node_service.len()));
    assert!(smeshing.smeshing.smeshing_start);
    // The example spells out the gateway defaults, so it must agree with them.
    let mut gateway = smeshing.gateway.clone();
    gateway.status_addresses.clear();
    assert_eq!(gateway, GatewaySection::default());
    let devnet = read("devnet.json").config;
    assert_eq!(devnet.preset.as_deref(), Some(presets::DEVNET));
    assert_eq!(devnet.node_service.len(), 3);
    assert!(devnet.metrics_listener.is_some());
}

#[test]
fn keys_go_spacemesh_refuses_are_refused_with_a_reason() {
    let err = load_str(r#"{"main": {"poet-server": ["http://p"]}}"#).unwrap_err();
    assert_eq!(paths(&err), ["main.poet-server"]);
    assert!(err.0[0].message.contains("main.poet-servers"));
    // Untagged Go fields cannot be set in go-spacemesh either, so they are unknown here.
    let err = load_str(r#"{"vm": {"gaslimit": 1}, "api": {"publicservices": []}}"#).unwrap_err();
    assert_eq!(paths(&err), ["api.publicservices", "vm.gaslimit"]);
    let ok = load_str(r#"{"vm": {}, "fetch": {"servers": {"ax/1": {"queue": 1}}}}"#).unwrap();
    assert_eq!(ok.ignored, ["fetch.servers", "vm"]);
}

#[test]
fn odd_strings_in_checked_keys_give_errors_not_panics() {
    let odd = [
        "",
        " ",
        "\u{0}",
        "é",
        "+é:00",
        "2023-07-14T08:00:00+é:0",
        "2023-07-14T08:00:00+99:99",
        "1é",
        "µs",
        ".s",
        "1..5s",
        "99999999999999999999h",
        ":",
        "[::1]",
        "sm1",
        "sm1é",
        "SM1qqqq",
        "http://",
        "http:///x",
        "~",
        "\u{10FFFF}\u{10FFFF}\u{10FFFF}\u{10FFFF}\u{10FFFF}\u{10FFFF}\u{10FFFF}",
    ];
    let keys = [
        ("genesis", "genesis-time"),
        ("genesis", "genesis-extra-data"),
        ("main", "layer-duration"),
        ("main", "node-service-address"),
        ("main", "data-folder"),
        ("main", "network-hrp"),
        ("api", "grpc-json-listener"),
        ("gateway", "eject-max"),
        ("post", "post-pow-difficulty"),
        ("smeshing", "smeshing-coinbase"),
        ("logging", "level"),
    ];
    for value in odd {
        for (section, key) in keys {
            let text = serde_json::json!({ section: { key: value } }).to_string();
            // Any outcome but a panic is fine; a failure must name the key.
            if let Err(e) = load_str(&text) {
                assert!(
                    e.0.iter()
                        .all(|e| e.path.starts_with(&format!("{section}."))
                            || e.path.starts_with("smeshing.")),
                    "{text}: {e}"
                );
            }
        }
    }
}

#[test]
fn only_upstreams_and_gateway_can_change_without_a_restart() {
    let old = Config::mainnet();
    let mut new = old.clone();
    new.node_service = vec![Url::parse("http://a:1").unwrap()];
    new.proxy_api_v2 = vec![Url::parse("http://a:2").unwrap()];
    new.gateway.rise = 7;
    assert!(old.restart_needed(&new).is_empty());
    new.api.grpc_json_listener = Some("127.0.0.1:0".parse().unwrap());
    new.layer_duration = Duration::from_secs(1);
    new.data_folder = "/elsewhere".into();
    assert_eq!(
        old.restart_needed(&new),
        ["main.data-folder", "main (layer timing and network)", "api"]
    );
}

#[test]
fn every_key_in_the_readme_table_is_one_smesher_reads() {
    let readme = std::fs::read_to_string(example_dir().join("README.md")).unwrap();
    let table = readme
        .split("## Keys smesher reads")
        .nth(1)
        .expect("README has the key table");
    let mut checked = 0;
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let first_cell = row.split('|').nth(1).unwrap();
        // Cells name a key, or several: "`a.b.c` / `d`" where `d` is a sibling of `c`.
        let names: Vec<&str> = first_cell.split('`').skip(1).step_by(2).collect();
        let parent = names[0].rsplit_once('.').map(|(p, _)| p);
        for name in &names {
            let path = match (name.contains('.'), parent) {
                (false, Some(parent)) if *name != "preset" => format!("{parent}.{name}"),
                _ => name.to_string(),
            };
            // `null` means "not given": a key smesher reads takes it silently.
            let mut value = serde_json::Value::Null;
            for part in path.rsplit('.') {
                value = serde_json::json!({ part: value });
            }
            let loaded = load_str(&value.to_string()).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(loaded.ignored.is_empty(), "{path} is ignored, not read");
            checked += 1;
        }
    }
    assert!(
        checked > 60,
        "only {checked} keys found in the README table"
    );
}

#[test]
fn publish_to_all_is_off_by_default_and_read_from_main() {
    assert!(!Config::mainnet().publish_to_all);
    assert!(!load_str("{}").unwrap().config.publish_to_all);
    let c = load_str(r#"{"main": {"publish-to-all": true}}"#)
        .unwrap()
        .config;
    assert!(c.publish_to_all);
    let err = load_str(r#"{"main": {"publish-to-all": "yes"}}"#).unwrap_err();
    assert_eq!(paths(&err), ["main.publish-to-all"]);
}

#[test]
fn proxy_grpc_addresses_pair_with_the_v2_addresses() {
    let c = load_str(
        r#"{"main": {"proxy-api-v2-address": "http://a:9095,http://b:9095",
                     "proxy-api-v2-grpc-address": ["http://a:9092", "http://b:9092"]}}"#,
    )
    .unwrap()
    .config;
    assert_eq!(
        urls(&c.proxy_api_v2_grpc),
        ["http://a:9092/", "http://b:9092/"]
    );
    let err = load_str(
        r#"{"main": {"proxy-api-v2-address": "http://a:9095,http://b:9095",
                     "proxy-api-v2-grpc-address": "http://a:9092"}}"#,
    )
    .unwrap_err();
    assert_eq!(paths(&err), ["main.proxy-api-v2-grpc-address"]);
    let none = load_str(r#"{"main": {"proxy-api-v2-address": "http://a:9095"}}"#)
        .unwrap()
        .config;
    assert!(none.proxy_api_v2_grpc.is_empty());
}

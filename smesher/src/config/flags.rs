//! Command-line flags named like the go-spacemesh keys they override, and how they are laid over the file.

use std::path::PathBuf;

use super::file::{self, FileConfig, Setting};

/// Config flags; `main.rs` flattens these into its command line. A flag beats the file's value of the same key.
#[derive(clap::Args, Clone, Debug, Default, PartialEq)]
pub struct ConfigArgs {
    /// JSON config file in go-spacemesh's shape (a go-spacemesh node config loads as it is).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Preset the config starts from: "mainnet" (default) or "devnet" (local, 1 s layers).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,

    /// Data folder (`main.data-folder`); holds local.sql and identities/.
    #[arg(short = 'd', long = "data-folder", value_name = "DIR")]
    pub data_folder: Option<String>,

    /// Node-service URL (`main.node-service-address`); repeat or comma-separate, highest priority first.
    #[arg(long = "node-service-address", value_name = "URL")]
    pub node_service_address: Vec<String>,

    /// v2 JSON API URL to relay to (`main.proxy-api-v2-address`); repeat or comma-separate.
    #[arg(long = "proxy-api-v2-address", value_name = "URL")]
    pub proxy_api_v2_address: Vec<String>,

    /// gRPC URL of each v2 node, in `--proxy-api-v2-address` order (`main.proxy-api-v2-grpc-address`).
    #[arg(long = "proxy-api-v2-grpc-address", value_name = "URL")]
    pub proxy_api_v2_grpc_address: Vec<String>,

    /// Public gRPC listener (`api.grpc-public-listener`), "host:port"; "" = off.
    #[arg(long = "grpc-public-listener", value_name = "ADDR")]
    pub grpc_public_listener: Option<String>,

    /// Private gRPC listener (`api.grpc-private-listener`), "host:port"; "" = off.
    #[arg(long = "grpc-private-listener", value_name = "ADDR")]
    pub grpc_private_listener: Option<String>,

    /// Listener post-services connect to (`api.grpc-post-listener`), "host:port"; "" = off.
    #[arg(long = "grpc-post-listener", value_name = "ADDR")]
    pub grpc_post_listener: Option<String>,

    /// JSON (v2 REST) listener (`api.grpc-json-listener`), "host:port"; "" = off.
    #[arg(long = "grpc-json-listener", value_name = "ADDR")]
    pub grpc_json_listener: Option<String>,

    /// Prometheus listener (`metrics.metrics-listener`), "host:port", e.g. "127.0.0.1:0".
    #[arg(long = "metrics-listener", value_name = "ADDR")]
    pub metrics_listener: Option<String>,

    /// Genesis time (`genesis.genesis-time`), RFC 3339.
    #[arg(long = "genesis-time", value_name = "TIME")]
    pub genesis_time: Option<String>,

    /// Start smeshing (`smeshing.smeshing-start`).
    #[arg(long = "smeshing-start", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub smeshing_start: Option<bool>,

    /// Coinbase address rewards go to (`smeshing.smeshing-coinbase`), bech32.
    #[arg(long = "smeshing-coinbase", value_name = "ADDRESS")]
    pub smeshing_coinbase: Option<String>,
}

/// Lays the flags over the file's values; values are checked later, with the flag named as their path.
pub(crate) fn apply(args: &ConfigArgs, f: &mut FileConfig) {
    fn set(slot: &mut Option<Setting<String>>, value: &Option<String>, flag: &str) {
        if let Some(v) = value {
            *slot = Some(Setting::new(v.clone(), flag));
        }
    }
    set(&mut f.preset, &args.preset, "--preset");
    set(&mut f.main.data_folder, &args.data_folder, "--data-folder");
    set(
        &mut f.api.grpc_public_listener,
        &args.grpc_public_listener,
        "--grpc-public-listener",
    );
    set(
        &mut f.api.grpc_private_listener,
        &args.grpc_private_listener,
        "--grpc-private-listener",
    );
    set(
        &mut f.api.grpc_post_listener,
        &args.grpc_post_listener,
        "--grpc-post-listener",
    );
    set(
        &mut f.api.grpc_json_listener,
        &args.grpc_json_listener,
        "--grpc-json-listener",
    );
    set(
        &mut f.metrics.metrics_listener,
        &args.metrics_listener,
        "--metrics-listener",
    );
    set(
        &mut f.genesis.genesis_time,
        &args.genesis_time,
        "--genesis-time",
    );
    set(
        &mut f.smeshing.coinbase,
        &args.smeshing_coinbase,
        "--smeshing-coinbase",
    );
    if let Some(start) = args.smeshing_start {
        f.smeshing.start = Some(Setting::new(start, "--smeshing-start"));
    }
    if let Some(list) = repeated(&args.node_service_address, "--node-service-address") {
        f.main.node_service_address = Some(list);
    }
    if let Some(list) = repeated(&args.proxy_api_v2_address, "--proxy-api-v2-address") {
        f.main.proxy_api_v2_address = Some(list);
    }
    if let Some(list) = repeated(
        &args.proxy_api_v2_grpc_address,
        "--proxy-api-v2-grpc-address",
    ) {
        f.main.proxy_api_v2_grpc_address = Some(list);
    }
}

/// A repeatable flag whose values may also be comma-separated; items are numbered across all of them.
fn repeated(values: &[String], flag: &str) -> Option<file::List> {
    if values.is_empty() {
        return None;
    }
    let joined = values.join(",");
    Some(file::split_list(&joined, flag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        config: ConfigArgs,
    }

    #[test]
    fn flags_parse_in_short_long_repeated_and_comma_forms() {
        let cli = Cli::try_parse_from([
            "smesher",
            "-c",
            "/etc/smesher.json",
            "-d",
            "/data",
            "--node-service-address",
            "http://a:1,http://b:2",
            "--node-service-address=http://c:3",
            "--smeshing-start",
            "--metrics-listener",
            "127.0.0.1:0",
        ])
        .expect("flags parse");
        let args = cli.config;
        assert_eq!(args.config, Some(PathBuf::from("/etc/smesher.json")));
        assert_eq!(args.data_folder.as_deref(), Some("/data"));
        assert_eq!(args.smeshing_start, Some(true));
        let list = repeated(&args.node_service_address, "--node-service-address").unwrap();
        let values: Vec<_> = list.iter().map(|s| s.value.as_str()).collect();
        assert_eq!(values, ["http://a:1", "http://b:2", "http://c:3"]);
        assert_eq!(list[2].path, "--node-service-address[2]");
    }

    #[test]
    fn smeshing_start_takes_an_explicit_false() {
        let cli = Cli::try_parse_from(["smesher", "--smeshing-start=false"]).unwrap();
        assert_eq!(cli.config.smeshing_start, Some(false));
        let cli = Cli::try_parse_from(["smesher"]).unwrap();
        assert_eq!(cli.config, ConfigArgs::default());
    }
}

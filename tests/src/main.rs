//! `simnet` binary: starts a simulated network in-process, prints one URL per node, runs until Ctrl-C.

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use simnet::{ChainConfig, Network};

#[derive(Debug, Parser)]
#[command(
    name = "simnet",
    about = "A simulated Spacemesh network of fake node-services"
)]
struct Args {
    /// Number of fake nodes to start.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Layer length, e.g. `1s`, `200ms`, `5m`.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    layer_duration: Duration,
    #[arg(long, default_value_t = 10)]
    layers_per_epoch: u32,
    /// Layer the chain is at when it starts.
    #[arg(long, default_value_t = 0)]
    start_layer: u32,
}

/// `<number><unit>` with unit `ms`, `s`, `m` or `h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {s:?}: expected a number followed by ms, s, m or h"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!(
            "duration {s:?}: unknown unit {unit:?}, use ms, s, m or h"
        )),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = ChainConfig::new(args.layer_duration, args.layers_per_epoch)
        .starting_at_layer(args.start_layer);
    let network = Network::new(config).context("simnet configuration")?;
    let mut nodes = Vec::with_capacity(args.nodes);
    for _ in 0..args.nodes {
        let node = network
            .try_spawn_node()
            .await
            .context("starting a simnet node")?;
        println!("{}", node.url());
        nodes.push(node);
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    drop(nodes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_garbage() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").is_err());
    }
}

//! The v2 JSON calls a fake node answers: NodeService/Status and NetworkService/Info (grpc-gateway JSON, PROTOCOL §5.2).

use base64::Engine as _;
use serde::Serialize;

use crate::chain::Network;
use crate::clock::{proto_duration, rfc3339};
use crate::fault::Fault;
use crate::routes::Reply;

/// Peers every fake node claims to have.
pub const CONNECTED_PEERS: u64 = 8;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeStatus {
    /// uint64: grpc-gateway writes it as a decimal string.
    connected_peers: String,
    status: &'static str,
    latest_layer: u32,
    applied_layer: u32,
    processed_layer: u32,
    current_layer: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NetworkInfo {
    genesis_time: String,
    layer_duration: String,
    genesis_id: String,
    hrp: String,
    effective_genesis_layer: u32,
    layers_per_epoch: u32,
    labels_per_unit: String,
}

/// How far behind an unsynced node claims to be: two epochs, at least 10 layers.
fn syncing_lag(net: &Network) -> u32 {
    net.config().layers_per_epoch.saturating_mul(2).max(10)
}

pub(crate) fn status(net: &Network, fault: Fault) -> Reply {
    let wall = net.clock().current_layer();
    let (status, current) = match fault {
        Fault::Unsynced => ("SYNC_STATUS_SYNCING", wall.saturating_sub(syncing_lag(net))),
        Fault::Lagging(n) => ("SYNC_STATUS_SYNCED", wall.saturating_sub(n)),
        _ => ("SYNC_STATUS_SYNCED", wall),
    };
    json(&NodeStatus {
        connected_peers: CONNECTED_PEERS.to_string(),
        status,
        latest_layer: current,
        // A synced node has applied the layer before the one in progress.
        applied_layer: current.saturating_sub(1),
        processed_layer: current.saturating_sub(1),
        current_layer: current,
    })
}

pub(crate) fn info(net: &Network) -> Reply {
    let c = net.config();
    json(&NetworkInfo {
        genesis_time: rfc3339(c.genesis),
        layer_duration: proto_duration(c.layer_duration),
        genesis_id: base64::engine::general_purpose::STANDARD.encode(c.genesis_id()),
        hrp: c.hrp.clone(),
        effective_genesis_layer: c.effective_genesis_layer,
        layers_per_epoch: c.layers_per_epoch,
        labels_per_unit: c.labels_per_unit.to_string(),
    })
}

/// grpc-gateway error body for a path it knows with a method it does not route.
pub(crate) fn method_not_allowed() -> Reply {
    Reply {
        status: 405,
        content_type: Some("application/json"),
        body: r#"{"code":12,"message":"Method Not Allowed","details":[]}"#.into(),
        json: false,
        allow: None,
    }
}

fn json<T: Serialize>(v: &T) -> Reply {
    // grpc-gateway's marshaler writes no trailing newline.
    Reply::json(serde_json::to_vec(v).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ChainConfig;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn info_matches_the_mainnet_dump_shape() {
        let mut c = ChainConfig::new(Duration::from_secs(300), 4032);
        c.genesis = UNIX_EPOCH + Duration::from_secs(1_689_321_600);
        let net = Network::new(c).unwrap();
        assert_eq!(
            String::from_utf8(info(&net).body.to_vec()).unwrap(),
            r#"{"genesisTime":"2023-07-14T08:00:00Z","layerDuration":"300s","genesisId":"nuv/Ajq7F8y3dcYC2q3o7XCPClA=","hrp":"sm","effectiveGenesisLayer":8063,"layersPerEpoch":4032,"labelsPerUnit":"4294967296"}"#
        );
    }

    #[test]
    fn status_reflects_sync_faults() {
        let net =
            Network::new(ChainConfig::new(Duration::from_secs(10), 10).starting_at_layer(100))
                .unwrap();
        let read = |f| serde_json::from_slice::<serde_json::Value>(&status(&net, f).body).unwrap();
        let ok = read(Fault::None);
        assert_eq!(ok["connectedPeers"], "8");
        assert_eq!(ok["status"], "SYNC_STATUS_SYNCED");
        assert_eq!(ok["currentLayer"], 100);
        assert_eq!(ok["appliedLayer"], 99);
        let lag = read(Fault::Lagging(7));
        assert_eq!(
            (lag["status"].as_str(), lag["currentLayer"].as_u64()),
            (Some("SYNC_STATUS_SYNCED"), Some(93))
        );
        let syncing = read(Fault::Unsynced);
        assert_eq!(syncing["status"], "SYNC_STATUS_SYNCING");
        assert_eq!(syncing["currentLayer"], 80);
    }
}

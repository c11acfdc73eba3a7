//! `RoundRobin`: spreads calls over the usable upstreams of a pool in turn, sharing the pool's
//! health checker and passive ejection with the `Gateway` it is built on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::time::Instant;

use crate::error::UpstreamFailure;
use crate::gateway::Gateway;
use crate::pool::{Member, Usability};
use crate::settings::Settings;

/// Round-robin routing over a pool. Cheap to clone; clones share the turn counter.
#[derive(Debug, Clone)]
pub struct RoundRobin {
    gateway: Gateway,
    next: Arc<AtomicUsize>,
}

/// The upstreams to try for one call, first choice first.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) members: Vec<Arc<Member>>,
    pub(crate) settings: Arc<Settings>,
    /// Upstreams left out and why, for the error when every try fails.
    pub(crate) skipped: Vec<UpstreamFailure>,
}

impl RoundRobin {
    pub fn new(gateway: Gateway) -> Self {
        RoundRobin {
            gateway,
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The pool's gateway (health, status table, reload).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// One turn: the healthy upstreams starting at the next in line, then those not probed yet
    /// (also in turn); unusable ones (down, unsynced, ejected) are skipped. Each call advances
    /// the turn by one, so N calls over k healthy upstreams give each N/k first choices.
    pub(crate) fn plan(&self) -> Plan {
        let (all, settings) = self.gateway.members();
        let now = Instant::now();
        let mut healthy = Vec::with_capacity(all.len());
        let mut unknown = Vec::new();
        let mut skipped = Vec::new();
        for m in all.iter() {
            match m.usability(now) {
                Usability::Healthy => healthy.push(m.clone()),
                Usability::Unknown => unknown.push(m.clone()),
                Usability::Unusable(reason) => skipped.push(UpstreamFailure {
                    upstream: m.upstream.redacted().to_owned(),
                    reason,
                }),
            }
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        rotate(&mut healthy, turn);
        rotate(&mut unknown, turn);
        healthy.extend(unknown);
        Plan {
            members: healthy,
            settings,
            skipped,
        }
    }
}

fn rotate<T>(v: &mut [T], turn: usize) {
    if !v.is_empty() {
        let k = turn % v.len();
        v.rotate_left(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{ProbeError, ProbeReport};
    use crate::settings::Settings;
    use crate::upstream::Upstream;
    use futures_util::future::BoxFuture;
    use std::collections::HashMap;

    #[derive(Debug)]
    struct DownIfPort(u16);

    impl crate::health::Probe for DownIfPort {
        fn probe(&self, u: &Upstream) -> BoxFuture<'static, Result<ProbeReport, ProbeError>> {
            let down = u.url().port() == Some(self.0);
            Box::pin(async move {
                if down {
                    Err(ProbeError::failed("refused"))
                } else {
                    Ok(ProbeReport::synced())
                }
            })
        }
    }

    #[tokio::test]
    async fn turns_are_even_and_skip_unusable_upstreams() {
        let urls: Vec<url::Url> = (1..=3)
            .map(|p| format!("http://127.0.0.1:{p}/").parse().unwrap())
            .collect();
        let settings = Settings {
            rise: 1,
            fall: 1,
            ..Settings::default()
        };
        let registry = prometheus::Registry::new();
        let gw = Gateway::new("v2", urls, settings, Arc::new(DownIfPort(2)), &registry).unwrap();
        let rr = RoundRobin::new(gw.clone());
        // Before the first probe every upstream is "unknown" and still takes turns.
        let mut firsts = HashMap::new();
        for _ in 0..30 {
            let plan = rr.plan();
            assert_eq!(plan.members.len(), 3);
            *firsts
                .entry(plan.members[0].upstream.url().port())
                .or_insert(0) += 1;
        }
        assert!(firsts.values().all(|n| *n == 10), "{firsts:?}");
        gw.probe_now().await;
        firsts.clear();
        for _ in 0..30 {
            let plan = rr.plan();
            assert_eq!(plan.members.len(), 2);
            assert_eq!(plan.skipped.len(), 1);
            *firsts
                .entry(plan.members[0].upstream.url().port())
                .or_insert(0) += 1;
        }
        assert_eq!(firsts.get(&Some(1)), Some(&15));
        assert_eq!(firsts.get(&Some(3)), Some(&15));
        gw.shutdown();
    }
}

//! `RetryBudget`: retries are allowed while they stay a fraction of recent requests, plus a
//! floor per second, over a sliding window (Finagle's / tower's retry budget).
//!
//! Without it, a total outage multiplies the load by the number of upstreams exactly when
//! they can least take it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Slots the window is cut into; expired slots are forgotten as a whole.
const SLOTS: usize = 10;

#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    /// Retries allowed in one window whatever the traffic: `min_per_second * ttl`.
    reserve: f64,
    ttl: Duration,
    slot_len: Duration,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    slots: [Slot; SLOTS],
    /// Index of the slot that `slot_start` begins.
    current: usize,
    slot_start: Instant,
}

#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    deposits: u64,
    withdrawals: u64,
}

impl RetryBudget {
    /// `ttl`: how long a request or retry is remembered (clamped to 1 s ..= 60 s);
    /// `min_per_second`: retries always allowed per second; `ratio`: retries earned per request.
    pub fn new(ttl: Duration, min_per_second: u32, ratio: f64) -> Self {
        let ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(60));
        let ratio = if ratio.is_finite() {
            ratio.max(0.0)
        } else {
            0.0
        };
        RetryBudget {
            ratio,
            reserve: f64::from(min_per_second) * ttl.as_secs_f64(),
            ttl,
            slot_len: ttl / SLOTS as u32,
            window: Mutex::new(Window {
                slots: [Slot::default(); SLOTS],
                current: 0,
                slot_start: Instant::now(),
            }),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A request arrived: it earns `ratio` retries.
    pub fn deposit(&self) {
        self.with_window(|w| w.slots[w.current].deposits += 1);
    }

    /// Takes one retry if the budget allows it.
    pub fn withdraw(&self) -> bool {
        self.with_window(|w| {
            if self.balance_of(w) >= 1.0 {
                w.slots[w.current].withdrawals += 1;
                true
            } else {
                false
            }
        })
    }

    /// Retries that could be taken now.
    pub fn balance(&self) -> f64 {
        self.with_window(|w| self.balance_of(w))
    }

    fn balance_of(&self, w: &Window) -> f64 {
        let (deposits, withdrawals) = w.slots.iter().fold((0u64, 0u64), |(d, r), s| {
            (d + s.deposits, r + s.withdrawals)
        });
        self.reserve + deposits as f64 * self.ratio - withdrawals as f64
    }

    fn with_window<T>(&self, f: impl FnOnce(&mut Window) -> T) -> T {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Forget the slots that slid out of the window.
        let elapsed = now.saturating_duration_since(w.slot_start);
        let steps = (elapsed.as_nanos() / self.slot_len.as_nanos()) as u64;
        for _ in 0..steps.min(SLOTS as u64) {
            w.current = (w.current + 1) % SLOTS;
            let current = w.current;
            w.slots[current] = Slot::default();
        }
        if steps > 0 {
            w.slot_start += self.slot_len * u32::try_from(steps).unwrap_or(u32::MAX);
            if w.slot_start > now {
                w.slot_start = now;
            }
        }
        f(&mut w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_reserve_allows_min_per_second_times_ttl() {
        let budget = RetryBudget::new(Duration::from_secs(10), 2, 0.0);
        assert_eq!(budget.balance(), 20.0);
        for _ in 0..20 {
            assert!(budget.withdraw());
        }
        assert!(!budget.withdraw());
        assert_eq!(budget.balance(), 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_earn_the_ratio() {
        let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.2);
        assert!(!budget.withdraw(), "no reserve, no requests, no retry");
        for _ in 0..4 {
            budget.deposit();
        }
        assert!(!budget.withdraw(), "4 requests × 0.2 < 1");
        budget.deposit();
        assert!(budget.withdraw(), "5 requests × 0.2 = 1 retry");
        assert!(!budget.withdraw());
        for _ in 0..10 {
            budget.deposit();
        }
        assert!(budget.withdraw());
        assert!(budget.withdraw());
        assert!(!budget.withdraw());
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_slides() {
        let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.0);
        for _ in 0..10 {
            assert!(budget.withdraw());
        }
        assert!(!budget.withdraw());
        // Withdrawals are remembered for the whole ttl...
        tokio::time::advance(Duration::from_millis(9_500)).await;
        assert!(!budget.withdraw());
        // ...and forgotten after it.
        tokio::time::advance(Duration::from_millis(600)).await;
        assert_eq!(budget.balance(), 10.0);

        // Spread withdrawals: the ones older than ttl free up slot by slot.
        assert!(budget.withdraw());
        tokio::time::advance(Duration::from_secs(5)).await;
        for _ in 0..9 {
            assert!(budget.withdraw());
        }
        assert!(!budget.withdraw());
        tokio::time::advance(Duration::from_millis(5_100)).await;
        assert_eq!(budget.balance(), 1.0, "only the first withdrawal expired");
        // A long idle gap clears everything.
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(budget.balance(), 10.0);
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_expire_too() {
        let budget = RetryBudget::new(Duration::from_secs(1), 0, 1.0);
        budget.deposit();
        budget.deposit();
        assert_eq!(budget.balance(), 2.0);
        tokio::time::advance(Duration::from_millis(1_100)).await;
        assert_eq!(budget.balance(), 0.0);
    }

    #[test]
    fn out_of_range_arguments_are_clamped() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let b = RetryBudget::new(Duration::ZERO, 1, f64::NAN);
            assert_eq!(b.ttl(), Duration::from_secs(1));
            assert_eq!(b.balance(), 1.0);
            let b = RetryBudget::new(Duration::from_secs(3600), 1, -1.0);
            assert_eq!(b.ttl(), Duration::from_secs(60));
            b.deposit();
            assert_eq!(b.balance(), 60.0);
        });
    }
}

//! A circuit breaker in front of one road's push service (FCM, Google's Web Push
//! service): after several consecutive transient failures, new pushes on that road go
//! straight to the retry queue for a while instead of each waiting for its own timeout.
//! Retry workers keep sending meanwhile, so their first success closes it again. One per
//! road: a failing push service must not hold back the other road's pushes.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::target::RoadKind;

/// Shared breaker state (lock-free; read on every push).
pub struct Breaker {
    road: RoadKind,
    failures: AtomicU32,
    open_until_ms: AtomicU64,
    threshold: u32,
    cooldown_ms: u64,
}

impl Breaker {
    /// Opens after `threshold` consecutive failures on `road`, for `cooldown_ms` after the last one.
    pub fn new(road: RoadKind, threshold: u32, cooldown_ms: u64) -> Breaker {
        Breaker { road, failures: AtomicU32::new(0), open_until_ms: AtomicU64::new(0), threshold, cooldown_ms }
    }

    /// Whether new pushes should skip the push service now.
    pub fn is_open(&self, now_ms: u64) -> bool {
        self.open_until_ms.load(Ordering::Relaxed) > now_ms
    }

    /// A transient failure of the push service.
    pub fn failure(&self, now_ms: u64) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        if n >= self.threshold {
            let was_open = self.is_open(now_ms);
            self.open_until_ms.store(now_ms + self.cooldown_ms, Ordering::Relaxed);
            if !was_open {
                crate::metrics::breaker_open(self.road, true);
                tracing::warn!(
                    road = self.road.label(),
                    failures = n,
                    cooldown_ms = self.cooldown_ms,
                    "push service failing: circuit breaker open, new pushes go to the retry queue"
                );
            }
        }
    }

    /// A successful send.
    pub fn success(&self) {
        if self.failures.swap(0, Ordering::Relaxed) >= self.threshold {
            crate::metrics::breaker_open(self.road, false);
            tracing::info!(road = self.road.label(), "push service answering again: circuit breaker closed");
        }
        self.open_until_ms.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_closes_on_success() {
        let b = Breaker::new(RoadKind::Fcm, 3, 1000);
        b.failure(10);
        b.failure(10);
        assert!(!b.is_open(10));
        b.failure(10);
        assert!(b.is_open(10));
        assert!(b.is_open(1009));
        assert!(!b.is_open(1010), "cooldown over: half-open, the next push probes FCM");
        b.failure(1010);
        assert!(b.is_open(1010), "a failed probe reopens at once");
        b.success();
        assert!(!b.is_open(1011));
        b.failure(1011);
        assert!(!b.is_open(1011), "success reset the count");
    }
}

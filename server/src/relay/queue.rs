//! The durable retry queue as the relay uses it: when the next try of a message is due
//! (exponential backoff with jitter, never before FCM's Retry-After), and putting a
//! message into the store's queue within its bound.

use std::time::Duration;

use rand::Rng;

use super::settings::QueueConfig;
use crate::ids::DeviceId;
use crate::store::{Enqueued, QueuedMessage, Store, StoreError};

/// Delay before try number `attempts + 1`: initial · 2^attempts, capped, never shorter
/// than FCM's Retry-After, plus up to 20 % random jitter so retries of many messages
/// don't arrive at FCM in lockstep.
pub fn backoff(cfg: &QueueConfig, attempts: u32, retry_after: Option<Duration>) -> Duration {
    let exp = cfg.initial_backoff_ms.saturating_mul(1u64 << attempts.min(30)).min(cfg.max_backoff_ms);
    let base = exp.max(retry_after.map(|d| d.as_millis() as u64).unwrap_or(0));
    let jitter = rand::thread_rng().gen_range(0..=base / 5);
    Duration::from_millis(base + jitter)
}

/// Keep `msg`, a message for `device`, for its first retry: unless the queue holds
/// `max_len` messages, or the device its share (`max_per_device`).
pub async fn enqueue(
    store: &dyn Store,
    cfg: &QueueConfig,
    msg: &QueuedMessage,
    device: &DeviceId,
    now_ms: u64,
    retry_after: Option<Duration>,
) -> Result<Enqueued, StoreError> {
    let due = now_ms + backoff(cfg, 0, retry_after).as_millis() as u64;
    let kept = store.enqueue(msg, device, due, cfg.max_len, cfg.max_per_device).await?;
    match kept {
        Enqueued::Kept => metrics::counter!(crate::metrics::QUEUE, "result" => "enqueued").increment(1),
        Enqueued::QueueFull => {
            metrics::counter!(crate::metrics::QUEUE, "result" => "full").increment(1);
            tracing::warn!(max_len = cfg.max_len, "retry queue full; refusing push with 503");
        }
        Enqueued::DeviceFull => {
            metrics::counter!(crate::metrics::QUEUE, "result" => "device_full").increment(1);
            tracing::debug!(%device, max_per_device = cfg.max_per_device, "device holds its share of the retry queue; refusing push with 503");
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        let cfg = QueueConfig { initial_backoff_ms: 1000, max_backoff_ms: 8000, ..QueueConfig::default() };
        for (attempts, base) in [(0, 1000), (1, 2000), (2, 4000), (3, 8000), (10, 8000), (99, 8000)] {
            let d = backoff(&cfg, attempts, None).as_millis() as u64;
            assert!((base..=base + base / 5).contains(&d), "attempt {attempts}: {d}");
        }
        let d = backoff(&cfg, 0, Some(Duration::from_secs(30))).as_millis() as u64;
        assert!((30_000..=36_000).contains(&d), "{d}");
    }
}

//! The retry worker: leases due messages from the store's durable queue, tries them
//! again through the [`Relay`], and reschedules failures with exponential backoff and
//! jitter. Several uprelay instances can run workers on one Redis: leases keep one
//! message with one worker at a time, and a crashed worker's lease simply runs out.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;

use crate::config::QueueConfig;
use crate::relay::{unix_ms, Relay, RetryOutcome};
use crate::store::QueuedMessage;

/// Delay before try number `attempts + 1`: initial · 2^attempts, capped, never shorter
/// than FCM's Retry-After, plus up to 20 % random jitter so retries of many messages
/// don't arrive at FCM in lockstep.
pub fn backoff(cfg: &QueueConfig, attempts: u32, retry_after: Option<Duration>) -> Duration {
    let exp = cfg.initial_backoff_ms.saturating_mul(1u64 << attempts.min(30)).min(cfg.max_backoff_ms);
    let base = exp.max(retry_after.map(|d| d.as_millis() as u64).unwrap_or(0));
    let jitter = rand::thread_rng().gen_range(0..=base / 5);
    Duration::from_millis(base + jitter)
}

/// Run the worker until `shutdown` turns true. Leased messages not finished by then
/// stay in the store and come back when their lease ends.
pub async fn run(relay: Arc<Relay>, mut shutdown: watch::Receiver<bool>) {
    let cfg = relay.queue_config().clone();
    let poll = Duration::from_millis(cfg.poll_ms);
    let mut last_gauge = 0u64;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = unix_ms();
        if now.saturating_sub(last_gauge) >= 5_000 {
            last_gauge = now;
            if let Ok(n) = relay.store().queue_len().await {
                metrics::gauge!(crate::metrics::QUEUE_LENGTH).set(n as f64);
            }
            if let Ok(oldest) = relay.store().queue_oldest_ms().await {
                crate::metrics::queue_oldest(oldest, now);
            }
        }
        let batch = match relay.store().lease(now, cfg.lease_ms, cfg.batch).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "retry queue: cannot lease");
                Vec::new()
            }
        };
        let full = batch.len() == cfg.batch;
        futures::future::join_all(batch.into_iter().map(|m| process(&relay, &cfg, m))).await;
        if !full {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
    tracing::info!("retry worker stopped");
}

async fn process(relay: &Relay, cfg: &QueueConfig, mut msg: QueuedMessage) {
    let store = relay.store();
    let outcome = match relay.retry(&msg).await {
        Ok(o) => o,
        Err(e) => {
            // The lease runs out and the message comes back.
            tracing::warn!(error = %e, "retry queue: store failed while retrying");
            return;
        }
    };
    let result = match outcome {
        RetryOutcome::Delivered => {
            tracing::debug!(message = %msg.id, attempts = msg.attempts + 1, "queued message delivered");
            store.complete(&msg.id).await.map(|_| "delivered")
        }
        RetryOutcome::Dropped(why) => {
            tracing::info!(message = %msg.id, reason = why, "queued message dropped");
            store.complete(&msg.id).await.map(|_| why)
        }
        RetryOutcome::Retry(after) => {
            msg.attempts = msg.attempts.saturating_add(1);
            let due = unix_ms() + backoff(cfg, msg.attempts, after).as_millis() as u64;
            store.reschedule(&msg, due).await.map(|_| "retry")
        }
    };
    match result {
        Ok(label) => metrics::counter!(crate::metrics::QUEUE, "result" => label).increment(1),
        Err(e) => tracing::warn!(error = %e, "retry queue: cannot update message"),
    }
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

//! The retry worker: leases due messages from the store's durable queue, delivers them
//! again through the [`Courier`], and reschedules failures with backoff. Several uprelay
//! instances can run workers on one Redis: leases keep one message with one worker at a
//! time, and a crashed worker's lease simply runs out.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::deliver::{Courier, Outcome};
use super::queue::backoff;
use super::settings::QueueConfig;
use crate::clock::unix_ms;
use crate::road::Message;
use crate::store::{QueuedMessage, Store, StoreError};

/// How often the queue length gauge is sampled.
const GAUGE_EVERY_MS: u64 = 5_000;

/// What one try did with a queued message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Done with it; the label says how (`delivered`, `expired`, `endpoint_gone`, `dead_token`).
    Complete(&'static str),
    /// Try again, not before the delay if one was named.
    Retry(Option<Duration>),
}

/// The retry worker of one uprelay process.
pub struct Worker {
    store: Arc<dyn Store>,
    courier: Arc<Courier>,
    cfg: QueueConfig,
}

impl Worker {
    /// A worker over the queue in `store`, delivering through `courier`.
    pub fn new(store: Arc<dyn Store>, courier: Arc<Courier>, cfg: QueueConfig) -> Worker {
        Worker { store, courier, cfg }
    }

    /// Run until `shutdown` turns true. Leased messages not finished by then stay in the
    /// store and come back when their lease ends.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.cfg.poll_ms);
        let mut last_gauge = 0u64;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let now = unix_ms();
            if now.saturating_sub(last_gauge) >= GAUGE_EVERY_MS {
                last_gauge = now;
                if let Ok(n) = self.store.queue_len().await {
                    crate::metrics::queue_length(n);
                }
                if let Ok(oldest) = self.store.queue_oldest_ms().await {
                    crate::metrics::queue_oldest(oldest, now);
                }
            }
            let batch = match self.store.lease(now, self.cfg.lease_ms, self.cfg.batch).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "retry queue: cannot lease");
                    Vec::new()
                }
            };
            let full = batch.len() == self.cfg.batch;
            futures::future::join_all(batch.into_iter().map(|m| self.process(m))).await;
            if !full {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        tracing::info!("retry worker stopped");
    }

    async fn process(&self, mut msg: QueuedMessage) {
        let verdict = match self.try_once(&msg).await {
            Ok(v) => v,
            Err(e) => {
                // The lease runs out and the message comes back.
                tracing::warn!(error = %e, "retry queue: store failed while retrying");
                return;
            }
        };
        let result = match verdict {
            Verdict::Complete(why) => {
                tracing::debug!(message = %msg.id, attempts = msg.attempts + 1, reason = why, "queued message done");
                self.store.complete(&msg.id).await.map(|_| why)
            }
            Verdict::Retry(after) => {
                msg.attempts = msg.attempts.saturating_add(1);
                let due = unix_ms() + backoff(&self.cfg, msg.attempts, after).as_millis() as u64;
                self.store.reschedule(&msg, due).await.map(|_| "retry")
            }
        };
        match result {
            Ok(label) => metrics::counter!(crate::metrics::QUEUE, "result" => label).increment(1),
            Err(e) => tracing::warn!(error = %e, "retry queue: cannot update message"),
        }
    }

    /// One try at delivering a queued message. The route is looked up again, so a token
    /// rotation or a deletion since the message was queued is honoured.
    async fn try_once(&self, msg: &QueuedMessage) -> Result<Verdict, StoreError> {
        let now = unix_ms();
        if now >= msg.expires_ms {
            return Ok(Verdict::Complete("expired"));
        }
        let Some(route) = self.store.route(&msg.endpoint).await? else {
            return Ok(Verdict::Complete("endpoint_gone"));
        };
        let message = Message {
            id: &msg.id,
            body: &msg.body,
            urgency: msg.urgency,
            ttl_secs: ((msg.expires_ms - now) / 1000) as u32,
            topic: msg.topic.as_deref(),
        };
        Ok(match self.courier.deliver(&route, message).await? {
            Outcome::Delivered => Verdict::Complete("delivered"),
            Outcome::Gone => Verdict::Complete("dead_token"),
            // The next try goes to the new token.
            Outcome::Rotated => Verdict::Retry(None),
            Outcome::Throttled(wait) => Verdict::Retry(Some(wait)),
            Outcome::Transient(after, _) => Verdict::Retry(after),
            // The operator may fix the credentials: keep the message until its TTL.
            Outcome::Refused(_) => Verdict::Retry(None),
            // No try can succeed: retrying would only resend it until its TTL.
            Outcome::Undeliverable(_) => Verdict::Complete("refused"),
        })
    }
}

//! The `[queue]` settings: the durable retry queue and the circuit breaker in front of
//! FCM, with their defaults and checks.

use serde::{Deserialize, Serialize};

use crate::config::error::ConfigError;

/// Retry queue and circuit breaker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Keep transiently failed pushes and answer 201; off → answer 503 instead.
    pub enabled: bool,
    /// Messages the queue may hold; beyond it pushes get 503 + Retry-After.
    pub max_len: u64,
    /// Messages one device's endpoints may hold in the queue together; beyond it that
    /// device's pushes get 503 + Retry-After while everyone else keeps queueing.
    pub max_per_device: u64,
    /// How long a worker owns a leased message before another may take it, ms.
    pub lease_ms: u64,
    /// How often an idle worker looks for due messages, ms.
    pub poll_ms: u64,
    /// Messages leased at once.
    pub batch: usize,
    /// First retry delay, ms (doubled per attempt, with jitter).
    pub initial_backoff_ms: u64,
    /// Longest retry delay, ms.
    pub max_backoff_ms: u64,
    /// Consecutive transient FCM failures that open the breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker sends new pushes straight to the queue, ms.
    pub breaker_cooldown_ms: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: true,
            max_len: 1_000_000,
            // A device's outage backlog (a busy chat app through an hour's FCM outage)
            // fits; a thousand devices are needed to fill the queue.
            max_per_device: 1_000,
            lease_ms: 30_000,
            poll_ms: 250,
            batch: 64,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            breaker_threshold: 5,
            breaker_cooldown_ms: 5_000,
        }
    }
}

impl QueueConfig {
    /// Checks that need more than types (only when the queue is on: off, nothing is read).
    /// The lease against the send timeout is checked where both are known, in `config`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if self.max_len == 0 {
            return Err(ConfigError::new("queue.max_len", "must be positive"));
        }
        // Above max_len it simply never binds (a small max_len alone needs no other key).
        if self.max_per_device == 0 {
            return Err(ConfigError::new("queue.max_per_device", "must be positive"));
        }
        if self.batch == 0 {
            return Err(ConfigError::new("queue.batch", "must be positive"));
        }
        if self.poll_ms == 0 || self.initial_backoff_ms == 0 || self.max_backoff_ms < self.initial_backoff_ms {
            return Err(ConfigError::new("queue", "poll_ms and initial_backoff_ms must be positive, max_backoff_ms ≥ initial_backoff_ms"));
        }
        if self.breaker_threshold == 0 {
            return Err(ConfigError::new("queue.breaker_threshold", "must be positive"));
        }
        Ok(())
    }
}

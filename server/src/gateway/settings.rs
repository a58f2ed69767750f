//! The `[matrix]` settings: the built-in Matrix push gateway's TTL and whether (and how
//! far) it forwards notifications for other UnifiedPush servers' endpoints.

use serde::{Deserialize, Serialize};

use crate::config::error::ConfigError;

/// The Matrix push gateway at `/_matrix/push/v1/notify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatrixConfig {
    /// TTL of the pushes a notification becomes, seconds.
    pub ttl: u32,
    /// Forward notifications for other UnifiedPush servers' endpoints (off: those
    /// pushkeys are rejected, as this gateway serves this relay's endpoints).
    pub forward: bool,
    /// Hosts forwarding may reach over plain http and at non-public addresses. For tests
    /// only: empty unless set.
    pub forward_allow: Vec<String>,
    /// Whole-request time limit of one forward, milliseconds.
    pub forward_timeout_ms: u64,
    /// Forwards in flight at once; more wait for a slot within the time limit.
    pub forward_concurrency: usize,
    /// Distinct devices one notification may name; more → 400 (a homeserver names a
    /// user's few devices, or one per request as Synapse does).
    pub max_devices_per_notify: usize,
    /// Forwards one notification may make to one host; the devices beyond are answered
    /// as not served now (not rejected), so the relay never multiplies one request into a
    /// flood at someone else's server.
    pub max_forwards_per_host: usize,
}

impl Default for MatrixConfig {
    fn default() -> Self {
        MatrixConfig {
            ttl: 86_400,
            forward: false,
            forward_allow: Vec::new(),
            forward_timeout_ms: 5_000,
            forward_concurrency: 64,
            max_devices_per_notify: 20,
            max_forwards_per_host: 5,
        }
    }
}

impl MatrixConfig {
    /// Checks that need more than types. `ttl` against `max_ttl` is checked in `config`,
    /// where both are known.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.forward_timeout_ms == 0 || self.forward_concurrency == 0 {
            return Err(ConfigError::new("matrix", "forward_timeout_ms and forward_concurrency must be positive"));
        }
        if !(1..=1000).contains(&self.max_devices_per_notify) {
            return Err(ConfigError::new("matrix.max_devices_per_notify", "must be between 1 and 1000"));
        }
        if self.max_forwards_per_host == 0 {
            return Err(ConfigError::new("matrix.max_forwards_per_host", "must be positive"));
        }
        Ok(())
    }
}

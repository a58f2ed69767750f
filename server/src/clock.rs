//! Wall-clock time as the stores, limits and retry queue count it: Unix milliseconds,
//! comparable across processes that share one Redis.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

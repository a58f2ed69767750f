//! What makes the emulator answer like the real FCM rather than like a process next door:
//! the latency of every `messages:send` answer (`--latency-ms`, `--jitter-ms`), and the
//! gauges a benchmark needs to see how a client copes with it (sends in flight, the most at
//! once, connections accepted).
//!
//! Why a latency of its own rather than a delay fault: a fault is matched, counted down and
//! locked per send, and it is something a test injects; FCM's distance is a property of the
//! service, on from the start, and must cost the emulator nothing but a timer per send.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;

/// Longest `--latency-ms` / `--jitter-ms`: a minute is far beyond any real FCM answer.
pub const MAX_LATENCY_MS: u64 = 60_000;
/// Bounds of `--token-bytes` (Google's access tokens are about a kilobyte).
pub const MIN_TOKEN_BYTES: usize = 16;
/// See [`MIN_TOKEN_BYTES`].
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Length of access tokens unless `--token-bytes` says otherwise: the size of Google's
/// service-account access tokens (`ya29.` and about a kilobyte of base64url).
pub const DEFAULT_TOKEN_BYTES: usize = 1024;

/// How long every `messages:send` answer waits: `base` ± up to `jitter`, uniform; a draw
/// below zero answers at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// N of `--latency-ms`.
    pub base_ms: u64,
    /// J of `--jitter-ms`.
    pub jitter_ms: u64,
}

impl Latency {
    /// The delay of one answer, or None when there is none (no timer is set at all).
    pub fn draw(&self) -> Option<Duration> {
        if self.base_ms == 0 && self.jitter_ms == 0 {
            return None;
        }
        // Microseconds, so that a small jitter still spreads the answers.
        let base = self.base_ms as i64 * 1000;
        let jitter = self.jitter_ms as i64 * 1000;
        let us = if jitter == 0 { base } else { base + rand::thread_rng().gen_range(-jitter..=jitter) };
        (us > 0).then(|| Duration::from_micros(us as u64))
    }
}

/// Gauges of the load the emulator sees (`GET /emulator/stats`).
#[derive(Default)]
pub struct Load {
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    connections: AtomicU64,
    h2_connections: AtomicU64,
}

impl Load {
    /// Count a send in flight until the returned guard is dropped (answered, or abandoned
    /// because its stream was reset).
    pub fn send_started(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(self)
    }

    /// Count one accepted TCP connection.
    pub fn connection_accepted(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Count one connection that spoke HTTP/2 (h2c): how FCM's clients multiplex.
    pub fn h2_connection_accepted(&self) {
        self.h2_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// h2c connections accepted since start.
    pub fn h2_connections(&self) -> u64 {
        self.h2_connections.load(Ordering::Relaxed)
    }

    /// Sends being handled now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The most sends handled at once since start.
    pub fn max_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::Relaxed)
    }

    /// TCP connections accepted since start.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

/// One send in flight (see [`Load::send_started`]).
pub struct InFlight<'a>(&'a Load);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An access token shaped like Google's: `ya29.` then base64url, exactly `len` characters
/// (`len` ≥ [`MIN_TOKEN_BYTES`]; the random part carries at least 66 bits).
pub fn google_shaped_token(len: usize) -> String {
    use base64::Engine;
    const PREFIX: &str = "ya29.";
    let body_len = len.saturating_sub(PREFIX.len());
    let mut raw = vec![0u8; body_len.div_ceil(4) * 3];
    rand::thread_rng().fill(&mut raw[..]);
    let mut token = String::with_capacity(len);
    token.push_str(PREFIX);
    token.push_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)[..body_len]);
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_exact_length_and_googles_shape() {
        for len in [MIN_TOKEN_BYTES, 17, 52, 1000, DEFAULT_TOKEN_BYTES, MAX_TOKEN_BYTES] {
            let t = google_shaped_token(len);
            assert_eq!(t.len(), len);
            assert!(t.starts_with("ya29."));
            assert!(t[5..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{t}");
        }
        assert_ne!(google_shaped_token(16), google_shaped_token(16));
    }

    #[test]
    fn latency_stays_within_its_bounds() {
        assert_eq!(Latency::default().draw(), None);
        assert_eq!(Latency { base_ms: 7, jitter_ms: 0 }.draw(), Some(Duration::from_millis(7)));
        let l = Latency { base_ms: 40, jitter_ms: 20 };
        let draws: Vec<Duration> = (0..2000).map(|_| l.draw().unwrap()).collect();
        assert!(draws.iter().all(|d| *d >= Duration::from_millis(20) && *d <= Duration::from_millis(60)));
        // Uniform: both halves of the range are drawn.
        assert!(draws.iter().any(|d| *d < Duration::from_millis(30)) && draws.iter().any(|d| *d > Duration::from_millis(50)));
        // A jitter larger than the base never goes below zero.
        assert!((0..200).all(|_| Latency { base_ms: 1, jitter_ms: 5 }.draw().is_none_or(|d| d <= Duration::from_millis(6))));
    }
}

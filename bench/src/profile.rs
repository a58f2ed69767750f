//! Load profiles of a bench invocation: the default one, the same with 52-character access
//! tokens, the realistic one (closed loop, and open loop at two rates) and the overload.
//!
//! Why profiles in one invocation: the host's speed drifts by 10–25 % over minutes, so the
//! realistic profile is only comparable with a default run made minutes before it, on the
//! same binary, and the token's cost only with a run that differs in the token alone.

use crate::options::{FcmLatency, Opts};

/// The share of the default run's pushes/s the judged open-loop realistic run offers, in
/// percent: enough headroom that its p99 shows what the relay adds, not the queueing of a
/// host with no CPU to spare.
pub const JUDGED_OPEN_PCT: f64 = 60.0;
/// The overload run: twice the realistic connections (C = 4096) against deliberately small
/// bounds: 8 FCM connections, and requests in flight capped at half the realistic
/// connections (1024).
const OVERLOAD_FCM_CONNECTIONS: usize = 8;
/// FCM's distance in the realistic profile (production answers in 20–100 ms).
const REALISTIC_LATENCY: FcmLatency = FcmLatency { ms: 40, jitter: 20 };
/// Body size of the realistic profile (a typical encrypted Web Push message).
const REALISTIC_BODY: usize = 1024;
/// Length of the emulator's tokens before Google-sized ones, the short side of the token's cost.
pub const SHORT_TOKEN: usize = 52;

/// `pct` % of `rps`, at least one push per second.
fn share_of(rps: f64, pct: f64) -> f64 {
    (rps * pct / 100.0).max(1.0)
}

/// The shape of one relay run's load and of its FCM.
#[derive(Debug, Clone)]
pub struct Profile {
    /// "" for the default profile; else appended to the run's label.
    pub name: &'static str,
    pub connections: usize,
    pub body_size: usize,
    pub latency: FcmLatency,
    pub token_bytes: usize,
    /// Open loop at this many pushes/s (None: closed loop).
    pub rate: Option<f64>,
    /// `fcm.connections` (None: `--fcm-connections` or uprelay's default).
    pub fcm_connections: Option<usize>,
    /// `limits.max_concurrent_requests` (None: uprelay's default).
    pub max_concurrent: Option<usize>,
    /// Devices on the Web Push road, the relay's `[webpush] key_reuse_secs` this (None:
    /// devices on the FCM v1 road).
    pub webpush_key_reuse: Option<u64>,
}

impl Profile {
    /// `-c`, `-b`, `--fcm-latency`, `--token-bytes`.
    pub fn default_of(o: &Opts) -> Profile {
        Profile {
            name: "",
            connections: o.connections,
            body_size: o.body_size,
            latency: o.fcm_latency,
            token_bytes: o.token_bytes,
            rate: None,
            fcm_connections: o.fcm_connections,
            max_concurrent: None,
            webpush_key_reuse: None,
        }
    }

    /// The default profile with every device on the Web Push road (`--webpush`), its ECDH
    /// results reused for `key_reuse_secs` ("webpush" at uprelay's default, else "webpush-noreuse").
    pub fn webpush(o: &Opts, key_reuse_secs: u64) -> Profile {
        let name = if key_reuse_secs == 0 { "webpush-noreuse" } else { "webpush" };
        Profile { name, webpush_key_reuse: Some(key_reuse_secs), ..Profile::default_of(o) }
    }

    /// The default profile with the emulator's old 52-character tokens.
    pub fn short_tokens(o: &Opts) -> Profile {
        Profile { name: "52tok", token_bytes: SHORT_TOKEN, ..Profile::default_of(o) }
    }

    /// The production-shaped load (on Redis).
    pub fn realistic(o: &Opts) -> Profile {
        Profile {
            name: "realistic",
            connections: o.realistic_c,
            body_size: REALISTIC_BODY,
            latency: REALISTIC_LATENCY,
            token_bytes: uprelay_emulator::DEFAULT_TOKEN_BYTES,
            rate: None,
            fcm_connections: o.fcm_connections,
            max_concurrent: None,
            webpush_key_reuse: None,
        }
    }

    /// The realistic profile driven open-loop at [`JUDGED_OPEN_PCT`] of the default run's
    /// pushes/s: the run the latency target is judged on.
    pub fn realistic_open(o: &Opts, default_rps: f64) -> Profile {
        Profile { name: "realistic-open", rate: Some(share_of(default_rps, JUDGED_OPEN_PCT)), ..Profile::realistic(o) }
    }

    /// The realistic profile driven open-loop at `--realistic-open-pct` (90 by default) of
    /// the default run's pushes/s: reported, not judged (on a 2-core host shared with the
    /// load generator there is no headroom left at 90 %).
    pub fn realistic_open_busy(o: &Opts, default_rps: f64) -> Profile {
        Profile { name: "realistic-open-busy", rate: Some(share_of(default_rps, o.realistic_open_pct)), ..Profile::realistic(o) }
    }

    /// The realistic profile at twice the connections, against `fcm.connections = 8` and
    /// `max_concurrent_requests = 1024`: the bounds must hold and the excess be shed.
    pub fn overload(o: &Opts) -> Profile {
        Profile {
            name: "overload",
            connections: o.realistic_c * 2,
            fcm_connections: Some(OVERLOAD_FCM_CONNECTIONS),
            max_concurrent: Some((o.realistic_c / 2).max(1)),
            ..Profile::realistic(o)
        }
    }

    /// What the run's label gets.
    pub fn suffix(&self) -> String {
        if self.name.is_empty() {
            String::new()
        } else {
            format!("-{}", self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_realistic_fcm_is_40_ms_away() {
        assert_eq!(REALISTIC_LATENCY.to_string(), "40 ± 20 ms");
        assert_eq!(share_of(10_000.0, JUDGED_OPEN_PCT), 6_000.0);
        assert_eq!(share_of(0.0, 90.0), 1.0);
    }
}

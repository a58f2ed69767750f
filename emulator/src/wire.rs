//! Facts of FCM's wire that the relay's client and this stand-in must agree on.
//!
//! They live here, in the emulator's crate, because the relay depends on the emulator and
//! not the other way round: both sides import them from this one place, so a value can
//! not drift between the client that relies on it and the stand-in that plays it.

/// The first bytes of every HTTP/2 connection with prior knowledge (RFC 9113 §3.4): what the
/// relay's listener and the emulator's accept loop look for to tell h2c from HTTP/1.1.
pub const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Concurrent streams Google's FCM front ends allow per HTTP/2 connection (their
/// SETTINGS_MAX_CONCURRENT_STREAMS): what the relay's client assumes before a connection
/// tells its own, and what the emulator advertises by default.
pub const FCM_MAX_CONCURRENT_STREAMS: u32 = 100;

/// FCM's documented limit of a token message's data payload (keys + values, UTF-8 bytes):
/// the relay splits a push that would exceed it, the emulator rejects a message that does.
pub const MAX_DATA_BYTES: usize = 4096;

/// Longest TTL FCM accepts, seconds (4 weeks): the relay's largest `max_ttl`, the emulator's
/// largest `android.ttl`.
pub const MAX_TTL_SECS: u32 = 2_419_200;

/// The OAuth scope of FCM's send API: what the relay asks Google's token endpoint for, and a
/// scope the emulator's token endpoint grants.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

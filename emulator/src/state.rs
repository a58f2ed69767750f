//! The emulator's state behind its HTTP surface: trusted keys, issued access tokens, faults,
//! kept messages and counters, and the Rust API over them (what the `/emulator/*` controls
//! and the in-process handle of [`crate::start`] use).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::credentials::KeyRing;
use crate::faults::{Fault, FaultCode, Faults};
use crate::inbox::{Inbox, Rejects, Stats};
use crate::realism::{Latency, Load, DEFAULT_TOKEN_BYTES};
use crate::tokens::TokenStore;
use crate::webpush::tokens::{TokenIssue, WebPushTokens};
use crate::webpush::vapid::VerifiedJwts;

/// The emulator's state. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Emulator {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) default_project: String,
    pub(crate) token_lifetime: Duration,
    pub(crate) keys: KeyRing,
    pub(crate) tokens: TokenStore,
    pub(crate) faults: Faults,
    pub(crate) inbox: Inbox,
    /// Recent rejected sends (kept only when the inbox keeps messages).
    pub(crate) rejects: Rejects,
    pub(crate) stats: Stats,
    /// Delay of every `messages:send` answer.
    pub(crate) latency: Latency,
    /// Sends in flight and connections accepted.
    pub(crate) load: Load,
    pub(crate) next_message: AtomicU64,
    /// Random per-instance suffix of message names.
    pub(crate) instance_tag: String,
    /// Google's Web Push service: the tokens issued, each bound to its VAPID key...
    pub(crate) webpush_tokens: WebPushTokens,
    /// ...and the VAPID JWTs verified.
    pub(crate) webpush_jwts: VerifiedJwts,
}

/// Counters of `GET /emulator/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmulatorStats {
    /// Messages accepted for delivery since start (including ones evicted by `--keep`).
    pub accepted: u64,
    /// Send requests answered with an error (auth, validation, dead token, injected fault).
    pub rejected: u64,
    /// `validate_only` requests that passed.
    pub validated: u64,
    /// Access tokens issued by `POST /token`.
    pub tokens_issued: u64,
    /// Every request to `messages:send`, whatever its outcome.
    pub send_requests: u64,
    /// Messages currently kept for inspection.
    pub stored: u64,
    /// `messages:send` requests being handled now (answer delay included).
    #[serde(default)]
    pub sends_in_flight: u64,
    /// The most `messages:send` requests handled at once since start: with a latency, how
    /// many sends a client kept in flight.
    #[serde(default)]
    pub max_sends_in_flight: u64,
    /// TCP connections accepted since start (HTTP/1.1 and h2c).
    #[serde(default)]
    pub connections_accepted: u64,
    /// Of those, the ones that spoke HTTP/2 (h2c), as FCM's clients do.
    #[serde(default)]
    pub h2_connections_accepted: u64,
}

/// How FCM-like the emulator behaves beyond its API: the latency of sends and the length of
/// access tokens (`--latency-ms`, `--jitter-ms`, `--token-bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Realism {
    /// Every `messages:send` answer waits `latency_ms` ± `jitter_ms` (uniform).
    pub latency_ms: u64,
    /// See `latency_ms`.
    pub jitter_ms: u64,
    /// Length of issued access tokens, characters (16–4096).
    pub token_bytes: usize,
}

impl Default for Realism {
    /// No added latency; Google-sized access tokens.
    fn default() -> Self {
        Realism { latency_ms: 0, jitter_ms: 0, token_bytes: DEFAULT_TOKEN_BYTES }
    }
}

/// Body of `POST /emulator/faults`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Only sends to this registration token (or Web Push token); every send when neither
    /// this nor `fid` is given.
    pub token: Option<String>,
    /// Only FCM sends by `message.fid` to this Firebase Installation ID.
    pub fid: Option<String>,
    /// FCM error code to answer with (see [`FaultCode`]); latency only when absent.
    pub error: Option<String>,
    /// Number of sends affected (forever when absent).
    pub times: Option<u64>,
    /// Seconds, sent as `Retry-After` with the error.
    pub retry_after: Option<u64>,
    /// Latency added before answering, milliseconds.
    pub delay_ms: Option<u64>,
}

impl Emulator {
    /// An emulator whose default project is `project`, keeping at most `keep` accepted messages
    /// and issuing access tokens valid for `token_lifetime`. It trusts no key until
    /// [`Emulator::issue_credentials`] is called.
    pub fn new(project: &str, keep: usize, token_lifetime: Duration) -> Self {
        Self::with_realism(project, keep, token_lifetime, Realism::default())
    }

    /// [`Emulator::new`] with the latency and token length of `realism`.
    pub fn with_realism(project: &str, keep: usize, token_lifetime: Duration, realism: Realism) -> Self {
        let tag: u32 = rand::thread_rng().gen();
        Emulator {
            inner: Arc::new(Inner {
                default_project: project.to_owned(),
                token_lifetime,
                keys: Default::default(),
                tokens: TokenStore::with_length(realism.token_bytes),
                faults: Default::default(),
                inbox: Inbox::new(keep),
                rejects: Default::default(),
                stats: Default::default(),
                latency: Latency { base_ms: realism.latency_ms, jitter_ms: realism.jitter_ms },
                load: Default::default(),
                next_message: AtomicU64::new(0),
                instance_tag: format!("{tag:08x}"),
                webpush_tokens: Default::default(),
                webpush_jwts: Default::default(),
            }),
        }
    }

    /// The project given to [`Emulator::new`].
    pub fn default_project(&self) -> &str {
        &self.inner.default_project
    }

    /// Generate a fresh RSA key for `project`, trust it, and return a Google service-account JSON
    /// (type "service_account", project_id, private_key_id, private_key (PKCS#8 PEM),
    /// client_email, client_id, auth_uri, token_uri = `token_uri`, cert URLs, universe_domain).
    /// RSA key generation takes a while: from async code, call it inside `spawn_blocking`.
    pub fn issue_credentials(&self, project: &str, token_uri: &str) -> Value {
        self.inner.keys.issue(project, token_uri)
    }

    /// Counters since start, as `GET /emulator/stats` shows them.
    pub fn stats(&self) -> EmulatorStats {
        let s = &self.inner.stats;
        EmulatorStats {
            accepted: Stats::get(&s.accepted),
            rejected: Stats::get(&s.rejected),
            validated: Stats::get(&s.validated),
            tokens_issued: self.inner.tokens.issued(),
            send_requests: Stats::get(&s.send_requests),
            stored: self.inner.inbox.len() as u64,
            sends_in_flight: self.inner.load.in_flight(),
            max_sends_in_flight: self.inner.load.max_in_flight(),
            connections_accepted: self.inner.load.connections(),
            h2_connections_accepted: self.inner.load.h2_connections(),
        }
    }

    /// Accepted messages (oldest first), as `GET /emulator/messages` shows them.
    pub fn messages(&self, token: Option<&str>) -> Vec<Value> {
        self.inner.inbox.snapshot(token, None, None).iter().map(|m| serde_json::to_value(m.view()).unwrap_or(Value::Null)).collect()
    }

    /// Install a fault, as `POST /emulator/faults` does.
    pub fn add_fault(&self, spec: FaultSpec) -> Result<Fault, String> {
        let error = match spec.error.as_deref() {
            None => None,
            Some(s) => Some(FaultCode::parse(s).ok_or_else(|| {
                let names: Vec<_> = FaultCode::ALL.iter().map(|c| c.as_str()).collect();
                format!("unknown error {s:?}; expected one of {}", names.join(", "))
            })?),
        };
        if error.is_none() && spec.delay_ms.is_none() {
            return Err("a fault needs an \"error\", a \"delay_ms\", or both".into());
        }
        if spec.times == Some(0) {
            return Err("\"times\" must be at least 1 (omit it for a permanent fault)".into());
        }
        if spec.token.as_deref() == Some("") || spec.fid.as_deref() == Some("") {
            return Err("\"token\" and \"fid\" must not be empty (omit them to affect every send)".into());
        }
        if spec.token.is_some() && spec.fid.is_some() {
            return Err("a fault names a \"token\" or a \"fid\", not both".into());
        }
        Ok(self.inner.faults.add(Fault {
            id: 0,
            token: spec.token,
            fid: spec.fid,
            error,
            times: spec.times,
            retry_after: spec.retry_after,
            delay_ms: spec.delay_ms,
        }))
    }

    /// A Web Push token for the sender whose VAPID public key is `vapid` (87 characters of
    /// base64url), as Play services issues one for a VAPID key used as the sender: pushes to
    /// it must be signed by that key. `POST /emulator/webpush/tokens` does the same.
    pub fn issue_webpush_token(&self, vapid: &str) -> Result<String, TokenIssue> {
        self.inner.webpush_tokens.issue(vapid)
    }

    /// Revoke a Web Push token (the app unsubscribed): pushes to it get 410 from then on.
    /// False when the token was never issued.
    pub fn revoke_webpush_token(&self, token: &str) -> bool {
        self.inner.webpush_tokens.revoke(token)
    }

    /// Remove every injected fault (dead tokens stay dead).
    pub fn clear_faults(&self) {
        self.inner.faults.clear();
    }

    /// Invalidate every access token issued so far; returns how many were live.
    pub fn revoke_tokens(&self) -> usize {
        self.inner.tokens.revoke_all()
    }

    /// Clear faults, dead tokens, stored messages and rejected sends (keys, tokens and
    /// counters stay).
    pub fn reset(&self) {
        self.inner.faults.clear();
        self.inner.faults.revive_all();
        self.inner.inbox.clear();
        self.inner.rejects.clear();
    }
}

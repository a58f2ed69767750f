//! Access tokens the emulator's token endpoint handed out: issued, checked on every send,
//! revoked on request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::realism::{google_shaped_token, DEFAULT_TOKEN_BYTES};

#[derive(Debug, Clone)]
struct IssuedToken {
    project: Arc<str>,
    expires_at: Instant,
}

/// Access tokens handed out and not revoked.
pub struct TokenStore {
    map: RwLock<HashMap<String, IssuedToken>>,
    issued: AtomicU64,
    /// Length of the tokens issued (`--token-bytes`).
    len: usize,
}

impl Default for TokenStore {
    fn default() -> Self {
        TokenStore::with_length(DEFAULT_TOKEN_BYTES)
    }
}

/// What an access token presented to `messages:send` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// Live, and issued for the project asked for.
    Valid,
    /// Live, but issued for another project.
    OtherProject,
    /// Unknown, revoked or expired.
    Invalid,
}

impl TokenStore {
    /// A store issuing tokens of exactly `len` characters, shaped like Google's.
    pub fn with_length(len: usize) -> Self {
        TokenStore { map: Default::default(), issued: AtomicU64::new(0), len }
    }

    pub fn issue(&self, project: &str, lifetime: Duration) -> String {
        let token = google_shaped_token(self.len);
        let now = Instant::now();
        let n = self.issued.fetch_add(1, Ordering::Relaxed) + 1;
        let mut map = self.map.write().unwrap();
        if n & 1023 == 0 {
            map.retain(|_, t| t.expires_at > now);
        }
        map.insert(token.clone(), IssuedToken { project: project.into(), expires_at: now + lifetime });
        token
    }

    /// Check `token` for a send to `project`. The project is compared under the read lock
    /// rather than handed out as an `Arc` clone: this runs on every send.
    pub fn check(&self, token: &str, project: &str) -> TokenCheck {
        let map = self.map.read().unwrap();
        match map.get(token) {
            Some(t) if t.expires_at > Instant::now() => {
                if &*t.project == project {
                    TokenCheck::Valid
                } else {
                    TokenCheck::OtherProject
                }
            }
            _ => TokenCheck::Invalid,
        }
    }

    pub fn revoke_all(&self) -> usize {
        let mut map = self.map.write().unwrap();
        let n = map.len();
        map.clear();
        n
    }

    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }
}

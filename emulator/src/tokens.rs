//! Access tokens the emulator's token endpoint handed out: issued, checked on every send,
//! revoked on request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;

#[derive(Debug, Clone)]
struct IssuedToken {
    project: Arc<str>,
    expires_at: Instant,
}

/// Access tokens handed out and not revoked.
#[derive(Default)]
pub struct TokenStore {
    map: RwLock<HashMap<String, IssuedToken>>,
    issued: AtomicU64,
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
    pub fn issue(&self, project: &str, lifetime: Duration) -> String {
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = format!("ya29.emu.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
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

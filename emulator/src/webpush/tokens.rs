//! Web Push tokens, as Play services hands them out for a VAPID key used as the sender
//! (`POST /emulator/webpush/tokens`), each bound to that key, and their revocation
//! (`POST /emulator/webpush/revoke`: the app unsubscribed, the token is gone).

use std::collections::HashMap;
use std::sync::RwLock;

use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use super::refusal::{Refusal, MSG_GONE, MSG_KEY_MISMATCH, MSG_NOT_FOUND};
use super::vapid::B64URL_LENIENT;
use crate::faults::Faults;

/// Length of a VAPID public key in base64url without padding (65 bytes).
const MAX_VAPID_CHARS: usize = 87;
/// Tokens issued at most: a bound on the emulator's memory whatever a test loop does.
const MAX_TOKENS: usize = 1_000_000;

struct Entry {
    key: [u8; 65],
    revoked: bool,
}

/// Issued tokens, each with the VAPID key it was issued for.
#[derive(Default)]
pub(crate) struct WebPushTokens(RwLock<HashMap<String, Entry>>);

/// Why a token could not be issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenIssue {
    /// The key is not an 87-character base64url uncompressed P-256 point on the curve.
    BadKey,
    /// The emulator holds as many tokens as it will.
    Full,
}

impl std::fmt::Display for TokenIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenIssue::BadKey => {
                f.write_str("\"vapid\" must be an uncompressed P-256 public key on the curve, 87 characters of base64url")
            }
            TokenIssue::Full => write!(f, "the emulator holds {MAX_TOKENS} Web Push tokens already"),
        }
    }
}

/// The 65 bytes of `vapid` when it is a P-256 point (ring checks a peer key fully during an
/// agreement, so one with a throwaway key tells).
fn parse_key(vapid: &str) -> Option<[u8; 65]> {
    use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P256};
    if vapid.len() != MAX_VAPID_CHARS {
        return None;
    }
    let key: [u8; 65] = B64URL_LENIENT.decode(vapid).ok()?.try_into().ok()?;
    let mine = EphemeralPrivateKey::generate(&ECDH_P256, &ring::rand::SystemRandom::new()).ok()?;
    agree_ephemeral(mine, &UnparsedPublicKey::new(&ECDH_P256, &key[..]), |_| ()).ok()?;
    Some(key)
}

/// A token shaped like Play services' Web Push tokens: an 11-character instance id, `:APA91b`,
/// then 134 characters of base64url (152 in all).
fn new_token() -> String {
    let mut id = [0u8; 8];
    let mut rest = [0u8; 100];
    rand::thread_rng().fill_bytes(&mut id);
    rand::thread_rng().fill_bytes(&mut rest);
    let mut token = URL_SAFE_NO_PAD.encode(id);
    token.push_str(":APA91b");
    token.push_str(&URL_SAFE_NO_PAD.encode(rest)[..134]);
    token
}

impl WebPushTokens {
    /// A new token for the sender whose VAPID public key is `vapid`.
    pub fn issue(&self, vapid: &str) -> Result<String, TokenIssue> {
        let key = parse_key(vapid.trim()).ok_or(TokenIssue::BadKey)?;
        let token = new_token();
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TOKENS {
            return Err(TokenIssue::Full);
        }
        map.insert(token.clone(), Entry { key, revoked: false });
        Ok(token)
    }

    /// Revoke `token`; false when it was never issued.
    pub fn revoke(&self, token: &str) -> bool {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        map.get_mut(token).map(|e| e.revoked = true).is_some()
    }

    /// Whether a push signed by `key` may go to `token`.
    pub(crate) fn check(&self, token: &str, key: &[u8; 65], faults: &Faults) -> Result<(), Refusal> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = map.get(token) else {
            return Err(Refusal::new(StatusCode::NOT_FOUND, "NOT_FOUND", MSG_NOT_FOUND));
        };
        if entry.revoked {
            return Err(Refusal::new(StatusCode::GONE, "GONE", MSG_GONE));
        }
        if faults.is_dead(token) {
            return Err(Refusal::new(StatusCode::NOT_FOUND, "NOT_FOUND", MSG_NOT_FOUND));
        }
        if &entry.key != key {
            return Err(Refusal::new(StatusCode::FORBIDDEN, "KEY_MISMATCH", MSG_KEY_MISMATCH));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_look_like_play_services_ones() {
        let t = new_token();
        assert_eq!(t.len(), 152, "{t}");
        assert_eq!(&t[11..18], ":APA91b", "{t}");
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_:".contains(&b)), "{t}");
    }

    #[test]
    fn keys_off_the_curve_are_refused() {
        let tokens = WebPushTokens::default();
        let mut off = [0u8; 65];
        off[0] = 4;
        off[1] = 1;
        assert_eq!(tokens.issue(&URL_SAFE_NO_PAD.encode(off)), Err(TokenIssue::BadKey));
        assert_eq!(tokens.issue("short"), Err(TokenIssue::BadKey));
    }
}

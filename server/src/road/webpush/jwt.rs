//! The `Authorization: vapid t=<JWT>, k=<key>` header of every Web Push request (RFC 8292):
//! an ES256 JWT with `aud` = the push service's origin, `exp` [`LIFETIME`] ahead and `sub`
//! from config, signed once and reused for every push until it is [`RENEW_AFTER`] old, so
//! an ECDSA signature costs nothing per push and a JWT is always far from its expiry.

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::HeaderValue;
use serde_json::json;

use super::identity::Identity;

/// How far ahead `exp` is set (RFC 8292 allows 24 h; half leaves room for clock skew).
pub const LIFETIME_SECS: u64 = 12 * 3600;
/// When a new JWT is signed: half its lifetime, so one in use always has hours left.
pub const RENEW_AFTER_SECS: u64 = LIFETIME_SECS / 2;

struct Signed {
    header: HeaderValue,
    renew_at: u64,
}

/// Signs the relay's VAPID JWT for one push service and hands out the header.
pub struct VapidSigner {
    identity: Arc<Identity>,
    aud: String,
    sub: String,
    current: RwLock<Option<Arc<Signed>>>,
}

impl VapidSigner {
    /// A signer for the push service at origin `aud` (`https://fcm.googleapis.com`), with
    /// `sub` the operator's contact.
    pub fn new(identity: Arc<Identity>, aud: String, sub: String) -> VapidSigner {
        VapidSigner { identity, aud, sub, current: RwLock::new(None) }
    }

    /// The `Authorization` header value for a request now (`now` in unix seconds).
    pub fn authorization(&self, now: u64) -> anyhow::Result<HeaderValue> {
        if let Some(s) = self.current.read().unwrap_or_else(|p| p.into_inner()).as_ref().filter(|s| now < s.renew_at) {
            return Ok(s.header.clone());
        }
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = current.as_ref().filter(|s| now < s.renew_at) {
            return Ok(s.header.clone());
        }
        let signed = Arc::new(self.sign(now)?);
        *current = Some(signed.clone());
        Ok(signed.header.clone())
    }

    fn sign(&self, now: u64) -> anyhow::Result<Signed> {
        let enc = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let input = format!(
            "{}.{}",
            enc(json!({"typ": "JWT", "alg": "ES256"})),
            enc(json!({"aud": self.aud, "exp": now + LIFETIME_SECS, "sub": self.sub}))
        );
        let signature = self.identity.sign(input.as_bytes())?;
        let value = format!("vapid t={input}.{}, k={}", URL_SAFE_NO_PAD.encode(signature), self.identity.public_key());
        let mut header = HeaderValue::try_from(value)?;
        // The JWT is the relay's credential with Google: never indexed by HPACK, never shown.
        header.set_sensitive(true);
        Ok(Signed { header, renew_at: now + RENEW_AFTER_SECS })
    }
}

#[cfg(test)]
mod tests {
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    use super::*;

    fn identity() -> Arc<Identity> {
        let der = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        Arc::new(Identity::from_pkcs8(der.as_ref()).unwrap())
    }

    #[test]
    fn signed_once_reused_then_renewed_well_before_expiry() {
        let id = identity();
        let signer = VapidSigner::new(id.clone(), "https://fcm.googleapis.com".into(), "mailto:ops@example.org".into());
        let t0 = 1_800_000_000;
        let first = signer.authorization(t0).unwrap();
        assert_eq!(signer.authorization(t0 + RENEW_AFTER_SECS - 1).unwrap(), first, "reused, not signed per push");
        let renewed = signer.authorization(t0 + RENEW_AFTER_SECS).unwrap();
        assert_ne!(renewed, first);

        let text = first.to_str().unwrap();
        let (t, k) = text.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(k, id.public_key());
        let (input, sig) = t.rsplit_once('.').unwrap();
        let public = URL_SAFE_NO_PAD.decode(k).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public)
            .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
            .expect("the JWT verifies with the published key");
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(input.split_once('.').unwrap().1).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://fcm.googleapis.com");
        assert_eq!(claims["sub"], "mailto:ops@example.org");
        assert_eq!(claims["exp"], t0 + LIFETIME_SECS);
        assert!(LIFETIME_SECS <= 24 * 3600);
    }
}

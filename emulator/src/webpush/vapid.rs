//! The VAPID check of Google's Web Push service (RFC 8292): `Authorization: vapid t=<JWT>,
//! k=<key>`, an ES256 JWT signed by `k`, `aud` = the service's origin, `exp` in the future
//! and at most 24 hours ahead.
//!
//! Verified JWTs are remembered until their `exp`: a sender reuses one JWT for many pushes,
//! and in the relay's benchmark the emulator's ECDSA verify per push would take its CPU from
//! the relay under test.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::http::{HeaderValue, StatusCode};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use serde::Deserialize;

use super::refusal::Refusal;

/// RFC 8292 §2: `exp` no more than 24 hours after the request.
pub const MAX_EXP_AHEAD_SECS: i64 = 24 * 3600;
/// Remembered JWTs at most; the map is cleared when full.
const CACHE_CAP: usize = 4096;

/// base64url, padded or not.
pub(crate) const B64URL_LENIENT: GeneralPurpose =
    GeneralPurpose::new(&alphabet::URL_SAFE, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct Claims {
    aud: Option<String>,
    exp: Option<i64>,
}

/// What a verified JWT said.
#[derive(Clone)]
struct Verified {
    key: [u8; 65],
    aud: String,
    exp: i64,
}

/// JWTs whose signature verified, by their text, with the key they were verified with.
#[derive(Default)]
pub(crate) struct VerifiedJwts(RwLock<HashMap<String, Verified>>);

fn invalid(text: &str) -> Refusal {
    Refusal::new(StatusCode::FORBIDDEN, "INVALID_VAPID", format!("{text}\n"))
}

/// The `t` and `k` parameters of a `vapid` Authorization header.
fn parameters(value: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("vapid") {
        return None;
    }
    let (mut t, mut k) = (None, None);
    for param in rest.split(',') {
        let (name, v) = param.trim().split_once('=')?;
        match name.trim() {
            "t" => t = Some(v.trim()),
            "k" => k = Some(v.trim()),
            _ => {}
        }
    }
    Some((t?, k?))
}

/// Check the VAPID `Authorization` header for a service at `origin`; the signing key on success.
pub(crate) fn verify(cache: &VerifiedJwts, auth: Option<&HeaderValue>, origin: Option<&str>) -> Result<[u8; 65], Refusal> {
    let Some(auth) = auth else {
        return Err(Refusal::new(StatusCode::UNAUTHORIZED, "MISSING_AUTHORIZATION", "authorization header must be specified.\n"));
    };
    let (t, k) = auth
        .to_str()
        .ok()
        .and_then(parameters)
        .ok_or_else(|| invalid("authorization header must be of the form: vapid t=<JWT>, k=<public key>"))?;
    // A remembered JWT counts only with the key it was verified with (looked up by its
    // text, without copying it: this runs on every push).
    let key_named = B64URL_LENIENT.decode(k).ok();
    let cached = cache.0.read().unwrap_or_else(|p| p.into_inner()).get(t).filter(|v| key_named.as_deref() == Some(&v.key[..])).cloned();
    let verified = match cached {
        Some(v) => v,
        None => {
            let v = verify_signature(t, k)?;
            let mut map = cache.0.write().unwrap_or_else(|p| p.into_inner());
            if map.len() >= CACHE_CAP {
                map.clear();
            }
            map.insert(t.to_owned(), v.clone());
            v
        }
    };
    let now = crate::time::unix_secs();
    if verified.exp <= now {
        return Err(invalid("exp claim has passed"));
    }
    if verified.exp > now + MAX_EXP_AHEAD_SECS {
        return Err(invalid("exp claim MUST NOT be more than 24 hours from the time of the request"));
    }
    if origin != Some(verified.aud.as_str()) {
        return Err(invalid("aud claim must be the origin of the push service"));
    }
    Ok(verified.key)
}

/// An ES256 JWT `t` signed by the uncompressed P-256 point `k`, with `aud` and `exp`.
fn verify_signature(t: &str, k: &str) -> Result<Verified, Refusal> {
    let key: [u8; 65] = B64URL_LENIENT
        .decode(k)
        .ok()
        .and_then(|b| b.try_into().ok())
        .filter(|b: &[u8; 65]| b[0] == 0x04)
        .ok_or_else(|| invalid("k must be an uncompressed P-256 public key in base64url"))?;
    let mut parts = t.split('.');
    let (Some(h64), Some(c64), Some(s64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid("invalid JWT provided"));
    };
    let header: Header =
        B64URL_LENIENT.decode(h64).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(|| invalid("invalid JWT provided"))?;
    if header.alg != "ES256" {
        return Err(invalid("JWT must be signed with ES256"));
    }
    let signature = B64URL_LENIENT.decode(s64).map_err(|_| invalid("invalid JWT provided"))?;
    let signing_input = &t[..h64.len() + 1 + c64.len()];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key[..])
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| invalid("invalid JWT signature"))?;
    let claims: Claims =
        B64URL_LENIENT.decode(c64).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(|| invalid("invalid JWT provided"))?;
    let aud = claims.aud.ok_or_else(|| invalid("aud claim is required"))?;
    let exp = claims.exp.ok_or_else(|| invalid("exp claim is required"))?;
    Ok(Verified { key, aud, exp })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_parameters() {
        assert_eq!(parameters("vapid t=a.b.c, k=BKey"), Some(("a.b.c", "BKey")));
        assert_eq!(parameters("vapid t=a.b.c,k=BKey"), Some(("a.b.c", "BKey")));
        assert_eq!(parameters("Vapid k=BKey, t=a.b.c, x=1"), Some(("a.b.c", "BKey")));
        assert_eq!(parameters("vapid t=a.b.c"), None);
        assert_eq!(parameters("WebPush a.b.c"), None);
        assert_eq!(parameters("Bearer x"), None);
    }
}

//! VAPID (RFC 8292) for endpoints restricted to an application server key, plus the
//! legacy draft form (`Authorization: WebPush <jwt>` with `Crypto-Key: p256ecdsa=<key>`).
//!
//! Signatures are checked with ring. Verified JWTs are remembered until their `exp`,
//! because real senders reuse one JWT for many pushes and an ECDSA verify costs far more
//! than the rest of the push path. What is remembered is a digest of key and JWT, not the
//! JWT, in a table bounded in bytes, and only for pushes the rate limit let through: a
//! sender minting a new JWT per push can neither grow the memory nor crowd out others.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::RwLock;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use http::{header, HeaderMap};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use serde::Deserialize;

/// base64url that accepts input with or without `=` padding (senders and subscriptions
/// differ); encodes without.
pub(crate) const B64URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// base64 with `+` and `/`, padded or not: some senders encode keys that way.
const B64STD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Clock skew allowed between a sender and us, seconds: a JWT whose `exp` passed less than
/// this long ago still counts, and one this much beyond the 24 h limit too.
const CLOCK_SKEW: u64 = 60;
/// RFC 8292 allows `exp` at most 24 h ahead; Mastodon sends exactly now + 24 h, so the
/// skew allowance also absorbs its transit time.
const MAX_EXP_AHEAD: u64 = 24 * 3600 + CLOCK_SKEW;
/// Longest JWT accepted, bytes. Real VAPID JWTs are 200–500 bytes (a 36-byte header, `aud`,
/// `exp` and a `mailto:` or https `sub`, a 64-byte signature, all in base64url); 2 KiB
/// leaves room for long subjects and extra claims while bounding what one push makes us
/// decode, hash and verify.
pub const MAX_JWT_LEN: usize = 2048;
/// JWTs one generation of the verified-JWT cache remembers: its table then never grows
/// past 32,768 buckets (hashbrown keeps at most 7/8 of them full).
const GENERATION_CAP: usize = 28_672;
/// What one bucket of the cache costs: digest, `exp` and the table's control byte.
const BUCKET_BYTES: usize = std::mem::size_of::<([u8; 32], u64)>() + 1;
/// The most the cache's two generations can take together, bytes (about 2.6 MiB).
#[cfg(test)]
const CACHE_MAX_BYTES: usize = 2 * (GENERATION_CAP * 8 / 7) * BUCKET_BYTES;

/// An uncompressed P-256 public key (65 bytes, leading 0x04): an application server key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VapidKey([u8; 65]);

impl VapidKey {
    /// Parse the base64 of an uncompressed P-256 point: base64url as RFC 8292 says
    /// (87 characters), or padded, or in the standard alphabet, as senders in the field do.
    pub fn parse(s: &str) -> Option<VapidKey> {
        let s = s.trim();
        if s.len() > 90 {
            return None;
        }
        let bytes = B64URL_LENIENT.decode(s).or_else(|_| B64STD_LENIENT.decode(s)).ok()?;
        let arr: [u8; 65] = bytes.try_into().ok()?;
        (arr[0] == 0x04).then_some(VapidKey(arr))
    }
    /// From the raw 65 bytes, as stored.
    pub fn from_bytes(bytes: &[u8]) -> Option<VapidKey> {
        let arr: [u8; 65] = bytes.try_into().ok()?;
        (arr[0] == 0x04).then_some(VapidKey(arr))
    }
    /// Whether the key is a point of the P-256 curve (65 bytes with the right prefix
    /// may still be none): ring checks the peer key of a key agreement fully, so an
    /// agreement with a throwaway key tells. Costs one ECDH; for registration, not pushes.
    pub fn is_on_curve(&self) -> bool {
        use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P256};
        let Ok(mine) = EphemeralPrivateKey::generate(&ECDH_P256, &ring::rand::SystemRandom::new()) else { return false };
        agree_ephemeral(mine, &UnparsedPublicKey::new(&ECDH_P256, &self.0[..]), |_| ()).is_ok()
    }
    /// The raw point.
    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }
    /// The 87-character base64url form.
    pub fn to_b64(&self) -> String {
        B64URL_LENIENT.encode(self.0)
    }
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VapidKey({})", crate::ids::Redacted(&self.to_b64()))
    }
}

/// Why a restricted endpoint refused a push.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VapidError {
    /// No VAPID credentials at all (401).
    #[error("this endpoint requires VAPID: send Authorization: vapid t=<jwt>, k=<key>")]
    Missing,
    /// The header or JWT cannot be parsed (403).
    #[error("malformed VAPID credentials: {0}")]
    Malformed(&'static str),
    /// `k` is not the key this endpoint was registered with (403).
    #[error("VAPID key does not match the key this endpoint is restricted to")]
    WrongKey,
    /// The JWT signature does not verify with `k` (403).
    #[error("VAPID JWT signature is invalid")]
    BadSignature,
    /// `aud` is not this push service's origin (403).
    #[error("VAPID JWT aud must be {0}")]
    WrongAudience(String),
    /// `exp` is in the past (403).
    #[error("VAPID JWT has expired")]
    Expired,
    /// `exp` is more than 24 h ahead (403).
    #[error("VAPID JWT exp is more than 24 hours ahead")]
    ExpTooFar,
}

impl VapidError {
    /// Metric label: missing credentials (401) and wrong ones (403) are told apart.
    pub fn label(&self) -> &'static str {
        match self {
            VapidError::Missing => "vapid_missing",
            _ => "vapid_invalid",
        }
    }
}

#[derive(Deserialize)]
struct JwtHeader {
    alg: String,
}

#[derive(Deserialize)]
struct JwtClaims {
    aud: Option<String>,
    exp: Option<serde_json::Number>,
}

/// The VAPID credentials a push presented, parsed once at the edge. They are judged only
/// when the endpoint is restricted to a key, so a malformed header on an open endpoint
/// costs the sender nothing.
#[derive(Clone, PartialEq, Eq)]
pub enum VapidClaim {
    /// No `vapid` or `WebPush` authorization at all.
    Absent,
    /// The header is there but cannot be read; why.
    Malformed(&'static str),
    /// A JWT and the key the sender says signed it (not verified yet).
    Present {
        /// The JWT text.
        jwt: String,
        /// The claimed application server key.
        key: VapidKey,
    },
}

/// Shows the JWT only as a prefix and its length: it is a bearer credential for the
/// endpoint until it expires, and the parsed push that carries it is `Debug` too.
impl std::fmt::Debug for VapidClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VapidClaim::Absent => f.write_str("Absent"),
            VapidClaim::Malformed(why) => f.debug_tuple("Malformed").field(why).finish(),
            VapidClaim::Present { jwt, key } => {
                f.debug_struct("Present").field("jwt", &format_args!("{}", crate::ids::Redacted(jwt))).field("key", key).finish()
            }
        }
    }
}

impl VapidClaim {
    /// Read `Authorization: vapid t=…, k=…` or the legacy `WebPush <jwt>` with
    /// `Crypto-Key: p256ecdsa=…`.
    pub fn from_headers(headers: &HeaderMap) -> VapidClaim {
        match credentials(headers) {
            Ok(Some((jwt, _))) if jwt.len() > MAX_JWT_LEN => VapidClaim::Malformed("VAPID JWT is longer than 2048 bytes"),
            Ok(Some((jwt, key))) => VapidClaim::Present { jwt: jwt.to_owned(), key },
            Ok(None) => VapidClaim::Absent,
            Err(why) => VapidClaim::Malformed(why),
        }
    }
}

/// Hashes a key that is already a SHA-256 digest: its first eight bytes are as good a
/// hash as any, and cost nothing to compute.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
}

/// SHA-256 of key and JWT → the JWT's `exp`.
type Generation = HashMap<[u8; 32], u64, BuildHasherDefault<DigestHasher>>;

/// The verified-JWT cache in two generations: new entries go into `young`; when it is
/// full, `young` becomes `old` (the previous `old` is dropped), and an entry found in
/// `old` moves back to `young`. JWTs in use survive a flood of one-off ones.
#[derive(Default)]
struct Verified {
    young: Generation,
    old: Generation,
}

impl Verified {
    fn get(&self, digest: &[u8; 32]) -> Option<u64> {
        self.young.get(digest).or_else(|| self.old.get(digest)).copied()
    }
    fn insert(&mut self, digest: [u8; 32], exp: u64) {
        if self.young.len() >= GENERATION_CAP {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(digest, exp);
    }
    /// Bytes the two tables hold (their buckets, full or not).
    fn bytes(&self) -> usize {
        [&self.young, &self.old].iter().map(|g| if g.capacity() == 0 { 0 } else { g.capacity() * 8 / 7 * BUCKET_BYTES }).sum()
    }
}

/// A JWT that verified but is not remembered yet: [`VapidVerifier::remember`] it once
/// the push it came with was admitted.
#[derive(Debug)]
pub struct NewlyVerified {
    digest: [u8; 32],
    exp: u64,
}

/// Checks VAPID credentials against this service's origin.
pub struct VapidVerifier {
    audience: String,
    verified: RwLock<Verified>,
}

impl VapidVerifier {
    /// `public_base` is the endpoint base URL; `aud` must be its origin.
    pub fn new(public_base: &str) -> VapidVerifier {
        let audience = match url::Url::parse(public_base) {
            Ok(u) => u.origin().ascii_serialization(),
            Err(_) => public_base.trim_end_matches('/').to_string(),
        };
        VapidVerifier { audience, verified: RwLock::new(Verified::default()) }
    }

    /// Verify a push's credentials for an endpoint restricted to `expected`. A JWT seen
    /// before costs a digest and a lookup; a new one is verified and handed back, to be
    /// remembered only if the push is admitted.
    pub fn verify(&self, claim: &VapidClaim, expected: &VapidKey, now: u64) -> Result<Option<NewlyVerified>, VapidError> {
        let (jwt, key) = match claim {
            VapidClaim::Absent => return Err(VapidError::Missing),
            VapidClaim::Malformed(why) => return Err(VapidError::Malformed(why)),
            VapidClaim::Present { jwt, key } => (jwt.as_str(), key),
        };
        if key != expected {
            return Err(VapidError::WrongKey);
        }
        // The key is part of the digest: a JWT remembered for one key says nothing for another.
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(key.as_bytes());
        ctx.update(jwt.as_bytes());
        let digest: [u8; 32] = ctx.finish().as_ref().try_into().expect("SHA-256 is 32 bytes");
        if let Some(exp) = self.verified.read().unwrap().get(&digest) {
            return if now < exp + CLOCK_SKEW { Ok(None) } else { Err(VapidError::Expired) };
        }
        let exp = self.verify_jwt(jwt, key, now)?;
        Ok(Some(NewlyVerified { digest, exp }))
    }

    /// Remember a verified JWT (its push was admitted), so its next use skips the
    /// signature check.
    pub fn remember(&self, verified: NewlyVerified) {
        let mut cache = self.verified.write().unwrap();
        cache.insert(verified.digest, verified.exp);
        metrics::gauge!(crate::metrics::VAPID_CACHE_BYTES).set(cache.bytes() as f64);
        metrics::gauge!(crate::metrics::VAPID_CACHE_ENTRIES).set((cache.young.len() + cache.old.len()) as f64);
    }

    fn verify_jwt(&self, jwt: &str, key: &VapidKey, now: u64) -> Result<u64, VapidError> {
        let mut parts = jwt.split('.');
        let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(VapidError::Malformed("JWT must have three parts"));
        };
        let header: JwtHeader = decode_json(h).ok_or(VapidError::Malformed("JWT header is not base64url JSON"))?;
        if header.alg != "ES256" {
            return Err(VapidError::Malformed("JWT alg must be ES256"));
        }
        let sig = B64URL_LENIENT.decode(s).map_err(|_| VapidError::Malformed("JWT signature is not base64url"))?;
        let signing_input = &jwt[..h.len() + 1 + c.len()];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.as_bytes())
            .verify(signing_input.as_bytes(), &sig)
            .map_err(|_| VapidError::BadSignature)?;
        let claims: JwtClaims = decode_json(c).ok_or(VapidError::Malformed("JWT claims are not base64url JSON"))?;
        let aud = claims.aud.ok_or(VapidError::WrongAudience(self.audience.clone()))?;
        // Compare origins, not strings: `https://X:443` and `https://x` are the same origin.
        let same_origin = url::Url::parse(&aud).is_ok_and(|u| u.origin().ascii_serialization() == self.audience);
        if !same_origin {
            return Err(VapidError::WrongAudience(self.audience.clone()));
        }
        let exp = claims
            .exp
            .and_then(|n| n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)))
            .ok_or(VapidError::Malformed("JWT exp must be a number"))?;
        if exp + CLOCK_SKEW <= now {
            return Err(VapidError::Expired);
        }
        if exp > now + MAX_EXP_AHEAD {
            return Err(VapidError::ExpTooFar);
        }
        Ok(exp)
    }
}

fn decode_json<T: for<'de> Deserialize<'de>>(segment: &str) -> Option<T> {
    let bytes = B64URL_LENIENT.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `name=value` parameters of an auth scheme, in any order and with any spacing:
/// `t=…, k=…` as RFC 8292 writes it, `t=…,k=…` as common-proxies does, `k = …  t = …`.
/// Values are a JWT and base64, which hold neither commas nor white space.
fn auth_params(rest: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut words = rest.split([',', ' ', '\t']).filter(|w| !w.is_empty()).peekable();
    std::iter::from_fn(move || loop {
        let word = words.next()?;
        // `name=value`, `name= value`, `name =value` or `name = value`
        let (name, value) = match word.split_once('=') {
            Some((name, "")) => (name, words.next().unwrap_or("")),
            Some((name, value)) => (name, value),
            None if words.peek().is_some_and(|w| w.starts_with('=')) => {
                let next = words.next().unwrap_or("=");
                match &next[1..] {
                    "" => (word, words.next().unwrap_or("")),
                    value => (word, value),
                }
            }
            None => continue,
        };
        return Some((name, value.trim_matches('"')));
    })
}

/// (jwt, key) from either header form; `None` when the request carries neither.
fn credentials(headers: &HeaderMap) -> Result<Option<(&str, VapidKey)>, &'static str> {
    let auth = match headers.get(header::AUTHORIZATION) {
        None => return Ok(None),
        Some(v) => v.to_str().map_err(|_| "Authorization is not ASCII")?.trim(),
    };
    let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
    if scheme.eq_ignore_ascii_case("vapid") {
        let mut t = None;
        let mut k = None;
        for (name, value) in auth_params(rest) {
            match name.to_ascii_lowercase().as_str() {
                "t" => t = Some(value),
                "k" => k = Some(value),
                _ => {} // RFC 8292: unknown parameters are ignored.
            }
        }
        let t = t.filter(|t| !t.is_empty()).ok_or("vapid t= is missing")?;
        let k = k.ok_or("vapid k= is missing")?;
        let key = VapidKey::parse(k).ok_or("vapid k= is not an uncompressed P-256 key")?;
        Ok(Some((t, key)))
    } else if scheme.eq_ignore_ascii_case("webpush") {
        let jwt = rest.trim();
        if jwt.is_empty() {
            return Err("WebPush JWT is missing");
        }
        let crypto_key = headers
            .get_all("crypto-key")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split([';', ',']))
            .find_map(|p| p.trim().strip_prefix("p256ecdsa="))
            .ok_or("Crypto-Key: p256ecdsa= is missing")?;
        let key = VapidKey::parse(crypto_key.trim_matches('"')).ok_or("p256ecdsa is not an uncompressed P-256 key")?;
        Ok(Some((jwt, key)))
    } else {
        // Another scheme (Bearer, Basic…) is not VAPID: as if there were none.
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    struct Signer {
        pair: EcdsaKeyPair,
    }

    impl Signer {
        fn new() -> Signer {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            Signer { pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap() }
        }
        fn key(&self) -> VapidKey {
            VapidKey::from_bytes(self.pair.public_key().as_ref()).unwrap()
        }
        fn jwt(&self, claims: &str) -> String {
            let h = B64URL_LENIENT.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
            let c = B64URL_LENIENT.encode(claims.as_bytes());
            let input = format!("{h}.{c}");
            let sig = self.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
            format!("{input}.{}", B64URL_LENIENT.encode(sig.as_ref()))
        }
    }

    const NOW: u64 = 1_700_000_000;

    /// What a push with `headers` gets from `v` (the edge parses, the relay verifies and,
    /// the push admitted, remembers).
    fn verify(v: &VapidVerifier, headers: &HeaderMap, key: &VapidKey, now: u64) -> Result<(), VapidError> {
        if let Some(new) = v.verify(&VapidClaim::from_headers(headers), key, now)? {
            v.remember(new);
        }
        Ok(())
    }

    fn cached(v: &VapidVerifier) -> usize {
        let c = v.verified.read().unwrap();
        c.young.len() + c.old.len()
    }

    fn vapid_headers(jwt: &str, key: &VapidKey) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(&format!("vapid t={jwt}, k={}", key.to_b64())).unwrap());
        h
    }

    #[test]
    fn debug_of_a_claim_hides_the_jwt() {
        let signer = Signer::new();
        let jwt = signer.jwt(r#"{"aud":"https://relay.example","exp":1700000100}"#);
        let claim = VapidClaim::from_headers(&vapid_headers(&jwt, &signer.key()));
        assert!(matches!(claim, VapidClaim::Present { .. }), "{claim:?}");
        let shown = format!("{claim:?} {claim:#?}");
        assert!(shown.contains("Present"), "{shown}");
        // Neither the signature nor the claims part appears.
        let (head, sig) = jwt.rsplit_once('.').unwrap();
        assert!(!shown.contains(sig) && !shown.contains(head.split_once('.').unwrap().1), "{shown}");
        assert_eq!(format!("{:?}", VapidClaim::Absent), "Absent");
    }

    fn claims(aud: &str, exp: u64) -> String {
        format!(r#"{{"aud":"{aud}","exp":{exp},"sub":"mailto:a@example.org"}}"#)
    }

    #[test]
    fn valid_vapid_passes_and_is_cached() {
        let s = Signer::new();
        let v = VapidVerifier::new("https://push.example.org/");
        let jwt = s.jwt(&claims("https://push.example.org", NOW + 3600));
        assert_eq!(verify(&v, &vapid_headers(&jwt, &s.key()), &s.key(), NOW), Ok(()));
        assert_eq!(cached(&v), 1);
        assert_eq!(verify(&v, &vapid_headers(&jwt, &s.key()), &s.key(), NOW + 1), Ok(()));
        // A cached JWT still expires (after the minute of clock skew allowed).
        assert_eq!(verify(&v, &vapid_headers(&jwt, &s.key()), &s.key(), NOW + 3600 + 59), Ok(()));
        assert_eq!(verify(&v, &vapid_headers(&jwt, &s.key()), &s.key(), NOW + 3600 + 60), Err(VapidError::Expired));
    }

    #[test]
    fn missing_and_foreign_schemes_are_401() {
        let s = Signer::new();
        let v = VapidVerifier::new("https://push.example.org");
        assert_eq!(verify(&v, &HeaderMap::new(), &s.key(), NOW), Err(VapidError::Missing));
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        let err = verify(&v, &h, &s.key(), NOW).unwrap_err();
        assert_eq!(err, VapidError::Missing);
        assert_eq!(err.label(), "vapid_missing");
    }

    #[test]
    fn invalid_credentials_are_403() {
        let s = Signer::new();
        let other = Signer::new();
        let v = VapidVerifier::new("https://push.example.org");
        let good = claims("https://push.example.org", NOW + 60);
        let cases: Vec<(HeaderMap, VapidError)> = vec![
            (vapid_headers(&other.jwt(&good), &other.key()), VapidError::WrongKey),
            (vapid_headers(&other.jwt(&good), &s.key()), VapidError::BadSignature),
            (
                vapid_headers(&s.jwt(&claims("https://evil.example", NOW + 60)), &s.key()),
                VapidError::WrongAudience("https://push.example.org".into()),
            ),
            (vapid_headers(&s.jwt(&claims("https://push.example.org", NOW - 61)), &s.key()), VapidError::Expired),
            (vapid_headers(&s.jwt(&claims("https://push.example.org", NOW + 90_000)), &s.key()), VapidError::ExpTooFar),
            (vapid_headers("a.b", &s.key()), VapidError::Malformed("JWT must have three parts")),
        ];
        for (headers, want) in cases {
            let got = verify(&v, &headers, &s.key(), NOW).unwrap_err();
            assert_eq!(got, want);
            assert_eq!(got.label(), "vapid_invalid");
        }
    }

    #[test]
    fn aud_is_compared_as_an_origin() {
        let s = Signer::new();
        let v = VapidVerifier::new("https://push.example.org:443/");
        for aud in ["https://push.example.org", "https://push.example.org:443", "https://PUSH.example.org/", "https://push.example.org/x"] {
            let jwt = s.jwt(&claims(aud, NOW + 60));
            assert_eq!(verify(&v, &vapid_headers(&jwt, &s.key()), &s.key(), NOW), Ok(()), "{aud}");
        }
        for aud in ["http://push.example.org", "https://push.example.org:8443", "https://example.org", "push.example.org"] {
            let jwt = s.jwt(&claims(aud, NOW + 60));
            assert!(matches!(verify(&v, &vapid_headers(&jwt, &s.key()), &s.key(), NOW), Err(VapidError::WrongAudience(_))), "{aud}");
        }
    }

    #[test]
    fn tampered_claims_fail_the_signature() {
        let s = Signer::new();
        let v = VapidVerifier::new("https://push.example.org");
        let jwt = s.jwt(&claims("https://push.example.org", NOW + 60));
        let parts: Vec<&str> = jwt.split('.').collect();
        let forged = B64URL_LENIENT.encode(claims("https://push.example.org", NOW + 70).as_bytes());
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert_eq!(verify(&v, &vapid_headers(&tampered, &s.key()), &s.key(), NOW), Err(VapidError::BadSignature));
    }

    #[test]
    fn legacy_webpush_form() {
        let s = Signer::new();
        let v = VapidVerifier::new("https://push.example.org");
        let jwt = s.jwt(&claims("https://push.example.org", NOW + 86_400));
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(&format!("WebPush {jwt}")).unwrap());
        h.insert("crypto-key", HeaderValue::from_str(&format!("dh=BAAA;p256ecdsa={}", s.key().to_b64())).unwrap());
        assert_eq!(verify(&v, &h, &s.key(), NOW), Ok(()));
        h.remove("crypto-key");
        assert!(matches!(verify(&v, &h, &s.key(), NOW), Err(VapidError::Malformed(_))));
    }

    #[test]
    fn key_parsing() {
        let s = Signer::new();
        let b64 = s.key().to_b64();
        assert_eq!(b64.len(), 87);
        assert_eq!(VapidKey::parse(&b64), Some(s.key()));
        assert_eq!(VapidKey::parse(&format!("{b64}=")), Some(s.key()));
        assert!(VapidKey::parse(&b64[1..]).is_none());
        assert!(VapidKey::parse("not base64!").is_none());
    }

    fn with_authorization(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn lenient_but_correct_senders_pass() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let s = Signer::new();
        let v = VapidVerifier::new("https://push.example.org");
        // No `sub` claim.
        let jwt = s.jwt(r#"{"aud":"https://push.example.org","exp":1700003600}"#);
        let url = s.key().to_b64();
        let padded = URL_SAFE.encode(s.key().as_bytes());
        let standard = STANDARD.encode(s.key().as_bytes());
        assert!(standard.contains(['+', '/']) || padded.ends_with('='), "the key forms must differ");
        for auth in [
            format!("vapid t={jwt}, k={url}"),
            format!("vapid t={jwt},k={url}"),
            format!("vapid k={url}, t={jwt}"),
            format!("VAPID  t = {jwt} ,  k= {padded}"),
            format!("vapid k ={standard}\tt={jwt}"),
            format!("vapid t=\"{jwt}\", k=\"{url}\""),
        ] {
            assert_eq!(verify(&v, &with_authorization(&auth), &s.key(), NOW), Ok(()), "{auth}");
        }
    }

    #[test]
    fn clock_skew_of_a_minute_is_allowed_on_exp() {
        let s = Signer::new();
        let v = VapidVerifier::new("https://push.example.org");
        let expired_30s_ago = s.jwt(&claims("https://push.example.org", NOW - 30));
        assert_eq!(verify(&v, &vapid_headers(&expired_30s_ago, &s.key()), &s.key(), NOW), Ok(()));
        let expired_61s_ago = s.jwt(&claims("https://push.example.org", NOW - 61));
        assert_eq!(verify(&v, &vapid_headers(&expired_61s_ago, &s.key()), &s.key(), NOW), Err(VapidError::Expired));
        let mastodon = s.jwt(&claims("https://push.example.org", NOW + 24 * 3600 + 30));
        assert_eq!(verify(&v, &vapid_headers(&mastodon, &s.key()), &s.key(), NOW), Ok(()));
        let too_far = s.jwt(&claims("https://push.example.org", NOW + 24 * 3600 + 61));
        assert_eq!(verify(&v, &vapid_headers(&too_far, &s.key()), &s.key(), NOW), Err(VapidError::ExpTooFar));
    }

    #[test]
    fn leniency_does_not_accept_wrong_algorithms() {
        let s = Signer::new();
        let v = VapidVerifier::new("https://push.example.org");
        let h = B64URL_LENIENT.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
        let c = B64URL_LENIENT.encode(claims("https://push.example.org", NOW + 60).as_bytes());
        let input = format!("{h}.{c}");
        let sig = s.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        let jwt = format!("{input}.{}", B64URL_LENIENT.encode(sig.as_ref()));
        assert_eq!(verify(&v, &vapid_headers(&jwt, &s.key()), &s.key(), NOW), Err(VapidError::Malformed("JWT alg must be ES256")));
    }

    #[test]
    fn a_jwt_is_remembered_only_when_told_and_only_for_its_key() {
        let s = Signer::new();
        let v = VapidVerifier::new("https://push.example.org");
        let jwt = s.jwt(&claims("https://push.example.org", NOW + 3600));
        let claim = VapidClaim::from_headers(&vapid_headers(&jwt, &s.key()));
        // Verified but not admitted: nothing kept, and the next use verifies again.
        assert!(v.verify(&claim, &s.key(), NOW).unwrap().is_some());
        assert!(v.verify(&claim, &s.key(), NOW).unwrap().is_some());
        assert_eq!(cached(&v), 0);
        v.remember(v.verify(&claim, &s.key(), NOW).unwrap().unwrap());
        assert!(v.verify(&claim, &s.key(), NOW).unwrap().is_none());
        assert_eq!(cached(&v), 1);
    }

    #[test]
    fn long_jwts_are_refused_before_any_work() {
        let s = Signer::new();
        let v = VapidVerifier::new("https://push.example.org");
        let pad = "x".repeat(MAX_JWT_LEN);
        let jwt = s.jwt(&format!(r#"{{"aud":"https://push.example.org","exp":{},"sub":"mailto:{pad}@example.org"}}"#, NOW + 60));
        let claim = VapidClaim::from_headers(&vapid_headers(&jwt, &s.key()));
        assert_eq!(claim, VapidClaim::Malformed("VAPID JWT is longer than 2048 bytes"));
        assert_eq!(verify(&v, &vapid_headers(&jwt, &s.key()), &s.key(), NOW).unwrap_err().label(), "vapid_invalid");
        // A real-sized one is fine.
        let real = s.jwt(&claims("https://push.example.org", NOW + 60));
        assert!(real.len() < 400, "{}", real.len());
        assert_eq!(verify(&v, &vapid_headers(&real, &s.key()), &s.key(), NOW), Ok(()));
    }

    #[test]
    fn the_cache_is_bounded_in_bytes_and_keeps_jwts_in_use() {
        let v = VapidVerifier::new("https://push.example.org");
        let in_use = [7u8; 32];
        v.remember(NewlyVerified { digest: in_use, exp: NOW + 60 });
        for i in 0..(3 * GENERATION_CAP) as u32 {
            let mut digest = [0u8; 32];
            digest[..4].copy_from_slice(&i.to_le_bytes());
            digest[4] = 1;
            v.remember(NewlyVerified { digest, exp: NOW + 60 });
            if i % 1000 == 0 {
                // The JWT in use comes back now and then, and is moved forward.
                let mut c = v.verified.write().unwrap();
                if let Some(exp) = c.get(&in_use) {
                    c.insert(in_use, exp);
                }
            }
        }
        let c = v.verified.read().unwrap();
        assert!(c.young.len() + c.old.len() <= 2 * GENERATION_CAP);
        assert!(c.bytes() <= CACHE_MAX_BYTES, "{} > {CACHE_MAX_BYTES}", c.bytes());
        assert!(c.bytes() > CACHE_MAX_BYTES / 2, "{}", c.bytes());
        assert!(c.get(&in_use).is_some());
    }
}

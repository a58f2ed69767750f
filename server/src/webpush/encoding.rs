//! `Content-Encoding` of a push body. RFC 8291's `aes128gcm` carries everything the app
//! needs inside the body; the draft `aesgcm` that Mastodon before 4.4 still sends keeps
//! its salt and key in the `Encryption` and `Crypto-Key` headers, which must therefore
//! travel to the phone with the body, in the convention UnifiedPush apps already decode:
//! `"aesgcm\nEncryption: <value>\nCrypto-Key: <value>\n"` followed by the raw body.

use http::{HeaderMap, HeaderName};

use super::headers::HeaderError;

static CONTENT_ENCODING: HeaderName = HeaderName::from_static("content-encoding");
static ENCRYPTION: HeaderName = HeaderName::from_static("encryption");
static CRYPTO_KEY: HeaderName = HeaderName::from_static("crypto-key");

/// How a push body is encoded, as far as the relay cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// RFC 8291 (the standard).
    Aes128gcm,
    /// The draft encoding with its parameters in headers.
    Aesgcm,
    /// Anything else, or none (e.g. a Matrix gateway's plaintext JSON).
    Other,
}

impl Encoding {
    /// The request's `Content-Encoding` (tokens are case-insensitive, RFC 9110 §8.4).
    pub fn of(headers: &HeaderMap) -> Encoding {
        match headers.get(&CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("aes128gcm") => Encoding::Aes128gcm,
            Some(v) if v.eq_ignore_ascii_case("aesgcm") => Encoding::Aesgcm,
            _ => Encoding::Other,
        }
    }

    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Encoding::Aes128gcm => "aes128gcm",
            Encoding::Aesgcm => "aesgcm",
            Encoding::Other => "other",
        }
    }
}

/// Longest `aesgcm` prefix, bytes. A real one is 150–300 bytes (a 16-byte salt, a 65-byte
/// key, perhaps `keyid` and `rs`); 1 KiB more than covers them, and a 4096-byte body behind
/// it still fits the two parts a message may be split into on every road (two FCM data
/// maps of 4096 bytes with the base64 and a 128-byte instance name; two Web Push frames).
pub const MAX_AESGCM_PREFIX: usize = 1024;

/// The bytes an `aesgcm` body is delivered behind: its `Encryption` header and its
/// `Crypto-Key` header without `p256ecdsa` (the sender's VAPID key is for us, never for
/// the phone, RFC 8292 §3.2). Refused when the salt or the sender's ECDH key is missing:
/// the app could never decrypt such a message; and when the prefix is longer than
/// [`MAX_AESGCM_PREFIX`]: the message could not reach the phone.
pub fn aesgcm_prefix(headers: &HeaderMap) -> Result<Vec<u8>, HeaderError> {
    // Checked before anything is joined or copied.
    let raw: usize = [&ENCRYPTION, &CRYPTO_KEY].iter().flat_map(|n| headers.get_all(*n)).map(|v| v.len() + 1).sum();
    if raw > MAX_AESGCM_PREFIX {
        return Err(HeaderError::AesgcmTooLong(MAX_AESGCM_PREFIX));
    }
    let encryption = joined(headers, &ENCRYPTION).ok_or(HeaderError::Encryption)?;
    if !has_param(&encryption, "salt") {
        return Err(HeaderError::Encryption);
    }
    let crypto_key = joined(headers, &CRYPTO_KEY).ok_or(HeaderError::CryptoKey)?;
    if !has_param(&crypto_key, "dh") {
        return Err(HeaderError::CryptoKey);
    }
    let for_device: Vec<&str> = params(&crypto_key).filter(|p| !param_is(p, "p256ecdsa")).collect();
    let prefix = format!("aesgcm\nEncryption: {encryption}\nCrypto-Key: {}\n", for_device.join(";")).into_bytes();
    if prefix.len() > MAX_AESGCM_PREFIX {
        return Err(HeaderError::AesgcmTooLong(MAX_AESGCM_PREFIX));
    }
    Ok(prefix)
}

/// Every value of header `name`, comma-joined as RFC 9110 allows; `None` when absent
/// or not text.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let values: Option<Vec<&str>> = headers.get_all(name).iter().map(|v| v.to_str().ok().map(str::trim)).collect();
    values.filter(|v| !v.is_empty()).map(|v| v.join(","))
}

/// The `name=value` parameters of a header, whatever the separators (`;` between the
/// parameters of one key, `,` between keys).
fn params(value: &str) -> impl Iterator<Item = &str> {
    value.split([';', ',']).map(str::trim).filter(|p| !p.is_empty())
}

fn param_is(param: &str, name: &str) -> bool {
    param.split_once('=').is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
}

fn has_param(value: &str, name: &str) -> bool {
    params(value).any(|p| param_is(p, name) && p.split_once('=').is_some_and(|(_, v)| !v.trim().trim_matches('"').is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn encodings_are_recognised_case_insensitively() {
        assert_eq!(Encoding::of(&headers(&[("Content-Encoding", "aes128gcm")])), Encoding::Aes128gcm);
        assert_eq!(Encoding::of(&headers(&[("Content-Encoding", " AESGCM ")])), Encoding::Aesgcm);
        assert_eq!(Encoding::of(&headers(&[("Content-Encoding", "gzip")])), Encoding::Other);
        assert_eq!(Encoding::of(&HeaderMap::new()), Encoding::Other);
    }

    #[test]
    fn mastodons_headers_become_the_prefix_without_the_vapid_key() {
        let h = headers(&[("Encryption", "salt=c2FsdHNhbHRzYWx0c2FsdA"), ("Crypto-Key", "dh=BPubKey123;p256ecdsa=BVapidKey456")]);
        let prefix = String::from_utf8(aesgcm_prefix(&h).unwrap()).unwrap();
        assert_eq!(prefix, "aesgcm\nEncryption: salt=c2FsdHNhbHRzYWx0c2FsdA\nCrypto-Key: dh=BPubKey123\n");
        // The key may come first, in another header, or comma-separated.
        let h = headers(&[("Encryption", "salt=abc"), ("Crypto-Key", "p256ecdsa=BV"), ("Crypto-Key", "dh=BD")]);
        assert_eq!(String::from_utf8(aesgcm_prefix(&h).unwrap()).unwrap(), "aesgcm\nEncryption: salt=abc\nCrypto-Key: dh=BD\n");
    }

    #[test]
    fn missing_salt_or_dh_is_refused() {
        for (pairs, want) in [
            (vec![("Crypto-Key", "dh=BD")], HeaderError::Encryption),
            (vec![("Encryption", "rs=4096"), ("Crypto-Key", "dh=BD")], HeaderError::Encryption),
            (vec![("Encryption", "salt="), ("Crypto-Key", "dh=BD")], HeaderError::Encryption),
            (vec![("Encryption", "salt=abc")], HeaderError::CryptoKey),
            (vec![("Encryption", "salt=abc"), ("Crypto-Key", "p256ecdsa=BV")], HeaderError::CryptoKey),
        ] {
            assert_eq!(aesgcm_prefix(&headers(&pairs)), Err(want), "{pairs:?}");
        }
    }

    #[test]
    fn parameters_too_long_to_travel_are_refused() {
        let pad = "x".repeat(10_000);
        let encryption = format!("salt=abc;pad={pad}");
        let h = headers(&[("encryption", encryption.as_str()), ("crypto-key", "dh=BAAA")]);
        assert_eq!(aesgcm_prefix(&h), Err(HeaderError::AesgcmTooLong(MAX_AESGCM_PREFIX)));
        // Many short values add up too.
        let mut h = headers(&[("encryption", "salt=abc")]);
        for _ in 0..200 {
            h.append("crypto-key", HeaderValue::from_static("dh=BAAA;keyid=p256dh"));
        }
        assert_eq!(aesgcm_prefix(&h), Err(HeaderError::AesgcmTooLong(MAX_AESGCM_PREFIX)));
        // A real one passes.
        let salt = "x".repeat(22);
        let dh = format!("dh={}", "B".repeat(87));
        let h = headers(&[("encryption", &format!("salt={salt}")), ("crypto-key", &format!("{dh};p256ecdsa={}", "B".repeat(87)))]);
        assert!(aesgcm_prefix(&h).unwrap().len() < 300);
    }
}

//! `TTL`, `Urgency` and `Topic` (RFC 8030 §5.2–5.4).

use std::fmt;
use std::str::FromStr;

use http::{HeaderMap, HeaderName};
use serde::{Deserialize, Serialize};

/// A malformed Web Push header: always the sender's fault, always 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// TTL is not delta-seconds, or appears twice.
    #[error("TTL must be a single non-negative integer number of seconds")]
    Ttl,
    /// Urgency is not one of the four RFC 8030 values, or appears twice.
    #[error("Urgency must be one of very-low, low, normal, high")]
    Urgency,
    /// Topic is longer than 32 characters or leaves the base64url alphabet.
    #[error("Topic must be 1 to 32 characters of the base64url alphabet")]
    Topic,
    /// An `aesgcm` push without `Encryption: salt=…`.
    #[error("Content-Encoding aesgcm needs an Encryption header with salt=")]
    Encryption,
    /// An `aesgcm` push without `Crypto-Key: dh=…`.
    #[error("Content-Encoding aesgcm needs a Crypto-Key header with dh=")]
    CryptoKey,
    /// `aesgcm` parameters too long to travel with the body.
    #[error("the Encryption and Crypto-Key headers of an aesgcm push must be at most {0} bytes together")]
    AesgcmTooLong(usize),
}

impl HeaderError {
    /// Metric label.
    pub fn label(&self) -> &'static str {
        match self {
            HeaderError::Ttl => "bad_ttl",
            HeaderError::Urgency => "bad_urgency",
            HeaderError::Topic => "bad_topic",
            HeaderError::Encryption => "bad_encryption",
            HeaderError::CryptoKey => "bad_crypto_key",
            HeaderError::AesgcmTooLong(_) => "aesgcm_headers_too_long",
        }
    }
}

/// Time to live in seconds, already clamped to what the relay can honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ttl(u32);

impl Ttl {
    /// A TTL of `secs`, at most `max`.
    pub fn clamped(secs: u64, max: u32) -> Ttl {
        Ttl(secs.min(max as u64) as u32)
    }
    /// Seconds.
    pub fn secs(self) -> u32 {
        self.0
    }
}

/// RFC 8030 §5.3 urgency, ordered from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    /// Only on power and Wi-Fi.
    VeryLow = 0,
    /// On power or Wi-Fi.
    Low = 1,
    /// Always (the default).
    #[default]
    Normal = 2,
    /// Even on low battery.
    High = 3,
}

impl Urgency {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

impl FromStr for Urgency {
    type Err = HeaderError;
    fn from_str(s: &str) -> Result<Self, HeaderError> {
        // The RFC defines lowercase tokens; senders in the wild vary in case.
        match s.trim().to_ascii_lowercase().as_str() {
            "very-low" => Ok(Urgency::VeryLow),
            "low" => Ok(Urgency::Low),
            "normal" => Ok(Urgency::Normal),
            "high" => Ok(Urgency::High),
            _ => Err(HeaderError::Urgency),
        }
    }
}

impl fmt::Display for Urgency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message topic: replaces an undelivered message with the same topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic(String);

impl Topic {
    /// Accept 1–32 base64url characters.
    pub fn parse(s: &str) -> Result<Topic, HeaderError> {
        let ok = !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Topic(s.to_owned()))
        } else {
            Err(HeaderError::Topic)
        }
    }
    /// The topic text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The validated Web Push headers of one push request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushHeaders {
    /// TTL actually used (after default and clamping).
    pub ttl: Ttl,
    /// Urgency (normal when absent).
    pub urgency: Urgency,
    /// Topic, if any.
    pub topic: Option<Topic>,
}

static TTL: HeaderName = HeaderName::from_static("ttl");
static URGENCY: HeaderName = HeaderName::from_static("urgency");
static TOPIC: HeaderName = HeaderName::from_static("topic");

/// The single value of header `name`, or an error if it is repeated or not text.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName, err: HeaderError) -> Result<Option<&'a str>, HeaderError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(err);
    }
    first.to_str().map(|s| Some(s.trim())).map_err(|_| err)
}

impl PushHeaders {
    /// Parse `TTL`, `Urgency` and `Topic`. A missing TTL becomes `default_ttl`
    /// (RFC 8030 wants a 400, but real senders omit it and the design prefers delivery).
    pub fn parse(headers: &HeaderMap, default_ttl: u32, max_ttl: u32) -> Result<PushHeaders, HeaderError> {
        let ttl = match single(headers, &TTL, HeaderError::Ttl)? {
            None => Ttl::clamped(default_ttl as u64, max_ttl),
            Some(v) => Ttl::clamped(parse_delta_seconds(v)?, max_ttl),
        };
        let urgency = match single(headers, &URGENCY, HeaderError::Urgency)? {
            None => Urgency::Normal,
            Some(v) => v.parse()?,
        };
        let topic = single(headers, &TOPIC, HeaderError::Topic)?.map(Topic::parse).transpose()?;
        Ok(PushHeaders { ttl, urgency, topic })
    }
}

/// RFC 9111 delta-seconds: digits only; values too large to represent saturate.
fn parse_delta_seconds(v: &str) -> Result<u64, HeaderError> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderError::Ttl);
    }
    Ok(v.parse::<u64>().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn parse(pairs: &[(&str, &str)]) -> Result<PushHeaders, HeaderError> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        PushHeaders::parse(&h, 86_400, 2_419_200)
    }

    #[test]
    fn defaults() {
        let p = parse(&[]).unwrap();
        assert_eq!(p.ttl.secs(), 86_400);
        assert_eq!(p.urgency, Urgency::Normal);
        assert_eq!(p.topic, None);
    }

    #[test]
    fn ttl_values() {
        assert_eq!(parse(&[("TTL", "0")]).unwrap().ttl.secs(), 0);
        assert_eq!(parse(&[("TTL", " 60 ")]).unwrap().ttl.secs(), 60);
        assert_eq!(parse(&[("TTL", "99999999999999999999999")]).unwrap().ttl.secs(), 2_419_200);
        for bad in ["", "-1", "1.5", "abc", "0x10", "+5", "1 2"] {
            assert_eq!(parse(&[("TTL", bad)]), Err(HeaderError::Ttl), "{bad:?}");
        }
        assert_eq!(parse(&[("TTL", "1"), ("TTL", "2")]), Err(HeaderError::Ttl));
    }

    #[test]
    fn urgency_values() {
        assert_eq!(parse(&[("Urgency", "very-low")]).unwrap().urgency, Urgency::VeryLow);
        assert_eq!(parse(&[("Urgency", "HIGH")]).unwrap().urgency, Urgency::High);
        for bad in ["", "urgent", "very_low", "normal,high"] {
            assert_eq!(parse(&[("Urgency", bad)]), Err(HeaderError::Urgency), "{bad:?}");
        }
        assert_eq!(parse(&[("Urgency", "low"), ("Urgency", "high")]), Err(HeaderError::Urgency));
        assert!(Urgency::VeryLow < Urgency::Low && Urgency::Normal < Urgency::High);
    }

    #[test]
    fn topic_values() {
        let t = "a".repeat(32);
        assert_eq!(parse(&[("Topic", &t)]).unwrap().topic.unwrap().as_str(), t);
        for bad in ["", &"a".repeat(33), "has space", "a+b", "a/b", "a=b"] {
            assert_eq!(parse(&[("Topic", bad)]), Err(HeaderError::Topic), "{bad:?}");
        }
    }

    #[test]
    fn non_ascii_header_is_rejected() {
        let mut h = HeaderMap::new();
        h.insert("ttl", HeaderValue::from_bytes(b"6\xff").unwrap());
        assert_eq!(PushHeaders::parse(&h, 1, 10), Err(HeaderError::Ttl));
    }
}

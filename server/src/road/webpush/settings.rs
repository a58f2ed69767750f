//! `[webpush]`: the Web Push road's settings, defaults and validation.
//!
//! ```toml
//! [webpush]
//! enabled = true                           # offer the road (no Firebase project needed)
//! api_url = "https://fcm.googleapis.com"   # Google's Web Push service [Google's; in sandbox
//!                                          # mode, unless set, the built-in emulator]
//! subject = "mailto:ops@example.org"       # the JWT's `sub`; default: public_url
//! key_file = "/etc/uprelay/vapid.pem"      # optional; default: the key pair in the store
//! connections = 32                         # most HTTP/2 connections to the service
//! timeout_ms = 5000                        # one request, whole
//! connect_timeout_ms = 2000
//! http2_prior_knowledge = false            # HTTP/2 over plain http (an emulator)
//! key_reuse_secs = 60                      # how long a device's ECDH result is reused
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::error::ConfigError;

/// Google's Web Push service.
pub const GOOGLE: &str = "https://fcm.googleapis.com";
/// The largest `connections`, as for the FCM v1 road.
pub const MAX_CONNECTIONS: usize = 256;
/// The longest `key_reuse_secs`: an hour bounds how many messages one sender key covers.
pub const MAX_KEY_REUSE_SECS: u64 = 3600;

/// Settings of the Web Push road.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebPushSettings {
    /// Offer the road: devices may register a Web Push subscription.
    pub enabled: bool,
    /// Base URL of the Web Push service (`<api_url>/fcm/send/<token>`); its origin is the
    /// JWT's `aud`. When absent: Google's ([`GOOGLE`]), or in sandbox mode the built-in
    /// emulator (so a relay without a Firebase project that means to reach real phones
    /// sets it).
    pub api_url: Option<String>,
    /// The JWT's `sub`: a `mailto:` or `https:` contact for the push service's operators;
    /// the relay's public URL when absent.
    pub subject: Option<String>,
    /// PEM file of the relay's VAPID key pair (created, 0600, when missing); when absent,
    /// the key pair lives in the store and every instance sharing it uses the same one.
    pub key_file: Option<PathBuf>,
    /// Most HTTP/2 connections to the service.
    pub connections: usize,
    /// Whole-request timeout, milliseconds.
    pub timeout_ms: u64,
    /// TCP connect timeout, milliseconds.
    pub connect_timeout_ms: u64,
    /// Speak HTTP/2 without TLS negotiation (the emulator over plain http).
    pub http2_prior_knowledge: bool,
    /// Seconds a device's ECDH result is reused, each message with a fresh salt (see
    /// `ece.rs` for what that trades); 0 = a new key pair for every message.
    pub key_reuse_secs: u64,
}

impl Default for WebPushSettings {
    fn default() -> Self {
        WebPushSettings {
            enabled: true,
            api_url: None,
            subject: None,
            key_file: None,
            connections: 32,
            timeout_ms: 5_000,
            connect_timeout_ms: 2_000,
            http2_prior_knowledge: false,
            key_reuse_secs: 60,
        }
    }
}

/// The JWT's `aud` for a service at `api_url`: its origin (`https://fcm.googleapis.com`).
pub fn audience(api_url: &str) -> Option<String> {
    let url = url::Url::parse(api_url).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

impl WebPushSettings {
    /// Whole-request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The service's base URL: `api_url`, else the sandbox emulator's when there is one,
    /// else Google's.
    pub fn service_url(&self, sandbox_emulator: Option<&str>) -> String {
        match (&self.api_url, sandbox_emulator) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, Some(emulator)) => emulator.trim_end_matches('/').to_owned(),
            (None, None) => GOOGLE.to_owned(),
        }
    }

    /// The checks types cannot make.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(api_url) = &self.api_url {
            let url = url::Url::parse(api_url).map_err(|e| ConfigError::new("webpush.api_url", e.to_string()))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(ConfigError::new("webpush.api_url", "must be an http or https URL"));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(ConfigError::new("webpush.api_url", "must not have a query or fragment"));
            }
        }
        if let Some(sub) = &self.subject {
            if !(sub.starts_with("mailto:") || sub.starts_with("https://")) || sub.len() > 512 {
                return Err(ConfigError::new("webpush.subject", "must be a mailto: or https: contact (RFC 8292), at most 512 characters"));
            }
        }
        if self.connections == 0 || self.connections > MAX_CONNECTIONS {
            return Err(ConfigError::new("webpush.connections", format!("must be 1 to {MAX_CONNECTIONS}")));
        }
        if self.timeout_ms == 0 {
            return Err(ConfigError::new("webpush.timeout_ms", "must be above 0"));
        }
        if self.connect_timeout_ms == 0 {
            return Err(ConfigError::new("webpush.connect_timeout_ms", "must be above 0"));
        }
        if self.key_reuse_secs > MAX_KEY_REUSE_SECS {
            return Err(ConfigError::new("webpush.key_reuse_secs", format!("must be at most {MAX_KEY_REUSE_SECS}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_aim_at_google_outside_the_sandbox() {
        let s = WebPushSettings::default();
        s.validate().unwrap();
        assert_eq!(s.service_url(None), GOOGLE);
        assert_eq!(s.service_url(Some("http://127.0.0.1:8090")), "http://127.0.0.1:8090");
        assert_eq!(audience(&s.service_url(None)).as_deref(), Some("https://fcm.googleapis.com"));
        let set = WebPushSettings { api_url: Some("https://push.example.org:8443/base/".into()), ..s };
        assert_eq!(set.service_url(Some("http://127.0.0.1:8090")), "https://push.example.org:8443/base", "a set URL wins");
        assert_eq!(audience(&set.service_url(None)).as_deref(), Some("https://push.example.org:8443"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = [
            (WebPushSettings { api_url: Some("ftp://x".into()), ..Default::default() }, "webpush.api_url"),
            (WebPushSettings { api_url: Some("https://x/?q".into()), ..Default::default() }, "webpush.api_url"),
            (WebPushSettings { subject: Some("ops@example.org".into()), ..Default::default() }, "webpush.subject"),
            (WebPushSettings { connections: 0, ..Default::default() }, "webpush.connections"),
            (WebPushSettings { timeout_ms: 0, ..Default::default() }, "webpush.timeout_ms"),
            (WebPushSettings { key_reuse_secs: 7200, ..Default::default() }, "webpush.key_reuse_secs"),
        ];
        for (s, key) in bad {
            assert_eq!(s.validate().unwrap_err().key, key, "{s:?}");
        }
    }
}

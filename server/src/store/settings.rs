//! The `[store]` settings: Redis (standalone or cluster) or the embedded store's
//! directory, with their checks, and the one way a Redis URL is shown (credentials
//! replaced) in logs and `check-config`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::error::ConfigError;

/// Storage backend selection. Its `Debug` (and so the whole configuration's) shows the
/// Redis URLs redacted.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// A standalone Redis; absent (and no cluster) → the embedded store.
    pub redis_url: Option<String>,
    /// Redis Cluster seed nodes, instead of `redis_url`.
    pub redis_cluster: Vec<String>,
    /// Directory of the embedded store.
    pub path: PathBuf,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = self.redacted();
        f.debug_struct("StoreConfig")
            .field("redis_url", &shown.redis_url)
            .field("redis_cluster", &shown.redis_cluster)
            .field("path", &shown.path)
            .finish()
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { redis_url: None, redis_cluster: Vec::new(), path: PathBuf::from("uprelay-data") }
    }
}

impl StoreConfig {
    /// Checks that need more than types: one Redis choice at most, each a redis:// URL.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.redis_url.is_some() && !self.redis_cluster.is_empty() {
            return Err(ConfigError::new("store.redis_cluster", "set either store.redis_url or store.redis_cluster, not both"));
        }
        if let Some(url) = &self.redis_url {
            check_redis_url("store.redis_url", url)?;
        }
        for (i, url) in self.redis_cluster.iter().enumerate() {
            check_redis_url(&format!("store.redis_cluster[{i}]"), url)?;
        }
        Ok(())
    }

    /// These settings fit for `check-config`: Redis users and passwords replaced.
    pub fn redacted(&self) -> StoreConfig {
        StoreConfig {
            redis_url: self.redis_url.as_deref().map(redact_url),
            redis_cluster: self.redis_cluster.iter().map(|u| redact_url(u)).collect(),
            path: self.path.clone(),
        }
    }
}

/// Query parameters that carry credentials: the redis crate reads `user` and `pass` from
/// `redis+unix://` and `unix://` URLs; `password` and `username` are replaced too, so
/// a secret under a name a later version may read is never shown either.
const SECRET_PARAMS: [&str; 4] = ["pass", "password", "user", "username"];

/// A Redis URL fit for logs and `check-config`: every credential form the redis crate
/// accepts (user and password in the userinfo, `user`/`pass` query parameters) replaced.
/// A URL that does not parse is not shown at all: where its secret is cannot be known.
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = Url::parse(url) else { return "<a Redis URL that does not parse>".to_string() };
    if !u.username().is_empty() {
        let _ = u.set_username("REDACTED");
    }
    if u.password().is_some() {
        let _ = u.set_password(Some("REDACTED"));
    }
    let secret = |k: &str| SECRET_PARAMS.iter().any(|s| k.eq_ignore_ascii_case(s));
    if u.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) { "REDACTED".to_string() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

fn check_redis_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let parsed = Url::parse(url).map_err(|e| ConfigError::new(key, e.to_string()))?;
    if !matches!(parsed.scheme(), "redis" | "rediss" | "redis+unix" | "unix") {
        return Err(ConfigError::new(key, "must be a redis:// URL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_users_and_passwords_only() {
        assert_eq!(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact_url("redis://admin:hunter2@10.0.0.1:7001/0"), "redis://REDACTED:REDACTED@10.0.0.1:7001/0");
        assert_eq!(redact_url("redis://:s3cret@b:7002"), "redis://:REDACTED@b:7002");
    }

    /// One case per credential form the redis crate reads (and the spellings it might).
    #[test]
    fn debug_shows_redis_urls_redacted() {
        let cfg = StoreConfig {
            redis_url: Some("redis://admin:hunter2@10.0.0.1:7001/0".into()),
            redis_cluster: vec!["redis://:s3cret@b:7002".into()],
            ..StoreConfig::default()
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("s3cret") && !shown.contains("admin"), "{shown}");
        assert!(shown.contains("10.0.0.1:7001") && shown.contains("b:7002"), "{shown}");
    }

    #[test]
    fn every_credential_form_is_redacted() {
        for (url, shown) in [
            ("redis://admin@h:6379", "redis://REDACTED@h:6379"),
            ("rediss://admin:hunter2@h:6380/1", "rediss://REDACTED:REDACTED@h:6380/1"),
            ("redis+unix:///run/r.sock?pass=hunter2", "redis+unix:///run/r.sock?pass=REDACTED"),
            ("unix:///run/r.sock?db=2&pass=hunter2", "unix:///run/r.sock?db=2&pass=REDACTED"),
            ("redis+unix:///run/r.sock?user=admin&pass=hunter2&db=1", "redis+unix:///run/r.sock?user=REDACTED&pass=REDACTED&db=1"),
            ("redis+unix:///run/r.sock?password=hunter2", "redis+unix:///run/r.sock?password=REDACTED"),
            ("redis://h:6379/0?PASS=hunter2&protocol=resp3", "redis://h:6379/0?PASS=REDACTED&protocol=resp3"),
            ("redis+unix:///run/r.sock?username=admin", "redis+unix:///run/r.sock?username=REDACTED"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        // Percent-encoded secrets are secrets too.
        assert!(!redact_url("redis+unix:///r.sock?pass=hun%20ter2").contains("ter2"));
        // Nothing secret: unchanged.
        assert_eq!(redact_url("redis+unix:///run/r.sock?db=3"), "redis+unix:///run/r.sock?db=3");
        // Not a URL: not shown.
        assert!(!redact_url("redis://:hunter2@[::1").contains("hunter2"));
    }
}

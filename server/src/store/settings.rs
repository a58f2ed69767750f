//! The `[store]` settings: Redis (standalone or cluster) or the embedded store's
//! directory, with their checks, and the one way a Redis URL is shown (credentials
//! replaced) in logs and `check-config`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::error::ConfigError;

/// Storage backend selection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// A standalone Redis; absent (and no cluster) → the embedded store.
    pub redis_url: Option<String>,
    /// Redis Cluster seed nodes, instead of `redis_url`.
    pub redis_cluster: Vec<String>,
    /// Directory of the embedded store.
    pub path: PathBuf,
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

/// A Redis URL fit for logs and `check-config`: user and password replaced.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() || !u.username().is_empty() => {
            if !u.username().is_empty() {
                let _ = u.set_username("REDACTED");
            }
            if u.password().is_some() {
                let _ = u.set_password(Some("REDACTED"));
            }
            u.to_string()
        }
        _ => url.to_string(),
    }
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
}

//! The one error every part of the configuration answers with: the dotted key at fault
//! and what is wrong with it (never the value, which may be a secret under the wrong key).

/// A configuration problem, naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    /// Dotted key path, e.g. `store.redis_url`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// An error at `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { key: key.into(), message: message.into() }
    }
}

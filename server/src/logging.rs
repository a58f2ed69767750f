//! Log setup: the `[log]` settings, `tracing` to stderr, text or JSON, filter from the
//! settings or `RUST_LOG`; and errors written as one line with their sources.

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

use crate::config::error::ConfigError;

/// Log output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter directive, e.g. `info` or `uprelay=debug`; `RUST_LOG` wins when set.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: LogFormat::Text }
    }
}

impl LogConfig {
    /// The level must be a filter `tracing` understands.
    pub fn validate(&self) -> Result<(), ConfigError> {
        EnvFilter::try_new(&self.level).map_err(|e| ConfigError::new("log.level", e.to_string()))?;
        Ok(())
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// yup-oauth2 prints access tokens at debug level ("found valid token in cache: …"):
/// it stays at info whatever the level, unless the filter names it explicitly.
const QUIET_CRATES: &[&str] = &["yup_oauth2=info"];

/// The filter for `level` (or `RUST_LOG` when set), with token-leaking crates capped.
pub fn filter(level: &str) -> EnvFilter {
    let spec = std::env::var("RUST_LOG").ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| level.to_owned());
    let mut filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new("info"));
    for directive in QUIET_CRATES {
        let krate = directive.split('=').next().unwrap_or_default();
        if !spec.contains(krate) {
            if let Ok(d) = directive.parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    filter
}

/// Install the global subscriber. `level` is used unless `RUST_LOG` is set.
pub fn init(level: &str, format: LogFormat) {
    let builder = tracing_subscriber::fmt().with_env_filter(filter(level)).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// An error and its sources as one line: hyper's own text is often just "client error
/// (Connect)", the reason is further down the chain.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

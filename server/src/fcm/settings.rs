//! The `[fcm]` and `[sandbox]` settings: where FCM is, which Firebase projects the relay
//! sends for, how it holds its connections to FCM, and the in-process emulator that
//! stands in for FCM when no project is configured.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::error::ConfigError;
use crate::webpush::Urgency;

/// Largest `fcm.connections`: 25,600 sends in flight, a second's worth at 100 ms for a
/// relay far beyond what one process serves.
pub const MAX_FCM_CONNECTIONS: usize = 256;

/// FCM HTTP v1 settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FcmConfig {
    /// Base URL of the FCM API (the emulator's URL in tests).
    pub api_url: String,
    /// Firebase projects; none → sandbox mode.
    pub projects: Vec<ProjectConfig>,
    /// Project used when a device registers without naming one; defaults to the first.
    pub default_project: Option<String>,
    /// Whole-request timeout for one FCM send, milliseconds.
    pub timeout_ms: u64,
    /// TCP connect timeout, milliseconds.
    pub connect_timeout_ms: u64,
    /// Speak HTTP/2 without TLS negotiation (useful with the emulator over plain http).
    pub http2_prior_knowledge: bool,
    /// Most HTTP/2 connections to FCM. Sends share the first; another opens only when
    /// the open ones carry as many concurrent streams as FCM allows (about 100 each), so
    /// this is a bound, not a count: sends in flight ≈ pushes/s × FCM's latency, and a
    /// relay doing 20,000/s against an FCM 100 ms away needs 20 connections.
    pub connections: usize,
    /// Every HTTP/2 connection to FCM is pinged this often, milliseconds...
    pub keepalive_ms: u64,
    /// ...and replaced when a ping goes unanswered this long: a NAT or load balancer that
    /// drops a connection silently would otherwise make every send time out on it.
    pub keepalive_timeout_ms: u64,
    /// The lowest Urgency that is sent with Android priority HIGH.
    pub high_priority_from: Urgency,
}

impl Default for FcmConfig {
    fn default() -> Self {
        FcmConfig {
            api_url: "https://fcm.googleapis.com".into(),
            projects: Vec::new(),
            default_project: None,
            timeout_ms: 5_000,
            connect_timeout_ms: 2_000,
            http2_prior_knowledge: false,
            connections: 32,
            keepalive_ms: 30_000,
            keepalive_timeout_ms: 10_000,
            high_priority_from: Urgency::Normal,
        }
    }
}

impl FcmConfig {
    /// Whole-request timeout as a `Duration`.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    /// Connect timeout as a `Duration`.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    /// Ping interval of HTTP/2 connections as a `Duration`.
    pub fn keepalive(&self) -> Duration {
        Duration::from_millis(self.keepalive_ms)
    }
    /// How long a ping may go unanswered, as a `Duration`.
    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_millis(self.keepalive_timeout_ms)
    }

    /// Checks that need more than types: the URL, the project list, the bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let api = Url::parse(&self.api_url).map_err(|e| ConfigError::new("fcm.api_url", e.to_string()))?;
        if !matches!(api.scheme(), "http" | "https") {
            return Err(ConfigError::new("fcm.api_url", "must be an http or https URL"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.projects.iter().enumerate() {
            if p.name.is_empty() || !p.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(ConfigError::new(format!("fcm.projects[{i}].name"), "must be a Firebase project id ([A-Za-z0-9_-]+)"));
            }
            if !seen.insert(&p.name) {
                return Err(ConfigError::new(format!("fcm.projects[{i}].name"), format!("project {} listed twice", p.name)));
            }
            if let Some(sid) = &p.sender_id {
                if sid.is_empty() || !sid.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ConfigError::new(format!("fcm.projects[{i}].sender_id"), "must be the numeric project number"));
                }
            }
            // The file itself is read by `server::project_accounts`, through the FCM
            // client's one service-account parser.
        }
        if let Some(default) = &self.default_project {
            if !self.projects.iter().any(|p| &p.name == default) {
                return Err(ConfigError::new("fcm.default_project", format!("{default} is not among fcm.projects")));
            }
        }
        if self.timeout_ms == 0 {
            return Err(ConfigError::new("fcm.timeout_ms", "must be positive"));
        }
        if !(1..=MAX_FCM_CONNECTIONS).contains(&self.connections) {
            return Err(ConfigError::new("fcm.connections", format!("must be between 1 and {MAX_FCM_CONNECTIONS}")));
        }
        if self.keepalive_ms < 100 || self.keepalive_timeout_ms < 100 {
            return Err(ConfigError::new("fcm.keepalive_ms", "keepalive_ms and keepalive_timeout_ms must be at least 100"));
        }
        Ok(())
    }
}

/// One Firebase project and its service account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// Firebase project id.
    pub name: String,
    /// Path of the service-account JSON.
    pub credentials: PathBuf,
    /// The project *number* (FCM sender id) phones need to request a token; published
    /// at `GET /v1/info` so the shim only needs the relay URL.
    #[serde(default)]
    pub sender_id: Option<String>,
}

/// Sandbox mode settings: the in-process FCM emulator used when no project is configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Where the in-process FCM emulator listens (port 0 = any free port).
    pub emulator_listen: SocketAddr,
    /// Project name the sandbox emulator plays.
    pub project: String,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig { emulator_listen: SocketAddr::from(([127, 0, 0, 1], 0)), project: "uprelay-sandbox".into() }
    }
}

//! Configuration: one typed struct, read from an optional TOML file and then from
//! `UPRELAY_*` environment variables (`__` separates levels, e.g. `UPRELAY_STORE__REDIS_URL`).
//!
//! Every field has a default so that `uprelay serve` with no file at all runs a
//! sandbox on a laptop. Anything that can be checked before the first request
//! (URLs, credential files, mutually exclusive keys) is checked in
//! [`Config::validate`], so a broken config fails at start with one line naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use uprelay_emulator::wire::MAX_TTL_SECS as FCM_MAX_TTL;
use url::Url;

use crate::webpush::Urgency;

/// The whole server configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Base URL of the endpoints handed out; defaults to `http://<listen>`.
    pub public_url: Option<String>,
    /// TTL (seconds) applied when a push carries no `TTL` header.
    pub default_ttl: u32,
    /// Upper bound for any TTL; longer ones are shortened and the shorter value echoed.
    pub max_ttl: u32,
    /// Where registrations live.
    pub store: StoreConfig,
    /// Firebase Cloud Messaging.
    pub fcm: FcmConfig,
    /// Size and count limits.
    pub limits: LimitsConfig,
    /// Logging.
    pub log: LogConfig,
    /// The built-in emulator used when no Firebase project is configured.
    pub sandbox: SandboxConfig,
    /// The durable retry queue and the circuit breaker in front of FCM.
    pub queue: QueueConfig,
    /// The built-in Matrix push gateway.
    pub matrix: MatrixConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            default_ttl: 86_400,
            max_ttl: FCM_MAX_TTL,
            store: StoreConfig::default(),
            fcm: FcmConfig::default(),
            limits: LimitsConfig::default(),
            log: LogConfig::default(),
            sandbox: SandboxConfig::default(),
            queue: QueueConfig::default(),
            matrix: MatrixConfig::default(),
        }
    }
}

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

/// Bounds on what a client may make the server do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Registrations (endpoints) one device may hold.
    pub max_registrations_per_device: usize,
    /// Refuse registrations without a VAPID key (every endpoint restricted to one app server).
    pub require_vapid: bool,
    /// Largest JSON body accepted by the distributor API, bytes.
    pub max_api_body: usize,
    /// Time a whole request may take, milliseconds (slow clients are cut off).
    pub request_timeout_ms: u64,
    /// Requests handled at once; more are shed with 503.
    pub max_concurrent_requests: usize,
    /// Requests in flight from one client (an IPv4 address or an IPv6 /64; behind a
    /// trusted proxy, the client it forwards for); more are answered 429 + Retry-After,
    /// so one client cannot take every one of `max_concurrent_requests`.
    pub max_requests_per_client: usize,
    /// Concurrent streams (requests) one HTTP/2 connection may open.
    pub max_streams_per_connection: u32,
    /// Time a request may take to deliver its body once its head has arrived, ms
    /// (a stalled body is answered 408 and gives its slot back).
    pub body_read_timeout_ms: u64,
    /// Sustained pushes per second per endpoint; 0 turns the limit off. The default
    /// keeps a device with one endpoint under FCM's 240/min and 5000/h.
    pub push_rate_per_second: f64,
    /// Pushes one endpoint may send back to back.
    pub push_burst: u32,
    /// Device registrations per minute per client IP; 0 turns the limit off.
    pub device_create_per_minute: f64,
    /// Device registrations one client IP may make back to back.
    pub device_create_burst: u32,
    /// Reverse proxies (CIDRs or addresses) whose `X-Forwarded-For` is believed for
    /// per-IP limits; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Open connections at once; further ones are closed at accept.
    pub max_connections: usize,
    /// Open connections from one client IP (an IPv6 /64); trusted proxies are exempt.
    pub max_connections_per_ip: usize,
    /// An HTTP/2 connection with no open stream for this long gets a GOAWAY, ms
    /// (keep-alive pings do not count as activity).
    pub idle_timeout_ms: u64,
    /// Time a client has to send a request's headers (HTTP/1), ms: cuts off slowloris.
    pub header_read_timeout_ms: u64,
    /// Largest request head (HTTP/1 buffer, HTTP/2 header list), bytes.
    pub max_header_bytes: usize,
    /// On shutdown, how long in-flight requests may take to finish, ms.
    pub shutdown_grace_ms: u64,
}

impl LimitsConfig {
    /// The per-endpoint push limiter, if on.
    pub fn push_rate(&self) -> Option<crate::limits::Rate> {
        (self.push_rate_per_second > 0.0)
            .then(|| crate::limits::Rate { per_second: self.push_rate_per_second, burst: self.push_burst.max(1) })
    }
    /// The proxies of `trusted_proxies` (checked by [`Config::validate`]).
    pub fn trusted_proxies(&self) -> crate::limits::TrustedProxies {
        crate::limits::TrustedProxies::parse(&self.trusted_proxies).unwrap_or_default()
    }
    /// The per-IP device creation limiter, if on.
    pub fn device_create_rate(&self) -> Option<crate::limits::Rate> {
        (self.device_create_per_minute > 0.0)
            .then(|| crate::limits::Rate { per_second: self.device_create_per_minute / 60.0, burst: self.device_create_burst.max(1) })
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_registrations_per_device: 100,
            require_vapid: false,
            max_api_body: 16 * 1024,
            request_timeout_ms: 15_000,
            max_concurrent_requests: 4_096,
            // As many as a client may open HTTP/1 connections: a sender within its
            // connection allowance never meets it, and one client holds 1/16 of the slots.
            max_requests_per_client: 256,
            // What one sender needs on one connection (FCM itself allows about 100).
            max_streams_per_connection: 100,
            // A push body is at most 4 KiB: a sender that has it sends it at once.
            body_read_timeout_ms: 5_000,
            push_rate_per_second: 1.0,
            push_burst: 60,
            device_create_per_minute: 30.0,
            device_create_burst: 10,
            trusted_proxies: Vec::new(),
            max_connections: 10_000,
            max_connections_per_ip: 256,
            idle_timeout_ms: 60_000,
            header_read_timeout_ms: 10_000,
            max_header_bytes: 16 * 1024,
            shutdown_grace_ms: 30_000,
        }
    }
}

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

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Sandbox mode settings.
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

/// Retry queue and circuit breaker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Keep transiently failed pushes and answer 201; off → answer 503 instead.
    pub enabled: bool,
    /// Messages the queue may hold; beyond it pushes get 503 + Retry-After.
    pub max_len: u64,
    /// How long a worker owns a leased message before another may take it, ms.
    pub lease_ms: u64,
    /// How often an idle worker looks for due messages, ms.
    pub poll_ms: u64,
    /// Messages leased at once.
    pub batch: usize,
    /// First retry delay, ms (doubled per attempt, with jitter).
    pub initial_backoff_ms: u64,
    /// Longest retry delay, ms.
    pub max_backoff_ms: u64,
    /// Consecutive transient FCM failures that open the breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker sends new pushes straight to the queue, ms.
    pub breaker_cooldown_ms: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: true,
            max_len: 1_000_000,
            lease_ms: 30_000,
            poll_ms: 250,
            batch: 64,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            breaker_threshold: 5,
            breaker_cooldown_ms: 5_000,
        }
    }
}

/// The Matrix push gateway at `/_matrix/push/v1/notify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatrixConfig {
    /// TTL of the pushes a notification becomes, seconds.
    pub ttl: u32,
    /// Forward notifications for other UnifiedPush servers' endpoints (off: those
    /// pushkeys are rejected, as this gateway serves this relay's endpoints).
    pub forward: bool,
    /// Hosts forwarding may reach over plain http and at non-public addresses. For tests
    /// only: empty unless set.
    pub forward_allow: Vec<String>,
    /// Whole-request time limit of one forward, milliseconds.
    pub forward_timeout_ms: u64,
    /// Forwards in flight at once; more wait for a slot within the time limit.
    pub forward_concurrency: usize,
}

impl Default for MatrixConfig {
    fn default() -> Self {
        MatrixConfig { ttl: 86_400, forward: false, forward_allow: Vec::new(), forward_timeout_ms: 5_000, forward_concurrency: 64 }
    }
}

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

/// The top-level keys of [`Config`], read off its serialized default so a new key can
/// never be forgotten here. Only `UPRELAY_*` variables that start with one of them are
/// configuration; others (e.g. ones tests use) are left alone.
fn top_level_keys() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => unreachable!("Config serializes as a map"),
    }
}

impl Config {
    /// Read defaults, then `file` (if any), then the environment; then validate.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(file, Env::prefixed("UPRELAY_"))
    }

    fn load_with_env(file: Option<&Path>, env: Env) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::new("--config", format!("{} is not a readable file", path.display())));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let tops = top_level_keys();
        let env = env.split("__").filter(move |key| {
            let top = key.as_str().split('.').next().unwrap_or("").to_ascii_lowercase();
            tops.contains(&top)
        });
        figment = figment.merge(env);
        if figment.find_value("limits.trust_forwarded_for").is_ok() {
            return Err(ConfigError::new(
                "limits.trust_forwarded_for",
                "was replaced by limits.trusted_proxies = [\"CIDR\", …]: list the reverse proxies whose X-Forwarded-For is believed",
            ));
        }
        let config: Config = figment.extract().map_err(|e| {
            let key = if e.path.is_empty() { "config".to_string() } else { e.path.join(".") };
            // figment's Display repeats the path and source; keep the kind plus where it came from.
            let source = e.metadata.as_ref().map(|m| format!(" (from {})", m.name)).unwrap_or_default();
            ConfigError::new(key, format!("{}{}", describe_without_value(&e.kind), source))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that need more than types: URLs, files, exclusive choices.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.public_url {
            let parsed = Url::parse(url).map_err(|e| ConfigError::new("public_url", e.to_string()))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ConfigError::new("public_url", "must be an http or https URL"));
            }
            if parsed.query().is_some() || parsed.fragment().is_some() {
                return Err(ConfigError::new("public_url", "must not have a query or fragment"));
            }
        }
        if self.default_ttl > self.max_ttl {
            return Err(ConfigError::new("default_ttl", format!("exceeds max_ttl ({})", self.max_ttl)));
        }
        if self.max_ttl > FCM_MAX_TTL {
            return Err(ConfigError::new("max_ttl", format!("FCM keeps messages at most {FCM_MAX_TTL} s")));
        }
        if self.store.redis_url.is_some() && !self.store.redis_cluster.is_empty() {
            return Err(ConfigError::new("store.redis_cluster", "set either store.redis_url or store.redis_cluster, not both"));
        }
        if let Some(url) = &self.store.redis_url {
            check_redis_url("store.redis_url", url)?;
        }
        for (i, url) in self.store.redis_cluster.iter().enumerate() {
            check_redis_url(&format!("store.redis_cluster[{i}]"), url)?;
        }
        let api = Url::parse(&self.fcm.api_url).map_err(|e| ConfigError::new("fcm.api_url", e.to_string()))?;
        if !matches!(api.scheme(), "http" | "https") {
            return Err(ConfigError::new("fcm.api_url", "must be an http or https URL"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.fcm.projects.iter().enumerate() {
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
        if let Some(default) = &self.fcm.default_project {
            if !self.fcm.projects.iter().any(|p| &p.name == default) {
                return Err(ConfigError::new("fcm.default_project", format!("{default} is not among fcm.projects")));
            }
        }
        if self.fcm.timeout_ms == 0 {
            return Err(ConfigError::new("fcm.timeout_ms", "must be positive"));
        }
        if !(1..=MAX_FCM_CONNECTIONS).contains(&self.fcm.connections) {
            return Err(ConfigError::new("fcm.connections", format!("must be between 1 and {MAX_FCM_CONNECTIONS}")));
        }
        if self.fcm.keepalive_ms < 100 || self.fcm.keepalive_timeout_ms < 100 {
            return Err(ConfigError::new("fcm.keepalive_ms", "keepalive_ms and keepalive_timeout_ms must be at least 100"));
        }
        if self.limits.max_registrations_per_device == 0 {
            return Err(ConfigError::new("limits.max_registrations_per_device", "must be positive"));
        }
        if self.limits.max_concurrent_requests == 0 {
            return Err(ConfigError::new("limits.max_concurrent_requests", "must be positive"));
        }
        if self.limits.request_timeout_ms == 0 {
            return Err(ConfigError::new("limits.request_timeout_ms", "must be positive"));
        }
        let l = &self.limits;
        if l.max_requests_per_client == 0 {
            return Err(ConfigError::new("limits.max_requests_per_client", "must be positive"));
        }
        if !(1..=1000).contains(&l.max_streams_per_connection) {
            return Err(ConfigError::new("limits.max_streams_per_connection", "must be between 1 and 1000"));
        }
        if l.body_read_timeout_ms == 0 {
            return Err(ConfigError::new("limits.body_read_timeout_ms", "must be positive"));
        }
        if l.max_connections == 0 || l.header_read_timeout_ms == 0 {
            return Err(ConfigError::new("limits", "max_connections and header_read_timeout_ms must be positive"));
        }
        if l.max_connections_per_ip == 0 {
            return Err(ConfigError::new("limits.max_connections_per_ip", "must be positive"));
        }
        if l.idle_timeout_ms < 100 {
            return Err(ConfigError::new("limits.idle_timeout_ms", "must be at least 100"));
        }
        if let Err(i) = crate::limits::TrustedProxies::parse(&l.trusted_proxies) {
            return Err(ConfigError::new(format!("limits.trusted_proxies[{i}]"), "must be an IP address or a CIDR such as 10.0.0.0/8"));
        }
        if !(8192..=1 << 20).contains(&l.max_header_bytes) {
            return Err(ConfigError::new("limits.max_header_bytes", "must be between 8192 and 1048576"));
        }
        if !(l.push_rate_per_second >= 0.0 && l.push_rate_per_second.is_finite()) {
            return Err(ConfigError::new("limits.push_rate_per_second", "must be a non-negative number"));
        }
        if !(l.device_create_per_minute >= 0.0 && l.device_create_per_minute.is_finite()) {
            return Err(ConfigError::new("limits.device_create_per_minute", "must be a non-negative number"));
        }
        let q = &self.queue;
        if q.enabled {
            if q.max_len == 0 {
                return Err(ConfigError::new("queue.max_len", "must be positive"));
            }
            if q.batch == 0 {
                return Err(ConfigError::new("queue.batch", "must be positive"));
            }
            if q.lease_ms <= self.fcm.timeout_ms * 2 {
                return Err(ConfigError::new(
                    "queue.lease_ms",
                    "must exceed twice fcm.timeout_ms, or a slow send could be retried by another worker meanwhile",
                ));
            }
            if q.poll_ms == 0 || q.initial_backoff_ms == 0 || q.max_backoff_ms < q.initial_backoff_ms {
                return Err(ConfigError::new(
                    "queue",
                    "poll_ms and initial_backoff_ms must be positive, max_backoff_ms ≥ initial_backoff_ms",
                ));
            }
            if q.breaker_threshold == 0 {
                return Err(ConfigError::new("queue.breaker_threshold", "must be positive"));
            }
        }
        if self.matrix.forward_timeout_ms == 0 || self.matrix.forward_concurrency == 0 {
            return Err(ConfigError::new("matrix", "forward_timeout_ms and forward_concurrency must be positive"));
        }
        if self.matrix.ttl > self.max_ttl {
            return Err(ConfigError::new("matrix.ttl", format!("exceeds max_ttl ({})", self.max_ttl)));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| ConfigError::new("log.level", e.to_string()))?;
        Ok(())
    }

    /// The base every endpoint URL starts with, without a trailing slash.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    /// The effective configuration as TOML, secrets redacted (Redis users and passwords;
    /// credentials appear only as the paths they are read from), for `check-config`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.store.redis_url = shown.store.redis_url.as_deref().map(redact_url);
        for url in &mut shown.store.redis_cluster {
            *url = redact_url(url);
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot show the configuration as TOML: {e}\n"))
    }

    /// Whether no Firebase project is configured (deliver to the in-process emulator).
    pub fn sandbox_mode(&self) -> bool {
        self.fcm.projects.is_empty()
    }
}

/// What was wrong, without the value that was wrong: a misplaced secret (a Redis URL
/// with its password under the wrong key) must not end up in a log or a terminal.
fn describe_without_value(kind: &figment::error::Kind) -> String {
    use figment::error::{Actual, Kind};
    let shape = |actual: &Actual| match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another kind of value",
    };
    match kind {
        Kind::InvalidType(actual, expected) => format!("expected {expected}, found {}", shape(actual)),
        Kind::InvalidValue(actual, expected) => format!("invalid value ({}): expected {expected}", shape(actual)),
        Kind::UnknownVariant(_, expected) => format!("unknown value: expected one of {}", expected.join(", ")),
        // Syntax errors and the rest name places and kinds, not values.
        other => one_line(&other.to_string()),
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

/// Parser errors (TOML's in particular) come with a multi-line source excerpt; the
/// operator gets one line: the position, then what was wrong.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|') && !l.contains(" | ") && !l.chars().all(|c| c == '^' || c == ' '))
        .collect();
    lines.join(": ")
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

    fn load_toml(toml: &str) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("uprelay-cfg-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, toml).unwrap();
        // An env prefix nobody sets keeps these tests independent of the real environment.
        let r = Config::load_with_env(Some(&path), Env::prefixed("UPRELAY_UNIT_TEST_NOBODY_"));
        std::fs::remove_dir_all(&dir).ok();
        r
    }

    #[test]
    fn defaults_are_a_sandbox_on_localhost() {
        let c = load_toml("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.default_ttl, 86_400);
        assert!(c.sandbox_mode());
        assert_eq!(c.public_base(), "http://127.0.0.1:8080");
    }

    #[test]
    fn unknown_key_is_named() {
        let e = load_toml("[store]\nredis_ulr = \"redis://x\"\n").unwrap_err();
        assert!(e.to_string().contains("redis_ulr"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = load_toml("default_ttl = \"soon\"\n").unwrap_err();
        assert_eq!(e.key, "default_ttl", "{e}");
    }

    #[test]
    fn bad_urls_are_rejected() {
        assert_eq!(load_toml("public_url = \"ftp://x\"").unwrap_err().key, "public_url");
        assert_eq!(load_toml("[store]\nredis_url = \"http://x\"").unwrap_err().key, "store.redis_url");
        assert_eq!(load_toml("[fcm]\napi_url = \"nope\"").unwrap_err().key, "fcm.api_url");
    }

    #[test]
    fn redis_url_and_cluster_are_exclusive() {
        let e = load_toml("[store]\nredis_url = \"redis://a\"\nredis_cluster = [\"redis://b\"]").unwrap_err();
        assert_eq!(e.key, "store.redis_cluster");
    }

    #[test]
    fn toml_syntax_errors_are_one_line() {
        let e = load_toml("listen = = 1\n[store\n").unwrap_err();
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn ttl_bounds() {
        assert_eq!(load_toml("max_ttl = 99999999").unwrap_err().key, "max_ttl");
        assert_eq!(load_toml("default_ttl = 100\nmax_ttl = 50").unwrap_err().key, "default_ttl");
    }

    #[test]
    fn env_overrides_file_and_ignores_unrelated_variables() {
        std::env::set_var("UPRELAY_CFGTEST_DEFAULT_TTL", "60");
        std::env::set_var("UPRELAY_CFGTEST_STORE__REDIS_URL", "redis://127.0.0.1:1");
        std::env::set_var("UPRELAY_CFGTEST_SOMETHING_ELSE", "x");
        let c = Config::load_with_env(None, Env::prefixed("UPRELAY_CFGTEST_")).unwrap();
        assert_eq!(c.default_ttl, 60);
        assert_eq!(c.store.redis_url.as_deref(), Some("redis://127.0.0.1:1"));
    }

    #[test]
    fn every_top_level_key_is_read_from_the_environment() {
        let keys = top_level_keys();
        assert!(keys.len() >= 10 && keys.contains(&"queue".to_string()) && keys.contains(&"public_url".to_string()), "{keys:?}");
        for key in keys {
            // A list fits no key's type: if the variable is read, loading fails and names it.
            let prefix = format!("UPRELAY_ENVKEY_{}_", key.to_ascii_uppercase());
            let var = format!("{prefix}{}", key.to_ascii_uppercase());
            std::env::set_var(&var, "[1, 2]");
            let e = Config::load_with_env(None, Env::prefixed(&prefix)).expect_err(&var);
            std::env::remove_var(&var);
            // (serde reads a list into a struct field by field, so a table may fail at `key.0`)
            assert!(e.key == key || e.key.starts_with(&format!("{key}.")), "{var}: {e}");
        }
    }

    #[test]
    fn errors_name_the_key_but_never_echo_the_value() {
        let e = load_toml("[log]\nlevel = \"redis://:hunter2@10.1.2.3\"\nformat = \"redis://:hunter2@h\"\n").unwrap_err();
        assert_eq!(e.key, "log.format", "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = load_toml("default_ttl = \"hunter2\"").unwrap_err();
        assert_eq!(e.key, "default_ttl");
        assert!(!e.to_string().contains("hunter2") && e.to_string().contains("a string"), "{e}");
        let e = load_toml("[store]\npath = [\"hunter2\"]").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn the_old_forwarded_for_switch_names_its_replacement() {
        let e = load_toml("[limits]\ntrust_forwarded_for = true\n").unwrap_err();
        assert_eq!(e.key, "limits.trust_forwarded_for", "{e}");
        assert!(e.message.contains("limits.trusted_proxies"), "{e}");
        let e = load_toml("[limits]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n").unwrap_err();
        assert_eq!(e.key, "limits.trusted_proxies[1]", "{e}");
        let c = load_toml("[limits]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n").unwrap();
        assert!(c.limits.trusted_proxies().trusts("10.1.2.3".parse().unwrap()));
    }

    /// Every key path the configuration types accept, read off a serialized config
    /// (with one project, so the array of tables shows its keys).
    fn accepted_keys() -> std::collections::BTreeSet<String> {
        fn walk(prefix: &str, value: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                        out.insert(path.clone());
                        walk(&path, v, out);
                    }
                }
                serde_json::Value::Array(items) if items.first().is_some_and(|i| i.is_object()) => walk(prefix, &items[0], out),
                _ => {}
            }
        }
        let mut c = Config::default();
        c.fcm.projects.push(ProjectConfig { name: "p".into(), credentials: "c.json".into(), sender_id: Some("1".into()) });
        // Optional keys serialize as null; they are accepted all the same.
        c.store.redis_url = Some("redis://x".into());
        let mut keys = std::collections::BTreeSet::new();
        walk("", &serde_json::to_value(&c).unwrap(), &mut keys);
        keys
    }

    /// The keys of the README's configuration block, commented-out ones included
    /// (`[table]` and `[[table]]` lines open a table; `key = …` or `# key = …` name a key).
    fn readme_keys() -> std::collections::BTreeSet<String> {
        let readme = include_str!("../../README.md");
        let section = readme.split("## Configuration").nth(1).expect("a Configuration section");
        let block = section.split("```toml").nth(1).and_then(|b| b.split("```").next()).expect("a toml block in it");
        let mut keys = std::collections::BTreeSet::new();
        let mut table = String::new();
        for line in block.lines() {
            let line = line.trim().trim_start_matches('#').trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
                table = name.trim_start_matches('[').to_string();
                keys.insert(table.clone());
                continue;
            }
            let Some((key, _)) = line.split_once('=') else { continue };
            let key = key.trim();
            if !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()) {
                keys.insert(if table.is_empty() { key.to_string() } else { format!("{table}.{key}") });
            }
        }
        keys
    }

    #[test]
    fn the_readme_documents_every_key_and_no_other() {
        let (accepted, documented) = (accepted_keys(), readme_keys());
        let missing: Vec<_> = accepted.difference(&documented).collect();
        let unknown: Vec<_> = documented.difference(&accepted).collect();
        assert!(missing.is_empty() && unknown.is_empty(), "README configuration block: missing {missing:?}; not config keys {unknown:?}");
        assert!(
            accepted.len() > 50 && accepted.contains("matrix.forward_allow") && accepted.contains("fcm.projects.sender_id"),
            "{accepted:?}"
        );
    }

    /// The configurations shipped in deploy/ load (and never name a removed key).
    #[test]
    fn shipped_configs_load() {
        for (name, text) in [
            ("deploy/uprelay.example.toml", include_str!("../../deploy/uprelay.example.toml")),
            ("deploy/kubernetes/base/uprelay.toml", include_str!("../../deploy/kubernetes/base/uprelay.toml")),
            ("deploy/kubernetes/redis-cluster/uprelay.toml", include_str!("../../deploy/kubernetes/redis-cluster/uprelay.toml")),
        ] {
            if let Err(e) = load_toml(text) {
                panic!("{name}: {e}");
            }
        }
    }

    #[test]
    fn check_config_output_is_toml_without_redis_secrets() {
        let c = load_toml(
            "public_url = \"https://push.example.org\"\n[store]\nredis_cluster = [\"redis://admin:hunter2@10.0.0.1:7001\", \"redis://:s3cret@b:7002/0\"]",
        )
        .unwrap();
        let text = c.to_redacted_toml();
        assert!(!text.contains("hunter2") && !text.contains("s3cret") && !text.contains("admin"), "{text}");
        assert!(text.contains("redis://REDACTED:REDACTED@10.0.0.1:7001"), "{text}");
        // It is the effective configuration, and it loads back to the same values.
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back.public_url.as_deref(), Some("https://push.example.org"));
        assert_eq!(back.queue.max_len, c.queue.max_len);
        assert_eq!(back.limits.push_burst, c.limits.push_burst);
        assert_eq!(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}

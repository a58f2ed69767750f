//! Configuration: the settings of every subsystem in one typed struct, read from an
//! optional TOML file and then from `UPRELAY_*` environment variables (`__` separates
//! levels, e.g. `UPRELAY_STORE__REDIS_URL`).
//!
//! Each subsystem owns its table (its type, defaults and checks live beside it, e.g.
//! `fcm/settings.rs`); this module only layers the sources, checks what spans several
//! tables, and asks each table to check itself. Every field has a default so that
//! `uprelay serve` with no file at all runs a sandbox on a laptop, and a broken config
//! fails at start with one line naming the key ([`Config::validate`]).

pub mod error;

use std::net::SocketAddr;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use uprelay_emulator::wire::MAX_TTL_SECS as FCM_MAX_TTL;
use url::Url;

use self::error::ConfigError;
use crate::fcm::{FcmConfig, SandboxConfig};
use crate::gateway::MatrixConfig;
use crate::limits::LimitsConfig;
use crate::logging::LogConfig;
use crate::relay::QueueConfig;
use crate::road::webpush::WebPushSettings;
use crate::store::StoreConfig;

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
    /// The Web Push road (Google's Web Push service, no Firebase project).
    pub webpush: WebPushSettings,
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
            webpush: WebPushSettings::default(),
        }
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

    /// Checks that need more than types: each table's own, then those spanning tables.
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
        self.store.validate()?;
        self.fcm.validate()?;
        self.limits.validate()?;
        self.queue.validate()?;
        if self.queue.enabled && self.queue.lease_ms <= self.fcm.timeout_ms * 2 {
            return Err(ConfigError::new(
                "queue.lease_ms",
                "must exceed twice fcm.timeout_ms, or a slow send could be retried by another worker meanwhile",
            ));
        }
        self.matrix.validate()?;
        if self.matrix.ttl > self.max_ttl {
            return Err(ConfigError::new("matrix.ttl", format!("exceeds max_ttl ({})", self.max_ttl)));
        }
        self.log.validate()?;
        self.webpush.validate()?;
        if self.queue.enabled && self.webpush.enabled && self.queue.lease_ms <= self.webpush.timeout_ms * 2 {
            return Err(ConfigError::new(
                "queue.lease_ms",
                "must exceed twice webpush.timeout_ms, or a slow send could be retried by another worker meanwhile",
            ));
        }
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
        shown.store = self.store.redacted();
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

    /// Each table checks itself, and its errors still name the exact key.
    #[test]
    fn each_table_names_its_own_key() {
        for (toml, key) in [
            ("[limits]\nmax_concurrent_requests = 0", "limits.max_concurrent_requests"),
            ("[limits]\nmax_header_bytes = 10", "limits.max_header_bytes"),
            ("[fcm]\nconnections = 0", "fcm.connections"),
            ("[fcm]\ndefault_project = \"nope\"", "fcm.default_project"),
            ("[queue]\nmax_len = 0", "queue.max_len"),
            ("[queue]\nlease_ms = 10000", "queue.lease_ms"),
            ("[matrix]\nforward_concurrency = 0", "matrix"),
            ("max_ttl = 600\ndefault_ttl = 600\n[matrix]\nttl = 601", "matrix.ttl"),
            ("[log]\nlevel = \"a=b=c\"", "log.level"),
            ("[store]\nredis_cluster = [\"http://x\"]", "store.redis_cluster[0]"),
        ] {
            assert_eq!(load_toml(toml).unwrap_err().key, key, "{toml}");
        }
        // Off, the queue's settings are not read.
        load_toml("[queue]\nenabled = false\nmax_len = 0").unwrap();
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
    }
}

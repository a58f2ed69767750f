//! Driving `uprelay serve` end to end. [`Relay`] is one relay process — a generated TOML
//! config, start, stop (SIGTERM), kill (SIGKILL), restart on the same port and data — with
//! clients for the distributor API and the push endpoint. It runs against an FCM emulator
//! (project `test-project`, reached over h2c, the HTTP/2 path uprelay takes to FCM) and, for
//! the Redis stores, a Redis or Redis Cluster it starts itself or is given; siblings share
//! one emulator and one store. Also here: what a sender does (VAPID, random bodies and
//! tokens, decoding what FCM received) and raw HTTP/1.1 connections.
//!
//! [`per_store!`](crate::per_store) turns `async fn case(store: StoreKind)` into one bounded
//! `#[tokio::test]` per store: `case::embedded`, `case::redis`, `case::cluster`.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::emulator::EmulatorProcess;
use crate::process::{bin_path, free_port, python, workspace_root, ChildGuard, TempDir};
use crate::redis::{RedisCluster, RedisServer};

/// Firebase project the emulator plays and the relay is configured with.
pub const PROJECT: &str = "test-project";

/// Longest an end-to-end test may run before it fails (and its children are killed).
pub const TEST_LIMIT: Duration = Duration::from_secs(150);

/// Longest a reliability (chaos) test may run.
pub const CHAOS_LIMIT: Duration = Duration::from_secs(90);

/// Run a test body within `limit`; children are killed when the future is dropped.
pub async fn run_bounded<F: Future<Output = ()>>(name: &str, limit: Duration, f: F) {
    let started = Instant::now();
    if tokio::time::timeout(limit, f).await.is_err() {
        panic!("{name} did not finish within {limit:?}");
    }
    eprintln!("{name}: {:.2} s", started.elapsed().as_secs_f64());
}

/// One `#[tokio::test]` per store for each `async fn NAME(store: StoreKind)` named:
/// `per_store!(a, b)` runs each on every store within [`TEST_LIMIT`];
/// `per_store!([embedded, redis], CHAOS_LIMIT; a, b)` on the stores listed, within a limit of this module.
#[macro_export]
macro_rules! per_store {
    (@one $name:ident [$($store:ident),+] $limit:ident) => {
        mod $name {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $store() {
                    let store = $crate::relay::StoreKind::named(stringify!($store));
                    $crate::relay::run_bounded(concat!(stringify!($name), "::", stringify!($store)), $crate::relay::$limit, super::$name(store)).await
                }
            )+
        }
    };
    (@each $stores:tt $limit:ident; $($name:ident),*) => {
        $( $crate::per_store!(@one $name $stores $limit); )*
    };
    ([$($store:ident),+], $limit:ident; $($name:ident),* $(,)?) => {
        $crate::per_store!(@each [$($store),+] $limit; $($name),*);
    };
    ($($name:ident),* $(,)?) => {
        $crate::per_store!(@each [embedded, redis, cluster] TEST_LIMIT; $($name),*);
    };
}

/// Which `trait Store` implementation the relay uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded redb store in the relay's temporary directory.
    Embedded,
    /// Redis (`store.redis_url`).
    Redis,
    /// A 3-node Redis Cluster (`store.redis_cluster`).
    Cluster,
}

impl StoreKind {
    /// The kind a test is named after: `embedded`, `redis` or `cluster`.
    pub fn named(name: &str) -> StoreKind {
        match name {
            "embedded" => StoreKind::Embedded,
            "redis" => StoreKind::Redis,
            "cluster" => StoreKind::Cluster,
            other => panic!("no store kind {other:?}"),
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreKind::Embedded => "embedded",
            StoreKind::Redis => "redis",
            StoreKind::Cluster => "cluster",
        })
    }
}

/// Which service-account file the relay is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// The emulator's own credentials for `test-project`.
    Valid,
    /// A trusted key of another project (FCM answers PERMISSION_DENIED for `test-project`).
    OtherProject,
    /// A key whose account the emulator does not know (OAuth answers `invalid_grant`).
    Untrusted,
}

/// How to start a relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Names the process in logs and the ledger.
    pub name: String,
    pub store: StoreKind,
    /// The running Redis (one URL) or cluster nodes to use; when empty, the relay starts its own.
    pub store_urls: Vec<String>,
    /// Start a private Redis even when `UPRELAY_TEST_REDIS_URL` names a shared one (for tests
    /// that read the store's keys or whose retry queue must hold only their own messages).
    pub private_store: bool,
    /// `[fcm] timeout_ms`.
    pub fcm_timeout_ms: u64,
    /// Extra `key = value` lines placed before any table (e.g. `default_ttl = 60`).
    pub top_level: Vec<String>,
    /// Lines of the `[limits]` table (e.g. `max_registrations_per_device = 3`).
    pub limits: Vec<String>,
    /// Lines of the `[queue]` table (e.g. `enabled = false`).
    pub queue: Vec<String>,
    /// Extra lines of the `[fcm]` table (e.g. `high_priority_from = "high"`).
    pub fcm: Vec<String>,
    /// Extra lines of the `[webpush]` table, whose `timeout_ms` follows `fcm_timeout_ms`
    /// (the queue's lease must outlast twice either road's timeout).
    pub webpush: Vec<String>,
    /// Extra TOML appended after the generated tables (other tables).
    pub tables: String,
    pub credentials: Credentials,
    /// Environment of the relay process (e.g. `RUST_LOG=debug`); `RUST_LOG` is removed otherwise.
    pub env: Vec<(String, String)>,
}

impl RelayConfig {
    pub fn new(store: StoreKind) -> RelayConfig {
        RelayConfig {
            name: "uprelay".to_owned(),
            store,
            store_urls: Vec::new(),
            private_store: false,
            fcm_timeout_ms: 2000,
            top_level: Vec::new(),
            limits: Vec::new(),
            queue: Vec::new(),
            fcm: Vec::new(),
            webpush: Vec::new(),
            tables: String::new(),
            credentials: Credentials::Valid,
            env: Vec::new(),
        }
    }
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }
    pub fn store_urls(mut self, urls: Vec<String>) -> Self {
        self.store_urls = urls;
        self
    }
    pub fn private_store(mut self) -> Self {
        self.private_store = true;
        self
    }
    pub fn top(mut self, line: &str) -> Self {
        self.top_level.push(line.to_owned());
        self
    }
    pub fn limit(mut self, line: &str) -> Self {
        self.limits.push(line.to_owned());
        self
    }
    pub fn queue(mut self, line: &str) -> Self {
        self.queue.push(line.to_owned());
        self
    }
    pub fn fcm(mut self, line: &str) -> Self {
        self.fcm.push(line.to_owned());
        self
    }
    pub fn webpush(mut self, line: &str) -> Self {
        self.webpush.push(line.to_owned());
        self
    }
    /// No per-endpoint push limit and no per-IP device-creation limit.
    pub fn no_rate_limits(self) -> Self {
        self.limit("push_rate_per_second = 0").limit("device_create_per_minute = 0")
    }
    /// A retry queue that reacts within a second or so: 3 s leases (with `[fcm] timeout_ms`
    /// 1000), 50 ms polls, backoff 200 ms doubling up to 1 s.
    pub fn fast_queue(self) -> Self {
        self.fcm_timeout_ms(1000)
            .queue("lease_ms = 3000")
            .queue("poll_ms = 50")
            .queue("initial_backoff_ms = 200")
            .queue("max_backoff_ms = 1000")
    }
    pub fn tables(mut self, toml: &str) -> Self {
        self.tables.push_str(toml);
        self.tables.push('\n');
        self
    }
    pub fn fcm_timeout_ms(mut self, ms: u64) -> Self {
        self.fcm_timeout_ms = ms;
        self
    }
    pub fn credentials(mut self, c: Credentials) -> Self {
        self.credentials = c;
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    /// The TOML file of a relay listening on `port`.
    fn toml(&self, port: u16, data: &Path, fcm_url: &str, credentials: &Path) -> String {
        let quoted = |v: &str| format!("{v:?}");
        let store = match self.store {
            StoreKind::Embedded => format!("path = {}", quoted(&data.display().to_string())),
            StoreKind::Redis => format!("redis_url = {}", quoted(&self.store_urls[0])),
            StoreKind::Cluster => format!("redis_cluster = [{}]", self.store_urls.iter().map(|u| quoted(u)).collect::<Vec<_>>().join(", ")),
        };
        // The Web Push road goes to the emulator's Web Push service, never to Google,
        // unless the test's own lines say where.
        let service = if self.webpush.iter().any(|l| l.trim_start().starts_with("api_url")) {
            String::new()
        } else {
            format!("api_url = {}\nhttp2_prior_knowledge = true\n", quoted(fcm_url))
        };
        // The caller's raw lines first: they may continue the `[[fcm.projects]]` table above.
        let mut tables =
            format!("{}\n\n[webpush]\ntimeout_ms = {}\n{service}{}\n\n", self.tables, self.fcm_timeout_ms, self.webpush.join("\n"));
        for (name, lines) in [("limits", &self.limits), ("queue", &self.queue)] {
            if !lines.is_empty() {
                tables.push_str(&format!("[{name}]\n{}\n\n", lines.join("\n")));
            }
        }
        format!(
            "listen = \"127.0.0.1:{port}\"\n{top}\n[store]\n{store}\n\n[fcm]\napi_url = {api}\ntimeout_ms = {timeout}\nhttp2_prior_knowledge = true\n{fcm}\n\
             [[fcm.projects]]\nname = \"{PROJECT}\"\ncredentials = {creds}\n\n{tables}",
            top = self.top_level.join("\n"),
            api = quoted(fcm_url),
            timeout = self.fcm_timeout_ms,
            fcm = self.fcm.join("\n"),
            creds = quoted(&credentials.display().to_string()),
        )
    }
}

/// A device as the distributor API created it.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub secret: String,
    /// The FCM token it was created with.
    pub token: String,
}

/// The answer to one request (a push or a distributor-API call).
#[derive(Debug)]
pub struct PushResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl PushResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The message id: the last path segment of `Location`.
    pub fn message_id(&self) -> String {
        let loc = self.header("location").unwrap_or_else(|| panic!("no Location in {self:?}"));
        loc.rsplit('/').next().unwrap().to_owned()
    }
    /// `Retry-After` as whole seconds (panics when absent or not delta-seconds).
    pub fn retry_after(&self) -> u64 {
        self.header("retry-after")
            .unwrap_or_else(|| panic!("no Retry-After in {self:?}"))
            .parse()
            .unwrap_or_else(|_| panic!("Retry-After is not delta-seconds in {self:?}"))
    }
    /// The JSON error code of an error body.
    pub fn error_code(&self) -> String {
        self.json().1["error"].as_str().unwrap_or_default().to_owned()
    }
    /// Status and JSON body (`Null` when empty, a JSON string when not JSON).
    pub fn json(&self) -> (StatusCode, Value) {
        let v =
            if self.body.is_empty() { Value::Null } else { serde_json::from_str(&self.body).unwrap_or(Value::String(self.body.clone())) };
        (self.status, v)
    }
}

/// One `uprelay serve` process (killed on drop) with its emulator and, when it started
/// them, its Redis or cluster.
pub struct Relay {
    /// Shared with sibling relays.
    pub emulator: Arc<EmulatorProcess>,
    /// The Redis or cluster this relay started for itself (`None` when given or shared).
    pub redis: Option<RedisServer>,
    pub cluster: Option<RedisCluster>,
    /// As started: `store_urls` holds the URLs in use.
    pub config: RelayConfig,
    pub port: u16,
    pub base_url: String,
    pub config_path: PathBuf,
    /// A client for this relay (30 s timeout per request).
    pub http: reqwest::Client,
    pub dir: TempDir,
    /// The latest process (running or not).
    child: ChildGuard,
}

impl Relay {
    /// Emulator, store and relay with the default configuration.
    pub async fn start(store: StoreKind) -> Relay {
        Self::start_with(RelayConfig::new(store)).await
    }

    /// Emulator, store (unless `config.store_urls` names one) and relay.
    pub async fn start_with(config: RelayConfig) -> Relay {
        let emulator = EmulatorProcess::start_with(&["--project", PROJECT]).await;
        Self::start_on(Arc::new(emulator), config).await
    }

    /// Like [`Relay::start_with`], on an emulator started with extra arguments (e.g.
    /// `["--latency-ms", "50"]`).
    pub async fn start_with_emulator_args(config: RelayConfig, emulator_args: &[&str]) -> Relay {
        let args: Vec<&str> = ["--project", PROJECT].into_iter().chain(emulator_args.iter().copied()).collect();
        let emulator = EmulatorProcess::start_with(&args).await;
        Self::start_on(Arc::new(emulator), config).await
    }

    /// Another relay on this one's emulator and store (its own port; with the embedded store,
    /// its own data). `config.store` and `config.store_urls` are taken from this relay.
    pub async fn sibling(&self, config: RelayConfig) -> Relay {
        let config = RelayConfig { store: self.config.store, store_urls: self.config.store_urls.clone(), ..config };
        Self::start_on(self.emulator.clone(), config).await
    }

    async fn start_on(emulator: Arc<EmulatorProcess>, mut config: RelayConfig) -> Relay {
        let (mut redis, mut cluster) = (None, None);
        if config.store_urls.is_empty() {
            match config.store {
                StoreKind::Embedded => {}
                StoreKind::Redis => {
                    let r = if config.private_store { RedisServer::private().await } else { RedisServer::start().await };
                    config.store_urls = vec![r.url().to_owned()];
                    redis = Some(r);
                }
                StoreKind::Cluster => {
                    let c = RedisCluster::start().await;
                    config.store_urls = c.urls();
                    cluster = Some(c);
                }
            }
        }
        let dir = TempDir::new(&format!("uprelay-{}", config.name));
        let credentials = match config.credentials {
            Credentials::Valid => emulator.credentials_path.clone(),
            Credentials::OtherProject | Credentials::Untrusted => {
                let mut json = emulator.client.new_credentials("other-project").await.json;
                if config.credentials == Credentials::Untrusted {
                    json["client_email"] = json!("nobody@unknown-project.iam.gserviceaccount.com");
                    json["private_key_id"] = json!("0000000000000000000000000000000000000000");
                    json["project_id"] = json!(PROJECT);
                }
                let path = dir.join("foreign-credentials.json");
                std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
                path
            }
        };
        let config_path = dir.join("uprelay.toml");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            std::fs::write(&config_path, config.toml(port, &dir.join("data"), &emulator.base_url, &credentials)).unwrap();
            match spawn(&config, &config_path, port).await {
                Ok(child) => {
                    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
                    let base_url = format!("http://127.0.0.1:{port}");
                    return Relay { emulator, redis, cluster, config, port, base_url, config_path, http, dir, child };
                }
                Err(output) => last = output,
            }
        }
        panic!("{}: uprelay serve failed to start 5 times; last output:\n{last}", config.name);
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// Send SIGTERM (a graceful stop) without waiting.
    pub fn sigterm(&self) {
        assert!(self.child.sigterm(), "{}: kill -TERM {} failed", self.config.name, self.pid());
    }

    /// Wait at most `limit` for the process to exit; its status, or `None` on timeout.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.child_try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then require a clean exit (status 0) within 10 s.
    pub async fn stop(&mut self) {
        self.sigterm();
        let status = self.wait_exit(Duration::from_secs(10)).await;
        let status = status.unwrap_or_else(|| panic!("uprelay did not exit within 10 s of SIGTERM\n{}", self.output()));
        assert!(status.success(), "uprelay exited with {status} after SIGTERM\n{}", self.output());
    }

    /// Start again with the same configuration, port and data (SIGKILL first if it still runs).
    pub async fn restart(&mut self) {
        self.kill();
        // The port was ours a moment ago; retry briefly in case the kernel is slow to free it.
        let mut last = String::new();
        for _ in 0..40 {
            match spawn(&self.config, &self.config_path, self.port).await {
                Ok(child) => {
                    self.child = child;
                    return;
                }
                Err(out) => last = out,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} did not come back on port {}:\n{last}", self.config.name, self.port);
    }

    /// [`Relay::stop`], then [`Relay::restart`].
    pub async fn restart_graceful(&mut self) {
        self.stop().await;
        self.restart().await;
    }

    /// The process id of the latest process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the latest process printed so far.
    pub fn output(&self) -> String {
        self.child.output()
    }

    /// The emulator, for a relay that does not share it (e.g. to stop it).
    pub fn emulator_mut(&mut self) -> &mut EmulatorProcess {
        Arc::get_mut(&mut self.emulator).expect("the emulator is shared with a sibling")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Any request with a raw `Authorization` header and raw JSON body bytes.
    pub async fn request_raw(&self, method: Method, path: &str, authorization: Option<&str>, body: Option<Vec<u8>>) -> PushResponse {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let r = send(req).await;
        r.unwrap_or_else(|e| panic!("{method} {path} on {}: {e}\n{}", self.config.name, self.output()))
    }

    /// Any request with a bearer secret and a JSON body.
    pub async fn request(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> PushResponse {
        let authorization = bearer.map(|b| format!("Bearer {b}"));
        self.request_raw(method, path, authorization.as_deref(), body.map(|b| serde_json::to_vec(&b).unwrap())).await
    }

    /// A distributor-API call; returns status and JSON body (`Null` when empty).
    pub async fn api(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        self.request(method, path, bearer, body).await.json()
    }

    /// A distributor-API call with a raw `Authorization` header and raw body bytes.
    pub async fn api_raw(&self, method: Method, path: &str, authorization: Option<&str>, body: Option<Vec<u8>>) -> (StatusCode, Value) {
        self.request_raw(method, path, authorization, body).await.json()
    }

    /// `POST /v1/devices` without asserting the outcome.
    pub async fn try_create_device(&self, token: &str) -> PushResponse {
        self.request(Method::POST, "/v1/devices", None, Some(json!({ "fcm_token": token }))).await
    }

    /// `POST /v1/devices` (asserts 201).
    pub async fn create_device(&self, token: &str) -> Device {
        let (status, body) = self.try_create_device(token).await.json();
        assert_eq!(status, StatusCode::CREATED, "create device on {}: {body}", self.config.name);
        Device {
            id: body["device_id"].as_str().expect("device_id").to_owned(),
            secret: body["secret"].as_str().expect("secret").to_owned(),
            token: token.to_owned(),
        }
    }

    /// `POST /v1/devices/{id}/registrations`; returns status and body.
    pub async fn try_register(&self, dev: &Device, instance: &str, vapid: Option<&str>) -> (StatusCode, Value) {
        let mut body = json!({ "instance": instance });
        if let Some(v) = vapid {
            body["vapid"] = json!(v);
        }
        self.api(Method::POST, &format!("/v1/devices/{}/registrations", dev.id), Some(&dev.secret), Some(body)).await
    }

    /// Register and return the endpoint URL (asserts 201).
    pub async fn register(&self, dev: &Device, instance: &str, vapid: Option<&str>) -> String {
        let (status, body) = self.try_register(dev, instance, vapid).await;
        assert_eq!(status, StatusCode::CREATED, "register {instance} on {}: {body}", self.config.name);
        let endpoint = body["endpoint"].as_str().expect("endpoint").to_owned();
        assert!(endpoint.starts_with(&format!("{}/up/", self.base_url)), "endpoint {endpoint} is not under {}", self.base_url);
        endpoint
    }

    /// `GET /v1/devices/{id}` with the device's secret.
    pub async fn show_device(&self, dev: &Device) -> (StatusCode, Value) {
        self.api(Method::GET, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), None).await
    }

    /// POST a push to the URL `endpoint` with extra headers (appended, so repeating a name
    /// repeats the header); panics on a transport error.
    pub async fn push(&self, endpoint: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> PushResponse {
        let r = self.try_push(&self.http, endpoint, headers, body.into()).await;
        r.unwrap_or_else(|e| panic!("push on {}: {e}\n{}", self.config.name, self.output()))
    }

    /// Like [`Relay::push`] with a given client (e.g. one with a short timeout); Err on a
    /// transport error (killed relay, timeout), which a test counts as "not acknowledged".
    pub async fn try_push(
        &self,
        http: &reqwest::Client,
        endpoint: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<PushResponse, String> {
        let mut req = http.post(endpoint).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        send(req).await
    }

    /// POST a push with raw header values (may be non-ASCII).
    pub async fn push_raw_headers(&self, endpoint: &str, headers: &[(&str, &[u8])], body: impl Into<Vec<u8>>) -> PushResponse {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_bytes(v).unwrap());
        }
        let r = send(self.http.post(endpoint).headers(map).body(body.into())).await;
        r.unwrap_or_else(|e| panic!("push: {e}\n{}", self.output()))
    }

    /// Accepted FCM messages for `token`, oldest first.
    pub async fn messages(&self, token: &str) -> Vec<Value> {
        self.emulator.client.messages(Some(token)).await
    }

    /// Wait (at most 10 s) until the emulator holds at least `n` messages for `token`.
    pub async fn wait_messages(&self, token: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let msgs = self.messages(token).await;
            if msgs.len() >= n {
                return msgs;
            }
            assert!(Instant::now() < deadline, "expected {n} FCM messages for {token}, have {}: {msgs:?}", msgs.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The FCM messages (one, or two halves) carrying message id `m`, halves ordered by `s`.
    pub async fn messages_with_id(&self, token: &str, m: &str) -> Vec<Value> {
        let mut found: Vec<Value> = self.messages(token).await.into_iter().filter(|msg| msg["message"]["data"]["m"] == m).collect();
        found.sort_by_key(|msg| msg["message"]["data"]["s"].as_str().unwrap_or("").to_owned());
        found
    }

    /// `GET /metrics` text.
    pub async fn metrics(&self) -> String {
        let r = self.request(Method::GET, "/metrics", None, None).await;
        assert_eq!(r.status, StatusCode::OK);
        r.body
    }

    /// One sample of `/metrics` (`name{labels}` exactly as rendered); 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        metric_value(&self.metrics().await, series)
    }

    /// Wait (at most 20 s) until the relay reports nothing in flight to FCM and nothing in its
    /// retry queue (leased messages included) on one `/metrics` page: from then on nothing
    /// reaches FCM unless a new push comes. What "no duplicate arrives" checks wait for.
    pub async fn wait_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.metrics().await;
            let (in_flight, queued) = (metric_value(&text, "uprelay_fcm_sends_in_flight"), metric_value(&text, "uprelay_queue_length"));
            if in_flight == 0.0 && queued == 0.0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: still {in_flight} sends in flight and {queued} queued after 20 s\n{}",
                self.config.name,
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A connection speaking raw HTTP/1.1 to the relay.
    pub async fn raw(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).await.expect("connect to relay")
    }
}

/// Spawn `uprelay serve` and wait for `/healthz` = 200; Err(output) if it exited.
async fn spawn(config: &RelayConfig, config_path: &Path, port: u16) -> Result<ChildGuard, String> {
    let mut cmd = Command::new(bin_path("uprelay"));
    cmd.arg("serve").arg("--config").arg(config_path).env_remove("RUST_LOG");
    for (k, v) in &config.env {
        cmd.env(k, v);
    }
    let mut child = ChildGuard::spawn(&config.name, cmd);
    let url = format!("http://127.0.0.1:{port}/healthz");
    // A throwaway client: its pooled connection must not count against max_connections later.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).pool_max_idle_per_host(0).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.child_try_wait() {
            return Err(format!("exited with {status}\n{}", child.output()));
        }
        if client.get(&url).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            // Our child, not someone else on a recycled port?
            if let Ok(Some(status)) = child.child_try_wait() {
                return Err(format!("exited with {status}\n{}", child.output()));
            }
            return Ok(child);
        }
        assert!(Instant::now() < deadline, "{}: no 200 on {url} within 60 s\n{}", config.name, child.output());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn send(req: reqwest::RequestBuilder) -> Result<PushResponse, String> {
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let (status, headers) = (resp.status(), resp.headers().clone());
    Ok(PushResponse { status, headers, body: resp.text().await.unwrap_or_default() })
}

/// The value of a Prometheus series (`name` or `name{label="v"}`) in `text`; 0 when absent.
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(k, _)| *k == series)
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

/// Endpoint id: the last path segment of an endpoint URL.
pub fn endpoint_id(endpoint: &str) -> &str {
    endpoint.rsplit('/').next().unwrap()
}

/// The path of an endpoint URL (`/up/<id>`).
pub fn endpoint_path(endpoint: &str) -> String {
    format!("/up/{}", endpoint_id(endpoint))
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    SystemRandom::new().fill(&mut v).unwrap();
    v
}

/// `n` random bytes that contain every byte value 0..=255 when `n >= 256`, shuffled.
pub fn random_body(n: usize) -> Vec<u8> {
    let mut v = random_bytes(n);
    if n >= 256 {
        for (i, b) in v.iter_mut().take(256).enumerate() {
            *b = i as u8;
        }
        // Fisher–Yates with ring's generator.
        let rng = SystemRandom::new();
        for i in (1..n).rev() {
            let mut r = [0u8; 8];
            rng.fill(&mut r).unwrap();
            let j = (u64::from_le_bytes(r) % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        for value in 0..=255u8 {
            assert!(v.contains(&value));
        }
    }
    v
}

/// A random hex string of `bytes` random bytes.
pub fn random_hex(bytes: usize) -> String {
    random_bytes(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A unique, realistic-looking FCM registration token.
pub fn unique_token(label: &str) -> String {
    format!("{label}:APA91b{}", URL_SAFE_NO_PAD.encode(random_bytes(105)))
}

/// Reassemble a push body from its FCM message(s): one message without `s`, or two halves
/// `s` = "1" and "2" (in any order), each `b` decoded on its own as standard padded base64.
pub fn decode_body(messages: &[Value]) -> Vec<u8> {
    let mut parts: Vec<(String, Vec<u8>)> = messages
        .iter()
        .map(|m| {
            let data = &m["message"]["data"];
            let b = data["b"].as_str().unwrap_or_else(|| panic!("no data.b in {m}"));
            let bytes = STANDARD.decode(b).unwrap_or_else(|e| panic!("data.b is not standard padded base64 ({e}): {b}"));
            (data["s"].as_str().unwrap_or("").to_owned(), bytes)
        })
        .collect();
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    let labels: Vec<&str> = parts.iter().map(|p| p.0.as_str()).collect();
    assert!(labels == [""] || labels == ["1", "2"], "unexpected split labels {labels:?} in {messages:?}");
    parts.into_iter().flat_map(|p| p.1).collect()
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// An application server's VAPID key pair (ES256 / P-256), signing with ring.
pub struct VapidSigner {
    pair: EcdsaKeyPair,
}

impl Default for VapidSigner {
    fn default() -> Self {
        Self::new()
    }
}

impl VapidSigner {
    pub fn new() -> VapidSigner {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        VapidSigner { pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap() }
    }

    /// The 87-character base64url public key (what a registration's `vapid` holds).
    pub fn public_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())
    }

    /// A JWT over arbitrary claims with an arbitrary header.
    pub fn jwt_with(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
        );
        let sig = self.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    /// An ES256 JWT with `aud` and `exp` (and a mailto `sub`).
    pub fn jwt(&self, aud: &str, exp: u64) -> String {
        self.jwt_with(&json!({ "typ": "JWT", "alg": "ES256" }), &json!({ "aud": aud, "exp": exp, "sub": "mailto:ops@example.org" }))
    }

    /// `vapid t=<jwt>, k=<this key>`.
    pub fn authorization(&self, jwt: &str) -> String {
        format!("vapid t={jwt}, k={}", self.public_b64())
    }

    /// A valid `Authorization` for the relay at `origin` (exp = now + 12 h).
    pub fn valid_authorization(&self, origin: &str) -> String {
        self.authorization(&self.jwt(origin, unix_now() + 12 * 3600))
    }
}

/// Send `head` (request line + headers, without the blank line) and `body` over a raw
/// connection; return the status code and the whole response text read within 10 s.
pub async fn raw_request(stream: &mut TcpStream, head: &str, body: &[u8]) -> (u16, String) {
    let mut req = format!("{head}\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    let _ = stream.write_all(&req).await;
    read_response(stream).await
}

/// Read one HTTP/1.1 response (headers plus a Content-Length body) within 10 s.
pub async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            let n = match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok()).flatten()
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// How a raw connection ended when read until EOF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The server closed it (EOF or reset) after `ms`, having sent `bytes`.
    Closed { ms: u64, bytes: String },
    /// Still open after the limit.
    Open,
}

/// Read from `stream` until EOF/reset or `limit`; returns what happened.
pub async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> Ending {
    let started = Instant::now();
    let mut buf = Vec::new();
    let result = tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    match result {
        Ok(()) => Ending::Closed { ms: started.elapsed().as_millis() as u64, bytes: String::from_utf8_lossy(&buf).into_owned() },
        Err(_) => Ending::Open,
    }
}

/// Run `tests/python/<script>` with the venv's interpreter; parse its stdout as JSON.
pub fn run_python(script: &str, args: &[&str]) -> Value {
    let path = workspace_root().join("tests").join("python").join(script);
    let out = Command::new(python()).arg(&path).args(args).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} {args:?} failed with {}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}\nstderr:\n{stderr}"))
}

#[cfg(test)]
mod tests {
    use super::metric_value;

    #[test]
    fn metric_value_reads_one_series() {
        let text = "# TYPE x counter\nuprelay_queue_total{result=\"expired\"} 3\nuprelay_queue_total{result=\"retry\"} 7\nuprelay_queue_length 0\n";
        assert_eq!(metric_value(text, "uprelay_queue_total{result=\"expired\"}"), 3.0);
        assert_eq!(metric_value(text, "uprelay_queue_length"), 0.0);
        assert_eq!(metric_value(text, "absent"), 0.0);
    }
}

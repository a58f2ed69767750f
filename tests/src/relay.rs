//! Driving `uprelay serve` end to end: an emulator (project `test-project`) and, for the Redis
//! store, a private `redis-server` (or `UPRELAY_TEST_REDIS_URL`), the relay as a child process
//! with a generated TOML config, and clients for the distributor API and the push endpoint.
//! uprelay reaches the emulator over h2c (`http2_prior_knowledge`), the HTTP/2 path it takes to FCM.
//!
//! [`per_store!`](crate::per_store) turns `async fn case(store: StoreKind)` into one
//! `#[tokio::test]` per store (`case::embedded`, `case::redis`), each bounded in time.

use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::emulator::EmulatorProcess;
use crate::process::{bin_path, free_port, python, workspace_root, ChildGuard, TempDir};
use crate::redis::RedisServer;

/// Firebase project the emulator plays and the relay is configured with.
pub const PROJECT: &str = "test-project";

/// Longest a single per-store test may run before it fails (and its children are killed).
pub const TEST_LIMIT: Duration = Duration::from_secs(150);

/// Run a test body with a time limit; children are killed when the future is dropped.
pub async fn run_bounded<F: Future<Output = ()>>(name: &str, f: F) {
    let started = Instant::now();
    if tokio::time::timeout(TEST_LIMIT, f).await.is_err() {
        panic!("{name} did not finish within {TEST_LIMIT:?}");
    }
    eprintln!("{name}: {:.2} s", started.elapsed().as_secs_f64());
}

/// One `#[tokio::test]` per store for each `async fn NAME(store: StoreKind)` named.
#[macro_export]
macro_rules! per_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                $crate::relay::run_bounded(
                    concat!(stringify!($name), "::embedded"),
                    super::$name($crate::relay::StoreKind::Embedded),
                )
                .await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                $crate::relay::run_bounded(
                    concat!(stringify!($name), "::redis"),
                    super::$name($crate::relay::StoreKind::Redis),
                )
                .await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster() {
                $crate::relay::run_bounded(
                    concat!(stringify!($name), "::cluster"),
                    super::$name($crate::relay::StoreKind::Cluster),
                )
                .await
            }
        }
    )*};
}

/// Which `trait Store` implementation the relay uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded redb store in the test's temporary directory.
    Embedded,
    /// Redis (a private `redis-server`, or `UPRELAY_TEST_REDIS_URL`).
    Redis,
    /// A private 3-node Redis Cluster (`store.redis_cluster`).
    Cluster,
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

/// How to start the relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub store: StoreKind,
    /// `[fcm] timeout_ms`.
    pub fcm_timeout_ms: u64,
    /// Extra `key = value` lines placed before any table (e.g. `default_ttl = 60`).
    pub top_level: Vec<String>,
    /// Lines of the `[limits]` table (e.g. `max_registrations_per_device = 3`).
    pub limits: Vec<String>,
    /// Lines of the `[queue]` table (e.g. `enabled = false`).
    pub queue: Vec<String>,
    /// Extra TOML appended after the generated tables (other tables).
    pub tables: String,
    pub credentials: Credentials,
    /// Environment of the relay process (e.g. `RUST_LOG=debug`); `RUST_LOG` is removed otherwise.
    pub env: Vec<(String, String)>,
}

impl RelayConfig {
    pub fn new(store: StoreKind) -> RelayConfig {
        RelayConfig {
            store,
            fcm_timeout_ms: 2000,
            top_level: Vec::new(),
            limits: Vec::new(),
            queue: Vec::new(),
            tables: String::new(),
            credentials: Credentials::Valid,
            env: Vec::new(),
        }
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
    /// No per-endpoint push limit and no per-IP device-creation limit.
    pub fn no_rate_limits(self) -> Self {
        self.limit("push_rate_per_second = 0").limit("device_create_per_minute = 0")
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
}

/// A device as the distributor API created it.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub secret: String,
    /// The FCM token it was created with.
    pub token: String,
}

/// The answer to one push.
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
        serde_json::from_str::<Value>(&self.body).ok().and_then(|v| v["error"].as_str().map(str::to_owned)).unwrap_or_default()
    }
}

/// `uprelay serve` with its emulator (and Redis), killed on drop.
pub struct Relay {
    pub emulator: EmulatorProcess,
    pub redis: Option<RedisServer>,
    pub cluster: Option<crate::chaos::RedisCluster>,
    child: Option<ChildGuard>,
    pub port: u16,
    pub base_url: String,
    pub config_path: PathBuf,
    pub config: RelayConfig,
    pub http: reqwest::Client,
    pub dir: TempDir,
}

impl Relay {
    /// Emulator, store and relay with the default configuration.
    pub async fn start(store: StoreKind) -> Relay {
        Self::start_with(RelayConfig::new(store)).await
    }

    pub async fn start_with(config: RelayConfig) -> Relay {
        let emulator = EmulatorProcess::start_with(&["--project", PROJECT]).await;
        let (redis, cluster) = match config.store {
            StoreKind::Redis => (Some(RedisServer::start().await), None),
            StoreKind::Cluster => (None, Some(crate::chaos::RedisCluster::start().await)),
            StoreKind::Embedded => (None, None),
        };
        Self::start_full(config, emulator, redis, cluster).await
    }

    /// Start with a given emulator and Redis (e.g. a private Redis the test stops).
    pub async fn start_on(config: RelayConfig, emulator: EmulatorProcess, redis: Option<RedisServer>) -> Relay {
        Self::start_full(config, emulator, redis, None).await
    }

    async fn start_full(
        config: RelayConfig,
        emulator: EmulatorProcess,
        redis: Option<RedisServer>,
        cluster: Option<crate::chaos::RedisCluster>,
    ) -> Relay {
        let dir = TempDir::new("uprelay-relay");
        let credentials = match config.credentials {
            Credentials::Valid => emulator.credentials_path.clone(),
            Credentials::OtherProject | Credentials::Untrusted => {
                let sa = emulator.client.new_credentials("other-project").await;
                let mut json = sa.json.clone();
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
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let config_path = dir.join("uprelay.toml");
        let mut relay = Relay { emulator, redis, cluster, child: None, port: 0, base_url: String::new(), config_path, config, http, dir };
        let mut last = String::new();
        for _ in 0..5 {
            relay.port = free_port();
            relay.base_url = format!("http://127.0.0.1:{}", relay.port);
            relay.write_config(&credentials);
            match relay.spawn().await {
                Ok(()) => return relay,
                Err(output) => last = output,
            }
        }
        panic!("uprelay serve failed to start 5 times; last output:\n{last}");
    }

    fn write_config(&self, credentials: &std::path::Path) {
        let store = match (&self.config.store, &self.redis) {
            (StoreKind::Redis, Some(r)) => format!("redis_url = {:?}", r.url()),
            (StoreKind::Redis, None) => panic!("Redis store without a Redis"),
            (StoreKind::Cluster, _) => {
                let cluster = self.cluster.as_ref().expect("cluster store without a cluster");
                let nodes: Vec<String> = cluster.ports.iter().map(|p| format!("\"redis://127.0.0.1:{p}\"")).collect();
                format!("redis_cluster = [{}]", nodes.join(", "))
            }
            (StoreKind::Embedded, _) => format!("path = {:?}", self.dir.join("data").display().to_string()),
        };
        let mut tables = String::new();
        if !self.config.limits.is_empty() {
            tables.push_str(&format!("[limits]\n{}\n\n", self.config.limits.join("\n")));
        }
        if !self.config.queue.is_empty() {
            tables.push_str(&format!("[queue]\n{}\n\n", self.config.queue.join("\n")));
        }
        tables.push_str(&self.config.tables);
        let toml = format!(
            "listen = \"127.0.0.1:{port}\"\n{top}\n[store]\n{store}\n\n[fcm]\napi_url = \"{api}\"\ntimeout_ms = {timeout}\nhttp2_prior_knowledge = true\n\n\
             [[fcm.projects]]\nname = \"{PROJECT}\"\ncredentials = {creds:?}\n\n{tables}",
            port = self.port,
            top = self.config.top_level.join("\n"),
            api = self.emulator.base_url,
            timeout = self.config.fcm_timeout_ms,
            creds = credentials.display().to_string(),
        );
        std::fs::write(&self.config_path, toml).unwrap();
    }

    /// Spawn `uprelay serve` and wait for `/healthz` = 200. Err(output) if it exited.
    async fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new(bin_path("uprelay"));
        cmd.arg("serve").arg("--config").arg(&self.config_path).env_remove("RUST_LOG");
        for (k, v) in &self.config.env {
            cmd.env(k, v);
        }
        let mut child = ChildGuard::spawn("uprelay-serve", cmd);
        let url = self.url("/healthz");
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.child_try_wait() {
                return Err(format!("exited with {status}\n{}", child.output()));
            }
            if let Ok(r) = client.get(&url).send().await {
                if r.status() == StatusCode::OK {
                    // Our child, not someone else on a recycled port?
                    if let Ok(Some(status)) = child.child_try_wait() {
                        return Err(format!("exited with {status}\n{}", child.output()));
                    }
                    self.child = Some(child);
                    return Ok(());
                }
            }
            assert!(Instant::now() < deadline, "uprelay serve: no 200 on {url} within 60 s\n{}", child.output());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Kill the relay (SIGKILL: no chance to flush anything) and start it again with the
    /// same configuration, port and data.
    pub async fn restart(&mut self) {
        drop(self.child.take());
        self.respawn().await;
    }

    /// SIGTERM, require a clean exit within 10 s, then start again.
    pub async fn restart_graceful(&mut self) {
        let mut child = self.child.take().expect("relay running");
        assert!(child.terminate(Duration::from_secs(10)), "uprelay did not exit within 10 s of SIGTERM\n{}", child.output());
        let status = child.child_try_wait().unwrap().unwrap();
        assert!(status.success(), "uprelay exited with {status} after SIGTERM\n{}", child.output());
        drop(child);
        self.respawn().await;
    }

    async fn respawn(&mut self) {
        // The port was ours a moment ago; retry briefly in case the kernel is slow to free it.
        let mut last = String::new();
        for _ in 0..20 {
            match self.spawn().await {
                Ok(()) => return,
                Err(out) => last = out,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("uprelay did not come back on port {}:\n{last}", self.port);
    }

    /// Everything the relay printed so far.
    pub fn output(&self) -> String {
        self.child.as_ref().map(|c| c.output()).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Any distributor-API call; returns status and JSON body (`Null` when empty).
    pub async fn api(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.api_raw(method, path, bearer.map(|b| format!("Bearer {b}")).as_deref(), body).await
    }

    /// A distributor-API call with a raw `Authorization` header and raw body bytes.
    pub async fn api_raw(&self, method: Method, path: &str, authorization: Option<&str>, body: Option<Vec<u8>>) -> (StatusCode, Value) {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.output()));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, v)
    }

    /// `POST /v1/devices` (asserts 201).
    pub async fn create_device(&self, token: &str) -> Device {
        let (status, body) = self.api(Method::POST, "/v1/devices", None, Some(json!({ "fcm_token": token }))).await;
        assert_eq!(status, StatusCode::CREATED, "create device: {body}");
        Device {
            id: body["device_id"].as_str().expect("device_id").to_owned(),
            secret: body["secret"].as_str().expect("secret").to_owned(),
            token: token.to_owned(),
        }
    }

    /// `POST /v1/devices/{id}/registrations`; returns status and the endpoint URL (if any).
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
        assert_eq!(status, StatusCode::CREATED, "register {instance}: {body}");
        let endpoint = body["endpoint"].as_str().expect("endpoint").to_owned();
        assert!(endpoint.starts_with(&format!("{}/up/", self.base_url)), "endpoint {endpoint} is not under {}", self.base_url);
        endpoint
    }

    /// `GET /v1/devices/{id}` with the device's secret.
    pub async fn show_device(&self, dev: &Device) -> (StatusCode, Value) {
        self.api(Method::GET, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), None).await
    }

    /// POST a push with extra headers (appended, so repeating a name repeats the header).
    pub async fn push(&self, endpoint: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> PushResponse {
        let mut req = self.http.post(endpoint).body(body.into());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send_push(req).await
    }

    /// POST a push with raw header values (may be non-ASCII).
    pub async fn push_raw_headers(&self, endpoint: &str, headers: &[(&str, &[u8])], body: impl Into<Vec<u8>>) -> PushResponse {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_bytes(v).unwrap());
        }
        self.send_push(self.http.post(endpoint).headers(map).body(body.into())).await
    }

    async fn send_push(&self, req: reqwest::RequestBuilder) -> PushResponse {
        let resp = req.send().await.unwrap_or_else(|e| panic!("push: {e}\n{}", self.output()));
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        PushResponse { status, headers, body }
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
        let resp = self.http.get(self.url("/metrics")).send().await.expect("GET /metrics");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.unwrap()
    }

    /// A connection speaking raw HTTP/1.1 to the relay.
    pub async fn raw(&self) -> tokio::net::TcpStream {
        tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.expect("connect to relay")
    }
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
pub async fn raw_request(stream: &mut tokio::net::TcpStream, head: &str, body: &[u8]) -> (u16, String) {
    let mut req = format!("{head}\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    let _ = stream.write_all(&req).await;
    read_response(stream).await
}

/// Read one HTTP/1.1 response (headers plus a Content-Length body) within 10 s.
pub async fn read_response(stream: &mut tokio::net::TcpStream) -> (u16, String) {
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

/// Run `tests/python/<script>` with the venv's interpreter; parse its stdout as JSON.
pub fn run_python(script: &str, args: &[&str]) -> Value {
    let path = workspace_root().join("tests").join("python").join(script);
    let out = Command::new(python()).arg(&path).args(args).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} {args:?} failed with {}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}\nstderr:\n{stderr}"))
}

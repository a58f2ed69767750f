//! Reliability and chaos harness: relays ("nodes") whose lifecycle the test drives itself
//! (SIGKILL, SIGTERM, start again on the same port and data), several nodes on one Redis
//! and one emulator, a Redis with AOF that can be killed and restarted on its port and
//! directory, a 3-node Redis Cluster, and a ledger that checks every 201-acknowledged
//! message against what the FCM emulator received (lost, duplicated, late, corrupted).
//!
//! Everything here is bounded: every wait has a deadline, every child process is killed
//! when its guard drops, and only processes this module started are ever signalled.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::emulator::{EmulatorClient, EmulatorProcess};
use crate::process::{bin_path, free_port, ChildGuard, TempDir};
use crate::relay::{endpoint_id, random_bytes, Device, PushResponse, PROJECT};

/// Longest any reliability test may run before it fails (children are killed on drop).
pub const CHAOS_LIMIT: Duration = Duration::from_secs(90);

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Run a test body with [`CHAOS_LIMIT`]; prints the wall time.
pub async fn bounded<F: Future<Output = ()>>(name: &str, f: F) {
    let started = Instant::now();
    if tokio::time::timeout(CHAOS_LIMIT, f).await.is_err() {
        panic!("{name} did not finish within {CHAOS_LIMIT:?}");
    }
    eprintln!("{name}: {:.2} s", started.elapsed().as_secs_f64());
}

/// The FCM emulator every chaos test uses (project [`PROJECT`]).
pub async fn start_emulator() -> EmulatorProcess {
    EmulatorProcess::start_with(&["--project", PROJECT]).await
}

/// One `#[tokio::test]` per store (`NAME::embedded`, `NAME::redis`) for each
/// `async fn NAME(rig: Rig)` named, each bounded by [`CHAOS_LIMIT`].
#[macro_export]
macro_rules! chaos_per_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                let rig = $crate::chaos::Rig::new(false).await;
                $crate::chaos::bounded(concat!(stringify!($name), "::embedded"), super::$name(rig)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                let rig = $crate::chaos::Rig::new(true).await;
                $crate::chaos::bounded(concat!(stringify!($name), "::redis"), super::$name(rig)).await
            }
        }
    )*};
}

/// An emulator and, for the Redis store, a private `redis-server`.
pub struct Rig {
    pub emulator: EmulatorProcess,
    pub redis: Option<crate::redis::RedisServer>,
}

impl Rig {
    pub async fn new(redis: bool) -> Rig {
        let emulator = start_emulator().await;
        let redis = if redis { Some(crate::redis::RedisServer::private().await) } else { None };
        Rig { emulator, redis }
    }
    /// The backend nodes of this rig use (each embedded node has its own file).
    pub fn backend(&self) -> Backend {
        match &self.redis {
            Some(r) => Backend::Redis(r.url().to_owned()),
            None => Backend::Embedded,
        }
    }
    /// `embedded` or `redis`, for messages.
    pub fn store(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "embedded"
        }
    }
    /// A node of this rig.
    pub async fn node(&self, name: &str, config: NodeConfig) -> Node {
        Node::start(name, &self.emulator, config).await
    }
    /// The emulator's client.
    pub fn fcm(&self) -> &EmulatorClient {
        &self.emulator.client
    }
}

// ---------------------------------------------------------------------------------------
// Relay nodes
// ---------------------------------------------------------------------------------------

/// Where a node keeps its data.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The embedded redb store in the node's own directory.
    Embedded,
    /// A standalone Redis URL.
    Redis(String),
    /// Redis Cluster seed URLs.
    Cluster(Vec<String>),
}

/// How to configure a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub backend: Backend,
    /// `[fcm] timeout_ms`.
    pub fcm_timeout_ms: u64,
    /// Lines before any table.
    pub top: Vec<String>,
    /// `[limits]` lines.
    pub limits: Vec<String>,
    /// `[queue]` lines.
    pub queue: Vec<String>,
    /// Environment of the process.
    pub env: Vec<(String, String)>,
}

impl NodeConfig {
    pub fn new(backend: Backend) -> NodeConfig {
        NodeConfig { backend, fcm_timeout_ms: 1000, top: Vec::new(), limits: Vec::new(), queue: Vec::new(), env: Vec::new() }
    }
    pub fn top(mut self, line: &str) -> Self {
        self.top.push(line.to_owned());
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
    pub fn fcm_timeout_ms(mut self, ms: u64) -> Self {
        self.fcm_timeout_ms = ms;
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
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
}

/// One `uprelay serve` process the test starts, kills and restarts itself.
pub struct Node {
    pub name: String,
    pub port: u16,
    pub base_url: String,
    pub config: NodeConfig,
    /// A client for this node (30 s timeout per request).
    pub http: reqwest::Client,
    child: Option<ChildGuard>,
    config_path: PathBuf,
    credentials: PathBuf,
    emulator_url: String,
    /// Output of earlier (killed or stopped) processes of this node.
    past_output: String,
    pub dir: TempDir,
}

impl Node {
    /// Write the config and start the node on a free port (retrying on a port race).
    pub async fn start(name: &str, emulator: &EmulatorProcess, config: NodeConfig) -> Node {
        let dir = TempDir::new(&format!("uprelay-chaos-{name}"));
        let mut node = Node {
            name: name.to_owned(),
            port: 0,
            base_url: String::new(),
            config,
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
            child: None,
            config_path: dir.join("uprelay.toml"),
            credentials: emulator.credentials_path.clone(),
            emulator_url: emulator.base_url.clone(),
            past_output: String::new(),
            dir,
        };
        let mut last = String::new();
        for _ in 0..5 {
            node.port = free_port();
            node.base_url = format!("http://127.0.0.1:{}", node.port);
            node.write_config();
            match node.spawn().await {
                Ok(()) => return node,
                Err(out) => last = out,
            }
        }
        panic!("node {name}: uprelay serve failed to start 5 times; last output:\n{last}");
    }

    fn write_config(&self) {
        let c = &self.config;
        let store = match &c.backend {
            Backend::Embedded => format!("path = {:?}", self.dir.join("data").display().to_string()),
            Backend::Redis(url) => format!("redis_url = {url:?}"),
            Backend::Cluster(urls) => {
                format!("redis_cluster = [{}]", urls.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", "))
            }
        };
        let mut tables = String::new();
        if !c.limits.is_empty() {
            tables.push_str(&format!("[limits]\n{}\n\n", c.limits.join("\n")));
        }
        if !c.queue.is_empty() {
            tables.push_str(&format!("[queue]\n{}\n\n", c.queue.join("\n")));
        }
        let toml = format!(
            "listen = \"127.0.0.1:{port}\"\n{top}\n\n[store]\n{store}\n\n[fcm]\napi_url = {api:?}\ntimeout_ms = {timeout}\nhttp2_prior_knowledge = true\n\n\
             [[fcm.projects]]\nname = \"{PROJECT}\"\ncredentials = {creds:?}\n\n{tables}",
            port = self.port,
            top = c.top.join("\n"),
            api = self.emulator_url,
            timeout = c.fcm_timeout_ms,
            creds = self.credentials.display().to_string(),
        );
        std::fs::write(&self.config_path, toml).unwrap();
    }

    /// Spawn the process and wait for `/healthz` = 200; Err(output) if it exited.
    async fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new(bin_path("uprelay"));
        cmd.arg("serve").arg("--config").arg(&self.config_path).env_remove("RUST_LOG");
        for (k, v) in &self.config.env {
            cmd.env(k, v);
        }
        let mut child = ChildGuard::spawn(&format!("uprelay-{}", self.name), cmd);
        let url = self.url("/healthz");
        // A throwaway client: its pooled connection must not count against max_connections later.
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).pool_max_idle_per_host(0).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.child_try_wait() {
                return Err(format!("exited with {status}\n{}", child.output()));
            }
            if let Ok(r) = client.get(&url).send().await {
                if r.status() == StatusCode::OK {
                    if let Ok(Some(status)) = child.child_try_wait() {
                        return Err(format!("exited with {status}\n{}", child.output()));
                    }
                    self.child = Some(child);
                    return Ok(());
                }
            }
            assert!(Instant::now() < deadline, "node {}: no 200 on {url} within 60 s\n{}", self.name, child.output());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL the process (no chance to flush or finish anything).
    pub fn kill(&mut self) {
        let child = self.child.take().unwrap_or_else(|| panic!("node {} is not running", self.name));
        self.past_output.push_str(&child.output());
        drop(child); // ChildGuard: SIGKILL + reap
    }

    /// Start the node again on the same port, with the same config and data.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "node {} is still running", self.name);
        let mut last = String::new();
        for _ in 0..40 {
            match self.spawn().await {
                Ok(()) => return,
                Err(out) => last = out,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("node {} did not come back on port {}:\n{last}", self.name, self.port);
    }

    /// The process id, while running.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("node running").id()
    }

    /// Send SIGTERM (graceful stop) without waiting.
    pub fn sigterm(&self) {
        let pid = self.pid();
        let status = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().expect("kill -TERM");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// Wait (at most `limit`) for the process to exit; its status, or None on timeout.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            let child = self.child.as_mut().expect("node running");
            if let Ok(Some(status)) = child.child_try_wait() {
                let child = self.child.take().unwrap();
                self.past_output.push_str(&child.output());
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.child_try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Everything every process of this node printed so far.
    pub fn output(&self) -> String {
        let current = self.child.as_ref().map(|c| c.output()).unwrap_or_default();
        format!("{}{}", self.past_output, current)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Any request; status, headers and body text (panics on a transport error).
    pub async fn request(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> PushResponse {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path} on {}: {e}\n{}", self.name, self.output()));
        let (status, headers) = (resp.status(), resp.headers().clone());
        PushResponse { status, headers, body: resp.text().await.unwrap_or_default() }
    }

    /// A distributor-API call: status and JSON body (`Null` when empty).
    pub async fn api(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let r = self.request(method, path, bearer, body).await;
        let v = if r.body.is_empty() { Value::Null } else { serde_json::from_str(&r.body).unwrap_or(Value::String(r.body)) };
        (r.status, v)
    }

    /// `POST /v1/devices` without asserting the outcome.
    pub async fn try_create_device(&self, token: &str) -> PushResponse {
        self.request(Method::POST, "/v1/devices", None, Some(json!({ "fcm_token": token }))).await
    }

    /// `POST /v1/devices` (asserts 201).
    pub async fn create_device(&self, token: &str) -> Device {
        let r = self.try_create_device(token).await;
        assert_eq!(r.status, StatusCode::CREATED, "create device on {}: {r:?}", self.name);
        let body: Value = serde_json::from_str(&r.body).unwrap();
        Device {
            id: body["device_id"].as_str().expect("device_id").to_owned(),
            secret: body["secret"].as_str().expect("secret").to_owned(),
            token: token.to_owned(),
        }
    }

    /// Register `instance` (asserts 201) and return the endpoint id.
    pub async fn register(&self, dev: &Device, instance: &str) -> String {
        let (status, body) = self
            .api(Method::POST, &format!("/v1/devices/{}/registrations", dev.id), Some(&dev.secret), Some(json!({ "instance": instance })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {instance} on {}: {body}", self.name);
        endpoint_id(body["endpoint"].as_str().expect("endpoint")).to_owned()
    }

    /// `POST /up/{endpoint_id}` through this node; Err on a transport error (killed node,
    /// timeout), which a test counts as "not acknowledged".
    pub async fn push(&self, endpoint: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Result<PushResponse, String> {
        self.push_with(&self.http, endpoint, headers, body).await
    }

    /// Like [`Node::push`] with a given client (e.g. one with a short timeout).
    pub async fn push_with(
        &self,
        http: &reqwest::Client,
        endpoint: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<PushResponse, String> {
        let mut req = http.post(self.url(&format!("/up/{endpoint}"))).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = resp.text().await.map_err(|e| e.to_string())?;
        Ok(PushResponse { status, headers, body })
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

/// A device with one registration per instance name; endpoint ids in `endpoints`.
pub struct Target {
    pub device: Device,
    pub endpoints: Vec<String>,
}

/// `devices` devices with `per_device` endpoints each, created through `node`.
pub async fn make_targets(node: &Node, label: &str, devices: usize, per_device: usize) -> Vec<Target> {
    let mut out = Vec::new();
    for d in 0..devices {
        let device = node.create_device(&crate::relay::unique_token(&format!("{label}{d}"))).await;
        let mut endpoints = Vec::new();
        for i in 0..per_device {
            endpoints.push(node.register(&device, &format!("app{i}")).await);
        }
        out.push(Target { device, endpoints });
    }
    out
}

/// Every (endpoint id, token) pair of `targets`.
pub fn routes(targets: &[Target]) -> Vec<(String, String)> {
    targets.iter().flat_map(|t| t.endpoints.iter().map(|e| (e.clone(), t.device.token.clone()))).collect()
}

// ---------------------------------------------------------------------------------------
// The ledger: what was acknowledged, and what reached FCM
// ---------------------------------------------------------------------------------------

/// A push the relay answered 201.
#[derive(Debug, Clone)]
pub struct Acked {
    /// Message id from `Location` (the `m` of the FCM data map).
    pub m: String,
    pub token: String,
    pub ttl: u64,
    /// When the 201 arrived (the relay's expiry time is at most this + TTL).
    pub acked_ms: u64,
    pub body: Vec<u8>,
    /// Which node answered.
    pub via: String,
}

/// Everything a load phase sent and got back.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    pub acked: Vec<Acked>,
    /// Non-201 answers by status.
    pub refused: BTreeMap<u16, usize>,
    /// Pushes without an answer (connection refused or reset, timeout).
    pub transport_errors: usize,
    /// Non-201 answers that lacked a Retry-After while being 429/503.
    pub missing_retry_after: usize,
}

impl Ledger {
    /// Record one push outcome.
    pub fn record(&mut self, via: &str, token: &str, ttl: u64, body: Vec<u8>, result: &Result<PushResponse, String>) {
        match result {
            Ok(r) if r.status == StatusCode::CREATED => {
                self.acked.push(Acked { m: r.message_id(), token: token.to_owned(), ttl, acked_ms: now_ms(), body, via: via.to_owned() })
            }
            Ok(r) => {
                *self.refused.entry(r.status.as_u16()).or_default() += 1;
                let retryable = r.status == StatusCode::SERVICE_UNAVAILABLE || r.status == StatusCode::TOO_MANY_REQUESTS;
                if retryable && r.header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_none() {
                    self.missing_retry_after += 1;
                }
            }
            Err(_) => self.transport_errors += 1,
        }
    }

    pub fn merge(&mut self, other: Ledger) {
        self.acked.extend(other.acked);
        for (k, v) in other.refused {
            *self.refused.entry(k).or_default() += v;
        }
        self.transport_errors += other.transport_errors;
        self.missing_retry_after += other.missing_retry_after;
    }

    pub fn attempts(&self) -> usize {
        self.acked.len() + self.refused.values().sum::<usize>() + self.transport_errors
    }
}

/// A push body that names its phase and sequence number, padded with random bytes to `len`.
pub fn tagged_body(tag: &str, seq: usize, len: usize) -> Vec<u8> {
    let mut b = format!("{tag}:{seq:06}:").into_bytes();
    if b.len() < len {
        b.extend(random_bytes(len - b.len()));
    }
    b
}

/// Push `n` messages round-robin over `routes` through `node`, `concurrency` at a time,
/// with `TTL: ttl`. Every 25th body is 4096 bytes (split in two FCM messages).
pub async fn push_load(node: &Node, routes: &[(String, String)], tag: &str, n: usize, ttl: u64, concurrency: usize) -> Ledger {
    use futures::StreamExt;
    let ttl_s = ttl.to_string();
    let results: Vec<(String, Vec<u8>, Result<PushResponse, String>)> = futures::stream::iter(0..n)
        .map(|i| {
            let (endpoint, token) = routes[i % routes.len()].clone();
            let body = tagged_body(tag, i, if i % 25 == 7 { 4096 } else { 64 + i % 200 });
            let ttl_s = ttl_s.clone();
            async move {
                let r = node.push(&endpoint, &[("TTL", &ttl_s)], body.clone()).await;
                (token, body, r)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut ledger = Ledger::default();
    for (token, body, r) in results {
        ledger.record(&node.name, &token, ttl, body, &r);
    }
    ledger
}

/// One FCM message as the emulator kept it.
#[derive(Debug, Clone)]
pub struct Received {
    pub m: String,
    pub s: String,
    pub token: String,
    pub bytes: Vec<u8>,
    pub received_ms: u64,
    pub android_ttl_s: u64,
}

/// Parse `GET /emulator/messages` entries.
pub fn parse_received(msgs: &[Value]) -> Vec<Received> {
    msgs.iter()
        .map(|v| {
            let msg = &v["message"];
            let data = &msg["data"];
            Received {
                m: data["m"].as_str().unwrap_or("").to_owned(),
                s: data["s"].as_str().unwrap_or("").to_owned(),
                token: msg["token"].as_str().unwrap_or("").to_owned(),
                bytes: STANDARD.decode(data["b"].as_str().unwrap_or("")).unwrap_or_else(|e| panic!("data.b not base64 ({e}): {v}")),
                received_ms: v["received_at_ms"].as_u64().unwrap_or(0),
                android_ttl_s: msg["android"]["ttl"].as_str().and_then(|t| t.trim_end_matches('s').parse().ok()).unwrap_or(0),
            }
        })
        .collect()
}

/// The verdict on a ledger against what FCM received.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// 201-acknowledged messages.
    pub accepted: usize,
    /// Acknowledged messages that reached FCM whole (both halves when split).
    pub delivered: usize,
    /// Acknowledged, TTL not over, not delivered.
    pub lost: Vec<String>,
    /// Acknowledged, not delivered, TTL over (allowed).
    pub expired: Vec<String>,
    /// Acknowledged messages that reached FCM more than once.
    pub duplicated: Vec<String>,
    /// FCM messages beyond the first of each (message, half).
    pub extra_copies: usize,
    /// Delivered after acknowledgement time + TTL.
    pub late: Vec<String>,
    /// Sent with an `android.ttl` reaching past the original expiry (by > 1 s).
    pub ttl_extended: Vec<String>,
    /// Delivered with another body or to another token than acknowledged.
    pub corrupt: Vec<String>,
    /// Distinct message ids FCM received that no 201 acknowledged (pushes whose answer was
    /// lost to a crash, an outage, a timeout).
    pub unacknowledged_delivered: usize,
}

impl Tally {
    pub fn compute(ledger: &Ledger, received: &[Received], now: u64) -> Tally {
        let mut by_m: HashMap<&str, Vec<&Received>> = HashMap::new();
        for r in received {
            by_m.entry(r.m.as_str()).or_default().push(r);
        }
        let mut t = Tally { accepted: ledger.acked.len(), ..Tally::default() };
        let acked_ids: BTreeSet<&str> = ledger.acked.iter().map(|a| a.m.as_str()).collect();
        t.unacknowledged_delivered = by_m.keys().filter(|m| !acked_ids.contains(*m)).count();
        for a in &ledger.acked {
            let parts = by_m.get(a.m.as_str()).cloned().unwrap_or_default();
            let labels: BTreeSet<&str> = parts.iter().map(|p| p.s.as_str()).collect();
            let whole = labels.contains("") || (labels.contains("1") && labels.contains("2"));
            let expiry = a.acked_ms + a.ttl * 1000;
            if !whole {
                if now > expiry {
                    t.expired.push(a.m.clone());
                } else {
                    t.lost.push(a.m.clone());
                }
                continue;
            }
            t.delivered += 1;
            let extra = parts.len() - labels.len();
            if extra > 0 {
                t.duplicated.push(a.m.clone());
                t.extra_copies += extra;
            }
            if parts.iter().any(|p| p.received_ms > expiry) {
                t.late.push(a.m.clone());
            }
            if parts.iter().any(|p| p.received_ms + p.android_ttl_s * 1000 > expiry + 1000) {
                t.ttl_extended.push(a.m.clone());
            }
            // Every copy of every half must carry the acknowledged bytes, to the right token.
            let first_of = |s: &str| parts.iter().find(|p| p.s == s).map(|p| p.bytes.clone());
            let body = if labels.contains("") { first_of("").unwrap() } else { [first_of("1").unwrap(), first_of("2").unwrap()].concat() };
            let same_copies = parts.iter().all(|p| Some(&p.bytes) == first_of(&p.s).as_ref());
            if body != a.body || !same_copies || parts.iter().any(|p| p.token != a.token) {
                t.corrupt.push(a.m.clone());
            }
        }
        t
    }

    /// One row of the table.
    pub fn row(&self, fault: &str) -> String {
        format!(
            "| {fault} | {} | {} | {} | {} msgs ({} extra copies) | expired {} | late {} | unacked-but-delivered {} |",
            self.accepted,
            self.delivered,
            self.lost.len(),
            self.duplicated.len(),
            self.extra_copies,
            self.expired.len(),
            self.late.len(),
            self.unacknowledged_delivered
        )
    }

    /// Panic unless nothing was lost, late, extended or corrupted.
    #[track_caller]
    pub fn assert_sound(&self, context: &str) {
        assert!(self.lost.is_empty(), "{context}: {} acknowledged messages LOST: {:?}\n{self:?}", self.lost.len(), first(&self.lost));
        assert!(self.late.is_empty(), "{context}: delivered after their TTL: {:?}", first(&self.late));
        assert!(self.ttl_extended.is_empty(), "{context}: android.ttl reaches past the original expiry: {:?}", first(&self.ttl_extended));
        assert!(self.corrupt.is_empty(), "{context}: delivered with a wrong body or token: {:?}", first(&self.corrupt));
    }
}

fn first(v: &[String]) -> &[String] {
    &v[..v.len().min(10)]
}

/// All FCM messages the emulator kept.
pub async fn received(emulator: &EmulatorClient) -> Vec<Received> {
    parse_received(&emulator.messages(None).await)
}

/// Wait (at most `limit`) until every acknowledged message of `ledger` whose TTL is not
/// over reached FCM, then `settle` longer for late duplicates; the final tally.
pub async fn await_delivery(emulator: &EmulatorClient, ledger: &Ledger, limit: Duration, settle: Duration) -> Tally {
    let deadline = Instant::now() + limit;
    loop {
        let t = Tally::compute(ledger, &received(emulator).await, now_ms());
        if t.lost.is_empty() || Instant::now() >= deadline {
            if t.lost.is_empty() {
                tokio::time::sleep(settle).await;
                return Tally::compute(ledger, &received(emulator).await, now_ms());
            }
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait (at most `limit`) until `cond` holds, polling every 50 ms; whether it did.
pub async fn eventually<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Redis with persistence, Redis Cluster, redis-cli
// ---------------------------------------------------------------------------------------

fn redis_server_bin() -> String {
    std::env::var("UPRELAY_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

/// `PING` in RESP, expecting `+PONG` within 2 s.
pub async fn redis_ping(port: u16) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(b"*1\r\n$4\r\nPING\r\n").await.ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"+PONG"))
    };
    matches!(tokio::time::timeout(Duration::from_secs(2), attempt).await, Ok(Some(true)))
}

/// Run `redis-cli -p port [-c] args…` (10 s at most); its trimmed stdout.
pub async fn redis_cli(port: u16, cluster: bool, args: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new("redis-cli");
    cmd.arg("-p").arg(port.to_string());
    if cluster {
        cmd.arg("-c");
    }
    cmd.args(args).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(10), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("redis-cli -p {port} {args:?} took over 10 s"))
        .unwrap_or_else(|e| panic!("cannot run redis-cli: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A private Redis with AOF (`appendfsync always`) that a test kills and restarts on the
/// same port and directory.
pub struct PersistentRedis {
    pub port: u16,
    pub dir: TempDir,
    child: Option<ChildGuard>,
    past_output: String,
}

impl PersistentRedis {
    pub async fn start() -> PersistentRedis {
        let mut r = PersistentRedis { port: 0, dir: TempDir::new("uprelay-aof-redis"), child: None, past_output: String::new() };
        for _ in 0..5 {
            r.port = free_port();
            if r.spawn().await.is_ok() {
                return r;
            }
        }
        panic!("could not start a redis-server with AOF:\n{}", r.past_output);
    }

    async fn spawn(&mut self) -> Result<(), ()> {
        let mut cmd = Command::new(redis_server_bin());
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--dir", &self.dir.path().display().to_string()])
            .args(["--protected-mode", "no", "--loglevel", "warning"]);
        let mut child = ChildGuard::spawn("redis-aof", cmd);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(_)) = child.child_try_wait() {
                self.past_output.push_str(&child.output());
                return Err(());
            }
            if redis_ping(self.port).await {
                self.child = Some(child);
                return Ok(());
            }
            assert!(Instant::now() < deadline, "redis-server with AOF did not answer within 20 s\n{}", child.output());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL (what it has not fsynced is gone).
    pub fn kill(&mut self) {
        let child = self.child.take().expect("redis running");
        self.past_output.push_str(&child.output());
        drop(child);
    }

    /// Start again on the same port and directory (replays the AOF).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none());
        for _ in 0..40 {
            if self.spawn().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("redis-server did not come back on port {}:\n{}", self.port, self.past_output);
    }

    pub async fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, false, args).await
    }
}

/// A port `p` such that both `p` and the cluster bus port `p + 10000` are free.
fn free_cluster_port() -> u16 {
    for _ in 0..200 {
        let r = random_bytes(2);
        let p = 20000 + (u16::from_le_bytes([r[0], r[1]]) % 25000);
        let ok = std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok();
        if ok {
            return p;
        }
    }
    panic!("no free port pair for a Redis Cluster node");
}

/// A 3-master Redis Cluster (no replicas) of private `redis-server`s.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<ChildGuard>,
    _dir: TempDir,
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start().await {
                Ok(c) => return c,
                Err(e) => last = e,
            }
        }
        panic!("could not start a 3-node Redis Cluster:\n{last}");
    }

    async fn try_start() -> Result<RedisCluster, String> {
        let dir = TempDir::new("uprelay-cluster");
        let mut ports = Vec::new();
        let mut children = Vec::new();
        for _ in 0..3 {
            let p = free_cluster_port();
            let mut cmd = Command::new(redis_server_bin());
            cmd.args(["--port", &p.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", &dir.join(&format!("nodes-{p}.conf")).display().to_string()])
                .args(["--dir", &dir.path().display().to_string()])
                .args(["--protected-mode", "no", "--loglevel", "warning"]);
            children.push(ChildGuard::spawn(&format!("redis-cluster-{p}"), cmd));
            ports.push(p);
        }
        for (i, p) in ports.iter().enumerate() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !redis_ping(*p).await {
                if let Ok(Some(_)) = children[i].child_try_wait() {
                    return Err(children[i].output());
                }
                if Instant::now() >= deadline {
                    return Err(format!("node {p} did not answer PING\n{}", children[i].output()));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let mut create = tokio::process::Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for p in &ports {
            create.arg(format!("127.0.0.1:{p}"));
        }
        create.args(["--cluster-replicas", "0", "--cluster-yes"]).kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(30), create.output())
            .await
            .map_err(|_| "redis-cli --cluster create took over 30 s".to_owned())?
            .map_err(|e| format!("cannot run redis-cli: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let cluster = RedisCluster { ports, children, _dir: dir };
        let ok = eventually(Duration::from_secs(30), || async {
            for p in &cluster.ports {
                let info = redis_cli(*p, false, &["cluster", "info"]).await;
                if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_assigned:16384") {
                    return false;
                }
            }
            true
        })
        .await;
        if !ok {
            return Err(format!(
                "cluster_state did not become ok within 30 s: {}",
                redis_cli(cluster.ports[0], false, &["cluster", "info"]).await
            ));
        }
        Ok(cluster)
    }

    /// `redis://127.0.0.1:<port>` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect()
    }

    /// `redis-cli -c` against the first node (follows MOVED redirections).
    pub async fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.ports[0], true, args).await
    }

    /// `DBSIZE` of each node.
    pub async fn dbsizes(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for p in &self.ports {
            out.push(redis_cli(*p, false, &["dbsize"]).await.parse().unwrap_or(0));
        }
        out
    }

    /// Whether every node process is alive.
    pub fn assert_running(&mut self) {
        for c in &mut self.children {
            c.assert_running();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Raw connections
// ---------------------------------------------------------------------------------------

/// How a raw connection ended when read until EOF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The server closed it (EOF or reset) after `ms`, having sent `bytes`.
    Closed { ms: u64, bytes: String },
    /// Still open after the limit.
    Open,
}

/// Read from `stream` until EOF/reset or `limit`; returns what happened.
pub async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Ending {
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

/// A header map as a `name: value` list (for messages).
pub fn show_headers(h: &HeaderMap) -> String {
    h.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?"))).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(m: &str, ttl: u64, acked_ms: u64, body: &[u8]) -> Acked {
        Acked { m: m.into(), token: "t".into(), ttl, acked_ms, body: body.to_vec(), via: "n".into() }
    }

    fn got(m: &str, s: &str, bytes: &[u8], received_ms: u64, android_ttl_s: u64) -> Received {
        Received { m: m.into(), s: s.into(), token: "t".into(), bytes: bytes.to_vec(), received_ms, android_ttl_s }
    }

    #[test]
    fn tally_finds_lost_expired_duplicated_late_extended_and_corrupt() {
        let ledger = Ledger {
            acked: vec![
                acked("ok", 60, 1_000, b"a"),
                acked("split", 60, 1_000, b"abcd"),
                acked("half", 60, 1_000, b"abcd"),
                acked("lost", 60, 1_000, b"x"),
                acked("expired", 1, 1_000, b"x"),
                acked("dup", 60, 1_000, b"d"),
                acked("late", 1, 1_000, b"l"),
                acked("extended", 10, 1_000, b"e"),
                acked("corrupt", 60, 1_000, b"c"),
            ],
            ..Ledger::default()
        };
        let received = vec![
            got("ok", "", b"a", 1_100, 59),
            got("split", "2", b"cd", 1_100, 59),
            got("split", "1", b"ab", 1_100, 59),
            got("half", "1", b"ab", 1_100, 59),
            got("dup", "", b"d", 1_100, 59),
            got("dup", "", b"d", 1_200, 59),
            got("late", "", b"l", 2_500, 0),
            got("extended", "", b"e", 2_000, 60),
            got("corrupt", "", b"C", 1_100, 59),
            got("stranger", "", b"s", 1_100, 59),
        ];
        let t = Tally::compute(&ledger, &received, 10_000);
        assert_eq!(t.accepted, 9);
        assert_eq!(t.lost, vec!["half".to_string(), "lost".to_string()]);
        assert_eq!(t.expired, vec!["expired".to_string()]);
        assert_eq!(t.duplicated, vec!["dup".to_string()]);
        assert_eq!(t.extra_copies, 1);
        assert_eq!(t.late, vec!["late".to_string()]);
        assert_eq!(t.ttl_extended, vec!["extended".to_string()]);
        assert_eq!(t.corrupt, vec!["corrupt".to_string()]);
        assert_eq!(t.unacknowledged_delivered, 1);
        assert_eq!(t.delivered, 6);
        let r = std::panic::catch_unwind(|| t.assert_sound("x"));
        assert!(r.is_err(), "assert_sound must fail on a lost message");
    }

    #[test]
    fn metric_value_reads_one_series() {
        let text = "# TYPE x counter\nuprelay_queue_total{result=\"expired\"} 3\nuprelay_queue_total{result=\"retry\"} 7\nuprelay_queue_length 0\n";
        assert_eq!(metric_value(text, "uprelay_queue_total{result=\"expired\"}"), 3.0);
        assert_eq!(metric_value(text, "uprelay_queue_length"), 0.0);
        assert_eq!(metric_value(text, "absent"), 0.0);
    }
}

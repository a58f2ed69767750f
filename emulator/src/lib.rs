//! A faithful stand-in for Firebase Cloud Messaging (HTTP v1) and Google's OAuth token endpoint,
//! for tests, benchmarks and app developers (`uprelay emulator`, and `uprelay serve` in sandbox
//! mode through [`spawn`]).
//!
//! # HTTP surface
//! Google's side:
//! - `POST /token` — OAuth2 JWT-bearer grant (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`,
//!   `assertion=<JWT>`). The RS256 signature must verify with a key this emulator issued (found by
//!   the `kid` header, else by `iss` = client_email; base64url segments may be padded or not),
//!   `aud` must be the `token_uri` written into that key's credentials, `http://<Host>/token`, or
//!   one of Google's own token URLs (google-auth always signs for `https://oauth2.googleapis.com/token`),
//!   `scope` must contain `.../auth/firebase.messaging` or `.../auth/cloud-platform`, `iat` may be at
//!   most 60 s in the future, `exp` must be in the future and at most 3600 s after `iat`.
//!   Success: `{"access_token","expires_in","token_type":"Bearer"}`. Refusals: 400
//!   `{"error","error_description"}` with `invalid_grant` (signature, account, audience, times),
//!   `invalid_scope` (scope), `unsupported_grant_type` or `invalid_request`.
//! - `POST /v1/projects/{project}/messages:send` — see [`send::validate`] for the rules. Order of
//!   checks: access token (401 UNAUTHENTICATED, no FcmError detail) → token's project (403
//!   PERMISSION_DENIED, no FcmError detail) → request validation (400 INVALID_ARGUMENT with an
//!   FcmError detail, plus `google.rpc.BadRequest` when a field is at fault) → dead token (404
//!   UNREGISTERED) → injected faults (latency, then the fault's error) → accepted: 200
//!   `{"name":"projects/{project}/messages/<id>"}`, kept for inspection unless `validate_only`.
//!
//! Emulator control (not part of FCM):
//! - `POST /emulator/credentials` `{"project": "p2"}` (optional; also optional `token_uri`) → the
//!   service-account JSON of a new key for that project, trusted from now on.
//! - `POST /emulator/faults` `{"token"?, "error"?, "times"?, "retry_after"?, "delay_ms"?}` → 200 with
//!   the fault (and its `id`); `GET /emulator/faults` → `{"faults":[…],"dead_tokens":[…]}`;
//!   `DELETE /emulator/faults` → 204, removes every injected fault. Matching rules are in
//!   [`faults`]: token-specific faults before global ones, the first error fault decides, delay-only
//!   faults add latency, each affected send uses up one of `times`. A token that was answered
//!   UNREGISTERED stays dead (`DELETE /emulator/faults` does not revive it; `POST /emulator/reset` does).
//! - `POST /emulator/revoke-tokens` → `{"revoked": n}`: every access token stops working (401).
//! - `GET /emulator/messages[?token=T][&project=P]` → JSON array, oldest first, of
//!   `{"name","project","message" (as received, member order kept),"received_at" (RFC 3339 UTC,
//!   milliseconds),"received_at_ms" (unix ms)}`; `DELETE /emulator/messages` → 204.
//! - `GET /emulator/stats` → `{"accepted","rejected","validated","tokens_issued","send_requests",
//!   "stored"}`; counts since start (`accepted` counts messages evicted by `--keep` too;
//!   `validate_only` successes count as `validated`, not `accepted`).
//! - `POST /emulator/reset` → 204: clears faults, dead tokens and stored messages.

mod credentials;
mod errors;
mod faults;
mod h2c;
mod inbox;
mod json;
mod oauth;
pub mod send;
mod serve;
mod time;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use faults::{Fault, FaultCode};

use errors::json_response;
use inbox::{Inbox, Stats};

/// CLI arguments of `uprelay emulator`.
#[derive(clap::Args, Debug, Clone)]
pub struct EmulatorArgs {
    /// Address to listen on (HTTP/1.1 and h2c).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Firebase project id of the credentials written at start.
    #[arg(long, default_value = "uprelay-sandbox")]
    pub project: String,
    /// Write a service-account JSON for `--project` (trusted by this emulator) to this file.
    #[arg(long)]
    pub write_credentials: Option<std::path::PathBuf>,
    /// Keep at most this many accepted messages for inspection (oldest dropped).
    #[arg(long, default_value_t = 10_000)]
    pub keep: usize,
    /// Lifetime of issued access tokens, seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_lifetime: u64,
    /// Concurrent streams each h2c connection allows (its SETTINGS_MAX_CONCURRENT_STREAMS).
    /// Google's front ends allow 100; a lower one shows how a client spreads its sends.
    #[arg(long, default_value_t = crate::fcm::FCM_MAX_CONCURRENT_STREAMS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams: u32,
}

/// The emulator's state. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    default_project: String,
    token_lifetime: Duration,
    keys: credentials::KeyRing,
    tokens: oauth::TokenStore,
    faults: faults::Faults,
    inbox: Inbox,
    stats: Stats,
    next_message: AtomicU64,
    /// Random per-instance suffix of message names.
    instance_tag: String,
}

/// Counters of `GET /emulator/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmulatorStats {
    /// Messages accepted for delivery since start (including ones evicted by `--keep`).
    pub accepted: u64,
    /// Send requests answered with an error (auth, validation, dead token, injected fault).
    pub rejected: u64,
    /// `validate_only` requests that passed.
    pub validated: u64,
    /// Access tokens issued by `POST /token`.
    pub tokens_issued: u64,
    /// Every request to `messages:send`, whatever its outcome.
    pub send_requests: u64,
    /// Messages currently kept for inspection.
    pub stored: u64,
}

/// Body of `POST /emulator/faults`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Only sends to this registration token (every send when absent).
    pub token: Option<String>,
    /// FCM error code to answer with (see [`FaultCode`]); latency only when absent.
    pub error: Option<String>,
    /// Number of sends affected (forever when absent).
    pub times: Option<u64>,
    /// Seconds, sent as `Retry-After` with the error.
    pub retry_after: Option<u64>,
    /// Latency added before answering, milliseconds.
    pub delay_ms: Option<u64>,
}

impl Emulator {
    /// An emulator whose default project is `project`, keeping at most `keep` accepted messages
    /// and issuing access tokens valid for `token_lifetime`. It trusts no key until
    /// [`Emulator::issue_credentials`] is called.
    pub fn new(project: &str, keep: usize, token_lifetime: Duration) -> Self {
        let tag: u32 = rand::thread_rng().gen();
        Emulator {
            inner: Arc::new(Inner {
                default_project: project.to_owned(),
                token_lifetime,
                keys: Default::default(),
                tokens: Default::default(),
                faults: Default::default(),
                inbox: Inbox::new(keep),
                stats: Default::default(),
                next_message: AtomicU64::new(0),
                instance_tag: format!("{tag:08x}"),
            }),
        }
    }

    /// The project given to [`Emulator::new`].
    pub fn default_project(&self) -> &str {
        &self.inner.default_project
    }

    /// Generate a fresh RSA key for `project`, trust it, and return a Google service-account JSON
    /// (type "service_account", project_id, private_key_id, private_key (PKCS#8 PEM),
    /// client_email, client_id, auth_uri, token_uri = `token_uri`, cert URLs, universe_domain).
    /// RSA key generation takes a while: from async code, call it inside `spawn_blocking`.
    pub fn issue_credentials(&self, project: &str, token_uri: &str) -> Value {
        self.inner.keys.issue(project, token_uri)
    }

    /// Counters since start, as `GET /emulator/stats` shows them.
    pub fn stats(&self) -> EmulatorStats {
        let s = &self.inner.stats;
        EmulatorStats {
            accepted: Stats::get(&s.accepted),
            rejected: Stats::get(&s.rejected),
            validated: Stats::get(&s.validated),
            tokens_issued: self.inner.tokens.issued(),
            send_requests: Stats::get(&s.send_requests),
            stored: self.inner.inbox.len() as u64,
        }
    }

    /// Accepted messages (oldest first), as `GET /emulator/messages` shows them.
    pub fn messages(&self, token: Option<&str>) -> Vec<Value> {
        self.inner.inbox.snapshot(token, None).iter().map(|m| serde_json::to_value(m.view()).unwrap_or(Value::Null)).collect()
    }

    /// Install a fault, as `POST /emulator/faults` does.
    pub fn add_fault(&self, spec: FaultSpec) -> Result<Fault, String> {
        let error = match spec.error.as_deref() {
            None => None,
            Some(s) => Some(FaultCode::parse(s).ok_or_else(|| {
                let names: Vec<_> = FaultCode::ALL.iter().map(|c| c.as_str()).collect();
                format!("unknown error {s:?}; expected one of {}", names.join(", "))
            })?),
        };
        if error.is_none() && spec.delay_ms.is_none() {
            return Err("a fault needs an \"error\", a \"delay_ms\", or both".into());
        }
        if spec.times == Some(0) {
            return Err("\"times\" must be at least 1 (omit it for a permanent fault)".into());
        }
        if spec.token.as_deref() == Some("") {
            return Err("\"token\" must not be empty (omit it to affect every send)".into());
        }
        Ok(self.inner.faults.add(Fault {
            id: 0,
            token: spec.token,
            error,
            times: spec.times,
            retry_after: spec.retry_after,
            delay_ms: spec.delay_ms,
        }))
    }

    /// Remove every injected fault (dead tokens stay dead).
    pub fn clear_faults(&self) {
        self.inner.faults.clear();
    }

    /// Invalidate every access token issued so far; returns how many were live.
    pub fn revoke_tokens(&self) -> usize {
        self.inner.tokens.revoke_all()
    }

    /// Clear faults, dead tokens and stored messages (keys, tokens and counters stay).
    pub fn reset(&self) {
        self.inner.faults.clear();
        self.inner.faults.revive_all();
        self.inner.inbox.clear();
    }

    /// The HTTP API (Google's endpoints and the `/emulator/*` controls).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/token", post(oauth::token))
            .route("/v1/projects/{project}/messages:send", post(send::send))
            .route("/emulator/credentials", post(credentials_handler))
            .route("/emulator/faults", post(add_fault_handler).get(list_faults).delete(clear_faults))
            .route("/emulator/revoke-tokens", post(revoke_tokens))
            .route("/emulator/messages", get(list_messages).delete(clear_messages))
            .route("/emulator/stats", get(stats_handler))
            .route("/emulator/reset", post(reset_handler))
            .with_state(self.clone())
    }
}

/// What `uprelay emulator` and [`spawn`] serve (over HTTP/1.1 and h2c, see [`serve`]):
/// [`Emulator::router`], except that sends on a plain path go straight to their handler
/// ([`send::send_plain`]).
///
/// Why sends skip the router: in the relay's benchmark the emulator shares the machine with
/// the relay under test, and the router's per-request work (path matching into extension maps,
/// boxed services and futures) was ~7 % of the emulator's CPU per send, taken from the relay.
/// The relay's own push path does the same (`api::Http`).
#[derive(Clone)]
struct Http {
    emu: Emulator,
    router: Router,
    /// SETTINGS_MAX_CONCURRENT_STREAMS of h2c connections.
    max_concurrent_streams: u32,
}

impl Http {
    fn new(emu: &Emulator, max_concurrent_streams: u32) -> Http {
        Http { emu: emu.clone(), router: emu.router(), max_concurrent_streams }
    }

    async fn dispatch(self, request: Request) -> Result<Response, Infallible> {
        if request.method() == Method::POST && send::plain_project(request.uri().path()).is_some() {
            let response = send::send_plain(&self.emu, request).await;
            return Ok(with_content_length(response));
        }
        tower::ServiceExt::oneshot(self.router, request).await
    }

    /// The service for `axum::serve`.
    fn service(
        self,
    ) -> impl tower::Service<
        Request,
        Response = Response,
        Error = Infallible,
        Future = impl Future<Output = Result<Response, Infallible>> + Send,
    > + Clone
           + Send
           + 'static {
        tower::service_fn(move |request| self.clone().dispatch(request))
    }
}

/// Set `Content-Length` from the body's exact size, as axum's router does to every response
/// it routes, so that an answer does not depend on whether the router served it.
fn with_content_length(mut response: Response) -> Response {
    if !response.headers().contains_key(header::CONTENT_LENGTH) {
        if let Some(len) = http_body::Body::size_hint(response.body()).exact() {
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    response
}

fn json_ok(status: StatusCode, v: &impl Serialize) -> Response {
    json_response(status, serde_json::to_vec(v).unwrap_or_default())
}

fn control_error(status: StatusCode, msg: &str) -> Response {
    json_ok(status, &json!({ "error": msg }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CredentialsRequest {
    project: Option<String>,
    token_uri: Option<String>,
}

/// The authority the client dialled: `Host` (HTTP/1.1) or the URI's authority (h2 `:authority`).
pub(crate) fn request_authority(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned).or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
}

/// Google's member order for service-account files (serde_json's `Value` sorts keys).
const SERVICE_ACCOUNT_ORDER: &[&str] = &[
    "type",
    "project_id",
    "private_key_id",
    "private_key",
    "client_email",
    "client_id",
    "auth_uri",
    "token_uri",
    "auth_provider_x509_cert_url",
    "client_x509_cert_url",
    "universe_domain",
];

fn in_google_order(creds: &Value) -> json::J<'_> {
    use std::borrow::Cow;
    fn member(v: &Value) -> json::J<'_> {
        json::J::deserialize(v).unwrap_or(json::J::Null)
    }
    let mut members = Vec::new();
    if let Some(obj) = creds.as_object() {
        for k in SERVICE_ACCOUNT_ORDER {
            if let Some(v) = obj.get(*k) {
                members.push((Cow::Borrowed(*k), member(v)));
            }
        }
        for (k, v) in obj {
            if !SERVICE_ACCOUNT_ORDER.contains(&k.as_str()) {
                members.push((Cow::Borrowed(k.as_str()), member(v)));
            }
        }
    }
    json::J::Obj(members)
}

async fn credentials_handler(State(emu): State<Emulator>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    let req: CredentialsRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CredentialsRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return control_error(StatusCode::BAD_REQUEST, &format!("bad JSON: {e}")),
        }
    };
    let project = req.project.unwrap_or_else(|| emu.inner.default_project.clone());
    if project.is_empty() || !project.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return control_error(StatusCode::BAD_REQUEST, "project must be a non-empty [A-Za-z0-9_-]+ id");
    }
    let token_uri = match req.token_uri {
        Some(u) => u,
        None => match request_authority(&headers, &uri) {
            Some(host) => format!("http://{host}/token"),
            None => return control_error(StatusCode::BAD_REQUEST, "no Host header: pass \"token_uri\""),
        },
    };
    let e = emu.clone();
    match tokio::task::spawn_blocking(move || e.issue_credentials(&project, &token_uri)).await {
        Ok(creds) => json_ok(StatusCode::OK, &in_google_order(&creds)),
        Err(e) => control_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("key generation failed: {e}")),
    }
}

async fn add_fault_handler(State(emu): State<Emulator>, body: Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, &format!("bad fault JSON: {e}")),
    };
    match emu.add_fault(spec) {
        Ok(f) => json_ok(StatusCode::OK, &f),
        Err(msg) => control_error(StatusCode::BAD_REQUEST, &msg),
    }
}

async fn list_faults(State(emu): State<Emulator>) -> Response {
    json_ok(StatusCode::OK, &json!({ "faults": emu.inner.faults.list(), "dead_tokens": emu.inner.faults.dead_tokens() }))
}

async fn clear_faults(State(emu): State<Emulator>) -> StatusCode {
    emu.clear_faults();
    StatusCode::NO_CONTENT
}

async fn revoke_tokens(State(emu): State<Emulator>) -> Response {
    json_ok(StatusCode::OK, &json!({ "revoked": emu.revoke_tokens() }))
}

#[derive(Deserialize)]
struct MessagesQuery {
    token: Option<String>,
    project: Option<String>,
}

async fn list_messages(State(emu): State<Emulator>, Query(q): Query<MessagesQuery>) -> Response {
    let snapshot = emu.inner.inbox.snapshot(q.token.as_deref(), q.project.as_deref());
    let views: Vec<_> = snapshot.iter().map(|m| m.view()).collect();
    json_ok(StatusCode::OK, &views)
}

async fn clear_messages(State(emu): State<Emulator>) -> StatusCode {
    emu.inner.inbox.clear();
    StatusCode::NO_CONTENT
}

async fn stats_handler(State(emu): State<Emulator>) -> Response {
    json_ok(StatusCode::OK, &emu.stats())
}

async fn reset_handler(State(emu): State<Emulator>) -> StatusCode {
    emu.reset();
    StatusCode::NO_CONTENT
}

/// `http://ADDR` as clients should dial it (an unspecified listen address becomes loopback).
pub fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Write `bytes` to `path` atomically (temp file + rename), readable by the owner only.
fn write_private_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let file_name = path.file_name().context("credentials path has no file name")?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

async fn issue_blocking(emu: &Emulator, project: &str, token_uri: String) -> anyhow::Result<Value> {
    let (e, p) = (emu.clone(), project.to_owned());
    tokio::task::spawn_blocking(move || e.issue_credentials(&p, &token_uri)).await.context("credential generation panicked")
}

/// `uprelay emulator`: bind, write credentials if asked, print one line with the URL, and serve
/// (HTTP/1.1 and h2c) until ctrl-c or SIGTERM.
pub async fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let base = base_url(addr);
    let emu = Emulator::new(&args.project, args.keep, Duration::from_secs(args.token_lifetime));
    if let Some(path) = &args.write_credentials {
        let creds = issue_blocking(&emu, &args.project, format!("{base}/token")).await?;
        let mut text = serde_json::to_vec_pretty(&in_google_order(&creds))?;
        text.push(b'\n');
        write_private_atomic(path, &text)?;
    }
    let creds_note = match &args.write_credentials {
        Some(p) => format!(", credentials in {}", p.display()),
        None => String::new(),
    };
    println!("uprelay emulator listening on {base} (project {}{creds_note})", args.project);
    tracing::info!(url = %base, project = %args.project, "FCM emulator listening");
    serve::serve(listener, Http::new(&emu, args.max_concurrent_streams), crate::server::shutdown_signal()).await;
    Ok(())
}

/// Bind `addr`, serve the emulator in a background task, create credentials for `project`
/// (token_uri = the bound address), and return (Emulator, bound addr, service-account JSON).
pub async fn spawn(addr: SocketAddr, project: &str) -> anyhow::Result<(Emulator, SocketAddr, Value)> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let base = base_url(bound);
    let emu = Emulator::new(project, 10_000, Duration::from_secs(3600));
    let creds = issue_blocking(&emu, project, format!("{base}/token")).await?;
    tokio::spawn(serve::serve(listener, Http::new(&emu, crate::fcm::FCM_MAX_CONCURRENT_STREAMS), std::future::pending()));
    tracing::info!(url = %base, project, "in-process FCM emulator listening (sandbox mode)");
    Ok((emu, bound, creds))
}

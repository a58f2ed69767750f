//! Driving the FCM emulator (`uprelay emulator`) from tests: start it as a child process, read
//! the service-account JSON it writes, sign OAuth assertions, send messages, inject faults and
//! inspect what it received.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::process::{bin_path, free_port, ChildGuard, TempDir};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const SCOPE_FCM: &str = "https://www.googleapis.com/auth/firebase.messaging";
pub const SCOPE_CLOUD: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A Google service-account key file, as the emulator writes it.
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub json: Value,
    pub project_id: String,
    pub private_key_id: String,
    pub private_key: String,
    pub client_email: String,
    pub token_uri: String,
}

impl ServiceAccount {
    pub fn from_json(json: Value) -> ServiceAccount {
        let field =
            |k: &str| json.get(k).and_then(Value::as_str).unwrap_or_else(|| panic!("service account JSON lacks {k:?}: {json}")).to_owned();
        ServiceAccount {
            project_id: field("project_id"),
            private_key_id: field("private_key_id"),
            private_key: field("private_key"),
            client_email: field("client_email"),
            token_uri: field("token_uri"),
            json,
        }
    }

    pub fn load(path: &Path) -> ServiceAccount {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        ServiceAccount::from_json(serde_json::from_str(&text).expect("credentials are JSON"))
    }

    /// The claim set Google's libraries send: iss, scope, aud = token_uri, iat = now, exp = +1 h.
    pub fn claims(&self, scope: &str) -> Value {
        let now = unix_now();
        json!({ "iss": self.client_email, "scope": scope, "aud": self.token_uri, "iat": now, "exp": now + 3600 })
    }

    /// A standard RS256 assertion (unpadded base64url, `kid` header) for the FCM scope.
    pub fn assertion(&self) -> String {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.private_key_id });
        sign_jwt(&self.private_key, &header, &self.claims(SCOPE_FCM), false)
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Sign `header.claims` with RS256 using a PKCS#8 PEM private key. With `padded`, every segment
/// is base64url *with* `=` padding (as yup-oauth2 sends it); the signature covers the segments
/// exactly as they appear.
pub fn sign_jwt(private_key_pem: &str, header: &Value, claims: &Value, padded: bool) -> String {
    let enc = |b: &[u8]| {
        if padded {
            URL_SAFE.encode(b)
        } else {
            URL_SAFE_NO_PAD.encode(b)
        }
    };
    let signing_input = format!("{}.{}", enc(&serde_json::to_vec(header).unwrap()), enc(&serde_json::to_vec(claims).unwrap()));
    let der: String = private_key_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(der.trim()).expect("PEM body is base64");
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("PKCS#8 RSA key");
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(&ring::signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signing_input.as_bytes(), &mut sig)
        .expect("RSA signing");
    format!("{signing_input}.{}", enc(&sig))
}

/// The answer to one send.
#[derive(Debug)]
pub struct SendResult {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub version: reqwest::Version,
}

impl SendResult {
    /// `error.details[]` FcmError `errorCode`, if any.
    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["details"]
            .as_array()?
            .iter()
            .find(|d| d["@type"] == "type.googleapis.com/google.firebase.fcm.v1.FcmError")?
            .get("errorCode")?
            .as_str()
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    pub fn retry_after(&self) -> Option<&str> {
        self.headers.get("retry-after").and_then(|v| v.to_str().ok())
    }

    /// Asserts a 400 INVALID_ARGUMENT in FCM's exact shape and returns the error message.
    #[track_caller]
    pub fn assert_invalid_argument(&self) -> &str {
        assert_eq!(self.status, StatusCode::BAD_REQUEST, "body: {}", self.body);
        assert_eq!(self.body["error"]["code"], 400, "body: {}", self.body);
        assert_eq!(self.body["error"]["status"], "INVALID_ARGUMENT", "body: {}", self.body);
        assert_eq!(self.error_code(), Some("INVALID_ARGUMENT"), "body: {}", self.body);
        self.message()
    }
}

/// An HTTP client of one emulator.
#[derive(Clone)]
pub struct EmulatorClient {
    pub base_url: String,
    pub http: reqwest::Client,
}

async fn json_of(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("response body");
    let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, v)
}

impl EmulatorClient {
    pub fn new(base_url: &str) -> EmulatorClient {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        EmulatorClient { base_url: base_url.trim_end_matches('/').to_owned(), http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `POST /token` with an arbitrary form.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        json_of(self.http.post(self.url("/token")).form(form).send().await.expect("POST /token")).await
    }

    /// `POST /token` with a JWT-bearer grant for `assertion`.
    pub async fn grant(&self, assertion: &str) -> (StatusCode, Value) {
        self.token_request(&[("grant_type", JWT_BEARER), ("assertion", assertion)]).await
    }

    /// A fresh access token for `sa` (panics if refused).
    pub async fn access_token(&self, sa: &ServiceAccount) -> String {
        let (status, body) = self.grant(&sa.assertion()).await;
        assert_eq!(status, StatusCode::OK, "token refused: {body}");
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    /// Send a JSON body with `Authorization: Bearer <access_token>`.
    pub async fn send(&self, project: &str, access_token: &str, body: &Value) -> SendResult {
        self.send_raw(project, Some(&format!("Bearer {access_token}")), serde_json::to_vec(body).unwrap()).await
    }

    /// Send raw bytes with an optional raw `Authorization` header.
    pub async fn send_raw(&self, project: &str, authorization: Option<&str>, body: Vec<u8>) -> SendResult {
        let mut req = self
            .http
            .post(self.url(&format!("/v1/projects/{project}/messages:send")))
            .header("content-type", "application/json")
            .body(body);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.expect("POST messages:send");
        let (status, headers, version) = (resp.status(), resp.headers().clone(), resp.version());
        let (_, body) = json_of(resp).await;
        SendResult { status, headers, body, version }
    }

    /// `POST /emulator/faults`; returns status and body.
    pub async fn post_fault(&self, fault: &Value) -> (StatusCode, Value) {
        json_of(self.http.post(self.url("/emulator/faults")).json(fault).send().await.expect("POST faults")).await
    }

    /// Install a fault (panics unless accepted).
    pub async fn add_fault(&self, fault: Value) -> Value {
        let (status, body) = self.post_fault(&fault).await;
        assert!(status.is_success(), "fault {fault} refused: {status} {body}");
        body
    }

    pub async fn faults(&self) -> Value {
        json_of(self.http.get(self.url("/emulator/faults")).send().await.expect("GET faults")).await.1
    }

    pub async fn clear_faults(&self) {
        let resp = self.http.delete(self.url("/emulator/faults")).send().await.expect("DELETE faults");
        assert!(resp.status().is_success(), "DELETE /emulator/faults: {}", resp.status());
    }

    /// `GET /emulator/messages[?token=T]`.
    pub async fn messages(&self, token: Option<&str>) -> Vec<Value> {
        let mut req = self.http.get(self.url("/emulator/messages"));
        if let Some(t) = token {
            req = req.query(&[("token", t)]);
        }
        let (status, body) = json_of(req.send().await.expect("GET messages")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().expect("messages array").clone()
    }

    /// `GET /emulator/messages` (with `query`, e.g. `?token=…`) as the raw JSON text, for
    /// checks of member order and escaping that a parsed `Value` would hide.
    pub async fn messages_text(&self, query: &str) -> String {
        let resp = self.http.get(self.url(&format!("/emulator/messages{query}"))).send().await.expect("GET messages");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.expect("messages body")
    }

    pub async fn clear_messages(&self) {
        let resp = self.http.delete(self.url("/emulator/messages")).send().await.expect("DELETE messages");
        assert!(resp.status().is_success(), "DELETE /emulator/messages: {}", resp.status());
    }

    pub async fn stats(&self) -> Value {
        json_of(self.http.get(self.url("/emulator/stats")).send().await.expect("GET stats")).await.1
    }

    pub async fn revoke_tokens(&self) -> Value {
        json_of(self.http.post(self.url("/emulator/revoke-tokens")).send().await.expect("revoke")).await.1
    }

    pub async fn reset(&self) {
        let resp = self.http.post(self.url("/emulator/reset")).send().await.expect("reset");
        assert!(resp.status().is_success(), "POST /emulator/reset: {}", resp.status());
    }

    /// Credentials of a new key for `project` (a second Firebase project, or a second key).
    pub async fn new_credentials(&self, project: &str) -> ServiceAccount {
        let (status, body) = json_of(
            self.http.post(self.url("/emulator/credentials")).json(&json!({ "project": project })).send().await.expect("POST credentials"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ServiceAccount::from_json(body)
    }
}

/// `uprelay emulator` running as a child process (killed on drop).
pub struct EmulatorProcess {
    pub child: ChildGuard,
    pub port: u16,
    pub base_url: String,
    pub project: String,
    pub credentials_path: PathBuf,
    pub credentials: ServiceAccount,
    pub client: EmulatorClient,
    pub dir: TempDir,
}

impl EmulatorProcess {
    /// Start with the default project (`uprelay-sandbox`) and write its credentials.
    pub async fn start() -> EmulatorProcess {
        Self::start_with(&[]).await
    }

    /// Start with extra CLI arguments (e.g. `["--keep", "3"]`, `["--project", "p"]`).
    pub async fn start_with(extra: &[&str]) -> EmulatorProcess {
        let dir = TempDir::new("uprelay-emulator");
        let credentials_path = dir.join("credentials.json");
        let mut last_output = String::new();
        // A free port can be taken by someone else before we bind it: retry a few times.
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(bin_path("uprelay"));
            cmd.arg("emulator")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--write-credentials")
                .arg(&credentials_path)
                .args(extra);
            let mut child = ChildGuard::spawn("uprelay-emulator", cmd);
            let base_url = format!("http://127.0.0.1:{port}");
            let started = std::time::Instant::now();
            let up = loop {
                if let Ok(Some(_)) = child.child_try_wait() {
                    break false;
                }
                if credentials_path.exists()
                    && reqwest::get(format!("{base_url}/emulator/stats")).await.is_ok_and(|r| r.status().is_success())
                {
                    break true;
                }
                assert!(started.elapsed() < Duration::from_secs(60), "emulator did not come up in 60 s\n{}", child.output());
                tokio::time::sleep(Duration::from_millis(25)).await;
            };
            if !up {
                last_output = child.output();
                continue;
            }
            let credentials = ServiceAccount::load(&credentials_path);
            let project = credentials.project_id.clone();
            return EmulatorProcess {
                client: EmulatorClient::new(&base_url),
                child,
                port,
                base_url,
                project,
                credentials_path,
                credentials,
                dir,
            };
        }
        panic!("emulator failed to start 5 times; last output:\n{last_output}");
    }

    /// Run `uprelay fcm-send` against this emulator with its credentials, plus `extra`.
    pub fn fcm_send_cli(&self, extra: &[&str]) -> std::process::Output {
        Command::new(bin_path("uprelay"))
            .arg("fcm-send")
            .arg("--credentials")
            .arg(&self.credentials_path)
            .arg("--api-url")
            .arg(&self.base_url)
            .args(extra)
            .output()
            .unwrap()
    }

    /// An access token for the written credentials.
    pub async fn access_token(&self) -> String {
        self.client.access_token(&self.credentials).await
    }

    /// Send `body` to this emulator's default project.
    pub async fn send(&self, access_token: &str, body: &Value) -> SendResult {
        self.client.send(&self.project, access_token, body).await
    }
}

impl std::ops::Deref for EmulatorProcess {
    type Target = EmulatorClient;
    fn deref(&self) -> &EmulatorClient {
        &self.client
    }
}

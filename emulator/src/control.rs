//! The `/emulator/*` controls: credentials, faults, token revocation, kept messages and
//! rejected sends, counters and reset (not part of FCM; see the crate documentation for the
//! surface). `http.rs` puts them behind the guard of `guard.rs`.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::credentials::in_google_order;
use crate::errors::json_response;
use crate::oauth::request_authority;
use crate::state::{Emulator, FaultSpec};

/// The `/emulator/*` routes, for [`crate::http`]'s router.
pub(crate) fn routes() -> Router<Emulator> {
    Router::new()
        .route("/emulator/credentials", post(credentials_handler))
        .route("/emulator/faults", post(add_fault_handler).get(list_faults).delete(clear_faults))
        .route("/emulator/revoke-tokens", post(revoke_tokens))
        .route("/emulator/messages", get(list_messages).delete(clear_messages))
        .route("/emulator/rejected", get(list_rejected).delete(clear_rejected))
        .route("/emulator/stats", get(stats_handler))
        .route("/emulator/reset", post(reset_handler))
        .route("/emulator/webpush/tokens", post(webpush_token_handler))
        .route("/emulator/webpush/revoke", post(webpush_revoke_handler))
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
    fid: Option<String>,
    project: Option<String>,
    /// Only the newest `limit` entries (still oldest first): what the inbox page polls.
    limit: Option<usize>,
}

/// The last `limit` items of `items` (all of them without a limit).
fn newest<T>(items: &[T], limit: Option<usize>) -> &[T] {
    &items[items.len().saturating_sub(limit.unwrap_or(usize::MAX))..]
}

async fn list_messages(State(emu): State<Emulator>, Query(q): Query<MessagesQuery>) -> Response {
    let snapshot = emu.inner.inbox.snapshot(q.token.as_deref(), q.fid.as_deref(), q.project.as_deref());
    let views: Vec<_> = newest(&snapshot, q.limit).iter().map(|m| m.view()).collect();
    json_ok(StatusCode::OK, &views)
}

#[derive(Deserialize)]
struct RejectedQuery {
    limit: Option<usize>,
}

async fn list_rejected(State(emu): State<Emulator>, Query(q): Query<RejectedQuery>) -> Response {
    let snapshot = emu.inner.rejects.snapshot();
    let views: Vec<&crate::inbox::Rejected> = newest(&snapshot, q.limit).iter().map(|r| &**r).collect();
    json_ok(StatusCode::OK, &views)
}

async fn clear_rejected(State(emu): State<Emulator>) -> StatusCode {
    emu.inner.rejects.clear();
    StatusCode::NO_CONTENT
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebPushTokenRequest {
    vapid: String,
}

/// `POST /emulator/webpush/tokens {"vapid": "<87-char key>"}` → `{"token": "…"}`.
async fn webpush_token_handler(State(emu): State<Emulator>, body: Bytes) -> Response {
    let req: WebPushTokenRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, &format!("bad JSON: {e}")),
    };
    match emu.issue_webpush_token(&req.vapid) {
        Ok(token) => json_ok(StatusCode::OK, &json!({ "token": token })),
        Err(e @ crate::webpush::tokens::TokenIssue::BadKey) => control_error(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(e) => control_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebPushRevokeRequest {
    token: String,
}

/// `POST /emulator/webpush/revoke {"token": "…"}` → `{"revoked": true}`, 404 for a token never issued.
async fn webpush_revoke_handler(State(emu): State<Emulator>, body: Bytes) -> Response {
    let req: WebPushRevokeRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, &format!("bad JSON: {e}")),
    };
    if emu.revoke_webpush_token(&req.token) {
        json_ok(StatusCode::OK, &json!({ "revoked": true }))
    } else {
        control_error(StatusCode::NOT_FOUND, "no such Web Push token")
    }
}

//! The distributor API the Android shim talks to (`/v1/devices…`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::state::AppState;
use crate::clock::unix_ms;
use crate::ids::{hash_secret, hashes_match, DeviceId, DeviceSecret};
use crate::limits::{client_key, Admission};
use crate::store::{AddOutcome, Device};
use crate::target::{RoadKind, Target, TargetError, WebPushSubscription};
use crate::webpush::VapidKey;

/// Longest instance name; the alphabet keeps it safe in a URL path segment.
const MAX_INSTANCE_LEN: usize = 128;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/info", axum::routing::get(info))
        .route("/v1/devices", post(create_device))
        .route("/v1/devices/{device}", delete(delete_device).put(update_device).get(show_device))
        .route("/v1/devices/{device}/registrations", post(add_registration))
        .route("/v1/devices/{device}/registrations/{instance}", delete(delete_registration))
}

/// JSON body read under the configured cap; any syntax or shape error is a 400.
struct ApiJson<T>(T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.inner.config.limits.max_api_body;
        let bytes = Limited::new(req.into_body(), limit)
            .collect()
            .await
            .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("JSON body over {limit} bytes")))?
            .to_bytes();
        // serde's derived structs also accept arrays; this API speaks objects only.
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(ApiError::bad_request("invalid_json", "request body must be a JSON object"));
        }
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("request body: {}", without_strings(&e.to_string()))))
    }
}

/// serde's "invalid type: string \"…\", expected …" quotes the value, and a token or key
/// sent under the wrong field (`{"webpush": "<token>"}`) must not come back in the body
/// (proxies log error bodies): the quoted string is replaced. serde quotes it escaped
/// (`{:?}`), so the last `", expected` is the one closing it.
fn without_strings(message: &str) -> String {
    const OPEN: &str = "string \"";
    const CLOSE: &str = "\", expected";
    match (message.find(OPEN), message.rfind(CLOSE)) {
        (Some(open), Some(close)) if open + OPEN.len() <= close => {
            format!("{}string{}", &message[..open], &message[close + 1..])
        }
        _ => message.to_string(),
    }
}

/// The body of `POST /v1/devices` and `PUT /v1/devices/{id}`: exactly one target, and
/// the Firebase project when not the default.
#[derive(Deserialize)]
struct DeviceBody {
    fcm_token: Option<String>,
    fcm_fid: Option<String>,
    webpush: Option<WebPushBody>,
    project: Option<String>,
}

#[derive(Deserialize)]
struct WebPushBody {
    token: String,
    p256dh: String,
    auth: String,
}

impl From<TargetError> for ApiError {
    fn from(e: TargetError) -> ApiError {
        ApiError::bad_request(e.label(), e.to_string())
    }
}

impl DeviceBody {
    /// The one target the body names, parsed (a Web Push key is checked on the curve), on
    /// a road this relay offers: a device registered for another would get endpoints that
    /// can never deliver.
    fn target(&self, state: &AppState) -> Result<Target, ApiError> {
        let target = match (&self.fcm_token, &self.fcm_fid, &self.webpush) {
            (Some(token), None, None) => Target::fcm_token(token)?,
            (None, Some(fid), None) => Target::fcm_fid(fid)?,
            (None, None, Some(w)) => Target::WebPush(WebPushSubscription::parse(&w.token, &w.p256dh, &w.auth)?),
            _ => return Err(ApiError::bad_request("invalid_target", "give exactly one of fcm_token, fcm_fid and webpush")),
        };
        let road = target.road();
        if !state.inner.relay.roads().any(|r| r == road) {
            return Err(ApiError::bad_request(
                "road_not_offered",
                format!("this relay does not offer the {} road (GET /v1/info lists its roads)", road.label()),
            ));
        }
        Ok(target)
    }
}

#[derive(Deserialize)]
struct AddRegistration {
    instance: String,
    vapid: Option<String>,
}

fn check_instance(instance: &str) -> Result<(), ApiError> {
    let ok = !instance.is_empty()
        && instance.len() <= MAX_INSTANCE_LEN
        && instance.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        // `.`, `..` (and longer runs) are path segments clients rewrite: such an instance
        // could never be deleted again with DELETE …/registrations/{instance}.
        && !instance.bytes().all(|b| b == b'.');
    if !ok {
        return Err(ApiError::bad_request(
            "invalid_instance",
            format!("instance must be 1 to {MAX_INSTANCE_LEN} characters of [A-Za-z0-9._~-], not only dots"),
        ));
    }
    Ok(())
}

/// The device named in the path, if the bearer secret is its secret.
async fn authorize(state: &AppState, headers: &HeaderMap, device: &str) -> Result<Device, ApiError> {
    // (Two Authorization headers never get here: the edge refuses them, see `api::screen`.)
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // Auth schemes are case-insensitive (RFC 9110 §11.1).
        .and_then(|(scheme, rest)| scheme.eq_ignore_ascii_case("bearer").then_some(rest))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    let id = DeviceId::parse(device).ok_or_else(ApiError::unknown_device)?;
    let found = state.inner.store.device(&id).await?.ok_or_else(ApiError::unknown_device)?;
    if !hashes_match(&found.secret_hash, &hash_secret(secret)) {
        return Err(ApiError::unauthorized());
    }
    Ok(found)
}

fn endpoint_url(state: &AppState, endpoint: &crate::ids::EndpointId) -> String {
    format!("{}/up/{}", state.inner.public_base, endpoint.as_str())
}

/// The TCP peer, when the server was started with connect info (absent in unit tests).
struct PeerAddr(Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)))
    }
}

/// The client's IP as per-IP limits count it: the socket peer, or what the trusted
/// proxies in front report (see [`crate::limits::TrustedProxies::client`]).
fn client_ip(state: &AppState, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let forwarded = headers.get_all("x-forwarded-for").iter().map(|v| v.to_str().unwrap_or(""));
    peer.map(|p| client_key(state.inner.proxies.client(p.ip(), forwarded)))
}

async fn create_device(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    ApiJson(req): ApiJson<DeviceBody>,
) -> Result<Response, ApiError> {
    // Validate first: a client's own mistakes should not use up its allowance.
    let target = req.target(&state)?;
    if let (Some(rate), Some(ip)) = (state.inner.config.limits.device_create_rate(), client_ip(&state, peer, &headers)) {
        if let Admission::Limited(wait) = state.inner.store.admit(&format!("dc:{ip}"), &rate, unix_ms()).await? {
            metrics::counter!(crate::metrics::RATE_LIMITED, "limit" => "device_create").increment(1);
            return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many device registrations from this address")
                .with_retry_after(wait.max(std::time::Duration::from_secs(1))));
        }
    }
    let fcm = &state.inner.fcm;
    let project = match req.project {
        Some(p) if fcm.has_project(&p) => p,
        Some(p) => {
            return Err(ApiError::bad_request("unknown_project", format!("this relay has no credentials for Firebase project {p:?}")))
        }
        None => state.inner.default_project.clone(),
    };
    let id = DeviceId::generate();
    let secret = DeviceSecret::generate();
    let device = Device { id: id.clone(), secret_hash: secret.hash(), project, target, registrations: Vec::new() };
    state.inner.store.create_device(&device).await?;
    metrics::counter!(crate::metrics::DEVICES, "op" => "created").increment(1);
    tracing::info!(device = %id, project = %device.project, target = device.target.kind(), "device registered");
    Ok((StatusCode::CREATED, Json(json!({"device_id": id.as_str(), "secret": secret.reveal()}))).into_response())
}

/// What a distributor needs to know before registering: projects and their sender ids.
async fn info(State(state): State<AppState>) -> Json<serde_json::Value> {
    let cfg = &state.inner.config;
    let projects: Vec<_> = if cfg.sandbox_mode() {
        vec![json!({"id": cfg.sandbox.project, "sender_id": null})]
    } else {
        cfg.fcm.projects.iter().map(|p| json!({"id": p.name, "sender_id": p.sender_id})).collect()
    };
    let mut info = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "default_project": state.inner.default_project,
        "projects": projects,
        "roads": state.inner.relay.roads().map(RoadKind::label).collect::<Vec<_>>(),
        "require_vapid": cfg.limits.require_vapid,
        "max_registrations_per_device": cfg.limits.max_registrations_per_device,
    });
    if let Some(road) = &state.inner.webpush {
        // What a phone asks Play services for a token with, as the sender.
        info["webpush"] = json!({ "vapid": road.vapid_public_key() });
    }
    Json(info)
}

async fn show_device(State(state): State<AppState>, Path(device): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let d = authorize(&state, &headers, &device).await?;
    let regs: Vec<_> = d
        .registrations
        .iter()
        .map(|r| json!({"instance": r.instance, "endpoint": endpoint_url(&state, &r.endpoint), "vapid": r.vapid.as_ref().map(|k| k.to_b64())}))
        .collect();
    Ok(Json(json!({
        "device_id": d.id.as_str(),
        "project": d.project,
        "road": d.target.road().label(),
        "target": d.target.kind(),
        "registrations": regs,
    }))
    .into_response())
}

async fn update_device(
    State(state): State<AppState>,
    Path(device): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<DeviceBody>,
) -> Result<StatusCode, ApiError> {
    let d = authorize(&state, &headers, &device).await?;
    let target = req.target(&state)?;
    // A device keeps its Firebase project for life (its endpoints' sender checks and
    // quotas are the project's); another project is another device.
    if req.project.as_deref().is_some_and(|p| p != d.project) {
        return Err(ApiError::bad_request("project_change", "a device's Firebase project cannot change; register a new device"));
    }
    // One store write replaces the whole target, across kinds and roads alike.
    if !state.inner.store.set_target(&d.id, &target).await? {
        return Err(ApiError::unknown_device());
    }
    let op = if target.kind() == d.target.kind() { "token_rotated" } else { "target_moved" };
    metrics::counter!(crate::metrics::DEVICES, "op" => op).increment(1);
    if op == "target_moved" {
        tracing::info!(device = %d.id, from = d.target.kind(), to = target.kind(), "device moved to another target kind; endpoints kept");
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_device(State(state): State<AppState>, Path(device): Path<String>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let d = authorize(&state, &headers, &device).await?;
    if !state.inner.store.delete_device(&d.id).await? {
        return Err(ApiError::unknown_device());
    }
    metrics::counter!(crate::metrics::DEVICES, "op" => "deleted").increment(1);
    metrics::counter!(crate::metrics::REGISTRATIONS, "op" => "deleted").increment(d.registrations.len() as u64);
    Ok(StatusCode::NO_CONTENT)
}

async fn add_registration(
    State(state): State<AppState>,
    Path(device): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AddRegistration>,
) -> Result<Response, ApiError> {
    let d = authorize(&state, &headers, &device).await?;
    check_instance(&req.instance)?;
    let vapid = match req.vapid.as_deref() {
        None | Some("") => None,
        Some(v) => Some(VapidKey::parse(v).filter(VapidKey::is_on_curve).ok_or_else(|| {
            ApiError::bad_request("invalid_vapid", "vapid must be the 87-character base64url form of an uncompressed P-256 public key")
        })?),
    };
    if vapid.is_none() && state.inner.config.limits.require_vapid {
        return Err(ApiError::bad_request("vapid_required", "this relay only issues endpoints restricted to a VAPID key"));
    }
    let limit = state.inner.config.limits.max_registrations_per_device;
    let (status, endpoint) = match state.inner.store.add_registration(&d.id, &req.instance, vapid.as_ref(), limit).await? {
        AddOutcome::Existing(e) => (StatusCode::OK, e),
        AddOutcome::Created(e) => {
            metrics::counter!(crate::metrics::REGISTRATIONS, "op" => "created").increment(1);
            (StatusCode::CREATED, e)
        }
        AddOutcome::LimitReached => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "registration_limit",
                format!("a device may hold at most {limit} registrations"),
            ))
        }
        AddOutcome::UnknownDevice => return Err(ApiError::unknown_device()),
    };
    Ok((status, Json(json!({"endpoint": endpoint_url(&state, &endpoint)}))).into_response())
}

async fn delete_registration(
    State(state): State<AppState>,
    Path((device, instance)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let d = authorize(&state, &headers, &device).await?;
    if !state.inner.store.delete_registration(&d.id, &instance).await? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_registration", "no such registration on this device"));
    }
    metrics::counter!(crate::metrics::REGISTRATIONS, "op" => "deleted").increment(1);
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(body: &str) -> String {
        let e = serde_json::from_str::<DeviceBody>(body).map(|_| ()).unwrap_err();
        without_strings(&e.to_string())
    }

    #[test]
    fn json_errors_do_not_quote_a_misplaced_secret() {
        let m = shown(r#"{"webpush": "SeCrEt-token:APA91b"}"#);
        assert!(!m.contains("SeCrEt"), "{m}");
        assert!(m.contains("invalid type: string, expected struct WebPushBody"), "{m}");
        // A value that itself holds the closing text is still hidden whole.
        let m = shown(r#"{"webpush": "SeCrEt\", expected x", "project": "p"}"#);
        assert!(!m.contains("SeCrEt") && !m.contains("expected x"), "{m}");
        // Other errors keep their helpful text.
        let m = shown(r#"{"webpush": {"token": "t", "p256dh": "k"}}"#);
        assert!(m.contains("missing field `auth`"), "{m}");
    }
}

//! The Web Push edge: `POST /up/{endpoint}` (RFC 8030), `GET /up/{endpoint}` (legacy
//! UnifiedPush discovery) and `DELETE /m/{message}` (the 201's `Location`). Headers, body
//! and ids are parsed here into the relay's types; nothing HTTP goes further down.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::{ApiError, BadPush};
use super::state::AppState;
use crate::ids::{EndpointId, MessageId, Redacted};
use crate::relay::{Accepted, Ingress, Push, RelayError};
use crate::webpush::{aesgcm_prefix, Encoding, PushHeaders, VapidClaim};

/// Largest push body accepted (RFC 8291 / UnifiedPush: 4096 bytes).
pub const MAX_BODY: usize = 4096;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/up/{endpoint}", post(push_routed).get(discovery)).route("/m/{message}", delete(cancel))
}

/// The endpoint id of a push path that needs no decoding (`/up/<id>`, one segment, no
/// percent-escapes): the ones [`Http`](super::Http) sends straight to [`handle`]. Any
/// other path takes the router, which decodes it as usual.
pub(super) fn plain_endpoint(path: &str) -> Option<&str> {
    let id = path.strip_prefix("/up/")?;
    (!id.is_empty() && !id.contains(['/', '%'])).then_some(id)
}

/// `POST /up/{endpoint}` on a plain path, without the router.
pub(super) async fn handle<B>(state: &AppState, req: Request<B>) -> Response
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    let (mut parts, body) = req.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    let endpoint = plain_endpoint(parts.uri.path()).unwrap_or_default();
    respond(state, endpoint, headers, body).await
}

/// `POST /up/{endpoint}` through the router (paths with escapes).
async fn push_routed(State(state): State<AppState>, Path(endpoint): Path<String>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    respond(&state, &endpoint, parts.headers, body).await
}

/// Parse one push: headers first, then the body under a hard cap, then the endpoint id
/// (a malformed id is simply an unknown endpoint).
async fn read_push<B>(state: &AppState, endpoint: &str, headers: HeaderMap, body: B) -> Result<Push, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(BadPush::TooLarge(MAX_BODY).into());
    }
    let cfg = &state.inner.config;
    let parsed = PushHeaders::parse(&headers, cfg.default_ttl, cfg.max_ttl).map_err(BadPush::from)?;
    // Limited stops reading at MAX_BODY + 1 bytes: an oversize body is never buffered.
    let body = Limited::new(body, MAX_BODY).collect().await.map_err(|e| {
        if e.downcast_ref::<LengthLimitError>().is_some() {
            BadPush::TooLarge(MAX_BODY)
        } else {
            BadPush::BadBody(e.to_string())
        }
    })?;
    let mut body = body.to_bytes();
    if body.is_empty() {
        return Err(BadPush::EmptyBody.into());
    }
    let encoding = Encoding::of(&headers);
    if encoding == Encoding::Aesgcm {
        // The limit applied to what the sender sent; the longer result is split as usual.
        let mut framed = aesgcm_prefix(&headers).map_err(BadPush::from)?;
        framed.extend_from_slice(&body);
        body = Bytes::from(framed);
    }
    let endpoint = EndpointId::parse(endpoint).ok_or(RelayError::NotFound)?;
    Ok(Push {
        ingress: Ingress::WebPush,
        encoding,
        endpoint,
        ttl: parsed.ttl,
        urgency: parsed.urgency,
        topic: parsed.topic,
        vapid: VapidClaim::from_headers(&headers),
        body,
    })
}

async fn respond<B>(state: &AppState, endpoint: &str, headers: HeaderMap, body: B) -> Response
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    let started = Instant::now();
    let result = match read_push(state, endpoint, headers, body).await {
        Ok(push) => state.inner.relay.push(push).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let outcome = match &result {
        Ok(a) if a.queued => "queued",
        Ok(_) => "delivered",
        Err(e) => e.code(),
    };
    let hot = crate::metrics::hot();
    hot.push(outcome);
    hot.push_duration(started.elapsed().as_secs_f64());
    match result {
        Ok(accepted) => {
            tracing::debug!(endpoint = %Redacted(endpoint), message = %accepted.message_id, "push relayed");
            created(state, &accepted)
        }
        Err(e) => {
            if e.is_server_error() {
                tracing::warn!(endpoint = %Redacted(endpoint), outcome, "push failed");
            } else {
                tracing::debug!(endpoint = %Redacted(endpoint), outcome, "push refused");
            }
            e.into_response()
        }
    }
}

/// 201 with the message's resource and the TTL actually used.
fn created(state: &AppState, accepted: &Accepted) -> Response {
    let location = format!("{}/m/{}", state.inner.public_base, accepted.message_id.as_str());
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    // Takes the String's buffer instead of copying it.
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(location)) {
        h.insert(header::LOCATION, v);
    }
    h.insert("ttl", HeaderValue::from(accepted.ttl));
    resp
}

async fn discovery(State(state): State<AppState>, Path(endpoint): Path<String>) -> Response {
    let Some(id) = EndpointId::parse(&endpoint) else { return ApiError::from(RelayError::NotFound).into_response() };
    match state.inner.relay.exists(&id).await {
        Ok(true) => Json(serde_json::json!({"unifiedpush": {"version": 1}})).into_response(),
        Ok(false) => ApiError::from(RelayError::NotFound).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `DELETE /m/{message}`: cancel a message still waiting in the retry queue (204). One
/// already delivered, dropped or never known is 404, as autopush answers; so is a
/// malformed id. The id is read from the raw path: an escape that does not decode (the
/// `Path` extractor's 400) is just another id we never handed out.
async fn cancel(State(state): State<AppState>, uri: Uri) -> Response {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such message waiting for delivery").into_response();
    let Some(id) = uri.path().strip_prefix("/m/").and_then(MessageId::parse) else { return not_found() };
    match state.inner.relay.cancel(&id).await {
        Ok(true) => {
            tracing::debug!(message = %id, "queued message cancelled by its sender");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => not_found(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::plain_endpoint;

    #[test]
    fn only_single_undecoded_segments_skip_the_router() {
        assert_eq!(plain_endpoint("/up/abc_-DEF"), Some("abc_-DEF"));
        for routed in ["/up/", "/up", "/up/a/b", "/up/a/", "/up/a%41", "/upx/a", "/v1/devices", "/"] {
            assert_eq!(plain_endpoint(routed), None, "{routed}");
        }
    }
}

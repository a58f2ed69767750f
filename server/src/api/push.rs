//! `POST /up/{endpoint}` (Web Push, RFC 8030) and `GET /up/{endpoint}` (legacy
//! UnifiedPush discovery).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::AppState;
use crate::relay::{PushError, PushRequest, MAX_BODY};
use crate::webpush::PushHeaders;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/up/{endpoint}", post(push_routed).get(discovery))
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

/// Validates headers and reads the body under a hard cap before any lookup happens.
async fn read_push<B>(state: &AppState, headers: HeaderMap, body: B) -> Result<PushRequest, PushError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(PushError::TooLarge);
    }
    let cfg = &state.inner.config;
    let parsed = PushHeaders::parse(&headers, cfg.default_ttl, cfg.max_ttl)?;
    // Limited stops reading at MAX_BODY + 1 bytes: an oversize body is never buffered.
    let body = Limited::new(body, MAX_BODY).collect().await.map_err(|e| {
        if e.downcast_ref::<LengthLimitError>().is_some() {
            PushError::TooLarge
        } else {
            PushError::BadBody(e.to_string())
        }
    })?;
    let body = body.to_bytes();
    if body.is_empty() {
        return Err(PushError::EmptyBody);
    }
    Ok(PushRequest { headers: parsed, raw_headers: headers, body })
}

async fn respond<B>(state: &AppState, endpoint: &str, headers: HeaderMap, body: B) -> Response
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    let started = Instant::now();
    let result = match read_push(state, headers, body).await {
        Ok(req) => state.inner.relay.push(endpoint, req).await,
        Err(e) => Err(e),
    };
    let outcome = match &result {
        Ok(a) if a.queued => "queued",
        Ok(_) => "delivered",
        Err(e) => e.label(),
    };
    let hot = crate::metrics::hot();
    hot.push(outcome);
    hot.push_duration(started.elapsed().as_secs_f64());
    match result {
        Ok(accepted) => {
            tracing::debug!(endpoint = %crate::ids::Redacted(endpoint), message = %accepted.message_id, "push relayed");
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
        Err(e) => {
            if e.status().is_server_error() {
                tracing::warn!(endpoint = %crate::ids::Redacted(endpoint), outcome, error = %e, "push failed");
            } else {
                tracing::debug!(endpoint = %crate::ids::Redacted(endpoint), outcome, "push refused");
            }
            e.into_response()
        }
    }
}

async fn discovery(State(state): State<AppState>, Path(endpoint): Path<String>) -> Response {
    match state.inner.relay.exists(&endpoint).await {
        Ok(true) => Json(serde_json::json!({"unifiedpush": {"version": 1}})).into_response(),
        Ok(false) => PushError::NotFound.into_response(),
        Err(e) => e.into_response(),
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

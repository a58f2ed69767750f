//! `POST /up/{endpoint}` (Web Push, RFC 8030) and `GET /up/{endpoint}` (legacy
//! UnifiedPush discovery).

use std::time::Instant;

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::AppState;
use crate::relay::{PushError, PushRequest, MAX_BODY};
use crate::webpush::PushHeaders;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/up/{endpoint}", post(push).get(discovery))
}

/// Validates headers and reads the body under a hard cap before any lookup happens.
impl FromRequest<AppState> for PushRequest {
    type Rejection = PushError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PushError> {
        let (parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(PushError::TooLarge);
        }
        let cfg = &state.inner.config;
        let headers = PushHeaders::parse(&parts.headers, cfg.default_ttl, cfg.max_ttl)?;
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
        Ok(PushRequest { headers, raw_headers: parts.headers, body })
    }
}

async fn push(State(state): State<AppState>, Path(endpoint): Path<String>, req: Result<PushRequest, PushError>) -> Response {
    let started = Instant::now();
    let result = match req {
        Ok(req) => state.inner.relay.push(&endpoint, req).await,
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
            tracing::debug!(endpoint = %crate::ids::Redacted(&endpoint), message = %accepted.message_id, "push relayed");
            let location = format!("{}/m/{}", state.inner.public_base, accepted.message_id.as_str());
            let mut resp = StatusCode::CREATED.into_response();
            let h = resp.headers_mut();
            // Takes the String's buffer instead of copying it.
            if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(location)) {
                h.insert(header::LOCATION, v);
            }
            h.insert("ttl", HeaderValue::from(accepted.ttl));
            resp
        }
        Err(e) => {
            if e.status().is_server_error() {
                tracing::warn!(endpoint = %crate::ids::Redacted(&endpoint), outcome, error = %e, "push failed");
            } else {
                tracing::debug!(endpoint = %crate::ids::Redacted(&endpoint), outcome, "push refused");
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

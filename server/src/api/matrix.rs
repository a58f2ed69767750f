//! The Matrix push gateway's edge: `GET /_matrix/push/v1/notify` tells a UnifiedPush
//! Matrix client that this endpoint's origin has a gateway; `POST` takes a homeserver's
//! notification. Every answer is JSON: a homeserver takes a 2xx without JSON for a failure.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http_body_util::{BodyExt, Limited};
use serde_json::json;

use super::error::ApiError;
use super::state::AppState;
use crate::gateway::notification::{self, BadNotification};
use crate::gateway::Answer;

/// Largest notify request read: a notification with its devices is a few KiB; the push
/// it becomes is trimmed to 4096 bytes anyway.
const MAX_NOTIFY_BYTES: usize = 64 * 1024;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/_matrix/push/v1/notify", get(discovery).post(notify))
}

async fn discovery() -> Json<serde_json::Value> {
    Json(json!({"unifiedpush": {"gateway": "matrix"}}))
}

async fn notify(State(state): State<AppState>, req: Request) -> Response {
    let bytes = match Limited::new(req.into_body(), MAX_NOTIFY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("notification over {MAX_NOTIFY_BYTES} bytes"))
                .into_response()
        }
    };
    let max_devices = state.inner.config.matrix.max_devices_per_notify;
    let parsed = match notification::parse(&bytes).and_then(|n| n.at_most(max_devices)) {
        Ok(n) => n,
        Err(e) => {
            let code = match e {
                BadNotification::NotJson(_) => "invalid_json",
                BadNotification::TooLarge => "notification_too_large",
                BadNotification::TooManyDevices(_) => "too_many_devices",
                _ => "bad_notification",
            };
            return ApiError::bad_request(code, e.to_string()).into_response();
        }
    };
    match state.inner.gateway.notify(parsed).await {
        Answer::Rejected(rejected) => Json(json!({ "rejected": rejected })).into_response(),
        Answer::RetryLater(after) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "no device could be served now; retry later")
                .with_retry_after(after)
                .into_response()
        }
    }
}

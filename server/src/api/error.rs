//! Error responses: JSON `{"error": "<code>", "message": "<text>"}` with the right
//! status, and `Retry-After` where a retry makes sense.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::relay::PushError;
use crate::store::StoreError;

/// An error answer of the distributor or operations API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with a status, a stable code and a human message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after: None }
    }
    /// Add `Retry-After`.
    pub fn with_retry_after(mut self, d: Duration) -> ApiError {
        self.retry_after = Some(d);
        self
    }
    /// 400 with code `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 401.
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong Authorization: Bearer <secret>")
    }
    /// 404 for a device.
    pub fn unknown_device() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_device", "no such device")
    }
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::warn!(error = %e, "store failure in distributor API");
        let err = ApiError::new(e.status(), e.label(), "storage temporarily failed; retry later");
        match e {
            StoreError::Unavailable(_) => err.with_retry_after(Duration::from_secs(5)),
            StoreError::Internal(_) => err,
        }
    }
}

fn error_response(status: StatusCode, code: &str, message: &str, retry_after: Option<Duration>) -> Response {
    let mut resp = (status, Json(serde_json::json!({ "error": code, "message": message }))).into_response();
    if let Some(d) = retry_after {
        // Round up: a sender that waits exactly this long must not be refused again.
        let secs = d.as_millis().div_ceil(1000).max(1) as u64;
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.status, self.code, &self.message, self.retry_after)
    }
}

impl IntoResponse for PushError {
    fn into_response(self) -> Response {
        // Internal details (Redis errors, FCM bodies) are logged, not told to app servers.
        let message = match &self {
            PushError::Store(_) => "storage temporarily failed; retry later".to_string(),
            PushError::Upstream(_) => "the relay's own request to FCM failed; the operator has been told".to_string(),
            other => other.to_string(),
        };
        error_response(self.status(), self.label(), &message, self.retry_after())
    }
}

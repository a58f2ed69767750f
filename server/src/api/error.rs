//! Every error answer of the HTTP surface — JSON `{"error": "<code>", "message": "<text>"}`
//! with `Retry-After` where a retry makes sense — and the one place where what went wrong
//! below the edge (a [`RelayError`], a [`StoreError`]) or at the edge ([`BadPush`])
//! becomes a status code.
//!
//! Only "your request is wrong" and "this endpoint is gone" are 4xx: Mastodon and others
//! delete a subscription on any other 4xx but 408/429.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::relay::RelayError;
use crate::store::StoreError;
use crate::webpush::{HeaderError, VapidError};

/// How long a client should wait after a store outage.
const STORE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// An error answer.
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
    /// The stable code, also the metric label.
    pub fn code(&self) -> &'static str {
        self.code
    }
    /// Whether the fault is ours (5xx) rather than the client's.
    pub fn is_server_error(&self) -> bool {
        self.status.is_server_error()
    }
}

/// A push the edge refused before it reached the relay.
#[derive(Debug, thiserror::Error)]
pub enum BadPush {
    /// Empty body.
    #[error("the push message body must not be empty")]
    EmptyBody,
    /// Body over the limit.
    #[error("the push message body must be at most {0} bytes")]
    TooLarge(usize),
    /// The body could not be read.
    #[error("could not read the request body: {0}")]
    BadBody(String),
    /// A malformed Web Push header.
    #[error(transparent)]
    Header(#[from] HeaderError),
}

impl From<BadPush> for ApiError {
    fn from(e: BadPush) -> ApiError {
        let (status, code) = match &e {
            BadPush::EmptyBody => (StatusCode::BAD_REQUEST, "empty_body"),
            BadPush::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            BadPush::BadBody(_) => (StatusCode::BAD_REQUEST, "bad_body"),
            // The parameters travel with the body: too long, and the message is too large.
            BadPush::Header(h @ HeaderError::AesgcmTooLong(_)) => (StatusCode::PAYLOAD_TOO_LARGE, h.label()),
            BadPush::Header(h) => (StatusCode::BAD_REQUEST, h.label()),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<RelayError> for ApiError {
    fn from(e: RelayError) -> ApiError {
        let code = e.label();
        let (status, retry_after) = match &e {
            RelayError::NotFound => (StatusCode::NOT_FOUND, None),
            RelayError::Gone => (StatusCode::GONE, None),
            // RFC 8292 §4.2: 401 when credentials are missing, 403 when they are wrong.
            RelayError::Vapid(VapidError::Missing) => (StatusCode::UNAUTHORIZED, None),
            RelayError::Vapid(_) => (StatusCode::FORBIDDEN, None),
            RelayError::Throttled(d) => (StatusCode::TOO_MANY_REQUESTS, Some(*d)),
            RelayError::Unavailable(d) => (StatusCode::SERVICE_UNAVAILABLE, Some(*d)),
            RelayError::Upstream(_) => (StatusCode::BAD_GATEWAY, None),
            RelayError::Store(store) => return ApiError::from(store.clone()),
        };
        // Internal details (the push service's answers) are logged, not told to app servers.
        let message = match &e {
            RelayError::Upstream(_) => "the relay's own request to the push service failed; the operator has been told".to_string(),
            other => other.to_string(),
        };
        ApiError { status, code, message, retry_after }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::warn!(error = %e, "store failure");
        // The backend's own text (addresses, keys) stays in the log.
        let err = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.label(), "storage temporarily failed; retry later");
        match e {
            StoreError::Unavailable(_) => ApiError { status: StatusCode::SERVICE_UNAVAILABLE, ..err }.with_retry_after(STORE_RETRY_AFTER),
            StoreError::Internal(_) => err,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(serde_json::json!({ "error": self.code, "message": self.message }))).into_response();
        if let Some(d) = self.retry_after {
            // Round up: a sender that waits exactly this long must not be refused again.
            let secs = d.as_millis().div_ceil(1000).max(1) as u64;
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Error answers that axum makes by itself (the router's 405, extractor rejections) come
/// with a plain-text or empty body; every error of this surface is JSON, so they are
/// rewritten here, keeping their status and headers (`Allow`), their text as `message`.
pub async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        s if s.is_server_error() => "server_error",
        _ => "client_error",
    };
    let text = axum::body::to_bytes(body, 1024).await.ok().and_then(|b| String::from_utf8(b.to_vec()).ok()).unwrap_or_default();
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_string(),
        t => t.to_string(),
    };
    let json = ApiError::new(status, code, message).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(json.headers().clone());
    Response::from_parts(parts, json.into_body())
}

/// What the edge refuses before routing: requests no handler should have to think about.
pub fn screen(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    // RFC 9112 §6.1: a server that does not understand a transfer coding answers 501. hyper
    // decodes `chunked` only, so `gzip, chunked` would hand us a still-compressed body.
    let mut codings = headers.get_all(header::TRANSFER_ENCODING).iter();
    if let Some(first) = codings.next() {
        if !first.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked") || codings.next().is_some() {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "unsupported_transfer_encoding",
                "only Transfer-Encoding: chunked is supported",
            ));
        }
    }
    // Two credentials are ambiguous: whichever one a component reads, another may read the other.
    let mut auth = headers.get_all(header::AUTHORIZATION).iter();
    if auth.next().is_some() && auth.next().is_some() {
        return Err(ApiError::bad_request("duplicate_authorization", "more than one Authorization header"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fcm::FcmError;

    fn answer(e: impl Into<ApiError>) -> (StatusCode, &'static str, Option<Duration>) {
        let e = e.into();
        (e.status, e.code, e.retry_after)
    }

    #[test]
    fn relay_outcomes_map_to_statuses_senders_understand() {
        let s = Duration::from_secs(7);
        assert_eq!(answer(RelayError::NotFound), (StatusCode::NOT_FOUND, "not_found", None));
        assert_eq!(answer(RelayError::Gone), (StatusCode::GONE, "gone", None));
        assert_eq!(answer(RelayError::Vapid(VapidError::Missing)), (StatusCode::UNAUTHORIZED, "vapid_missing", None));
        for wrong in [VapidError::WrongKey, VapidError::BadSignature, VapidError::Expired, VapidError::Malformed("x")] {
            assert_eq!(answer(RelayError::Vapid(wrong)), (StatusCode::FORBIDDEN, "vapid_invalid", None));
        }
        assert_eq!(answer(RelayError::Throttled(s)), (StatusCode::TOO_MANY_REQUESTS, "throttled", Some(s)));
        assert_eq!(answer(RelayError::Unavailable(s)), (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(s)));
        assert_eq!(answer(RelayError::Upstream(FcmError::Timeout.into())), (StatusCode::BAD_GATEWAY, "upstream_error", None));
        let not_offered = RelayError::Upstream(crate::road::RoadError::NotOffered(crate::target::RoadKind::WebPush));
        assert_eq!(answer(not_offered), (StatusCode::BAD_GATEWAY, "upstream_error", None));
        let down = RelayError::Store(StoreError::Unavailable("redis: connection refused".into()));
        assert_eq!(answer(down), (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", Some(STORE_RETRY_AFTER)));
        let broken = RelayError::Store(StoreError::Internal("bad record".into()));
        assert_eq!(answer(broken), (StatusCode::INTERNAL_SERVER_ERROR, "store_internal", None));
    }

    #[test]
    fn edge_refusals_are_the_senders_fault() {
        assert_eq!(answer(BadPush::EmptyBody).0, StatusCode::BAD_REQUEST);
        assert_eq!(answer(BadPush::TooLarge(4096)).0, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(answer(BadPush::Header(HeaderError::Ttl)), (StatusCode::BAD_REQUEST, "bad_ttl", None));
    }

    #[test]
    fn store_text_never_reaches_the_client() {
        let e = ApiError::from(StoreError::Unavailable("redis://:hunter2@10.0.0.1 refused".into()));
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }
}

//! Google API error bodies, shaped exactly like FCM's and Google OAuth's.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub const FCM_ERROR_TYPE: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";
pub const BAD_REQUEST_TYPE: &str = "type.googleapis.com/google.rpc.BadRequest";

pub const MSG_INVALID_CREDENTIALS: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
pub const MSG_MISSING_CREDENTIALS: &str = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
pub const MSG_INVALID_TOKEN: &str = "The registration token is not a valid FCM registration token";
/// FCM's answer to a `message.fid` that is not shaped like a Firebase Installation ID.
pub const MSG_INVALID_FID: &str = "The installation ID is not a valid Firebase installation ID";

/// An error answer of the FCM v1 API (`{"error":{"code","message","status","details"}}`).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
    pub retry_after: Option<u64>,
    pub www_authenticate: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, rpc_status: &str, message: &str, details: Option<Vec<Value>>) -> Self {
        let mut error = json!({
            "code": status.as_u16(),
            "message": message,
            "status": rpc_status,
        });
        if let Some(details) = details {
            error["details"] = Value::Array(details);
        }
        ApiError { status, body: json!({ "error": error }), retry_after: None, www_authenticate: None }
    }

    /// 400 INVALID_ARGUMENT with the FcmError detail.
    pub fn invalid_argument(message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message, Some(vec![fcm_detail("INVALID_ARGUMENT")]))
    }

    /// 400 INVALID_ARGUMENT with the FcmError detail and a `google.rpc.BadRequest` field violation.
    pub fn invalid_field(field: Option<&str>, message: &str) -> Self {
        let mut violation = json!({ "description": message });
        if let Some(field) = field {
            violation["field"] = json!(field);
        }
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            message,
            Some(vec![fcm_detail("INVALID_ARGUMENT"), json!({ "@type": BAD_REQUEST_TYPE, "fieldViolations": [violation] })]),
        )
    }

    /// 401 for a missing, unknown, revoked or expired access token (no FCM errorCode: this is
    /// Google's front end talking, not FCM).
    pub fn unauthenticated(missing: bool) -> Self {
        let msg = if missing { MSG_MISSING_CREDENTIALS } else { MSG_INVALID_CREDENTIALS };
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", msg, None);
        e.www_authenticate = Some(if missing {
            "Bearer realm=\"https://accounts.google.com/\""
        } else {
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\""
        });
        e
    }

    /// 403 for an access token of another project (IAM denial; no FCM errorCode).
    pub fn permission_denied_project(project: &str) -> Self {
        let msg = format!(
            "Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist)."
        );
        Self::new(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            &msg,
            Some(vec![json!({
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": "cloudresourcemanager.googleapis.com",
                "metadata": {
                    "permission": "cloudmessaging.messages.create",
                    "resource": format!("projects/{project}"),
                },
            })]),
        )
    }

    pub fn with_retry_after(mut self, secs: Option<u64>) -> Self {
        self.retry_after = secs;
        self
    }
}

pub fn fcm_detail(code: &str) -> Value {
    json!({ "@type": FCM_ERROR_TYPE, "errorCode": code })
}

/// A response with `body` as `application/json; charset=UTF-8`. Built directly: going through
/// `(status, Vec<u8>)::into_response` would set an octet-stream type only to replace it.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut resp = json_response(self.status, body);
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(v) = self.www_authenticate {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(v));
        }
        resp
    }
}

/// An OAuth token-endpoint error (`{"error","error_description"}`, RFC 6749 §5.2).
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        OAuthError { error: "invalid_grant", description: description.into() }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&json!({
            "error": self.error,
            "error_description": self.description,
        }))
        .unwrap_or_default();
        let mut resp = json_response(StatusCode::BAD_REQUEST, body);
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

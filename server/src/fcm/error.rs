//! FCM's answers, classified as the Admin SDKs do: first the `FcmError` detail's
//! `errorCode`, then `error.status`, then the HTTP status.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};
use serde::Deserialize;

/// Why one FCM send did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FcmError {
    /// The token is no longer valid (app uninstalled, token expired…).
    #[error("UNREGISTERED")]
    Unregistered,
    /// The token belongs to another Firebase project.
    #[error("SENDER_ID_MISMATCH")]
    SenderIdMismatch,
    /// FCM rejected the request as malformed.
    #[error("INVALID_ARGUMENT: {message}")]
    InvalidArgument {
        /// FCM's explanation.
        message: String,
    },
    /// Project, device or topic rate exceeded.
    #[error("QUOTA_EXCEEDED")]
    QuotaExceeded {
        /// FCM's `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// FCM overloaded.
    #[error("UNAVAILABLE")]
    Unavailable {
        /// FCM's `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// FCM internal error.
    #[error("INTERNAL")]
    Internal {
        /// FCM's `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// APNs/web-push credentials problem on FCM's side.
    #[error("THIRD_PARTY_AUTH_ERROR: {message}")]
    ThirdPartyAuth {
        /// FCM's explanation.
        message: String,
    },
    /// Our access token was refused (even after one refresh).
    #[error("UNAUTHENTICATED: {message}")]
    Unauthenticated {
        /// FCM's explanation.
        message: String,
    },
    /// The service account may not send for this project.
    #[error("PERMISSION_DENIED: {message}")]
    PermissionDenied {
        /// FCM's explanation.
        message: String,
    },
    /// NOT_FOUND without an UNREGISTERED detail: most likely a wrong project id.
    #[error("NOT_FOUND: {message}")]
    NotFound {
        /// FCM's explanation.
        message: String,
    },
    /// Any other answer.
    #[error("unexpected FCM answer {status}: {message}")]
    Other {
        /// HTTP status.
        status: u16,
        /// Body excerpt.
        message: String,
    },
    /// No answer in time.
    #[error("FCM request timed out")]
    Timeout,
    /// Could not connect or the connection broke.
    #[error("cannot reach FCM: {0}")]
    Transport(String),
    /// Could not obtain an OAuth access token.
    #[error("cannot obtain an OAuth token: {0}")]
    Auth(String),
    /// The device names a project this server has no credentials for.
    #[error("no credentials for Firebase project {0}")]
    UnknownProject(String),
}

/// What the relay should do about an [`FcmError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The token is dead: delete the device's endpoints, answer 410.
    DeadToken,
    /// This device (or project) is sending too much: 429.
    Throttled(Option<Duration>),
    /// Try again later (queue or 503).
    Transient(Option<Duration>),
    /// Our configuration or request is wrong: 5xx, never a 4xx to the sender.
    OurFault,
    /// FCM refused this message itself (its size or shape): no later try can succeed.
    BadMessage,
}

impl FcmError {
    /// The class that decides the relay's answer.
    pub fn class(&self) -> ErrorClass {
        match self {
            FcmError::Unregistered | FcmError::SenderIdMismatch => ErrorClass::DeadToken,
            FcmError::InvalidArgument { message } if is_about_the_token(message) => ErrorClass::DeadToken,
            FcmError::InvalidArgument { .. } => ErrorClass::BadMessage,
            FcmError::QuotaExceeded { retry_after } => ErrorClass::Throttled(*retry_after),
            FcmError::Unavailable { retry_after } | FcmError::Internal { retry_after } => ErrorClass::Transient(*retry_after),
            FcmError::Timeout | FcmError::Transport(_) => ErrorClass::Transient(None),
            FcmError::Other { status, .. } if *status >= 500 => ErrorClass::Transient(None),
            _ => ErrorClass::OurFault,
        }
    }

    /// Metric label (`result` of `uprelay_fcm_requests_total`).
    pub fn label(&self) -> &'static str {
        match self {
            FcmError::Unregistered => "unregistered",
            FcmError::SenderIdMismatch => "sender_id_mismatch",
            FcmError::InvalidArgument { .. } => "invalid_argument",
            FcmError::QuotaExceeded { .. } => "quota_exceeded",
            FcmError::Unavailable { .. } => "unavailable",
            FcmError::Internal { .. } => "internal",
            FcmError::ThirdPartyAuth { .. } => "third_party_auth_error",
            FcmError::Unauthenticated { .. } => "unauthenticated",
            FcmError::PermissionDenied { .. } => "permission_denied",
            FcmError::NotFound { .. } => "not_found",
            FcmError::Other { .. } => "other",
            FcmError::Timeout => "timeout",
            FcmError::Transport(_) => "transport",
            FcmError::Auth(_) => "oauth",
            FcmError::UnknownProject(_) => "unknown_project",
        }
    }

    /// `Retry-After` FCM asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FcmError::QuotaExceeded { retry_after } | FcmError::Unavailable { retry_after } | FcmError::Internal { retry_after } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Classify an error response.
    pub fn from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> FcmError {
        let retry_after = crate::outbound::parse_retry_after(headers, SystemTime::now());
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let (message, status_text, codes) = match &parsed {
            Some(ErrorBody { error: Some(e) }) => (
                e.message.clone().unwrap_or_default(),
                e.status.clone().unwrap_or_default(),
                e.details
                    .iter()
                    .filter(|d| d.kind.ends_with("google.firebase.fcm.v1.FcmError"))
                    .filter_map(|d| d.error_code.clone())
                    .collect(),
            ),
            _ => (String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(), String::new(), Vec::new()),
        };
        for code in &codes {
            let classified = match code.as_str() {
                "UNREGISTERED" => Some(FcmError::Unregistered),
                "SENDER_ID_MISMATCH" => Some(FcmError::SenderIdMismatch),
                "INVALID_ARGUMENT" => Some(FcmError::InvalidArgument { message: message.clone() }),
                "QUOTA_EXCEEDED" => Some(FcmError::QuotaExceeded { retry_after }),
                "UNAVAILABLE" => Some(FcmError::Unavailable { retry_after }),
                "INTERNAL" => Some(FcmError::Internal { retry_after }),
                "THIRD_PARTY_AUTH_ERROR" | "APNS_AUTH_ERROR" => Some(FcmError::ThirdPartyAuth { message: message.clone() }),
                _ => None, // UNSPECIFIED_ERROR and unknown codes: fall back to the status.
            };
            if let Some(c) = classified {
                return c;
            }
        }
        let by_status_text = match status_text.as_str() {
            "INVALID_ARGUMENT" => Some(FcmError::InvalidArgument { message: message.clone() }),
            "UNAUTHENTICATED" => Some(FcmError::Unauthenticated { message: message.clone() }),
            "PERMISSION_DENIED" => Some(FcmError::PermissionDenied { message: message.clone() }),
            "NOT_FOUND" => Some(FcmError::NotFound { message: message.clone() }),
            "RESOURCE_EXHAUSTED" => Some(FcmError::QuotaExceeded { retry_after }),
            "UNAVAILABLE" => Some(FcmError::Unavailable { retry_after }),
            "INTERNAL" => Some(FcmError::Internal { retry_after }),
            _ => None,
        };
        if let Some(c) = by_status_text {
            return c;
        }
        match status.as_u16() {
            400 => FcmError::InvalidArgument { message },
            401 => FcmError::Unauthenticated { message },
            403 => FcmError::PermissionDenied { message },
            404 => FcmError::NotFound { message },
            429 => FcmError::QuotaExceeded { retry_after },
            500 => FcmError::Internal { retry_after },
            503 => FcmError::Unavailable { retry_after },
            other => FcmError::Other { status: other, message },
        }
    }
}

/// FCM reports malformed or truncated tokens and installation IDs as INVALID_ARGUMENT;
/// those mean the device must re-register, unlike an INVALID_ARGUMENT about our own request.
fn is_about_the_token(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("registration token") || message.contains("installation id")
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
struct ErrorObject {
    message: Option<String>,
    status: Option<String>,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(rename = "@type", default)]
    kind: String,
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> FcmError {
        FcmError::from_response(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body.as_bytes())
    }

    fn fcm_body(status: &str, code: &str) -> String {
        format!(
            r#"{{"error":{{"code":400,"message":"m","status":"{status}","details":[{{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"{code}"}}]}}}}"#
        )
    }

    #[test]
    fn error_code_wins_over_status() {
        // Shape from the Go Admin SDK's tests: status INVALID_ARGUMENT, code UNREGISTERED.
        assert_eq!(classify(400, &fcm_body("INVALID_ARGUMENT", "UNREGISTERED")), FcmError::Unregistered);
        assert_eq!(classify(403, &fcm_body("PERMISSION_DENIED", "SENDER_ID_MISMATCH")), FcmError::SenderIdMismatch);
        assert_eq!(classify(429, &fcm_body("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED")), FcmError::QuotaExceeded { retry_after: None });
        assert!(matches!(classify(401, &fcm_body("UNAUTHENTICATED", "APNS_AUTH_ERROR")), FcmError::ThirdPartyAuth { .. }));
    }

    #[test]
    fn unknown_code_falls_back_to_status_then_http() {
        assert!(matches!(classify(401, &fcm_body("UNAUTHENTICATED", "SOME_UNKNOWN_CODE")), FcmError::Unauthenticated { .. }));
        assert!(matches!(classify(404, r#"{"error":{"status":"NOT_FOUND","message":"x"}}"#), FcmError::NotFound { .. }));
        assert_eq!(classify(500, "not json"), FcmError::Internal { retry_after: None });
        assert_eq!(classify(503, "{}"), FcmError::Unavailable { retry_after: None });
        assert!(matches!(classify(400, "{}"), FcmError::InvalidArgument { .. }));
        assert!(matches!(classify(418, "{}"), FcmError::Other { status: 418, .. }));
    }

    #[test]
    fn classes() {
        assert_eq!(FcmError::Unregistered.class(), ErrorClass::DeadToken);
        let bad_token = FcmError::InvalidArgument { message: "The registration token is not a valid FCM registration token".into() };
        assert_eq!(bad_token.class(), ErrorClass::DeadToken);
        let bad_fid = FcmError::InvalidArgument { message: "The installation ID is not a valid Firebase installation ID".into() };
        assert_eq!(bad_fid.class(), ErrorClass::DeadToken);
        assert_eq!(
            FcmError::InvalidArgument { message: "Invalid value at 'message.data[0].value'".into() }.class(),
            ErrorClass::BadMessage
        );
        assert_eq!(FcmError::InvalidArgument { message: "Message is too big".into() }.class(), ErrorClass::BadMessage);
        assert_eq!(FcmError::Timeout.class(), ErrorClass::Transient(None));
        assert_eq!(FcmError::NotFound { message: String::new() }.class(), ErrorClass::OurFault);
        let q = FcmError::QuotaExceeded { retry_after: Some(Duration::from_secs(60)) };
        assert_eq!(q.class(), ErrorClass::Throttled(Some(Duration::from_secs(60))));
    }
}

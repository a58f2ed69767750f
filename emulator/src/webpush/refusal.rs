//! A refusal of the Web Push service, with the status and the terse plain-text body
//! Google's service answers with.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub(crate) const MSG_KEY_MISMATCH: &str = "the key in the authorization header does not correspond to the sender ID used to subscribe this user. Please ensure you are using the correct sender ID and server Key from the Firebase console.\n";
pub(crate) const MSG_NOT_FOUND: &str =
    "A valid push subscription endpoint should be specified in the URL as such: https://fcm.googleapis.com/wp/dHIoDxE7Hdg:APA91bH1Zj0kNa...\n";
pub(crate) const MSG_GONE: &str = "push subscription has unsubscribed or expired.\n";

/// A refusal of the Web Push service: a status, a short code for the inbox page's list of
/// rejected sends, and the plain-text body.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub text: String,
    pub retry_after: Option<u64>,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, code: &'static str, text: impl Into<String>) -> Refusal {
        Refusal { status, code, text: text.into(), retry_after: None }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut resp =
            (self.status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], self.text).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

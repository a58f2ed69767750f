//! The inbox page: one static page (HTML, script and style built into the binary, no build
//! step, nothing loaded from elsewhere) at `/` that shows what the emulator accepted and
//! refused, decoded by uprelay's wire format, and adds and clears faults. It polls the JSON
//! controls (`/emulator/messages`, `/emulator/rejected`, `/emulator/faults`) once a second.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::Emulator;

const HTML: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/inbox.js");
const STYLE: &str = include_str!("page/inbox.css");

/// Only the page's own script and style run, it talks only to this emulator, and no other
/// site may frame it.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `/`, `/inbox.js`, `/inbox.css`, for [`crate::http`]'s router.
pub(crate) fn routes() -> Router<Emulator> {
    Router::new()
        .route("/", get(|| async { asset(HTML, "text/html; charset=utf-8") }))
        .route("/inbox.js", get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/inbox.css", get(|| async { asset(STYLE, "text/css; charset=utf-8") }))
}

fn asset(text: &'static str, content_type: &'static str) -> Response {
    let mut resp = text.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

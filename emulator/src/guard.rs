//! The guard in front of the `/emulator/*` controls and the inbox page: what keeps a web page
//! the developer happens to visit from driving the emulator through their browser (injecting
//! `UNREGISTERED` makes the relay delete a device; the inbox shows tokens and bodies).
//!
//! - A request whose `Origin` header is present and is not the emulator's own origin
//!   (`http://` + the request's `Host`) gets 403: browsers send `Origin` with every
//!   cross-origin fetch and every POST, so a foreign page's requests are refused while curl,
//!   test clients and the page itself (same origin) pass.
//! - When the emulator listens on loopback, `Host` must name loopback (`localhost`, `127.x.y.z`,
//!   `[::1]`), else 403: without this, a DNS-rebinding page (its own name resolving to
//!   127.0.0.1) would be "same origin" by the rule above.
//! - Writes (any method but GET, HEAD, OPTIONS) must be `Content-Type: application/json`, or
//!   carry no body and no type, else 415: an HTML form or a "simple" `fetch` can only send
//!   `text/plain`, form or multipart bodies without a CORS preflight.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use crate::errors::json_response;
use crate::oauth::request_authority;

/// What the guard allows; fixed when the emulator binds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// The emulator listens on a loopback address: only loopback `Host` names are served.
    pub(crate) loopback_only: bool,
}

/// Middleware (`axum::middleware::from_fn_with_state`): refuse what [`Policy::check`] refuses.
pub(crate) async fn guard(State(policy): State<Policy>, request: Request, next: Next) -> Response {
    let body_empty = {
        let body = request.body();
        http_body::Body::is_end_stream(body) || http_body::Body::size_hint(body).exact() == Some(0)
    };
    let host = request_authority(request.headers(), request.uri());
    match policy.check(request.method(), request.headers(), host.as_deref(), body_empty) {
        Ok(()) => next.run(request).await,
        Err((status, msg)) => json_response(status, serde_json::to_vec(&json!({ "error": msg })).unwrap_or_default()),
    }
}

impl Policy {
    /// Whether a request with this method, headers, authority (`Host`, or the h2 `:authority`)
    /// and body emptiness may reach the controls.
    pub(crate) fn check(
        &self,
        method: &Method,
        headers: &HeaderMap,
        host: Option<&str>,
        body_empty: bool,
    ) -> Result<(), (StatusCode, &'static str)> {
        let forbidden = StatusCode::FORBIDDEN;
        let Some(host) = host else {
            return Err((forbidden, "no Host header"));
        };
        if self.loopback_only && !is_loopback_host(host) {
            return Err((forbidden, "this emulator listens on loopback and answers only to a loopback Host"));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let own = origin.to_str().ok().and_then(|o| o.strip_prefix("http://")).is_some_and(|o| o.eq_ignore_ascii_case(host));
            if !own {
                return Err((forbidden, "cross-origin requests are refused: the Origin is not this emulator's own"));
            }
        }
        let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if write {
            let json_type = match headers.get(header::CONTENT_TYPE) {
                None => body_empty,
                Some(v) => v.to_str().ok().is_some_and(is_json_type),
            };
            if !json_type {
                return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, "writes take Content-Type: application/json"));
            }
        }
        Ok(())
    }
}

/// `application/json`, with or without parameters (`; charset=utf-8`), any letter case.
fn is_json_type(value: &str) -> bool {
    value.split(';').next().is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// `localhost`, an IPv4 loopback address or `[::1]`, with or without a port.
fn is_loopback_host(authority: &str) -> bool {
    let name = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, tail)) if tail.is_empty() || tail.starts_with(':') => v6,
            _ => return false,
        },
        None => authority.rsplit_once(':').map_or(authority, |(name, _port)| name),
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1:8090", "127.1.2.3", "localhost:1", "LOCALHOST", "[::1]:8090", "[::1]"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["evil.example:8090", "10.0.0.1:80", "[::2]:1", "[::1]x", "localhost.evil.example", "0.0.0.0:8090", ""] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn origin_and_type() {
        let p = Policy { loopback_only: true };
        let mut h = HeaderMap::new();
        let host = Some("127.0.0.1:9");
        assert!(p.check(&Method::POST, &h, host, true).is_ok(), "no body, no type");
        assert_eq!(p.check(&Method::POST, &h, host, false).unwrap_err().0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("Application/JSON; charset=utf-8"));
        assert!(p.check(&Method::POST, &h, host, false).is_ok());
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:9"));
        assert!(p.check(&Method::POST, &h, host, false).is_ok(), "same origin");
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:10"));
        assert_eq!(p.check(&Method::GET, &h, host, true).unwrap_err().0, StatusCode::FORBIDDEN);
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert_eq!(p.check(&Method::GET, &h, host, true).unwrap_err().0, StatusCode::FORBIDDEN);
        h.remove(header::ORIGIN);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(p.check(&Method::DELETE, &h, host, true).unwrap_err().0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(p.check(&Method::GET, &h, host, true).is_ok(), "reads take any type");
        let open = Policy { loopback_only: false };
        assert!(open.check(&Method::GET, &HeaderMap::new(), Some("emulator:8090"), true).is_ok());
        assert!(p.check(&Method::GET, &HeaderMap::new(), Some("emulator:8090"), true).is_err());
    }
}

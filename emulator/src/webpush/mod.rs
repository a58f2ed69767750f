//! Google's Web Push service (`POST /fcm/send/{token}`), the one Chrome and Play services
//! subscriptions point at: no Firebase project, the sender's VAPID key is its identity.
//!
//! Checks, in order, with the status codes and plain-text bodies Google's service answers:
//! 1. `Authorization: vapid t=<JWT>, k=<key>` (RFC 8292): absent → 401; malformed, a bad
//!    ES256 signature, `aud` other than this emulator's origin (`http://<Host>`), `exp` past
//!    or more than 24 h ahead → 403 (`vapid.rs`).
//! 2. The token (`tokens.rs`): never issued → 404; revoked (`/emulator/webpush/revoke`) →
//!    410; dead after an injected `UNREGISTERED` → 404; issued for another VAPID key → 403.
//! 3. RFC 8030 headers: `TTL` missing or not delta-seconds → 400; a bad `Urgency` or `Topic`
//!    → 400; a body without `Content-Encoding: aes128gcm` (or legacy `aesgcm`) → 400.
//! 4. A body over 4096 bytes → 413.
//! 5. Faults of `/emulator/faults` naming the token (or every token), mapped to what this
//!    service answers: `QUOTA_EXCEEDED` → 429 with the fault's `Retry-After`, `UNAVAILABLE` →
//!    503, `INTERNAL` → 500, `UNREGISTERED` → 404 (and the token stays dead),
//!    `SENDER_ID_MISMATCH` → 403, `INVALID_ARGUMENT` → 400, `THIRD_PARTY_AUTH_ERROR` → 401;
//!    `delay_ms` delays the answer.
//! 6. Accepted: 201 with a `Location` naming the message; kept for `GET /emulator/messages`
//!    with `"road":"webpush"`, the token, the headers and `raw_data` (the body in standard
//!    base64, as the phone gets it in `rawData`).
//!
//! Bodies Google is seen to answer in the field (403 for another key, 404 for a stale
//! token, 410 for an unsubscribed one, 403 for a late `exp`) are used as seen; the others
//! are in the same terse style.

mod refusal;
pub(crate) mod tokens;
pub(crate) mod vapid;

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::faults::FaultCode;
use crate::inbox::{Rejected, Stats, Stored, StoredPush};
use crate::oauth::request_authority;
use crate::state::{Emulator, Inner};

use refusal::{Refusal, MSG_KEY_MISMATCH, MSG_NOT_FOUND};

/// RFC 8030 §7.2 / RFC 8291: the largest body a push service must accept, and Google's limit.
pub const MAX_BODY_BYTES: usize = 4096;

/// The RFC 8030 headers of one accepted push, as kept.
struct PushHeaders {
    ttl: u32,
    urgency: Option<String>,
    topic: Option<String>,
    encoding: Option<String>,
}

/// `POST /fcm/send/{token}`, for the paths the router serves (see [`plain_token`]).
pub(crate) async fn send(State(emu): State<Emulator>, Path(token): Path<String>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    respond(&emu, token, &headers, &uri, body).await
}

/// The token of a Web Push path that needs no decoding (`/fcm/send/<token>`, one segment,
/// no percent-escapes): what [`crate::http::Http`] hands straight to [`send_plain`], as it
/// does FCM v1 sends, so that the relay's benchmark pays no router per push.
pub(crate) fn plain_token(path: &str) -> Option<&str> {
    let token = path.strip_prefix("/fcm/send/")?;
    (!token.is_empty() && !token.contains(['/', '%'])).then_some(token)
}

/// `POST` on a [`plain_token`] path without the router: the same body extraction and the
/// same answer as [`send`]; the headers are taken out of the request, not cloned.
pub(crate) async fn send_plain(emu: &Emulator, request: axum::extract::Request) -> Response {
    use axum::extract::FromRequest;
    let (mut parts, body) = request.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    let uri = parts.uri.clone();
    let token = plain_token(uri.path()).unwrap_or_default().to_owned();
    match Bytes::from_request(axum::extract::Request::from_parts(parts, body), &()).await {
        Ok(body) => respond(emu, token, &headers, &uri, body).await,
        Err(rejection) => rejection.into_response(),
    }
}

/// Count the request, check it, keep it or refuse it.
async fn respond(emu: &Emulator, token: String, headers: &HeaderMap, uri: &Uri, body: Bytes) -> Response {
    let inner = &emu.inner;
    Stats::inc(&inner.stats.send_requests);
    let _in_flight = inner.load.send_started();
    let response = match check(inner, &token, headers, uri, &body).await {
        Ok(kept) => accept(inner, token, kept, headers, uri, body),
        Err(refusal) => {
            Stats::inc(&inner.stats.rejected);
            if inner.inbox.keeps() {
                inner.rejects.push(Rejected::webpush(&token, refusal.status.as_u16(), refusal.code, refusal.text.trim_end()));
            }
            refusal.into_response()
        }
    };
    if let Some(delay) = inner.latency.draw() {
        tokio::time::sleep(delay).await;
    }
    response
}

async fn check(inner: &Inner, token: &str, headers: &HeaderMap, uri: &Uri, body: &[u8]) -> Result<PushHeaders, Refusal> {
    // 1. VAPID, for this service's own origin.
    let origin = request_authority(headers, uri).map(|host| format!("http://{host}"));
    let key = vapid::verify(&inner.webpush_jwts, headers.get(header::AUTHORIZATION), origin.as_deref())?;
    // 2. The token and the key it was issued for.
    inner.webpush_tokens.check(token, &key, &inner.faults)?;
    // 3. RFC 8030's headers.
    let kept = push_headers(headers, body)?;
    // 4. Size.
    if body.len() > MAX_BODY_BYTES {
        return Err(Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "The payload is too large (4096 bytes at most).\n"));
    }
    // 5. Injected faults.
    apply_faults(inner, token).await?;
    Ok(kept)
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Refusal> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "INVALID_HEADER", format!("more than one {name} header\n")));
    }
    first
        .to_str()
        .map(|s| Some(s.trim()))
        .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "INVALID_HEADER", format!("invalid {name} header\n")))
}

fn push_headers(headers: &HeaderMap, body: &[u8]) -> Result<PushHeaders, Refusal> {
    let bad = |text: &str| Refusal::new(StatusCode::BAD_REQUEST, "INVALID_HEADER", format!("{text}\n"));
    let ttl = match header_text(headers, "ttl")? {
        None => return Err(Refusal::new(StatusCode::BAD_REQUEST, "MISSING_TTL", "TTL header is required\n")),
        Some(t) if !t.is_empty() && t.len() <= 10 && t.bytes().all(|b| b.is_ascii_digit()) => t.parse::<u64>().unwrap_or(u64::MAX),
        Some(_) => return Err(bad("TTL must be a number of seconds")),
    };
    // Google keeps a message at most four weeks and says so by echoing the shorter TTL.
    let ttl = ttl.min(u64::from(crate::wire::MAX_TTL_SECS)) as u32;
    let urgency = header_text(headers, "urgency")?;
    if let Some(u) = urgency {
        if !["very-low", "low", "normal", "high"].contains(&u) {
            return Err(bad("Urgency must be one of very-low, low, normal, high"));
        }
    }
    let topic = header_text(headers, "topic")?;
    if let Some(t) = topic {
        if t.is_empty() || t.len() > 32 || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(bad("Topic must be at most 32 characters of the base64url alphabet"));
        }
    }
    let encoding = header_text(headers, "content-encoding")?;
    if !body.is_empty() && !matches!(encoding, Some("aes128gcm" | "aesgcm")) {
        return Err(bad("a payload needs Content-Encoding: aes128gcm"));
    }
    Ok(PushHeaders { ttl, urgency: urgency.map(str::to_owned), topic: topic.map(str::to_owned), encoding: encoding.map(str::to_owned) })
}

/// The emulator's fault injection, on this service's answers.
async fn apply_faults(inner: &Inner, token: &str) -> Result<(), Refusal> {
    let decision = inner.faults.decide(Some(token));
    if let Some(delay) = decision.delay {
        tokio::time::sleep(delay).await;
    }
    let Some(code) = decision.error else { return Ok(()) };
    let refusal = match code {
        FaultCode::Unregistered => {
            inner.faults.mark_dead(token);
            Refusal::new(StatusCode::NOT_FOUND, "NOT_FOUND", MSG_NOT_FOUND)
        }
        FaultCode::SenderIdMismatch => Refusal::new(StatusCode::FORBIDDEN, "KEY_MISMATCH", MSG_KEY_MISMATCH),
        FaultCode::InvalidArgument => Refusal::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "invalid request\n"),
        FaultCode::QuotaExceeded => Refusal::new(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "Too many requests.\n"),
        FaultCode::Unavailable => Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "The service is currently unavailable.\n"),
        FaultCode::Internal => Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "Internal error encountered.\n"),
        FaultCode::ThirdPartyAuthError => {
            Refusal::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "authorization header must be specified.\n")
        }
    };
    Err(Refusal { retry_after: decision.retry_after, ..refusal })
}

/// 201 with `Location` (Google's shape: `https://fcm.googleapis.com/0:<id>%<tag>`, here on
/// this emulator's origin) and the TTL actually kept; the message kept for inspection.
fn accept(inner: &Inner, token: String, kept: PushHeaders, headers: &HeaderMap, uri: &Uri, body: Bytes) -> Response {
    let seq = inner.next_message.fetch_add(1, Ordering::Relaxed);
    let now_ms = crate::time::unix_millis();
    let name = format!("0:{now_ms}{:06}%{}", seq % 1_000_000, inner.instance_tag);
    Stats::inc(&inner.stats.accepted);
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let location = match request_authority(headers, uri) {
        Some(host) => format!("http://{host}/{name}"),
        None => format!("/{name}"),
    };
    let ttl = kept.ttl;
    if inner.inbox.keeps() {
        inner.inbox.push(Stored {
            name,
            project: String::new(),
            token: Some(token),
            target: None,
            message: crate::json::J::Null,
            received_at_ms: now_ms,
            push: Some(StoredPush {
                ttl: kept.ttl,
                urgency: kept.urgency,
                topic: kept.topic,
                content_encoding: kept.encoding,
                authorization,
                raw: body,
            }),
        });
    }
    let mut resp = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert("ttl", HeaderValue::from(ttl));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_token_paths() {
        assert_eq!(plain_token("/fcm/send/abc:APA91bX-_"), Some("abc:APA91bX-_"));
        for path in ["/fcm/send/", "/fcm/send/a/b", "/fcm/send/a%3Ab", "/fcm/sendx", "/v1/projects/p/messages:send"] {
            assert_eq!(plain_token(path), None, "{path}");
        }
    }
}

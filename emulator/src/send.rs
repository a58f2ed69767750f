//! `POST /v1/projects/{project}/messages:send`: authentication, FCM's request validation,
//! faults, and storage of accepted messages.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::errors::{json_response, ApiError, MSG_INVALID_FID, MSG_INVALID_TOKEN};
use crate::faults::FaultCode;
use crate::inbox::{Stats, Stored, TargetKind};
use crate::json::{reborrow, J};
use crate::state::{Emulator, Inner};
use crate::tokens::TokenCheck;
use crate::wire::{MAX_DATA_BYTES, MAX_TTL_SECS};

/// FCM documents a smaller limit for messages sent to topics.
pub const MAX_TOPIC_DATA_BYTES: usize = 2048;
/// Longest registration token accepted (real ones are ~150–250 characters).
pub const MAX_TOKEN_LEN: usize = 4096;

const REQUEST_FIELDS: &[&str] = &["validate_only", "validateOnly", "message"];
const MESSAGE_FIELDS: &[&str] =
    &["name", "data", "notification", "android", "webpush", "apns", "fcm_options", "fcmOptions", "token", "topic", "condition", "fid"];
const TARGETS: &[&str] = &["token", "topic", "condition", "fid"];
const ANDROID_FIELDS: &[&str] = &[
    "collapse_key",
    "collapseKey",
    "priority",
    "ttl",
    "restricted_package_name",
    "restrictedPackageName",
    "data",
    "notification",
    "fcm_options",
    "fcmOptions",
    "direct_boot_ok",
    "directBootOk",
    "bandwidth_constrained_ok",
    "bandwidthConstrainedOk",
    "restricted_satellite_ok",
    "restrictedSatelliteOk",
];

/// A request that passed validation; it borrows from the request body where it can.
#[derive(Debug)]
pub struct Validated<'a> {
    /// `validate_only` / `validateOnly` was true (dry run).
    pub validate_only: bool,
    /// The `message` object exactly as received.
    pub message: J<'a>,
    /// The target field that was set.
    pub target: TargetKind,
    /// The device address: the registration token or the FID, for messages sent to one.
    pub token: Option<Cow<'a, str>>,
}

/// The request's (first) `Authorization` header. An extractor of its own because axum's
/// `HeaderMap` extractor clones every header of every send, and only this one is read.
pub struct Authorization(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for Authorization {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Authorization(parts.headers.get(header::AUTHORIZATION).cloned()))
    }
}

/// The `messages:send` handler, for the paths the router serves (see [`plain_project`]).
pub async fn send(State(emu): State<Emulator>, Path(project): Path<String>, Authorization(auth): Authorization, body: Bytes) -> Response {
    respond(&emu, project, auth.as_ref(), &body).await
}

/// The project of a send path that needs no decoding (`/v1/projects/<id>/messages:send`, one
/// segment, no percent-escapes): the sends [`crate::http::Http`] hands straight to [`send_plain`].
/// Any other path takes the router, whose `Path` extractor decodes it as usual.
pub fn plain_project(path: &str) -> Option<&str> {
    let id = path.strip_prefix("/v1/projects/")?.strip_suffix("/messages:send")?;
    (!id.is_empty() && !id.contains(['/', '%'])).then_some(id)
}

/// `POST` on a [`plain_project`] path, without the router: the same body extraction (axum's
/// default limit and rejection answers) and the same answer as [`send`]. The headers are
/// taken out of the request rather than cloned; only `Authorization` is read.
pub async fn send_plain(emu: &Emulator, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    let project = plain_project(parts.uri.path()).unwrap_or_default().to_owned();
    // The `Bytes` extractor reads only the body and the request's extensions (body limit).
    match Bytes::from_request(Request::from_parts(parts, body), &()).await {
        Ok(body) => respond(emu, project, headers.get(header::AUTHORIZATION), &body).await,
        Err(rejection) => rejection.into_response(),
    }
}

/// Count the send request, handle it, and count it as rejected if it was.
async fn respond(emu: &Emulator, project: String, auth: Option<&HeaderValue>, body: &[u8]) -> Response {
    let inner = &emu.inner;
    Stats::inc(&inner.stats.send_requests);
    let _in_flight = inner.load.send_started();
    let response = match handle(inner, project, auth, body).await {
        Ok(resp) => resp,
        Err(e) => {
            Stats::inc(&inner.stats.rejected);
            e.into_response()
        }
    };
    // FCM's distance (`--latency-ms`): a timer in this send's own future, which the h2c
    // connection polls with its other streams, so a waiting answer holds its stream and
    // nothing else (no thread, no other stream's slot).
    if let Some(delay) = inner.latency.draw() {
        tokio::time::sleep(delay).await;
    }
    response
}

async fn handle(inner: &Inner, project: String, auth: Option<&HeaderValue>, body: &[u8]) -> Result<Response, ApiError> {
    match check(inner, &project, auth, body).await {
        // 4. Accepted.
        Ok(v) => Ok(accept(inner, project, v)),
        Err(e) => {
            // Kept for the inbox page, which shows what was refused and why (`--keep 0`
            // keeps nothing, rejections included).
            if inner.inbox.keeps() {
                inner.rejects.record(&project, body, &e);
            }
            Err(e)
        }
    }
}

async fn check<'b>(inner: &Inner, project: &str, auth: Option<&HeaderValue>, body: &'b [u8]) -> Result<Validated<'b>, ApiError> {
    // 1. Authentication: a live access token issued by us, for this project.
    authenticate(inner, project, auth)?;
    // 2. FCM's validation of the request.
    let v = validate(body)?;
    // 3. Dead tokens and FIDs, and injected faults.
    apply_faults(inner, project, v.token.as_deref().map(|t| (t, v.target == TargetKind::Fid))).await?;
    Ok(v)
}

/// A bearer token in `auth` that we issued, still live, for `project`.
fn authenticate(inner: &Inner, project: &str, auth: Option<&HeaderValue>) -> Result<(), ApiError> {
    let bearer = auth
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty());
    let Some(bearer) = bearer else {
        return Err(ApiError::unauthenticated(true));
    };
    match inner.tokens.check(bearer, project) {
        TokenCheck::Valid => Ok(()),
        TokenCheck::OtherProject => Err(ApiError::permission_denied_project(project)),
        TokenCheck::Invalid => Err(ApiError::unauthenticated(false)),
    }
}

/// Answer UNREGISTERED for a dead token or FID, else apply the injected faults (latency,
/// then error). `address` is the device's token, or (`true`) its FID.
async fn apply_faults(inner: &Inner, project: &str, address: Option<(&str, bool)>) -> Result<(), ApiError> {
    let token = address.map(|(a, _)| a);
    if let Some(token) = token {
        if inner.faults.is_dead(token) {
            return Err(FaultCode::Unregistered.answer(project));
        }
    }
    let decision = inner.faults.decide_for(address);
    if let Some(delay) = decision.delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(code) = decision.error {
        if code == FaultCode::Unregistered {
            if let Some(token) = token {
                inner.faults.mark_dead(token);
            }
        }
        return Err(code.answer(project).with_retry_after(decision.retry_after));
    }
    Ok(())
}

/// Count the message, keep it (owning its strings) if the inbox keeps any, and answer
/// `{"name": …}`. With `--keep 0` nothing is copied out of the request.
fn accept(inner: &Inner, project: String, v: Validated<'_>) -> Response {
    let seq = inner.next_message.fetch_add(1, Ordering::Relaxed);
    let now_ms = crate::time::unix_millis();
    let name = message_name(&project, now_ms, seq, &inner.instance_tag);
    let body = name_body(&name);
    if v.validate_only {
        Stats::inc(&inner.stats.validated);
    } else {
        Stats::inc(&inner.stats.accepted);
        if inner.inbox.keeps() {
            inner.inbox.push(Stored {
                name,
                project,
                token: v.token.map(Cow::into_owned),
                target: Some(v.target),
                message: v.message.into_owned(),
                received_at_ms: now_ms,
                push: None,
            });
        }
    }
    json_response(StatusCode::OK, body)
}

/// `projects/{project}/messages/0:<unix ms><6-digit sequence>%<instance tag>`, FCM's shape.
fn message_name(project: &str, now_ms: u64, seq: u64, tag: &str) -> String {
    let mut name = String::with_capacity(48 + project.len() + tag.len());
    write!(name, "projects/{project}/messages/0:{now_ms}{:06}%{tag}", seq % 1_000_000).expect("writing to a String cannot fail");
    name
}

/// `{"name":"…"}`, written directly rather than through a `serde_json::Value`. The name is
/// escaped by serde_json all the same: the project comes from the URL and may hold `"` or `\`.
fn name_body(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 12);
    out.extend_from_slice(br#"{"name":"#);
    serde_json::to_writer(&mut out, name).expect("writing to a Vec cannot fail");
    out.push(b'}');
    out
}

fn unknown_field(name: &str, at: Option<&str>) -> ApiError {
    match at {
        None => ApiError::invalid_field(None, &format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot find field.")),
        Some(at) => ApiError::invalid_field(
            Some(at),
            &format!("Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field."),
        ),
    }
}

fn bad_value(field: &str, kind: &str, value: &J<'_>) -> ApiError {
    ApiError::invalid_field(Some(field), &format!("Invalid value at '{field}' ({kind}), {}", value.literal()))
}

fn check_fields(obj: &[(Cow<'_, str>, J<'_>)], allowed: &[&str], at: Option<&str>) -> Result<(), ApiError> {
    match obj.iter().find(|(k, _)| !allowed.contains(&&**k)) {
        Some((k, _)) => Err(unknown_field(k, at)),
        None => Ok(()),
    }
}

fn opt_string<'b>(obj: &'b J<'_>, names: &[&str], field: &str) -> Result<Option<&'b str>, ApiError> {
    match obj.get_any(names) {
        None => Ok(None),
        Some(J::Str(s)) => Ok(Some(s)),
        Some(other) => Err(bad_value(field, "TYPE_STRING", other)),
    }
}

fn opt_bool(obj: &J<'_>, names: &[&str], field: &str) -> Result<Option<bool>, ApiError> {
    match obj.get_any(names) {
        None => Ok(None),
        Some(J::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(bad_value(field, "TYPE_BOOL", other)),
    }
}

fn opt_object<'b, 'a>(obj: &'b J<'a>, names: &[&str], field: &str, kind: &str) -> Result<Option<&'b J<'a>>, ApiError> {
    match obj.get_any(names) {
        None => Ok(None),
        Some(v @ J::Obj(_)) => Ok(Some(v)),
        Some(other) => Err(bad_value(field, kind, other)),
    }
}

/// Check a `data` map (string values, no reserved keys); return its size in bytes.
fn check_data(data: &J<'_>, field: &str) -> Result<usize, ApiError> {
    let Some(entries) = data.as_obj() else {
        return Err(ApiError::invalid_field(Some(field), &format!("Invalid value at '{field}' (map<string, string>), {}", data.literal())));
    };
    let mut size = 0;
    for (i, (k, v)) in entries.iter().enumerate() {
        let J::Str(s) = v else {
            return Err(bad_value(&format!("{field}[{i}].value"), "TYPE_STRING", v));
        };
        if is_reserved_key(k) {
            return Err(ApiError::invalid_argument(&format!("Invalid data payload key: {k}")));
        }
        size += k.len() + s.len();
    }
    Ok(size)
}

/// `from`, `message_type`, and anything starting with `google` or `gcm` (case-sensitive, as
/// documented; `collapse_key` is allowed).
pub fn is_reserved_key(k: &str) -> bool {
    k == "from" || k == "message_type" || k.starts_with("google") || k.starts_with("gcm")
}

/// A Firebase Installation ID as the Installations SDK makes them: 22 characters of
/// base64url, the first of `c`, `d`, `e`, `f` (the SDK sets the first four bits to `0111`).
pub fn fid_well_formed(f: &str) -> bool {
    let b = f.as_bytes();
    b.len() == 22 && matches!(b[0], b'c'..=b'f') && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// A registration token FCM would not reject on sight: no whitespace or control characters.
pub fn token_well_formed(t: &str) -> bool {
    !t.is_empty() && t.len() <= MAX_TOKEN_LEN && !has_space_or_control(t)
}

/// Whether `t` holds a whitespace or control character. Real tokens are ASCII, where that
/// means a byte ≤ 0x20 or DEL, a byte test much cheaper than decoding `char`s (this runs on
/// every send); text with other characters takes the `char` test.
fn has_space_or_control(t: &str) -> bool {
    if t.is_ascii() {
        t.bytes().any(|b| b <= b' ' || b == 0x7f)
    } else {
        t.chars().any(|c| c.is_whitespace() || c.is_control())
    }
}

/// Parse a protobuf Duration string (`"3s"`, `"3.5s"`, `"-1s"`); return whole seconds
/// (rounded toward zero) and whether it was negative.
pub fn parse_duration(s: &str) -> Option<(bool, u64)> {
    let body = s.strip_suffix('s')?;
    let (neg, body) = match body.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int.is_empty() || int.len() > 12 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let secs: u64 = int.parse().ok()?;
    let nonzero = secs > 0 || frac.is_some_and(|f| f.bytes().any(|b| b != b'0'));
    Some((neg && nonzero, secs))
}

fn valid_topic(t: &str) -> bool {
    let t = t.strip_prefix("/topics/").unwrap_or(t);
    !t.is_empty() && t.len() <= 900 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b))
}

/// Validate a send request body the way FCM does.
pub fn validate(body: &[u8]) -> Result<Validated<'_>, ApiError> {
    let root: J<'_> =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid_field(None, &format!("Invalid JSON payload received. {e}")))?;
    let J::Obj(members) = root else {
        return Err(ApiError::invalid_field(None, "Invalid JSON payload received. Unknown name \"\": Root element must be a message."));
    };
    check_fields(&members, REQUEST_FIELDS, None)?;
    let mut validate_only = false;
    let mut message = None;
    for (k, v) in members {
        match (&*k, v) {
            (_, J::Null) => {}
            ("validate_only" | "validateOnly", J::Bool(b)) => validate_only = b,
            ("validate_only" | "validateOnly", other) => return Err(bad_value("validate_only", "TYPE_BOOL", &other)),
            ("message", m) => message = Some(m),
            _ => {}
        }
    }
    let message = message.unwrap_or(J::Obj(Vec::new()));
    let Some(fields) = message.as_obj() else {
        return Err(bad_value("message", "type.googleapis.com/google.firebase.fcm.v1.Message", &message));
    };
    check_fields(fields, MESSAGE_FIELDS, Some("message"))?;

    // Exactly one target.
    let mut target: Option<(&str, &Cow<'_, str>)> = None;
    for (k, v) in fields {
        if !TARGETS.contains(&&**k) || matches!(v, J::Null) {
            continue;
        }
        let J::Str(s) = v else {
            return Err(bad_value(&format!("message.{k}"), "TYPE_STRING", v));
        };
        if target.is_some() {
            return Err(ApiError::invalid_field(
                Some("message"),
                &format!("Invalid value at 'message' (oneof), oneof field 'target' is already set. Cannot set '{k}'"),
            ));
        }
        target = Some((k, s));
    }
    let Some((kind, value_text)) = target else {
        return Err(ApiError::invalid_argument("Recipient of the message is not set."));
    };
    let value: &str = value_text;
    match kind {
        "token" if !token_well_formed(value) => return Err(ApiError::invalid_argument(MSG_INVALID_TOKEN)),
        "fid" if !fid_well_formed(value) => return Err(ApiError::invalid_argument(MSG_INVALID_FID)),
        "topic" if !valid_topic(value) => return Err(ApiError::invalid_argument(&format!("Invalid topic name: \"{value}\""))),
        "condition" if value.trim().is_empty() => return Err(ApiError::invalid_argument("Invalid condition expression provided.")),
        _ => {}
    }

    // Data map(s). `android.data`, when present, replaces `message.data` on Android devices.
    let mut data_size = match message.get_any(&["data"]) {
        Some(d) => check_data(d, "message.data")?,
        None => 0,
    };
    for (names, field, kind) in [
        (&["notification"][..], "message.notification", "type.googleapis.com/google.firebase.fcm.v1.Notification"),
        (&["webpush"][..], "message.webpush", "type.googleapis.com/google.firebase.fcm.v1.WebpushConfig"),
        (&["apns"][..], "message.apns", "type.googleapis.com/google.firebase.fcm.v1.ApnsConfig"),
        (&["fcm_options", "fcmOptions"][..], "message.fcm_options", "type.googleapis.com/google.firebase.fcm.v1.FcmOptions"),
    ] {
        opt_object(&message, names, field, kind)?;
    }

    if let Some(android) =
        opt_object(&message, &["android"], "message.android", "type.googleapis.com/google.firebase.fcm.v1.AndroidConfig")?
    {
        check_fields(android.as_obj().unwrap_or_default(), ANDROID_FIELDS, Some("message.android"))?;
        opt_string(android, &["collapse_key", "collapseKey"], "message.android.collapse_key")?;
        opt_string(android, &["restricted_package_name", "restrictedPackageName"], "message.android.restricted_package_name")?;
        opt_bool(android, &["direct_boot_ok", "directBootOk"], "message.android.direct_boot_ok")?;
        opt_bool(android, &["bandwidth_constrained_ok", "bandwidthConstrainedOk"], "message.android.bandwidth_constrained_ok")?;
        opt_bool(android, &["restricted_satellite_ok", "restrictedSatelliteOk"], "message.android.restricted_satellite_ok")?;
        for (names, field, kind) in [
            (&["notification"][..], "message.android.notification", "type.googleapis.com/google.firebase.fcm.v1.AndroidNotification"),
            (
                &["fcm_options", "fcmOptions"][..],
                "message.android.fcm_options",
                "type.googleapis.com/google.firebase.fcm.v1.AndroidFcmOptions",
            ),
        ] {
            opt_object(android, names, field, kind)?;
        }
        if let Some(p) = android.get_any(&["priority"]) {
            let ok = match p {
                J::Str(s) => s.eq_ignore_ascii_case("NORMAL") || s.eq_ignore_ascii_case("HIGH"),
                J::Num(n) => matches!(n.as_u64(), Some(0 | 1)),
                _ => false,
            };
            if !ok {
                return Err(bad_value("message.android.priority", "type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority", p));
            }
        }
        if let Some(ttl) = android.get_any(&["ttl"]) {
            let parsed = ttl.as_str().and_then(parse_duration);
            match parsed {
                None => return Err(bad_value("message.android.ttl", "type.googleapis.com/google.protobuf.Duration", ttl)),
                Some((negative, secs)) if negative || secs > u64::from(MAX_TTL_SECS) => {
                    return Err(ApiError::invalid_field(
                        Some("message.android.ttl"),
                        &format!("TTL must be between 0 and {MAX_TTL_SECS} seconds (4 weeks); got {}", ttl.literal()),
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some(d) = android.get_any(&["data"]) {
            // The platform of a token is unknown here: the larger payload must fit.
            data_size = data_size.max(check_data(d, "message.android.data")?);
        }
    }

    let limit = if kind == "topic" { MAX_TOPIC_DATA_BYTES } else { MAX_DATA_BYTES };
    if data_size > limit {
        return Err(ApiError::invalid_field(Some("message.data"), "Android message is too big"));
    }

    let target = match kind {
        "token" => TargetKind::Token,
        "fid" => TargetKind::Fid,
        "topic" => TargetKind::Topic,
        _ => TargetKind::Condition,
    };
    let token = matches!(target, TargetKind::Token | TargetKind::Fid).then(|| reborrow(value_text));
    Ok(Validated { validate_only, message, target, token })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> serde_json::Value {
        validate(body.as_bytes()).unwrap_err().body
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s"), Some((false, 3)));
        assert_eq!(parse_duration("3.000000001s"), Some((false, 3)));
        assert_eq!(parse_duration("-0s"), Some((false, 0)));
        assert_eq!(parse_duration("-1s"), Some((true, 1)));
        assert_eq!(parse_duration("3"), None);
        assert_eq!(parse_duration("3.s"), None);
        assert_eq!(parse_duration("1.0000000001s"), None);
        assert_eq!(parse_duration(" 3s"), None);
    }

    #[test]
    fn data_index_follows_received_order() {
        let e = err(r#"{"message":{"token":"t","data":{"z":"ok","a":12}}}"#);
        assert_eq!(e["error"]["message"], "Invalid value at 'message.data[1].value' (TYPE_STRING), 12");
        assert_eq!(e["error"]["details"][1]["fieldViolations"][0]["field"], "message.data[1].value");
    }

    #[test]
    fn keeps_message_as_received() {
        let v = validate(br#"{"validateOnly":true,"message":{"token":"t","data":{"z":"1","a":"2"}}}"#).unwrap();
        assert!(v.validate_only);
        assert_eq!(v.token.as_deref(), Some("t"));
        assert_eq!(serde_json::to_string(&v.message).unwrap(), r#"{"token":"t","data":{"z":"1","a":"2"}}"#);
    }

    #[test]
    fn borrows_from_the_body_unless_escaped() {
        let body = br#"{"message":{"token":"t\"k","data":{"plain":"v","e\u00e9":"w"}}}"#;
        let v = validate(body).unwrap();
        assert_eq!(v.token.as_deref(), Some("t\"k"));
        assert!(matches!(v.token, Some(Cow::Owned(_))), "escaped: copied");
        let data = v.message.get_any(&["data"]).unwrap().as_obj().unwrap();
        assert!(matches!(data[0], (Cow::Borrowed("plain"), J::Str(Cow::Borrowed("v")))));
        assert!(matches!(&data[1].0, Cow::Owned(k) if k == "eé"));
        let text = serde_json::to_string(&v.message).unwrap();
        assert_eq!(serde_json::to_string(&v.message.into_owned()).unwrap(), text);
    }

    #[test]
    fn space_or_control_test_agrees_with_char_classes() {
        let by_char = |t: &str| t.chars().any(|c| c.is_whitespace() || c.is_control());
        for c in (0u32..0x3100).filter_map(char::from_u32) {
            let t = format!("ab{c}cd");
            assert_eq!(has_space_or_control(&t), by_char(&t), "{c:?}");
        }
    }

    #[test]
    fn plain_send_paths() {
        assert_eq!(plain_project("/v1/projects/p-1/messages:send"), Some("p-1"));
        for path in [
            "/v1/projects//messages:send",
            "/v1/projects/p%31/messages:send",
            "/v1/projects/a/b/messages:send",
            "/v1/projects/p/messages:send/",
            "/v1/projects/p/messages%3Asend",
            "/v1/project/p/messages:send",
        ] {
            assert_eq!(plain_project(path), None, "{path}");
        }
    }

    #[test]
    fn success_body_escapes_the_name() {
        let name = message_name("p\"x", 1_700_000_000_123, 1_000_007, "0badf00d");
        assert_eq!(name, "projects/p\"x/messages/0:1700000000123000007%0badf00d");
        assert_eq!(name_body(&name), serde_json::to_vec(&serde_json::json!({ "name": name })).unwrap());
    }

    #[test]
    fn fid_targets_are_checked_for_their_shape_and_kept_as_fids() {
        let v = validate(br#"{"message":{"fid":"fW3x_Ab-9QeRtYuI0pLkJh","data":{"k":"v"}}}"#).unwrap();
        assert_eq!((v.target, v.token.as_deref()), (TargetKind::Fid, Some("fW3x_Ab-9QeRtYuI0pLkJh")));
        for bad in ["aW3x_Ab-9QeRtYuI0pLkJh", "fW3x_Ab-9QeRtYuI0pLkJ", "fW3x_Ab-9QeRtYuI0pLkJhh", "fW3x+Ab/9QeRtYuI0pLkJh", "tok:APA91b"] {
            let e = err(&format!(r#"{{"message":{{"fid":"{bad}"}}}}"#));
            assert_eq!(e["error"]["status"], "INVALID_ARGUMENT", "{bad}");
            assert_eq!(e["error"]["message"], MSG_INVALID_FID, "{bad}");
            assert_eq!(e["error"]["details"][0]["errorCode"], "INVALID_ARGUMENT", "{bad}");
        }
        let both = err(r#"{"message":{"token":"t","fid":"fW3x_Ab-9QeRtYuI0pLkJh"}}"#);
        assert_eq!(both["error"]["message"], "Invalid value at 'message' (oneof), oneof field 'target' is already set. Cannot set 'fid'");
    }

    #[test]
    fn size_limit_is_inclusive() {
        let ok = format!(r#"{{"message":{{"token":"t","data":{{"k":"{}"}}}}}}"#, "x".repeat(4095));
        assert!(validate(ok.as_bytes()).is_ok());
        let big = format!(r#"{{"message":{{"token":"t","data":{{"k":"{}"}}}}}}"#, "x".repeat(4096));
        assert_eq!(err(&big)["error"]["message"], "Android message is too big");
    }
}

//! A Matrix homeserver's notification (Push Gateway API v1): read once, checked, and
//! turned into the body every device receives — the notification without `devices`,
//! trimmed to fit a push.

use serde_json::{Map, Value};

use crate::webpush::Urgency;

/// Largest body a push carries (RFC 8291 / UnifiedPush).
pub const MAX_PUSH_BODY: usize = 4096;
/// Longest pushkey the Matrix spec allows, bytes.
pub const MAX_PUSHKEY: usize = 512;

/// Fields dropped, in this order, until the body fits: the message text first, then what
/// only decorates it. Never dropped: what a client needs to fetch the event itself and to
/// update its badge.
const DROP_ORDER: &[&str] = &["content", "sender_display_name", "room_name", "room_alias", "sender", "type", "user_is_target", "id"];
/// Kept whatever the size.
const KEEP: &[&str] = &["event_id", "room_id", "counts", "prio"];

/// Why a request is not a notification (400 to the homeserver).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadNotification {
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// No `notification` object.
    #[error("the body has no \"notification\" object")]
    NoNotification,
    /// No `devices`, or an empty list.
    #[error("the notification has no devices")]
    NoDevices,
    /// Every device's pushkey is unusable.
    #[error("no device has a usable pushkey: {0}")]
    NoUsablePushkey(&'static str),
    /// Even the fields that are never dropped exceed a push.
    #[error("the notification does not fit {MAX_PUSH_BODY} bytes even with only event_id, room_id, counts and prio")]
    TooLarge,
}

/// One device of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushkey {
    /// A URL we may deliver to.
    Url(url::Url),
    /// Unusable (too long, not an http(s) URL, not a string): rejected. The text, as the
    /// homeserver must get it back in `rejected`.
    Bad(String, &'static str),
}

/// A checked notification.
#[derive(Debug)]
pub struct Notification {
    /// `{"notification": {…}}` without `devices`, at most [`MAX_PUSH_BODY`] bytes.
    pub body: Vec<u8>,
    /// High unless the homeserver said `prio: low`.
    pub urgency: Urgency,
    /// The devices, in the order sent, with their pushkey texts.
    pub devices: Vec<(String, Pushkey)>,
}

/// Read a notify request's body.
pub fn parse(bytes: &[u8]) -> Result<Notification, BadNotification> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| BadNotification::NotJson(e.to_string()))?;
    let Some(Value::Object(mut notification)) = root.get("notification").cloned() else {
        return Err(BadNotification::NoNotification);
    };
    let devices = match notification.remove("devices") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => return Err(BadNotification::NoDevices),
    };
    let devices: Vec<(String, Pushkey)> = devices.iter().map(pushkey_of).collect();
    // Every pushkey bad: the request itself is wrong. Otherwise the bad ones are rejected.
    if devices.iter().all(|(_, p)| matches!(p, Pushkey::Bad(..))) {
        let why = devices.iter().find_map(|(_, p)| if let Pushkey::Bad(_, why) = p { Some(*why) } else { None }).unwrap_or("");
        return Err(BadNotification::NoUsablePushkey(why));
    }
    let urgency = match notification.get("prio").and_then(Value::as_str) {
        Some("low") => Urgency::Normal,
        _ => Urgency::High,
    };
    let body = fit(notification)?;
    Ok(Notification { body, urgency, devices })
}

/// A device's pushkey as sent (what `rejected` must repeat) and what it is.
fn pushkey_of(device: &Value) -> (String, Pushkey) {
    let Some(text) = device.get("pushkey").and_then(Value::as_str) else {
        let shown = device.get("pushkey").map(Value::to_string).unwrap_or_default();
        return (shown.clone(), Pushkey::Bad(shown, "a device has no pushkey string"));
    };
    let key = if text.len() > MAX_PUSHKEY {
        Pushkey::Bad(text.to_owned(), "a pushkey is longer than 512 bytes")
    } else {
        match url::Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Pushkey::Url(u),
            _ => Pushkey::Bad(text.to_owned(), "a pushkey is not an http(s) URL"),
        }
    };
    (text.to_owned(), key)
}

/// Serialize `{"notification": …}`, dropping fields in [`DROP_ORDER`] (then any other
/// field not in [`KEEP`], by name) until it fits a push.
fn fit(mut notification: Map<String, Value>) -> Result<Vec<u8>, BadNotification> {
    let encode = |n: &Map<String, Value>| serde_json::to_vec(&serde_json::json!({ "notification": n })).unwrap_or_default();
    let mut body = encode(&notification);
    if body.len() <= MAX_PUSH_BODY {
        return Ok(body);
    }
    let mut others: Vec<String> =
        notification.keys().filter(|k| !KEEP.contains(&k.as_str()) && !DROP_ORDER.contains(&k.as_str())).cloned().collect();
    others.sort();
    let order = DROP_ORDER.iter().map(|s| s.to_string()).chain(others);
    for field in order {
        if notification.remove(&field).is_some() {
            body = encode(&notification);
            if body.len() <= MAX_PUSH_BODY {
                return Ok(body);
            }
        }
    }
    Err(BadNotification::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn devices(keys: &[&str]) -> Value {
        Value::Array(keys.iter().map(|k| json!({"app_id": "im.vector.app", "pushkey": k, "pushkey_ts": 12345678, "data": {}})).collect())
    }

    #[test]
    fn the_body_is_the_notification_without_devices() {
        let req = json!({"notification": {"event_id": "$e", "room_id": "!r:x", "prio": "low", "counts": {"unread": 2},
            "devices": devices(&["https://push.example.org/up/abc"])}});
        let n = parse(req.to_string().as_bytes()).unwrap();
        let body: Value = serde_json::from_slice(&n.body).unwrap();
        assert_eq!(body, json!({"notification": {"event_id": "$e", "room_id": "!r:x", "prio": "low", "counts": {"unread": 2}}}));
        assert_eq!(n.urgency, Urgency::Normal);
        assert_eq!(n.devices.len(), 1);
    }

    #[test]
    fn oversized_notifications_lose_content_first_and_keep_the_essentials() {
        let long = "x".repeat(3000);
        let req = json!({"notification": {"event_id": "$e", "room_id": "!r:x", "prio": "high", "counts": {"unread": 1, "missed_calls": 0},
            "content": {"body": long, "msgtype": "m.text"}, "sender_display_name": "A", "room_name": "R",
            "zz_extra": "y".repeat(2000), "devices": devices(&["https://a.example/up/1"])}});
        let n = parse(req.to_string().as_bytes()).unwrap();
        assert!(n.body.len() <= MAX_PUSH_BODY);
        let body: Value = serde_json::from_slice(&n.body).unwrap();
        let kept = &body["notification"];
        assert!(kept.get("content").is_none() && kept["sender_display_name"] == "A", "content goes first: {kept}");
        // Dropping content (3 KB) leaves 2 KB of zz_extra, which fits: dropping stops there.
        assert_eq!(kept["zz_extra"].as_str().map(str::len), Some(2000));
        assert_eq!(kept["event_id"], "$e");
        assert_eq!(kept["counts"], json!({"unread": 1, "missed_calls": 0}));
        assert_eq!(n.urgency, Urgency::High);

        let huge = json!({"notification": {"event_id": "$e", "room_id": "!r", "counts": {}, "prio": "high",
            "content": {"body": "c".repeat(2000)}, "sender_display_name": "d".repeat(2000), "room_name": "n".repeat(2000),
            "devices": devices(&["https://a.example/up/1"])}});
        let body: Value = serde_json::from_slice(&parse(huge.to_string().as_bytes()).unwrap().body).unwrap();
        let kept = &body["notification"];
        assert!(kept.get("content").is_none() && kept.get("sender_display_name").is_none(), "{kept}");
        assert_eq!(kept["room_name"].as_str().map(str::len), Some(2000), "dropping stops once it fits: {kept}");
    }

    #[test]
    fn bad_requests_are_named() {
        assert!(matches!(parse(b"nope"), Err(BadNotification::NotJson(_))));
        assert_eq!(parse(b"{}").unwrap_err(), BadNotification::NoNotification);
        assert_eq!(parse(br#"{"notification": []}"#).unwrap_err(), BadNotification::NoNotification);
        assert_eq!(parse(br#"{"notification": {"event_id": "$e"}}"#).unwrap_err(), BadNotification::NoDevices);
        assert_eq!(parse(br#"{"notification": {"devices": []}}"#).unwrap_err(), BadNotification::NoDevices);
        let long = format!("https://a.example/up/{}", "k".repeat(600));
        let only_bad = json!({"notification": {"devices": devices(&[&long])}});
        assert_eq!(
            parse(only_bad.to_string().as_bytes()).unwrap_err(),
            BadNotification::NoUsablePushkey("a pushkey is longer than 512 bytes")
        );
        let not_url = json!({"notification": {"devices": devices(&["not a url", "ftp://x/y"])}});
        assert!(matches!(parse(not_url.to_string().as_bytes()), Err(BadNotification::NoUsablePushkey(_))));
        let too_big = json!({"notification": {"event_id": "e".repeat(5000), "devices": devices(&["https://a.example/up/1"])}});
        assert_eq!(parse(too_big.to_string().as_bytes()).unwrap_err(), BadNotification::TooLarge);
    }

    #[test]
    fn one_bad_pushkey_does_not_spoil_the_others() {
        let req = json!({"notification": {"event_id": "$e", "devices": devices(&["https://a.example/up/1", "nope"])}});
        let n = parse(req.to_string().as_bytes()).unwrap();
        assert!(matches!(n.devices[0].1, Pushkey::Url(_)));
        assert_eq!(n.devices[1], ("nope".to_string(), Pushkey::Bad("nope".into(), "a pushkey is not an http(s) URL")));
    }
}

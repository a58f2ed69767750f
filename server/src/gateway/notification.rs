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
    /// More devices than one notification may name.
    #[error("the notification names more than {0} distinct devices")]
    TooManyDevices(usize),
    /// Even the fields that are never dropped exceed a push.
    #[error("the notification does not fit {MAX_PUSH_BODY} bytes even with only event_id, room_id, counts and prio")]
    TooLarge,
}

/// One device of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushkey {
    /// A URL we may deliver to.
    Url(url::Url),
    /// Unusable (too long, not an http(s) URL, not a string): rejected; why.
    Bad(&'static str),
}

/// A checked notification.
#[derive(Debug)]
pub struct Notification {
    /// `{"notification": {…}}` without `devices`, at most [`MAX_PUSH_BODY`] bytes.
    pub body: Vec<u8>,
    /// High unless the homeserver said `prio: low`.
    pub urgency: Urgency,
    /// The devices, in the order sent, with their pushkey texts; each pushkey once (the
    /// first spelling of a URL named twice), so one notification reaches a phone once.
    pub devices: Vec<(String, Pushkey)>,
}

impl Notification {
    /// This notification, if it names at most `max` distinct devices.
    pub fn at_most(self, max: usize) -> Result<Notification, BadNotification> {
        if self.devices.len() > max {
            return Err(BadNotification::TooManyDevices(max));
        }
        Ok(self)
    }
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
    let mut seen = std::collections::HashSet::new();
    let devices: Vec<(String, Pushkey)> = devices
        .iter()
        .map(pushkey_of)
        .filter(|(text, key)| match key {
            // Compared as parsed: `HTTPS://Host/up/x` and `https://host/up/x` are one endpoint.
            Pushkey::Url(u) => seen.insert(u.as_str().to_owned()),
            Pushkey::Bad(_) => seen.insert(text.clone()),
        })
        .collect();
    // Every pushkey bad: the request itself is wrong. Otherwise the bad ones are rejected.
    if devices.iter().all(|(_, p)| matches!(p, Pushkey::Bad(..))) {
        let why = devices.iter().find_map(|(_, p)| if let Pushkey::Bad(why) = p { Some(*why) } else { None }).unwrap_or("");
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
        return (shown, Pushkey::Bad("a device has no pushkey string"));
    };
    let key = if text.len() > MAX_PUSHKEY {
        Pushkey::Bad("a pushkey is longer than 512 bytes")
    } else {
        match url::Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Pushkey::Url(u),
            _ => Pushkey::Bad("a pushkey is not an http(s) URL"),
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
    fn pushkeys_count_once_and_their_number_is_bounded() {
        let own = "https://push.example.org/up/abc";
        let mut keys = vec![own; 500];
        keys.push("HTTPS://PUSH.example.org:443/up/abc");
        keys.push("https://push.example.org/up/other");
        let req = json!({"notification": {"event_id": "$e", "devices": devices(&keys)}});
        let n = parse(req.to_string().as_bytes()).unwrap();
        let texts: Vec<&str> = n.devices.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, [own, "https://push.example.org/up/other"]);
        let n = n.at_most(2).unwrap();
        assert_eq!(n.at_most(1).unwrap_err(), BadNotification::TooManyDevices(1));
    }

    #[test]
    fn one_bad_pushkey_does_not_spoil_the_others() {
        let req = json!({"notification": {"event_id": "$e", "devices": devices(&["https://a.example/up/1", "nope"])}});
        let n = parse(req.to_string().as_bytes()).unwrap();
        assert!(matches!(n.devices[0].1, Pushkey::Url(_)));
        assert_eq!(n.devices[1], ("nope".to_string(), Pushkey::Bad("a pushkey is not an http(s) URL")));
    }
}

/// Properties of the parser over generated notifications (the module is private to the
/// gateway, so they live here rather than in `tests/parsers_prop.rs`).
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    use super::*;

    fn cases() -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2048);
        ProptestConfig { cases, ..ProptestConfig::default() }
    }

    /// A JSON value: text up to 3000 bytes (with escapes and multi-byte characters),
    /// numbers, nested objects and lists.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            (0usize..3000, "[a-z\"\\\\é\u{1F600}]").prop_map(|(n, c)| Value::String(c.repeat(n / c.len().max(1)))),
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Field names: every one the trimming knows, and others.
    fn field() -> impl Strategy<Value = String> {
        let known: Vec<&'static str> = DROP_ORDER.iter().chain(KEEP).copied().collect();
        prop_oneof![prop::sample::select(known).prop_map(str::to_string), "[a-z_]{1,12}"]
    }

    fn pushkey() -> impl Strategy<Value = Value> {
        prop_oneof![
            "https://[a-z]{1,10}\\.example/up/[A-Za-z0-9_-]{1,40}".prop_map(Value::String),
            "[ -~]{0,30}".prop_map(Value::String),
            (0usize..700).prop_map(|n| Value::String(format!("https://a.example/up/{}", "k".repeat(n)))),
            any::<i64>().prop_map(Value::from),
        ]
    }

    /// Where a field stands in the drop order (KEEP fields never go: last).
    fn rank(field: &str, others: &[String]) -> usize {
        DROP_ORDER
            .iter()
            .position(|f| *f == field)
            .or_else(|| others.iter().position(|f| f == field).map(|i| DROP_ORDER.len() + i))
            .unwrap_or(usize::MAX)
    }

    fn encoded_len(n: &Map<String, Value>) -> usize {
        serde_json::to_vec(&json!({ "notification": n })).unwrap().len()
    }

    proptest! {
        #![proptest_config(cases())]

        /// Any bytes: an answer, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }

        /// Any notification: the body fits a push, is the notification minus `devices` with
        /// every remaining field exactly as sent, keeps `event_id`, `room_id`, `counts`
        /// and `prio` always, drops fields only in the documented order and only as many
        /// as needed; a refusal for size means even the kept fields do not fit.
        #[test]
        fn trimming_keeps_its_promises(
            fields in prop::collection::vec((field(), value()), 0..10),
            keys in prop::collection::vec(pushkey(), 1..4),
        ) {
            let sent: Map<String, Value> = fields.iter().cloned().collect();
            let mut notification = sent.clone();
            let devices: Vec<Value> = keys.iter().map(|k| json!({"app_id": "a", "pushkey": k})).collect();
            notification.insert("devices".into(), Value::Array(devices));
            let bytes = serde_json::to_vec(&json!({ "notification": notification })).unwrap();
            match parse(&bytes) {
                Ok(n) => {
                    prop_assert!(n.body.len() <= MAX_PUSH_BODY, "{} bytes", n.body.len());
                    prop_assert_eq!(n.devices.len(), keys.len());
                    let body: Value = serde_json::from_slice(&n.body).unwrap();
                    let kept = body["notification"].as_object().expect("a notification object").clone();
                    prop_assert!(!kept.contains_key("devices"));
                    for (k, v) in &kept {
                        prop_assert_eq!(Some(v), sent.get(k), "field {} changed", k);
                    }
                    for k in KEEP {
                        prop_assert_eq!(kept.get(*k), sent.get(*k), "{} not kept", k);
                    }
                    let mut others: Vec<String> =
                        sent.keys().filter(|k| !KEEP.contains(&k.as_str()) && !DROP_ORDER.contains(&k.as_str())).cloned().collect();
                    others.sort();
                    let dropped: Vec<&String> = sent.keys().filter(|k| !kept.contains_key(*k)).collect();
                    if let Some(last) = dropped.iter().max_by_key(|k| rank(k, &others)) {
                        // In order: nothing after the last dropped field went...
                        for k in kept.keys() {
                            prop_assert!(rank(k, &others) > rank(last, &others), "{} kept but {} dropped", k, last);
                        }
                        // ...and it had to go: with it back, the body would not fit.
                        let mut with_it = kept.clone();
                        with_it.insert((*last).clone(), sent[last.as_str()].clone());
                        prop_assert!(encoded_len(&with_it) > MAX_PUSH_BODY, "{} dropped needlessly", last);
                    }
                }
                Err(BadNotification::TooLarge) => {
                    let essentials: Map<String, Value> =
                        sent.iter().filter(|(k, _)| KEEP.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
                    prop_assert!(encoded_len(&essentials) > MAX_PUSH_BODY);
                }
                Err(BadNotification::NoUsablePushkey(_)) => {
                    let any_usable = keys.iter().any(|k| matches!(pushkey_of(&json!({ "pushkey": k })).1, Pushkey::Url(_)));
                    prop_assert!(!any_usable);
                }
                Err(other) => prop_assert!(false, "unexpected refusal {:?}", other),
            }
        }
    }
}

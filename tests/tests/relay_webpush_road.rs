//! The Web Push road end to end: the real `uprelay` binary and the emulator playing
//! Google's Web Push service. A phone registers a device whose target is a Web Push token
//! the emulator issued for the relay's published VAPID key (with the phone's own P-256 key
//! and auth secret); app servers push to its endpoints; the emulator accepts requests at
//! `/fcm/send/<token>` whose VAPID JWT verifies against the published key, and what it
//! kept decrypts (http_ece, with the phone's private key) to a frame naming the instance
//! and the message, whose body is exactly what the FCM v1 road delivers for the same push.
//! Also: split bodies, token rotation, dead tokens, throttling, and what Google never sees.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uprelay::road::webpush::frame::parse;
use uprelay_tests::relay::{decode_body, random_body, unique_token, Device, Relay, RelayConfig, StoreKind};
use uprelay_tests::webpush::{verified_vapid_claims, Keys};

const INSTANCE: &str = "org.example.messenger";

/// The relay's published VAPID key.
async fn relay_vapid(relay: &Relay) -> String {
    let (_, info) = relay.api(Method::GET, "/v1/info", None, None).await;
    assert_eq!(info["roads"], json!(["fcm", "webpush"]), "{info}");
    info["webpush"]["vapid"].as_str().unwrap_or_else(|| panic!("no webpush.vapid: {info}")).to_owned()
}

/// What Play services does for a VAPID key as the sender: a token bound to it.
async fn issue_token(relay: &Relay, vapid: &str) -> String {
    let emu = &relay.emulator;
    let resp = emu.http.post(emu.url("/emulator/webpush/tokens")).json(&json!({ "vapid": vapid })).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    body["token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

fn webpush_target(token: &str, phone: &Keys) -> Value {
    json!({ "webpush": { "token": token, "p256dh": phone.get("p256dh"), "auth": phone.get("auth") } })
}

/// A device on the Web Push road (its `token` field holds the Web Push token).
async fn webpush_device(relay: &Relay, token: &str, phone: &Keys) -> Device {
    let (status, body) = relay.api(Method::POST, "/v1/devices", None, Some(webpush_target(token, phone))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Device {
        id: body["device_id"].as_str().unwrap().to_owned(),
        secret: body["secret"].as_str().unwrap().to_owned(),
        token: token.to_owned(),
    }
}

/// One Web Push request the emulator kept, opened as the phone opens it.
struct Opened {
    part: u8,
    message_id: String,
    instance: String,
    body: Vec<u8>,
    raw: Vec<u8>,
}

fn open(phone: &Keys, kept: &Value) -> Opened {
    assert_eq!(kept["road"], "webpush", "{kept}");
    let raw = STANDARD.decode(kept["raw_data"].as_str().unwrap()).unwrap();
    let frame = phone.decrypt(&raw, "aes128gcm");
    let f = parse(&frame).unwrap_or_else(|| panic!("not a version-1 frame: {frame:?}"));
    Opened { part: f.part, message_id: f.message_id.to_owned(), instance: f.instance.to_owned(), body: f.body.to_vec(), raw }
}

/// The Web Push requests of message `m` to `token`, opened, in part order.
async fn delivered(relay: &Relay, phone: &Keys, token: &str, m: &str) -> Vec<Opened> {
    let mut parts: Vec<Opened> = relay.messages(token).await.iter().map(|k| open(phone, k)).filter(|o| o.message_id == m).collect();
    parts.sort_by_key(|o| o.part);
    parts
}

/// The body of message `m` as the phone rejoins it: one whole part, or halves 1 and 2.
async fn body_of(relay: &Relay, phone: &Keys, token: &str, m: &str) -> Vec<u8> {
    let parts = delivered(relay, phone, token, m).await;
    let labels: Vec<u8> = parts.iter().map(|p| p.part).collect();
    assert!(labels == [0] || labels == [1, 2], "parts {labels:?} of {m}");
    assert!(parts.iter().all(|p| p.instance == INSTANCE), "instance in the frame");
    parts.into_iter().flat_map(|p| p.body).collect()
}

struct Setup {
    relay: Relay,
    /// The sender: its VAPID key and the app's subscription keys (what pywebpush encrypts to).
    app: Keys,
    /// The phone's own keys for the Web Push road.
    phone: Keys,
    vapid: String,
    token: String,
    dev: Device,
    endpoint: String,
    /// A device on the FCM v1 road with the same instance, to compare with.
    fcm_dev: Device,
    fcm_endpoint: String,
}

async fn setup(config: RelayConfig) -> Setup {
    let relay = Relay::start_with(config.no_rate_limits()).await;
    let app = Keys::new(relay.dir.path(), "app");
    let phone = Keys::new(relay.dir.path(), "phone");
    let vapid = relay_vapid(&relay).await;
    let token = issue_token(&relay, &vapid).await;
    let dev = webpush_device(&relay, &token, &phone).await;
    // Unrestricted endpoints, so that raw pushes need no VAPID of their own (pywebpush's
    // is accepted all the same).
    let endpoint = relay.register(&dev, INSTANCE, None).await;
    let fcm_dev = relay.create_device(&unique_token("compare")).await;
    let fcm_endpoint = relay.register(&fcm_dev, INSTANCE, None).await;
    Setup { relay, app, phone, vapid, token, dev, endpoint, fcm_dev, fcm_endpoint }
}

#[tokio::test]
async fn pushes_matrix_and_aesgcm_arrive_as_the_fcm_road_delivers_them() {
    let s = setup(RelayConfig::new(StoreKind::Embedded)).await;
    let relay = &s.relay;
    let (status, shown) = relay.api(Method::GET, &format!("/v1/devices/{}", s.dev.id), Some(&s.dev.secret), None).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!((shown["road"].as_str(), shown["target"].as_str()), (Some("webpush"), Some("webpush")), "{shown}");
    assert!(!shown.to_string().contains(&s.token), "the token is never shown: {shown}");

    // pywebpush, a real application server: aes128gcm and VAPID to the endpoint.
    let plaintext = "{\"title\":\"Hello\",\"body\":\"été ✓\"}".as_bytes();
    let answer = s.app.pywebpush(&s.endpoint, &s.app, plaintext, &["--ttl=600"]);
    assert_eq!(answer["status"], 201, "{answer}");
    let m = answer["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let parts = delivered(relay, &s.phone, &s.token, &m).await;
    assert_eq!(parts.len(), 1, "one whole Web Push request");
    assert_eq!(s.app.decrypt(&parts[0].body, "aes128gcm"), plaintext, "the app decrypts the sender's bytes");
    let kept = relay.messages(&s.token).await;
    let claims = verified_vapid_claims(kept[0]["headers"]["authorization"].as_str().unwrap(), &s.vapid);
    assert_eq!(claims["aud"], relay.emulator.base_url.as_str(), "aud is the Web Push service's origin");
    assert!(claims["exp"].as_u64().unwrap() <= uprelay_tests::relay::unix_now() + 24 * 3600);
    assert_eq!(kept[0]["headers"]["ttl"], 600);
    assert_eq!(kept[0]["headers"]["content-encoding"], "aes128gcm");

    // The same bytes pushed to both roads arrive identical: raw aes128gcm-labelled, and a
    // Mastodon-style aesgcm push (its parameters go in front of the body).
    let raw = random_body(700);
    let aesgcm_headers = [
        ("TTL", "60"),
        ("Content-Encoding", "aesgcm"),
        ("Encryption", "salt=c2FsdHNhbHRzYWx0c2FsdA"),
        ("Crypto-Key", "dh=BDd3_hVL9fZi9Ybo2UUzA284WG5FZR30_95YeZJsiApwXKpNcF1rRPF3foIiBHXRdJI2Qhumhf6_LFTeZaNndIo;p256ecdsa=BKey"),
    ];
    for headers in [&[("TTL", "60"), ("Content-Encoding", "aes128gcm")][..], &aesgcm_headers[..]] {
        let to_webpush = relay.push(&s.endpoint, headers, raw.clone()).await;
        let to_fcm = relay.push(&s.fcm_endpoint, headers, raw.clone()).await;
        assert_eq!((to_webpush.status, to_fcm.status), (StatusCode::CREATED, StatusCode::CREATED), "{to_webpush:?} {to_fcm:?}");
        let on_fcm = decode_body(&relay.messages_with_id(&s.fcm_dev.token, &to_fcm.message_id()).await);
        let on_webpush = body_of(relay, &s.phone, &s.token, &to_webpush.message_id()).await;
        assert_eq!(on_webpush, on_fcm, "what the phone gets on both roads, for {headers:?}");
        assert!(on_webpush.ends_with(&raw));
    }
    let mastodon = s.app.pywebpush(&s.endpoint, &s.app, b"legacy toot", &["--legacy", "--encoding=aesgcm"]);
    assert_eq!(mastodon["status"], 201, "{mastodon}");
    let m = mastodon["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let body = body_of(relay, &s.phone, &s.token, &m).await;
    assert!(body.starts_with(b"aesgcm\nEncryption: salt="), "{:?}", String::from_utf8_lossy(&body[..40]));
    assert_eq!(s.app.decrypt(&body, "aesgcm"), b"legacy toot");

    // A Matrix notification for both pushkeys: the same JSON on both roads.
    let notification = json!({"notification": {
        "event_id": "$e1", "room_id": "!r:example.org", "type": "m.room.message", "sender": "@a:example.org",
        "prio": "high", "content": {"msgtype": "m.text", "body": "secret words"}, "counts": {"unread": 1},
        "devices": [
            {"app_id": "org.example", "pushkey": s.endpoint, "pushkey_ts": 1, "data": {}},
            {"app_id": "org.example", "pushkey": s.fcm_endpoint, "pushkey_ts": 1, "data": {}},
        ],
    }});
    let r = relay.request_raw(Method::POST, "/_matrix/push/v1/notify", None, Some(serde_json::to_vec(&notification).unwrap())).await;
    assert_eq!(r.json(), (StatusCode::OK, json!({"rejected": []})));
    let on_fcm = relay.messages(&s.fcm_dev.token).await.last().cloned().unwrap();
    let matrix_m = on_fcm["message"]["data"]["m"].as_str().unwrap().to_owned();
    let fcm_body = decode_body(&[on_fcm]);
    let webpush_last = relay.messages(&s.token).await.last().map(|k| open(&s.phone, k)).unwrap();
    assert_eq!(webpush_last.body, fcm_body, "the Matrix JSON, byte for byte");
    assert!(String::from_utf8_lossy(&fcm_body).contains("secret words"));
    assert_ne!(webpush_last.message_id, matrix_m, "each push has its own message id");

    // The road's requests on /metrics, by road, and its link to the service.
    let metrics = relay.metrics().await;
    let kept_count = relay.messages(&s.token).await.len() as f64;
    let ok = metrics
        .lines()
        .find(|l| l.starts_with("uprelay_fcm_requests_total{") && l.contains("road=\"webpush\"") && l.contains("result=\"ok\""))
        .and_then(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok());
    assert_eq!(ok, Some(kept_count), "one ok request per kept Web Push message:\n{metrics}");
    assert_eq!(uprelay_tests::relay::metric_value(&metrics, "uprelay_webpush_connections"), 1.0, "one HTTP/2 connection:\n{metrics}");
    assert!(uprelay_tests::relay::metric_value(&metrics, "uprelay_webpush_sends_in_flight_max") >= 1.0, "{metrics}");

    // Nothing Google keeps holds the instance, a message id or a plaintext body.
    let everything = relay.emulator.messages_text(&format!("?token={}", s.token)).await;
    for secret in [INSTANCE, "secret words", "legacy toot", "Hello", &m, "aesgcm\\nEncryption"] {
        assert!(!everything.contains(secret), "{secret:?} reached the push service in clear");
    }
    for kept in relay.messages(&s.token).await {
        let raw = open(&s.phone, &kept).raw;
        for secret in [INSTANCE.as_bytes(), b"secret words", b"legacy toot", b"aesgcm\nEncryption"] {
            assert!(!raw.windows(secret.len()).any(|w| w == secret), "{:?} in a body Google got", String::from_utf8_lossy(secret));
        }
    }
}

#[tokio::test]
async fn a_body_that_needs_splitting_arrives_in_two_parts_that_rejoin() {
    let s = setup(RelayConfig::new(StoreKind::Embedded)).await;
    let body = random_body(4096);
    let r = s.relay.push(&s.endpoint, &[("TTL", "60"), ("Topic", "t1")], body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let parts = delivered(&s.relay, &s.phone, &s.token, &r.message_id()).await;
    assert_eq!(parts.iter().map(|p| p.part).collect::<Vec<_>>(), [1, 2]);
    assert!(parts.iter().all(|p| p.raw.len() <= 4096));
    assert_eq!(parts.iter().flat_map(|p| p.body.clone()).collect::<Vec<u8>>(), body);
    let kept = s.relay.messages(&s.token).await;
    assert!(kept.iter().all(|k| k["headers"].get("topic").is_none()), "no Topic on halves: {kept:?}");
}

#[tokio::test]
async fn token_rotation_and_a_move_between_roads_keep_the_endpoint() {
    let s = setup(RelayConfig::new(StoreKind::Redis)).await;
    let relay = &s.relay;
    let headers = [("TTL", "60")];
    let new_token = issue_token(relay, &s.vapid).await;
    let (status, body) =
        relay.api(Method::PUT, &format!("/v1/devices/{}", s.dev.id), Some(&s.dev.secret), Some(webpush_target(&new_token, &s.phone))).await;
    assert!(status.is_success(), "{status} {body}");
    let r = relay.push(&s.endpoint, &headers, b"after rotation".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(body_of(relay, &s.phone, &new_token, &r.message_id()).await, b"after rotation");
    assert!(relay.messages(&s.token).await.is_empty(), "nothing to the old token");

    // To the FCM v1 road and back, the endpoint unchanged.
    let fcm_token = unique_token("moved");
    let (status, body) =
        relay.api(Method::PUT, &format!("/v1/devices/{}", s.dev.id), Some(&s.dev.secret), Some(json!({ "fcm_token": fcm_token }))).await;
    assert!(status.is_success(), "{status} {body}");
    let r = relay.push(&s.endpoint, &headers, b"on fcm".to_vec()).await;
    assert_eq!(decode_body(&relay.messages_with_id(&fcm_token, &r.message_id()).await), b"on fcm");
    let (status, _) =
        relay.api(Method::PUT, &format!("/v1/devices/{}", s.dev.id), Some(&s.dev.secret), Some(webpush_target(&new_token, &s.phone))).await;
    assert!(status.is_success());
    let r = relay.push(&s.endpoint, &headers, b"back".to_vec()).await;
    assert_eq!(body_of(relay, &s.phone, &new_token, &r.message_id()).await, b"back");
}

#[tokio::test]
async fn dead_tokens_are_410_to_the_sender_and_the_device_is_deleted() {
    let s = setup(RelayConfig::new(StoreKind::Embedded)).await;
    let relay = &s.relay;
    let headers = [("TTL", "60")];
    // Revoked (the service answers 410).
    let resp =
        relay.emulator.http.post(relay.emulator.url("/emulator/webpush/revoke")).json(&json!({ "token": s.token })).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let r = relay.push(&s.endpoint, &headers, b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::GONE, "{r:?}");
    let (status, _) = relay.api(Method::GET, &format!("/v1/devices/{}", s.dev.id), Some(&s.dev.secret), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the device is gone");
    assert_eq!(relay.push(&s.endpoint, &headers, b"x".to_vec()).await.status, StatusCode::NOT_FOUND, "and its endpoint");

    // Expired (404), and bound to another sender's key (403): gone as well.
    for (label, token) in [
        ("404", issue_token(relay, &s.vapid).await),
        ("403", issue_token(relay, &uprelay_tests::relay::VapidSigner::new().public_b64()).await),
    ] {
        let dev = webpush_device(relay, &token, &s.phone).await;
        let endpoint = relay.register(&dev, INSTANCE, None).await;
        if label == "404" {
            relay.emulator.add_fault(json!({ "token": token, "error": "UNREGISTERED", "times": 1 })).await;
        }
        let r = relay.push(&endpoint, &headers, b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::GONE, "{label}: {r:?}");
        let (status, _) = relay.api(Method::GET, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{label}: the device is gone");
    }
    // A second device bound to another key: gone too, and the cause is explained once.
    let token = issue_token(relay, &uprelay_tests::relay::VapidSigner::new().public_b64()).await;
    let dev = webpush_device(relay, &token, &s.phone).await;
    let endpoint = relay.register(&dev, INSTANCE, None).await;
    assert_eq!(relay.push(&endpoint, &headers, b"x".to_vec()).await.status, StatusCode::GONE);
    let explained = relay.output().matches("bound to another VAPID key").count();
    assert_eq!(explained, 1, "the 403's cause is logged once:\n{}", relay.output());
    let metrics = relay.metrics().await;
    assert!(metrics.contains("road=\"webpush\""), "requests counted by road:\n{metrics}");
}

#[tokio::test]
async fn throttled_and_failing_pushes_wait_in_the_queue_and_arrive_later() {
    let s = setup(RelayConfig::new(StoreKind::Embedded).queue("initial_backoff_ms = 200").queue("poll_ms = 50")).await;
    // (Google's Retry-After of 1 s is honoured before the first retry.)
    let relay = &s.relay;
    let headers = [("TTL", "600")];
    relay.emulator.add_fault(json!({ "token": s.token, "error": "QUOTA_EXCEEDED", "retry_after": 1, "times": 1 })).await;
    relay.emulator.add_fault(json!({ "token": s.token, "error": "UNAVAILABLE", "times": 1 })).await;
    let r = relay.push(&s.endpoint, &headers, b"patience".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "queued, not refused: {r:?}");
    let m = r.message_id();
    let arrived = uprelay_tests::eventually(std::time::Duration::from_secs(20), || {
        let (relay, phone, token, m) = (relay, &s.phone, &s.token, &m);
        async move { !delivered(relay, phone, token, m).await.is_empty() }
    })
    .await;
    assert!(arrived, "the queued push never arrived\n{}", relay.output());
    assert_eq!(body_of(relay, &s.phone, &s.token, &m).await, b"patience");
    let rejected: Value = relay.emulator.http.get(relay.emulator.url("/emulator/rejected")).send().await.unwrap().json().await.unwrap();
    let statuses: Vec<u64> =
        rejected.as_array().unwrap().iter().filter(|r| r["road"] == "webpush").filter_map(|r| r["status"].as_u64()).collect();
    assert_eq!(statuses, [429, 503], "{rejected}");
}

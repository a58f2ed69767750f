//! `POST /up/{id}` and `GET /up/{id}` end to end, against both stores: every row of the
//! design's status table, every malformed header and body, and what reaches FCM.

#![allow(clippy::type_complexity)] // case tables

use reqwest::StatusCode;
use serde_json::{json, Value};
use uprelay_tests::per_store;
use uprelay_tests::relay::{
    decode_body, endpoint_id, endpoint_path, random_body, raw_request, unique_token, unix_now, Credentials, Relay, RelayConfig, StoreKind,
    VapidSigner,
};

per_store!(
    accepted_push_is_201_with_location_and_ttl,
    ttl_urgency_topic_reach_fcm,
    malformed_headers_and_bodies_are_400,
    oversize_bodies_are_413,
    unknown_and_malformed_endpoints_are_404,
    vapid_missing_is_401_and_invalid_is_403,
    vapid_legacy_webpush_form,
    vapid_aud_must_be_the_public_url_origin,
    vapid_aud_with_explicit_default_port_is_the_same_origin,
    dead_tokens_answer_410_then_404,
    fcm_quota_exceeded_is_429_with_retry_after,
    per_endpoint_rate_limit_is_429_with_retry_after,
    fcm_transient_failures_are_queued_201_and_delivered_later,
    fcm_transient_failures_without_queue_are_503_with_retry_after,
    fcm_failing_and_queue_full_is_503_with_retry_after,
    fcm_rejecting_the_relay_is_502_never_4xx,
    relay_credentials_refused_are_502,
);

async fn setup(store: StoreKind) -> (Relay, uprelay_tests::relay::Device, String) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("push")).await;
    let endpoint = relay.register(&dev, "app.example.chat", None).await;
    (relay, dev, endpoint)
}

/// Row "relayed to FCM": 201, `Location: <public_url>/m/<id>`, `TTL: <ttl used>`, and the
/// message id in `Location` is the `m` FCM received. Content-Encoding is not checked: a
/// plaintext body labelled aes128gcm (Matrix gateways) is relayed untouched.
async fn accepted_push_is_201_with_location_and_ttl(store: StoreKind) {
    let (relay, dev, endpoint) = setup(store).await;
    let body = b"{\"notification\":{\"event_id\":\"$1\"}}".to_vec();
    let r = relay
        .push(&endpoint, &[("TTL", "120"), ("Content-Encoding", "aes128gcm"), ("Content-Type", "application/octet-stream")], body.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let location = r.header("location").expect("Location").to_owned();
    let prefix = format!("{}/m/", relay.base_url);
    assert!(location.starts_with(&prefix), "Location {location} does not start with {prefix}");
    let m = r.message_id();
    assert!(m.len() >= 16 && m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "message id {m}");
    assert_eq!(r.header("ttl"), Some("120"));

    let msgs = relay.wait_messages(&dev.token, 1).await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let msg = &msgs[0]["message"];
    assert_eq!(msgs[0]["project"], "test-project");
    assert_eq!(msg["token"], dev.token.as_str());
    assert_eq!(msg["data"]["i"], "app.example.chat");
    assert_eq!(msg["data"]["m"], m.as_str());
    assert!(msg["data"].get("s").is_none(), "{msg}");
    assert_eq!(decode_body(&msgs), body);
    // Exactly the documented keys: nothing of the request (Authorization, Content-Encoding…) leaks.
    let keys: Vec<&String> = msg["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "data map keys {keys:?}");

    // A second push gets a fresh message id.
    let r2 = relay.push(&endpoint, &[("TTL", "120")], b"second".to_vec()).await;
    assert_eq!(r2.status, StatusCode::CREATED);
    assert_ne!(r2.message_id(), m);

    // Discovery.
    let resp = relay.http.get(&endpoint).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"unifiedpush": {"version": 1}}));
}

/// TTL (default, clamping, echo) → android.ttl; Urgency → android.priority; Topic → collapse_key.
async fn ttl_urgency_topic_reach_fcm(store: StoreKind) {
    let (relay, dev, endpoint) = setup(store).await;
    // (request headers, expected TTL echo, expected android.ttl, priority, collapse key)
    let cases: Vec<(Vec<(&str, &str)>, &str, &str, &str, Option<&str>)> = vec![
        (vec![], "86400", "86400s", "HIGH", None),
        (vec![("TTL", "0")], "0", "0s", "HIGH", None),
        (vec![("TTL", "60")], "60", "60s", "HIGH", None),
        (vec![("TTL", "2419200")], "2419200", "2419200s", "HIGH", None),
        (vec![("TTL", "2419201")], "2419200", "2419200s", "HIGH", None),
        (vec![("TTL", "99999999999999999999999")], "2419200", "2419200s", "HIGH", None),
        (vec![("TTL", " 30 ")], "30", "30s", "HIGH", None),
        (vec![("TTL", "5"), ("Urgency", "very-low")], "5", "5s", "NORMAL", None),
        (vec![("TTL", "5"), ("Urgency", "low")], "5", "5s", "NORMAL", None),
        (vec![("TTL", "5"), ("Urgency", "normal")], "5", "5s", "HIGH", None),
        (vec![("TTL", "5"), ("Urgency", "high")], "5", "5s", "HIGH", None),
        (vec![("TTL", "5"), ("Urgency", "HIGH")], "5", "5s", "HIGH", None),
        (vec![("TTL", "5"), ("Urgency", "Very-Low")], "5", "5s", "NORMAL", None),
        (vec![("TTL", "5"), ("Topic", "chat-room_42")], "5", "5s", "HIGH", Some("chat-room_42")),
        (vec![("TTL", "5"), ("Topic", "abcdefghijklmnopqrstuvwxyzABCDEF")], "5", "5s", "HIGH", Some("abcdefghijklmnopqrstuvwxyzABCDEF")),
    ];
    for (headers, echo, android_ttl, priority, collapse) in cases {
        let r = relay.push(&endpoint, &headers, b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{headers:?}: {r:?}");
        assert_eq!(r.header("ttl"), Some(echo), "{headers:?}");
        let msgs = relay.messages_with_id(&dev.token, &r.message_id()).await;
        assert_eq!(msgs.len(), 1, "{headers:?}: {msgs:?}");
        let android = &msgs[0]["message"]["android"];
        assert_eq!(android["ttl"], android_ttl, "{headers:?}: {android}");
        assert_eq!(android["priority"], priority, "{headers:?}: {android}");
        assert_eq!(android["collapse_key"].as_str(), collapse, "{headers:?}: {android}");
    }

    // A split message carries priority and TTL on both halves, and never a collapse key.
    let big = random_body(4096);
    let r = relay.push(&endpoint, &[("TTL", "77"), ("Urgency", "low"), ("Topic", "t1")], big.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let halves = relay.messages_with_id(&dev.token, &r.message_id()).await;
    assert_eq!(halves.len(), 2, "{halves:?}");
    for h in &halves {
        let android = &h["message"]["android"];
        assert_eq!(android["ttl"], "77s");
        assert_eq!(android["priority"], "NORMAL");
        assert!(android.get("collapse_key").is_none(), "collapse_key on a split half: {android}");
    }
    assert_eq!(decode_body(&halves), big);
}

/// Row "empty body, or malformed TTL / Urgency / Topic": 400, and nothing reaches FCM.
async fn malformed_headers_and_bodies_are_400(store: StoreKind) {
    let (relay, dev, endpoint) = setup(store).await;
    let long_topic = "a".repeat(33);
    let cases: Vec<(&str, Vec<(&str, &str)>, &[u8], &str)> = vec![
        ("empty body", vec![("TTL", "60")], b"", "empty_body"),
        ("empty body, no TTL", vec![], b"", "empty_body"),
        ("TTL negative", vec![("TTL", "-1")], b"x", "bad_ttl"),
        ("TTL fraction", vec![("TTL", "1.5")], b"x", "bad_ttl"),
        ("TTL word", vec![("TTL", "soon")], b"x", "bad_ttl"),
        ("TTL empty", vec![("TTL", "")], b"x", "bad_ttl"),
        ("TTL hex", vec![("TTL", "0x10")], b"x", "bad_ttl"),
        ("TTL plus", vec![("TTL", "+5")], b"x", "bad_ttl"),
        ("TTL two numbers", vec![("TTL", "1 2")], b"x", "bad_ttl"),
        ("TTL list", vec![("TTL", "60, 60")], b"x", "bad_ttl"),
        ("TTL repeated", vec![("TTL", "60"), ("TTL", "60")], b"x", "bad_ttl"),
        ("Urgency unknown", vec![("TTL", "60"), ("Urgency", "urgent")], b"x", "bad_urgency"),
        ("Urgency underscore", vec![("TTL", "60"), ("Urgency", "very_low")], b"x", "bad_urgency"),
        ("Urgency empty", vec![("TTL", "60"), ("Urgency", "")], b"x", "bad_urgency"),
        ("Urgency list", vec![("TTL", "60"), ("Urgency", "normal,high")], b"x", "bad_urgency"),
        ("Urgency repeated", vec![("TTL", "60"), ("Urgency", "low"), ("Urgency", "high")], b"x", "bad_urgency"),
        ("Topic 33 chars", vec![("TTL", "60"), ("Topic", &long_topic)], b"x", "bad_topic"),
        ("Topic plus", vec![("TTL", "60"), ("Topic", "a+b")], b"x", "bad_topic"),
        ("Topic slash", vec![("TTL", "60"), ("Topic", "a/b")], b"x", "bad_topic"),
        ("Topic padding", vec![("TTL", "60"), ("Topic", "ab==")], b"x", "bad_topic"),
        ("Topic space", vec![("TTL", "60"), ("Topic", "has space")], b"x", "bad_topic"),
        ("Topic empty", vec![("TTL", "60"), ("Topic", "")], b"x", "bad_topic"),
        ("Topic repeated", vec![("TTL", "60"), ("Topic", "a"), ("Topic", "b")], b"x", "bad_topic"),
    ];
    for (what, headers, body, code) in cases {
        let r = relay.push(&endpoint, &headers, body.to_vec()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {r:?}");
        assert_eq!(r.error_code(), code, "{what}: {r:?}");
        assert!(r.header("location").is_none(), "{what}");
    }
    // Non-ASCII header bytes.
    for (name, value) in [("TTL", &b"6\xff"[..]), ("Urgency", &b"h\xe9gh"[..]), ("Topic", &b"t\xf6pic"[..])] {
        let r = relay.push_raw_headers(&endpoint, &[(name, value)], b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "non-ASCII {name}: {r:?}");
    }
    assert!(relay.messages(&dev.token).await.is_empty(), "a refused push reached FCM");
    // The endpoint still works.
    assert_eq!(relay.push(&endpoint, &[("TTL", "60")], b"ok".to_vec()).await.status, StatusCode::CREATED);
}

/// Row "body over 4096 bytes": 413, whether declared by Content-Length or streamed chunked;
/// the cap is enforced while reading (no need to send the rest); 4096 bytes are fine.
async fn oversize_bodies_are_413(store: StoreKind) {
    let (relay, dev, endpoint) = setup(store).await;
    let path = endpoint_path(&endpoint);

    let r = relay.push(&endpoint, &[("TTL", "60")], random_body(4097)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "4097 bytes: {r:?}");
    assert_eq!(r.error_code(), "too_large");
    // Declared 100 kB, 10 kB sent: refused from the declaration (raw connection, so the
    // client's unfinished write cannot hide the answer).
    let mut s = relay.raw().await;
    let (status, text) =
        raw_request(&mut s, &format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTTL: 60\r\nContent-Length: 100000"), &[7u8; 10_000]).await;
    assert_eq!(status, 413, "declared 100 kB:\n{text}");

    // Content-Length: 5000 with no body sent at all: refused from the header alone.
    let mut s = relay.raw().await;
    let (status, text) =
        raw_request(&mut s, &format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTTL: 60\r\nContent-Length: 5000"), b"").await;
    assert_eq!(status, 413, "declared 5000 bytes, sent none:\n{text}");

    // Chunked, exactly 4097 bytes in total.
    let mut s = relay.raw().await;
    let chunked = chunked_body(&[&random_body(4000)[..], &random_body(97)[..]]);
    let (status, text) =
        raw_request(&mut s, &format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTTL: 60\r\nTransfer-Encoding: chunked"), &chunked).await;
    assert_eq!(status, 413, "chunked 4097 bytes:\n{text}");

    // Chunked, 8 KiB sent and the body never finished: the answer must come anyway.
    let mut s = relay.raw().await;
    let mut partial = Vec::new();
    for _ in 0..8 {
        partial.extend_from_slice(b"400\r\n");
        partial.extend_from_slice(&[0x55u8; 1024]);
        partial.extend_from_slice(b"\r\n");
    }
    let (status, text) =
        raw_request(&mut s, &format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTTL: 60\r\nTransfer-Encoding: chunked"), &partial).await;
    assert_eq!(status, 413, "unfinished chunked body of 8 KiB (the cap must act while reading):\n{text}");

    // Chunked, exactly 4096 bytes: accepted.
    let body = random_body(4096);
    let mut s = relay.raw().await;
    let parts: Vec<&[u8]> = body.chunks(1000).collect();
    let chunked = chunked_body(&parts);
    let (status, text) =
        raw_request(&mut s, &format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTTL: 60\r\nTransfer-Encoding: chunked"), &chunked).await;
    assert_eq!(status, 201, "chunked 4096 bytes:\n{text}");
    let loc = text.lines().find_map(|l| l.strip_prefix("location: ").or_else(|| l.strip_prefix("Location: "))).expect("Location");
    let m = loc.trim().rsplit('/').next().unwrap();
    assert_eq!(decode_body(&relay.messages_with_id(&dev.token, m).await), body);

    // Nothing of the refused ones reached FCM: only the 4096-byte message (two halves).
    assert_eq!(relay.messages(&dev.token).await.len(), 2);
}

/// Row "unknown or deleted endpoint": 404 for POST and GET, whatever the id looks like.
async fn unknown_and_malformed_endpoints_are_404(store: StoreKind) {
    let (relay, _dev, endpoint) = setup(store).await;
    let id = endpoint_id(&endpoint).to_owned();
    // Same shape as a real id, but unknown: flip the last character.
    let mut unknown = id.clone();
    let last = unknown.pop().unwrap();
    unknown.push(if last == 'A' { 'B' } else { 'A' });
    let too_long = format!("{id}A");
    let long = "A".repeat(5000);
    let ids: Vec<&str> = vec![&unknown, &id[1..], &too_long, "x", "....", "%2e%2e", "not*base64*at*all*!!!!!!!!!!!!", &long];
    for bad in ids {
        let url = relay.url(&format!("/up/{bad}"));
        let r = relay.push(&url, &[("TTL", "60")], b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "POST /up/{bad}: {r:?}");
        let g = relay.http.get(&url).send().await.unwrap();
        assert_eq!(g.status(), StatusCode::NOT_FOUND, "GET /up/{bad}");
    }
    // Trailing path segments are not the endpoint either.
    let r = relay.push(&format!("{endpoint}/extra"), &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    // The real one still works, also spelled with a percent-escape (plain paths skip the
    // router, escaped ones are decoded by it: both must reach the same endpoint).
    assert_eq!(relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);
    let escaped = format!("/up/%{:02X}{}", id.as_bytes()[0], &id[1..]);
    let r = relay.push(&relay.url(&escaped), &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "POST {escaped}: {r:?}");
    let r = relay.push(&relay.url(&format!("/up/%{:02X}{}", b'*', &id[1..])), &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "escaped unknown id: {r:?}");
}

/// Rows "VAPID missing → 401" and "JWT invalid → 403" for an endpoint registered with a key.
async fn vapid_missing_is_401_and_invalid_is_403(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("vapid")).await;
    let signer = VapidSigner::new();
    let other = VapidSigner::new();
    let endpoint = relay.register(&dev, "restricted", Some(&signer.public_b64())).await;
    let open = relay.register(&dev, "open", None).await;
    let origin = relay.base_url.clone();
    let now = unix_now();
    let ok = |auth: &str| vec![("TTL".to_string(), "60".to_string()), ("Authorization".to_string(), auth.to_string())];

    // Valid: 201, in both common spellings of the parameters.
    let jwt = signer.jwt(&origin, now + 3600);
    for auth in [
        format!("vapid t={jwt}, k={}", signer.public_b64()),
        format!("vapid t={jwt},k={}", signer.public_b64()),
        format!("vapid k={}, t={jwt}", signer.public_b64()),
        format!("vapid t={jwt}, k={}, x=ignored", signer.public_b64()),
        // aud with a trailing slash, exp exactly 24 h ahead (Mastodon).
        signer.authorization(&signer.jwt(&format!("{origin}/"), now + 24 * 3600)),
    ] {
        let h = ok(&auth);
        let h: Vec<(&str, &str)> = h.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let r = relay.push(&endpoint, &h, b"signed".to_vec()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{auth}: {r:?}");
    }

    // 401: no credentials at all, or another scheme.
    for auth in [None, Some("Bearer abc"), Some("Basic dXNlcjpwYXNz"), Some("key=AAAA")] {
        let mut h = vec![("TTL", "60")];
        if let Some(a) = auth {
            h.push(("Authorization", a));
        }
        let r = relay.push(&endpoint, &h, b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth:?}: {r:?}");
        assert_eq!(r.error_code(), "vapid_missing", "{auth:?}");
    }

    // 403: present but invalid.
    let header = json!({ "typ": "JWT", "alg": "ES256" });
    let jwt_parts: Vec<&str> = jwt.split('.').collect();
    let tampered_claims = b64(&json!({ "aud": origin, "exp": now + 7200, "sub": "mailto:x@example.org" }));
    let cases: Vec<(&str, String)> = vec![
        ("signed by another key, k = that key", other.authorization(&other.jwt(&origin, now + 3600))),
        ("signed by another key, k = registered key", signer_auth_with_jwt(&signer, &other.jwt(&origin, now + 3600))),
        ("claims tampered", signer.authorization(&format!("{}.{}.{}", jwt_parts[0], tampered_claims, jwt_parts[2]))),
        ("aud another origin", signer.authorization(&signer.jwt("https://push.example.org", now + 3600))),
        ("aud other port", signer.authorization(&signer.jwt("http://127.0.0.1:1", now + 3600))),
        ("aud https", signer.authorization(&signer.jwt(&origin.replace("http://", "https://"), now + 3600))),
        ("aud missing", signer.authorization(&signer.jwt_with(&header, &json!({ "exp": now + 3600 })))),
        ("exp past (beyond the minute of clock skew)", signer.authorization(&signer.jwt(&origin, now - 120))),
        ("exp > 24 h ahead", signer.authorization(&signer.jwt(&origin, now + 24 * 3600 + 600))),
        ("exp missing", signer.authorization(&signer.jwt_with(&header, &json!({ "aud": origin })))),
        ("exp string", signer.authorization(&signer.jwt_with(&header, &json!({ "aud": origin, "exp": "soon" })))),
        (
            "alg HS256",
            signer.authorization(&signer.jwt_with(&json!({"typ": "JWT", "alg": "HS256"}), &json!({ "aud": origin, "exp": now + 60 }))),
        ),
        ("alg none", format!("vapid t={}.{}., k={}", b64(&json!({"typ": "JWT", "alg": "none"})), jwt_parts[1], signer.public_b64())),
        ("two-part jwt", format!("vapid t={}.{}, k={}", jwt_parts[0], jwt_parts[1], signer.public_b64())),
        ("t missing", format!("vapid k={}", signer.public_b64())),
        ("k missing", format!("vapid t={jwt}")),
        ("k not a key", format!("vapid t={jwt}, k=AAAA")),
        ("garbage", "vapid garbage".to_string()),
    ];
    for (what, auth) in &cases {
        let r = relay.push(&endpoint, &[("TTL", "60"), ("Authorization", auth)], b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {auth}: {r:?}");
        assert_eq!(r.error_code(), "vapid_invalid", "{what}");
    }
    // A cached valid JWT is still tied to its key: reusing it with another k fails.
    let r = relay
        .push(&endpoint, &[("TTL", "60"), ("Authorization", &format!("vapid t={jwt}, k={}", other.public_b64()))], b"x".to_vec())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");

    // Only the valid pushes reached FCM.
    assert_eq!(relay.messages(&dev.token).await.len(), 5);
    // An unrestricted endpoint ignores Authorization entirely, even a broken one.
    let r = relay.push(&open, &[("TTL", "60"), ("Authorization", "vapid garbage")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    // Header checks still come first for restricted endpoints: 400 beats 401.
    let r = relay.push(&endpoint, &[("TTL", "soon")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
}

fn b64(v: &Value) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, serde_json::to_vec(v).unwrap())
}

fn signer_auth_with_jwt(registered: &VapidSigner, jwt: &str) -> String {
    format!("vapid t={jwt}, k={}", registered.public_b64())
}

/// The draft form: `Authorization: WebPush <jwt>` + `Crypto-Key: p256ecdsa=<key>`.
async fn vapid_legacy_webpush_form(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("legacy")).await;
    let signer = VapidSigner::new();
    let other = VapidSigner::new();
    let endpoint = relay.register(&dev, "legacy", Some(&signer.public_b64())).await;
    let jwt = signer.jwt(&relay.base_url, unix_now() + 3600);
    let auth = format!("WebPush {jwt}");
    let ck = format!(
        "dh=BLc4xRzKlKORKWlbdgFaBrrPK3ydWAHo4M0gs0i1oEKgPpWC5cW8OCzVrOQRv-1npXRWk8udnW3oYhIO4475rds;p256ecdsa={}",
        signer.public_b64()
    );
    let r = relay.push(&endpoint, &[("TTL", "60"), ("Authorization", &auth), ("Crypto-Key", &ck)], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let ck_only = format!("p256ecdsa={}", signer.public_b64());
    let r = relay.push(&endpoint, &[("TTL", "60"), ("Authorization", &auth), ("Crypto-Key", &ck_only)], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    // Key of someone else.
    let ck_other = format!("p256ecdsa={}", other.public_b64());
    let r = relay.push(&endpoint, &[("TTL", "60"), ("Authorization", &auth), ("Crypto-Key", &ck_other)], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    // No Crypto-Key: the credentials are incomplete, not absent.
    let r = relay.push(&endpoint, &[("TTL", "60"), ("Authorization", &auth)], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    // Expired JWT in the legacy form (beyond the minute of clock skew).
    let old = format!("WebPush {}", signer.jwt(&relay.base_url, unix_now() - 120));
    let r = relay.push(&endpoint, &[("TTL", "60"), ("Authorization", &old), ("Crypto-Key", &ck_only)], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    assert_eq!(relay.messages(&dev.token).await.len(), 2);
}

/// Behind a reverse proxy: endpoints and Location use `public_url`, and VAPID's `aud` must be
/// the origin of `public_url`, not the address the relay listens on.
async fn vapid_aud_must_be_the_public_url_origin(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).top("public_url = \"https://push.example.org/\"")).await;
    let dev = relay.create_device(&unique_token("public")).await;
    let signer = VapidSigner::new();
    let (status, body) = relay.try_register(&dev, "app", Some(&signer.public_b64())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let endpoint = body["endpoint"].as_str().unwrap().to_owned();
    assert!(endpoint.starts_with("https://push.example.org/up/"), "endpoint {endpoint} ignores public_url");
    let (_, shown) = relay.show_device(&dev).await;
    assert_eq!(shown["registrations"][0]["endpoint"], endpoint.as_str());
    let local = relay.url(&endpoint_path(&endpoint));
    let now = unix_now();

    let r = relay
        .push(
            &local,
            &[("TTL", "60"), ("Authorization", &signer.authorization(&signer.jwt("https://push.example.org", now + 600)))],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "aud = public origin: {r:?}");
    let location = r.header("location").unwrap();
    assert!(location.starts_with("https://push.example.org/m/"), "Location {location} ignores public_url");
    for aud in [relay.base_url.as_str(), "http://push.example.org", "https://push.example.org.evil.example", "https://example.org"] {
        let r = relay
            .push(&local, &[("TTL", "60"), ("Authorization", &signer.authorization(&signer.jwt(aud, now + 600)))], b"x".to_vec())
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "aud {aud}: {r:?}");
    }
}

/// `aud` names an origin (RFC 8292 §2, RFC 6454): `https://push.example.org:443` and
/// `https://push.example.org` are the same one. Senders that build `aud` from the endpoint
/// URL's authority (pywebpush: scheme + "://" + netloc) send the port when the URL has it.
async fn vapid_aud_with_explicit_default_port_is_the_same_origin(store: StoreKind) {
    let mut failures = Vec::new();
    for (public_url, aud) in [
        ("https://push.example.org:443", "https://push.example.org:443"),
        ("https://push.example.org", "https://push.example.org:443"),
        ("https://push.example.org:443", "https://push.example.org"),
        ("https://push.example.org", "https://PUSH.example.org"),
    ] {
        let relay = Relay::start_with(RelayConfig::new(store).top(&format!("public_url = {public_url:?}"))).await;
        let dev = relay.create_device(&unique_token("origin")).await;
        let signer = VapidSigner::new();
        let endpoint = {
            let (status, body) = relay.try_register(&dev, "app", Some(&signer.public_b64())).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["endpoint"].as_str().unwrap().to_owned()
        };
        let local = relay.url(&endpoint_path(&endpoint));
        let auth = signer.authorization(&signer.jwt(aud, unix_now() + 600));
        let r = relay.push(&local, &[("TTL", "60"), ("Authorization", &auth)], b"x".to_vec()).await;
        if r.status != StatusCode::CREATED {
            failures.push(format!("public_url {public_url}, endpoint {endpoint}, aud {aud}: {} {}", r.status, r.body));
        }
    }
    assert!(failures.is_empty(), "same-origin aud refused:\n{}", failures.join("\n"));
}

/// Row "FCM says the token is dead": 410 once, the device and every endpoint of it are gone
/// (later pushes 404, device API 404); the other devices are untouched.
async fn dead_tokens_answer_410_then_404(store: StoreKind) {
    let relay = Relay::start(store).await;
    let bystander = relay.create_device(&unique_token("bystander")).await;
    let bystander_endpoint = relay.register(&bystander, "app", None).await;
    for code in ["UNREGISTERED", "SENDER_ID_MISMATCH", "INVALID_ARGUMENT"] {
        let dev = relay.create_device(&unique_token(&code.to_ascii_lowercase())).await;
        let a = relay.register(&dev, "app-a", None).await;
        let b = relay.register(&dev, "app-b", None).await;
        assert_eq!(relay.push(&a, &[("TTL", "60")], b"alive".to_vec()).await.status, StatusCode::CREATED, "{code}");

        relay.emulator.client.add_fault(json!({ "token": dev.token, "error": code, "times": 1 })).await;
        let r = relay.push(&a, &[("TTL", "60")], b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::GONE, "{code}: {r:?}");
        assert!(r.header("retry-after").is_none(), "{code}: {r:?}");

        // The fault is spent: if anything were still there it would now be delivered.
        for endpoint in [&a, &b, &a] {
            let r = relay.push(endpoint, &[("TTL", "60")], b"x".to_vec()).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{code}: after 410: {r:?}");
            let g = relay.http.get(endpoint.as_str()).send().await.unwrap();
            assert_eq!(g.status(), StatusCode::NOT_FOUND, "{code}: GET after 410");
        }
        let (status, body) = relay.show_device(&dev).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{code}: device after 410: {body}");
        assert_eq!(relay.messages(&dev.token).await.len(), 1, "{code}");
    }
    assert_eq!(relay.push(&bystander_endpoint, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);
    // The metric knows.
    let metrics = relay.metrics().await;
    assert!(metrics_value(&metrics, "uprelay_pushes_total", "outcome=\"gone\"") >= 3.0, "{metrics}");
}

/// Row "FCM QUOTA_EXCEEDED for the device": 429 + Retry-After (FCM's value, else 60). The
/// relay then holds that endpoint itself until the time is up (no more sends to FCM), the
/// endpoint survives, and works again afterwards.
async fn fcm_quota_exceeded_is_429_with_retry_after(store: StoreKind) {
    let relay = Relay::start(store).await;
    // FCM's Retry-After is passed on, and the relay keeps refusing meanwhile without asking FCM.
    let a = relay.create_device(&unique_token("quota-a")).await;
    let a_endpoint = relay.register(&a, "app", None).await;
    relay.emulator.client.add_fault(json!({ "token": a.token, "error": "QUOTA_EXCEEDED", "times": 1, "retry_after": 120 })).await;
    let r = relay.push(&a_endpoint, &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
    assert_eq!(r.retry_after(), 120, "{r:?}");
    assert_eq!(r.error_code(), "throttled");
    let sends_before = relay.emulator.client.stats().await["send_requests"].as_u64().unwrap();
    let r = relay.push(&a_endpoint, &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "held endpoint: {r:?}");
    assert!((100..=120).contains(&r.retry_after()), "held endpoint: {r:?}");
    let sends_after = relay.emulator.client.stats().await["send_requests"].as_u64().unwrap();
    assert_eq!(sends_after, sends_before, "a held endpoint must not hit FCM");

    // No Retry-After from FCM: 60.
    let b = relay.create_device(&unique_token("quota-b")).await;
    let b_endpoint = relay.register(&b, "app", None).await;
    relay.emulator.client.add_fault(json!({ "token": b.token, "error": "QUOTA_EXCEEDED", "times": 1 })).await;
    let r = relay.push(&b_endpoint, &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
    assert_eq!(r.retry_after(), 60, "{r:?}");

    // A short quota pause: after it the endpoint delivers again.
    let c = relay.create_device(&unique_token("quota-c")).await;
    let c_endpoint = relay.register(&c, "app", None).await;
    relay.emulator.client.add_fault(json!({ "token": c.token, "error": "QUOTA_EXCEEDED", "times": 1, "retry_after": 1 })).await;
    let r = relay.push(&c_endpoint, &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
    assert_eq!(r.retry_after(), 1, "{r:?}");
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let r = relay.push(&c_endpoint, &[("TTL", "60")], b"after".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(decode_body(&relay.messages_with_id(&c.token, &r.message_id()).await), b"after");
    // Nothing was deleted.
    for dev in [&a, &b, &c] {
        assert_eq!(relay.show_device(dev).await.0, StatusCode::OK);
    }
}

/// Row "per-endpoint rate limit": 429 + Retry-After once the burst is used up; other
/// endpoints are unaffected; the endpoint recovers at the sustained rate.
async fn per_endpoint_rate_limit_is_429_with_retry_after(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).limit("push_rate_per_second = 0.5").limit("push_burst = 3")).await;
    let dev = relay.create_device(&unique_token("rate")).await;
    let busy = relay.register(&dev, "busy", None).await;
    let quiet = relay.register(&dev, "quiet", None).await;
    for i in 0..3 {
        let r = relay.push(&busy, &[("TTL", "60")], b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::CREATED, "push {i} within the burst: {r:?}");
    }
    let r = relay.push(&busy, &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "burst used up: {r:?}");
    assert!((1..=2).contains(&r.retry_after()), "{r:?}");
    assert_eq!(relay.push(&quiet, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(r.retry_after() * 1000 + 100)).await;
    let r = relay.push(&busy, &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "after Retry-After: {r:?}");
    assert_eq!(relay.messages(&dev.token).await.len(), 5);
}

/// Row "FCM unreachable / UNAVAILABLE / INTERNAL" with the retry queue (the default): the
/// push is durably queued, answered 201 with Location and TTL, and reaches FCM once FCM
/// answers again — exactly once, with the same message id, no earlier than FCM's Retry-After.
async fn fcm_transient_failures_are_queued_201_and_delivered_later(store: StoreKind) {
    let relay =
        Relay::start_with(RelayConfig::new(store).fcm_timeout_ms(700).queue("poll_ms = 50").queue("initial_backoff_ms = 200")).await;
    let dev = relay.create_device(&unique_token("queued")).await;
    let endpoint = relay.register(&dev, "app", None).await;
    let cases = [
        ("UNAVAILABLE", json!({ "token": dev.token, "error": "UNAVAILABLE", "times": 1 })),
        ("INTERNAL", json!({ "token": dev.token, "error": "INTERNAL", "times": 1 })),
        ("timeout", json!({ "token": dev.token, "delay_ms": 2000, "times": 1 })),
        ("UNAVAILABLE, twice", json!({ "token": dev.token, "error": "UNAVAILABLE", "times": 2 })),
    ];
    for (what, fault) in cases {
        relay.emulator.client.add_fault(fault).await;
        let body = random_body(300);
        let r = relay.push(&endpoint, &[("TTL", "600")], body.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{what}: a transient failure must be queued: {r:?}");
        assert_eq!(r.header("ttl"), Some("600"), "{what}");
        let m = r.message_id();
        let got = wait_for_message(&relay, &dev.token, &m, 1, 10).await;
        assert_eq!(decode_body(&got), body, "{what}");
        relay.wait_idle().await;
        assert_eq!(relay.messages_with_id(&dev.token, &m).await.len(), 1, "{what}: delivered more than once");
    }

    // FCM's Retry-After is honoured by the queue.
    relay.emulator.client.add_fault(json!({ "token": dev.token, "error": "UNAVAILABLE", "times": 1, "retry_after": 2 })).await;
    let started = std::time::Instant::now();
    let r = relay.push(&endpoint, &[("TTL", "600")], b"later".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let got = wait_for_message(&relay, &dev.token, &r.message_id(), 1, 10).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(1900), "retried before FCM's Retry-After: {:?}", started.elapsed());
    assert_eq!(decode_body(&got), b"later");

    // A split (4096-byte) message survives the queue as two halves with one id.
    relay.emulator.client.add_fault(json!({ "token": dev.token, "error": "INTERNAL", "times": 1 })).await;
    let big = random_body(4096);
    let r = relay.push(&endpoint, &[("TTL", "600"), ("Topic", "t")], big.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let halves = wait_for_message(&relay, &dev.token, &r.message_id(), 2, 10).await;
    assert_eq!(decode_body(&halves), big);

    // FCM unreachable altogether (the emulator is gone): still accepted, kept in the queue.
    let mut relay = relay;
    assert!(relay.emulator_mut().child.terminate(std::time::Duration::from_secs(10)), "emulator did not stop");
    let r = relay.push(&endpoint, &[("TTL", "600")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "FCM unreachable, queue on: {r:?}");
    let metrics = relay.metrics().await;
    assert!(metrics_value(&metrics, "uprelay_queue_total", "result=\"enqueued\"") >= 7.0, "{metrics}");
    assert_eq!(relay.show_device(&dev).await.0, StatusCode::OK);
}

/// Wait (at most `secs`) until `n` FCM messages with id `m` reached the emulator.
async fn wait_for_message(relay: &Relay, token: &str, m: &str, n: usize, secs: u64) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let got = relay.messages_with_id(token, m).await;
        if got.len() >= n {
            return got;
        }
        assert!(std::time::Instant::now() < deadline, "message {m} did not reach FCM within {secs} s\n{}", relay.output());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Row "FCM unreachable / UNAVAILABLE / INTERNAL and the message could not be queued":
/// with the queue off, 503 + Retry-After (FCM's value when it sent one); the endpoint survives.
async fn fcm_transient_failures_without_queue_are_503_with_retry_after(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).fcm_timeout_ms(700).queue("enabled = false")).await;
    let dev = relay.create_device(&unique_token("transient")).await;
    let endpoint = relay.register(&dev, "app", None).await;
    let cases = [
        ("UNAVAILABLE with Retry-After", json!({ "token": dev.token, "error": "UNAVAILABLE", "times": 1, "retry_after": 30 }), Some(30)),
        ("UNAVAILABLE", json!({ "token": dev.token, "error": "UNAVAILABLE", "times": 1 }), None),
        ("INTERNAL", json!({ "token": dev.token, "error": "INTERNAL", "times": 1 }), None),
        ("INTERNAL with Retry-After", json!({ "token": dev.token, "error": "INTERNAL", "times": 1, "retry_after": 7 }), Some(7)),
        ("timeout", json!({ "token": dev.token, "delay_ms": 2000, "times": 1 }), None),
    ];
    for (what, fault, retry_after) in cases {
        relay.emulator.client.add_fault(fault).await;
        let r = relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {r:?}");
        let ra = r.retry_after();
        assert!(ra >= 1, "{what}: {r:?}");
        if let Some(expected) = retry_after {
            assert_eq!(ra, expected, "{what}: FCM's Retry-After must be passed on: {r:?}");
        }
        let ok = relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await;
        assert_eq!(ok.status, StatusCode::CREATED, "{what}: endpoint must survive a transient failure: {ok:?}");
    }
    // FCM unreachable altogether (the emulator is gone).
    let mut relay = relay;
    assert!(relay.emulator_mut().child.terminate(std::time::Duration::from_secs(10)), "emulator did not stop");
    let r = relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "FCM unreachable: {r:?}");
    assert!(r.retry_after() >= 1, "{r:?}");
    assert_eq!(relay.show_device(&dev).await.0, StatusCode::OK);
}

/// Row "FCM unreachable … and the message could not be queued": FCM failing and the retry
/// queue full → 503 + Retry-After; the queued message is still delivered later.
async fn fcm_failing_and_queue_full_is_503_with_retry_after(store: StoreKind) {
    let relay = Relay::start_with(
        RelayConfig::new(store).queue("max_len = 1").queue("poll_ms = 50").queue("initial_backoff_ms = 200").queue("max_backoff_ms = 300"),
    )
    .await;
    let dev = relay.create_device(&unique_token("full")).await;
    let endpoint = relay.register(&dev, "app", None).await;
    relay.emulator.client.add_fault(json!({ "token": dev.token, "error": "UNAVAILABLE" })).await;
    let first = relay.push(&endpoint, &[("TTL", "600")], b"queued".to_vec()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let r = relay.push(&endpoint, &[("TTL", "600")], b"no room".to_vec()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "queue full: {r:?}");
    assert!(r.retry_after() >= 1, "{r:?}");
    relay.emulator.client.clear_faults().await;
    let got = wait_for_message(&relay, &dev.token, &first.message_id(), 1, 15).await;
    assert_eq!(decode_body(&got), b"queued");
    assert!(relay.messages(&dev.token).await.iter().all(|m| m["message"]["data"]["b"] != "bm8gcm9vbQ=="), "the refused push was delivered");
}

/// Row "our own fault (FCM rejects our request)": THIRD_PARTY_AUTH_ERROR is 502, never a
/// 4xx, and deletes nothing.
async fn fcm_rejecting_the_relay_is_502_never_4xx(store: StoreKind) {
    let (relay, dev, endpoint) = setup(store).await;
    relay.emulator.client.add_fault(json!({ "token": dev.token, "error": "THIRD_PARTY_AUTH_ERROR", "times": 2 })).await;
    for _ in 0..2 {
        let r = relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{r:?}");
    }
    let r = relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");

    // Revoked access tokens: one refresh and the push still goes through.
    relay.emulator.client.revoke_tokens().await;
    let r = relay.push(&endpoint, &[("TTL", "60")], b"after revoke".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "after access-token revocation: {r:?}");
}

/// Row "our own fault (bad credentials)": a service account of another project, or one the
/// OAuth server does not know, gives 502 (never 4xx) and /readyz reports it.
async fn relay_credentials_refused_are_502(store: StoreKind) {
    for creds in [Credentials::OtherProject, Credentials::Untrusted] {
        let relay = Relay::start_with(RelayConfig::new(store).credentials(creds)).await;
        let dev = relay.create_device(&unique_token("creds")).await;
        let endpoint = relay.register(&dev, "app", None).await;
        let r = relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{creds:?}: {r:?}\n{}", relay.output());
        assert!(relay.messages(&dev.token).await.is_empty());
        let (status, _) = relay.show_device(&dev).await;
        assert_eq!(status, StatusCode::OK, "{creds:?}: the device must survive our own fault");
        if creds == Credentials::Untrusted {
            let resp = relay.http.get(relay.url("/readyz")).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{creds:?}: /readyz with refused credentials");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body, json!({ "store": "ok", "fcm": "down" }), "{body}");
        }
    }
}

/// The value of a Prometheus sample `name{...labels...}` containing `label`.
fn metrics_value(text: &str, name: &str, label: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(name) && l.contains(label)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// A complete `Transfer-Encoding: chunked` body, one chunk per part.
fn chunked_body(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

//! The distributor API (`/v1/devices…`) end to end, against both stores: the lifecycle of
//! devices and registrations, token rotation, and every kind of bad input.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uprelay_tests::per_store;
use uprelay_tests::relay::{
    decode_body, endpoint_id, random_hex, raw_request, unique_token, Device, Relay, RelayConfig, StoreKind, VapidSigner,
};

per_store!(
    device_and_registration_lifecycle,
    deleting_a_registration_makes_its_pushes_404,
    deleting_a_device_makes_all_its_pushes_404,
    token_rotation_keeps_endpoints_and_delivers_to_the_new_token,
    wrong_or_missing_secret_is_401,
    unknown_device_is_404,
    malformed_json_is_400,
    json_arrays_instead_of_objects_are_400,
    oversize_and_invalid_fields_are_400,
    oversize_body_is_413,
    bad_vapid_is_400,
    registration_limit_is_403,
    concurrent_registrations_respect_limit_and_idempotency,
    device_creation_rate_limit_is_429,
);

fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, want_code: &str, what: &str) {
    assert_eq!(status, want_status, "{what}: {body}");
    assert_eq!(body["error"], want_code, "{what}: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: error body lacks a message: {body}");
}

/// Create, show, register (idempotent; a changed VAPID key replaces the endpoint), list.
async fn device_and_registration_lifecycle(store: StoreKind) {
    let relay = Relay::start(store).await;
    let token = unique_token("life");
    let (status, body) = relay.api(Method::POST, "/v1/devices", None, Some(json!({ "fcm_token": token, "project": "test-project" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let dev = Device {
        id: body["device_id"].as_str().unwrap().to_owned(),
        secret: body["secret"].as_str().unwrap().to_owned(),
        token: token.clone(),
    };
    // ≥ 128 random bits each, base64url.
    for (what, v) in [("device_id", &dev.id), ("secret", &dev.secret)] {
        assert!(v.len() >= 22, "{what} {v} is too short for 128 bits");
        assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{what} {v}");
    }
    let other = relay.create_device(&unique_token("other")).await;
    assert_ne!(other.id, dev.id);
    assert_ne!(other.secret, dev.secret);

    let (status, shown) = relay.show_device(&dev).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["device_id"], dev.id.as_str());
    assert_eq!(shown["project"], "test-project");
    assert_eq!(shown["registrations"], json!([]));
    assert!(!shown.to_string().contains(&dev.secret), "GET must not echo the secret: {shown}");

    let a = relay.register(&dev, "a", None).await;
    // Same instance, unchanged: 200 and the same endpoint.
    let (status, again) = relay.try_register(&dev, "a", None).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["endpoint"], a.as_str());
    // An empty vapid means none.
    let (status, again) = relay.try_register(&dev, "a", Some("")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["endpoint"], a.as_str());
    let b = relay.register(&dev, "b", None).await;
    assert_ne!(a, b);
    // Endpoint ids: ≥ 160 random bits of base64url, unrelated to the device id.
    for e in [&a, &b] {
        let id = endpoint_id(e);
        assert!(id.len() >= 27, "endpoint id {id} is shorter than 160 bits of base64url");
        assert!(id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{id}");
        assert!(!id.contains(&dev.id), "endpoint id derived from the device id");
    }

    // A VAPID key on an existing instance: new endpoint (201), the old one is gone.
    let signer = VapidSigner::new();
    let (status, body) = relay.try_register(&dev, "a", Some(&signer.public_b64())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let a2 = body["endpoint"].as_str().unwrap().to_owned();
    assert_ne!(a2, a);
    assert_eq!(relay.push(&a, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(relay.http.get(&a).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let auth = signer.valid_authorization(&relay.base_url);
    assert_eq!(relay.push(&a2, &[("TTL", "60"), ("Authorization", &auth)], b"x".to_vec()).await.status, StatusCode::CREATED);
    // Same key again: 200, same endpoint (also in the padded spelling).
    let (status, body) = relay.try_register(&dev, "a", Some(&signer.public_b64())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["endpoint"], a2.as_str());
    // Another key: another endpoint again; the previous one is gone.
    let signer2 = VapidSigner::new();
    let (status, body) = relay.try_register(&dev, "a", Some(&signer2.public_b64())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let a3 = body["endpoint"].as_str().unwrap().to_owned();
    assert_eq!(relay.push(&a2, &[("TTL", "60"), ("Authorization", &auth)], b"x".to_vec()).await.status, StatusCode::NOT_FOUND);
    // Dropping the key (no vapid) gives an unrestricted endpoint, again a new one.
    let (status, body) = relay.try_register(&dev, "a", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let a4 = body["endpoint"].as_str().unwrap().to_owned();
    assert_ne!(a4, a3);
    assert_eq!(relay.push(&a3, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(relay.push(&a4, &[("TTL", "60")], b"open".to_vec()).await.status, StatusCode::CREATED);

    let (status, shown) = relay.show_device(&dev).await;
    assert_eq!(status, StatusCode::OK);
    let mut regs: Vec<(String, String, String)> = shown["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["instance"].as_str().unwrap().to_owned(), r["endpoint"].as_str().unwrap().to_owned(), r["vapid"].to_string()))
        .collect();
    regs.sort();
    assert_eq!(regs, vec![("a".into(), a4.clone(), "null".into()), ("b".into(), b.clone(), "null".into())], "{shown}");

    // A restricted registration shows its key.
    let c = relay.register(&dev, "c.restricted~app_1", Some(&signer.public_b64())).await;
    let (_, shown) = relay.show_device(&dev).await;
    let reg_c = shown["registrations"].as_array().unwrap().iter().find(|r| r["instance"] == "c.restricted~app_1").cloned();
    let reg_c = reg_c.unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(reg_c["endpoint"], c.as_str());
    assert_eq!(reg_c["vapid"], signer.public_b64().as_str());

    // The other device sees none of it, and pushes went to the right token only.
    let (_, other_shown) = relay.show_device(&other).await;
    assert_eq!(other_shown["registrations"], json!([]));
    assert!(relay.messages(&other.token).await.is_empty());
    assert_eq!(relay.messages(&dev.token).await.len(), 2);
}

async fn deleting_a_registration_makes_its_pushes_404(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("delreg")).await;
    let gone = relay.register(&dev, "gone", None).await;
    let kept = relay.register(&dev, "kept", None).await;
    assert_eq!(relay.push(&gone, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);

    let path = format!("/v1/devices/{}/registrations/gone", dev.id);
    let (status, body) = relay.api(Method::DELETE, &path, Some(&dev.secret), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let r = relay.push(&gone, &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    assert_eq!(relay.http.get(&gone).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    // Deleting it again, or an instance never registered: 404.
    let (status, body) = relay.api(Method::DELETE, &path, Some(&dev.secret), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = relay.api(Method::DELETE, &format!("/v1/devices/{}/registrations/never", dev.id), Some(&dev.secret), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // The sibling is untouched.
    assert_eq!(relay.push(&kept, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);
    let (_, shown) = relay.show_device(&dev).await;
    assert_eq!(shown["registrations"].as_array().unwrap().len(), 1, "{shown}");
    // Registering the instance again gives a fresh endpoint; the old one stays dead.
    let again = relay.register(&dev, "gone", None).await;
    assert_ne!(again, gone);
    assert_eq!(relay.push(&gone, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(relay.push(&again, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);
    assert_eq!(relay.messages(&dev.token).await.len(), 3);
}

async fn deleting_a_device_makes_all_its_pushes_404(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("deldev")).await;
    let bystander = relay.create_device(&unique_token("bystander")).await;
    let signer = VapidSigner::new();
    let endpoints = vec![
        relay.register(&dev, "one", None).await,
        relay.register(&dev, "two", None).await,
        relay.register(&dev, "three", Some(&signer.public_b64())).await,
    ];
    let kept = relay.register(&bystander, "one", None).await;
    let (status, body) = relay.api(Method::DELETE, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let auth = signer.valid_authorization(&relay.base_url);
    for e in &endpoints {
        let r = relay.push(e, &[("TTL", "60"), ("Authorization", &auth)], b"x".to_vec()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{e}: {r:?}");
        assert_eq!(relay.http.get(e).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    }
    // Every call on the deleted device: 404 (even with the right secret).
    let dev_path = format!("/v1/devices/{}", dev.id);
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, dev_path.clone(), None),
        (Method::PUT, dev_path.clone(), Some(json!({ "fcm_token": "new-token" }))),
        (Method::DELETE, dev_path.clone(), None),
        (Method::POST, format!("{dev_path}/registrations"), Some(json!({ "instance": "x" }))),
        (Method::DELETE, format!("{dev_path}/registrations/one"), None),
    ];
    for (method, path, body) in calls {
        let (status, resp) = relay.api(method.clone(), &path, Some(&dev.secret), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path} after delete: {resp}");
    }
    assert!(relay.messages(&dev.token).await.is_empty());
    assert_eq!(relay.push(&kept, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);
}

/// `PUT /v1/devices/{id}` keeps every endpoint; pushes reach FCM under the new token only.
/// (A dead-token answer to a send that raced the rotation: `relay_device_removal.rs`.)
async fn token_rotation_keeps_endpoints_and_delivers_to_the_new_token(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("old")).await;
    let signer = VapidSigner::new();
    let plain = relay.register(&dev, "plain", None).await;
    let restricted = relay.register(&dev, "restricted", Some(&signer.public_b64())).await;
    let auth = signer.valid_authorization(&relay.base_url);
    assert_eq!(relay.push(&plain, &[("TTL", "60")], b"before".to_vec()).await.status, StatusCode::CREATED);
    let (_, before) = relay.show_device(&dev).await;

    let new_token = unique_token("new");
    let (status, body) =
        relay.api(Method::PUT, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), Some(json!({ "fcm_token": new_token }))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, after) = relay.show_device(&dev).await;
    assert_eq!(after["registrations"], before["registrations"], "rotation changed the endpoints");

    let r1 = relay.push(&plain, &[("TTL", "60")], b"after-1".to_vec()).await;
    assert_eq!(r1.status, StatusCode::CREATED, "{r1:?}");
    let r2 = relay.push(&restricted, &[("TTL", "60"), ("Authorization", &auth)], b"after-2".to_vec()).await;
    assert_eq!(r2.status, StatusCode::CREATED, "{r2:?}");
    let new_msgs = relay.wait_messages(&new_token, 2).await;
    assert_eq!(new_msgs.len(), 2, "{new_msgs:?}");
    assert_eq!(decode_body(&relay.messages_with_id(&new_token, &r1.message_id()).await), b"after-1");
    assert_eq!(decode_body(&relay.messages_with_id(&new_token, &r2.message_id()).await), b"after-2");
    assert_eq!(relay.messages(&dev.token).await.len(), 1, "a push went to the old token after rotation");

    // Rotating to the same token again is harmless; the secret still works afterwards.
    let (status, _) =
        relay.api(Method::PUT, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), Some(json!({ "fcm_token": new_token }))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(relay.show_device(&dev).await.0, StatusCode::OK);
    // Rotation with bad input changes nothing.
    let (status, body) =
        relay.api(Method::PUT, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), Some(json!({ "fcm_token": "" }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let r = relay.push(&plain, &[("TTL", "60")], b"still".to_vec()).await;
    assert_eq!(decode_body(&relay.messages_with_id(&new_token, &r.message_id()).await), b"still");
}

async fn wrong_or_missing_secret_is_401(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("auth")).await;
    let other = relay.create_device(&unique_token("other-auth")).await;
    let endpoint = relay.register(&dev, "app", None).await;
    let dev_path = format!("/v1/devices/{}", dev.id);
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, dev_path.clone(), None),
        (Method::PUT, dev_path.clone(), Some(json!({ "fcm_token": "stolen" }))),
        (Method::DELETE, dev_path.clone(), None),
        (Method::POST, format!("{dev_path}/registrations"), Some(json!({ "instance": "evil" }))),
        (Method::DELETE, format!("{dev_path}/registrations/app"), None),
    ];
    let mut wrong_secret = dev.secret.clone();
    let last = wrong_secret.pop().unwrap();
    wrong_secret.push(if last == 'A' { 'B' } else { 'A' });
    let authorizations: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("wrong secret", Some(format!("Bearer {wrong_secret}"))),
        ("another device's secret", Some(format!("Bearer {}", other.secret))),
        ("secret prefix", Some(format!("Bearer {}", &dev.secret[..dev.secret.len() - 1]))),
        ("secret with suffix", Some(format!("Bearer {}x", dev.secret))),
        ("empty bearer", Some("Bearer ".to_owned())),
        ("other scheme", Some(format!("Basic {}", dev.secret))),
        ("bare secret", Some(dev.secret.clone())),
    ];
    for (what, authorization) in &authorizations {
        for (method, path, body) in &calls {
            let (status, resp) =
                relay.api_raw(method.clone(), path, authorization.as_deref(), body.as_ref().map(|b| serde_json::to_vec(b).unwrap())).await;
            assert_error(status, &resp, StatusCode::UNAUTHORIZED, "unauthorized", &format!("{what}: {method} {path}"));
        }
    }
    // Nothing changed.
    let (status, shown) = relay.show_device(&dev).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["registrations"].as_array().unwrap().len(), 1, "{shown}");
    let r = relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(relay.messages(&dev.token).await.len(), 1, "token was changed by an unauthorized PUT");
    assert!(relay.messages("stolen").await.is_empty());
}

async fn unknown_device_is_404(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("known")).await;
    let mut unknown = dev.id.clone();
    let last = unknown.pop().unwrap();
    unknown.push(if last == 'A' { 'B' } else { 'A' });
    for id in [unknown.as_str(), "nope", "A", &"A".repeat(200)] {
        let dev_path = format!("/v1/devices/{id}");
        let calls: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, dev_path.clone(), None),
            (Method::PUT, dev_path.clone(), Some(json!({ "fcm_token": "t" }))),
            (Method::DELETE, dev_path.clone(), None),
            (Method::POST, format!("{dev_path}/registrations"), Some(json!({ "instance": "x" }))),
            (Method::DELETE, format!("{dev_path}/registrations/x"), None),
        ];
        for (method, path, body) in calls {
            // With some secret (a known device's, even): the device does not exist.
            let (status, resp) = relay.api(method.clone(), &path, Some(&dev.secret), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {resp}");
            assert_eq!(resp["error"], "unknown_device", "{method} {path}: {resp}");
        }
    }
}

async fn malformed_json_is_400(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("json")).await;
    let bearer = format!("Bearer {}", dev.secret);
    let bodies: Vec<(&str, &[u8])> = vec![
        ("empty", b""),
        ("not JSON", b"fcm_token=abc"),
        ("truncated", b"{\"fcm_token\": \"abc\""),
        ("string", b"\"abc\""),
        ("null", b"null"),
        ("invalid UTF-8", b"{\"fcm_token\": \"\xff\xfe\"}"),
        ("trailing garbage", b"{\"fcm_token\": \"abc\", \"instance\": \"x\"} x"),
    ];
    let targets = [
        (Method::POST, "/v1/devices".to_owned(), None),
        (Method::PUT, format!("/v1/devices/{}", dev.id), Some(bearer.as_str())),
        (Method::POST, format!("/v1/devices/{}/registrations", dev.id), Some(bearer.as_str())),
    ];
    for (method, path, auth) in &targets {
        for (what, body) in &bodies {
            let (status, resp) = relay.api_raw(method.clone(), path, *auth, Some(body.to_vec())).await;
            assert_error(status, &resp, StatusCode::BAD_REQUEST, "invalid_json", &format!("{what}: {method} {path}"));
        }
    }
    // Well-formed JSON of the wrong shape: also 400.
    let shapes: Vec<(Method, String, Option<&str>, Value)> = vec![
        (Method::POST, "/v1/devices".into(), None, json!({})),
        (Method::POST, "/v1/devices".into(), None, json!({ "fcm_token": 12345 })),
        (Method::POST, "/v1/devices".into(), None, json!({ "fcm_token": null })),
        (Method::POST, "/v1/devices".into(), None, json!({ "token": "abc" })),
        (Method::POST, "/v1/devices".into(), None, json!({ "fcm_token": "abc", "project": 7 })),
        (Method::PUT, format!("/v1/devices/{}", dev.id), Some(&bearer), json!({})),
        (Method::PUT, format!("/v1/devices/{}", dev.id), Some(&bearer), json!({ "fcm_token": ["a"] })),
        (Method::POST, format!("/v1/devices/{}/registrations", dev.id), Some(&bearer), json!({})),
        (Method::POST, format!("/v1/devices/{}/registrations", dev.id), Some(&bearer), json!({ "instance": 5 })),
        (Method::POST, format!("/v1/devices/{}/registrations", dev.id), Some(&bearer), json!({ "instance": "a", "vapid": 5 })),
    ];
    for (method, path, auth, body) in shapes {
        let (status, resp) = relay.api_raw(method.clone(), &path, auth, Some(serde_json::to_vec(&body).unwrap())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path} {body}: {resp}");
    }
    // The device is unchanged.
    let (_, shown) = relay.show_device(&dev).await;
    assert_eq!(shown["registrations"], json!([]));
}

/// The API takes JSON objects; a JSON array holding the field values in declaration order
/// is not one (serde's derive would accept it as a struct, which must not leak through).
async fn json_arrays_instead_of_objects_are_400(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("array")).await;
    let bearer = format!("Bearer {}", dev.secret);
    let array_token = unique_token("from-array");
    let cases: Vec<(Method, String, Option<&str>, Value)> = vec![
        (Method::POST, "/v1/devices".into(), None, json!([array_token, null])),
        (Method::PUT, format!("/v1/devices/{}", dev.id), Some(&bearer), json!([array_token])),
        (Method::POST, format!("/v1/devices/{}/registrations", dev.id), Some(&bearer), json!(["from-array", null])),
    ];
    let mut accepted = Vec::new();
    for (method, path, auth, body) in cases {
        let (status, resp) = relay.api_raw(method.clone(), &path, auth, Some(serde_json::to_vec(&body).unwrap())).await;
        if status != StatusCode::BAD_REQUEST {
            accepted.push(format!("{method} {path} {body} → {status} {resp}"));
        }
    }
    assert!(accepted.is_empty(), "JSON arrays accepted as request objects:\n{}", accepted.join("\n"));
}

async fn oversize_and_invalid_fields_are_400(store: StoreKind) {
    // Many device creations in a row: the per-IP creation limit is not under test here.
    let relay = Relay::start_with(RelayConfig::new(store).no_rate_limits()).await;
    // fcm_token: 1–4096 printable ASCII.
    let ok_long = format!("t{}", "x".repeat(4095));
    let (status, body) = relay.api(Method::POST, "/v1/devices", None, Some(json!({ "fcm_token": ok_long }))).await;
    assert_eq!(status, StatusCode::CREATED, "4096-character token: {body}");
    for (what, token) in [
        ("4097 characters", "x".repeat(4097)),
        ("empty", String::new()),
        ("space inside", "abc def".to_owned()),
        ("newline", "abc\ndef".to_owned()),
        ("tab", "abc\tdef".to_owned()),
        ("non-ASCII", "abcdé".to_owned()),
        ("NUL", "abc\u{0}".to_owned()),
    ] {
        let (status, body) = relay.api(Method::POST, "/v1/devices", None, Some(json!({ "fcm_token": token }))).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_fcm_token", &format!("create, token {what}"));
    }
    // Unknown Firebase project.
    let (status, body) = relay.api(Method::POST, "/v1/devices", None, Some(json!({ "fcm_token": "abc", "project": "not-ours" }))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "unknown_project", "unknown project");

    let dev = relay.create_device(&unique_token("fields")).await;
    let (status, body) =
        relay.api(Method::PUT, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), Some(json!({ "fcm_token": "y".repeat(4097) }))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_fcm_token", "rotate to 4097 characters");

    // instance: 1–128 of [A-Za-z0-9._~-].
    let max = "i".repeat(128);
    let (status, body) = relay.try_register(&dev, &max, None).await;
    assert_eq!(status, StatusCode::CREATED, "128-character instance: {body}");
    let mut bad_instances: Vec<(String, String)> = vec![
        ("129 characters".into(), "i".repeat(129)),
        ("empty".into(), String::new()),
        ("slash".into(), "a/b".into()),
        ("space".into(), "a b".into()),
        ("percent".into(), "a%2Fb".into()),
        ("non-ASCII".into(), "äpp".into()),
        ("colon".into(), "org.app:1".into()),
        ("newline".into(), "a\nb".into()),
    ];
    bad_instances.push(("huge".into(), "i".repeat(10_000)));
    for (what, instance) in &bad_instances {
        let (status, body) = relay.try_register(&dev, instance, None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_instance", &format!("instance {what}"));
    }
    let (_, shown) = relay.show_device(&dev).await;
    assert_eq!(shown["registrations"].as_array().unwrap().len(), 1, "{shown}");
}

async fn oversize_body_is_413(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("big")).await;
    // 16384 bytes is the default cap; pad a valid request beyond it with whitespace.
    let padded = |json: Value, total: usize| {
        let mut b = serde_json::to_vec(&json).unwrap();
        b.resize(total, b' ');
        b
    };
    let bearer = format!("Bearer {}", dev.secret);
    let cases: Vec<(Method, String, Option<&str>, Value)> = vec![
        (Method::POST, "/v1/devices".into(), None, json!({ "fcm_token": "abc" })),
        (Method::PUT, format!("/v1/devices/{}", dev.id), Some(&bearer), json!({ "fcm_token": "abc" })),
        (Method::POST, format!("/v1/devices/{}/registrations", dev.id), Some(&bearer), json!({ "instance": "a" })),
    ];
    for (method, path, auth, json) in cases {
        let (status, body) = relay.api_raw(method.clone(), &path, auth, Some(padded(json.clone(), 16_385))).await;
        assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", &format!("{method} {path} 16385 bytes"));
        // A declared 1 MiB body: refused after reading past the cap, without waiting for the
        // rest (raw connection: the client stops writing, as a real client could not know).
        let mut s = relay.raw().await;
        let auth_line = auth.map(|a| format!("\r\nAuthorization: {a}")).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}{auth_line}",
            1 << 20
        );
        let (status, text) = raw_request(&mut s, &head, &padded(json.clone(), 20_000)).await;
        assert_eq!(status, 413, "{method} {path} declared 1 MiB, sent 20000 bytes:\n{text}");
        // Exactly at the cap: fine.
        let (status, body) = relay.api_raw(method.clone(), &path, auth, Some(padded(json, 16_384))).await;
        assert!(status.is_success(), "{method} {path} 16384 bytes: {status} {body}");
    }
}

async fn bad_vapid_is_400(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("badvapid")).await;
    let good = VapidSigner::new().public_b64();
    // A compressed point (0x02/0x03 prefix) in 65 bytes' clothing, wrong lengths, other alphabets.
    let mut compressed = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &good).unwrap();
    compressed[0] = 0x02;
    let compressed = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, compressed);
    let std_alphabet = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &good).unwrap(),
    );
    let cases: Vec<(&str, String)> = vec![
        ("one character short", good[..86].to_owned()),
        ("one character long", format!("{good}A")),
        ("not base64", format!("{}!!", &good[..85])),
        ("0x02 prefix", compressed),
        ("hex", random_hex(65)),
        ("short key", "BAAA".to_owned()),
        ("whitespace inside", format!("{} {}", &good[..40], &good[40..])),
        ("huge", "B".repeat(10_000)),
    ];
    for (what, vapid) in &cases {
        let (status, body) = relay.try_register(&dev, "app", Some(vapid)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_vapid", &format!("vapid {what}"));
    }
    let (_, shown) = relay.show_device(&dev).await;
    assert_eq!(shown["registrations"], json!([]), "a refused registration was stored: {shown}");
    // The same key in the standard base64 alphabet (as some senders write keys) is the
    // same key: accepted, and stored as the canonical base64url.
    let (status, body) = relay.try_register(&dev, "std", Some(&std_alphabet)).await;
    assert_eq!(status, StatusCode::CREATED, "vapid in the standard alphabet: {body}");
    let (_, shown) = relay.show_device(&dev).await;
    assert_eq!(shown["registrations"][0]["vapid"], json!(good), "{shown}");
    // The good key works.
    relay.register(&dev, "app", Some(&good)).await;
}

async fn registration_limit_is_403(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).limit("max_registrations_per_device = 3")).await;
    let dev = relay.create_device(&unique_token("limit")).await;
    let other = relay.create_device(&unique_token("limit-other")).await;
    let mut endpoints = Vec::new();
    for i in 0..3 {
        endpoints.push(relay.register(&dev, &format!("app{i}"), None).await);
    }
    let (status, body) = relay.try_register(&dev, "app3", None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "registration_limit", "fourth registration");
    // Re-registering an existing instance at the limit is not a new registration.
    let (status, body) = relay.try_register(&dev, "app0", None).await;
    assert_eq!(status, StatusCode::OK, "existing instance at the limit: {body}");
    assert_eq!(body["endpoint"], endpoints[0].as_str());
    // Changing the key of an existing instance replaces it, it does not add one.
    let (status, body) = relay.try_register(&dev, "app1", Some(&VapidSigner::new().public_b64())).await;
    assert_eq!(status, StatusCode::CREATED, "key change at the limit: {body}");
    // The limit is per device.
    relay.register(&other, "app3", None).await;
    // Freeing a slot allows one more.
    let (status, _) = relay.api(Method::DELETE, &format!("/v1/devices/{}/registrations/app2", dev.id), Some(&dev.secret), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    relay.register(&dev, "app3", None).await;
    let (status, body) = relay.try_register(&dev, "app4", None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "registration_limit", "over the limit again");
    let (_, shown) = relay.show_device(&dev).await;
    assert_eq!(shown["registrations"].as_array().unwrap().len(), 3, "{shown}");
}

/// Device creation is limited per client address: 429 + Retry-After beyond the burst.
async fn device_creation_rate_limit_is_429(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).limit("device_create_per_minute = 30").limit("device_create_burst = 2")).await;
    relay.create_device(&unique_token("rl-1")).await;
    relay.create_device(&unique_token("rl-2")).await;
    let (status, body) = relay.api(Method::POST, "/v1/devices", None, Some(json!({ "fcm_token": unique_token("rl-3") }))).await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited", "third device in a burst of 2");
    // Retry-After is on the response: check it with a raw request.
    let resp = relay.http.post(relay.url("/v1/devices")).json(&json!({ "fcm_token": unique_token("rl-4") })).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let ra: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&ra), "Retry-After {ra}");
    tokio::time::sleep(std::time::Duration::from_millis(ra * 1000 + 100)).await;
    relay.create_device(&unique_token("rl-5")).await;
}

/// Registrations racing each other: the limit holds, and one instance registered many times
/// at once yields one endpoint (one 201, the rest 200 with the same URL), which works.
async fn concurrent_registrations_respect_limit_and_idempotency(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).limit("max_registrations_per_device = 3")).await;
    let dev = relay.create_device(&unique_token("race")).await;
    let results = futures_join((0..12).map(|i| {
        let relay = &relay;
        let dev = &dev;
        async move { relay.try_register(dev, &format!("app{i}"), None).await }
    }))
    .await;
    let created = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let refused = results.iter().filter(|(s, b)| *s == StatusCode::FORBIDDEN && b["error"] == "registration_limit").count();
    assert_eq!((created, refused), (3, 9), "12 concurrent registrations with a limit of 3: {results:?}");
    let (_, shown) = relay.show_device(&dev).await;
    assert_eq!(shown["registrations"].as_array().unwrap().len(), 3, "{shown}");

    let other = relay.create_device(&unique_token("race-same")).await;
    let results = futures_join((0..8).map(|_| {
        let relay = &relay;
        let other = &other;
        async move { relay.try_register(other, "same", None).await }
    }))
    .await;
    let created = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!((created, ok), (1, 7), "8 concurrent registrations of one instance: {results:?}");
    let endpoints: std::collections::BTreeSet<&str> = results.iter().map(|(_, b)| b["endpoint"].as_str().unwrap()).collect();
    assert_eq!(endpoints.len(), 1, "one instance, several endpoints: {endpoints:?}");
    let endpoint = endpoints.into_iter().next().unwrap().to_owned();
    assert_eq!(relay.push(&endpoint, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::CREATED);
    let (_, shown) = relay.show_device(&other).await;
    assert_eq!(shown["registrations"].as_array().unwrap().len(), 1, "{shown}");
}

/// Run futures concurrently on this task, results in order.
async fn futures_join<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut pending = handles;
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (i, f) in pending.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

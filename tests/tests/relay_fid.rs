//! Firebase Installation IDs as device targets, end to end against the real binary: a
//! device registered by FID gets its pushes as `message.fid`; a device moves between token
//! and FID (and back) keeping every endpoint; a FID FCM calls UNREGISTERED is a 410 and
//! the device is gone; the distributor API takes exactly one well-formed target; the
//! emulator refuses what FCM refuses; `uprelay fcm-send --fid`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uprelay_tests::emulator::EmulatorProcess;
use uprelay_tests::per_store;
use uprelay_tests::relay::{random_bytes, unique_token, Device, Relay, RelayConfig, StoreKind};

per_store!(
    [embedded, redis], TEST_LIMIT;
    a_fid_device_gets_its_pushes_as_message_fid,
    moving_between_token_and_fid_keeps_every_endpoint,
    a_dead_fid_is_410_and_the_device_is_gone,
    a_move_racing_a_dead_answer_keeps_the_device,
    a_fid_device_is_queued_and_held_as_a_token_device_is,
    device_bodies_name_exactly_one_well_formed_target
);

/// A FID as Firebase Installations makes one: 17 random bytes with the first four bits
/// `0111`, base64url, 22 characters (so it starts with c, d, e or f).
fn fid() -> String {
    let mut bytes = random_bytes(17);
    bytes[0] = 0b0111_0000 | (bytes[0] & 0x0f);
    URL_SAFE_NO_PAD.encode(bytes)[..22].to_owned()
}

/// RFC 8291 appendix A: the user agent's public key and auth secret.
const P256DH: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

async fn create_fid_device(relay: &Relay, fid: &str) -> Device {
    let (status, body) = relay.api(Method::POST, "/v1/devices", None, Some(json!({ "fcm_fid": fid }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Device {
        id: body["device_id"].as_str().unwrap().to_owned(),
        secret: body["secret"].as_str().unwrap().to_owned(),
        token: fid.to_owned(),
    }
}

/// Accepted FCM messages sent by `message.fid` to `fid`, oldest first.
async fn messages_by_fid(relay: &Relay, fid: &str) -> Vec<Value> {
    serde_json::from_str(&relay.emulator.client.messages_text(&format!("?fid={fid}")).await).unwrap()
}

fn body_of(msg: &Value) -> Vec<u8> {
    STANDARD.decode(msg["message"]["data"]["b"].as_str().unwrap()).unwrap()
}

async fn put_target(relay: &Relay, dev: &Device, body: Value) -> (StatusCode, Value) {
    relay.api(Method::PUT, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), Some(body)).await
}

#[track_caller]
fn assert_error(status: StatusCode, body: &Value, code: &str, what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert_eq!(body["error"], code, "{what}: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
}

async fn a_fid_device_gets_its_pushes_as_message_fid(store: StoreKind) {
    let relay = Relay::start(store).await;
    let fid = fid();
    let dev = create_fid_device(&relay, &fid).await;
    let (status, shown) = relay.show_device(&dev).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((&shown["road"], &shown["target"]), (&json!("fcm"), &json!("fid")), "{shown}");
    assert!(!shown.to_string().contains(&fid), "the FID itself is never shown: {shown}");

    let endpoint = relay.register(&dev, "app.fid", None).await;
    let resp = relay.push(&endpoint, &[("TTL", "60")], "by installation id").await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
    let msgs = messages_by_fid(&relay, &fid).await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0]["target"], "fid");
    assert_eq!(msgs[0]["message"]["fid"], fid.as_str());
    assert!(msgs[0]["message"].get("token").is_none(), "{}", msgs[0]);
    assert_eq!(body_of(&msgs[0]), b"by installation id");
    assert_eq!(msgs[0]["message"]["data"]["i"], "app.fid");
    assert!(relay.messages(&fid).await.is_empty(), "nothing went as message.token");
    // The delivery is counted under its road.
    let metrics = relay.metrics().await;
    assert!(
        metrics.lines().any(|l| l.starts_with("uprelay_fcm_requests_total{")
            && l.contains("road=\"fcm\"")
            && l.contains("result=\"ok\"")
            && l.ends_with(" 1")),
        "{metrics}"
    );
}

async fn moving_between_token_and_fid_keeps_every_endpoint(store: StoreKind) {
    let relay = Relay::start(store).await;
    let token = unique_token("move");
    let dev = relay.create_device(&token).await;
    let a = relay.register(&dev, "app.a", None).await;
    let b = relay.register(&dev, "app.b", None).await;
    assert_eq!(relay.push(&a, &[], "before").await.status, StatusCode::CREATED);
    assert_eq!(relay.messages(&token).await.len(), 1);
    let (_, before) = relay.show_device(&dev).await;
    assert_eq!(before["target"], "token");

    // Token → FID: one step, endpoints unchanged, the next pushes go by FID.
    let fid = fid();
    let (status, body) = put_target(&relay, &dev, json!({ "fcm_fid": fid })).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, after) = relay.show_device(&dev).await;
    assert_eq!(after["registrations"], before["registrations"], "endpoints kept");
    assert_eq!((&after["road"], &after["target"]), (&json!("fcm"), &json!("fid")), "{after}");
    for (endpoint, text) in [(&a, "a by fid"), (&b, "b by fid")] {
        let resp = relay.push(endpoint, &[], text).await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
    }
    let by_fid = messages_by_fid(&relay, &fid).await;
    assert_eq!(by_fid.iter().map(body_of).collect::<Vec<_>>(), [b"a by fid".to_vec(), b"b by fid".to_vec()]);
    assert_eq!(by_fid.iter().map(|m| m["message"]["data"]["i"].clone()).collect::<Vec<_>>(), [json!("app.a"), json!("app.b")]);
    assert_eq!(relay.messages(&token).await.len(), 1, "the old token got nothing more");

    // A refused change leaves the device as it was.
    let (status, body) = put_target(&relay, &dev, json!({ "fcm_fid": fid, "fcm_token": token })).await;
    assert_error(status, &body, "invalid_target", "PUT with two targets");
    assert_eq!(relay.show_device(&dev).await.1["target"], "fid");

    // And back to a (new) token.
    let token2 = unique_token("move-back");
    let (status, _) = put_target(&relay, &dev, json!({ "fcm_token": token2 })).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(relay.show_device(&dev).await.1["registrations"], before["registrations"]);
    assert_eq!(relay.push(&b, &[], "b by token").await.status, StatusCode::CREATED);
    let by_token = relay.messages(&token2).await;
    assert_eq!(by_token.len(), 1);
    assert_eq!(body_of(&by_token[0]), b"b by token");
    assert_eq!(by_token[0]["target"], "token");
    assert_eq!(messages_by_fid(&relay, &fid).await.len(), 2, "the FID got nothing more");
}

async fn a_dead_fid_is_410_and_the_device_is_gone(store: StoreKind) {
    let relay = Relay::start(store).await;
    let fid = fid();
    let dev = create_fid_device(&relay, &fid).await;
    let endpoint = relay.register(&dev, "app", None).await;
    let other = relay.register(&dev, "other", None).await;
    relay.emulator.client.add_fault(json!({ "fid": fid, "error": "UNREGISTERED" })).await;
    let resp = relay.push(&endpoint, &[], "to a dead installation").await;
    assert_eq!(resp.status, StatusCode::GONE, "{}", resp.body);
    let (status, _) = relay.show_device(&dev).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the device is deleted");
    for e in [&endpoint, &other] {
        assert_eq!(relay.push(e, &[], "again").await.status, StatusCode::NOT_FOUND, "every endpoint of the device is gone");
    }
    assert!(messages_by_fid(&relay, &fid).await.is_empty());
}

/// FCM's "this FID is dead" comes back after the device moved to a token: the device
/// lives on (the dead-target guard compares the whole target, across kinds), and the
/// next push reaches the token.
async fn a_move_racing_a_dead_answer_keeps_the_device(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).fcm_timeout_ms(5000)).await;
    let fid = fid();
    let dev = create_fid_device(&relay, &fid).await;
    let endpoint = relay.register(&dev, "app", None).await;
    relay.emulator.client.add_fault(json!({ "fid": fid, "error": "UNREGISTERED", "delay_ms": 1500, "times": 1 })).await;
    let slow = {
        let (http, endpoint) = (relay.http.clone(), endpoint.clone());
        tokio::spawn(async move { http.post(&endpoint).body("raced").send().await.map(|r| r.status()) })
    };
    // Let the push reach FCM, then move the device while FCM is still answering.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let token = unique_token("raced");
    assert_eq!(put_target(&relay, &dev, json!({ "fcm_token": token })).await.0, StatusCode::NO_CONTENT);
    let status = slow.await.unwrap().unwrap();
    assert_ne!(status, StatusCode::GONE, "the device was moved before FCM's answer; its endpoint is not gone");
    let (shown_status, shown) = relay.show_device(&dev).await;
    assert_eq!((shown_status, &shown["target"]), (StatusCode::OK, &json!("token")), "{shown}");
    assert_eq!(relay.push(&endpoint, &[], "after the move").await.status, StatusCode::CREATED);
    let msgs = relay.messages(&token).await;
    assert_eq!(msgs.last().map(body_of), Some(b"after the move".to_vec()), "{msgs:?}");
}

/// FCM's transient and quota answers mean the same for a FID as for a token: a transient
/// failure is a 201 and the retry worker delivers by `message.fid` later; QUOTA_EXCEEDED is
/// a 429 with FCM's Retry-After and holds every endpoint of the device.
async fn a_fid_device_is_queued_and_held_as_a_token_device_is(store: StoreKind) {
    let relay =
        Relay::start_with(RelayConfig::new(store).fcm_timeout_ms(700).queue("poll_ms = 50").queue("initial_backoff_ms = 200")).await;
    let fid = fid();
    let dev = create_fid_device(&relay, &fid).await;
    let a = relay.register(&dev, "app.a", None).await;
    let b = relay.register(&dev, "app.b", None).await;
    relay.emulator.client.add_fault(json!({ "fid": fid, "error": "UNAVAILABLE", "times": 1 })).await;
    let r = relay.push(&a, &[("TTL", "600")], "queued").await;
    assert_eq!(r.status, StatusCode::CREATED, "a transient failure is queued: {r:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let delivered = loop {
        let msgs = messages_by_fid(&relay, &fid).await;
        if !msgs.is_empty() || std::time::Instant::now() > deadline {
            break msgs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(delivered.len(), 1, "the retry worker delivered it: {delivered:?}");
    assert_eq!((body_of(&delivered[0]), &delivered[0]["message"]["data"]["m"]), (b"queued".to_vec(), &json!(r.message_id())));
    assert!(delivered[0]["message"].get("token").is_none());

    relay.emulator.client.add_fault(json!({ "fid": fid, "error": "QUOTA_EXCEEDED", "times": 1, "retry_after": 120 })).await;
    let r = relay.push(&a, &[("TTL", "60")], "throttled").await;
    assert_eq!((r.status, r.retry_after()), (StatusCode::TOO_MANY_REQUESTS, 120), "{r:?}");
    let sends = relay.emulator.client.stats().await["send_requests"].clone();
    let r = relay.push(&b, &[("TTL", "60")], "held too").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "the device's other endpoint is held: {r:?}");
    assert_eq!(relay.emulator.client.stats().await["send_requests"], sends, "a held endpoint does not reach FCM");
    assert_eq!(relay.show_device(&dev).await.0, StatusCode::OK, "nothing was deleted");
}

async fn device_bodies_name_exactly_one_well_formed_target(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).no_rate_limits()).await;
    let good_fid = fid();
    let webpush = json!({ "token": unique_token("wp"), "p256dh": P256DH, "auth": AUTH });
    let mut off_curve = URL_SAFE_NO_PAD.decode(P256DH).unwrap();
    off_curve[64] ^= 1;
    let off_curve = URL_SAFE_NO_PAD.encode(off_curve);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no target", json!({}), "invalid_target"),
        ("null target", json!({ "fcm_fid": null }), "invalid_target"),
        ("token and fid", json!({ "fcm_token": unique_token("two"), "fcm_fid": good_fid }), "invalid_target"),
        ("fid and webpush", json!({ "fcm_fid": good_fid, "webpush": webpush }), "invalid_target"),
        ("fid of 21 characters", json!({ "fcm_fid": &good_fid[..21] }), "invalid_fcm_fid"),
        ("fid of 23 characters", json!({ "fcm_fid": format!("{good_fid}A") }), "invalid_fcm_fid"),
        ("fid starting with a", json!({ "fcm_fid": format!("a{}", &good_fid[1..]) }), "invalid_fcm_fid"),
        ("fid with a slash", json!({ "fcm_fid": format!("{}/", &good_fid[..21]) }), "invalid_fcm_fid"),
        ("a registration token as fid", json!({ "fcm_fid": format!("{good_fid}:APA91bxyz") }), "invalid_fcm_fid"),
        ("webpush key off the curve", json!({ "webpush": { "token": "t", "p256dh": off_curve, "auth": AUTH } }), "invalid_webpush"),
        ("webpush key cut", json!({ "webpush": { "token": "t", "p256dh": &P256DH[..80], "auth": AUTH } }), "invalid_webpush"),
        (
            "webpush auth of 12 bytes",
            json!({ "webpush": { "token": "t", "p256dh": P256DH, "auth": "BTBZMqHH6r4Tts7J" } }),
            "invalid_webpush",
        ),
        ("webpush without a token", json!({ "webpush": { "token": "", "p256dh": P256DH, "auth": AUTH } }), "invalid_webpush"),
    ];
    let dev = relay.create_device(&unique_token("shapes")).await;
    for (what, body, code) in &cases {
        let (status, resp) = relay.api(Method::POST, "/v1/devices", None, Some(body.clone())).await;
        assert_error(status, &resp, code, &format!("POST {what}"));
        let (status, resp) = put_target(&relay, &dev, body.clone()).await;
        assert_error(status, &resp, code, &format!("PUT {what}"));
    }
    let (_, shown) = relay.show_device(&dev).await;
    assert_eq!(shown["target"], "token", "refused updates changed nothing: {shown}");
    let (status, resp) = put_target(&relay, &dev, json!({ "fcm_fid": good_fid, "project": "another-project" })).await;
    assert_error(status, &resp, "project_change", "PUT to another project");

    // A Web Push subscription is a target of the Web Push road: kept whole where the relay
    // offers that road, refused where it does not (its endpoints could never deliver).
    let (_, info) = relay.api(Method::GET, "/v1/info", None, None).await;
    let roads = info["roads"].as_array().unwrap_or_else(|| panic!("/v1/info lists its roads: {info}"));
    assert!(roads.contains(&json!("fcm")), "{info}");
    let (status, created) = relay.api(Method::POST, "/v1/devices", None, Some(json!({ "webpush": webpush }))).await;
    if !roads.contains(&json!("webpush")) {
        assert_error(status, &created, "road_not_offered", "POST a Web Push target without the road");
        let (status, resp) = put_target(&relay, &dev, json!({ "webpush": webpush })).await;
        assert_error(status, &resp, "road_not_offered", "PUT a Web Push target without the road");
        assert_eq!(relay.show_device(&dev).await.1["target"], "token");
        return;
    }
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let wp = Device {
        id: created["device_id"].as_str().unwrap().into(),
        secret: created["secret"].as_str().unwrap().into(),
        token: String::new(),
    };
    let endpoint = relay.register(&wp, "app", None).await;
    let (_, shown) = relay.show_device(&wp).await;
    assert_eq!((&shown["road"], &shown["target"]), (&json!("webpush"), &json!("webpush")), "{shown}");
    assert!(!shown.to_string().contains(webpush["token"].as_str().unwrap()), "the token is never shown: {shown}");
    // Moving it to the FCM road keeps its endpoint.
    assert_eq!(put_target(&relay, &wp, json!({ "fcm_fid": good_fid })).await.0, StatusCode::NO_CONTENT);
    let (_, shown) = relay.show_device(&wp).await;
    assert_eq!((&shown["road"], &shown["target"]), (&json!("fcm"), &json!("fid")));
    assert_eq!(shown["registrations"][0]["endpoint"], endpoint.as_str());
    assert_eq!(relay.push(&endpoint, &[], "moved road").await.status, StatusCode::CREATED);
    assert_eq!(messages_by_fid(&relay, &good_fid).await.len(), 1);
}

/// The emulator refuses a message with both `token` and `fid`, and a FID of the wrong
/// shape, with FCM's INVALID_ARGUMENT and its exact error body; a well-formed FID passes.
#[tokio::test]
async fn the_emulator_refuses_what_fcm_refuses_about_fids() {
    let emu = EmulatorProcess::start().await;
    let access = emu.access_token().await;
    let good = fid();
    // Raw JSON: FCM names the second target field it meets.
    let raw = format!(r#"{{"message":{{"token":"t","fid":"{good}","data":{{"k":"v"}}}}}}"#).into_bytes();
    let both = emu.client.send_raw(&emu.project, Some(&format!("Bearer {access}")), raw).await;
    assert_eq!(both.assert_invalid_argument(), "Invalid value at 'message' (oneof), oneof field 'target' is already set. Cannot set 'fid'");
    assert_eq!(both.body["error"]["details"][1]["@type"], "type.googleapis.com/google.rpc.BadRequest", "{}", both.body);
    assert_eq!(both.body["error"]["details"][1]["fieldViolations"][0]["field"], "message", "{}", both.body);
    for bad in [&good[..21], "aAAAAAAAAAAAAAAAAAAAAA", "cAAAAAAAAAAAAAAAAAAA+/", "cAAAAAAAAAAAAAAAAAAAAAA"] {
        let r = emu.send(&access, &json!({ "message": { "fid": bad, "data": { "k": "v" } } })).await;
        assert_eq!(r.assert_invalid_argument(), "The installation ID is not a valid Firebase installation ID", "{bad}");
        assert_eq!(r.body["error"]["details"].as_array().unwrap().len(), 1, "only the FcmError detail: {}", r.body);
    }
    let ok = emu.send(&access, &json!({ "message": { "fid": good, "data": { "k": "v" } } })).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let kept: Vec<Value> = serde_json::from_str(&emu.client.messages_text(&format!("?fid={good}")).await).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["target"], "fid");
}

/// `uprelay fcm-send --fid` sends `message.fid`; a malformed FID never leaves the command,
/// and `--token` with `--fid` is refused.
#[tokio::test]
async fn fcm_send_by_fid() {
    let emu = EmulatorProcess::start().await;
    let run = |extra: &[&str]| emu.fcm_send_cli(extra);
    let good = fid();
    let out = run(&["--fid", &good, "--data", "k=v"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let kept: Vec<Value> = serde_json::from_str(&emu.client.messages_text(&format!("?fid={good}")).await).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["message"], json!({ "fid": good, "data": { "k": "v" }, "android": { "priority": "HIGH" } }));

    emu.client.add_fault(json!({ "fid": good, "error": "UNREGISTERED" })).await;
    let out = run(&["--fid", &good]);
    let answer: Value = serde_json::from_slice(out.stdout.split(|&b| b == b'\n').find(|l| l.starts_with(b"{")).unwrap()).unwrap();
    assert_eq!((out.status.code(), &answer["class"]), (Some(1), &json!("dead_token")), "{answer}");

    let before = emu.client.stats().await["send_requests"].clone();
    let out = run(&["--fid", "not-a-fid"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fcm_fid must be a Firebase Installation ID"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["--fid", &good, "--token", "t"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses both: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(emu.client.stats().await["send_requests"], before, "nothing was sent");
}

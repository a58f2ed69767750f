//! The built-in Matrix push gateway against the real binary (every store): discovery,
//! notifications shaped like the spec's examples delivered byte for byte, ten mixed
//! devices, trimming, 503 when every device failed transiently, bad input, badge updates,
//! and forwarding to other UnifiedPush servers — with its SSRF refusals.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uprelay_tests::fake_http::FakeHttp;
use uprelay_tests::per_store;
use uprelay_tests::relay::{decode_body, unique_token, Relay, RelayConfig, StoreKind, VapidSigner};

per_store!(
    discovery_and_spec_shaped_notifications_arrive_byte_for_byte,
    ten_mixed_devices_reject_exactly_the_dead_ones,
    oversized_notifications_are_trimmed_not_refused,
    every_device_failing_transiently_is_a_503,
    bad_input_is_400_with_a_json_error,
);

const NOTIFY: &str = "/_matrix/push/v1/notify";

/// The spec's example notification (Push Gateway API v1, `POST /_matrix/push/v1/notify`).
fn spec_notification(pushkeys: &[&str]) -> Value {
    json!({"notification": {
        "event_id": "$3957tyerfgewrf384",
        "room_id": "!slw48wfj34rtnrf:example.org",
        "type": "m.room.message",
        "sender": "@exampleuser:matrix.org",
        "sender_display_name": "Major Tom",
        "room_name": "Mission Control",
        "room_alias": "#exampleroom:matrix.org",
        "prio": "high",
        "content": {"msgtype": "m.text", "body": "I'm floating in a most peculiar way."},
        "counts": {"unread": 2, "missed_calls": 1},
        "devices": devices(pushkeys),
    }})
}

fn devices(pushkeys: &[&str]) -> Value {
    Value::Array(
        pushkeys
            .iter()
            .map(|k| {
                json!({"app_id": "org.matrix.matrixConsole.ios", "pushkey": k, "pushkey_ts": 12345678,
                "data": {}, "tweaks": {"sound": "bing"}})
            })
            .collect(),
    )
}

/// What every device must receive: the notification without `devices`.
fn without_devices(req: &Value) -> Vec<u8> {
    let mut n = req["notification"].clone();
    n.as_object_mut().unwrap().remove("devices");
    serde_json::to_vec(&json!({ "notification": n })).unwrap()
}

async fn notify(relay: &Relay, body: &Value) -> uprelay_tests::relay::PushResponse {
    relay.request_raw(Method::POST, NOTIFY, None, Some(serde_json::to_vec(body).unwrap())).await
}

async fn rejected(relay: &Relay, body: &Value) -> Vec<String> {
    let r = notify(relay, body).await;
    let (status, json) = r.json();
    assert_eq!(status, StatusCode::OK, "{json}");
    let mut keys: Vec<String> = json["rejected"]
        .as_array()
        .unwrap_or_else(|| panic!("no rejected list: {json}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys
}

async fn discovery_and_spec_shaped_notifications_arrive_byte_for_byte(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).no_rate_limits()).await;
    let r = relay.request_raw(Method::GET, NOTIFY, None, None).await;
    assert_eq!(r.json(), (StatusCode::OK, json!({"unifiedpush": {"gateway": "matrix"}})));

    let dev = relay.create_device(&unique_token("mx")).await;
    let endpoint = relay.register(&dev, "element", None).await;
    let full = spec_notification(&[&endpoint]);
    assert_eq!(rejected(&relay, &full).await, Vec::<String>::new());
    let got = relay.wait_messages(&dev.token, 1).await;
    assert_eq!(decode_body(&got), without_devices(&full), "the delivered body");
    assert_eq!(got[0]["message"]["android"]["priority"], "HIGH");
    assert_eq!(got[0]["message"]["android"]["ttl"], "86400s", "matrix.ttl defaults to a day");

    // format: event_id_only passes as it is; prio low is Urgency normal (still HIGH by default
    // config, high_priority_from = normal), so check the body only.
    let only_id = json!({"notification": {"event_id": "$3957tyerfgewrf384", "room_id": "!slw48wfj34rtnrf:example.org",
        "counts": {"unread": 2, "missed_calls": 1}, "prio": "low",
        "devices": [{"app_id": "im.vector.app", "pushkey": endpoint, "pushkey_ts": 1, "data": {"format": "event_id_only"}}]}});
    assert_eq!(rejected(&relay, &only_id).await, Vec::<String>::new());
    let got = relay.wait_messages(&dev.token, 2).await;
    assert_eq!(decode_body(&got[1..]), without_devices(&only_id));

    // A badge update: no event_id or room_id, delivered like any notification.
    let badge = json!({"notification": {"id": "", "type": null, "sender": "", "counts": {"unread": 0}, "devices": devices(&[&endpoint])}});
    assert_eq!(rejected(&relay, &badge).await, Vec::<String>::new());
    let got = relay.wait_messages(&dev.token, 3).await;
    assert_eq!(decode_body(&got[2..]), without_devices(&badge));
    let metrics = relay.metrics().await;
    assert!(metrics.contains(r#"uprelay_pushes_received_total{ingress="matrix",encoding="other"} 3"#), "{metrics}");
    assert!(metrics.contains(r#"uprelay_matrix_devices_total{outcome="delivered",route="local"} 3"#), "{metrics}");
}

async fn ten_mixed_devices_reject_exactly_the_dead_ones(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).limit("push_rate_per_second = 0.01").limit("push_burst = 1")).await;
    let mut ok = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..3 {
        let dev = relay.create_device(&unique_token(&format!("mx-ok{i}"))).await;
        ok.push(relay.register(&dev, "element", None).await);
        tokens.push(dev.token);
    }
    let dead = relay.create_device(&unique_token("mx-dead")).await;
    let dead_endpoint = relay.register(&dead, "element", None).await;
    relay.emulator.client.add_fault(json!({"token": dead.token, "error": "UNREGISTERED"})).await;
    let limited = relay.create_device(&unique_token("mx-limited")).await;
    let limited_endpoint = relay.register(&limited, "element", None).await;
    assert_eq!(relay.push(&limited_endpoint, &[], b"use up the burst".to_vec()).await.status, StatusCode::CREATED);
    let signer = VapidSigner::new();
    let restricted = relay.create_device(&unique_token("mx-vapid")).await;
    let restricted_endpoint = relay.register(&restricted, "element", Some(&signer.public_b64())).await;
    let unknown = format!("{}/up/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", relay.base_url);
    let foreign = "https://push.example.org/up/someone-elses";
    let keys = [
        ok[0].as_str(),
        dead_endpoint.as_str(),
        ok[1].as_str(),
        limited_endpoint.as_str(),
        unknown.as_str(),
        restricted_endpoint.as_str(),
        foreign,
        "not a url",
        ok[2].as_str(),
        "https://push.example.org/up/other-foreign",
    ];
    let body = spec_notification(&keys);
    let mut want = vec![
        dead_endpoint.clone(),
        unknown.clone(),
        restricted_endpoint.clone(),
        foreign.to_string(),
        "not a url".to_string(),
        "https://push.example.org/up/other-foreign".to_string(),
    ];
    want.sort();
    assert_eq!(rejected(&relay, &body).await, want, "rate-limited and delivered devices are never rejected");
    for token in &tokens {
        assert_eq!(decode_body(&relay.wait_messages(token, 1).await), without_devices(&body));
    }
    assert!(relay.messages(&restricted.token).await.is_empty(), "a VAPID-restricted endpoint took a gateway delivery");
    assert_eq!(relay.messages(&limited.token).await.len(), 1, "only the first push reached the rate-limited device");
    // The dead token's device is gone: its endpoint now answers 404.
    assert_eq!(relay.push(&dead_endpoint, &[], b"x".to_vec()).await.status, StatusCode::NOT_FOUND);
}

async fn oversized_notifications_are_trimmed_not_refused(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).no_rate_limits()).await;
    let dev = relay.create_device(&unique_token("mx-big")).await;
    let endpoint = relay.register(&dev, "element", None).await;
    let mut big = spec_notification(&[&endpoint]);
    big["notification"]["content"]["body"] = json!("🚀".repeat(2000));
    big["notification"]["sender_display_name"] = json!("d".repeat(1500));
    assert!(without_devices(&big).len() > 4096);
    assert_eq!(rejected(&relay, &big).await, Vec::<String>::new());
    let got = decode_body(&relay.wait_messages(&dev.token, 1).await);
    assert!(got.len() <= 4096, "{} bytes delivered", got.len());
    let delivered: Value = serde_json::from_slice(&got).unwrap();
    let n = &delivered["notification"];
    assert!(n.get("content").is_none(), "content is dropped first: {n}");
    assert_eq!(n["sender_display_name"].as_str().map(str::len), Some(1500), "dropping stops once it fits: {n}");
    for kept in ["event_id", "room_id", "counts", "prio", "room_name", "sender"] {
        assert_eq!(n[kept], big["notification"][kept], "{kept} must be intact");
    }
}

async fn every_device_failing_transiently_is_a_503(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).no_rate_limits().queue("enabled = false")).await;
    let a = relay.create_device(&unique_token("mx-t1")).await;
    let b = relay.create_device(&unique_token("mx-t2")).await;
    let (ea, eb) = (relay.register(&a, "element", None).await, relay.register(&b, "element", None).await);
    relay.emulator.client.add_fault(json!({"error": "UNAVAILABLE", "retry_after": 7})).await;
    let r = notify(&relay, &spec_notification(&[&ea, &eb])).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    assert!(r.retry_after() >= 7, "{r:?}");
    assert_eq!(r.error_code(), "unavailable");
    // One device served, one failing: 200, and the failing one is not rejected.
    relay.emulator.client.clear_faults().await;
    relay.emulator.client.add_fault(json!({"token": b.token, "error": "UNAVAILABLE"})).await;
    assert_eq!(rejected(&relay, &spec_notification(&[&ea, &eb])).await, Vec::<String>::new());
    assert_eq!(relay.messages(&a.token).await.len(), 1);
    assert!(relay.messages(&b.token).await.is_empty());
}

async fn bad_input_is_400_with_a_json_error(store: StoreKind) {
    let relay = Relay::start_with(RelayConfig::new(store).no_rate_limits()).await;
    let long = format!("{}/up/{}", relay.base_url, "k".repeat(600));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not JSON", b"{not json".to_vec(), "invalid_json"),
        ("no notification", br#"{"devices": []}"#.to_vec(), "bad_notification"),
        ("no devices", br#"{"notification": {"event_id": "$e"}}"#.to_vec(), "bad_notification"),
        ("empty devices", br#"{"notification": {"event_id": "$e", "devices": []}}"#.to_vec(), "bad_notification"),
        ("pushkey over 512 bytes", serde_json::to_vec(&spec_notification(&[&long])).unwrap(), "bad_notification"),
        ("pushkey not a URL", serde_json::to_vec(&spec_notification(&["just text"])).unwrap(), "bad_notification"),
    ];
    for (what, body, code) in cases {
        let r = relay.request_raw(Method::POST, NOTIFY, None, Some(body)).await;
        let (status, json) = r.json();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {json}");
        assert_eq!(json["error"], code, "{what}: {json}");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {json}");
    }
}

/// Forwarding to other UnifiedPush servers, with the test allow-list for a local fake
/// server: 2xx delivered with the notification, 404/410 rejected, 5xx transient, a
/// redirect not followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_delivers_to_other_servers_and_follows_no_redirect() {
    let target = FakeHttp::start(|_| (201, vec![], String::new())).await;
    let target_port = target.port;
    let other = FakeHttp::start(move |path| match path {
        "/gone" => (404, vec![], String::new()),
        "/gone2" => (410, vec![], String::new()),
        "/down" => (503, vec![], String::new()),
        "/redirect" => (307, vec![("location".into(), format!("http://127.0.0.1:{target_port}/stolen"))], String::new()),
        _ => (201, vec![], String::new()),
    })
    .await;
    let config = RelayConfig::new(StoreKind::Embedded).tables("[matrix]\nforward = true\nforward_allow = [\"127.0.0.1\"]\nttl = 600\n");
    let relay = Relay::start_with(config).await;
    let (ok, gone, gone2, down, redirect) =
        (other.url("/up/ok"), other.url("/gone"), other.url("/gone2"), other.url("/down"), other.url("/redirect"));
    let body = spec_notification(&[&ok, &gone, &gone2, &down, &redirect]);
    let mut want = vec![gone.clone(), gone2.clone()];
    want.sort();
    assert_eq!(rejected(&relay, &body).await, want);
    let got = other.received();
    let delivered = got.iter().find(|r| r.path == "/up/ok").expect("the ok endpoint got the notification");
    assert_eq!(delivered.method, "POST");
    assert_eq!(delivered.body, without_devices(&body));
    assert_eq!(delivered.header("ttl"), Some("600"));
    assert_eq!(delivered.header("urgency"), Some("high"));
    assert_eq!(got.len(), 5, "one request per device, no retries inside one notification: {got:?}");
    assert!(target.received().is_empty(), "the redirect was followed: {:?}", target.received());
}

/// With forwarding on and no allow-list, nothing inside reaches: loopback, private,
/// link-local and unique-local literals, a name that resolves to loopback, and plain http.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_refuses_inside_addresses() {
    let inside = FakeHttp::start(|_| (201, vec![], String::new())).await;
    let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).tables("[matrix]\nforward = true\n")).await;
    let p = inside.port;
    let keys = [
        format!("http://127.0.0.1:{p}/up/x"),
        format!("https://127.0.0.1:{p}/up/x"),
        format!("https://localhost:{p}/up/x"),
        format!("https://[::1]:{p}/up/x"),
        format!("https://[::ffff:127.0.0.1]:{p}/up/x"),
        "https://10.1.2.3/up/x".to_string(),
        "https://169.254.169.254/latest/meta-data".to_string(),
        "https://[fc00::1]/up/x".to_string(),
        "https://[fd12:3456::1]/up/x".to_string(),
        "https://0.0.0.0/up/x".to_string(),
    ];
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut want = keys.to_vec();
    want.sort();
    let started = std::time::Instant::now();
    assert_eq!(rejected(&relay, &spec_notification(&refs)).await, want);
    assert!(started.elapsed() < Duration::from_secs(5), "refusals must not wait for a connection");
    assert!(inside.received().is_empty(), "an inside address was reached: {:?}", inside.received());
    let metrics = relay.metrics().await;
    assert!(metrics.contains(r#"uprelay_matrix_devices_total{outcome="rejected",route="forwarded"} 10"#), "{metrics}");
}

/// Without `forward`, other servers' pushkeys are rejected and never contacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_is_off_by_default() {
    let other = FakeHttp::start(|_| (201, vec![], String::new())).await;
    let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).tables("[matrix]\nforward_allow = [\"127.0.0.1\"]\n")).await;
    let key = other.url("/up/x");
    assert_eq!(rejected(&relay, &spec_notification(&[&key])).await, vec![key]);
    assert!(other.received().is_empty());
}

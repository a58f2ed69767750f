//! One Matrix notification cannot be multiplied into a flood:
//! - 500 copies of one of this relay's endpoints (limits off) reach the phone once;
//! - more than `max_devices_per_notify` (20) distinct pushkeys → 400 `too_many_devices`;
//! - with forwarding on, at most `max_forwards_per_host` (5) forwards of one notification
//!   go to one host; the devices beyond are not rejected (their pushers stay).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uprelay_tests::fake_http::FakeHttp;
use uprelay_tests::relay::{run_bounded, unique_token, PushResponse, Relay, RelayConfig, StoreKind, TEST_LIMIT};

fn notification(pushkeys: &[String]) -> Value {
    let devices: Vec<Value> =
        pushkeys.iter().map(|k| json!({"app_id": "im.vector.app", "pushkey": k, "pushkey_ts": 1, "data": {}})).collect();
    json!({"notification": {"event_id": "$e", "room_id": "!r:example.org", "counts": {"unread": 1}, "devices": devices}})
}

async fn notify(relay: &Relay, body: &Value) -> PushResponse {
    relay.request_raw(Method::POST, "/_matrix/push/v1/notify", None, Some(serde_json::to_vec(body).unwrap())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_pushkeys_reach_the_phone_once_and_devices_are_capped() {
    run_bounded("duplicate_pushkeys_and_device_cap", TEST_LIMIT, async {
        let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).no_rate_limits()).await;
        let device = relay.create_device(&unique_token("mxdup")).await;
        let endpoint = relay.register(&device, "app", None).await;
        let r = notify(&relay, &notification(&vec![endpoint.clone(); 500])).await;
        assert_eq!(r.json(), (StatusCode::OK, json!({"rejected": []})), "{r:?}");
        relay.wait_messages(&device.token, 1).await;
        // Give any further copies time to arrive.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(relay.messages(&device.token).await.len(), 1, "500 copies of one pushkey in one notification");

        let mut many: Vec<String> = (0..20).map(|i| format!("{}/up/unknown{i}", relay.base_url)).collect();
        let r = notify(&relay, &notification(&many)).await;
        assert_eq!(r.status, StatusCode::OK, "20 devices: {r:?}");
        many.push(format!("{}/up/unknown20", relay.base_url));
        let r = notify(&relay, &notification(&many)).await;
        assert_eq!((r.status, r.error_code().as_str()), (StatusCode::BAD_REQUEST, "too_many_devices"), "21 devices: {r:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_to_one_host_are_capped_per_notification() {
    run_bounded("forwards_per_host", TEST_LIMIT, async {
        let other = FakeHttp::start(|_| (201, vec![], String::new())).await;
        let config = RelayConfig::new(StoreKind::Embedded).tables("[matrix]\nforward = true\nforward_allow = [\"127.0.0.1\"]\n");
        let relay = Relay::start_with(config).await;
        let keys: Vec<String> = (0..12).map(|i| other.url(&format!("/up/k{i}"))).collect();
        let r = notify(&relay, &notification(&keys)).await;
        assert_eq!(r.json(), (StatusCode::OK, json!({"rejected": []})), "{r:?}");
        assert_eq!(other.received().len(), 5, "forwards of one notification to one host: {:?}", other.received());
    })
    .await;
}

/// Forwarding refuses tunnels and translators whose far end could be inside (6to4 with
/// 127.0.0.1 in it, Teredo, local-use NAT64, the 6to4 relay anycast) and discard-only
/// space: each pushkey is rejected at once, nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_refuses_tunnels_and_translators() {
    run_bounded("forwarding_refuses_tunnels", TEST_LIMIT, async {
        let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).tables("[matrix]\nforward = true\n")).await;
        let mut keys: Vec<String> = [
            "[2002:7f00:1::1]",
            "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",
            "[64:ff9b:1::7f00:1]",
            "[100::1]",
            "192.88.99.1",
            "[::ffff:192.88.99.1]",
        ]
        .iter()
        .map(|host| format!("https://{host}/up/x"))
        .collect();
        let r = notify(&relay, &notification(&keys)).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let mut rejected: Vec<String> = r.json().1["rejected"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        rejected.sort();
        keys.sort();
        assert_eq!(rejected, keys);
    })
    .await;
}

//! One device cannot take the whole retry queue: with `[queue] max_per_device = 3` and
//! FCM failing every send, a device's first three pushes (over two endpoints) are queued
//! (201), its fourth gets 503 with `Retry-After`, while another device's push is still
//! queued. Once FCM is back and the three are delivered, the device's share is free again.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use uprelay_tests::per_store;
use uprelay_tests::relay::{random_body, unique_token, Relay, RelayConfig, StoreKind};

per_store!(one_device_holds_only_its_share_of_the_queue);

async fn one_device_holds_only_its_share_of_the_queue(store: StoreKind) {
    let config = RelayConfig::new(store)
        .private_store()
        .no_rate_limits()
        .fcm_timeout_ms(1000)
        .queue("max_per_device = 3")
        .queue("lease_ms = 12000")
        .queue("poll_ms = 50")
        .queue("initial_backoff_ms = 200")
        .queue("max_backoff_ms = 500");
    let relay = Relay::start_with(config).await;
    let a = relay.create_device(&unique_token("share-a")).await;
    let a1 = relay.register(&a, "one", None).await;
    let a2 = relay.register(&a, "two", None).await;
    let b = relay.create_device(&unique_token("share-b")).await;
    let b1 = relay.register(&b, "one", None).await;
    relay.emulator.client.add_fault(json!({"error": "UNAVAILABLE", "times": 100000})).await;

    for endpoint in [&a1, &a2, &a1] {
        let r = relay.push(endpoint, &[("ttl", "600")], random_body(50)).await;
        assert_eq!(r.status, StatusCode::CREATED, "queued while FCM fails: {r:?}");
    }
    let r = relay.push(&a2, &[("ttl", "600")], random_body(50)).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "over the device's share: {r:?}");
    assert!(r.retry_after() >= 1, "{r:?}");
    let r = relay.push(&b1, &[("ttl", "600")], random_body(50)).await;
    assert_eq!(r.status, StatusCode::CREATED, "another device keeps its share: {r:?}");

    relay.emulator.client.clear_faults().await;
    relay.wait_messages(&a.token, 3).await;
    relay.wait_messages(&b.token, 1).await;
    // Completed messages give the share back (the worker completes right after FCM accepts).
    let mut again = None;
    for _ in 0..50 {
        let r = relay.push(&a2, &[("ttl", "600")], random_body(50)).await;
        if r.status == StatusCode::CREATED {
            again = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "the device's share never came back after its messages were delivered");
}

//! `aesgcm` parameters that cannot travel with the body are the sender's error, answered
//! at once: `Encryption: salt=…;pad=<10,000 bytes>` gets 413 with a JSON error, whether FCM
//! is up (it would refuse the message: 502 and an ERROR log) or the breaker is open (the
//! message would be queued with a 201 and retried until its TTL).

use reqwest::StatusCode;
use serde_json::json;
use uprelay_tests::relay::{random_body, run_bounded, unique_token, Relay, RelayConfig, StoreKind, TEST_LIMIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aesgcm_parameters_too_long_are_413_live_and_with_the_breaker_open() {
    run_bounded("aesgcm_parameters_too_long", TEST_LIMIT, async {
        let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).no_rate_limits()).await;
        let device = relay.create_device(&unique_token("aesgcm")).await;
        let endpoint = relay.register(&device, "app", None).await;
        let encryption = format!("salt=abcdefghijklmnopqrstuv;pad={}", "x".repeat(10_000));
        let huge = [("ttl", "60"), ("content-encoding", "aesgcm"), ("encryption", encryption.as_str()), ("crypto-key", "dh=BAAA")];

        let r = relay.push(&endpoint, &huge, random_body(100)).await;
        assert_eq!((r.status, r.error_code().as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "aesgcm_headers_too_long"), "FCM up: {r:?}");
        assert!(r.json().1["message"].as_str().is_some_and(|m| m.contains("1024")), "{r:?}");

        // Open the breaker: five transient failures in a row (each push is queued).
        relay.emulator.client.add_fault(json!({"error": "UNAVAILABLE", "times": 5})).await;
        for _ in 0..5 {
            let r = relay.push(&endpoint, &[("ttl", "60")], random_body(50)).await;
            assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        }
        assert_eq!(relay.metric(r#"uprelay_breaker_open{road="fcm"}"#).await, 1.0);
        let r = relay.push(&endpoint, &huge, random_body(100)).await;
        assert_eq!((r.status, r.error_code().as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "aesgcm_headers_too_long"), "breaker open: {r:?}");
        // A real aesgcm push still goes through (the five queued ones and it are delivered).
        let real =
            [("ttl", "60"), ("content-encoding", "aesgcm"), ("encryption", "salt=abcdefghijklmnopqrstuv"), ("crypto-key", "dh=BAAA")];
        let r = relay.push(&endpoint, &real, random_body(100)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        relay.wait_messages(&device.token, 6).await;
    })
    .await;
}

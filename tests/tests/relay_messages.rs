//! The message resource a 201's `Location` names: `DELETE /m/{id}` cancels a message still
//! waiting in the retry queue (204), and answers 404 for one already delivered, one
//! cancelled before, an unknown one and a malformed id (every store).

use reqwest::{Method, StatusCode};
use serde_json::json;
use uprelay_tests::per_store;
use uprelay_tests::relay::{Relay, RelayConfig, StoreKind};

per_store!(a_queued_message_can_be_cancelled_and_never_reaches_fcm);

/// The path of a `Location` header (`http://host:port/m/<id>` → `/m/<id>`).
fn location_path(location: &str) -> String {
    let after_scheme = location.split_once("://").map(|(_, rest)| rest).unwrap_or(location);
    after_scheme[after_scheme.find('/').expect("a path")..].to_owned()
}

async fn a_queued_message_can_be_cancelled_and_never_reaches_fcm(store: StoreKind) {
    let config = RelayConfig::new(store).no_rate_limits().queue("initial_backoff_ms = 200").queue("poll_ms = 50");
    let relay = Relay::start_with(config).await;
    let dev = relay.create_device("cancel-token").await;
    let endpoint = relay.register(&dev, "app", None).await;

    // FCM is down: both pushes are accepted into the retry queue.
    relay.emulator.client.add_fault(json!({ "error": "UNAVAILABLE" })).await;
    let cancelled = relay.push(&endpoint, &[("TTL", "600")], b"cancel me".to_vec()).await;
    let kept = relay.push(&endpoint, &[("TTL", "600")], b"keep me".to_vec()).await;
    assert_eq!((cancelled.status, kept.status), (StatusCode::CREATED, StatusCode::CREATED), "{cancelled:?} {kept:?}");
    let location = cancelled.header("location").expect("Location").to_owned();
    assert!(location.starts_with(&relay.base_url), "Location {location} is not on the relay's public URL {}", relay.base_url);

    let (status, body) = relay.api_raw(Method::DELETE, &location_path(&location), None, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "cancel while queued: {body}");
    let (status, body) = relay.api_raw(Method::DELETE, &location_path(&location), None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a second cancel: {body}");
    assert_eq!(body["error"], "not_found", "{body}");

    // The outage ends: the kept message arrives, the cancelled one never does.
    relay.emulator.client.clear_faults().await;
    let arrived = relay.wait_messages(&dev.token, 1).await;
    assert_eq!(arrived.len(), 1, "{arrived:?}");
    assert_eq!(arrived[0]["message"]["data"]["m"], kept.message_id(), "{arrived:?}");
    // Nothing in flight and the queue empty: a cancelled message that came back would show now.
    relay.wait_idle().await;
    assert!(relay.messages_with_id(&dev.token, &cancelled.message_id()).await.is_empty(), "the cancelled message reached FCM");
    assert_eq!(relay.messages(&dev.token).await.len(), 1);

    // Delivered, malformed and unknown ids: 404 with the JSON error body, never 500.
    let delivered = format!("/m/{}", kept.message_id());
    for path in [delivered.as_str(), "/m/not-an-id", "/m/%FF%00", "/m/AAAAAAAAAAAAAAAAAAAAAA", "/m/AAAAAAAAAAAAAAAA"] {
        let (status, body) = relay.api_raw(Method::DELETE, path, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "DELETE {path}: {body}");
        assert_eq!(body["error"], "not_found", "DELETE {path}: {body}");
    }
}

//! Restarting `uprelay` keeps everything, in both stores: devices, secrets, registrations,
//! VAPID restrictions, rotated tokens, and messages waiting in the retry queue.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uprelay_tests::per_store;
use uprelay_tests::relay::{decode_body, unique_token, Relay, RelayConfig, StoreKind, VapidSigner};

per_store!(
    restart_keeps_registrations,
    graceful_restart_keeps_registrations,
    graceful_shutdown_does_not_wait_for_silent_connections,
    restart_keeps_queued_messages
);

async fn restart_keeps_registrations(store: StoreKind) {
    let mut relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("restart")).await;
    let signer = VapidSigner::new();
    let plain = relay.register(&dev, "plain", None).await;
    let restricted = relay.register(&dev, "restricted", Some(&signer.public_b64())).await;
    let deleted = relay.register(&dev, "deleted", None).await;
    let (status, _) = relay.api(Method::DELETE, &format!("/v1/devices/{}/registrations/deleted", dev.id), Some(&dev.secret), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let gone_dev = relay.create_device(&unique_token("gone")).await;
    let gone_endpoint = relay.register(&gone_dev, "x", None).await;
    let (status, _) = relay.api(Method::DELETE, &format!("/v1/devices/{}", gone_dev.id), Some(&gone_dev.secret), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, before) = relay.show_device(&dev).await;

    // SIGKILL: whatever answered 2xx must already be durable.
    relay.restart().await;

    let (status, after) = relay.show_device(&dev).await;
    assert_eq!(status, StatusCode::OK, "device lost in restart: {after}");
    assert_eq!(after, before, "registrations changed across a restart");
    let auth = signer.valid_authorization(&relay.base_url);
    let r = relay.push(&plain, &[("TTL", "60")], b"plain after restart".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(decode_body(&relay.messages_with_id(&dev.token, &r.message_id()).await), b"plain after restart");
    // Still restricted.
    assert_eq!(relay.push(&restricted, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::UNAUTHORIZED);
    let r = relay.push(&restricted, &[("TTL", "60"), ("Authorization", &auth)], b"signed".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    // Deletions stay deleted.
    assert_eq!(relay.push(&deleted, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(relay.push(&gone_endpoint, &[("TTL", "60")], b"x".to_vec()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(relay.show_device(&gone_dev).await.0, StatusCode::NOT_FOUND);
    // The secret still authenticates, a wrong one still does not.
    let (status, _) = relay.api(Method::GET, &format!("/v1/devices/{}", dev.id), Some("wrong-secret"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Rotate the token, register again, restart again: both survive.
    let new_token = unique_token("rotated");
    let (status, _) =
        relay.api(Method::PUT, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), Some(json!({ "fcm_token": new_token }))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let late = relay.register(&dev, "late", None).await;
    relay.restart().await;
    for (endpoint, body) in [(&plain, &b"p"[..]), (&late, &b"l"[..])] {
        let r = relay.push(endpoint, &[("TTL", "60")], body.to_vec()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        assert_eq!(decode_body(&relay.messages_with_id(&new_token, &r.message_id()).await), body);
    }
    // Idempotent registration still answers 200 with the same endpoint after restarts.
    let (status, body) = relay.try_register(&dev, "plain", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["endpoint"], plain.as_str());
}

/// SIGTERM: a clean exit (status 0) within 10 s, and the data is there afterwards.
async fn graceful_restart_keeps_registrations(store: StoreKind) {
    let mut relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("graceful")).await;
    let endpoint = relay.register(&dev, "app", None).await;
    relay.restart_graceful().await;
    let r = relay.push(&endpoint, &[("TTL", "60")], b"after".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(relay.show_device(&dev).await.0, StatusCode::OK);
}

/// HTTP clients pre-open connections they may never use. Such a connection, open and
/// silent at SIGTERM, must not hold the drain open for the whole header timeout (60 s
/// here): the relay exits within the 10 s `restart_graceful` allows.
async fn graceful_shutdown_does_not_wait_for_silent_connections(store: StoreKind) {
    let mut relay = Relay::start_with(RelayConfig::new(store).limit("header_read_timeout_ms = 60000")).await;
    let dev = relay.create_device(&unique_token("silent")).await;
    let endpoint = relay.register(&dev, "app", None).await;
    let fds = relay.metric("process_open_fds").await;
    let silent = tokio::net::TcpStream::connect(("127.0.0.1", relay.port)).await.expect("connect");
    // The relay has accepted it (one more open file) before the signal.
    let accepted =
        uprelay_tests::eventually(std::time::Duration::from_secs(10), || async { relay.metric("process_open_fds").await > fds }).await;
    assert!(accepted, "the relay did not accept the silent connection");
    relay.restart_graceful().await;
    drop(silent);
    let r = relay.push(&endpoint, &[("TTL", "60")], b"after".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
}

/// A push answered 201 while FCM was failing sits in the store's retry queue: it survives
/// a crash of the relay and reaches FCM after the restart.
async fn restart_keeps_queued_messages(store: StoreKind) {
    let mut relay = Relay::start_with(
        RelayConfig::new(store)
            .fcm_timeout_ms(700)
            .queue("poll_ms = 50")
            .queue("initial_backoff_ms = 200")
            .queue("max_backoff_ms = 400")
            .queue("lease_ms = 2000"),
    )
    .await;
    let dev = relay.create_device(&unique_token("queued")).await;
    let endpoint = relay.register(&dev, "app", None).await;
    relay.emulator.client.add_fault(json!({ "token": dev.token, "error": "UNAVAILABLE" })).await;
    let r = relay.push(&endpoint, &[("TTL", "600")], b"kept across a crash".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let m = r.message_id();
    // The worker fails at least once more, then the relay crashes.
    let retried = uprelay_tests::eventually(std::time::Duration::from_secs(10), || async {
        relay.metric("uprelay_queue_total{result=\"retry\"}").await >= 1.0
    })
    .await;
    assert!(retried, "the worker never retried the queued message\n{}", relay.output());
    relay.restart().await;
    assert!(relay.messages(&dev.token).await.is_empty());
    relay.emulator.client.clear_faults().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = relay.messages_with_id(&dev.token, &m).await;
        if !got.is_empty() {
            assert_eq!(decode_body(&got), b"kept across a crash");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queued message {m} was not delivered after the restart within 20 s\n{}",
            relay.output()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    relay.wait_idle().await;
    assert_eq!(relay.messages_with_id(&dev.token, &m).await.len(), 1, "delivered more than once");
}

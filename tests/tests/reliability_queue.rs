//! Retry-queue behaviour the issue promises beyond crashes (both stores):
//! - circuit breaker: while FCM hangs (each send times out), after `breaker_threshold`
//!   failures new pushes go straight to the queue and are answered at once, not after a
//!   timeout each; everything acknowledged arrives once FCM is back;
//! - the queue honours FCM's Retry-After;
//! - a queued message whose token turns out dead is dropped and the device deleted.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use uprelay_tests::ledger::{await_delivery, make_targets, received, routes, Ledger};
use uprelay_tests::relay::{Relay, RelayConfig, StoreKind};
use uprelay_tests::{eventually, per_store};

per_store!([embedded, redis], CHAOS_LIMIT; breaker_answers_fast_while_fcm_hangs, queue_honours_retry_after, queued_message_for_dead_token_is_dropped);

async fn breaker_answers_fast_while_fcm_hangs(store: StoreKind) {
    let config = RelayConfig::new(store)
        .private_store()
        .named("breaker")
        .no_rate_limits()
        .fast_queue()
        .queue("breaker_threshold = 3")
        .queue("breaker_cooldown_ms = 10000");
    let node = Relay::start_with(config).await;
    let targets = make_targets(&node, "brk", 2, 2).await;
    let routes = routes(&targets);
    // FCM hangs: every send takes 3 s, the relay gives up after 1 s.
    let sends_before = node.emulator.stats().await["send_requests"].as_u64().unwrap();
    node.emulator.add_fault(json!({ "delay_ms": 3000 })).await;
    let mut ledger = Ledger::default();
    let mut took = Vec::new();
    for i in 0..12 {
        let (ep, token) = &routes[i % routes.len()];
        let body = format!("breaker {i}").into_bytes();
        let t = Instant::now();
        let r = node.push(ep, &[("TTL", "600")], body.clone()).await;
        took.push(t.elapsed());
        assert_eq!(r.status, 201, "[{store}] push {i} while FCM hangs: {r:?}");
        ledger.record("breaker", token, 600, body, Ok(&r));
    }
    let ms: Vec<u128> = took.iter().map(|d| d.as_millis()).collect();
    eprintln!("[{store}] push latencies while FCM hangs (ms): {ms:?}");
    // The first push waits for the timeout; the breaker counts the worker's failed retries
    // too, so it may open after fewer than 3 pushes — but never later: FCM saw the 3 failed
    // sends plus at most the two the live path and the worker had in flight when it opened,
    // not one per push. (How fast the later pushes are answered is the bench's figure.)
    assert!(took[0] >= Duration::from_millis(900), "[{store}] the first send should wait for the 1 s timeout: {ms:?}");
    assert_eq!(node.metric("uprelay_breaker_open{road=\"fcm\"}").await, 1.0, "[{store}] the breaker did not open");
    let sends = node.emulator.stats().await["send_requests"].as_u64().unwrap() - sends_before;
    assert!(sends <= 5, "[{store}] {sends} sends reached FCM for 12 pushes with breaker_threshold = 3: {ms:?}");
    node.emulator.clear_faults().await;
    let tally = await_delivery(&node.emulator, &ledger, Duration::from_secs(20), Duration::from_millis(3500)).await;
    eprintln!("[{store}] {}", tally.row("FCM hanging (3 s > 1 s timeout), circuit breaker"));
    tally.assert_sound("breaker");
    assert_eq!(tally.delivered, tally.accepted);
    // A send that timed out on our side may still have reached FCM (at-least-once): only
    // the pushes that actually tried FCM (the first ones, before the breaker opened, and
    // the probe after the cooldown) may be duplicated.
    assert!(tally.duplicated.len() <= 4, "[{store}] {:?}", tally.duplicated);
}

async fn queue_honours_retry_after(store: StoreKind) {
    let node = Relay::start_with(RelayConfig::new(store).private_store().named("ra").no_rate_limits().fast_queue()).await;
    let targets = make_targets(&node, "ra", 1, 1).await;
    let (ep, token) = routes(&targets)[0].clone();
    node.emulator.add_fault(json!({ "token": token, "error": "UNAVAILABLE", "retry_after": 3, "times": 1 })).await;
    let mut ledger = Ledger::default();
    let body = b"after retry-after".to_vec();
    let r = node.push(&ep, &[("TTL", "600")], body.clone()).await;
    assert_eq!(r.status, 201, "[{store}] {r:?}");
    ledger.record("ra", &token, 600, body, Ok(&r));
    let tally = await_delivery(&node.emulator, &ledger, Duration::from_secs(10), Duration::from_millis(300)).await;
    tally.assert_sound("retry-after");
    assert_eq!(tally.delivered, 1);
    let got = received(&node.emulator).await;
    let waited = got[0].received_ms as i64 - ledger.acked[0].acked_ms as i64;
    eprintln!("[{store}] delivered {waited} ms after the 201 (FCM said Retry-After: 3)");
    assert!(waited >= 2800, "[{store}] retried {waited} ms after FCM asked for 3 s");
    assert!(waited < 6000, "[{store}] retried only {waited} ms later (backoff 200 ms, Retry-After 3 s)");
}

async fn queued_message_for_dead_token_is_dropped(store: StoreKind) {
    let node = Relay::start_with(RelayConfig::new(store).private_store().named("dead").no_rate_limits().fast_queue()).await;
    let targets = make_targets(&node, "dead", 1, 2).await;
    let dev = &targets[0].device;
    node.emulator.add_fault(json!({ "token": dev.token, "error": "UNAVAILABLE" })).await;
    let r = node.push(&targets[0].endpoints[0], &[("TTL", "600")], b"to a phone that is gone".to_vec()).await;
    assert_eq!(r.status, 201, "[{store}] {r:?}");
    node.emulator.clear_faults().await;
    node.emulator.add_fault(json!({ "token": dev.token, "error": "UNREGISTERED" })).await;
    let dropped =
        eventually(Duration::from_secs(10), || async { node.metric("uprelay_queue_total{result=\"dead_token\"}").await >= 1.0 }).await;
    assert!(dropped, "[{store}] queued message for a dead token not dropped:\n{}", node.metrics().await);
    let (status, _) = node.api(Method::GET, &format!("/v1/devices/{}", dev.id), Some(&dev.secret), None).await;
    assert_eq!(status, 404, "[{store}] the device of a dead token must be deleted by the retry worker");
    for ep in &targets[0].endpoints {
        assert_eq!(node.push(ep, &[("TTL", "60")], b"x".to_vec()).await.status, 404, "[{store}] endpoint of a dead device");
    }
    assert!(node.emulator.messages(Some(&dev.token)).await.is_empty());
}

//! Crash test: with FCM failing every send (UNAVAILABLE), pushes are answered 201
//! and kept in the store's retry queue; SIGKILL of the relay, during load and again during
//! the drain, loses none of them. Counted by message id `m` in what the FCM emulator got.
//!
//! Phases, for both stores:
//! 1. 200 long-TTL pushes (8 endpoints on 4 devices, every 25th body 4096 bytes → split)
//!    and 20 pushes with `TTL: 1`, all while FCM answers UNAVAILABLE: every one must be 201.
//! 2. More pushes running when the relay is SIGKILLed: those answered 201 count too.
//! 3. Fault cleared, relay restarted; while it drains (FCM slowed to 60 ms a send, batches
//!    of 16) it is SIGKILLed again and restarted.
//! 4. Every acknowledged long-TTL message reaches FCM whole, with its body, before its TTL;
//!    none of the `TTL: 1` messages is ever sent (they expired while FCM was failing);
//!    duplicates only for messages that were in flight at the second kill (≤ one batch).

use std::time::Duration;

use serde_json::json;
use uprelay_tests::eventually;
use uprelay_tests::ledger::{await_delivery, make_targets, now_ms, push_load, received, routes, Tally};
use uprelay_tests::relay::{metric_value, run_bounded, Relay, RelayConfig, StoreKind, CHAOS_LIMIT};

const BATCH: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loses_nothing_embedded() {
    run_bounded("crash_loses_nothing_embedded", CHAOS_LIMIT, crash_loses_nothing(StoreKind::Embedded)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loses_nothing_redis() {
    run_bounded("crash_loses_nothing_redis", CHAOS_LIMIT, crash_loses_nothing(StoreKind::Redis)).await
}

async fn crash_loses_nothing(store: StoreKind) {
    let config = RelayConfig::new(store).private_store().named("crash").no_rate_limits().fast_queue().queue(&format!("batch = {BATCH}"));
    let mut node = Relay::start_with(config).await;
    let emulator = node.emulator.clone();
    let targets = make_targets(&node, "crash", 4, 2).await;
    let routes = routes(&targets);

    // 1. FCM down: every push is queued and acknowledged.
    emulator.client.add_fault(json!({ "error": "UNAVAILABLE" })).await;
    let mut ledger = push_load(&node, &routes, "long", 200, 600, 8).await;
    assert_eq!(ledger.acked.len(), 200, "[{store}] every push must be 201 while FCM fails (queued): {ledger:?}\n{}", node.output());
    let short = push_load(&node, &routes, "short", 20, 1, 4).await;
    assert_eq!(short.acked.len(), 20, "[{store}] short-TTL pushes must be 201 too: {short:?}");
    let short_ids: Vec<String> = short.acked.iter().map(|a| a.m.clone()).collect();
    ledger.merge(short);
    // Let the worker churn on the failing queue until the TTL-1 messages are past expiry.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let metrics = node.metrics().await;
    let retries = metric_value(&metrics, "uprelay_queue_total{result=\"retry\"}");
    let expired_before = metric_value(&metrics, "uprelay_queue_total{result=\"expired\"}");
    assert!(retries > 0.0, "[{store}] the worker never retried while FCM failed:\n{metrics}");
    assert!(received(&emulator.client).await.is_empty(), "[{store}] FCM accepted something while failing every send");

    // 2. SIGKILL (by the pid of our own child) once another load is under way (20 more
    //    pushes queued).
    let pid = node.pid();
    let enqueued = metric_value(&metrics, "uprelay_queue_total{result=\"enqueued\"}");
    let (ledger_b, killed) = tokio::join!(push_load(&node, &routes, "inflight", 400, 600, 4), async {
        let under_way = eventually(Duration::from_secs(20), || async {
            node.metric("uprelay_queue_total{result=\"enqueued\"}").await >= enqueued + 20.0
        })
        .await;
        assert!(under_way, "[{store}] the second load never got going");
        std::process::Command::new("kill").arg("-KILL").arg(pid.to_string()).status().map(|s| s.success())
    });
    assert!(matches!(killed, Ok(true)), "kill -KILL {pid}: {killed:?}");
    assert!(node.wait_exit(Duration::from_secs(5)).await.is_some(), "[{store}] relay survived SIGKILL?");
    eprintln!(
        "[{store}] in-flight phase: {} acknowledged, {} refused {:?}, {} without answer",
        ledger_b.acked.len(),
        ledger_b.refused.values().sum::<usize>(),
        ledger_b.refused,
        ledger_b.transport_errors
    );
    ledger.merge(ledger_b);

    // 3. FCM back (slowly), restart, crash again during the drain, restart.
    emulator.client.clear_faults().await;
    emulator.client.add_fault(json!({ "delay_ms": 60 })).await;
    node.restart().await;
    let accepted = ledger.acked.len();
    let third = (accepted / 3).max(1);
    let reached = eventually(Duration::from_secs(20), || async {
        let t = Tally::compute(&ledger, &received(&emulator.client).await, now_ms());
        t.delivered >= third
    })
    .await;
    assert!(reached, "[{store}] nothing drained within 20 s after the restart\n{}", node.output());
    node.kill();
    let at_second_kill = Tally::compute(&ledger, &received(&emulator.client).await, now_ms());
    node.restart().await;
    emulator.client.clear_faults().await;

    // 4. Everything acknowledged arrives.
    let tally = await_delivery(&emulator.client, &ledger, Duration::from_secs(30), Duration::from_millis(1500)).await;
    eprintln!(
        "[{store}] {}\n[{store}] delivered at the second kill: {}; retries before the first kill: {retries}",
        tally.row(&format!("{store}: FCM UNAVAILABLE + SIGKILL during load + SIGKILL during drain")),
        at_second_kill.delivered
    );
    tally.assert_sound(&format!("[{store}] crash"));
    let short_delivered: Vec<&String> = short_ids.iter().filter(|m| !tally.expired.contains(m)).collect();
    assert!(short_delivered.is_empty(), "[{store}] TTL-1 messages were sent after expiring: {short_delivered:?}");
    let long_expired = tally.expired.iter().filter(|m| !short_ids.contains(m)).count();
    assert_eq!(long_expired, 0, "[{store}] long-TTL messages counted as expired");
    assert_eq!(tally.delivered, accepted - short_ids.len(), "[{store}] {tally:?}");
    // At-least-once: only what was leased at the second kill may go out twice.
    assert!(
        tally.duplicated.len() <= BATCH,
        "[{store}] {} messages duplicated, more than one leased batch ({BATCH}) could explain: {:?}",
        tally.duplicated.len(),
        tally.duplicated
    );

    // The expired messages left the queue (dropped, counted), and the queue is empty.
    let drained = eventually(Duration::from_secs(12), || async { node.metric("uprelay_queue_length").await == 0.0 }).await;
    let expired_after = node.metric("uprelay_queue_total{result=\"expired\"}").await;
    assert!(drained, "[{store}] uprelay_queue_length did not reach 0:\n{}", node.metrics().await);
    assert!(
        expired_before + expired_after <= short_ids.len() as f64 && expired_before + expired_after >= 1.0,
        "[{store}] expired drops: {expired_before} before the crash + {expired_after} after, for {} TTL-1 messages",
        short_ids.len()
    );
    if let Some(r) = &node.redis {
        let len = r.cli(&["hlen", "{up:q}:msg"]).await;
        let due = r.cli(&["zcard", "{up:q}:due"]).await;
        assert_eq!((len.as_str(), due.as_str()), ("0", "0"), "[{store}] retry queue not empty in Redis");
    }
}
